"""Raw config strings → a validated ImConfig, or one ConfigError naming every bad key.

Bad input never reaches a resource: `parse_config` turns every problem into one `ConfigError` that
names each key and what is wrong, before the program registers anything.
"""

from __future__ import annotations

import difflib
import ipaddress
import re

from pydantic import ValidationError
from pydantic_core import ErrorDetails

from portsip_im.rules import (
    DEFAULT_BACKUP_KEEP,
    PRIVATE_TEXT,
    backup_env_problems,
    is_private_address,
    masked,
    one_line_secret,
    repository_placement,
    sftp_server,
    ssh_private_key_problems,
)

from .keys import NAMESPACE, ConfigError, ImConfig
from .secrets import SECRETS


def key_of(field_name: str) -> str:
    """The config key (camelCase, as the operator types it) of an ImConfig field."""
    info = ImConfig.model_fields[field_name]
    return info.alias or field_name


def config_keys() -> list[str]:
    return [key_of(name) for name in ImConfig.model_fields] + [s.key for s in SECRETS]


def _describe(error: ErrorDetails) -> str:
    loc = error["loc"]
    key = str(loc[0]) if loc else "?"
    message = str(error["msg"]).removeprefix("Value error, ")
    if error["type"] == "missing":
        return f"{NAMESPACE}:{key}: required, not set"
    if error["type"] == "extra_forbidden":
        close = difflib.get_close_matches(key, config_keys(), n=1, cutoff=0.6)
        hint = f"did you mean {close[0]}? " if close else ""
        return f"{NAMESPACE}:{key}: unknown config key; {hint}(every key: docs/configuration.md)"
    if error["type"] == "literal_error":
        expected = str((error.get("ctx") or {}).get("expected", "")).replace("'", "")
        return f"{NAMESPACE}:{key}: {error['input']!r} is not one of {expected}"
    where = f"[{loc[1]}]" if len(loc) > 1 else ""
    return f"{NAMESPACE}:{key}{where}: {masked(error['input'])!r}: {message}"


# The committed example stacks (Pulumi.dev.yaml) mark what each user must replace; such a value
# passes every shape check and would fail only when the program dials.
_PLACEHOLDER = re.compile(r"ReplaceMe|ReplaceWithTheRealOne", re.IGNORECASE)
_PUT_THERE = {
    "pbx01HostKey": "pbx01's own ed25519 host key (on pbx01: cut -d' ' -f1,2 "
    "/etc/ssh/ssh_host_ed25519_key.pub)",
    "imHostKey": "the IM host's ed25519 host key (checked out of band)",
    "sshPublicKey": "the public half of sshPrivateKey (ssh-keygen -y -f YOUR_KEY)",
    "backupSshHostKey": "the SFTP server's ed25519 host key (ssh-keyscan -t ed25519 HOST)",
}


def _placeholders(raw: dict[str, str], secret_keys: set[str] | frozenset[str]) -> list[str]:
    return [
        f"{NAMESPACE}:{key}: still the committed example value; put "
        f"{_PUT_THERE.get(key, 'the real value (docs/configuration.md)')} there"
        for key, value in sorted(raw.items())
        if key not in secret_keys and isinstance(value, str) and _PLACEHOLDER.search(value)
    ]


def parse_config(
    raw: dict[str, str], secret_keys: set[str] | frozenset[str] = frozenset()
) -> ImConfig:
    """Validate raw config strings (key → value, no namespace) into an ImConfig.

    `secret_keys` are the keys the operator set with `--secret`; every key in SECRETS must be there
    (a secret given as plain text would sit unencrypted in Pulumi.<stack>.yaml).
    Raises ConfigError naming every bad key.
    """
    problems: list[str] = []
    # Pulumi.yaml declares optional keys with an empty default; empty means "not set".
    raw = {k: v for k, v in raw.items() if v != ""}
    problems.extend(_placeholders(raw, secret_keys))
    plain = {k: v for k, v in raw.items() if k not in {s.key for s in SECRETS}}
    try:
        config = ImConfig.model_validate(plain)
    except ValidationError as exc:
        problems.extend(_describe(e) for e in exc.errors())
        config = None

    for secret in SECRETS:
        needed = secret.required_when(config) if config is not None else not secret.when
        if secret.key not in raw:
            if needed:
                why = f"required when {secret.when}" if secret.when else "required"
                problems.append(
                    f"{NAMESPACE}:{secret.key}: {why}, not set "
                    f"(pulumi config set --secret {secret.key} ...)"
                )
        elif secret.key not in secret_keys:
            problems.append(
                f"{NAMESPACE}:{secret.key}: set as plain text; it must be a secret "
                f"(pulumi config set --secret {secret.key} ...)"
            )
    # Secrets that line-based tools read, held to the component's rule here, where their value is
    # known at preview (the component sees them as Outputs, known only once the update runs).
    for key in ("pbxPassword", "backupPassword"):
        if key in raw:
            try:
                one_line_secret(raw[key])
            except ValueError as exc:
                problems.append(f"{NAMESPACE}:{key}: {exc}")
    if "backupEnv" in raw:
        bad_env = backup_env_problems(raw["backupEnv"])
        problems.extend(f"{NAMESPACE}:backupEnv: {p}" for p in bad_env)
    if "backupSshKey" in raw:
        problems.extend(
            f"{NAMESPACE}:backupSshKey: {p}" for p in ssh_private_key_problems(raw["backupSshKey"])
        )
        if config is not None and config.backup_ssh_host_key is None:
            problems.append(
                f"{NAMESPACE}:backupSshKey: needs backupSshHostKey (the SFTP server's host key "
                "to pin: ssh-keyscan -t ed25519 HOST)"
            )

    # A plain key set with --secret would still reach argv and state in clear: say so instead.
    for key in sorted(secret_keys & plain.keys() & set(config_keys())):
        problems.append(
            f"{NAMESPACE}:{key}: set as a secret, but it is not one (it shows in commands and "
            f"previews): pulumi config set --plaintext {key} ..."
        )

    if config is not None:
        problems.extend(_cross_checks(config))
    if problems:
        raise ConfigError("invalid configuration:\n  " + "\n  ".join(problems))
    assert config is not None
    return config


PUBLIC_OPT_OUT = (
    "if this network really uses public addresses internally, set allowPublicPrivateNetwork: true"
)


def _cross_checks(c: ImConfig) -> list[str]:
    out: list[str] = []

    def need(field: str, why: str) -> None:
        if getattr(c, field) in (None, ""):
            out.append(f"{NAMESPACE}:{key_of(field)}: required when {why}, not set")

    if c.target == "existing":
        need("public_ip", "target is existing")
    if c.target == "aws":
        need("subnet_id", "target is aws")
        need("pbx_security_group_id", "target is aws")
    if c.target == "hcloud":
        need("network_id", "target is hcloud")
    if c.target in ("aws", "hcloud"):
        need("ssh_public_key", f"target is {c.target} (the new VM's login key)")
        if c.public_ip is not None and c.public_ip_id is None:
            out.append(
                f"{NAMESPACE}:publicIp: only for target existing; on {c.target} the program "
                "allocates the public IP, or set publicIpId to reuse an allocation"
            )
    if c.pbx_stack is None:
        need("pbx01_host", "pbxStack is not set")
    if c.target == "existing":
        need("im_host_key", "target is existing (pin the IM host's SSH key)")
    if (
        c.pbx_api == "rest"
        and c.pbx_api_url is None
        and c.pbx_virtual_ip is None
        and c.pbx_stack is None
    ):
        out.append(
            f"{NAMESPACE}:pbxApiUrl: required when pbxApi is rest and pbxVirtualIp is not set"
        )
    if not c.pbx_api_login_path.startswith("/") or any(ch in c.pbx_api_login_path for ch in "?# "):
        out.append(
            f"{NAMESPACE}:pbxApiLoginPath: {c.pbx_api_login_path!r}: must be a path under the "
            "API base URL, starting with / (e.g. /login/oauth/token)"
        )
    if c.data_snapshot_id is not None and c.target != "aws":
        out.append(f"{NAMESPACE}:dataSnapshotId: only for target aws (an EBS snapshot)")
    if c.allow_undersized_host and c.target != "existing":
        # Only prepare.sh's measurement on an existing host heeds it; on aws/hcloud the size is
        # the catalogue's, refused at preview whatever this says, so a true here only misleads.
        out.append(
            f"{NAMESPACE}:allowUndersizedHost: only for target existing (a lab host measured at "
            f"prepare); on {c.target} it has no effect: pick a `size` that meets the profile, or "
            "sizingProfile medium for a smaller site"
        )
    if c.host_firewall and c.target != "existing":
        out.append(
            f"{NAMESPACE}:hostFirewall: only for target existing; on {c.target} the program's "
            "security group / firewall admits clientCidrs and adminCidrs already"
        )
    if c.ebs_snapshot_keep is not None and c.target != "aws":
        out.append(f"{NAMESPACE}:ebsSnapshotKeep: only for target aws (EBS snapshots)")
    if c.restore_snapshot is not None and c.backup_repository is None:
        out.append(f"{NAMESPACE}:restoreSnapshot: needs backupRepository (where to restore from)")
    if c.backup_repository is not None:
        try:
            repository_placement(c.backup_repository, c.storage_path)
        except ValueError as exc:
            out.append(f"{NAMESPACE}:backupRepository: {exc}")
    if c.backup_append_only and c.backup_repository is None:
        out.append(f"{NAMESPACE}:backupAppendOnly: needs backupRepository (the append-only one)")
    # Pulumi.yaml's default reaches the program as if set: only a rule of the operator's own (one
    # other than the default) is told apart, and it would be ignored.
    if c.backup_append_only and c.backup_keep != DEFAULT_BACKUP_KEEP:
        out.append(
            f"{NAMESPACE}:backupKeep: ignored with backupAppendOnly (the IM host "
            "forgets and prunes nothing there; the repository's owner applies retention, "
            "docs/backups.md): unset one of the two"
        )
    # (an `sftp:` repository that names no server was refused with backupRepository's own rule)
    if c.backup_ssh_host_key is not None and sftp_server(c.backup_repository or "") is None:
        out.append(
            f"{NAMESPACE}:backupSshHostKey: only for an `sftp:` backupRepository (the server it "
            "pins is the repository's)"
        )
    if c.whitelist_days < 1:
        out.append(f"{NAMESPACE}:whitelistDays: must be at least 1")
    for field in ("private_ip", "public_ip", "pbx01_private_ip", "pbx_virtual_ip"):
        ip = getattr(c, field)
        if ip is None:
            continue
        if ip.is_unspecified or ip.is_multicast or ip.is_loopback:
            out.append(f"{NAMESPACE}:{key_of(field)}: {ip} is not a usable host address")
        elif field != "public_ip" and not c.allow_public_private_network:
            if not is_private_address(ip):
                out.append(
                    f"{NAMESPACE}:{key_of(field)}: {ip} is not a private address "
                    f"({PRIVATE_TEXT}); {PUBLIC_OPT_OUT}"
                )
    # A firewall of the program's admits SSH from pbx01's private IP: it must be known.
    walled = c.target in ("aws", "hcloud") or (c.target == "existing" and c.host_firewall)
    if walled and c.pbx01_private_ip is None and not c.allow_public_private_network:
        # pbx01PrivateIp defaults to pbx01Host: the SSH rule's source must then be private too.
        try:
            default = ipaddress.IPv4Address(c.pbx01_host or "")
        except ValueError:
            default = None
        if default is not None and not is_private_address(default):
            out.append(
                f"{NAMESPACE}:pbx01PrivateIp: not set, and pbx01Host ({default}), its default, is "
                "not a private address; set pbx01PrivateIp to pbx01's private IP (the source of "
                f"SSH to the IM server), or {PUBLIC_OPT_OUT}"
            )
    if walled and c.pbx01_private_ip is None and c.pbx_stack is None:
        try:
            ipaddress.IPv4Address(c.pbx01_host or "")
        except ValueError:
            out.append(
                f"{NAMESPACE}:pbx01PrivateIp: required when pbx01Host ({c.pbx01_host!r}) is not an "
                "IPv4 address: it is the source of the SSH rule to the IM server"
            )
    return out
