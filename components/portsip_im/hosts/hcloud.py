"""The IM server on Hetzner Cloud: a server on the PBX network with a fixed private IP, a Primary IP
that outlives the server, a firewall, and a separate volume for the IM data."""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

import pulumi
import pulumi_hcloud as hcloud

from ..checks import ArgsError
from ..resolved import Resolved
from ..spec import IM_PORT, HostFacts
from . import ImHost, inside, require_size, stack_labels

_PRIVATE_IP = "host.hcloud.private_ip"


@dataclass(frozen=True)
class HcloudPlan:
    """Everything looked up from Hetzner before a resource is registered."""

    server_type: str
    private_ip: pulumi.Input[str]
    """The private IP, once checked to lie inside the network."""
    public_ip: str | None
    """The reused Primary IP's address, when `host.hcloud.public_ip_id` is set."""


def plan(r: Resolved, invoke: pulumi.InvokeOptions | None = None) -> HcloudPlan:
    """Look up and check the server type, the network and a reused Primary IP (preview time),
    with `invoke`'s provider (lookups.py)."""
    size = r.size
    assert size is not None and r.network_id is not None
    try:
        stype = hcloud.get_server_type(name=size, opts=invoke)
    except Exception as exc:
        raise ArgsError(
            [("host.hcloud.size", f"Hetzner has no server type {size!r} ({exc})")]
        ) from None
    facts = HostFacts(
        vcpus=int(stype.cores), memory_mib=int(float(stype.memory) * 1024), disk_gb=r.data_disk_gb
    )
    require_size("host.hcloud.size", f"server type {size}", facts, r.profile)

    private_ip: pulumi.Input[str]
    if isinstance(r.network_id, pulumi.Output):
        # Another resource's network: looked up, and the private IP checked, once it is known.
        found = hcloud.get_network_output(id=r.network_id, opts=invoke)
        where = pulumi.Output.concat("network ", r.network_id.apply(str))
        private_ip = inside(r.private_ip, found.ip_range, where, _PRIVATE_IP)
    else:
        try:
            network = hcloud.get_network(id=cast(int, r.network_id), opts=invoke)
        except Exception as exc:
            raise ArgsError(
                [("host.hcloud.network_id", f"no network {r.network_id} ({exc})")]
            ) from None
        checked = inside(r.private_ip, network.ip_range, f"network {r.network_id}", _PRIVATE_IP)
        private_ip = checked if isinstance(r.private_ip, pulumi.Output) else r.private_ip

    public_ip = None
    if r.public_ip_id:
        try:
            public_ip = hcloud.get_primary_ip(id=int(r.public_ip_id), opts=invoke).ip_address
        except Exception as exc:
            raise ArgsError(
                [("host.hcloud.public_ip_id", f"no Primary IP {r.public_ip_id!r} ({exc})")]
            ) from None
    return HcloudPlan(server_type=size, private_ip=private_ip, public_ip=public_ip)


class HcloudImHost(pulumi.ComponentResource):
    """portsip:im:HcloudHost — the server, its Primary IP, firewall and data volume."""

    host: ImHost

    def __init__(
        self,
        name: str,
        r: Resolved,
        hcloud_plan: HcloudPlan,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("portsip:im:HcloudHost", name, None, opts)
        assert r.network_id is not None and r.ssh_public_key is not None
        child = pulumi.ResourceOptions(parent=self)
        labels = stack_labels()

        key = hcloud.SshKey(f"{name}-key", public_key=r.ssh_public_key, labels=labels, opts=child)

        if r.public_ip_id:
            primary_ip_id: pulumi.Input[int] = int(r.public_ip_id)
            assert hcloud_plan.public_ip is not None
            public_ip = pulumi.Output.from_input(hcloud_plan.public_ip)
        else:
            primary_ip = hcloud.PrimaryIp(
                f"{name}-ip",
                type="ipv4",
                assignee_type="server",
                location=r.location,
                # The clients' address must survive a server replacement.
                auto_delete=False,
                labels=labels,
                opts=child,
            )
            primary_ip_id, public_ip = primary_ip.id.apply(int), primary_ip.ip_address

        firewall = hcloud.Firewall(
            f"{name}-fw",
            labels=labels,
            rules=[
                hcloud.FirewallRuleArgs(
                    direction="in",
                    protocol="tcp",
                    port=str(IM_PORT),
                    source_ips=[str(cidr) for cidr in r.client_cidrs],
                    description="PortSIP IM clients",
                ),
                hcloud.FirewallRuleArgs(
                    direction="in",
                    protocol="tcp",
                    port="22",
                    source_ips=pulumi.Output.all(
                        r.pbx01_source_cidr, *[str(cidr) for cidr in r.admin_cidrs]
                    ),
                    description="SSH from pbx01 and the operator's admin networks",
                ),
            ],
            opts=child,
        )

        server = hcloud.Server(
            f"{name}-vm",
            server_type=hcloud_plan.server_type,
            image=r.image,
            location=r.location,
            ssh_keys=[key.id],
            firewall_ids=[firewall.id.apply(int)],
            public_nets=[
                hcloud.ServerPublicNetArgs(
                    ipv4_enabled=True, ipv4=primary_ip_id, ipv6_enabled=False
                )
            ],
            networks=[hcloud.ServerNetworkArgs(network_id=r.network_id, ip=hcloud_plan.private_ip)],
            labels=labels,
            # The Primary IP and the private IP can belong to one server at a time. A rotated login
            # key or a newer image must not replace a running IM server (`--replace` does that).
            opts=pulumi.ResourceOptions(
                parent=self, delete_before_replace=True, ignore_changes=["ssh_keys", "image"]
            ),
        )

        data = hcloud.Volume(
            f"{name}-data",
            size=r.data_disk_gb,
            location=r.location,
            labels={**labels, "portsip-im-role": "im-data"},
            # Chat history and files live here: no server replacement deletes them.
            opts=pulumi.ResourceOptions(parent=self, protect=r.protect_data),
        )
        hcloud.VolumeAttachment(
            f"{name}-data-attachment",
            server_id=server.id.apply(int),
            volume_id=data.id.apply(int),
            # Formatting and mounting are the prepare step's job, and only on a blank disk.
            automount=False,
            opts=child,
        )

        private_ip = pulumi.Output.from_input(hcloud_plan.private_ip)
        self.host = ImHost(
            private_ip=private_ip,
            public_ip=public_ip,
            ssh_host=private_ip,
            admin_user=r.admin_user,
            host_id=server.id,
            data_disk_device=data.id.apply(lambda vid: f"/dev/disk/by-id/scsi-0HC_Volume_{vid}"),
            data_volume_id=data.id,
        )
        self.register_outputs(
            {"serverId": server.id, "publicIp": public_ip, "dataVolumeId": data.id}
        )
