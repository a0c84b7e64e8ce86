"""ImServer (portsip:im:ImServer): the guide as one component whose children read like its steps."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pulumi

from .hosts import ImHost

if TYPE_CHECKING:
    from .hosts.aws import AwsImHost
    from .hosts.existing import ExistingImHost
    from .hosts.hcloud import HcloudImHost
from .settings import Settings
from .spec import IM_PORT
from .steps import add_guide_steps


@dataclass(frozen=True)
class ImServerArgs:
    """Inputs of the ImServer component."""

    settings: Settings
    """The validated stack configuration (components/settings.py)."""


class ImServer(pulumi.ComponentResource):
    """The dedicated PortSIP IM server of a PBX v22 HA cluster, from host to running service."""

    host: ImHost
    endpoint: pulumi.Output[str]
    health: pulumi.Output[Any]

    def __init__(
        self, name: str, args: ImServerArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        settings = args.settings
        # Every cloud lookup and check runs before the first registration, so bad input creates
        # nothing, not even this component.
        host_plan = _plan_host(settings)
        super().__init__("portsip:im:ImServer", name, None, opts)
        host_component = _create_host(f"{name}-host", settings, host_plan, self)
        self.host = host_component.host
        steps = add_guide_steps(name, settings, self.host, host_component, self)
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


def _plan_host(settings: Settings) -> object:
    if settings.target == "aws":
        from .hosts import aws

        return aws.plan(settings)
    if settings.target == "hcloud":
        from .hosts import hcloud

        return hcloud.plan(settings)
    return None


def _create_host(
    name: str, settings: Settings, plan: object, parent: pulumi.Resource
) -> AwsImHost | HcloudImHost | ExistingImHost:
    opts = pulumi.ResourceOptions(parent=parent)
    if settings.target == "aws":
        from .hosts.aws import AwsImHost

        return AwsImHost(name, settings, plan, opts)  # type: ignore[arg-type]
    if settings.target == "hcloud":
        from .hosts.hcloud import HcloudImHost

        return HcloudImHost(name, settings, plan, opts)  # type: ignore[arg-type]
    from .hosts.existing import ExistingImHost

    return ExistingImHost(name, settings, opts)
