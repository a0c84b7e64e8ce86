"""What is wrong, from the probe's report and the stack's config: each finding a line, each
fault also a problem that names it. No I/O (the clock is read only when no `now` is given), so
every fault can be tested on a made-up report at a fixed time."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from stack_config import StackConfig

from .model import BACKUP_STATUS, Report, Stack
from .schedule import stale_after

DISK_FULL_PERCENT = 90
WHITELIST_WARN_DAYS = 30


def _since(stamp: str | None, now: datetime) -> str:
    if not stamp:
        return ""
    try:
        when = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    except ValueError:
        return f" since {stamp}"
    up = int((now - when).total_seconds())
    days, rest = divmod(max(up, 0), 86400)
    hours, rest = divmod(rest, 3600)
    return f" since {when:%Y-%m-%d %H:%M:%S}Z (up {days}d {hours}h {rest // 60}m)"


def judge(stack: Stack, probe: dict[str, Any], now: datetime | None = None) -> Report:
    """Each finding as a line; each thing that is wrong also as a problem that names it."""
    now = now or datetime.now(UTC)
    c, out, r = stack.config, stack.outputs, Report()
    running = c.im_state == "running"
    priv, pub = str(out.get("imPrivateIp")), str(out.get("imPublicIp"))

    port = probe.get("imPort8887")
    want = "open" if running else "closed"
    r.say(
        "IM port 8887",
        f"{port} on {priv} (from pbx01; imState {c.im_state})",
        None if port == want else f"IM port 8887 on {priv} is {port}, imState is {c.im_state}",
    )

    host = probe.get("imHost")
    if host is None:
        r.say(
            "IM host",
            "unreachable",
            f"IM host {priv} unreachable from pbx01: {probe.get('imHostError') or 'no answer'}",
        )
    else:
        _judge_service(r, host, running, now)
        _judge_disk(r, host)
        _judge_backup(r, host.get("backup"), c, now)
        _judge_backup_timer(r, host.get("backupTimer"), c)

    if c.pbx_api == "manual":
        r.say("PBX /im record", "not checked (pbxApi manual: no admin credentials)")
        r.say("Whitelist", "not checked (pbxApi manual)")
        return r
    pbx = probe.get("pbx")
    if pbx is None:
        r.say("PBX API", "unreadable", f"PBX API: {probe.get('pbxError') or 'no answer'}")
        return r
    _judge_im_record(r, pbx.get("im") or {}, priv, pub)
    _judge_whitelist(r, pbx.get("ipFilters") or [], list(dict.fromkeys([pub, priv])), stack, now)
    return r


def _judge_im_record(r: Report, rec: dict[str, Any], priv: str, pub: str) -> None:
    """The PBX's /im record against the stack's addresses: the private one is what the deploy
    step's `im.sh run -a` registered (the PBX reaches the IM server there), the public one its
    `-A`. No record, or one without either address (every field "", as the lab's stand-in PBX
    answers while no IM server is set), is a missing record."""
    theirs_priv, theirs_pub = rec.get("private_ipv4") or None, rec.get("public_ipv4") or None
    ours = f"private {priv}, public {pub}"
    if theirs_priv is None and theirs_pub is None:
        r.say(
            "PBX /im record",
            f"none (stack: {ours})",
            f"the PBX has no /im record (no IM server addresses); the stack's are {ours}",
        )
        return
    seen = f"private {theirs_priv or '-'}, public {theirs_pub or '-'}"
    wrong = theirs_priv != priv or theirs_pub != pub
    r.say(
        "PBX /im record",
        f"{seen} (stack: {ours})",
        f"the PBX's /im record ({seen}) differs from the stack's ({ours})" if wrong else None,
    )


def _judge_service(r: Report, host: dict[str, Any], running: bool, now: datetime) -> None:
    container, listener = host.get("container"), host.get("listener")
    if container:
        health = f", health {container['health']}" if container.get("health") else ""
        text = f"portsip.instantmessage {container['state']}{health}"
        text += _since(container.get("startedAt"), now) if container["state"] == "running" else ""
        is_up = container["state"] == "running"
    elif listener:
        text = f"{listener['process']} listening on 8887{_since(listener.get('since'), now)}"
        is_up = True
    else:
        text, is_up = "nothing listens on 8887", False
    problem = None
    if running and not is_up:
        problem = f"the IM service is not running on the IM host ({text})"
    elif not running and is_up:
        problem = f"the IM service runs though imState is stopped ({text})"
    r.say("IM service", text, problem)
    stats = host.get("vendorStats")
    r.say(
        "Vendor health",
        "svr_stats answers" if stats else "svr_stats (127.0.0.1:8902) does not answer",
        "the IM health check (svr_stats) does not answer" if running and not stats else None,
    )


def _ago(seconds: float) -> str:
    days, rest = divmod(max(int(seconds), 0), 86400)
    hours, rest = divmod(rest, 3600)
    return f"{days}d {hours}h" if days else f"{hours}h {rest // 60}m"


def _size(n: Any) -> str:
    try:
        value = float(n)
    except (TypeError, ValueError):
        return "size unknown"
    for unit in ("B", "kB", "MB", "GB"):
        if value < 1000:
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{value:.1f} TB"


def _judge_backup_timer(r: Report, timer: Any, c: StackConfig) -> None:
    """With backups configured, the IM host's timer must be active: a stopped or missing timer
    never writes a failed result, so the last backup's age is the only other sign, and only
    after days."""
    if c.backup_repository is None:
        return
    state = str(timer or "unknown")
    problem = None
    if state != "active":
        problem = (
            f"the backup timer portsip-im-backup.timer is {state} on the IM host: no scheduled "
            "backups run (`systemctl enable --now portsip-im-backup.timer` there, or re-run the "
            "backup step with `pulumi up --replace` on its resource)"
        )
    r.say("Backup timer", f"portsip-im-backup.timer {state}", problem)


def _judge_backup(r: Report, backup: Any, c: StackConfig, now: datetime) -> None:
    """backup.sh's last.json (time, status, snapshot, bytes, seconds, message) as one line; a
    failed run or one older than backupSchedule allows (schedule.stale_after) is a problem."""
    if backup is None:
        if c.backup_repository is None:
            r.say("Last backup", "no backups configured")
        else:
            # A new stack has none until the timer's first run: reported, not a failure.
            r.say("Last backup", f"none yet (backups run on '{c.backup_schedule}')")
        return
    if not isinstance(backup, dict) or "unreadable" in backup:
        raw = backup.get("unreadable") if isinstance(backup, dict) else backup
        r.say(
            "Last backup",
            f"status file unreadable: {str(raw)[:80]!r}",
            f"the backup status file {BACKUP_STATUS} is unreadable",
        )
        return
    state = str(backup.get("status") or ("ok" if backup.get("ok") else "unknown")).lower()
    failed = backup.get("ok") is False or state in ("failed", "error")
    stamp = str(backup.get("time") or backup.get("at") or "")
    try:
        when: datetime | None = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    except ValueError:
        when = None
    parts = ["FAILED" if failed else state]
    parts.append(
        f"at {when:%Y-%m-%d %H:%M}Z ({_ago((now - when).total_seconds())} ago)"
        if when
        else f"at {stamp or 'an unknown time'}"
    )
    if not failed:
        snap = str(backup.get("snapshot") or "")[:8] or "-"
        parts.append(f"snapshot {snap}, {_size(backup.get('bytes'))}")
        if backup.get("seconds") is not None:
            parts.append(f"took {backup['seconds']} s")
    message = str(backup.get("message") or "")[:120]
    if failed and message:
        parts.append(message)
    text = ", ".join(parts)
    if c.backup_repository is None:
        r.say("Last backup", f"{text} (backups no longer configured)")
        return
    problem = None
    if failed:
        problem = f"the last backup failed ({stamp or 'time unknown'}): {message or 'no message'}"
    elif when is not None:
        limit = stale_after(c.backup_schedule)
        age = now - when
        if limit is not None and age > limit:
            problem = (
                f"the last backup is {_ago(age.total_seconds())} old: backupSchedule "
                f"'{c.backup_schedule}' allows {_ago(limit.total_seconds())} (twice its longest "
                "gap between runs), so a scheduled run was missed"
            )
    r.say("Last backup", text, problem)


def _judge_disk(r: Report, host: dict[str, Any]) -> None:
    for label, disk in (("Data disk", host.get("dataDisk")), ("Storage", host.get("storage"))):
        if not disk:
            continue
        gb = 1_000_000_000
        text = (
            f"{disk['path']} on {disk['mount']}: {disk['usePercent']}% used, "
            f"{disk['availBytes'] / gb:.1f} GB free of {disk['sizeBytes'] / gb:.1f} GB"
        )
        full = disk["usePercent"] >= DISK_FULL_PERCENT
        r.say(
            label,
            text,
            f"{label.lower()} {disk['path']} is {disk['usePercent']}% full" if full else None,
        )


def _judge_whitelist(
    r: Report, filters: list[dict], ips: list[str], stack: Stack, now: datetime
) -> None:
    mark = f"portsip-im:portsip-im/{stack.name}"
    for ip in ips:
        cidr = f"{ip}/32"
        found = [e for e in filters if e.get("target") == "ACCEPT" and e.get("cidr") == cidr]
        if not found:
            r.say(
                "Whitelist",
                f"{cidr}: no ACCEPT entry",
                f"whitelist: no ACCEPT entry for {cidr} on the PBX (it rate-limits the IM server)",
            )
            continue
        entry = max(found, key=lambda e: str(e.get("expire_at") or "9999"))
        owner = "ours" if entry.get("description") == mark else "not this stack's"
        expire = entry.get("expire_at")
        problem = None
        if expire:
            try:
                left = (datetime.fromisoformat(expire.replace("Z", "+00:00")) - now).days
            except ValueError:
                left = None
            if left is not None and left < 0:
                problem = f"whitelist: the entry for {cidr} expired on {expire}"
            elif left is not None and left < WHITELIST_WARN_DAYS:
                problem = f"whitelist: the entry for {cidr} expires in {left} days ({expire})"
        r.say("Whitelist", f"{cidr} ACCEPT until {expire or 'forever'} ({owner})", problem)
