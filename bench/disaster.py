"""A lost IM host back from its backups, timed (docs/backups.md "The IM host is lost")."""

from __future__ import annotations

import re
import time
from datetime import datetime
from pathlib import Path

from bench.common import backup_stack, stopwatch
from bench.events import EventLog, covered, span, step_name
from tests.e2e.stack import counters
from tests.e2e.test_backup_stack import CHAT, LOST, backed_up_chat, mark_lost
from tests.lab.fixture import Lab

# The up's steps that make the blank host ready for im.sh run (guide steps 1-4): "rebuild".
REBUILD = ("im-prepare", "im-whitelist", "im-token", "im-trust-key", "im-trust")


def recovery_point(lab: Lab, figures: dict[str, str]) -> int:
    """Before the loss: the schedule the stack gave the backup timer, the time between two of its
    runs (the recovery point at worst: a loss just before a run), the newest snapshot as
    `portsip-im-backup snapshots` lists it; returns its time (the IM host's epoch seconds)."""
    timer = lab.ssh("im", "systemctl cat portsip-im-backup.timer", check=True).stdout
    schedule = re.search(r"^OnCalendar=(.+)$", timer, re.M)
    if not schedule:
        raise RuntimeError(f"no OnCalendar= in portsip-im-backup.timer:\n{timer}")
    figures["disaster_backup_schedule"] = schedule[1].strip()
    when = lab.ssh(
        "im", f"systemd-analyze calendar --iterations=2 '{schedule[1].strip()}'", check=True
    ).stdout
    runs = re.findall(r"(?:Next elapse|Iter\. #2):\s+\S+ (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)", when)
    if len(runs) != 2:
        raise RuntimeError(f"systemd-analyze calendar gave no two runs:\n{when}")
    first, second = (datetime.strptime(r, "%Y-%m-%d %H:%M:%S") for r in runs)
    figures["disaster_backup_interval_hours"] = f"{(second - first).total_seconds() / 3600:.2f}"
    listed = lab.ssh("im", "portsip-im-backup snapshots", check=True, timeout=120).stdout
    rows = re.findall(r"^([0-9a-f]{8})\s+(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)", listed, re.M)
    if not rows:
        raise RuntimeError(f"portsip-im-backup snapshots listed none:\n{listed}")
    snapshot, taken = rows[-1]  # restic lists the oldest first
    figures["disaster_newest_snapshot"] = f"{snapshot} ({taken}, the IM host's time)"
    return int(lab.ssh("im", f"date -d '{taken}' +%s", check=True).stdout)


def disaster(lab: Lab, tmp: Path, figures: dict[str, str]) -> None:
    """The IM host lost and back, docs/backups.md's "The IM host is lost" the way
    tests/e2e/test_backup_stack.py's test_disaster_then_the_readmes_restore_onto_a_blank_host
    takes it: a stack with backups to the vault, a chat line written and backed up by the timer's
    service, then the whole host lost (`scripts/lab reset im`: a blank host at the same address,
    in about a second); destroy stops at im-deploy naming the marker, the operator's marker on
    pbx01, destroy again, then an up with restoreSnapshot=latest; done when IM answers on 8887
    and the chat line is back. Wall time per command; the up's steps from its event log."""
    with backup_stack(lab, tmp) as stack:
        stack("up")
        figures["lab_stack_configure_seconds"] = f"{stopwatch(lambda: stack('configure')):.2f}"
        chat, _ = backed_up_chat(lab)
        taken = recovery_point(lab, figures)

        now = int(lab.ssh("im", "date +%s", check=True).stdout)
        start = time.monotonic()
        lab.reset_im()  # the host is gone; a blank one at its address
        figures["disaster_recovery_point_seconds"] = str(now - taken)
        figures["disaster_new_host_seconds"] = f"{time.monotonic() - start:.2f}"

        before = counters(lab)
        t = time.monotonic()
        stopped = stack("destroy", ok=False)
        figures["disaster_destroy_stopped_seconds"] = f"{time.monotonic() - t:.2f}"
        if f"touch {LOST}{lab.im}" not in stopped.stdout + stopped.stderr:
            raise RuntimeError(f"destroy did not name the marker:\n{stopped.stdout}")
        marker = stopwatch(lambda: mark_lost(lab))
        figures["disaster_marker_seconds"] = f"{marker:.2f}"
        figures["disaster_destroy_seconds"] = f"{stopwatch(lambda: stack('destroy')):.2f}"
        destroy = time.monotonic() - t
        figures["disaster_phase_destroy_seconds"] = f"{destroy:.2f}"

        stack.set.pop("imRelease", None)
        stack.set["restoreSnapshot"] = "latest"
        with EventLog(tmp / "up.events") as log:
            t = time.monotonic()
            stack("up", "--event-log", str(log.path))
            up = time.monotonic() - t
        steps = log.steps()
        phases = {
            "rebuild": span(steps, REBUILD),
            "deploy": span(steps, ("im-deploy",)),
            "restore": span(steps, ("im-restore",)),
        }
        figures["disaster_up_seconds"] = f"{up:.2f}"
        for phase, (s, e) in phases.items():
            figures[f"disaster_phase_{phase}_seconds"] = f"{e - s:.2f}"
        other = up - covered(list(phases.values()))
        figures["disaster_up_other_seconds"] = f"{other:.2f}"
        for name, (s, e, _) in sorted(steps.items(), key=lambda item: item[1][0]):
            figures[f"disaster_step_{step_name(name)}_seconds"] = f"{e - s:.2f}"

        def answering() -> bool:
            back = lab.ssh("im", f"cat {CHAT}").stdout.strip() == chat
            return back and lab.tcp_open("im", 8887)

        t = time.monotonic()
        while not answering():
            if time.monotonic() - t > 120:
                raise RuntimeError("after the up, IM does not answer on 8887 with the chat line")
        figures["disaster_check_seconds"] = f"{time.monotonic() - t:.2f}"
        figures["disaster_total_seconds"] = f"{time.monotonic() - start:.2f}"
        if counters(lab) != {**before, "run": before["run"] + 1}:
            raise RuntimeError(f"im.sh verbs other than one run: {before} -> {counters(lab)}")
