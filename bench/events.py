"""The engine's event log of one pulumi run, and the time spans of its steps."""

from __future__ import annotations

import json
import os
import re
import select
import threading
import time
from pathlib import Path

COLOR = re.compile(r"\x1b\[[0-9;]*m|<\{%[^%]*%\}>")


class EventLog:
    """The `--event-log FILE` of one pulumi run, read while the engine writes it: every engine
    event with the (monotonic) time it arrived here, as the engine's own timestamps are whole
    seconds. FILE is a named pipe: the engine opens its event log again, truncating it, for the
    update after the preview; a pipe keeps both in order."""

    def __init__(self, path: Path):
        self.path = path
        self.events: list[tuple[float, dict]] = []
        self.unreadable = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._follow, daemon=True)

    def __enter__(self) -> EventLog:
        os.mkfifo(self.path, 0o600)
        self._read = os.open(self.path, os.O_RDONLY | os.O_NONBLOCK)
        # A writer of our own, so the pipe never reads as ended between the engine's two opens.
        self._write = os.open(self.path, os.O_WRONLY | os.O_NONBLOCK)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        os.close(self._write)
        os.close(self._read)
        self.path.unlink()

    def _follow(self) -> None:
        pending = b""
        while True:
            stopping = self._stop.is_set()
            readable, _, _ = select.select([self._read], [], [], 0.1)
            try:
                chunk = os.read(self._read, 1 << 16) if readable else b""
            except BlockingIOError:
                chunk = b""
            now = time.monotonic()
            *lines, pending = (pending + chunk).split(b"\n")
            for line in lines:
                try:
                    self.events.append((now, json.loads(line)))
                except ValueError:
                    self.unreadable += 1
            if stopping and not chunk:
                return

    def steps(self) -> dict[str, tuple[float, float, bool]]:
        """The remote steps this run acted on (any op but `same`): name -> (started, ended,
        failed), from resourcePreEvent to resOutputsEvent or resOpFailedEvent."""
        started: dict[str, float] = {}
        spans: dict[str, tuple[float, float, bool]] = {}
        for at, event in self.events:
            for kind in ("resourcePreEvent", "resOutputsEvent", "resOpFailedEvent"):
                meta = event.get(kind, {}).get("metadata")
                if not meta or meta["type"] != "command:remote:Command" or meta["op"] == "same":
                    continue
                name = meta["urn"].rsplit("::", 1)[-1]
                if kind == "resourcePreEvent":
                    started[name] = at
                elif name in started:
                    spans[name] = (started[name], at, kind == "resOpFailedEvent")
        return spans

    def errors(self, name: str) -> list[str]:
        """The error diagnostics of one step, each on one line, colour codes removed."""
        found = []
        for _, event in self.events:
            diag = event.get("diagnosticEvent", {})
            if diag.get("severity") == "error" and diag.get("urn", "").endswith(f"::{name}"):
                line = " ".join(COLOR.sub("", diag.get("message", "")).split())
                if line and line not in found:
                    found.append(line)
        return found


def span(steps: dict[str, tuple[float, float, bool]], names: tuple[str, ...]) -> tuple:
    """The time from the first of these steps' start to the last one's end."""
    found = [steps[n] for n in names if n in steps]
    if not found:
        raise RuntimeError(f"none of {', '.join(names)} ran (steps: {', '.join(steps)})")
    return min(s for s, _, _ in found), max(e for _, e, _ in found)


def covered(intervals: list[tuple]) -> float:
    """The length of the union of the intervals."""
    total, end = 0.0, float("-inf")
    for s, e in sorted(intervals):
        if e > end:
            total += e - max(s, end)
            end = e
    return total


def step_name(name: str) -> str:
    return name.removeprefix("im-").replace("-", "_")
