"""What the benchmarks share: the engine's environment, timers, and the lab started and stopped."""

from __future__ import annotations

import inspect
import os
import secrets
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.e2e import test_backup_stack as backup_e2e
from tests.e2e.engine import engine_env
from tests.e2e.stack import Stack
from tests.lab.fixture import Lab, run_lab

ROOT = Path(__file__).resolve().parents[1]
REPEAT = int(os.environ.get("BENCH_REPEAT", "5"))  # wall times are medians of REPEAT runs
VERBS = ("run", "start", "stop", "restart", "rm", "upgrade")
LAB_UP_TIMEOUT = 3600  # a cold `up` builds the image (or waits while another `up` builds it)


def bench_env(tmp: Path) -> dict[str, str]:
    env = engine_env(tmp / "pulumi-home")
    env.update(PORTSIP_LAB_STACK_DIR=str(tmp / "lab-stack"), PORTSIP_LAB_KEEP="1")
    env["PULUMI_CONFIG_PASSPHRASE"] = secrets.token_hex(16)  # made per run, never stored
    return env


def timed(cmd: list[str], env: dict[str, str], cwd: Path = ROOT) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, env=env, cwd=cwd, check=True, capture_output=True)
    return time.perf_counter() - start


def stopwatch(run: Callable[[], object]) -> float:
    start = time.monotonic()
    run()
    return time.monotonic() - start


class TmpFactory:
    """What the fixture `stack` of tests/e2e/test_backup_stack.py needs of tmp_path_factory."""

    def __init__(self, root: Path):
        self.root = root

    def mktemp(self, name: str) -> Path:
        path = self.root / name
        path.mkdir()
        return path


@contextmanager
def backup_stack(lab: Lab, tmp: Path) -> Iterator[Stack]:
    """The e2e backup tests' lab stack, by their own fixture: a lab returned to fresh, backups to
    the vault's SFTP repository (backupSshKey, backupSshHostKey) with a backupEnv credential;
    destroyed, and the repository removed, at the end."""
    fixture = contextmanager(inspect.unwrap(backup_e2e.stack))
    with fixture(lab, TmpFactory(tmp)) as stack:
        stack.env["PULUMI_DEBUG_COMMANDS"] = "true"  # pulumi's --event-log is a debug flag
        yield stack


def on_lab(run: Callable[[Lab, Path, dict[str, str]], None]) -> int:
    """Start the lab, run, print the figures (those measured so far, if it failed), stop it."""
    up = run_lab("up", timeout=LAB_UP_TIMEOUT)
    if up.returncode != 0:
        print(f"benchmark: the lab did not start:\n{up.stderr}", file=sys.stderr)
        run_lab("down")
        return 1
    figures: dict[str, str] = {}
    failure = None
    try:
        with tempfile.TemporaryDirectory(prefix="portsip-im-bench-") as t:
            run(Lab.from_up(up.stdout), Path(t), figures)
    except (Exception, pytest.fail.Exception) as e:
        failure = e
    finally:
        run_lab("down")
    for name, value in figures.items():
        print(f"{name}: {value}")
    if failure is not None:
        print(f"benchmark: failed: {failure}", file=sys.stderr)
        return 1
    return 0
