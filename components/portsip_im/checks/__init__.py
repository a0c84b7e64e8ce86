"""ImServerArgs → Resolved: every field checked, defaults applied, one error naming each bad field.

Each field's default and rule are declared once, in args.py's INPUTS; `_Fields` applies them. What
is left here is what concerns several fields at once, one function per group of inputs. Plain values
are checked when ImServer is constructed, before it registers anything; a value passed as an Output
is checked when it becomes known (inside `apply`), with the same message. The cloud lookups (size,
subnet, network, a reused public IP) are checked by the host's `plan()`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .. import rules
from ..args import INPUTS
from ..resolved import Resolved
from ..spec import DEFAULT_PROFILE, PROFILES
from .backup import backup_fields
from .core import ArgsError, Checker, Fields, check_input, secret
from .host import host_fields, unknown_fields
from .pbx import api_fields, pbx_fields

__all__ = ["ArgsError", "SECRET_FIELDS", "check_input", "resolve"]


def resolve(args: Mapping[str, Any]) -> Resolved:
    """Check ImServerArgs and apply its defaults. Raises ArgsError naming every bad field."""
    ck = Checker()
    host_args = dict(args.get("host") or {})
    targets = [t for t in rules.TARGETS if host_args.get(t) is not None]
    if len(targets) != 1:
        ck.fail(
            "host",
            f"set exactly one of aws, hcloud, existing (set: {', '.join(targets) or 'none'})",
        )
        raise ArgsError(ck.problems)
    target = targets[0]
    unknown_fields(ck, args, target)
    f = Fields(ck, args, target, allow_public=False)
    f.allow_public = bool(f("allow_public_private_network"))
    f.profile = f(f"host.{target}.sizing_profile")
    host = host_fields(f, target)
    pbx = pbx_fields(f, target, host)
    api = api_fields(f, pbx["virtual_ip"])
    backup = backup_fields(f)
    resolved = Resolved(
        target=target,
        profile=PROFILES.get(f.profile, PROFILES[DEFAULT_PROFILE]),
        **host,
        **{k: v for k, v in pbx.items() if k != "virtual_ip"},
        **api,
        ssh_private_key=secret(f.need("ssh.private_key")) or "",
        **{name: f(path) for name, path in _AS_GIVEN.items()},
        **backup,
        inputs=all_inputs(f),
    )
    if ck.problems:
        raise ArgsError(ck.problems)
    return resolved


# Fields that concern no other: Resolved's name → the argument path, checked and defaulted alone.
_AS_GIVEN = {
    "jump_via_pbx01": "ssh.jump_via_pbx01",
    "ssh_per_dial_timeout": "ssh.per_dial_timeout",
    "required_os": "prepare.required_os",
    "apply_os_updates": "prepare.apply_os_updates",
    "pbx_sudo_nopasswd": "prepare.pbx_sudo_nopasswd",
    "storage_path": "im.storage_path",
    "im_state": "im.state",
    "restart_token": "im.restart_token",
    "im_token_rotation": "im.token_rotation",
    "im_release": "im.release",
    "skip_cluster_check": "im.skip_cluster_check",
    "upgrade_without_backup": "im.upgrade_without_backup",
}


def all_inputs(f: Fields) -> dict[str, Any]:
    """Every field by its generic path (`host.*.size`), as checked and with its default: what a
    step reads with `Resolved.input(path)`. Secrets are never in it (their fields hold Outputs)."""
    out = {}
    for path in INPUTS:
        if path in SECRET_FIELDS:
            continue
        out[path] = f(path.replace("host.*.", f"host.{f.target}."))
    return out


# Read through their own Resolved fields, always as Pulumi secrets.
SECRET_FIELDS = {
    "pbx.password",
    "pbx.api.admin_password",
    "pbx.api.im_token",
    "ssh.private_key",
    "backup.password",
    "backup.env",
    "backup.ssh_key",
}
