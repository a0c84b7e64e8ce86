"""The secret keys: each must be set with `--secret`, and when it is required."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from .keys import ImConfig


@dataclass(frozen=True)
class SecretSpec:
    key: str
    description: str
    required_when: Callable[[ImConfig], bool] = lambda c: True
    when: str = ""
    """Says when it is required, for the docs; empty means always."""


SECRETS = [
    SecretSpec(
        "sshPrivateKey",
        "The operator's SSH private key, logging in to pbx01 (as pbx01User) and to the IM host "
        "(as adminUser).",
    ),
    SecretSpec(
        "pbxPassword",
        "The password of the pbx user on the PBX nodes; the IM host's pbx user gets the same.",
    ),
    SecretSpec(
        "pbxAdminPassword",
        "The PBX system administrator's password, for the REST API.",
        lambda c: c.pbx_api == "rest",
        "pbxApi is rest",
    ),
    SecretSpec(
        "backupPassword",
        "The restic repository's password (it encrypts the backups: keep a copy outside this "
        "stack, without it no backup can be read).",
        lambda c: c.backup_repository is not None,
        "backupRepository is set",
    ),
    SecretSpec(
        "backupEnv",
        "The restic repository's credentials, a JSON object of environment variables, e.g. "
        '`{"AWS_ACCESS_KEY_ID": "…", "AWS_SECRET_ACCESS_KEY": "…"}`.',
        lambda c: False,
        "the repository needs credentials",
    ),
    SecretSpec(
        "backupSshKey",
        "`sftp:` repositories: the SSH private key (no passphrase) the IM host's root logs in to "
        "the SFTP server with; installed root-only for that server alone (docs/backups.md). Not "
        "set: root's own SSH setup is used.",
        lambda c: c.backup_ssh_host_key is not None,
        "backupSshHostKey is set",
    ),
    SecretSpec(
        "imToken",
        "The IM server token from the portal (Servers > IM Servers > Generate Token).",
        lambda c: c.pbx_api == "manual",
        "pbxApi is manual",
    ),
]
