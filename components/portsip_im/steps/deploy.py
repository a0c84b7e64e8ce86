"""Guide step 5: `im.sh run -a PRIVATE_IP -A PUBLIC_IP [-f STORAGE_PATH]` on pbx01, verified."""

from __future__ import annotations

import pulumi
import pulumi_command as command

from .. import remote
from .context import Steps, digest, flag


def deploy(
    s: Steps, token: command.remote.Command, *after: pulumi.Resource
) -> command.remote.Command:
    r, host = s.r, s.host
    params: dict[str, pulumi.Input[str]] = {
        "HOST_ID": host.host_id,
        "PRIVATE_IP": host.private_ip,
        "PUBLIC_IP": host.public_ip,
        "STORAGE_PATH": r.storage_path or "",
        "GUIDE_DIR": r.guide_dir,
        "PBX_USER": r.pbx01_user,
        "VERIFY_API": flag(s.pbx.rest),
        # Which token pbx01 holds (a digest of the token step's fingerprint line): a rotated or
        # newly given token re-runs deploy, which then re-deploys with it (im.sh rm, im.sh run).
        "TOKEN_FP": digest(token.stdout),
        **s.pbx.params(),
    }
    return remote.step(
        f"{s.name}-deploy",
        on=s.pbx01,
        script="pbx-api+vendor+deploy",
        params=params,
        secrets=s.pbx.api_secrets(),
        delete_params={"ACTION": "rm"},
        quiet=True,
        opts=s.child(*after),
    )
