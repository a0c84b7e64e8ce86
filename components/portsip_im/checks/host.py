"""host.<target>: the machine, its addresses, its disk and who may reach it; and the fields that
are another target's or no one's."""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from typing import Any

from .core import Checker, Fields


def host_fields(f: Fields, target: str) -> dict[str, Any]:
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
    firewall = firewall_fields(f, where) if not cloud else False
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


def firewall_fields(f: Fields, where: str) -> bool:
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


def field_names(typed: Any) -> set[str]:
    return set(typed.__required_keys__) | set(typed.__optional_keys__)


# Why a field of another host target means nothing on this one, where a word helps.
ONLY_FOR_WHY = {
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


def unknown_fields(ck: Checker, args: Mapping[str, Any], target: str) -> None:
    """A misspelled field or one of another target must not pass silently (TypedDicts do not
    check at run time, and other languages' callers are Python dicts here)."""
    from .. import args as a

    host_types = a.HOST_TARGETS
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
        known = field_names(typed)
        for key in sorted(set(given) - known):
            field = f"{path}.{key}" if path else key
            elsewhere = [t for t, ht in host_types.items() if key in field_names(ht)]
            if path == f"host.{target}" and elsewhere:
                only = " / ".join(f"`host.{t}`" for t in elsewhere)
                why = ONLY_FOR_WHY.get(key, "").format(target=target)
                ck.fail(field, f"only for {only}" + (f" ({why})" if why else ""))
                continue
            close = difflib.get_close_matches(key, sorted(known), n=1, cutoff=0.6)
            hint = f"; did you mean {close[0]}?" if close else ""
            ck.fail(field, f"unknown field{hint}")
