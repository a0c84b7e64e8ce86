"""The fleet's I/O: the backend's stacks and their tags, and each verb on one stack, through the
Pulumi Automation API (the CLI on PATH; scripts/fleet puts the built engine there when no pulumi is
installed). Live status is status/'s own reading and judgment, not a copy of it."""

from __future__ import annotations

import json
import os
import subprocess
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from status.cli import first_error, read_stack
from status.judge import judge
from status.model import ROOT, StatusError
from status.probe import run_probe
from status.render import redact as status_redact

from .model import LIVE_UNKNOWN, FleetError, TaskResult
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
        """This project's stacks in the backend. `pulumi stack ls` run in the project lists only
        its stacks, except in a DIY backend of the old layout (no project folders), where it lists
        every project's, by bare name: `up` there from this project would replace another
        project's resources with this program's. So a name ORG/PROJECT/STACK counts only with
        this project; in a DIY backend (not http(s)) a bare name only when the stack's state is
        this project's (or it has none yet)."""
        try:
            ws = self.workspace()
            project = str(ws.project_settings().name)
            listed = [str(s.name) for s in ws.list_stacks()]
            diy = not str(ws.who_am_i().url or "").startswith(("https://", "http://"))
        except _auto().errors.CommandError as exc:
            raise FleetError(f"cannot list the backend's stacks: {first_error(str(exc))}") from None
        bare = [n for n in listed if diy and "/" not in n]
        with ThreadPoolExecutor(max_workers=8) as pool:
            owners = dict(zip(bare, pool.map(self.state_projects, bare), strict=True))
        names = []
        for name in listed:
            parts = name.split("/")
            if name in owners:
                if owners[name] <= {project}:
                    names.append(name)
            elif len(parts) == 3:
                if parts[1] == project:
                    names.append(parts[2])
            else:
                names.append(name)
        return names

    def state_projects(self, name: str) -> set[str]:
        """The projects named in a stack's state (its resources' URNs; none for a stack never
        deployed), from `pulumi stack export` without --show-secrets: no passphrase needed, and no
        Pulumi.<stack>.yaml written into the repository."""
        done = self._cli(["stack", "export", "--stack", name])
        if done.returncode != 0:
            why = first_error(done.stderr or done.stdout or "failed")
            raise FleetError(f"cannot read the state of stack {name}: {why}")
        try:
            state = json.loads(done.stdout)
            resources = (state.get("deployment") or {}).get("resources") or []
            urns = [str(r["urn"]) for r in resources]
        except (ValueError, AttributeError, KeyError, TypeError):
            raise FleetError(f"cannot read the state of stack {name}: not a Pulumi state") from None
        # urn:pulumi:STACK::PROJECT::TYPE::NAME
        return {u.split("::")[1] for u in urns if u.count("::") >= 3}

    def _cli(self, args: list[str], stdin: str = "") -> subprocess.CompletedProcess[str]:
        """`pulumi ARGS` in the project, stdin given, output captured (no terminal, no prompt)."""
        return subprocess.run(
            ["pulumi", *args, "--non-interactive"],
            cwd=ROOT,
            input=stdin,
            capture_output=True,
            text=True,
            env={**os.environ, "PULUMI_SKIP_UPDATE_CHECK": "true"},
            timeout=300,
            check=False,
        )

    def tags(self, name: str) -> dict[str, str]:
        try:
            return dict(self.workspace().list_tags(name))
        except _auto().errors.CommandError as exc:
            raise FleetError(f"cannot read the tags of {name}: {first_error(str(exc))}") from None

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
                error=failure(events, first_error(str(exc))),
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
        """The stack's live status as scripts/status judges it: (result, status/'s text). The
        result's live_health is what the probe saw; its health the recorded imHealth output."""
        from status.render import as_text

        cfg = self.config_file(name)
        secrets: dict[str, str] = {}
        try:
            stack = read_stack(name, cfg) if cfg else read_stack(name, None)
            secrets = stack.secrets
            probe = run_probe(stack)
            report = judge(stack, probe)
        except StatusError as exc:
            why = status_redact(str(exc), secrets)
            return TaskResult(ok=False, error=why, live_health=LIVE_UNKNOWN), ""
        problems = [status_redact(p, secrets) for p in report.problems]
        health = stack.outputs.get("imHealth")
        return (
            TaskResult(
                ok=not problems,
                health=health,
                error="; ".join(problems) if problems else None,
                live_health=live_health(probe),
            ),
            status_redact(as_text(stack, report), secrets),
        )

    def healthy(self, name: str) -> TaskResult:
        """The canary's check after up or refresh: its live status (ok, why not, what it saw)."""
        r, _ = self.status(name)
        return r

    def set_config(self, name: str, key: str, value: str | None, secret: bool) -> TaskResult:
        """`pulumi config set` (value on stdin: never on a command line) or, with value None,
        `pulumi config rm`, on the stack's own config file."""
        full = key if ":" in key else f"{NAMESPACE}:{key}"
        if value is None:
            args = ["config", "rm", full]
        else:
            args = ["config", "set", full, "--secret" if secret else "--plaintext"]
        args += ["--stack", name]
        cfg = self.config_file(name)
        if cfg is not None:
            args += ["--config-file", str(cfg)]
        done = self._cli(args, stdin=value if value is not None else "")
        if done.returncode != 0:
            err = first_error(done.stderr or done.stdout or "failed")
            return TaskResult(ok=False, error=err)
        return TaskResult(ok=True, changes=0, remote_steps=0)


def live_health(probe: dict[str, Any]) -> str:
    """What status/'s probe saw from pbx01 just now, in one short cell: port 8887, and the
    vendor's health check (svr_stats) on the IM host, or that the IM host did not answer."""
    text = f"8887 {probe.get('imPort8887') or 'unknown'}"
    host = probe.get("imHost")
    if not isinstance(host, dict):
        return f"{text}, IM host unreachable"
    return f"{text}, {'svr_stats answers' if host.get('vendorStats') else 'no svr_stats'}"
