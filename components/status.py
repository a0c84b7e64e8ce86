"""`scripts/status [STACK]`: is the IM server serving right now, and does the PBX still know it?

The stack output `imHealth` is what the last change saw; a no-op `up` rightly runs nothing. This
reads the stack's outputs and config through the Automation API, reaches pbx01 the way the program
does (the operator's key, pbx01's pinned host key, secrets on stdin only), runs one read-only
script there (scripts/status.d/status.sh after lib.sh and pbx-api.sh) and judges what it saw.
Exit status: 0 all well, 1 something is wrong (each named), 2 the stack could not be read.
Not part of the Pulumi program: nothing here registers a resource.
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from pathlib import Path
from typing import Any

from . import remote
from .pbx import PbxAccess
from .settings import NAMESPACE, SECRETS, ConfigError, ImConfig, parse_config, pbx_stack_address
from .steps import DEFAULT_DATA_PATH

ROOT = Path(__file__).resolve().parents[1]
REMOTE_SCRIPT = ROOT / "scripts" / "status.d" / "status.sh"
BACKUP_STATUS = "/var/lib/portsip-im-backup/last.json"
DISK_FULL_PERCENT = 90
WHITELIST_WARN_DAYS = 30


class StatusError(Exception):
    """The stack could not be read or pbx01 not reached: no report at all (exit 2)."""


@dataclass
class Stack:
    """What the status needs from a stack: validated config, secrets, outputs."""

    name: str
    config: ImConfig
    secrets: dict[str, str]
    outputs: dict[str, Any]


@dataclass
class Report:
    lines: list[tuple[str, str]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def say(self, label: str, text: str, problem: str | None = None) -> None:
        self.lines.append((label, text + ("  <-- PROBLEM" if problem else "")))
        if problem:
            self.problems.append(problem)


def read_stack(name: str | None, config_file: Path | None) -> Stack:
    """Outputs and config (secrets decrypted in memory only) through the Automation API."""
    from pulumi import automation as auto

    with tempfile.TemporaryDirectory(prefix="portsip-im-status-") as scratch:
        work_dir = ROOT
        if config_file is not None:
            # The Automation API reads Pulumi.<stack>.yaml beside Pulumi.yaml: give it a scratch
            # project holding the stack's config file (the lab keeps it outside the repository).
            if name is None:
                raise StatusError("--config-file needs the STACK argument")
            work_dir = Path(scratch)
            shutil.copy(ROOT / "Pulumi.yaml", work_dir / "Pulumi.yaml")
            shutil.copy(config_file, work_dir / f"Pulumi.{name}.yaml")
        try:
            if name is None:
                current = auto.LocalWorkspace(work_dir=str(work_dir)).stack()
                if current is None:
                    raise StatusError("no stack selected: give STACK (pulumi stack ls)")
                name = current.name
            stack = auto.select_stack(stack_name=name, work_dir=str(work_dir))
            outputs = {k: v.value for k, v in stack.outputs().items()}
            all_config = stack.get_all_config()
        except auto.errors.CommandError as exc:
            raise StatusError(f"cannot read stack {name!r}: {_first_error(str(exc))}") from None
        prefix = f"{NAMESPACE}:"
        raw = {k[len(prefix) :]: v.value for k, v in all_config.items() if k.startswith(prefix)}
        secret_keys = {k[len(prefix) :] for k, v in all_config.items() if v.secret}
        try:
            config = parse_config(raw, secret_keys)
        except ConfigError as exc:
            raise StatusError(str(exc)) from None
        secrets = {s.key: raw[s.key] for s in SECRETS if s.key in raw}
        if not outputs.get("imPrivateIp"):
            raise StatusError(f"stack {name!r} has no outputs: has `pulumi up` run?")

        def pbx_outputs(pbx_stack: str) -> dict[str, Any]:
            # The PBX stack may be another project's: the workspace reads it by its full name,
            # in the same backend, as the program's StackReference does.
            try:
                found = stack.workspace.stack_outputs(pbx_stack)
            except auto.errors.CommandError as exc:
                raise StatusError(
                    f"{NAMESPACE}:pbxStack: cannot read the outputs of {pbx_stack!r} (they fill "
                    f"pbx01Host and pbxVirtualIp): {_first_error(str(exc))}"
                ) from None
            return {k: v.value for k, v in found.items()}

        config = follow_pbx_stack(config, pbx_outputs)
    return Stack(name, config, secrets, outputs)


def follow_pbx_stack(config: ImConfig, read_outputs: Callable[[str], dict[str, Any]]) -> ImConfig:
    """`config` with pbx01Host and pbxVirtualIp from pbxStack's outputs where they are unset, as
    the program's StackReference fills them (and held to the same rules); unchanged otherwise."""
    if not config.pbx_stack or (config.pbx01_host and config.pbx_virtual_ip):
        return config
    outputs = read_outputs(config.pbx_stack)
    update: dict[str, Any] = {}
    if not config.pbx01_host:
        host = outputs.get("pbx01Host")
        if not host:
            raise StatusError(
                f"{NAMESPACE}:pbx01Host: not set, and pbxStack {config.pbx_stack} has no output "
                "pbx01Host"
            )
        update["pbx01_host"] = str(host)
    if config.pbx_virtual_ip is None:
        try:
            vip = pbx_stack_address("pbxVirtualIp", config, outputs.get("pbxVirtualIp"))
        except ConfigError as exc:
            raise StatusError(str(exc)) from None
        if vip is not None:
            update["pbx_virtual_ip"] = ipaddress.IPv4Address(vip)
    return config.model_copy(update=update)


def _first_error(text: str) -> str:
    # The Automation API's CommandError prefixes the CLI's stderr with "stderr: ".
    lines = [
        ln.strip().removeprefix("stderr: ") for ln in text.splitlines() if "error" in ln.lower()
    ]
    return (lines[0] if lines else text.strip().splitlines()[-1])[:300]


def probe_params(stack: Stack) -> dict[str, str]:
    """status.sh's plain parameters: as the program's steps get them, never a secret."""
    c = stack.config
    api_url = c.pbx_api_url or (f"https://{c.pbx_virtual_ip}:8887/api" if c.pbx_virtual_ip else "")
    pbx = PbxAccess(
        mode=c.pbx_api,
        api_url=api_url.rstrip("/"),
        login=c.pbx_api_login,
        login_path=c.pbx_api_login_path,
        tls_verify=c.pbx_api_tls_verify,
        admin_user=c.pbx_admin_user,
        admin_password=None,
        im_token=None,
        whitelist_confirmed=c.whitelist_confirmed,
    )
    params = {k: str(v) for k, v in pbx.params().items()}
    params.update(
        IM_IP=str(stack.outputs["imPrivateIp"]),
        PBX_USER=c.pbx01_user,
        DATA_PATH=DEFAULT_DATA_PATH,
        STORAGE_PATH=c.storage_path or "",
        BACKUP_STATUS=BACKUP_STATUS,
    )
    return params


def run_probe(stack: Stack, timeout: int = 180) -> dict[str, Any]:
    """Run status.sh on pbx01 over pinned SSH; its JSON report."""
    c = stack.config
    if not c.pbx01_host:
        raise StatusError(f"{NAMESPACE}:pbx01Host: not set, and no pbxStack supplies it")
    # As remote.step assembles a step: lib.sh, the PBX client, then the step itself.
    parts = (remote.SCRIPTS / "lib.sh", remote.SCRIPTS / "pbx-api.sh", REMOTE_SCRIPT)
    text = "\n".join(part.read_text() for part in parts)
    command = remote.render("status", text, probe_params(stack))
    stdin = remote.encode_secrets({"PBX_ADMIN_PASSWORD": stack.secrets.get("pbxAdminPassword")})
    with tempfile.TemporaryDirectory(prefix="portsip-im-status-") as tmp:
        key = Path(tmp) / "key"
        # 0600 from the start: the key is never readable by anyone else, not even for a moment.
        fd = os.open(key, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(stack.secrets["sshPrivateKey"].rstrip("\n") + "\n")
        known = Path(tmp) / "known_hosts"
        known.write_text(f"{c.pbx01_host} {c.pbx01_host_key}\n")
        ssh = [
            "ssh",
            *remote.pinned_ssh_options(key, known, c.ssh_per_dial_timeout),
            f"{c.pbx01_user}@{c.pbx01_host}",
            command,
        ]
        try:
            done = subprocess.run(
                ssh, input=stdin, capture_output=True, text=True, timeout=timeout, check=False
            )
        except subprocess.TimeoutExpired:
            raise StatusError(f"pbx01 ({c.pbx01_host}): no answer within {timeout}s") from None
    last = done.stdout.strip().splitlines()[-1:] or [""]
    try:
        report: dict[str, Any] = json.loads(last[0])
    except ValueError:
        why = (done.stderr.strip().splitlines() or ["no output"])[-1][:300]
        raise StatusError(
            f"pbx01 ({c.pbx01_user}@{c.pbx01_host}): the status probe failed: {why}"
        ) from None
    return report


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
    rec = pbx.get("im") or {}
    seen = f"private {rec.get('private_ipv4') or '-'}, public {rec.get('public_ipv4') or '-'}"
    wrong = rec.get("private_ipv4") != priv or rec.get("public_ipv4") != pub
    r.say(
        "PBX /im record",
        f"{seen} (stack: private {priv}, public {pub})",
        f"the PBX's /im record ({seen}) differs from the stack's addresses" if wrong else None,
    )
    _judge_whitelist(r, pbx.get("ipFilters") or [], list(dict.fromkeys([pub, priv])), stack, now)
    return r


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


def _judge_backup_timer(r: Report, timer: Any, c: ImConfig) -> None:
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


def _judge_backup(r: Report, backup: Any, c: ImConfig, now: datetime) -> None:
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


_WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
# systemd's shorthands (systemd.time(7)): the calendar expression each one stands for.
_SHORTHANDS = {
    "daily": "*-*-* 00:00",
    "weekly": "Mon 00:00",
    "monthly": "*-*-01 00:00",
    "quarterly": "*-01,04,07,10-01 00:00",
    "semiannually": "*-01,07-01 00:00",
    "yearly": "*-01-01 00:00",
}


def _values(spec: str, low: int, high: int) -> set[int] | None:
    """One date component (`*`, `5`, `1,15`, `1..10`, `*/2`, `1/7`) as its values; None if it
    uses something this does not model (e.g. `~`)."""
    out: set[int] = set()
    for item in spec.split(","):
        start_text, _, step_text = item.partition("/")
        first, sep, last = start_text.partition("..")
        try:
            step = int(step_text) if step_text else 1
            a = low if first == "*" else int(first)
            b = int(last) if sep else (high if first == "*" or step_text else a)
        except ValueError:
            return None
        if step < 1:
            return None
        out.update(range(a, b + 1, step))
    return out


def _runs_on(schedule: str) -> Callable[[datetime], bool] | None:
    """Which days `schedule` (a backupSchedule settings.py accepted) runs on; None when its date
    part is beyond this model. The time of day is one concrete time, so one run a matching day."""
    words = _SHORTHANDS.get(schedule, schedule).split()
    days = set(range(7))
    if words and words[0][:3] in _WEEKDAYS:
        days = set()
        for item in words.pop(0).split(","):
            first, _, last = item.partition("..")
            a = _WEEKDAYS.index(first)
            b = _WEEKDAYS.index(last) if last else a
            days.update(range(a, b + 1) if a <= b else [*range(a, 7), *range(0, b + 1)])
    years = months = mdays = None
    if words and ":" not in words[0]:
        date = words.pop(0).split("-")
        if len(date) == 2:
            date.insert(0, "*")
        if len(date) != 3:
            return None
        years, months, mdays = (
            _values(date[0], 1970, 2200),
            _values(date[1], 1, 12),
            _values(date[2], 1, 31),
        )
        if years is None or months is None or mdays is None:
            return None

    def runs(day: datetime) -> bool:
        return (
            day.weekday() in days
            and (years is None or day.year in years)
            and (months is None or day.month in months)
            and (mdays is None or day.day in mdays)
        )

    return runs


def stale_after(schedule: str) -> timedelta | None:
    """How old the last backup may be before a run has surely been missed: twice the longest gap
    between two scheduled runs (daily: 2 days; Mon..Fri: 6 days, over the weekend; weekly: 14;
    monthly: 62). Twice, so a run that is late, slow or retried is not flagged, while a whole
    missed run is. None when the schedule is beyond this model (no staleness check then)."""
    runs = _runs_on(" ".join(schedule.split()))
    if runs is None:
        return None
    start = datetime(2025, 1, 1, tzinfo=UTC)  # four years cover every weekday/leap pattern
    hits = [i for i in range(4 * 366) if runs(start + timedelta(days=i))]
    if len(hits) < 2:
        return None
    gap = max(b - a for a, b in pairwise(hits))
    return timedelta(days=2 * gap)


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


def redact(text: str, secrets: dict[str, str]) -> str:
    """The second lock: no secret value reaches the screen even if a probe echoed one."""
    for value in secrets.values():
        for line in value.splitlines():
            if len(line.strip()) >= 6:
                text = text.replace(line.strip(), "[redacted]")
    return text


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="scripts/status", description=__doc__.splitlines()[0])
    ap.add_argument("stack", nargs="?", help="the stack (default: the selected one)")
    ap.add_argument("--json", action="store_true", help="one JSON document, for machines")
    ap.add_argument(
        "--config-file",
        type=Path,
        help="the stack's config file when it is not Pulumi.<stack>.yaml here (the lab's)",
    )
    args = ap.parse_args(argv)
    secrets: dict[str, str] = {}
    try:
        stack = read_stack(args.stack, args.config_file)
        secrets = stack.secrets
        probe = run_probe(stack)
    except StatusError as exc:
        msg = redact(str(exc), secrets)
        if args.json:
            print(json.dumps({"stack": args.stack, "ok": False, "problems": [msg]}))
        else:
            print(f"status: {msg}", file=sys.stderr)
        return 2
    report = judge(stack, probe)
    if args.json:
        text = json.dumps(
            {
                "stack": stack.name,
                "ok": not report.problems,
                "problems": report.problems,
                "checks": [{"check": label, "result": text} for label, text in report.lines],
                "probe": probe,
            },
            sort_keys=True,
        )
    else:
        width = max(len(label) for label, _ in report.lines)
        body = [f"portsip-im status: stack {stack.name} (target {stack.config.target})"]
        body += [f"  {label:<{width}}  {text}" for label, text in report.lines]
        verdict = "OK" if not report.problems else f"{len(report.problems)} PROBLEM(S)"
        body.append(f"{verdict}" + "".join(f"\n  - {p}" for p in report.problems))
        text = "\n".join(body)
    print(redact(text, secrets))
    return 1 if report.problems else 0


if __name__ == "__main__":
    sys.exit(main())
