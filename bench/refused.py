"""How long a destroy takes to fail when the IM host's SSH host keys changed."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

from bench.common import ROOT, backup_stack
from bench.events import EventLog, step_name
from tests.lab.fixture import Lab


def program_checkout(path: str) -> Path:
    """Another checkout whose program runs the stack (Stack.repo): its scripts/lab must be a link
    to this one's (one lab), its venv its own (an editable portsip_im of the other checkout would
    be this one's component)."""
    root = Path(path).resolve()
    lab = root / "scripts" / "lab"
    ours = ROOT / "scripts" / "lab"
    if not (lab.is_symlink() and lab.resolve() == ours.resolve()):
        raise SystemExit(
            f"benchmark: {lab} must be a link to this checkout's scripts/lab, as "
            "tests/e2e/test_stack_made_before_the_component.py's before_tree makes it: "
            f"ln -sfn {ours} {lab}"
        )
    python = root / "venv" / "bin" / "python"
    found = subprocess.run(
        [str(python), "-c", "import portsip_im; print(portsip_im.__file__)"],
        cwd=root,
        capture_output=True,
        text=True,
    )
    where = Path(found.stdout.strip()).resolve()
    if found.returncode != 0 or not where.is_relative_to(root):
        raise SystemExit(
            f"benchmark: {python} does not import portsip_im from {root} "
            f"({found.stdout.strip() or found.stderr.strip()}): the stack would not run its "
            f"program's component. Set it up there: (cd {root} && scripts/setup --dev)"
        )
    return root


def refused(lab: Lab, tmp: Path, figures: dict[str, str], program: Path | None) -> None:
    """How long `pulumi destroy` takes to fail when the IM host's SSH host keys changed (the lab's
    fault im-new-host-key, a VM rebuilt at the same address): a lab stack with backups to the
    vault, so the backup, backup-ssh and trust steps log in to the IM host; the destroy's wall time
    until it fails, each failed step's time and its error lines (from the event log)."""
    with backup_stack(lab, tmp) as stack:
        if program is not None:
            stack.repo = program
        figures["refused_program"] = str(stack.repo)
        stack("up")
        lab.plant("im-new-host-key")
        try:
            with EventLog(tmp / "destroy.events") as log:
                t = time.monotonic()
                done = stack("destroy", "--event-log", str(log.path), ok=False)
                figures["refused_destroy_seconds"] = f"{time.monotonic() - t:.2f}"
        finally:
            lab.clear_faults()  # the lab's keys again: the teardown's destroy goes through
        failed = {n: (s, e) for n, (s, e, bad) in log.steps().items() if bad}
        if not failed:
            raise RuntimeError(f"the destroy failed, but no step did:\n{done.stdout}{done.stderr}")
        for name, (s, e) in sorted(failed.items(), key=lambda item: item[1][0]):
            figures[f"refused_step_{step_name(name)}_seconds"] = f"{e - s:.2f}"
            for n, line in enumerate(log.errors(name), 1):
                figures[f"refused_step_{step_name(name)}_error_{n}"] = line[:200]
