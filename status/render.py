"""What `scripts/status` prints: aligned text for the operator, one JSON document for machines
(the drift workflow reads its `problems`), and never a secret either way."""

from __future__ import annotations

import json
from typing import Any

from .model import Report, Stack


def as_text(stack: Stack, report: Report) -> str:
    width = max(len(label) for label, _ in report.lines)
    body = [f"portsip-im status: stack {stack.name} (target {stack.config.target})"]
    body += [f"  {label:<{width}}  {text}" for label, text in report.lines]
    verdict = "OK" if not report.problems else f"{len(report.problems)} PROBLEM(S)"
    body.append(f"{verdict}" + "".join(f"\n  - {p}" for p in report.problems))
    return "\n".join(body)


def as_json(stack: Stack, report: Report, probe: dict[str, Any]) -> str:
    return json.dumps(
        {
            "stack": stack.name,
            "ok": not report.problems,
            "problems": report.problems,
            "checks": [{"check": label, "result": text} for label, text in report.lines],
            "probe": probe,
        },
        sort_keys=True,
    )


def failure_json(stack_name: str | None, message: str) -> str:
    """No report at all (exit 2), in the shape machines read a report in."""
    return json.dumps({"stack": stack_name, "ok": False, "problems": [message]})


def redact(text: str, secrets: dict[str, str]) -> str:
    """The second lock: no secret value reaches the screen even if a probe echoed one."""
    for value in secrets.values():
        for line in value.splitlines():
            if len(line.strip()) >= 6:
                text = text.replace(line.strip(), "[redacted]")
    return text
