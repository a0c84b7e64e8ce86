"""How many of N fresh lab stacks' first ups fail (docs/contributing/figures.md)."""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

from bench.common import ROOT, bench_env
from tests.lab.fixture import run_lab


def first_ups(count: int) -> dict[str, str]:
    """COUNT times: both lab hosts reset (rebooted from their image), then a new lab stack's first
    `up`, at once. Counts the ups that failed, and names their first ERROR lines (docs/figures.md:
    the flake of a host still booting, issue 17, item 2)."""
    failed: list[str] = []
    for i in range(count):
        for host in ("pbx01", "im"):
            run_lab("reset", host)
        with tempfile.TemporaryDirectory(prefix="portsip-im-first-up-") as t:
            env = bench_env(Path(t))
            done = subprocess.run(
                [str(ROOT / "scripts" / "lab-stack"), "up"], env=env, capture_output=True, text=True
            )
            if done.returncode != 0:
                out = (done.stdout + done.stderr).splitlines()
                errors = (line.strip() for line in out if "ERROR" in line or "error:" in line)
                why = next(errors, "?")
                failed.append(f"#{i + 1}: {why}")
            subprocess.run(
                [str(ROOT / "scripts" / "lab-stack"), "destroy"], env=env, capture_output=True
            )
    return {
        "first_ups": str(count),
        "first_ups_failed": str(len(failed)),
        **{f"first_up_failure_{n}": why for n, why in enumerate(failed, 1)},
    }
