"""The lab stack as the end-to-end tests drive it: scripts/lab-stack with a state folder, a
passphrase and a plugin cache of the test's own, and what the tests read off the lab around it."""

from __future__ import annotations

import hashlib
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


def without_outputs_block(lines: list[str]) -> list[str]:
    """The lines of an engine output without its "Outputs:" block (up to "Resources:"), which the
    CLI prints after a failed update listing every output as deleted (pulumi/pulumi#15755)."""
    if "Outputs:" not in lines:
        return lines
    start = lines.index("Outputs:")
    end = next(i for i in range(start, len(lines)) if lines[i].startswith("Resources:"))
    return lines[:start] + lines[end:]


class Stack:
    def __init__(self, lab, tmp: Path):
        self.lab = lab
        self.dir = tmp / "lab-stack"
        self.repo = REPO
        """The checkout whose scripts/lab-stack (and so whose program) runs the stack."""
        self.passphrase = secrets.token_hex(16)
        self.set: dict[str, str] = {}
        self.key: str | None = None
        self.transcript: list[str] = []
        # Every secret value the stack has used so far (value -> what it is, for messages that
        # never show it), and every command line sampled while it ran: see `secrets_seen_in`.
        self.secrets: dict[str, str] = {}
        self.key_files: set[str] = {lab.key}
        self.argv: set[str] = set()
        self.remember_secrets()
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
            [str(self.repo / "scripts" / "lab-stack"), *args],
            env=self.run_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def remember_secrets(self) -> None:
        """Add the secrets in use now: the lab's passwords, the IM token the PBX holds now (each
        up may make a new one), every operator key the stack was given, the backup password."""
        if self.key:
            self.key_files.add(self.key)
        found = {
            self.passphrase: "the stack's passphrase",
            self.lab.pbx_password: "the pbx password",
            self.lab.pbx_admin.password: "the PBX admin password",
        }
        token = self.lab.im_token()
        if token:
            found[token] = "an IM token"
        for f in sorted(self.key_files):
            for line in Path(f).read_text().splitlines():
                if len(line) > 20 and not line.startswith("-----"):
                    found[line] = f"a line of the private key {Path(f).name}"
        backup = self.dir / "backup-password"
        if backup.exists():
            found[backup.read_text().strip()] = "the backup password"
        sftp_key = self.dir / "backup-ssh-key"
        if sftp_key.exists():
            for line in sftp_key.read_text().splitlines():
                if len(line) > 20 and not line.startswith("-----"):
                    found[line] = "a line of the backup's SFTP key"
        for value, what in found.items():
            if len(value) >= 8:
                self.secrets.setdefault(value, what)

    def secrets_seen_in(self) -> list[str]:
        """Where any secret the stack ever used shows up: every state file the backend ever wrote
        (checkpoints, history, backups), every engine output, the hosts' command logs and argv
        logs, and the command lines sampled during its ups. Names places and kinds, not values."""
        self.remember_secrets()
        places: list[tuple[str, str]] = []
        for f in sorted((self.dir / "state").rglob("*")):
            if f.is_file():
                places.append(
                    (
                        f"state file {f.relative_to(self.dir)}",
                        f.read_bytes().decode(errors="replace"),
                    )
                )
        places += [(f"engine output #{i + 1}", t) for i, t in enumerate(self.transcript)]
        for host in ("pbx01", "im", "vault"):
            places.append((f"{host}'s command log", "\n".join(self.lab.commands(host))))
            places.append((f"{host}'s argv log", "\n".join(self.lab.argv_log(host))))
        places.append(("a sampled process's command line", "\n".join(self.argv)))
        return [
            f"{what} in {where}"
            for where, text in places
            for value, what in self.secrets.items()
            if value in text
        ]

    @contextmanager
    def sampled(self) -> Iterator[Sampled]:
        """Sample the machine's processes meanwhile (process_sampler), kept for secrets_seen_in."""
        with process_sampler() as seen:
            try:
                yield seen
            finally:
                self.argv |= seen

    def done(self, proc: subprocess.Popen) -> subprocess.CompletedProcess:
        out, err = proc.communicate(timeout=900)
        self.transcript.append(out + err)
        self.remember_secrets()
        return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)

    def __call__(self, *args: str, ok: bool | None = True) -> subprocess.CompletedProcess:
        """Run scripts/lab-stack; ok=True/False asserts it succeeds/fails, None checks nothing."""
        done = subprocess.run(
            [str(self.repo / "scripts" / "lab-stack"), *args],
            env=self.run_env(),
            capture_output=True,
            text=True,
            timeout=900,
            check=False,
        )
        self.transcript.append(done.stdout + done.stderr)
        self.remember_secrets()
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


def imsh_calls(lab, verb: str) -> int:
    """How many `im.sh VERB` runs the program made on pbx01: vendor.sh keeps one log a run
    ($STATE_DIR/logs/<UTC time>-VERB.log, STATE_DIR in the home of the user the step ran as)."""
    logs = ("home/pbx/.portsip-im/logs", "root/.portsip-im/logs")
    return sum(len(list(lab.path("pbx01", d).glob(f"*-{verb}.log"))) for d in logs)


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


class Sampled(set):
    """The command lines seen, and `exe_sha256`: for each engine binary seen running (by argv[0]'s
    name, see ENGINE_BINARIES), the sha256 of the executable its process ran (/proc/PID/exe)."""

    def __init__(self) -> None:
        super().__init__()
        self.exe_sha256: dict[str, set[str]] = {}


# The engine's plugins whose running executable the sampler identifies.
ENGINE_BINARIES = ("pulumi-resource-command", "pulumi-language-python")


@contextmanager
def process_sampler():
    """Every command line this machine runs meanwhile, the lab hosts' included (their processes are
    visible in the machine's /proc): what `ps` on any of them could show."""
    seen = Sampled()
    hashed: set[str] = set()
    stop = threading.Event()

    def identify(proc: Path, argv0: bytes) -> None:
        name = os.path.basename(argv0.decode(errors="replace"))
        if name not in ENGINE_BINARIES or proc.name in hashed:
            return
        try:
            digest = hashlib.sha256((proc / "exe").read_bytes()).hexdigest()
        except OSError:
            return  # gone already
        hashed.add(proc.name)
        seen.exe_sha256.setdefault(name, set()).add(digest)

    def sample() -> None:
        while not stop.is_set():
            for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
                try:
                    raw = cmdline.read_bytes()
                except OSError:
                    continue
                seen.add(raw.replace(b"\0", b" ").decode(errors="replace"))
                identify(cmdline.parent, raw.split(b"\0", 1)[0])
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
