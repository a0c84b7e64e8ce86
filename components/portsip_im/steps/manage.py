"""Day 2, on pbx01: running or stopped (im.sh start/stop), restart, upgrade. One vendor verb at a
time: state → restart → upgrade (vendor.sh also takes a lock and holds the IM host's backups)."""

from __future__ import annotations

import pulumi
import pulumi_command as command

from .. import remote
from .context import Steps, flag


def _vendor_params(s: Steps) -> dict[str, pulumi.Input[str]]:
    return {
        "IM_IP": s.host.private_ip,
        "GUIDE_DIR": s.r.guide_dir,
        # pbx01's account on the IM host: each verb holds its backups over that trust (vendor.sh).
        "PBX_USER": s.r.pbx01_user,
    }


def state(s: Steps, *after: pulumi.Resource) -> command.remote.Command:
    return remote.step(
        f"{s.name}-state",
        on=s.pbx01,
        script="vendor+manage",
        params={**_vendor_params(s), "ACTION": "state", "STATE": s.r.im_state},
        quiet=True,
        opts=s.child(*after),
    )


def restart(s: Steps, state: pulumi.Resource) -> command.remote.Command:
    return remote.step(
        f"{s.name}-restart",
        on=s.pbx01,
        script="vendor+manage",
        params={
            **_vendor_params(s),
            "ACTION": "restart",
            "RESTART_TOKEN": s.r.restart_token or "",
        },
        delete_params={"ACTION": "forget"},
        quiet=True,
        opts=s.child(state),
    )


def upgrade(s: Steps, *after: pulumi.Resource) -> command.remote.Command:
    """The PBX cluster check, a backup, a fresh token, then im.sh upgrade, when the release
    changes."""
    r = s.r
    return remote.step(
        f"{s.name}-upgrade",
        on=s.pbx01,
        script="pbx-api+vendor+upgrade",
        params={
            **_vendor_params(s),
            **s.pbx.params(),
            "RELEASE": r.im_release or "",
            "SKIP_CLUSTER_CHECK": flag(r.skip_cluster_check),
            "PBX_USER": r.pbx01_user,
            "BACKUP": flag(r.backup_repository is not None),
            "WITHOUT_BACKUP": flag(r.upgrade_without_backup),
        },
        secrets=s.pbx.api_secrets(),
        delete_params={"ACTION": "forget"},
        quiet=True,
        opts=s.child(*after),
    )
