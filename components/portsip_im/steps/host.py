"""Before step 1: pbx01 is the node the guide expects, and the IM host's SSH key is known."""

from __future__ import annotations

import pulumi
import pulumi_command as command

from .. import remote
from ..hosts import ImHost
from .context import Steps


def pbx01_check(s: Steps) -> command.remote.Command:
    """pbx01 has im.sh and runs prepare.required_os; the IM host is held to the same, so both
    match."""
    r = s.r
    return remote.step(
        f"{s.name}-pbx01-check",
        on=s.pbx01,
        script="pbx01-check",
        params={"GUIDE_DIR": r.guide_dir, "REQUIRED_OS": r.required_os},
        rerun_on_update=False,
        triggers=[r.guide_dir, r.required_os],
        opts=s.child(),
    )


def host_key_scan(
    name: str,
    pbx01: remote.Host,
    host: ImHost,
    host_resource: pulumi.Resource,
    parent: pulumi.Resource,
) -> command.remote.Command:
    """A new VM's host key, read once from pbx01 over the private network, then pinned."""
    return remote.step(
        f"{name}-host-key",
        on=pbx01,
        script="host-key",
        params={"IM_IP": host.private_ip},
        data_stdout=True,  # the key it read: pinned by later steps, not progress
        # Read once per VM: a new VM (a new host id) replaces the step and reads its key; a
        # connection change (a rotated key) must not, and an update would overwrite the key.
        triggers=[host.host_id],
        opts=pulumi.ResourceOptions(
            parent=parent,
            depends_on=[host_resource],
            ignore_changes=["connection", "create", "update"],
        ),
    )
