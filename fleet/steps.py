"""Counting what an engine run did from its events: resources changed, and remote steps run
(command:remote:Command resources created, updated, replaced or deleted). No I/O: the events are
the Automation API's EngineEvent objects (or anything shaped like them)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

REMOTE_STEP = "command:remote:Command"
# One count per logical change: a replacement is `replace` (its create-replacement and
# delete-replaced halves are not counted again).
CHANGE_OPS = frozenset({"create", "update", "replace", "delete"})


@dataclass
class Counts:
    changes: int = 0
    remote_steps: int = 0


def _op(metadata: Any) -> str:
    op = getattr(metadata, "op", None)
    return str(getattr(op, "value", op))


def count(events: Iterable[Any]) -> Counts:
    """Each resource step the engine started (its ResourcePreEvent), whether it then succeeded or
    failed: a remote step that ran and failed was run."""
    c = Counts()
    seen: set[tuple[str, str]] = set()
    for event in events:
        pre = getattr(event, "resource_pre_event", None)
        if pre is None:
            continue
        meta = pre.metadata
        op = _op(meta)
        key = (str(getattr(meta, "urn", "")), op)
        if op not in CHANGE_OPS or key in seen:
            continue
        seen.add(key)
        c.changes += 1
        if getattr(meta, "type", None) == REMOTE_STEP:
            c.remote_steps += 1
    return c


def failure(events: Iterable[Any], fallback: str) -> str:
    """One line on why a run failed: the failing resource's name and the line of its error that
    says most (the vendor's `[error]: ...` when it printed one), else `fallback`."""
    for event in events:
        diag = getattr(event, "diagnostic_event", None)
        if diag is None or getattr(diag, "severity", None) != "error" or not diag.urn:
            continue
        name = str(diag.urn).rsplit("::", 1)[-1]
        text = str(diag.message).replace("\\n", "\n")
        lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
        picked = [ln for ln in lines if "[error]" in ln] or [
            ln for ln in lines if "error" in ln.lower() and len(ln) < 300
        ]
        why = picked[-1] if picked else (lines[-1] if lines else "failed")
        return f"{name}: {why}"[:300]
    return fallback
