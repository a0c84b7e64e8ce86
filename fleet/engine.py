"""The fleet's I/O: the backend's stacks and their tags, and each verb on one stack, through the
Pulumi Automation API (the CLI on PATH; scripts/fleet puts the built engine there when no pulumi is
installed). Live status is status/'s own reading and judgment, not a copy of it."""

from __future__ import annotations

import os
import subprocess
import threading
from pathlib import Path
from typing import Any

from status.cli import _first_error, read_stack
from status.judge import judge
from status.model import ROOT, StatusError
from status.probe import run_probe
from status.render import redact as status_redact

from .model import FleetError, TaskResult
from .steps import count, failure

NAMESPACE = "portsip-im"


def _auto() -> Any:
    from pulumi import automation as auto

    return auto


class Backend:
    """The project's stacks in the backend PULUMI_BACKEND_URL (or the login) names. A stack's
    config is Pulumi.<stack>.yaml in the first of `config_dirs` that has it, else the
    repository's own (a lab stack keeps it outside the repository)."""

    def __init__(self, config_dirs: list[Path] | None = None):
        self.config_dirs = [Path(d) for d in config_dirs or []]
        self._lock = threading.Lock()

    def workspace(self) -> Any:
        return _auto().LocalWorkspace(work_dir=str(ROOT))

    def stack_names(self) -> list[str]:
        try:
            return [s.name for s in self.workspace().list_stacks()]
        except _auto().errors.CommandError as exc:
            raise FleetError(
                f"cannot list the backend's stacks: {_first_error(str(exc))}"
            ) from None

    def tags(self, name: str) -> dict[str, str]:
        try:
            return dict(self.workspace().list_tags(name))
        except _auto().errors.CommandError as exc:
            raise FleetError(f"cannot read the tags of {name}: {_first_error(str(exc))}") from None

    def config_file(self, name: str) -> Path | None:
        for d in self.config_dirs:
            f = d / f"Pulumi.{name}.yaml"
            if f.is_file():
                return f
        return None

    def _stack(self, name: str) -> Any:
        # `stack select` records the current stack in the workspace: one at a time. Every
        # operation below names its stack explicitly, so the record does not matter.
        with self._lock:
            return _auto().select_stack(stack_name=name, work_dir=str(ROOT))

    def engine(self, verb: str, name: str) -> TaskResult:
        """preview, up or refresh of one stack: counted from its events, imHealth afterwards."""
        auto = _auto()
        events: list[Any] = []
        kwargs: dict[str, Any] = {"on_event": events.append, "color": "never"}
        cfg = self.config_file(name)
        if cfg is not None:
            kwargs["config_file"] = str(cfg)
        if verb != "preview":
            # The run's summary without secrets: with them, `pulumi stack history --show-secrets`
            # would write a Pulumi.<stack>.yaml (a new salt) into the repository when the stack's
            # config lives elsewhere, and the next run would fail to decrypt.
            kwargs["show_secrets"] = False
        try:
            stack = self._stack(name)
            if verb == "preview":
                stack.preview(**kwargs)
            elif verb == "up":
                stack.up(**kwargs)
            elif verb == "refresh":
                stack.refresh(**kwargs)
            else:
                raise ValueError(verb)
        except auto.errors.CommandError as exc:
            c = count(events)
            return TaskResult(
                ok=False,
                changes=c.changes,
                remote_steps=c.remote_steps,
                error=failure(events, _first_error(str(exc))),
            )
        c = count(events)
        health = None
        try:
            out = stack.outputs().get("imHealth")
            health = None if out is None else ("[secret]" if out.secret else out.value)
        except auto.errors.CommandError:
            pass
        return TaskResult(ok=True, changes=c.changes, remote_steps=c.remote_steps, health=health)

    def status(self, name: str) -> tuple[TaskResult, str]:
        """The stack's live status as scripts/status judges it: (result, status/'s text)."""
        from status.render import as_text

        cfg = self.config_file(name)
        secrets: dict[str, str] = {}
        try:
            stack = read_stack(name, cfg) if cfg else read_stack(name, None)
            secrets = stack.secrets
            report = judge(stack, run_probe(stack))
        except StatusError as exc:
            return TaskResult(ok=False, error=status_redact(str(exc), secrets)), ""
        problems = [status_redact(p, secrets) for p in report.problems]
        health = stack.outputs.get("imHealth")
        return (
            TaskResult(
                ok=not problems,
                health=health,
                error="; ".join(problems) if problems else None,
            ),
            status_redact(as_text(stack, report), secrets),
        )

    def healthy(self, name: str) -> tuple[bool, str]:
        r, _ = self.status(name)
        return r.ok, r.error or ""

    def set_config(self, name: str, key: str, value: str | None, secret: bool) -> TaskResult:
        """`pulumi config set` (value on stdin: never on a command line) or, with value None,
        `pulumi config rm`, on the stack's own config file."""
        full = key if ":" in key else f"{NAMESPACE}:{key}"
        if value is None:
            args = ["config", "rm", full]
        else:
            args = ["config", "set", full, "--secret" if secret else "--plaintext"]
        args += ["--stack", name, "--non-interactive"]
        cfg = self.config_file(name)
        if cfg is not None:
            args += ["--config-file", str(cfg)]
        done = subprocess.run(
            ["pulumi", *args],
            cwd=ROOT,
            input=value if value is not None else "",
            capture_output=True,
            text=True,
            env={**os.environ, "PULUMI_SKIP_UPDATE_CHECK": "true"},
            timeout=300,
            check=False,
        )
        if done.returncode != 0:
            err = _first_error(done.stderr or done.stdout or "failed")
            return TaskResult(ok=False, error=err)
        return TaskResult(ok=True, changes=0, remote_steps=0)
