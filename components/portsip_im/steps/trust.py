"""Guide step 4: pbx01 logs in to pbx@IM with its key, the IM host's key pinned on pbx01."""

from __future__ import annotations

import pulumi
import pulumi_command as command

from .. import remote
from .context import Steps


def trust(
    s: Steps, im_host_key: pulumi.Input[str], prepare: pulumi.Resource
) -> tuple[command.remote.Command, command.remote.Command]:
    """trust-key on pbx01 (its key, made if missing; the IM host key pinned in known_hosts), then
    trust on the IM host (that key authorized for the pbx user)."""
    trust_key = remote.step(
        f"{s.name}-trust-key",
        on=s.pbx01,
        script="trust-key",
        params={"IM_IP": s.host.private_ip, "IM_HOST_KEY": im_host_key},
        delete_params={"ACTION": "remove"},
        opts=s.child(prepare),
    )
    authorized = remote.step(
        f"{s.name}-trust",
        on=s.im_admin,
        script="trust",
        params={
            "PBX_USER": s.r.pbx01_user,
            "PUBKEY": trust_key.stdout.apply(lambda out: (out or "").strip()),
        },
        delete_params={"ACTION": "remove"},
        opts=s.child(prepare),
    )
    return trust_key, authorized
