"""The lab stack as the end-to-end tests drive it: scripts/lab-stack with a state folder, a
passphrase and a plugin cache of the test's own, and what the tests read off the lab around it."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.lab.fixture import REPO

VERBS = ("run", "start", "stop", "restart", "rm", "upgrade")


class Stack:
    def __init__(self, lab, tmp: Path):
        self.lab = lab
        self.dir = tmp / "lab-stack"
        self.passphrase = secrets.token_hex(16)
        self.set: dict[str, str] = {}
        self.key: str | None = None
        self.transcript: list[str] = []
        self.env = {
            **os.environ,
            "PORTSIP_LAB_STACK_DIR": str(self.dir),
            "PULUMI_HOME": str(tmp / "pulumi-home"),
            "PULUMI_CONFIG_PASSPHRASE": self.passphrase,
            "PORTSIP_LAB_KEEP": "1",
        }

    def run_env(self) -> dict[str, str]:
        env = dict(self.env)
        env["PORTSIP_LAB_STACK_SET"] = "\n".join(f"{k}={v}" for k, v in self.set.items())
        if self.key:
            env["PORTSIP_LAB_STACK_KEY"] = self.key
        return env

    def start(self, *args: str) -> subprocess.Popen:
        """Start scripts/lab-stack in the background (finish it with `done`)."""
        return subprocess.Popen(
            [str(REPO / "scripts" / "lab-stack"), *args],
            env=self.run_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def done(self, proc: subprocess.Popen) -> subprocess.CompletedProcess:
        out, err = proc.communicate(timeout=900)
        self.transcript.append(out + err)
        return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)

    def __call__(self, *args: str, ok: bool | None = True) -> subprocess.CompletedProcess:
        """Run scripts/lab-stack; ok=True/False asserts it succeeds/fails, None checks nothing."""
        done = subprocess.run(
            [str(REPO / "scripts" / "lab-stack"), *args],
            env=self.run_env(),
            capture_output=True,
            text=True,
            timeout=900,
            check=False,
        )
        self.transcript.append(done.stdout + done.stderr)
        if ok and done.returncode != 0:
            pytest.fail(f"lab-stack {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
        if ok is False and done.returncode == 0:
            pytest.fail(f"lab-stack {' '.join(args)} should have failed:\n{done.stdout}")
        return done

    def outputs(self) -> dict:
        return json.loads(self("pulumi", "stack", "output", "--json").stdout)


def remote_commands(lab) -> int:
    return len(lab.commands("pbx01")) + len(lab.commands("im"))


def counters(lab) -> dict[str, int]:
    c = lab.standin_state().get("counters", {})
    return {v: int(c.get(v, 0)) for v in VERBS}


def ours(lab) -> list[str]:
    return sorted(
        e["cidr"]
        for e in lab.api_state()["ip_filters"]
        if e.get("description", "").startswith("portsip-im:portsip-im/")
    )


def secret_values(lab) -> list[str]:
    values = [lab.pbx_password, lab.pbx_admin.password]
    token = lab.im_token()
    if token:
        values.append(token)
    values += [line for line in Path(lab.key).read_text().splitlines() if len(line) > 20]
    return values


@contextmanager
def process_sampler():
    """Every command line this machine runs meanwhile, the lab hosts' included (their processes are
    visible in the machine's /proc): what `ps` on any of them could show."""
    seen: set[str] = set()
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
                try:
                    seen.add(cmdline.read_bytes().replace(b"\0", b" ").decode(errors="replace"))
                except OSError:
                    pass
            time.sleep(0.05)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    try:
        yield seen
    finally:
        stop.set()
        thread.join()


def wait_for(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.1)


@contextmanager
def fresh_stack(lab, tmp: Path) -> Iterator[Stack]:
    """A lab stack on a lab returned to its freshly started state; destroyed at the end, whatever
    happened, so the lab is left as it started."""
    lab.clear_faults()
    lab.reset_pbx01()
    lab.reset_im()
    s = Stack(lab, tmp)
    try:
        yield s
    finally:
        if s.dir.exists():
            s("destroy", ok=None)
