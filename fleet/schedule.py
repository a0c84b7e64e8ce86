"""In what order and how many at once: the canary first and alone, then at most `parallel` stacks
at a time; at the first failure no new stack starts and the running ones finish. No I/O: the
operation, the canary's health check and the clock are passed in (tests give fakes)."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait

from .model import LIVE_UNKNOWN, Outcome, TaskResult

Task = Callable[[str], TaskResult]
# The canary's live status after its run: ok, error (why not) and live_health (what it saw).
HealthCheck = Callable[[str], TaskResult]


def run_fleet(
    stacks: Sequence[str],
    task: Task,
    *,
    parallel: int = 1,
    canary: str | None = None,
    canary_check: HealthCheck | None = None,
    clock: Callable[[], float] = time.time,
    on_start: Callable[[str], None] = lambda name: None,
    on_end: Callable[[Outcome], None] = lambda outcome: None,
) -> list[Outcome]:
    """Run `task` on each stack; one Outcome per stack, in the order of `stacks` (canary first).
    A stack that failed is `failed`; one never started because of a failure is `skipped`."""
    if parallel < 1:
        raise ValueError("parallel must be at least 1")
    if canary is not None and canary not in stacks:
        raise ValueError(f"canary {canary} is not among the stacks")

    def run_one(name: str, is_canary: bool) -> Outcome:
        started = clock()
        on_start(name)
        try:
            r = task(name)
        except Exception as exc:  # one stack's crash is that stack's failure, not the fleet's
            r = TaskResult(ok=False, error=f"{type(exc).__name__}: {exc}")
        note = r.error
        ok = r.ok
        live = r.live_health
        if ok and is_canary and canary_check is not None:
            try:
                checked = canary_check(name)
            except Exception as exc:
                checked = TaskResult(ok=False, error=f"{type(exc).__name__}: {exc}")
            # The live check, not the output the run recorded, is the IM's health now.
            live = checked.live_health or LIVE_UNKNOWN
            if not checked.ok:
                ok, note = False, f"canary not healthy afterwards: {checked.error or 'no reason'}"
        outcome = Outcome(
            stack=name,
            result="ok" if ok else "failed",
            started=started,
            ended=clock(),
            changes=r.changes,
            remote_steps=r.remote_steps,
            health=r.health,
            note=note,
            canary=is_canary,
            live_health=live,
        )
        on_end(outcome)
        return outcome

    done: dict[str, Outcome] = {}
    rest = deque(n for n in stacks if n != canary)
    first_failure: str | None = None
    if canary is not None:
        outcome = run_one(canary, True)
        done[canary] = outcome
        if outcome.result != "ok":
            first_failure = f"canary {canary} failed"
    if first_failure is None and rest:
        running: set[Future[Outcome]] = set()
        with ThreadPoolExecutor(max_workers=parallel) as pool:
            while rest or running:
                while rest and first_failure is None and len(running) < parallel:
                    running.add(pool.submit(run_one, rest.popleft(), False))
                if not running:
                    break
                finished, _ = wait(running, return_when=FIRST_COMPLETED)
                for f in finished:
                    running.remove(f)
                    outcome = f.result()
                    done[outcome.stack] = outcome
                    if outcome.result != "ok" and first_failure is None:
                        first_failure = f"{outcome.stack} failed"
    for name in rest:
        done[name] = Outcome(stack=name, result="skipped", note=f"not started: {first_failure}")
    order = ([canary] if canary is not None else []) + [n for n in stacks if n != canary]
    return [done[n] for n in order]


def exit_status(outcomes: Sequence[Outcome]) -> int:
    """0 when every stack is ok; 1 when any failed or was skipped because of a failure."""
    return 0 if all(o.result == "ok" for o in outcomes) else 1
