"""What the fleet prints: a line per stack as it starts and ends, then a one-page report (or one
JSON document). No I/O; secrets are never in what it is given, and `redact` is the second lock."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from .model import Outcome


def _clock(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%H:%M:%S")


def start_line(verb: str, stack: str, t: float) -> str:
    return f"{_clock(t)}  start  {stack}  ({verb})"


def end_line(o: Outcome) -> str:
    t = o.ended if o.ended is not None else 0.0
    extra = f"  {one_line(o.note)}" if o.note and o.result != "ok" else ""
    return f"{_clock(t)}  {o.result:<6} {o.stack}  {_seconds(o.duration)}{extra}"


def one_line(text: str, width: int = 300) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def _seconds(d: float | None) -> str:
    return "-" if d is None else f"{d:.1f} s"


def _num(n: int | None) -> str:
    return "-" if n is None else str(n)


def health_text(health: Any, width: int = 40) -> str:
    """imHealth (a string or a mapping) in one short cell."""
    if health is None or health == "":
        return "-"
    if isinstance(health, dict) and "imPort8887" in health:
        # The program's imHealth: the port as pbx01 saw it, and the vendor's state and release.
        text = f"8887 {health['imPort8887']}"
        vendor = health.get("vendorStatus")
        try:
            vendor = json.loads(vendor) if isinstance(vendor, str) else vendor
        except ValueError:
            pass
        if isinstance(vendor, dict):
            text += f", {vendor.get('state', '?')}, release {vendor.get('release', '?')}"
        elif vendor:
            text += f", {vendor}"
    elif isinstance(health, dict):
        picked = health.get("status") or health.get("state")
        text = str(picked or json.dumps(health, sort_keys=True))
    else:
        text = " ".join(str(health).split())
    return text if len(text) <= width else text[: width - 1] + "…"


def health_cell(o: Outcome, width: int = 40) -> str:
    """The IM HEALTH cell: what a live check saw where one ran (the canary after up or refresh,
    every stack under `status`), else the stack's recorded imHealth output, which a run that
    changed nothing did not measure again; each says which it is."""
    if o.live_health is not None:
        return f"{health_text(o.live_health, width)} (live)"
    if o.health is None or o.health == "":
        return "-"
    return f"{health_text(o.health, width)} (recorded)"


def summary(outcomes: Sequence[Outcome]) -> str:
    counts = {r: sum(o.result == r for o in outcomes) for r in ("ok", "failed", "skipped")}
    verdict = "OK" if counts["failed"] == counts["skipped"] == 0 else "FAILED"
    return f"{verdict}: {counts['ok']} ok, {counts['failed']} failed, {counts['skipped']} skipped"


def as_text(verb: str, outcomes: Sequence[Outcome], parallel: int, canary: str | None) -> str:
    head = ("STACK", "RESULT", "CHANGED", "REMOTE STEPS", "DURATION", "IM HEALTH")
    rows = [
        (
            o.stack + (" (canary)" if o.canary else ""),
            o.result,
            _num(o.changes),
            _num(o.remote_steps),
            _seconds(o.duration),
            health_cell(o),
        )
        for o in outcomes
    ]
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    title = f"fleet {verb}: {len(outcomes)} stack(s), parallel {parallel}"
    lines = [title + (f", canary {canary}" if canary else ""), fmt.format(*head).rstrip()]
    lines += [fmt.format(*r).rstrip() for r in rows]
    notes = [f"  {o.stack}: {one_line(o.note)}" for o in outcomes if o.note and o.result != "ok"]
    lines.append(summary(outcomes))
    return "\n".join(lines + notes)


def as_json(verb: str, outcomes: Sequence[Outcome], parallel: int, canary: str | None) -> str:
    return json.dumps(
        {
            "verb": verb,
            "parallel": parallel,
            "canary": canary,
            "ok": all(o.result == "ok" for o in outcomes),
            "stacks": [
                {
                    "stack": o.stack,
                    "result": o.result,
                    "canary": o.canary,
                    "changes": o.changes,
                    "remote_steps": o.remote_steps,
                    "duration_s": None if o.duration is None else round(o.duration, 3),
                    "started": o.started,
                    "ended": o.ended,
                    "im_health": o.health,
                    "im_health_live": o.live_health,
                    "note": o.note,
                }
                for o in outcomes
            ],
        },
        sort_keys=True,
        default=str,
    )


def redact(text: str, secrets: Iterable[str]) -> str:
    """No secret value reaches the screen, even if an engine message carried one."""
    for value in secrets:
        for line in value.splitlines():
            if len(line.strip()) >= 4:
                text = text.replace(line.strip(), "[redacted]")
    return text
