"""pbx01's trust in the IM host's SSH host key, over real SSH in the lab, each step's real script
as the component builds it (issue 19, items 1 and 2).

A new host key at the same address: the IM host gets new host keys (the lab fault
`im-new-host-key`: a VM rebuilt at its private address), and the trust-key step, run with the new
key as its pinned IM_HOST_KEY (the update the engine runs when `imHostKey` changes), leaves pbx01
pinning exactly that key, the old one gone, and the later steps log in with it.

No pin, no trust: with pbx01's known_hosts entry for the IM host removed, every step that logs in
from pbx01 to the IM host (deploy's check, the backup hold around each im.sh verb, health, the
pre-upgrade backup, scripts/status's probe) refuses the unknown key: no known_hosts entry added,
no session on the IM host, and a host-key error that names what to do.

Each test here first ran as a strict xfail naming the script's defect (a silent replace, an old key
kept beside the pinned one, a refusal that named no remedy); the scripts were then fixed. A stack
made before the fix updates only its remote steps (see tests/e2e/test_stack_made_before_*.py).
"""

from __future__ import annotations

import json
import re
import subprocess
from dataclasses import dataclass, field

import pytest

from stack_config import parse_config
from status.judge import judge
from status.model import Stack
from status.probe import run_probe
from tests.lab.guide import Guide, lab_config
from tests.lab.test_guide_steps import fresh
from tests.unit import harness as h

pytestmark = pytest.mark.lab

KNOWN_HOSTS = "/home/pbx/.ssh/known_hosts"  # pbx01's pbx user: where every step's ssh looks


def pinned(lab) -> list[str]:
    """The keys (`type base64`) pbx01's pbx user trusts for the IM host's address, hashed entries
    included, read from pbx01's file system (not over SSH: no command-log entry)."""
    f = lab.path("pbx01", KNOWN_HOSTS)
    if not f.exists():
        return []
    found = subprocess.run(
        ["ssh-keygen", "-F", lab.im, "-f", str(f)], capture_output=True, text=True, check=False
    ).stdout
    return [" ".join(line.split()[1:3]) for line in found.splitlines() if line[:1] not in "#"]


def ssh_dir(lab) -> dict[str, str]:
    """Every file in pbx01's ~pbx/.ssh (known_hosts.old included), by name."""
    d = lab.path("pbx01", "/home/pbx/.ssh")
    return {f.name: f.read_text(errors="replace") for f in sorted(d.iterdir()) if f.is_file()}


def pbx01_login(lab) -> subprocess.CompletedProcess:
    """pbx01 → pbx@IM as every step logs in (ssh_im in lib.sh): its key, its known_hosts, strict."""
    return lab.ssh(
        "pbx01",
        f"ssh -o BatchMode=yes -o StrictHostKeyChecking=yes -o ConnectTimeout=10 pbx@{lab.im} true",
        user="pbx",
    )


def pbx_sessions_on_im(lab) -> int:
    return len(lab.commands("im", user="pbx"))


# ---------------------------------------------------------------------------------------------
# Item 1: a new host key at the same address


@dataclass
class Rebuilt:
    guide: Guide
    old: list[str]  # what pbx01 trusted for the address before the rebuild
    new: str  # the rebuilt host's ed25519 key: the stack's new imHostKey
    refused: subprocess.CompletedProcess  # a pbx01 → IM login between the rebuild and the re-pin
    repin: subprocess.CompletedProcess  # the trust-key step with the new key
    after: list[str] = field(default_factory=list)
    files: dict[str, str] = field(default_factory=dict)


@pytest.fixture(scope="class")
def rebuilt(lab, request) -> Rebuilt:
    """The stack deployed up to the trust on the original IM host (its key pinned, one pinned
    login), then the IM host rebuilt at the same address with new host keys, and trust-key run
    with the new key as the stack's imHostKey."""
    fresh(lab)
    # Whatever happens: the lab's own host keys back on im (other tests pin them), both fresh.
    request.addfinalizer(lambda: fresh(lab))
    guide = Guide(lab, lab_config(lab))
    guide.up(only=["pbx01-check", "prepare", "trust-key", "trust"])
    # A pinned login, as deploy's are: OpenSSH may add the host's other keys (UpdateHostKeys).
    assert pbx01_login(lab).returncode == 0
    old = pinned(lab)
    assert lab.im_host_key in old
    lab.plant("im-new-host-key")
    new = lab.host_key_now("im")
    assert new.startswith("ssh-ed25519 ") and new != lab.im_host_key
    refused = pbx01_login(lab)
    guide.config = lab_config(lab, imHostKey=new)
    repin = guide.run("trust-key", "update")
    return Rebuilt(guide, old, new, refused, repin, pinned(lab), ssh_dir(lab))


class TestANewHostKeyAtTheSameAddress:
    def test_the_old_pin_refuses_the_rebuilt_host(self, lab, rebuilt):
        # The precondition the rest stands on: the old entry is not good for the new host.
        assert rebuilt.refused.returncode == 255
        assert "REMOTE HOST IDENTIFICATION HAS CHANGED" in rebuilt.refused.stderr
        assert "Host key verification failed" in rebuilt.refused.stderr

    def test_pbx01_pins_exactly_the_new_key_and_no_old_one_is_left(self, lab, rebuilt):
        assert rebuilt.after == [rebuilt.new], rebuilt.repin.stderr
        # Not in known_hosts under any name, nor in the backup ssh-keygen -R writes.
        for old in rebuilt.old:
            for name, text in rebuilt.files.items():
                assert old.split()[1] not in text, f"an old key of {lab.im} is left in {name}"

    def test_every_later_step_logs_in_with_the_new_key(self, lab, rebuilt):
        assert pbx01_login(lab).returncode == 0  # OpenSSH may learn the host's other keys here
        guide = rebuilt.guide
        again = guide.run("trust-key", "update").stderr
        assert "already pinned" in again and "replaced" not in again, again
        assert pinned(lab) == [rebuilt.new]
        guide.up(only=["whitelist", "token", "trust", "deploy", "health"])
        assert lab.tcp_open("im", 8887)
        health = json.loads(guide.printed["health"].strip().splitlines()[-1])
        assert health["vendorStatus"] != "unavailable"  # health's own login to the IM host
        # Later logins may add the new host's other key types (OpenSSH's UpdateHostKeys, which
        # also drops keys the host no longer offers); never an old key again.
        now = pinned(lab)
        assert rebuilt.new in now and not set(now) & set(rebuilt.old), now

    def test_it_says_it_replaced_the_old_key(self, lab, rebuilt):
        said = rebuilt.repin.stdout + rebuilt.repin.stderr
        assert any(lab.im in line and "replac" in line.lower() for line in said.splitlines()), said

    def test_an_old_key_beside_the_pinned_one_is_not_kept(self, lab, rebuilt):
        # The operator, after the rebuild, appended the new key (ssh-keyscan >> known_hosts) and
        # left the old VM's entries in place; then the stack pins the new key.
        lines = [f"{lab.im} {key}" for key in [*rebuilt.old, rebuilt.new]]
        lab.ssh("pbx01", "cat >~/.ssh/known_hosts", user="pbx", input="\n".join(lines) + "\n")
        assert set(pinned(lab)) == {*rebuilt.old, rebuilt.new}
        done = rebuilt.guide.run("trust-key", "update")
        assert pinned(lab) == [rebuilt.new], done.stderr


# ---------------------------------------------------------------------------------------------
# Item 2: pbx01 never trusts an unpinned IM host key

BACKUP = {"backupRepository": "/var/backups/portsip-im", "backupPassword": "lab-hostkeys-backup"}
# What a message must name for the operator to act: the step that pins the IM host's key on pbx01
# (trust-key, guide step 4's "trust") or the setting it pins (imHostKey).
REMEDY = re.compile(r"\btrust\b|trust-key|imHostKey")
HOST_KEY_ERROR = re.compile(r"host key", re.IGNORECASE)


@dataclass
class Refusal:
    failed: bool  # the step failed (or scripts/status reported a problem)
    said: str  # what it said about logging in to the IM host
    known_hosts_before: dict[str, str]
    known_hosts_after: dict[str, str]
    im_sessions: int  # pbx sessions on the IM host during the step


class Unpinned:
    """A stack deployed on the lab (backups configured, restart token and release recorded),
    then pbx01's known_hosts entry for the IM host removed. Each case runs once, on demand."""

    def __init__(self, lab):
        self.lab = lab
        self.guide = Guide(lab, lab_config(lab, **BACKUP))
        self.done: dict[str, Refusal] = {}

    def config(self, **change: str) -> dict[str, str]:
        return lab_config(self.lab, **BACKUP, **change)

    def refusal(self, case: str) -> Refusal:
        if case not in self.done:
            lab = self.lab
            before, sessions = ssh_dir(lab), pbx_sessions_on_im(lab)
            failed, said = getattr(self, f"_{case}")()
            self.done[case] = Refusal(
                failed, said, before, ssh_dir(lab), pbx_sessions_on_im(lab) - sessions
            )
        return self.done[case]

    def _step(self, step: str, phase: str = "update", **change: str) -> subprocess.CompletedProcess:
        self.guide.config = self.config(**change)
        return self.guide.run(step, phase, check=False)

    def _deploy(self) -> tuple[bool, str]:
        # A new IM token: deploy has to run im.sh again, so it checks its login first.
        self.guide.config = self.config(imTokenRotation="unpinned")
        self.guide.run("token", "update")
        done = self._step("deploy", imTokenRotation="unpinned")
        return done.returncode != 0, done.stdout + done.stderr

    def _hold(self) -> tuple[bool, str]:
        # A restart: the verb's backup hold is its first login to the IM host. What the hold
        # says is judged here (im.sh, a stand-in, then fails its own strict login).
        done = self._step("restart", restartToken="unpinned")
        said = [line for line in done.stderr.splitlines() if "backups" in line]
        return any("ERROR" in line for line in said), "\n".join(said)

    def _health(self) -> tuple[bool, str]:
        done = self._step("health", "create")  # replaced (its triggers), not updated
        return done.returncode != 0, done.stdout + done.stderr

    def _upgrade(self) -> tuple[bool, str]:
        done = self._step("upgrade", imRelease="22.9")
        return done.returncode != 0, done.stdout + done.stderr

    def _status(self) -> tuple[bool, str]:
        raw = self.config()
        stack = Stack(
            "lab",
            parse_config(raw, set(h.SECRET_KEYS)),
            {k: raw[k] for k in ("sshPrivateKey", "pbxAdminPassword")},
            {"imPrivateIp": self.lab.im, "imPublicIp": self.lab.im_public},
        )
        report = judge(stack, run_probe(stack))
        return bool(report.problems), "\n".join(report.problems)


@pytest.fixture(scope="class")
def unpinned(lab, request) -> Unpinned:
    fresh(lab)
    request.addfinalizer(lambda: fresh(lab))  # no pin, a rotated token: leave both hosts fresh
    u = Unpinned(lab)
    u.guide.up(
        only=[
            *("pbx01-check", "prepare", "whitelist", "token", "trust-key", "trust", "deploy"),
            *("restart", "upgrade"),  # the first restart token and release: only recorded
        ]
    )
    assert lab.tcp_open("im", 8887)
    lab.ssh("pbx01", f"ssh-keygen -R {lab.im} && rm -f ~/.ssh/known_hosts.old", user="pbx")
    assert pinned(lab) == [] and pbx01_login(lab).returncode == 255
    return u


CASES = ["deploy", "hold", "health", "upgrade", "status"]


class TestNoPinNoTrust:
    @pytest.mark.parametrize("case", CASES)
    def test_adds_no_known_hosts_entry_and_logs_in_nowhere(self, lab, unpinned, case):
        r = unpinned.refusal(case)
        assert r.known_hosts_after == r.known_hosts_before
        assert pinned(lab) == []
        assert r.im_sessions == 0

    @pytest.mark.parametrize("case", CASES)
    def test_says_it_is_the_host_key_and_what_to_do(self, unpinned, case):
        r = unpinned.refusal(case)
        assert r.failed or "WARNING" in r.said, r.said
        assert HOST_KEY_ERROR.search(r.said), r.said
        assert REMEDY.search(r.said), r.said
