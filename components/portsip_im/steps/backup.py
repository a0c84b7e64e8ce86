"""Backups of the IM data: the backup step (restic and its timer on the IM host), the restore step
(backup.restore_snapshot), and on aws an EBS snapshot of the data volume before each upgrade.

What the scripts do: scripts/backup-lib.sh (the runner), backup.sh, restore.sh; the
upgrade step (upgrade.sh) asks the runner for a backup before `im.sh upgrade`.
"""

from __future__ import annotations

from collections.abc import Sequence

import pulumi
import pulumi_command as command

from .. import naming, remote
from ..hosts import stack_labels
from ..remote import encode_secrets
from ..rules import BACKUP_KEEP_RULES
from .context import DEFAULT_DATA_PATH, Steps


def add_backups(s: Steps, deploy: command.remote.Command) -> list[command.remote.Command]:
    """The backup step (restic, a timer) and the restore step, or none without a repository."""
    name, r, im_admin, child, data_path = s.name, s.r, s.im_admin, s.child, DEFAULT_DATA_PATH
    if r.backup_repository is None:
        pulumi.log.warn(
            naming.text(
                "backup (`backup.repository`) is not set: the IM data (every chat message and "
                "file) is NOT backed up, and an upgrade goes ahead without a backup. Give it a "
                "repository and password (docs/backups.md)."
            ),
            resource=s.parent,
        )
        return []
    assert r.backup_password is not None  # required with a repository (checks/)
    secrets: dict[str, pulumi.Input[str]] = {"BACKUP_PASSWORD": r.backup_password}
    if r.backup_env is not None:
        # The credentials as NAME<TAB>base64 lines: the runner exports them for restic.
        secrets["BACKUP_ENV"] = pulumi.Output.from_input(r.backup_env).apply(
            lambda env: encode_secrets(env) if env else ""
        )
    rules = [rule for rule in BACKUP_KEEP_RULES if rule in r.backup_keep]
    keep = " ".join(f"--keep-{rule} {r.backup_keep[rule]}" for rule in rules)
    params: dict[str, pulumi.Input[str]] = {
        "REPOSITORY": r.backup_repository,
        "SCHEDULE": r.backup_schedule,
        "KEEP": keep,
        "DATA_PATH": data_path,
    }
    if r.input("backup.append_only"):
        # Only when set: a stack without it sends exactly the parameters it sent before. The
        # runner then forgets and prunes nothing (the repository's owner does, elsewhere).
        params["KEEP"] = ""
        params["APPEND_ONLY"] = "1"
    ssh: list[command.remote.Command] = []
    if r.backup_sftp is not None and r.backup_ssh_key is not None:
        # Its own step, present only with backupSshKey: stacks without it keep exactly the backup
        # step they had, and a rotated key re-runs only this.
        user, host, port = r.backup_sftp
        assert r.backup_ssh_host_key is not None  # required with the key (checks/)
        ssh.append(
            remote.step(
                f"{name}-backup-ssh",
                on=im_admin,
                script="backup-ssh",
                params={
                    "SFTP_HOST": host,
                    "SFTP_PORT": str(port),
                    "SFTP_USER": user or "",
                    "HOST_KEY": r.backup_ssh_host_key,
                },
                secrets={"BACKUP_SSH_KEY": r.backup_ssh_key},
                delete_params={"ACTION": "remove"},
                opts=child(deploy),
            )
        )
    backup = remote.step(
        f"{name}-backup",
        on=im_admin,
        script="backup-lib+backup",
        params=params,
        secrets=secrets,
        delete_params={"ACTION": "remove"},
        opts=child(deploy, *ssh),
    )
    restore = remote.step(
        f"{name}-restore",
        on=im_admin,
        script="restore",
        params={"SNAPSHOT": r.restore_snapshot or ""},
        # Once per value: a rotated key or a new VM (whose data volume is kept) must not roll the
        # data back to the last backup.
        rerun_on_update=False,
        triggers=[r.restore_snapshot or ""],
        opts=child(backup),
    )
    return [*ssh, backup, restore]


def pre_upgrade_snapshot(s: Steps, after: Sequence[pulumi.Resource] = ()) -> list[pulumi.Resource]:
    """aws: an EBS snapshot of the data volume for each im.release, taken right before the upgrade:
    after `after` (the day-2 verbs and a restore, so it never catches a restore's swap)."""
    name, r, host, child = s.name, s.r, s.host, s.child
    if r.target != "aws" or not r.im_release or host.data_volume_id is None:
        return []
    import pulumi_aws as aws

    description = f"portsip-im data before the upgrade to IM release {r.im_release}"
    snapshot = aws.ebs.Snapshot(
        f"{name}-pre-upgrade-snapshot",
        volume_id=host.data_volume_id,
        description=description,
        tags=stack_labels(
            {"Name": f"{name}-pre-upgrade-{r.im_release}", "portsip-im-release": r.im_release}
        ),
        # A new release takes a new snapshot; the older ones stay in the account as backups.
        # A first snapshot of a large volume copies every block: far longer than the default.
        opts=child(
            *after,
            replace_on_changes=["description"],
            retain_on_delete=True,
            custom_timeouts=pulumi.CustomTimeouts(create="2h"),
        ),
    )
    return [snapshot]
