"""fleet/report.py and fleet/steps.py: the one-page report, the JSON, the per-stack lines, and
the counts read off the engine's events."""

from __future__ import annotations

import json
from types import SimpleNamespace as NS

from fleet import report
from fleet.model import Outcome
from fleet.steps import count, failure
from status.cli import first_error

OUTCOMES = [
    Outcome("eu-a", "failed", 100.0, 142.5, 3, 2, None, "im-upgrade: im.sh upgrade failed", True),
    Outcome("eu-b", "skipped", note="not started: canary eu-a failed"),
]


def test_text_report_has_a_row_per_stack_with_every_column():
    text = report.as_text("up", OUTCOMES, 2, "eu-a")
    lines = text.splitlines()
    assert lines[0] == "fleet up: 2 stack(s), parallel 2, canary eu-a"
    assert lines[1].split() == [
        "STACK",
        "RESULT",
        "CHANGED",
        "REMOTE",
        "STEPS",
        "DURATION",
        "IM",
        "HEALTH",
    ]
    assert lines[2].split() == ["eu-a", "(canary)", "failed", "3", "2", "42.5", "s", "-"]
    assert lines[3].split() == ["eu-b", "skipped", "-", "-", "-", "-"]
    assert "FAILED: 0 ok, 1 failed, 1 skipped" in text
    assert "  eu-b: not started: canary eu-a failed" in text
    assert len(lines) <= 60  # one page


def test_all_ok_says_ok():
    ok = [Outcome("a", "ok", 0.0, 1.0, 0, 0, "serving: 10.0.0.5:8887")]
    text = report.as_text("up", ok, 1, None)
    assert text.splitlines()[-1] == "OK: 1 ok, 0 failed, 0 skipped"
    assert "serving: 10.0.0.5:8887 (recorded)" in text


RECORDED = {"imPort8887": "open", "vendorStatus": '{"state": "running", "release": "2"}'}


def test_im_health_is_the_live_check_where_one_ran_and_says_so():
    checked = Outcome("a", "failed", 0.0, 1.0, 0, 0, RECORDED, "canary not healthy", True)
    checked.live_health = "8887 closed, IM host unreachable"
    unchecked = Outcome("b", "ok", 1.0, 2.0, 0, 0, RECORDED)
    rows = report.as_text("up", [checked, unchecked], 1, "a").splitlines()[2:4]
    assert rows[0].endswith("  8887 closed, IM host unreachable (live)")
    assert "8887 open" not in rows[0]  # the recorded output is not shown beside the live check
    assert rows[1].endswith("  8887 open, running, release 2 (recorded)")
    assert report.health_cell(Outcome("c", "ok")) == "-"
    doc = json.loads(report.as_json("up", [checked], 1, "a"))["stacks"][0]
    assert doc["im_health"] == RECORDED
    assert doc["im_health_live"] == "8887 closed, IM host unreachable"


def test_json_report():
    doc = json.loads(report.as_json("up", OUTCOMES, 2, "eu-a"))
    assert doc["ok"] is False and doc["canary"] == "eu-a" and doc["parallel"] == 2
    first, second = doc["stacks"]
    assert (
        first["result"] == "failed" and first["remote_steps"] == 2 and first["duration_s"] == 42.5
    )
    assert second == {
        "stack": "eu-b",
        "result": "skipped",
        "canary": False,
        "changes": None,
        "remote_steps": None,
        "duration_s": None,
        "started": None,
        "ended": None,
        "im_health": None,
        "im_health_live": None,
        "note": "not started: canary eu-a failed",
    }


def test_lines_as_stacks_start_and_end():
    assert report.start_line("up", "eu-a", 0.0) == "00:00:00  start  eu-a  (up)"
    assert report.end_line(OUTCOMES[0]) == (
        "00:02:22  failed eu-a  42.5 s  im-upgrade: im.sh upgrade failed"
    )


def test_health_cell_of_the_programs_im_health():
    health = {
        "checkedFrom": "pbx01",
        "imPort8887": "open",
        "vendorStatus": '{"service": "portsip-im-standin", "state": "running", "release": "2"}',
    }
    assert report.health_text(health) == "8887 open, running, release 2"
    closed = {"imPort8887": "closed", "vendorStatus": "down"}
    assert report.health_text(closed) == "8887 closed, down"


def test_health_cell_is_short_and_one_line():
    assert report.health_text({"status": "serving", "x": 1}) == "serving"
    assert report.health_text("a\nb") == "a b"
    assert len(report.health_text("x" * 100)) == 40


def test_redact():
    assert report.redact("token s3cr3t-value here", ["s3cr3t-value"]) == "token [redacted] here"


def pre(op, type_="command:remote:Command", urn=None):
    meta = NS(op=op, type=type_, urn=urn or f"urn:{type_}:{op}:{id(op)}")
    return NS(resource_pre_event=NS(metadata=meta))


def test_counts_from_engine_events():
    events = [
        pre("create", urn="u1"),
        pre("same", urn="u2"),
        pre("update", urn="u3"),
        pre("create-replacement", urn="u4"),
        pre("replace", urn="u4"),
        pre("delete-replaced", urn="u4"),
        pre("delete", urn="u5"),
        pre("create", "portsip:im:ImServer", urn="u6"),
        pre("read", "aws:ec2/vpc:Vpc", urn="u7"),
        NS(resource_pre_event=None),
        NS(),
    ]
    c = count(events)
    assert (c.changes, c.remote_steps) == (5, 4)


def test_no_op_run_counts_nothing():
    c = count([pre("same", urn="a"), pre("same", urn="b")])
    assert (c.changes, c.remote_steps) == (0, 0)


def diag(message, severity="error", urn="urn:pulumi:s::p::command:remote:Command::im-upgrade"):
    return NS(diagnostic_event=NS(message=message, severity=severity, urn=urn))


def test_failure_names_the_resource_and_the_vendors_error():
    events = [
        diag("warning: slow", severity="warning"),
        diag(
            "Process exited with status 1: running \"bash -c '# lib.sh\\nset -e\\n...'\":\n"
            "stdout: [info]: upgrading\n[error]: im.sh upgrade failed (simulated)\nstderr: "
        ),
    ]
    assert failure(events, "fallback") == "im-upgrade: [error]: im.sh upgrade failed (simulated)"


def test_failure_without_a_resource_diagnostic_is_the_fallback():
    assert failure([diag("x", urn="")], "error: no stack") == "error: no stack"


def test_first_error_joins_a_heading_with_the_lines_under_it():
    # As a CommandError prints a refused config: the heading alone on the progress line, then
    # with the key and the reason under Diagnostics.
    text = (
        "\n code: 1\n stdout: Previewing update (bad):\n\n"
        " +  pulumi:pulumi:Stack portsip-im-bad create error: invalid configuration:\n"
        " +  pulumi:pulumi:Stack portsip-im-bad create error: an unhandled error occurred\n"
        "Diagnostics:\n  pulumi:pulumi:Stack (portsip-im-bad):\n"
        "    error: invalid configuration:\n"
        "      portsip-im:publicIp: 'nonsense': Input is not a valid IPv4 address\n"
        "      portsip-im:sizingProfile: must be large or medium\n"
        "    error: an unhandled error occurred: program exited with non-zero exit code: 1\n"
        "\n stderr: "
    )
    assert first_error(text) == (
        "error: invalid configuration: portsip-im:publicIp: 'nonsense': Input is not a valid "
        "IPv4 address; portsip-im:sizingProfile: must be large or medium"
    )
    stderr = " stderr: error: could not list stacks:\n  permission denied\n"
    assert first_error(stderr) == "error: could not list stacks: permission denied"


def test_first_error_of_one_line_errors_is_that_line():
    assert first_error("\n code: 255\n stdout: \n stderr: error: no stack named 'x' found") == (
        "error: no stack named 'x' found"
    )
    assert first_error("error: a heading with nothing under it:\nnext: not indented") == (
        "error: a heading with nothing under it:"
    )
    assert first_error("something\nwent wrong") == "went wrong"
    assert len(first_error("error: " + "x" * 400)) == 300
