"""Guide steps 2 and 3, on the PBX through pbx01: the whitelist and the IM token."""

from __future__ import annotations

import pulumi
import pulumi_command as command

from .. import remote
from .context import Steps, flag


def whitelist(s: Steps, prepare: pulumi.Resource) -> command.remote.Command:
    """The IM server's public and private addresses on the PBX whitelist, marked as this stack's."""
    ips = pulumi.Output.all(s.host.public_ip, s.host.private_ip).apply(
        lambda found: " ".join(dict.fromkeys(found))
    )
    return remote.step(
        f"{s.name}-whitelist",
        on=s.pbx01,
        script="pbx-api+whitelist",
        params={
            **s.pbx.params(),
            "IPS": ips,
            "DAYS": str(s.r.whitelist_days),
            "MARK": f"portsip-im:{pulumi.get_project()}/{pulumi.get_stack()}",
            "CONFIRMED": flag(s.r.whitelist_confirmed),
        },
        secrets=s.pbx.api_secrets(),
        delete_params={"ACTION": "remove"},
        opts=s.child(prepare),
    )


def token(s: Steps, whitelist: pulumi.Resource) -> command.remote.Command:
    """The PBX's current IM token, kept on pbx01; regenerated only when the PBX has none or the
    token rotation changes (then deploy re-runs im.sh); a new release gets a fresh one."""
    return remote.step(
        f"{s.name}-token",
        on=s.pbx01,
        script="pbx-api+token",
        params={**s.pbx.params(), "ROTATION": s.r.im_token_rotation or ""},
        secrets=s.pbx.token_secrets(),
        delete_params={"ACTION": "remove"},
        quiet=True,
        opts=s.child(whitelist),
    )
