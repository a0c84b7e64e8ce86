"""fleet.cli.main end to end, as scripts/fleet runs it, with only the Pulumi edges stood in for:
the real Backend with a fake workspace (stack listing, tags, who am I), a fake `pulumi` for
`stack export` and `config set` (Backend._cli), a fake Automation API stack for the engine verbs
(Backend._stack: events, the error text and outputs as the real engine gives them), and status/'s
read of the stack and probe from pbx01 (read_stack, run_probe). The selection, the engine's counts
and failure line, the canary's live check (status/'s judge), the schedule and the report are the
real code. The listing against a fake `pulumi` CLI through the real Automation API:
test_fleet_backend.py."""

from __future__ import annotations

import copy
import json
import subprocess
from types import SimpleNamespace as NS
from typing import Any

import pytest
from pulumi.automation import CommandError, CommandResult, OutputValue

import fleet.cli
import fleet.engine
from fleet.engine import Backend
from stack_config import parse_config
from status.model import Stack
from tests.unit import harness as h

PROJECT = "portsip-im"
# The program's imHealth output as `up` records it (the canary's before its IM went away).
RECORDED = {
    "checkedFrom": "pbx01",
    "imPort8887": "open",
    "vendorStatus": '{"state": "running", "release": "2"}',
}


def healthy_probe(name: str) -> dict[str, Any]:
    """status.sh's report of a healthy IM server (the whitelist entries are this stack's)."""
    return {
        "imPort8887": "open",
        "imHost": {
            "listener": {"process": "portsip-im", "since": "2026-11-28T05:00:01Z"},
            "vendorStats": '{"ok": 1}',
            "backupTimer": "active",
        },
        "pbx": h.pbx_view(f"portsip-im:portsip-im/{name}"),
    }


def unreachable(name: str) -> dict[str, Any]:
    """The IM host went away: pbx01 finds port 8887 closed and cannot log in there."""
    return {
        **healthy_probe(name),
        "imPort8887": "closed",
        "imHost": None,
        "imHostError": f"ssh: connect to host {h.IM_PRIVATE} port 22: Connection timed out",
    }


# What the Automation API gave for an `up` whose config the program refused (the real engine,
# portsip-im with publicIp 'nonsense' and a misspelt imRelease): the CommandError's stdout, and
# the engine's error diagnostics, which name no resource.
REFUSED_STDOUT = """Updating (fleet-1):

@ updating....
 +  pulumi:pulumi:Stack portsip-im-fleet-1 creating (0s)
 +  pulumi:pulumi:Stack portsip-im-fleet-1 creating (0s) error: invalid configuration:
 +  pulumi:pulumi:Stack portsip-im-fleet-1 creating (0s) error: an unhandled error occurred: \
program exited with non-zero exit code: 1
 +  pulumi:pulumi:Stack portsip-im-fleet-1 **creating failed (0.15s)** 2 errors
Diagnostics:
  pulumi:pulumi:Stack (portsip-im-fleet-1):
    error: invalid configuration:
      portsip-im:publicIp: 'nonsense': Input is not a valid IPv4 address
      portsip-im:imRelase: unknown config key; did you mean imRelease? (every key: \
docs/configuration.md)
    error: an unhandled error occurred: program exited with non-zero exit code: 1

Resources:
    + 1 created
    1 errored

Duration: 1s
"""
REFUSED_DIAGNOSTICS = [
    "invalid configuration:\n  portsip-im:publicIp: 'nonsense': Input is not a valid IPv4 "
    "address\n  portsip-im:imRelase: unknown config key; did you mean imRelease? (every key: "
    "docs/configuration.md)\n",
    "an unhandled error occurred: program exited with non-zero exit code: 1\n",
]
REFUSED_REASON = (
    "error: invalid configuration: portsip-im:publicIp: 'nonsense': Input is not a valid IPv4 "
    "address; portsip-im:imRelase: unknown config key; did you mean imRelease?"
)


def pre_event(name: str, op: str, type_: str = "command:remote:Command") -> NS:
    urn = f"urn:pulumi:s::{PROJECT}::{type_}::{name}"
    return NS(resource_pre_event=NS(metadata=NS(op=op, type=type_, urn=urn)))


class World:
    """The backend as the fakes see it, and what was done to it."""

    def __init__(self) -> None:
        self.listed = ["fleet-1", "fleet-2", "other"]
        self.url = "file:///var/lib/portsip-im/fleet-state"
        self.owners: dict[str, list[str]] = {}  # stack -> projects in its state (default: ours)
        self.tags: dict[str, dict[str, str]] = {}
        self.list_error: str | None = None
        self.events: dict[str, list[Any]] = {}  # stack -> engine events (default: a no-op)
        self.refused: set[str] = set()  # stacks whose engine run fails as REFUSED_*
        self.probes: dict[str, dict[str, Any]] = {}  # stack -> status.sh's report
        self.ran: list[tuple[str, str]] = []  # (verb, stack) of each engine run and config set
        self.probed: list[str] = []
        self.exported: list[str] = []


class FakeWorkspace:
    def __init__(self, world: World):
        self.world = world

    def project_settings(self) -> NS:
        return NS(name=PROJECT)

    def list_stacks(self) -> list[NS]:
        if self.world.list_error is not None:
            raise CommandError(CommandResult(stdout="", stderr=self.world.list_error, code=255))
        return [NS(name=n, current=False) for n in self.world.listed]

    def who_am_i(self) -> NS:
        return NS(user="ops", url=self.world.url, organizations=None)

    def list_tags(self, name: str) -> dict[str, str]:
        return self.world.tags.get(name, {})


class FakeStack:
    """The Automation API's Stack for one engine run: events, then the error or the outputs."""

    def __init__(self, world: World, name: str):
        self.world, self.name = world, name

    def _run(self, verb: str, on_event: Any, **kwargs: Any) -> None:
        self.world.ran.append((verb, self.name))
        if self.name in self.world.refused:
            on_event(pre_event(f"{PROJECT}-{self.name}", "create", "pulumi:pulumi:Stack"))
            for message in REFUSED_DIAGNOSTICS:
                on_event(NS(diagnostic_event=NS(message=message, severity="error", urn=None)))
            result = CommandResult(stdout=REFUSED_STDOUT, stderr="", code=1)
            raise CommandError(result)
        for event in self.world.events.get(self.name, [pre_event("im-deploy", "same")]):
            on_event(event)

    def up(self, **kwargs: Any) -> None:
        self._run("up", **kwargs)

    def preview(self, **kwargs: Any) -> None:
        self._run("preview", **kwargs)

    def refresh(self, **kwargs: Any) -> None:
        self._run("refresh", **kwargs)

    def outputs(self) -> dict[str, OutputValue]:
        return {"imHealth": OutputValue(copy.deepcopy(RECORDED), secret=False)}


@pytest.fixture
def world(monkeypatch) -> World:
    w = World()

    class FakeBackend(Backend):
        def workspace(self) -> Any:
            return FakeWorkspace(w)

        def _stack(self, name: str) -> Any:
            return FakeStack(w, name)

        def _cli(self, args: list[str], stdin: str = "") -> subprocess.CompletedProcess[str]:
            if args[:2] == ["stack", "export"]:
                name = args[args.index("--stack") + 1]
                w.exported.append(name)
                resources = [
                    {"urn": f"urn:pulumi:{name}::{p}::pulumi:pulumi:Stack::{p}-{name}"}
                    for p in w.owners.get(name, [PROJECT])
                ]
                state = {"version": 3, "deployment": {"manifest": {}, "resources": resources}}
                return subprocess.CompletedProcess(args, 0, json.dumps(state), "")
            if args[:2] == ["config", "set"]:
                w.ran.append(("set", args[args.index("--stack") + 1]))
                return subprocess.CompletedProcess(args, 0, "", "")
            raise AssertionError(f"unexpected pulumi {args}")

    def read_stack(name: str, config_file: Any) -> Stack:
        raw = h.base_config("existing")
        config = parse_config(raw, set(h.SECRET_KEYS))
        outputs = {"imPrivateIp": h.IM_PRIVATE, "imPublicIp": h.IM_PUBLIC, "imHealth": RECORDED}
        return Stack(name, config, {"sshPrivateKey": raw["sshPrivateKey"]}, outputs)

    def run_probe(stack: Stack) -> dict[str, Any]:
        w.probed.append(stack.name)
        return copy.deepcopy(w.probes.get(stack.name) or healthy_probe(stack.name))

    monkeypatch.setattr(fleet.cli, "Backend", FakeBackend)
    monkeypatch.setattr(fleet.engine, "read_stack", read_stack)
    monkeypatch.setattr(fleet.engine, "run_probe", run_probe)
    return w


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = fleet.cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def rows(out: str) -> dict[str, str]:
    """The report's rows, by stack."""
    return {ln.split()[0]: ln for ln in out.splitlines() if ln.startswith("fleet-")}


def test_canary_unhealthy_after_a_no_op_up_skips_the_rest_and_shows_the_live_check(world, capsys):
    world.probes["fleet-2"] = unreachable("fleet-2")
    code, out, err = run(capsys, "up", "--glob", "fleet-*", "--canary", "fleet-2")
    assert code == 1, out + err
    assert world.ran == [("up", "fleet-2")]  # the rest untouched
    assert world.probed == ["fleet-2"]
    row = rows(out)["fleet-2"]
    assert row.split()[1:5] == ["(canary)", "failed", "0", "0"]  # the up changed nothing
    # The live check, not the output the up recorded (8887 open, running, release 2).
    assert row.endswith("8887 closed, IM host unreachable (live)"), out
    assert "8887 open" not in out
    assert rows(out)["fleet-1"].split()[1:] == ["skipped", "-", "-", "-", "-"]
    why = (
        f"canary not healthy afterwards: IM port 8887 on {h.IM_PRIVATE} is closed, imState is "
        f"running; IM host {h.IM_PRIVATE} unreachable from pbx01: ssh: connect to host"
    )
    assert "failed fleet-2  " in out and why in out
    assert f"  fleet-2: {why}" in out
    assert "  fleet-1: not started: canary fleet-2 failed" in out
    assert out.rstrip().splitlines()[-3] == "FAILED: 0 ok, 1 failed, 1 skipped"
    assert "start  fleet-1" not in out

    # The same run as JSON: the live check beside the recorded output, each named.
    world.ran.clear()
    code, out, err = run(capsys, "up", "--glob", "fleet-*", "--canary", "fleet-2", "--json")
    doc = json.loads(out)
    assert code == 1 and [s["result"] for s in doc["stacks"]] == ["failed", "skipped"]
    canary = doc["stacks"][0]
    assert canary["im_health_live"] == "8887 closed, IM host unreachable"
    assert canary["im_health"] == RECORDED
    assert "start  fleet-2" in err  # progress lines on stderr with --json


def test_healthy_canary_then_the_rest_each_health_cell_says_where_it_came_from(world, capsys):
    world.events["fleet-2"] = [pre_event("im-upgrade", "update"), pre_event("im-health", "update")]
    code, out, err = run(capsys, "up", "fleet-1", "fleet-2", "--canary", "fleet-2")
    assert code == 0, out + err
    assert world.ran == [("up", "fleet-2"), ("up", "fleet-1")]
    assert world.probed == ["fleet-2"]  # only the canary is checked live
    r = rows(out)
    assert r["fleet-2"].split()[1:5] == ["(canary)", "ok", "2", "2"]
    assert r["fleet-2"].endswith("  8887 open, svr_stats answers (live)")
    assert r["fleet-1"].endswith("  8887 open, running, release 2 (recorded)")
    assert out.rstrip().endswith("OK: 2 ok, 0 failed, 0 skipped")


def test_status_shows_the_live_check_for_every_stack(world, capsys):
    world.probes["fleet-2"] = unreachable("fleet-2")
    code, out, err = run(capsys, "status", "--glob", "fleet-*")
    assert code == 1, out + err
    assert world.ran == [] and world.probed == ["fleet-1", "fleet-2"]
    assert "portsip-im status: stack fleet-1" in out  # status/'s own text, as it judged
    r = rows(out)
    assert r["fleet-1"].endswith("  8887 open, svr_stats answers (live)")
    assert r["fleet-2"].split()[1] == "failed"
    assert r["fleet-2"].endswith("  8887 closed, IM host unreachable (live)")
    assert "(recorded)" not in out


def test_preview_shows_the_recorded_output_as_recorded(world, capsys):
    code, out, err = run(capsys, "preview", "fleet-1")
    assert code == 0, out + err
    assert rows(out)["fleet-1"].endswith("  8887 open, running, release 2 (recorded)")
    assert world.probed == []


def test_a_refused_config_shows_its_key_and_reason(world, capsys):
    world.refused.add("fleet-1")
    code, out, err = run(capsys, "up", "fleet-1", "fleet-2")
    assert code == 1, out + err
    assert world.ran == [("up", "fleet-1")]
    end = next(ln for ln in out.splitlines() if "failed fleet-1" in ln)
    assert REFUSED_REASON in end, end  # the stack's line as it ends
    assert f"  fleet-1: {REFUSED_REASON}" in out  # and the report's note
    assert "unhandled error" not in out
    r = rows(out)
    assert r["fleet-1"].split()[1:4] == ["failed", "1", "0"]  # the stack resource's create
    assert r["fleet-2"].split()[1] == "skipped"


def test_another_projects_stacks_in_a_shared_backend_are_never_selected(world, capsys):
    # A DIY backend of the old layout lists every project's stacks by bare name; one with
    # project folders names another project's ORG/PROJECT/STACK.
    world.listed = ["fleet-1", "fleet-b", "organization/billing/fleet-c", "fleet-new"]
    world.owners = {"fleet-b": ["billing"], "fleet-new": []}  # fleet-new: never deployed
    code, out, err = run(capsys, "preview", "--glob", "fleet-*")
    assert code == 0, out + err
    assert world.ran == [("preview", "fleet-1"), ("preview", "fleet-new")]
    assert set(rows(out)) == {"fleet-1", "fleet-new"}
    for name in ("fleet-b", "fleet-c"):
        code, out, err = run(capsys, "preview", name)
        assert code == 2 and f"fleet: no stack {name!r} in the backend" in err
        assert out == ""
    assert world.ran == [("preview", "fleet-1"), ("preview", "fleet-new")]


def test_a_cloud_backend_lists_this_projects_stacks_only_and_reads_no_state(world, capsys):
    world.url = "https://api.pulumi.com"
    world.listed = ["fleet-1", "acme/fleet-2", "acme/billing/fleet-3"]
    code, out, err = run(capsys, "preview", "--glob", "fleet-*")
    assert code == 0, out + err
    assert [s for _, s in world.ran] == ["fleet-1", "fleet-2"]
    assert world.exported == []


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["up", "nosuch"], "no stack 'nosuch' in the backend (it has: fleet-1, fleet-2, other)"),
        (["up", "--glob", "eu-*"], "the selection matches no stack"),
        (["up"], "no stacks selected: give names, --glob PATTERN or --tag KEY=VALUE"),
        (["up", "fleet-1", "--canary", "eu-a"], "canary 'eu-a' is not a stack in the backend"),
        (["status", "--tag", "region=eu"], "the selection matches no stack"),
        (["set", "Bad Key=1", "fleet-1"], "set: 'Bad Key' is not a config key"),
    ],
)
def test_a_bad_selection_starts_nothing_exit_2(world, capsys, argv, says):
    world.tags = {"fleet-1": {"region": "us"}}
    code, out, err = run(capsys, *argv)
    assert code == 2 and out == ""
    assert err == f"fleet: {says}\n"
    assert world.ran == [] and world.probed == []


def test_an_unreadable_backend_starts_nothing_exit_2(world, capsys):
    world.list_error = (
        "error: could not list stacks:\n"
        "  open /var/lib/portsip-im/fleet-state/.pulumi/stacks: permission denied\n"
    )
    code, out, err = run(capsys, "up", "--glob", "fleet-*")
    assert code == 2 and out == ""
    assert err == (
        "fleet: cannot list the backend's stacks: error: could not list stacks: open "
        "/var/lib/portsip-im/fleet-state/.pulumi/stacks: permission denied\n"
    )
    assert world.ran == []


def test_set_runs_on_each_selected_stack_and_changes_nothing_live(world, capsys):
    code, out, err = run(capsys, "set", "imRelease=22.3.7", "--glob", "fleet-*")
    assert code == 0, out + err
    assert world.ran == [("set", "fleet-1"), ("set", "fleet-2")]
    assert world.probed == []
    assert rows(out)["fleet-1"].split()[1:4] == ["ok", "0", "0"]
    assert rows(out)["fleet-1"].endswith("  -")
