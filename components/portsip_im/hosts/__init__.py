"""The IM server's host, one module per target; no SSH in here.

Every target returns the same small description (`ImHost`), so the remote steps compose onto
any of them.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi

from .. import rules
from ..checks import ArgsError
from ..spec import HostFacts, Profile, describe_shortfall


@dataclass(frozen=True)
class ImHost:
    """What the remote steps and the stack outputs need to know about the IM server's host."""

    private_ip: pulumi.Output[str]
    """The static private IP: pbx01 reaches the IM host here, and im.sh gets it as `-a`."""
    public_ip: pulumi.Output[str]
    """The static public IP clients use (im.sh `-A`)."""
    ssh_host: pulumi.Output[str]
    """Where SSH reaches the host (the private IP, through pbx01 as jump host by default)."""
    admin_user: str
    """The account the operator's key logs in as to prepare the host."""
    host_id: pulumi.Output[str]
    """The provider's id of the machine (instance id, server id, or `existing:<ip>`)."""
    data_disk_device: pulumi.Output[str] | None
    """A stable path of the block device for IM data, when there is a separate one."""
    data_volume_id: pulumi.Output[str] | None
    """The provider's id of the data volume, when the program manages one."""


def require_size(field: str, what: str, facts: HostFacts, profile: Profile) -> None:
    """Fail at preview, naming the size field and the profile, when a cloud type falls short."""
    problem = describe_shortfall(field, what, facts, profile)
    if problem:
        raise ArgsError([(field, problem.removeprefix(f"{field}: "))])


def inside(
    private_ip: pulumi.Input[str], network: pulumi.Input[str], where: pulumi.Input[str], field: str
) -> pulumi.Output[str]:
    """The private IP, checked to lie inside its subnet/network: now when both are plain values,
    else when they are known. The result carries the check: use it where the IP is used."""

    def check(values: list[str]) -> str:
        try:
            rules.in_network(str(values[0]), str(values[1]), str(values[2]))
        except ValueError as exc:
            raise ArgsError([(field, str(exc))]) from None
        return str(values[0])

    if not any(isinstance(v, pulumi.Output) for v in (private_ip, network, where)):
        return pulumi.Output.from_input(check([private_ip, network, where]))  # type: ignore[list-item]
    return pulumi.Output.all(private_ip, network, where).apply(check)


def stack_labels(extra: dict[str, str] | None = None) -> dict[str, str]:
    """Tags/labels put on every resource, so an operator can tell which stack owns it."""
    labels = {
        "managed-by": "pulumi",
        "portsip-im-project": pulumi.get_project(),
        "portsip-im-stack": pulumi.get_stack(),
    }
    labels.update(extra or {})
    return labels
