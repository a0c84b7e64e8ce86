"""lib.sh's apt_get, with apt-get stood in for: it waits for the package lists' lock, which
DPkg::Lock::Timeout does not cover (apt-get update fails at once while apt-daily holds it), and it
fails at once, naming what the step was doing, on any other error."""

from __future__ import annotations

import subprocess
from pathlib import Path

from portsip_im.remote import SCRIPTS

LOCKED = "E: Could not get lock /var/lib/apt/lists/lock. It is held by process 812 (apt-get)"


def apt_get(tmp_path: Path, fails: int, error: str) -> tuple[subprocess.CompletedProcess, int]:
    """apt_get update, with an apt-get that fails `fails` times with `error`, then works."""
    stubs = tmp_path / "bin"
    stubs.mkdir()
    count = tmp_path / "calls"
    (stubs / "apt-get").write_text(
        f'#!/bin/sh\necho "$*" >>"{count}"\n'
        f'if [ "$(wc -l <"{count}")" -le {fails} ]; then echo "{error}" >&2; exit 100; fi\n'
    )
    (stubs / "apt-get").chmod(0o755)
    script = (SCRIPTS / "lib.sh").read_text() + '\napt_get "updates: apt-get update" update\n'
    done = subprocess.run(
        ["bash", "-c", script, "prepare"],
        input="",
        capture_output=True,
        text=True,
        timeout=60,
        env={"HOME": str(tmp_path), "PATH": f"{stubs}:/usr/bin:/bin"},
    )
    return done, len(count.read_text().splitlines())


def test_waits_while_the_package_lists_are_locked(tmp_path):
    done, calls = apt_get(tmp_path, 2, LOCKED)
    assert done.returncode == 0, done.stderr
    assert calls == 3


def test_any_other_failure_stops_at_once_naming_the_step(tmp_path):
    done, calls = apt_get(tmp_path, 5, "E: The repository 'http://x stable Release' has no Release")
    assert done.returncode == 1 and calls == 1
    assert "[prepare] ERROR: updates: apt-get update failed" in done.stderr
    assert "has no Release" in done.stderr
