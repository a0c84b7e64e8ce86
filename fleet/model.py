"""What the scheduler, the engine and the report share: one stack's run and its outcome."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# A live check ran but could not tell (the stack unreadable, pbx01 not reached): its note says why.
LIVE_UNKNOWN = "unknown"


class FleetError(Exception):
    """The fleet could not start at all (bad selection, unreadable backend): exit 2."""


@dataclass
class TaskResult:
    """What one operation on one stack returned."""

    ok: bool
    changes: int | None = None
    remote_steps: int | None = None
    health: Any = None
    error: str | None = None
    # The IM's health as a live check saw it just now (status/'s probe from pbx01), in one short
    # line; None when no live check ran (then `health`, the stack's recorded imHealth output, is
    # all there is).
    live_health: str | None = None


@dataclass
class Outcome:
    """One stack in the report. result: ok, failed or skipped (never started). health: the stack's
    recorded imHealth output; live_health: what a live check saw, where one ran."""

    stack: str
    result: str
    started: float | None = None
    ended: float | None = None
    changes: int | None = None
    remote_steps: int | None = None
    health: Any = None
    note: str | None = None
    canary: bool = False
    live_health: str | None = None

    @property
    def duration(self) -> float | None:
        if self.started is None or self.ended is None:
            return None
        return self.ended - self.started
