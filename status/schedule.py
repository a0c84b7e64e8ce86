"""How old the last backup may be under backupSchedule: systemd's calendar expressions, as far
as the schedules stack_config accepts need, modelled as the days they run on."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from itertools import pairwise

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
    """Which days `schedule` (a backupSchedule stack_config accepted) runs on; None when its date
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
