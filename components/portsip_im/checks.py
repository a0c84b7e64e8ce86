"""ImServerArgs → Resolved: every field checked, defaults applied, one error naming each bad field.

Plain values are checked here, when ImServer is constructed, before it registers anything. A value
passed as an Output is checked when it becomes known (inside `apply`), with the same message: those
are the fields a caller takes from other resources (addresses, host keys, the SSH public key). The
cloud lookups (size, subnet, network, a reused public IP) are checked by the host's `plan()`.
"""

from __future__ import annotations

import difflib
import ipaddress
import re
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import pulumi

from . import rules
from .resolved import Resolved
from .spec import PROFILES

T = TypeVar("T")

_SNAPSHOT_ID = re.compile(r"snap-[0-9a-f]{8,17}")
_RESTORE = re.compile(r"latest|[0-9a-f]{8,64}")


# Fields that must have a value even when it arrives as an Output.
_REQUIRED = {
    "private_ip",
    "public_ip",
    "host_key",
    "ssh_public_key",
    "pbx01_host",
    "pbx01_host_key",
}


class ArgsError(pulumi.RunError):
    """Bad ImServer arguments: each problem names its field (`host.aws.size`). A RunError, so
    Pulumi prints the message and no stack trace."""

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        self.problems = problems
        lines = "\n  ".join(f"{field}: {message}" for field, message in problems)
        super().__init__(f"invalid ImServer arguments:\n  {lines}")


class _Checker:
    """Collects problems; `check` runs a rule now (plain) or when the value is known (Output)."""

    def __init__(self) -> None:
        self.problems: list[tuple[str, str]] = []

    def fail(self, field: str, message: str) -> None:
        self.problems.append((field, message))

    def check(
        self, field: str, value: Any, rule: Callable[[Any], T], normalize: bool = False
    ) -> Any:
        """The value, held to `rule`; with `normalize`, an Output's value becomes what the rule
        makes of it once known, exactly as a plain value does in `normalized`."""
        if isinstance(value, pulumi.Output):

            def later(known: Any) -> Any:
                if known in (None, ""):
                    if field.rsplit(".", 1)[-1] in _REQUIRED:
                        # e.g. another stack's output that is not there: never an unpinned key.
                        raise ArgsError([(field, "required, not set (its Output has no value)")])
                    return known  # an optional value another stack does not give
                try:
                    made = rule(known)
                except ValueError as exc:
                    raise ArgsError([(field, str(exc))]) from None
                return made if normalize else known

            return value.apply(later)
        try:
            rule(value)
        except ValueError as exc:
            self.fail(field, str(exc))
        return value

    def normalized(self, field: str, value: Any, rule: Callable[[Any], T]) -> Any:
        """Like check, but a plain value is replaced by what the rule makes of it."""
        if value is None or isinstance(value, pulumi.Output):
            return value if value is None else self.check(field, value, rule, normalize=True)
        try:
            return rule(value)
        except ValueError as exc:
            self.fail(field, str(exc))
            return value

    def choice(self, field: str, value: str, allowed: tuple[str, ...]) -> str:
        if value not in allowed:
            self.fail(field, f"{value!r} is not one of {', '.join(allowed)}")
        return value

    def between(self, field: str, value: int, low: int, high: int | None = None) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            self.fail(field, f"must be a whole number of at least {low}")
        elif high is not None and value > high:
            self.fail(field, f"must be at most {high}")
        return value

    def pattern(self, field: str, value: str | None, regex: re.Pattern[str], shape: str) -> None:
        if value is not None and not regex.fullmatch(value):
            self.fail(field, f"{value!r}: must be {shape}")

    def cidrs(
        self, field: str, values: list[str], admin: bool
    ) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
        out = []
        for i, text in enumerate(values):
            try:
                net = ipaddress.ip_network(str(text))
                out.append(rules.admin_range(net) if admin else net)
            except ValueError as exc:
                self.fail(f"{field}[{i}]", f"{text!r}: {exc}")
        return out


def resolve(args: Mapping[str, Any]) -> Resolved:
    """Check ImServerArgs and apply its defaults. Raises ArgsError naming every bad field."""
    ck = _Checker()
    host_args = dict(args.get("host") or {})
    targets = [t for t in rules.TARGETS if host_args.get(t) is not None]
    if len(targets) != 1:
        ck.fail(
            "host",
            f"set exactly one of aws, hcloud, existing (set: {', '.join(targets) or 'none'})",
        )
        raise ArgsError(ck.problems)
    target = targets[0]
    h: Mapping[str, Any] = host_args[target]
    where = f"host.{target}"
    pbx: Mapping[str, Any] = args.get("pbx") or {}
    api: Mapping[str, Any] = pbx.get("api") or {}
    ssh: Mapping[str, Any] = args.get("ssh") or {}
    prep: Mapping[str, Any] = args.get("prepare") or {}
    im: Mapping[str, Any] = args.get("im") or {}
    backup: Mapping[str, Any] | None = args.get("backup")
    backup_env: Any = None
    _unknown_fields(ck, args, target)
    allow_public = bool(args.get("allow_public_private_network", False))

    def need(group: str, fields: Mapping[str, Any], name: str) -> Any:
        if fields.get(name) in (None, ""):
            ck.fail(f"{group}.{name}", "required, not set")
        return fields.get(name)

    required = ["private_ip"] + (
        ["public_ip", "host_key"] if target == "existing" else ["ssh_public_key"]
    )
    required += {"aws": ["subnet_id", "pbx_security_group_id"], "hcloud": ["network_id"]}.get(
        target, []
    )
    for name in required:
        need(where, h, name)
    for name in ("pbx01_host", "pbx01_host_key", "password"):
        need("pbx", pbx, name)
    need("ssh", ssh, "private_key")

    def address(field: str, value: Any, private: bool) -> Any:
        if value is None:
            return None
        return ck.check(field, value, lambda v: rules.usable_address(str(v), private, allow_public))

    profile_name = ck.choice(
        f"{where}.sizing_profile", h.get("sizing_profile", "large"), rules.SIZING_PROFILES
    )
    profile = PROFILES.get(profile_name, PROFILES["large"])
    private_ip = address(f"{where}.private_ip", h.get("private_ip"), private=True)
    public_ip = address(f"{where}.public_ip", h.get("public_ip"), private=False)
    pbx01_private_ip = address("pbx.pbx01_private_ip", pbx.get("pbx01_private_ip"), True)
    virtual_ip = address("pbx.virtual_ip", pbx.get("virtual_ip"), private=True)
    cloud = target != "existing"
    firewall = _firewall(ck, where, h, prep, ssh) if not cloud else False

    data_disk_gb = h.get("data_disk_gb", 256)
    if cloud and (isinstance(data_disk_gb, bool) or not isinstance(data_disk_gb, int)):
        ck.fail(f"{where}.data_disk_gb", "must be a whole number of GB")
    elif cloud:
        ck.normalized(f"{where}.data_disk_gb", data_disk_gb, rules.data_disk_gb)
    ck.pattern(
        f"{where}.data_snapshot_id", h.get("data_snapshot_id"), _SNAPSHOT_ID, "an EBS snapshot id"
    )
    ebs_keep = h.get("ebs_snapshot_keep")
    if ebs_keep is not None:
        ck.between(f"{where}.ebs_snapshot_keep", ebs_keep, 1, 1000)

    mode = ck.choice("pbx.api.mode", api.get("mode", "rest"), rules.PBX_API_MODES)
    api_url = api.get("url")
    if isinstance(api_url, str):
        api_url = ck.normalized("pbx.api.url", api_url, rules.url).rstrip("/")
    elif isinstance(api_url, pulumi.Output):
        api_url = ck.check("pbx.api.url", api_url, rules.url).apply(lambda u: u.rstrip("/"))
    elif api_url is None and virtual_ip is not None:
        api_url = pulumi.Output.from_input(virtual_ip).apply(lambda vip: f"https://{vip}:8887/api")
    if api.get("allow_insecure_http", False) is not True:
        api_url = ck.check("pbx.api.url", api_url, _https) if api_url is not None else None
    if mode == "rest":
        if api_url is None:
            ck.fail(
                "pbx.api.url", "required when pbx.api.mode is rest and pbx.virtual_ip is not set"
            )
        need("pbx.api", api, "admin_password")
    else:
        need("pbx.api", api, "im_token")
    login_path = api.get("login_path", "/login/oauth/token")
    if not login_path.startswith("/") or any(ch in login_path for ch in "?# "):
        ck.fail(
            "pbx.api.login_path",
            f"{login_path!r}: must be a path under the API base URL, starting with / "
            "(e.g. /login/oauth/token)",
        )

    storage_path = ck.normalized("im.storage_path", im.get("storage_path"), rules.ordinary_path)
    repository = None
    if backup is not None:
        repository = ck.normalized(
            "backup.repository", backup.get("repository"), rules.backup_repository
        )
        need("backup", backup, "password")
        if isinstance(repository, str):
            ck.check(
                "backup.repository",
                repository,
                lambda v: rules.repository_placement(v, storage_path),
            )
        env = backup.get("env")
        if isinstance(env, dict) and any(isinstance(v, pulumi.Output) for v in env.values()):
            env = pulumi.Output.from_input(env)  # a secret per entry, as YAML passes it
        if env is not None:
            backup_env = ck.check("backup.env", env, _backup_env)
    sftp, ssh_key, ssh_host_key = _backup_ssh(ck, backup or {}, repository)
    append_only = _append_only(ck, backup or {})
    restore = (backup or {}).get("restore_snapshot")
    ck.pattern("backup.restore_snapshot", restore, _RESTORE, "`latest` or a restic snapshot id")

    pbx01_host = ck.normalized("pbx.pbx01_host", pbx.get("pbx01_host"), rules.host_name)
    _shapes(ck, where, h, pbx, api, prep, im)
    admin_user = h.get("admin_user") or rules.DEFAULT_ADMIN_USER[target]
    if pbx.get("user", "pbx") == admin_user and admin_user not in rules.RESERVED_USERS:
        ck.fail(
            "pbx.user",
            f"{admin_user!r} is the IM host's admin user ({where}.admin_user), the program's own "
            "login: prepare would set its password to the PBX nodes' and change its sudo",
        )
    resolved = Resolved(
        target=target,
        profile=profile,
        private_ip=private_ip,
        public_ip=public_ip,
        public_ip_id=h.get("public_ip_id"),
        size=(h.get("size") or rules.DEFAULT_SIZE[profile.name].get(target)) if cloud else None,
        subnet_id=h.get("subnet_id"),
        pbx_security_group_id=h.get("pbx_security_group_id"),
        ami=h.get("ami"),
        network_id=h.get("network_id"),
        location=h.get("location", "fsn1"),
        image=h.get("image", "ubuntu-24.04"),
        data_disk_gb=data_disk_gb,
        data_snapshot_id=h.get("data_snapshot_id"),
        ebs_snapshot_keep=ebs_keep,
        data_disk_device=ck.normalized(
            f"{where}.data_disk_device", h.get("data_disk_device"), rules.device_path
        ),
        protect_data=h.get("protect_data", True),
        client_cidrs=ck.cidrs(f"{where}.client_cidrs", h["client_cidrs"], admin=False)
        if "client_cidrs" in h
        else rules.everyone(),
        admin_cidrs=ck.cidrs(f"{where}.admin_cidrs", h.get("admin_cidrs", []), admin=True),
        admin_user=admin_user,
        ssh_public_key=ck.normalized(
            f"{where}.ssh_public_key", h.get("ssh_public_key"), rules.ssh_key
        ),
        im_host_key=ck.normalized(f"{where}.host_key", h.get("host_key"), rules.host_key),
        allow_undersized_host=bool(h.get("allow_undersized", False)),
        pbx01_host=pbx01_host or "",
        pbx01_host_key=ck.normalized(
            "pbx.pbx01_host_key", pbx.get("pbx01_host_key"), rules.host_key
        ),
        pbx01_user=pbx.get("user", "pbx"),
        pbx01_source_cidr=_source_cidr(
            ck, pbx01_private_ip, pbx01_host, allow_public, cloud or firewall
        ),
        guide_dir=pbx.get("guide_dir", "/opt/portsip-pbx-ha-guide"),
        pbx_password=_secret(_one_line(ck, "pbx.password", pbx.get("password"))) or "",
        pbx_api=mode,
        pbx_api_url=api_url if mode == "rest" else None,
        pbx_api_login=ck.choice("pbx.api.login", api.get("login", "auto"), rules.PBX_API_LOGINS),
        pbx_api_login_path=login_path,
        pbx_api_tls_verify=api.get("tls_verify", True),
        pbx_api_ca_certificate=ck.normalized(
            "pbx.api.ca_certificate", api.get("ca_certificate"), rules.pem_certificates
        ),
        pbx_api_pinned_public_key=ck.normalized(
            "pbx.api.pinned_public_key", api.get("pinned_public_key"), rules.pinned_public_key
        ),
        pbx_admin_user=api.get("admin_user", "admin"),
        pbx_admin_password=_secret(api.get("admin_password")) if mode == "rest" else None,
        im_token=_secret(api.get("im_token")) if mode == "manual" else None,
        whitelist_days=ck.between("pbx.api.whitelist_days", api.get("whitelist_days", 3650), 1),
        whitelist_confirmed=api.get("whitelist_confirmed", False),
        ssh_private_key=_secret(ssh.get("private_key")) or "",
        jump_via_pbx01=ssh.get("jump_via_pbx01", True),
        ssh_per_dial_timeout=ck.between(
            "ssh.per_dial_timeout", ssh.get("per_dial_timeout", 15), 1, 600
        ),
        required_os=prep.get("required_os", "ubuntu 24.04"),
        apply_os_updates=prep.get("apply_os_updates", True),
        pbx_sudo_nopasswd=prep.get("pbx_sudo_nopasswd", True),
        storage_path=storage_path,
        im_state=ck.choice("im.state", im.get("state", "running"), rules.IM_STATES),
        restart_token=im.get("restart_token"),
        im_token_rotation=im.get("token_rotation"),
        im_release=im.get("release"),
        skip_cluster_check=im.get("skip_cluster_check", False),
        upgrade_without_backup=im.get("upgrade_without_backup", False),
        backup_repository=repository,
        backup_password=_secret(_one_line(ck, "backup.password", (backup or {}).get("password"))),
        backup_env=_secret(backup_env),
        backup_schedule=ck.normalized(
            "backup.schedule", (backup or {}).get("schedule", "daily"), rules.backup_schedule
        ),
        backup_keep=ck.normalized(
            "backup.keep",
            (backup or {}).get("keep", dict(rules.DEFAULT_BACKUP_KEEP)),
            rules.backup_keep,
        ),
        restore_snapshot=restore,
        backup_sftp=sftp,
        backup_ssh_key=ssh_key,
        backup_ssh_host_key=ssh_host_key,
        host_firewall=firewall,
        backup_append_only=append_only,
    )
    if ck.problems:
        raise ArgsError(ck.problems)
    return resolved


def _firewall(
    ck: _Checker,
    where: str,
    h: Mapping[str, Any],
    prep: Mapping[str, Any],
    ssh: Mapping[str, Any],
) -> bool:
    """host.existing.firewall, and the two fields only it reads there."""
    firewall = h.get("firewall", False)
    if not isinstance(firewall, bool):
        ck.fail(f"{where}.firewall", f"{firewall!r}: must be true or false")
        return False
    if not firewall:
        for name in ("client_cidrs", "admin_cidrs"):
            if name in h:
                ck.fail(
                    f"{where}.{name}",
                    f"only with {where}.firewall (nothing else on an existing host reads it)",
                )
    elif prep.get("pbx_sudo_nopasswd", True) is not True:
        ck.fail(
            f"{where}.firewall",
            "needs prepare.pbx_sudo_nopasswd: the firewall step runs `sudo -n` as the pbx user "
            "from pbx01",
        )
    elif ssh.get("jump_via_pbx01", True) is False and not h.get("admin_cidrs"):
        # The rollback proves pbx01's login only: the program's own, straight from the operator,
        # would be shut out for good.
        ck.fail(
            f"{where}.firewall",
            "with ssh.jump_via_pbx01 false the program logs in to the IM host from your own "
            f"address: list it in {where}.admin_cidrs, or the firewall shuts every later step out",
        )
    return firewall


def _shapes(
    ck: _Checker,
    where: str,
    h: Mapping[str, Any],
    pbx: Mapping[str, Any],
    api: Mapping[str, Any],
    prep: Mapping[str, Any],
    im: Mapping[str, Any],
) -> None:
    """What reaches a host or a remote command looks like a real value of its kind."""
    for group, fields, name, rule in (
        (where, h, "admin_user", rules.posix_user),
        (where, h, "size", rules.cloud_name),
        (where, h, "location", rules.cloud_name),
        (where, h, "image", rules.cloud_name),
        (where, h, "subnet_id", rules.aws_id("subnet")),
        (where, h, "pbx_security_group_id", rules.aws_id("sg")),
        (where, h, "ami", rules.aws_id("ami")),
        ("pbx", pbx, "user", rules.pbx_user),
        ("pbx", pbx, "guide_dir", rules.ordinary_path),
        ("pbx.api", api, "admin_user", rules.api_user),
        ("prepare", prep, "required_os", rules.os_release),
        ("im", im, "release", rules.label),
        ("im", im, "restart_token", rules.label),
        ("im", im, "token_rotation", rules.label),
    ):
        value = fields.get(name)
        # A cloud id another resource gives is the provider's own: only one typed in is held to
        # the shape.
        if value is not None and not (name.endswith("_id") and isinstance(value, pulumi.Output)):
            ck.check(f"{group}.{name}", value, rule)


def _https(value: str) -> None:
    if str(value).startswith("http://"):
        raise ValueError(rules.PLAIN_HTTP + " (pbx.api.allow_insecure_http)")


def _one_line(ck: _Checker, field: str, value: Any) -> Any:
    """A secret a line-based tool reads (chpasswd, restic's password file), held to one line."""
    return None if value is None else ck.check(field, value, rules.one_line_secret)


def _secret(value: Any) -> Any:
    """A secret the caller may have passed as plain text: it must never reach state in clear."""
    return None if value is None else pulumi.Output.secret(value)


def _fields(typed: Any) -> set[str]:
    return set(typed.__required_keys__) | set(typed.__optional_keys__)


def _unknown_fields(ck: _Checker, args: Mapping[str, Any], target: str) -> None:
    """A misspelled field or one of another target must not pass silently (TypedDicts do not
    check at run time, and other languages' callers are Python dicts here)."""
    from . import args as a

    host_types = {"aws": a.AwsHostArgs, "hcloud": a.HcloudHostArgs, "existing": a.ExistingHostArgs}
    groups: list[tuple[str, Any, Any]] = [
        ("", args, a.ImServerArgs),
        ("host", args.get("host"), a.HostArgs),
    ]
    groups.append((f"host.{target}", (args.get("host") or {}).get(target), host_types[target]))
    pbx = args.get("pbx") or {}
    groups += [("pbx", pbx, a.PbxArgs), ("pbx.api", pbx.get("api"), a.PbxApiArgs)]
    for name, typed in (
        ("ssh", a.SshArgs),
        ("prepare", a.PrepareArgs),
        ("im", a.ImServiceArgs),
        ("backup", a.BackupArgs),
    ):
        groups.append((name, args.get(name), typed))
    for path, given, typed in groups:
        if not isinstance(given, Mapping):
            continue
        known = _fields(typed)
        for key in sorted(set(given) - known):
            field = f"{path}.{key}" if path else key
            elsewhere = [t for t, ht in host_types.items() if key in _fields(ht)]
            if path == f"host.{target}" and elsewhere:
                ck.fail(field, f"only for host.{' / host.'.join(elsewhere)}")
                continue
            close = difflib.get_close_matches(key, sorted(known), n=1, cutoff=0.6)
            hint = f"; did you mean {close[0]}?" if close else ""
            ck.fail(field, f"unknown field{hint}")


def _backup_ssh(
    ck: _Checker, backup: Mapping[str, Any], repository: Any
) -> tuple[tuple[str | None, str, int] | None, Any, str | None]:
    """backup.ssh_key and backup.ssh_host_key: both or neither, and only for an `sftp:` repository
    (the server they are for is the repository's)."""
    key, host_key = backup.get("ssh_key"), backup.get("ssh_host_key")
    if key in (None, "") and host_key in (None, ""):
        return None, None, None
    if key in (None, ""):
        ck.fail("backup.ssh_key", "required with backup.ssh_host_key, not set")
    if host_key in (None, ""):
        ck.fail("backup.ssh_host_key", "required with backup.ssh_key, not set (pin the server)")
    sftp = None
    if isinstance(repository, str):
        try:
            sftp = rules.sftp_server(repository)
        except ValueError as exc:
            ck.fail("backup.repository", str(exc))
            return None, None, None
        if sftp is None:
            ck.fail("backup.ssh_key", "only for an `sftp:` repository (backup.repository)")
    elif repository is not None:
        ck.fail(
            "backup.ssh_key",
            "needs backup.repository as a plain string, not an Output: the SFTP server it is for "
            "is read from it at preview",
        )
    if key not in (None, ""):
        key = ck.check("backup.ssh_key", key, _private_key)
    # Any type: OpenSSH checks it, not the command provider (no ssh-rsa limit as on host_key).
    pinned = ck.normalized("backup.ssh_host_key", host_key, rules.pinned_key)
    return sftp, _secret(key), pinned


def _private_key(value: str) -> None:
    problems = rules.ssh_private_key_problems(value)
    if problems:
        raise ValueError("; ".join(problems))


def _append_only(ck: _Checker, backup: Mapping[str, Any]) -> bool:
    """backup.append_only: a bool; backup.keep beside it would be ignored, so it is refused."""
    append_only = backup.get("append_only", False)
    if not isinstance(append_only, bool):
        ck.fail("backup.append_only", f"{append_only!r}: must be true or false")
        return False
    if append_only and "keep" in backup:
        ck.fail(
            "backup.keep",
            "ignored with backup.append_only (the IM host forgets and prunes nothing there; the "
            "repository's owner applies retention): remove one of the two",
        )
    return append_only


def _backup_env(env: Any) -> None:
    problems = rules.backup_env_problems(env if isinstance(env, dict | str) else str(env))
    if problems:
        raise ValueError("; ".join(problems))


def _source_cidr(
    ck: _Checker, private_ip: Any, host: Any, allow_public: bool, cloud: bool
) -> pulumi.Input[str]:
    """Where SSH to the IM host comes from: pbx01's private address, as a /32. `cloud`: a
    firewall of this program's opens SSH to it (a cloud's, or host.existing.firewall), so it must
    be known."""
    if private_ip is not None:
        if isinstance(private_ip, pulumi.Output):
            return private_ip.apply(lambda ip: f"{ip}/32")
        return f"{private_ip}/32"

    def from_host(value: Any) -> str:
        try:
            ip = ipaddress.IPv4Address(str(value))
        except ValueError:
            raise ValueError(
                f"not set, and pbx.pbx01_host ({value!r}) is not an IPv4 address; set it to "
                "pbx01's private IP (the source of SSH to the IM server, which its firewall admits)"
            ) from None
        if not allow_public and not rules.is_private_address(ip):
            raise ValueError(
                f"not set, and pbx.pbx01_host ({ip}), its default, is not a private address "
                f"({rules.PRIVATE_TEXT}); set it to pbx01's private IP (the source of SSH to the "
                "IM server, which its firewall admits)"
            )
        return f"{ip}/32"

    if not cloud:
        return ""  # no firewall of this program's to open on this existing host
    if isinstance(host, pulumi.Output):

        def later(known: Any) -> str:
            try:
                return from_host(known)
            except ValueError as exc:
                raise ArgsError([("pbx.pbx01_private_ip", str(exc))]) from None

        return host.apply(later)
    try:
        return from_host(host)
    except ValueError as exc:
        ck.fail("pbx.pbx01_private_ip", str(exc))
        return ""
