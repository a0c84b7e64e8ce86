"""scripts/status's judgement (status/judge.py), on made-up probe reports: every way the IM
server can be wrong is named, and a healthy report is OK. The lab test (tests/e2e/test_status.py)
runs the real probe."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta

import pytest

from stack_config import parse_config
from status import cli
from status.judge import judge
from status.model import Report, Stack, StatusError
from status.probe import REMOTE_SCRIPT, probe_params
from status.render import redact
from status.schedule import stale_after
from tests.unit import harness as h
from tests.unit.local_step import run_step

# Scripts as this program sends them: their messages name its config keys.
pytestmark = pytest.mark.usefixtures("this_programs_names")

NOW = datetime(2026, 11, 30, 6, 0, tzinfo=UTC)
MARK = "portsip-im:portsip-im/dev"
HEALTHY = {
    "imPort8887": "open",
    "imHost": {
        "container": {
            "state": "running",
            "startedAt": "2026-11-28T05:00:00.123456789Z",
            "health": "healthy",
        },
        "listener": {"process": "portsip-im", "since": "2026-11-28T05:00:01Z"},
        "vendorStats": '{"ok": 1}',
        "dataDisk": {
            "path": "/var/lib/portsip",
            "mount": "/var/lib/portsip",
            "sizeBytes": 256_000_000_000,
            "usedBytes": 25_600_000_000,
            "availBytes": 230_400_000_000,
            "usePercent": 10,
        },
        "storage": None,
        "backup": None,
        "backupTimer": "active",
    },
    "pbx": h.pbx_view(MARK),
}


def stack(**config: str) -> Stack:
    raw = {**h.base_config("existing"), **config}
    cfg = parse_config(raw, set(h.SECRET_KEYS))
    outputs = {"imPrivateIp": h.IM_PRIVATE, "imPublicIp": h.IM_PUBLIC}
    return Stack("dev", cfg, {"sshPrivateKey": raw["sshPrivateKey"]}, outputs)


def judged(change=None, **config: str) -> Report:
    probe = copy.deepcopy(HEALTHY)
    if change:
        change(probe)
    return judge(stack(**config), probe, NOW)


def test_healthy_is_ok_and_says_what_it_saw():
    r = judged()
    assert r.problems == []
    text = dict(r.lines)
    assert text["IM service"] == (
        "portsip.instantmessage running, health healthy since 2026-11-28 05:00:00Z (up 2d 0h 59m)"
    )
    assert text["Last backup"] == "no backups configured"
    assert "10% used, 230.4 GB free of 256.0 GB" in text["Data disk"]


@pytest.mark.parametrize(
    "change, named",
    [
        (lambda p: p.update(imPort8887="closed"), "IM port 8887 on 192.168.1.25 is closed"),
        (
            lambda p: p["imHost"]["container"].update(state="exited"),
            "the IM service is not running on the IM host (portsip.instantmessage exited",
        ),
        (lambda p: p["imHost"].update(vendorStats=None), "svr_stats) does not answer"),
        (
            lambda p: p.update(imHost=None, imHostError="Permission denied (publickey)"),
            "IM host 192.168.1.25 unreachable from pbx01: Permission denied (publickey)",
        ),
        (
            lambda p: p["imHost"]["dataDisk"].update(usePercent=93),
            "data disk /var/lib/portsip is 93% full",
        ),
        (
            lambda p: p["pbx"]["im"].update(public_ipv4="203.0.113.9"),
            "the PBX's /im record (private 192.168.1.25, public 203.0.113.9) differs from the "
            "stack's (private 192.168.1.25, public 104.18.36.110)",
        ),
        (
            lambda p: p["pbx"]["ipFilters"].pop(0),
            "whitelist: no ACCEPT entry for 104.18.36.110/32 on the PBX",
        ),
        (
            lambda p: p["pbx"]["ipFilters"][1].update(expire_at="2026-12-10T00:00:00Z"),
            "whitelist: the entry for 192.168.1.25/32 expires in 9 days",
        ),
        (
            lambda p: p["pbx"]["ipFilters"][1].update(expire_at="2026-11-01T00:00:00Z"),
            "whitelist: the entry for 192.168.1.25/32 expired",
        ),
        (
            lambda p: p["pbx"]["ipFilters"][0].update(target="DENY"),
            "whitelist: no ACCEPT entry for 104.18.36.110/32",
        ),
        (
            lambda p: p.update(pbx=None, pbxError="PBX API: bad credentials"),
            "PBX API: PBX API: bad credentials",
        ),
    ],
)
def test_each_fault_is_named(change, named):
    r = judged(change)
    assert any(named in p for p in r.problems), r.problems


STACK_ADDRESSES = f"private {h.IM_PRIVATE}, public {h.IM_PUBLIC}"


def test_a_pbx_record_with_another_private_address_names_both():
    # The public address is right: only the private one (what `im.sh run -a` deployed, where the
    # PBX reaches the IM server) is wrong, and the problem says the PBX's and the stack's.
    r = judged(lambda p: p["pbx"]["im"].update(private_ipv4="192.168.1.99"))
    seen = f"private 192.168.1.99, public {h.IM_PUBLIC}"
    assert r.problems == [
        f"the PBX's /im record ({seen}) differs from the stack's ({STACK_ADDRESSES})"
    ]
    assert dict(r.lines)["PBX /im record"] == f"{seen} (stack: {STACK_ADDRESSES})  <-- PROBLEM"


@pytest.mark.parametrize(
    "record",
    [
        # What the PBX (and the lab's stand-in) answers with no IM server set: every field empty.
        {"private_ipv4": "", "public_ipv4": "", "private_ipv6": "", "public_ipv6": ""},
        {"private_ipv4": None, "public_ipv4": None},
        None,
    ],
    ids=["empty-fields", "null-fields", "no-record"],
)
def test_a_missing_pbx_record_is_named_with_the_stacks_addresses(record):
    r = judged(lambda p: p["pbx"].update(im=record))
    assert r.problems == [
        f"the PBX has no /im record (no IM server addresses); the stack's are {STACK_ADDRESSES}"
    ]
    assert dict(r.lines)["PBX /im record"] == f"none (stack: {STACK_ADDRESSES})  <-- PROBLEM"


def test_stopped_on_purpose_is_not_a_problem_but_running_then_is():
    def stopped(p):
        p["imPort8887"] = "closed"
        p["imHost"]["container"]["state"] = "exited"
        p["imHost"]["vendorStats"] = None

    assert judged(stopped, imState="stopped").problems == []
    r = judged(imState="stopped")
    assert "IM port 8887 on 192.168.1.25 is open, imState is stopped" in r.problems
    assert any("runs though imState is stopped" in p for p in r.problems)


def test_manual_pbx_api_skips_the_pbx_checks():
    r = judged(
        lambda p: p.update(pbx=None), pbxApi="manual", imToken="t", whitelistConfirmed="true"
    )
    assert r.problems == []
    assert "not checked" in dict(r.lines)["Whitelist"]


def test_probe_parameters_carry_no_secret():
    params = probe_params(stack())
    assert params["IM_IP"] == h.IM_PRIVATE and params["PBX_ADMIN_USER"] == "admin"
    assert params["PBX_API_URL"] == f"https://{h.PBX_VIP}:8887/api"
    assert params["BACKUP_STATUS"] == "/var/lib/portsip-im-backup/last.json"
    values = " ".join(params.values())
    for secret in ("test-only-private-key", "test-only-pbx-password", "test-only-admin-password"):
        assert secret not in values


def test_redact_hides_every_line_of_a_secret():
    text = redact("key: abcdef-SECRET line2-SECRET", {"k": "abcdef-SECRET\nline2-SECRET"})
    assert "SECRET" not in text


def test_a_wrong_admin_password_is_named_by_the_probe_and_the_judge(tmp_path):
    """status.sh run as scripts/status sends it, against the document's mock PBX with a wrong
    pbxAdminPassword: the report's PBX error names the key (bad credentials), and no secret is
    printed. The IM host's SSH is a stub that refuses: only the PBX side is under test."""
    import os

    from portsip_im import naming, remote
    from tests.unit.test_pbx_api_spec import start_mock

    mock, proc = start_mock(tmp_path, "json")
    try:
        bin_dir = tmp_path / "bin"
        bin_dir.mkdir()
        (bin_dir / "ssh").write_text("#!/bin/sh\necho 'stub: no IM host here' >&2\nexit 255\n")
        (bin_dir / "ssh").chmod(0o755)
        st = stack(pbxApiUrl=mock.url, pbxApiTlsVerify="false")
        params = {**probe_params(st), "IM_IP": "127.0.0.1"}
        parts = (remote.SCRIPTS / "lib.sh", remote.SCRIPTS / "pbx-api.sh", REMOTE_SCRIPT)
        text = naming.in_script("\n".join(p.read_text() for p in parts))
        wrong = "wrong-admin-pw-9c1e"
        env = {"HOME": str(tmp_path), "PATH": f"{bin_dir}:{os.environ['PATH']}"}
        done = run_step("status", text, params, env, {"PBX_ADMIN_PASSWORD": wrong})
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["pbx"] is None
    assert "bad credentials" in (report["pbxError"] or ""), (report, done.stderr)
    assert "check pbxAdminUser/pbxAdminPassword" in report["pbxError"]
    r = judge(st, {**HEALTHY, "pbx": None, "pbxError": report["pbxError"]}, NOW)
    assert any("bad credentials" in p and "pbxAdminPassword" in p for p in r.problems), r.problems
    assert wrong not in done.stdout + done.stderr + json.dumps(r.lines)


# --- pbxStack: status reads pbx01Host / pbxVirtualIp from the PBX stack's outputs ---------------

PBX_STACK = "organization/portsip-pbx/prod"


def from_pbx_stack(*unset: str, **config: str):
    raw = {**h.base_config("existing"), "pbxStack": PBX_STACK, **config}
    for key in unset:
        del raw[key]
    return parse_config(raw, set(h.SECRET_KEYS))


def outputs_of(**outputs):
    asked = []

    def read(name):
        asked.append(name)
        return outputs

    return read, asked


def test_pbx_stack_fills_the_unset_addresses_and_the_probe_uses_them():
    read, asked = outputs_of(pbx01Host="10.9.0.11", pbxVirtualIp="10.9.0.130")
    cfg = cli.follow_pbx_stack(from_pbx_stack("pbx01Host", "pbxVirtualIp"), read)
    assert asked == [PBX_STACK]
    assert cfg.pbx01_host == "10.9.0.11" and str(cfg.pbx_virtual_ip) == "10.9.0.130"
    probed = Stack("dev", cfg, {}, {"imPrivateIp": h.IM_PRIVATE, "imPublicIp": h.IM_PUBLIC})
    assert probe_params(probed)["PBX_API_URL"] == "https://10.9.0.130:8887/api"


def test_config_values_win_and_the_pbx_stack_is_not_read_when_nothing_is_missing():
    read, asked = outputs_of(pbx01Host="10.9.0.11", pbxVirtualIp="10.9.0.130")
    cfg = cli.follow_pbx_stack(from_pbx_stack(), read)
    assert asked == [] and cfg.pbx01_host == h.PBX01 and str(cfg.pbx_virtual_ip) == h.PBX_VIP
    cfg = cli.follow_pbx_stack(from_pbx_stack("pbxVirtualIp"), read)
    assert cfg.pbx01_host == h.PBX01 and str(cfg.pbx_virtual_ip) == "10.9.0.130"


@pytest.mark.parametrize(
    "outputs, unset, named",
    [
        (
            {"pbxVirtualIp": "10.9.0.130"},
            ("pbx01Host",),
            f"portsip-im:pbx01Host: not set, and pbxStack {PBX_STACK} has no output pbx01Host",
        ),
        (
            {"pbx01Host": "10.9.0.11", "pbxVirtualIp": "104.18.36.130"},
            ("pbxVirtualIp",),
            f"portsip-im:pbxVirtualIp: not set, and 104.18.36.130 from pbxStack {PBX_STACK}'s "
            "output pbxVirtualIp is not a private address",
        ),
    ],
)
def test_what_the_pbx_stack_lacks_is_named(outputs, unset, named):
    read, _ = outputs_of(**outputs)
    with pytest.raises(StatusError) as exc:
        cli.follow_pbx_stack(from_pbx_stack(*unset), read)
    assert str(exc.value).startswith(named)


def test_an_unreadable_pbx_stack_is_exit_2(monkeypatch, capsys):
    def unreadable(name, config_file):
        raise StatusError(
            f"portsip-im:pbxStack: cannot read the outputs of {PBX_STACK!r} (they fill pbx01Host "
            "and pbxVirtualIp): error: no stack named ... found"
        )

    monkeypatch.setattr(cli, "read_stack", unreadable)
    assert cli.main(["dev"]) == 2
    assert "status: portsip-im:pbxStack: cannot read the outputs of" in capsys.readouterr().err


# --- the last backup -------------------------------------------------------------------------

BACKED_UP = {**h.base_config("existing"), **h.BACKUP_CONFIG}


def last_backup(record, **config: str) -> tuple[str, list[str]]:
    r = judged(lambda p: p["imHost"].update(backup=record), **{**BACKED_UP, **config})
    return dict(r.lines)["Last backup"], r.problems


OK_RUN = {
    "time": "2026-11-30T02:00:05Z",
    "status": "ok",
    "snapshot": "1a2b3c4d5e6f7a8b9c0d",
    "bytes": 1234567890,
    "seconds": 42,
    "message": "backup, retention and check done",
}


def test_a_recent_backup_is_one_readable_line():
    text, problems = last_backup(OK_RUN)
    assert text == "ok, at 2026-11-30 02:00Z (3h 59m ago), snapshot 1a2b3c4d, 1.2 GB, took 42 s"
    assert problems == []


def test_a_failed_backup_says_when_and_why():
    record = {**OK_RUN, "status": "failed", "bytes": 0, "message": "repository unreachable"}
    text, problems = last_backup(record)
    assert text == (
        "FAILED, at 2026-11-30 02:00Z (3h 59m ago), repository unreachable  <-- PROBLEM"
    )
    assert problems == ["the last backup failed (2026-11-30T02:00:05Z): repository unreachable"]


@pytest.mark.parametrize(
    "schedule, age_days, stale",
    [
        ("daily", 1.5, False),
        ("daily", 2.5, True),
        ("*-*-* 03:00:00", 2.5, True),
        ("Mon..Fri 02:30", 5, False),  # the weekend's gap is three days
        ("Mon..Fri 02:30", 6.5, True),
        ("weekly", 10, False),
        ("weekly", 15, True),
        ("monthly", 40, False),
        ("monthly", 63, True),
    ],
)
def test_a_backup_older_than_the_schedule_allows_is_a_problem(schedule, age_days, stale):
    when = NOW - timedelta(days=age_days)
    record = {**OK_RUN, "time": when.strftime("%Y-%m-%dT%H:%M:%SZ")}
    text, problems = last_backup(record, backupSchedule=schedule)
    assert text.startswith("ok, at ")
    if stale:
        (problem,) = problems
        assert problem.startswith("the last backup is ") and f"'{schedule}' allows" in problem
        assert "a scheduled run was missed" in problem
    else:
        assert problems == []


@pytest.mark.parametrize(
    "schedule, days",
    [
        ("daily", 2),
        ("weekly", 14),
        ("monthly", 62),
        ("yearly", 732),
        ("Mon..Fri 02:30", 6),
        ("Sun 04:00 UTC", 14),
        ("*-*-01,15 02:00", 34),
        ("Fri..Mon 01:00", 8),
    ],
)
def test_stale_after_is_twice_the_longest_gap_between_runs(schedule, days):
    assert stale_after(schedule) == timedelta(days=days)


def test_a_schedule_beyond_the_model_is_not_judged_for_age():
    assert stale_after("*-*~01 02:00") is None  # systemd's "last day of the month"
    record = {**OK_RUN, "time": "2025-01-01T00:00:00Z"}
    _, problems = last_backup(record, backupSchedule="*-*~01 02:00")
    assert problems == []


def test_no_backup_yet_and_none_configured_are_said_not_flagged():
    text, problems = last_backup(None)
    assert text == "none yet (backups run on 'daily')" and problems == []
    r = judged(lambda p: p["imHost"].update(backup=OK_RUN | {"time": "2025-01-01T00:00:00Z"}))
    assert dict(r.lines)["Last backup"].endswith("(backups no longer configured)")
    assert r.problems == []


@pytest.mark.parametrize("state", ["inactive", "failed", None])
def test_a_backup_timer_that_is_not_active_is_a_problem(state):
    r = judged(lambda p: p["imHost"].update(backup=OK_RUN, backupTimer=state), **BACKED_UP)
    shown = "unknown" if state is None else state
    assert dict(r.lines)["Backup timer"].startswith(f"portsip-im-backup.timer {shown}")
    assert r.problems == [
        f"the backup timer portsip-im-backup.timer is {shown} on the IM host: no scheduled "
        "backups run (`systemctl enable --now portsip-im-backup.timer` there, or re-run the "
        "backup step with `pulumi up --replace` on its resource)"
    ]
    # Without backups configured the timer is nobody's business.
    r = judged(lambda p: p["imHost"].update(backupTimer=state))
    assert "Backup timer" not in dict(r.lines) and r.problems == []


def test_an_unreadable_status_file_is_a_problem():
    text, problems = last_backup({"unreadable": "{not json"})
    assert text == "status file unreadable: '{not json'  <-- PROBLEM"
    assert problems == ["the backup status file /var/lib/portsip-im-backup/last.json is unreadable"]
