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
