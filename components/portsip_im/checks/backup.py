"""backup: restic backups of the IM data, and an `sftp:` repository's login."""

from __future__ import annotations

from typing import Any

import pulumi

from .. import rules
from .core import Fields, secret


def backup_fields(f: Fields) -> dict[str, Any]:
    """backup: restic backups of the IM data; nothing when the caller gives no `backup`."""
    if f.given("backup") is None:
        return {
            "backup_repository": None,
            "backup_password": None,
            "backup_env": None,
            "backup_schedule": f("backup.schedule"),
            "backup_keep": f("backup.keep"),
            "restore_snapshot": None,
        }
    f.need("backup.password", "`backup.repository` is set")
    repository = f("backup.repository")
    if isinstance(repository, str):
        f.ck.check(
            "backup.repository",
            repository,
            lambda v: rules.repository_placement(v, f("im.storage_path")),
        )
    env = f.given("backup.env")
    if isinstance(env, dict) and any(isinstance(v, pulumi.Output) for v in env.values()):
        env = pulumi.Output.from_input(env)  # a secret per entry, as YAML passes it
    if env is not None:
        env = f.ck.check("backup.env", env, rules.backup_env)
    sftp, ssh_key, ssh_host_key = backup_ssh(f, repository)
    if f("backup.append_only") is True and f.given("backup.keep") is not None:
        f.ck.fail(
            "backup.keep",
            "ignored with `backup.append_only` (the IM host forgets and prunes nothing there; the "
            "repository's owner applies retention): remove one of the two",
        )
    return {
        "backup_repository": repository,
        "backup_password": secret(f("backup.password")),
        "backup_env": secret(env),
        "backup_schedule": f("backup.schedule"),
        "backup_keep": f("backup.keep"),
        "restore_snapshot": f("backup.restore_snapshot"),
        "backup_sftp": sftp,
        "backup_ssh_key": ssh_key,
        "backup_ssh_host_key": ssh_host_key,
    }


def backup_ssh(
    f: Fields, repository: Any
) -> tuple[tuple[str | None, str, int] | None, Any, str | None]:
    """backup.ssh_key and backup.ssh_host_key: both or neither, and only for an `sftp:` repository
    (the server they are for is the repository's)."""
    key, host_key = f.given("backup.ssh_key"), f.given("backup.ssh_host_key")
    if key in (None, "") and host_key in (None, ""):
        return None, None, None
    ck = f.ck
    if key in (None, ""):
        ck.fail("backup.ssh_key", "required with `backup.ssh_host_key`, not set")
    if host_key in (None, ""):
        ck.fail("backup.ssh_host_key", "required with `backup.ssh_key`, not set (pin the server)")
    sftp = None
    if isinstance(repository, str):
        try:
            sftp = rules.sftp_server(repository)
        except ValueError as exc:
            ck.fail("backup.repository", str(exc))
            return None, None, None
        if sftp is None:
            ck.fail("backup.ssh_key", "only for an `sftp:` repository (`backup.repository`)")
    elif repository is not None:
        ck.fail(
            "backup.ssh_key",
            "needs `backup.repository` as a plain string, not an Output: the SFTP server it is "
            "for is read from it at preview",
        )
    checked_key = f("backup.ssh_key") if key not in (None, "") else None
    pinned = f("backup.ssh_host_key") if host_key not in (None, "") else None
    return sftp, secret(checked_key), pinned
