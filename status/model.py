"""What the probe, the judge, the renderer and the command share: the stack as read, the report,
and the one error that means no report at all."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stack_config import StackConfig

ROOT = Path(__file__).resolve().parents[1]
# Where backup.sh leaves its last result on the IM host: the probe reads it, the judge names it.
BACKUP_STATUS = "/var/lib/portsip-im-backup/last.json"


class StatusError(Exception):
    """The stack could not be read or pbx01 not reached: no report at all (exit 2)."""


@dataclass
class Stack:
    """What the status needs from a stack: validated config, secrets, outputs."""

    name: str
    config: StackConfig
    secrets: dict[str, str]
    outputs: dict[str, Any]


@dataclass
class Report:
    lines: list[tuple[str, str]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def say(self, label: str, text: str, problem: str | None = None) -> None:
        self.lines.append((label, text + ("  <-- PROBLEM" if problem else "")))
        if problem:
            self.problems.append(problem)
