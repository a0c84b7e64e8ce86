"""An interrupted `pulumi up` converges (issue 17, item 3), on the lab, real engine.

For each remote step, the step is held on its host (the lab's pause point: tests/lab/standin/
lab-pause for a step's start, the stand-in im.sh's .pause-VERB for a vendor verb), the `pulumi` CLI
gets SIGKILL while the step runs there, and the hold is released (the orphaned command provider may
finish the step, as it would in life). Then docs/teams.md's recovery: `pulumi cancel` (the lock the
killed CLI left), and `pulumi up` (or `destroy`) again. The test shows that it completes, that the
`up` after it runs 0 remote commands, and that nothing is doubled: one whitelist entry per address,
one authorized key, one `im.sh run` per deployment, one restore per value.
"""

from __future__ import annotations

import os
import signal
import time
from dataclasses import dataclass

import pytest

from lab.state import pid_alive, proc_children
from tests.e2e.stack import Stack, counters, fresh_stack, ours, remote_commands

pytestmark = [pytest.mark.e2e, pytest.mark.lab]

GUIDE_DIR = "/opt/portsip-pbx-ha-guide"
CHAT = "/var/lib/portsip/im-data/chat-history.txt"


@dataclass(frozen=True)
class Hold:
    host: str
    path: str  # exists: the step waits; PATH.paused or the verb's marker: it is waiting

    @property
    def marker(self) -> str:
        if self.path.startswith(GUIDE_DIR):
            return self.path.replace("/.pause-", "/.paused-")
        return self.path + ".paused"


def at_start(host: str, script: str) -> Hold:
    return Hold(host, f"/run/lab-pause/{script}")


def in_imsh(verb: str) -> Hold:
    return Hold("pbx01", f"{GUIDE_DIR}/.pause-{verb}")


def held(lab, hold: Hold) -> bool:
    if hold.path.startswith("/run/"):  # the host's own tmpfs: seen from inside only
        return lab.ssh(hold.host, f"test -e {hold.marker}").returncode == 0
    return lab.path(hold.host, hold.marker).exists()


def tree(pid: int) -> list[int]:
    out = []
    for child, _ in proc_children(pid):
        out += [child, *tree(child)]
    return out


def kill_pulumi_while_held(lab, stack: Stack, hold: Hold, *args: str) -> str:
    """`lab-stack ARGS` with the step held; SIGKILL to the `pulumi` CLI once the step is waiting on
    its host; the hold released; the CLI's orphaned plugins given a moment, then stopped."""
    lab.ssh(hold.host, f"mkdir -p /run/lab-pause && chmod 1777 /run/lab-pause && touch {hold.path}")
    lab.ssh(hold.host, f"chmod 666 {hold.path}; rm -f {hold.marker}", check=True)
    proc = stack.start(*args)
    deadline = time.time() + 180
    while not held(lab, hold):
        assert proc.poll() is None, f"lab-stack {args} ended before the step was held"
        assert time.time() < deadline, f"{hold.path} never held the step"
        time.sleep(0.1)
    cli = [pid for pid, comm in proc_children(proc.pid) if comm == "pulumi"]
    assert len(cli) == 1, cli
    plugins = tree(cli[0])
    os.kill(cli[0], signal.SIGKILL)
    lab.ssh(hold.host, f"rm -f {hold.path}", check=True)
    out = stack.done(proc)
    assert out.returncode != 0
    # The plugins outlive their CLI (nothing tells them it is gone): they may finish the step
    # they were running, as they would in life. Once no step runs on either host they have
    # nothing left to do there, and go: after a second at least (a step they were still dialling
    # reaches its host), at most 8 s (a step stuck on a host goes with them).
    start = time.time()
    while time.time() < start + 8 and (time.time() < start + 1 or steps_running(lab)):
        time.sleep(0.2)
    for pid in plugins:
        if pid_alive(pid):
            os.kill(pid, signal.SIGKILL)
    return out.stdout + out.stderr


def steps_running(lab) -> bool:
    """Whether a step's command still runs on a lab host (`bash -c COMMAND STEP …`, COMMAND
    opening with `read -r l&&eval`: portsip_im/wire.py; the brackets keep pgrep from finding its
    own shell)."""
    pgrep = "pgrep -f 'read -r [l]&&eval'"
    return any(lab.ssh(host, pgrep, timeout=5).returncode == 0 for host in ("pbx01", "im"))


def recover(stack: Stack, *args: str) -> str:
    """docs/teams.md: the killed update's lock is cleared with `pulumi cancel`, then run again."""
    stack("pulumi", "cancel", "--yes", ok=None)
    done = stack(*args)
    return done.stdout + done.stderr


def pbx01_keys_on_im(lab) -> int:
    pub = lab.ssh("pbx01", "cat ~/.ssh/id_rsa.pub", user="pbx", check=True).stdout.split()[1]
    keys = lab.ssh("im", "cat ~pbx/.ssh/authorized_keys 2>/dev/null || true").stdout
    return sum(pub in line for line in keys.splitlines())


def restores(lab) -> int:
    """Each restore sets the data it replaced aside, in a folder of its own (backup-lib.sh)."""
    found = lab.ssh("im", "ls -d /var/lib/portsip/.portsip-im-before-restore-* 2>/dev/null || true")
    return len(found.stdout.split())


def converged(lab, stack: Stack) -> None:
    commands = remote_commands(lab)
    again = stack("up").stdout
    assert "unchanged" in again and "to update" not in again and "created" not in again, again
    assert remote_commands(lab) == commands, "the up after the recovery ran a remote step"
    assert ours(lab) == sorted([f"{lab.im}/32", f"{lab.im_public}/32"])
    assert pbx01_keys_on_im(lab) == 1
    assert lab.tcp_open("im", 8887)


@pytest.fixture(scope="module")
def stack(lab, tmp_path_factory):
    with fresh_stack(lab, tmp_path_factory.mktemp("interrupted")) as s:
        s.set["backupRepository"] = "/var/backups/portsip-im"
        yield s


# The steps of a first `up`, each interrupted on a stack that does not exist yet.
FIRST_UP = {
    "prepare": at_start("im", "prepare"),
    "whitelist": at_start("pbx01", "whitelist"),
    "token": at_start("pbx01", "token"),
    "trust": at_start("im", "trust"),
    "deploy": in_imsh("run"),
    "backup": at_start("im", "backup"),
}


@pytest.mark.parametrize("step", list(FIRST_UP))
def test_a_first_up_killed_during_a_step_converges(lab, stack, step):
    runs = counters(lab)["run"]
    kill_pulumi_while_held(lab, stack, FIRST_UP[step], "up")
    recover(stack, "up")
    converged(lab, stack)
    assert counters(lab)["run"] == runs + 1, "im.sh run ran twice for one deployment"
    if step != list(FIRST_UP)[-1]:
        stack("destroy")


@pytest.mark.parametrize(
    "verb, key, value",
    [("restart", "restartToken", "interrupted"), ("upgrade", "imRelease", "22.9")],
)
def test_a_day2_verb_killed_midway_converges_and_runs_once(lab, stack, verb, key, value):
    before = counters(lab)[verb]
    stack.set[key] = value
    kill_pulumi_while_held(lab, stack, in_imsh(verb), "up")
    recover(stack, "up")
    converged(lab, stack)
    assert counters(lab)[verb] == before + 1


def test_a_restore_killed_midway_converges_and_restores_once(lab, stack):
    lab.ssh("im", f"echo kept > {CHAT}", check=True)
    lab.ssh("im", "systemctl start portsip-im-backup.service", check=True, timeout=300)
    lab.ssh("im", f"echo lost > {CHAT}", check=True)
    before = restores(lab)
    stack.set["restoreSnapshot"] = "latest"
    kill_pulumi_while_held(lab, stack, at_start("im", "restore"), "up")
    # The killed CLI's command provider usually finishes the restore it had started; then the
    # recovery's re-run must find it done (restore.sh's record), not restore a second time.
    recorded = "test -e /root/.portsip-im/restored"
    deadline = time.time() + 30
    while lab.ssh("im", recorded).returncode != 0 and time.time() < deadline:
        time.sleep(1)
    finished = lab.ssh("im", recorded).returncode == 0
    said = recover(stack, "up")
    if finished:
        assert "restore: snapshot latest was restored already" in said, said
    converged(lab, stack)
    assert lab.ssh("im", f"cat {CHAT}", check=True).stdout.strip() == "kept"
    assert restores(lab) == before + 1, "restored twice"


def test_a_destroy_killed_during_im_sh_rm_completes(lab, stack):
    removals = counters(lab)["rm"]
    kill_pulumi_while_held(lab, stack, in_imsh("rm"), "destroy")
    recover(stack, "destroy")
    assert counters(lab)["rm"] in (removals + 1, removals + 2)  # the second finds nothing to remove
    assert not lab.standin_state()["installed"]
    assert ours(lab) == [] and pbx01_keys_on_im(lab) == 0
