"""ImServer (portsip:im:ImServer): the guide as one component whose children read like its steps."""

# No `from __future__ import annotations`: the component provider host reads the annotations of
# __init__ and of the outputs below as objects.
from typing import Any

import pulumi

from .args import ImServerArgs
from .checks import resolve
from .hosts import ImHost
from .resolved import Resolved
from .spec import IM_PORT
from .steps import add_guide_steps


class ImServer(pulumi.ComponentResource):
    """The dedicated PortSIP IM server of a PBX v22 HA cluster, from host to running service:
    the host (aws, hcloud or existing), then the guide's steps over SSH from pbx01."""

    private_ip: pulumi.Output[str]
    """The IM server's private IP (im.sh run -a)."""
    public_ip: pulumi.Output[str]
    """The IM server's public IP (im.sh run -A), which clients use."""
    endpoint: pulumi.Output[str]
    """Where IM clients connect: `PUBLIC_IP:8887`."""
    host_id: pulumi.Output[str]
    """The machine's id (instance id, server id, or `existing:<private ip>`)."""
    data_volume_id: pulumi.Output[str] | None
    """The data volume's id (aws, hcloud)."""
    health: pulumi.Output[dict[str, Any]]
    """The IM service's health as the last up saw it (TCP 8887, the IM container, the last
    backup)."""

    def __init__(
        self, name: str, args: ImServerArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        # Every check and cloud lookup runs before the first registration, so bad input creates
        # nothing, not even this component.
        r = resolve(args)
        host_plan = _plan_host(r, opts)
        super().__init__("portsip:im:ImServer", name, None, opts)
        host_component = _create_host(f"{name}-host", r, host_plan, self)
        self.host: ImHost = host_component.host
        steps = add_guide_steps(name, r, self.host, host_component, self)
        self.private_ip = self.host.private_ip
        self.public_ip = self.host.public_ip
        self.host_id = self.host.host_id
        self.data_volume_id = self.host.data_volume_id
        self.endpoint = self.host.public_ip.apply(lambda ip: f"{ip}:{IM_PORT}")
        self.health = steps.im_health
        self.register_outputs(
            {
                "privateIp": self.host.private_ip,
                "publicIp": self.host.public_ip,
                "endpoint": self.endpoint,
                "health": self.health,
            }
        )


def _plan_host(r: Resolved, opts: pulumi.ResourceOptions | None) -> object:
    from .hosts.lookups import invoke_options

    if r.target == "aws":
        from .hosts import aws

        return aws.plan(r, invoke_options(opts, "aws"))
    if r.target == "hcloud":
        from .hosts import hcloud

        return hcloud.plan(r, invoke_options(opts, "hcloud"))
    return None


def _create_host(name: str, r: Resolved, plan: object, parent: pulumi.Resource) -> Any:
    opts = pulumi.ResourceOptions(parent=parent)
    if r.target == "aws":
        from .hosts.aws import AwsImHost

        return AwsImHost(name, r, plan, opts)  # type: ignore[arg-type]
    if r.target == "hcloud":
        from .hosts.hcloud import HcloudImHost

        return HcloudImHost(name, r, plan, opts)  # type: ignore[arg-type]
    from .hosts.existing import ExistingImHost

    return ExistingImHost(name, r, opts)
