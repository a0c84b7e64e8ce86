"""fleet/schedule.py without Pulumi: a fake operation that records when each stack started and
ended (and how many ran at once) proves the canary, the parallel bound and stop-on-failure."""

from __future__ import annotations

import threading
import time

import pytest

from fleet.model import LIVE_UNKNOWN, TaskResult
from fleet.schedule import exit_status, run_fleet


class Recorder:
    """A fake operation: sleeps `seconds`, fails for the stacks in `fail`, and records each
    stack's start and end (monotonic) and the most stacks that ever ran at once."""

    def __init__(self, fail=(), seconds=0.05, slow=None):
        self.fail = set(fail)
        self.seconds = seconds
        self.slow = slow or {}
        self.times: dict[str, tuple[float, float]] = {}
        self.running = 0
        self.max_running = 0
        self.lock = threading.Lock()

    def __call__(self, name: str) -> TaskResult:
        start = time.monotonic()
        with self.lock:
            self.running += 1
            self.max_running = max(self.max_running, self.running)
        time.sleep(self.slow.get(name, self.seconds))
        with self.lock:
            self.running -= 1
        self.times[name] = (start, time.monotonic())
        if name in self.fail:
            return TaskResult(ok=False, error=f"{name} broke")
        return TaskResult(ok=True, changes=1, remote_steps=1, health="ok")

    def overlapped(self, a: str, b: str) -> bool:
        (s1, e1), (s2, e2) = self.times[a], self.times[b]
        return s1 < e2 and s2 < e1


STACKS = ["a", "b", "c", "d"]


def results(outcomes):
    return {o.stack: o.result for o in outcomes}


def test_parallel_1_never_overlaps():
    rec = Recorder()
    out = run_fleet(STACKS, rec, parallel=1)
    assert results(out) == dict.fromkeys(STACKS, "ok")
    assert rec.max_running == 1
    ordered = [rec.times[n] for n in STACKS]
    for (_, end), (start, _) in zip(ordered, ordered[1:], strict=False):
        assert end <= start


def test_parallel_2_overlaps_but_never_three():
    rec = Recorder(seconds=0.1)
    out = run_fleet(STACKS, rec, parallel=2)
    assert results(out) == dict.fromkeys(STACKS, "ok")
    assert rec.max_running == 2
    assert rec.overlapped("a", "b")


def test_parallel_more_than_stacks_runs_all_at_once():
    rec = Recorder(seconds=0.1)
    run_fleet(STACKS, rec, parallel=10)
    assert rec.max_running == 4


def test_canary_runs_first_and_alone():
    rec = Recorder(seconds=0.05)
    out = run_fleet(STACKS, rec, parallel=4, canary="c")
    assert [o.stack for o in out] == ["c", "a", "b", "d"]
    assert out[0].canary and not any(o.canary for o in out[1:])
    canary_end = rec.times["c"][1]
    assert all(rec.times[n][0] >= canary_end for n in ("a", "b", "d"))
    assert rec.overlapped("a", "b")  # the rest ran in parallel after it


def test_failed_canary_skips_the_rest_untouched():
    rec = Recorder(fail={"b"})
    out = run_fleet(STACKS, rec, parallel=2, canary="b")
    assert results(out) == {"b": "failed", "a": "skipped", "c": "skipped", "d": "skipped"}
    assert set(rec.times) == {"b"}
    assert out[0].note == "b broke"
    assert all(o.note == "not started: canary b failed" for o in out[1:])
    assert exit_status(out) == 1


def test_unhealthy_canary_stops_the_rest():
    rec = Recorder()
    checked = []

    def check(name):
        checked.append(name)
        return TaskResult(ok=False, error="IM port 8887 closed", live_health="8887 closed")

    out = run_fleet(STACKS, rec, canary="a", canary_check=check)
    assert checked == ["a"]
    assert results(out) == {"a": "failed", "b": "skipped", "c": "skipped", "d": "skipped"}
    assert "not healthy afterwards: IM port 8887 closed" in out[0].note
    assert set(rec.times) == {"a"}
    # What the live check saw, beside what the run recorded ("ok", Recorder's health).
    assert (out[0].live_health, out[0].health) == ("8887 closed", "ok")


def test_a_canary_check_that_crashes_is_unhealthy_and_its_live_health_unknown():
    def check(name):
        raise RuntimeError("pbx01 vanished")

    out = run_fleet(STACKS, Recorder(), canary="a", canary_check=check)
    assert out[0].result == "failed" and out[0].live_health == LIVE_UNKNOWN
    assert out[0].note == "canary not healthy afterwards: RuntimeError: pbx01 vanished"
    assert results(out)["b"] == "skipped"


def test_healthy_canary_lets_the_rest_run_and_check_is_canary_only():
    checked = []

    def check(name):
        checked.append(name)
        return TaskResult(ok=True, live_health="8887 open, svr_stats answers")

    out = run_fleet(STACKS, Recorder(), canary="a", canary_check=check)
    assert checked == ["a"]
    assert exit_status(out) == 0
    assert [o.live_health for o in out] == ["8887 open, svr_stats answers", None, None, None]


def test_first_failure_starts_nothing_new_but_running_ones_finish():
    # parallel 2: a fails fast while b is still running; b finishes, c and d never start.
    rec = Recorder(fail={"a"}, seconds=0.2, slow={"a": 0.02})
    out = run_fleet(STACKS, rec, parallel=2)
    assert results(out) == {"a": "failed", "b": "ok", "c": "skipped", "d": "skipped"}
    assert set(rec.times) == {"a", "b"}
    assert out[2].note == "not started: a failed"
    assert exit_status(out) == 1


def test_failure_with_parallel_1_stops_at_once():
    rec = Recorder(fail={"b"})
    out = run_fleet(STACKS, rec, parallel=1)
    assert results(out) == {"a": "ok", "b": "failed", "c": "skipped", "d": "skipped"}
    assert set(rec.times) == {"a", "b"}


def test_a_crashing_operation_is_that_stacks_failure():
    def boom(name):
        raise RuntimeError("engine vanished")

    out = run_fleet(["a"], boom)
    assert out[0].result == "failed" and out[0].note == "RuntimeError: engine vanished"


def test_start_and_end_callbacks_and_durations():
    events = []
    t = iter(range(100))
    out = run_fleet(
        ["a", "b"],
        Recorder(seconds=0),
        clock=lambda: float(next(t)),
        on_start=lambda n: events.append(("start", n)),
        on_end=lambda o: events.append(("end", o.stack)),
    )
    assert events == [("start", "a"), ("end", "a"), ("start", "b"), ("end", "b")]
    assert [o.duration for o in out] == [1.0, 1.0]


def test_bad_arguments():
    with pytest.raises(ValueError):
        run_fleet(["a"], Recorder(), parallel=0)
    with pytest.raises(ValueError):
        run_fleet(["a"], Recorder(), canary="z")
