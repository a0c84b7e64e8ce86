"""host.existing.firewall: an existing IM host's own nftables table, the cloud targets' rules
mirrored, from pbx01 through its trust with a rollback that only a fresh login from pbx01
cancels."""

from __future__ import annotations

import pulumi
import pulumi_command as command

from .. import remote
from .context import Steps
from .trust import pbx01_address

# Seconds after which the IM host deletes the new rules by itself unless a fresh login from pbx01
# has cancelled that: long enough for one login (ssh_im's ConnectTimeout is 10 s) and its checks.
ROLLBACK_SECONDS = 60


def firewall(s: Steps, *after: pulumi.Resource) -> command.remote.Command | None:
    """The firewall step on pbx01 as the pbx user (only with host.existing.firewall)."""
    r = s.r
    if not r.host_firewall:
        return None
    return remote.step(
        f"{s.name}-firewall",
        on=s.pbx01,
        script="firewall",
        params={
            "IM_IP": s.host.private_ip,
            "PBX_USER": r.pbx01_user,
            "PBX01_IP": pbx01_address(r),
            "ADMIN_CIDRS": " ".join(str(net) for net in r.admin_cidrs),
            "CLIENT_CIDRS": " ".join(str(net) for net in r.client_cidrs),
            "ROLLBACK": str(ROLLBACK_SECONDS),
        },
        delete_params={"ACTION": "remove"},
        opts=s.child(*after),
    )
