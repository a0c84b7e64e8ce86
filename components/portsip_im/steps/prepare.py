"""Guide step 1: prepare the IM host (checks, updates once, time sync, performance mode, the pbx
user with the PBX nodes' password, the data disk formatted only if blank and mounted)."""

from __future__ import annotations

import pulumi
import pulumi_command as command

from .. import naming, remote
from ..spec import MEASURED_MEMORY_SLACK
from .context import DEFAULT_DATA_PATH, Steps, flag


def prepare(s: Steps, *after: pulumi.Resource) -> command.remote.Command:
    r, host, profile = s.r, s.host, s.r.profile
    params: dict[str, pulumi.Input[str]] = {
        "HOST_ID": host.host_id,
        "REQUIRED_OS": r.required_os,
        "PBX_USER": r.pbx01_user,
        "DATA_DISK": host.data_disk_device or "",
        "DATA_MOUNT": DEFAULT_DATA_PATH,
        "STORAGE_PATH": r.storage_path or "",
        "APPLY_UPDATES": flag(r.apply_os_updates),
        "SUDO_NOPASSWD": flag(r.pbx_sudo_nopasswd),
        "MEASURE_SPEC": flag(r.target == "existing"),
        "ALLOW_UNDERSIZED": flag(r.allow_undersized_host),
        "MIN_VCPUS": str(profile.min_vcpus),
        "MIN_MEMORY_MIB": str(profile.min_memory_mib),
        "MEMORY_FLOOR_MIB": str(int(profile.min_memory_mib * MEASURED_MEMORY_SLACK)),
        "MIN_DISK_GB": str(profile.min_disk_gb),
    }
    # The profile's name is only for prepare.sh's message; its figures are in the triggers above,
    # so a stack made before profiles existed (large) does not re-run prepare for this parameter.
    args = {**params, "SIZING_PROFILE": profile.name}
    if r.allow_undersized_host:
        pulumi.log.warn(
            naming.text(
                "`host.existing.allow_undersized` is true: the IM host may be below PortSIP's "
                f"{profile.asks()} (`host.existing.sizing_profile` {profile.name}). Acceptable "
                "for a lab, never for production."
            ),
            resource=s.parent,
        )
    return remote.step(
        f"{s.name}-prepare",
        on=s.im_admin,
        script="prepare",
        params=args,
        secrets={"PBX_PASSWORD": r.pbx_password},
        rerun_on_update=False,
        triggers=[pulumi.Output.all(**params), r.pbx_password],
        opts=s.child(*after),
    )
