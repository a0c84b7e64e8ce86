"""What the scheduler, the engine and the report share: one stack's run and its outcome."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


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


@dataclass
class Outcome:
    """One stack in the report. result: ok, failed or skipped (never started)."""

    stack: str
    result: str
    started: float | None = None
    ended: float | None = None
    changes: int | None = None
    remote_steps: int | None = None
    health: Any = None
    note: str | None = None
    canary: bool = False

    @property
    def duration(self) -> float | None:
        if self.started is None or self.ended is None:
            return None
        return self.ended - self.started
