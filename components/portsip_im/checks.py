"""ImServerArgs → Resolved: every field checked, defaults applied, one error naming each bad field.

Each field's default and rule are declared once, in args.py's INPUTS; `_Fields` applies them. What
is left here is what concerns several fields at once, one function per group of inputs. Plain values
are checked when ImServer is constructed, before it registers anything; a value passed as an Output
is checked when it becomes known (inside `apply`), with the same message. The cloud lookups (size,
subnet, network, a reused public IP) are checked by the host's `plan()`.
"""

from __future__ import annotations

import difflib
import ipaddress
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import pulumi

from . import naming, rules
from .args import INPUTS
from .inputs import IndexedError, Input, entry
from .resolved import Resolved
from .spec import DEFAULT_PROFILE, PROFILES

T = TypeVar("T")

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
    """Bad ImServer arguments: each problem names its field (`host.aws.size`) in the caller's
    words (naming.py). A RunError, so Pulumi prints the message and no stack trace."""

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        self.problems = problems
        lines = [f"{field}: {message}" for field, message in self.named()]
        if len(lines) == 1 and naming.field("") != "":
            # A caller with its own names (the program's `portsip-im:key: …`): one line.
            super().__init__(lines[0])
        else:
            super().__init__(f"invalid {naming.heading()}:\n  " + "\n  ".join(lines))

    def __reduce__(self) -> tuple[Any, ...]:
        # Rebuilt from its problems (pickled across processes, e.g. a test runner's workers).
        return (ArgsError, (self.problems,))

    def named(self, namer: naming.Namer | None = None) -> list[tuple[str, str]]:
        """The problems as the caller names its inputs (naming.use, or `namer`)."""
        if namer is not None:
            return [(naming.name(f, namer), naming.text(m, namer)) for f, m in self.problems]
        return [(naming.field(f), naming.text(m)) for f, m in self.problems]


class _Checker:
    """Collects problems; `check` runs a rule now (plain) or when the value is known (Output)."""

    def __init__(self) -> None:
        self.problems: list[tuple[str, str]] = []

    def fail(self, field: str, message: str) -> None:
        self.problems.append((field, message))

    def check(
        self, field: str, value: Any, rule: Callable[[Any], T], normalize: bool = False
    ) -> Any:
        """The value, held to `rule`; with `normalize`, what the rule makes of it (an Output's
        value once known, exactly as a plain value's)."""
        if isinstance(value, pulumi.Output):

            def later(known: Any) -> Any:
                if known in (None, ""):
                    if field.rsplit(".", 1)[-1] in _REQUIRED:
                        # e.g. another stack's output that is not there: never an unpinned key.
                        raise ArgsError([(field, "required, not set (its Output has no value)")])
                    return known  # an optional value another stack does not give
                try:
                    made = rule(known)
                except IndexedError as exc:
                    raise ArgsError([(f"{field}[{exc.index}]", str(exc))]) from None
                except ValueError as exc:
                    raise ArgsError([(field, str(exc))]) from None
                return made if normalize else known

            return value.apply(later)
        try:
            made = rule(value)
        except IndexedError as exc:
            self.fail(f"{field}[{exc.index}]", str(exc))
            return value
        except ValueError as exc:
            self.fail(field, str(exc))
            return value
        return made if normalize else value


class _Fields:
    """The caller's fields of one target, each with its default (INPUTS) and held to its rule."""

    def __init__(self, ck: _Checker, args: Mapping[str, Any], target: str, allow_public: bool):
        self.ck, self.args, self.target, self.allow_public = ck, args, target, allow_public
        self.profile = DEFAULT_PROFILE
        self.seen: dict[str, Any] = {}

    def given(self, path: str) -> Any:
        """The caller's value at `path` (`host.aws.size`, `pbx.api.url`), None when not set."""
        value: Any = self.args
        for part in path.split("."):
            value = value.get(part) if isinstance(value, Mapping) else None
        return value

    def __call__(self, path: str) -> Any:
        """The field's value: the caller's or its default, checked (and normalised) by its rule,
        once per field."""
        if path not in self.seen:
            self.seen[path] = self._checked(path)
        return self.seen[path]

    def _checked(self, path: str) -> Any:
        e: Input = entry(INPUTS, path)
        value = self.given(path)
        if value is None:
            value = e.default_for(self.target, self.profile)
        if value is None or (e.plain_only and isinstance(value, pulumi.Output)):
            return value
        return self.ck.check(
            path,
            value,
            lambda v: _held(e, v, self.allow_public),
            normalize=e.normalize and e.private_address is None,
        )

    def need(self, path: str, when: str = "") -> Any:
        if self.given(path) in (None, ""):
            self.ck.fail(path, f"required{' when ' + when if when else ''}, not set")
        return self.given(path)


def _held(e: Input, value: Any, allow_public: bool) -> Any:
    if e.private_address is not None:
        try:
            rules.usable_address(str(value), e.private_address, allow_public)
        except ValueError as exc:
            if "not a private address" not in str(exc):
                raise
            raise ValueError(
                f"{exc}; if this network really uses public addresses internally, set "
                "`allow_public_private_network`: true"
            ) from None
        return value
    return e.rule(value) if e.rule is not None else value


def check_input(path: str, value: Any, allow_public: bool = False) -> Any:
    """One field's value held to its INPUTS rule, alone: the normalised value, or ValueError (an
    IndexedError for a list's entry). The program's config layer checks a key with it."""
    e = entry(INPUTS, path)
    made = _held(e, value, allow_public)
    return made if e.normalize and e.private_address is None else value


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
    _unknown_fields(ck, args, target)
    f = _Fields(ck, args, target, allow_public=False)
    f.allow_public = bool(f("allow_public_private_network"))
    f.profile = f(f"host.{target}.sizing_profile")
    host = _host(f, target)
    pbx = _pbx(f, target, host)
    api = _api(f, pbx["virtual_ip"])
    backup = _backup(f)
    resolved = Resolved(
        target=target,
        profile=PROFILES.get(f.profile, PROFILES[DEFAULT_PROFILE]),
        **host,
        **{k: v for k, v in pbx.items() if k != "virtual_ip"},
        **api,
        ssh_private_key=_secret(f.need("ssh.private_key")) or "",
        jump_via_pbx01=f("ssh.jump_via_pbx01"),
        ssh_per_dial_timeout=f("ssh.per_dial_timeout"),
        required_os=f("prepare.required_os"),
        apply_os_updates=f("prepare.apply_os_updates"),
        pbx_sudo_nopasswd=f("prepare.pbx_sudo_nopasswd"),
        storage_path=f("im.storage_path"),
        im_state=f("im.state"),
        restart_token=f("im.restart_token"),
        im_token_rotation=f("im.token_rotation"),
        im_release=f("im.release"),
        skip_cluster_check=f("im.skip_cluster_check"),
        upgrade_without_backup=f("im.upgrade_without_backup"),
        **backup,
        inputs=_all_inputs(f),
    )
    if ck.problems:
        raise ArgsError(ck.problems)
    return resolved


def _all_inputs(f: _Fields) -> dict[str, Any]:
    """Every field by its generic path (`host.*.size`), as checked and with its default: what a
    step reads with `Resolved.input(path)`. Secrets are never in it (their fields hold Outputs)."""
    out = {}
    for path in INPUTS:
        if path in _SECRET_FIELDS:
            continue
        out[path] = f(path.replace("host.*.", f"host.{f.target}."))
    return out


# Read through their own Resolved fields, always as Pulumi secrets.
_SECRET_FIELDS = {
    "pbx.password",
    "pbx.api.admin_password",
    "pbx.api.im_token",
    "ssh.private_key",
    "backup.password",
    "backup.env",
    "backup.ssh_key",
}


def _host(f: _Fields, target: str) -> dict[str, Any]:
    """host.<target>: the machine, its addresses, its disk and who may reach it."""
    where = f"host.{target}"
    required = ["private_ip"] + (
        ["public_ip", "host_key"] if target == "existing" else ["ssh_public_key"]
    )
    required += {"aws": ["subnet_id", "pbx_security_group_id"], "hcloud": ["network_id"]}.get(
        target, []
    )
    for name in required:
        why = " (the new VM's login key)" if name == "ssh_public_key" else ""
        f.need(f"{where}.{name}", f"`host` is {target}{why}" if name != "private_ip" else "")
    cloud = target != "existing"
    firewall = _firewall(f, where) if not cloud else False
    admin_user = f(f"{where}.admin_user")
    return {
        "private_ip": f(f"{where}.private_ip"),
        "public_ip": f(f"{where}.public_ip"),
        "public_ip_id": f(f"{where}.public_ip_id"),
        "size": f(f"{where}.size") if cloud else None,
        "subnet_id": f(f"{where}.subnet_id"),
        "pbx_security_group_id": f(f"{where}.pbx_security_group_id"),
        "ami": f(f"{where}.ami"),
        "network_id": f(f"{where}.network_id"),
        "location": f(f"{where}.location"),
        "image": f(f"{where}.image"),
        "data_disk_gb": f(f"{where}.data_disk_gb"),
        "data_snapshot_id": f(f"{where}.data_snapshot_id"),
        "ebs_snapshot_keep": f(f"{where}.ebs_snapshot_keep"),
        "data_disk_device": f(f"{where}.data_disk_device"),
        "protect_data": f(f"{where}.protect_data"),
        "client_cidrs": f(f"{where}.client_cidrs"),
        "admin_cidrs": f(f"{where}.admin_cidrs"),
        "admin_user": admin_user,
        "ssh_public_key": f(f"{where}.ssh_public_key"),
        "im_host_key": f(f"{where}.host_key"),
        "allow_undersized_host": bool(f(f"{where}.allow_undersized")),
        "host_firewall": firewall,
    }


def _firewall(f: _Fields, where: str) -> bool:
    """host.existing.firewall, and the two fields only it reads there."""
    firewall = f(f"{where}.firewall")
    if not isinstance(firewall, bool):
        return False
    if not firewall:
        for name in ("client_cidrs", "admin_cidrs"):
            if f.given(f"{where}.{name}") is not None:
                f.ck.fail(
                    f"{where}.{name}",
                    f"only with `{where}.firewall` (nothing else on an existing host reads it)",
                )
    elif f("prepare.pbx_sudo_nopasswd") is not True:
        f.ck.fail(
            f"{where}.firewall",
            "needs `prepare.pbx_sudo_nopasswd`: the firewall step runs `sudo -n` as the pbx user "
            "from pbx01",
        )
    elif f("ssh.jump_via_pbx01") is False and not f.given(f"{where}.admin_cidrs"):
        # The rollback proves pbx01's login only: the program's own, straight from the operator,
        # would be shut out for good.
        f.ck.fail(
            f"{where}.firewall",
            "with `ssh.jump_via_pbx01` false the program logs in to the IM host from your own "
            f"address: list it in `{where}.admin_cidrs`, or the firewall shuts every later step "
            "out",
        )
    return firewall


def _pbx(f: _Fields, target: str, host: Mapping[str, Any]) -> dict[str, Any]:
    """pbx: node pbx01 (where im.sh runs), its user and the address SSH comes from."""
    for name in ("pbx01_host", "pbx01_host_key", "password"):
        f.need(f"pbx.{name}")
    user = f("pbx.user")
    admin_user = host["admin_user"]
    if user == admin_user and admin_user not in rules.RESERVED_USERS:
        f.ck.fail(
            "pbx.user",
            f"{admin_user!r} is the IM host's admin user (`host.{target}.admin_user`), the "
            "program's own login: prepare would set its password to the PBX nodes' and change its "
            "sudo",
        )
    pbx01_host = f("pbx.pbx01_host")
    walled = target != "existing" or host["host_firewall"]
    return {
        "pbx01_host": pbx01_host or "",
        "pbx01_host_key": f("pbx.pbx01_host_key"),
        "pbx01_user": user,
        "pbx01_source_cidr": _source_cidr(f, f("pbx.pbx01_private_ip"), pbx01_host, bool(walled)),
        "guide_dir": f("pbx.guide_dir"),
        "pbx_password": _secret(f("pbx.password")) or "",
        "virtual_ip": f("pbx.virtual_ip"),
    }


def _api(f: _Fields, virtual_ip: Any) -> dict[str, Any]:
    """pbx.api: how the whitelist and the IM token are done."""
    mode = f("pbx.api.mode")
    api_url = f("pbx.api.url")
    if isinstance(api_url, str):
        api_url = api_url.rstrip("/")
    elif isinstance(api_url, pulumi.Output):
        api_url = api_url.apply(lambda u: u.rstrip("/") if isinstance(u, str) else u)
    elif virtual_ip is not None:
        api_url = pulumi.Output.from_input(virtual_ip).apply(lambda vip: f"https://{vip}:8887/api")
    if f("pbx.api.allow_insecure_http") is not True and api_url is not None:
        api_url = f.ck.check("pbx.api.url", api_url, _https)
    if mode == "rest":
        if api_url is None:
            f.ck.fail(
                "pbx.api.url",
                "required when `pbx.api.mode` is rest and `pbx.virtual_ip` is not set",
            )
        f.need("pbx.api.admin_password", "`pbx.api.mode` is rest")
    else:
        f.need("pbx.api.im_token", "`pbx.api.mode` is manual")
    return {
        "pbx_api": mode,
        "pbx_api_url": api_url if mode == "rest" else None,
        "pbx_api_login": f("pbx.api.login"),
        "pbx_api_login_path": f("pbx.api.login_path"),
        "pbx_api_tls_verify": f("pbx.api.tls_verify"),
        "pbx_api_ca_certificate": f("pbx.api.ca_certificate"),
        "pbx_api_pinned_public_key": f("pbx.api.pinned_public_key"),
        "pbx_admin_user": f("pbx.api.admin_user"),
        "pbx_admin_password": _secret(f.given("pbx.api.admin_password"))
        if mode == "rest"
        else None,
        "im_token": _secret(f.given("pbx.api.im_token")) if mode == "manual" else None,
        "whitelist_days": f("pbx.api.whitelist_days"),
        "whitelist_confirmed": f("pbx.api.whitelist_confirmed"),
    }


def _https(value: str) -> None:
    if str(value).startswith("http://"):
        raise ValueError(rules.PLAIN_HTTP + " (`pbx.api.allow_insecure_http`)")


def _backup(f: _Fields) -> dict[str, Any]:
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
    sftp, ssh_key, ssh_host_key = _backup_ssh(f, repository)
    if f("backup.append_only") is True and f.given("backup.keep") is not None:
        f.ck.fail(
            "backup.keep",
            "ignored with `backup.append_only` (the IM host forgets and prunes nothing there; the "
            "repository's owner applies retention): remove one of the two",
        )
    return {
        "backup_repository": repository,
        "backup_password": _secret(f("backup.password")),
        "backup_env": _secret(env),
        "backup_schedule": f("backup.schedule"),
        "backup_keep": f("backup.keep"),
        "restore_snapshot": f("backup.restore_snapshot"),
        "backup_sftp": sftp,
        "backup_ssh_key": ssh_key,
        "backup_ssh_host_key": ssh_host_key,
    }


def _backup_ssh(
    f: _Fields, repository: Any
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
    return sftp, _secret(checked_key), pinned


def _secret(value: Any) -> Any:
    """A secret the caller may have passed as plain text: it must never reach state in clear."""
    return None if value is None else pulumi.Output.secret(value)


def _fields(typed: Any) -> set[str]:
    return set(typed.__required_keys__) | set(typed.__optional_keys__)


# Why a field of another host target means nothing on this one, where a word helps.
_ONLY_FOR_WHY = {
    "allow_undersized": "a lab host measured at prepare; on {target} it has no effect: pick a "
    "`host.{target}.size` that meets the profile, or `host.{target}.sizing_profile` medium for a "
    "smaller site",
    "firewall": "on {target} the program's security group / firewall admits "
    "`host.{target}.client_cidrs` and `host.{target}.admin_cidrs` already",
    "public_ip": "on {target} the program allocates the public IP, or set "
    "`host.{target}.public_ip_id` to reuse an allocation",
    "data_snapshot_id": "an EBS snapshot",
    "ebs_snapshot_keep": "EBS snapshots",
}


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
                only = " / ".join(f"`host.{t}`" for t in elsewhere)
                why = _ONLY_FOR_WHY.get(key, "").format(target=target)
                ck.fail(field, f"only for {only}" + (f" ({why})" if why else ""))
                continue
            close = difflib.get_close_matches(key, sorted(known), n=1, cutoff=0.6)
            hint = f"; did you mean {close[0]}?" if close else ""
            ck.fail(field, f"unknown field{hint}")


def _source_cidr(f: _Fields, private_ip: Any, host: Any, walled: bool) -> pulumi.Input[str]:
    """Where SSH to the IM host comes from: pbx01's private address, as a /32. `walled`: a
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
                f"required when `pbx.pbx01_host` ({value!r}) is not an IPv4 address: set it to "
                "pbx01's private IP (the source of SSH to the IM server, which its firewall "
                "admits)"
            ) from None
        if not f.allow_public and not rules.is_private_address(ip):
            raise ValueError(
                f"not set, and `pbx.pbx01_host` ({ip}), its default, is not a private address "
                f"({rules.PRIVATE_TEXT}); set it to pbx01's private IP (the source of SSH to the "
                "IM server), or, if this network really uses public addresses internally, set "
                "`allow_public_private_network`: true"
            )
        return f"{ip}/32"

    if not walled:
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
        f.ck.fail("pbx.pbx01_private_ip", str(exc))
        return ""
