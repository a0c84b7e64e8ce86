"""trust.sh's sshd reload, as the step sends it, on this machine: its removal path (a drop-in to
remove, no pbx user), with systemctl, sshd, ss and sleep stood in for. OpenSSH re-executes itself
on SIGHUP and listens on nothing for a moment, while `systemctl reload` returns at once; no dial of
a later step is retried, so the step returns only once sshd listens on new sockets, polling (never
one long sleep), for about 10 s at most. Where systemd holds the listening socket (ssh.socket) or
ss is missing it does not wait. The same reload with a real sshd, and a password login dialled
straight after it: tests/lab/test_pbx_login_hardening.py."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from portsip_im.remote import script_text
from tests.unit.local_step import run_step

pytestmark = pytest.mark.usefixtures("this_programs_names")

KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHBpbm5lZC1pbS1ob3N0LWtleS11bml0LXRlc3QtMDAw pbx@pbx01"
USER = "no-such-user-portsip-im"

# ss -Hltnpe as Debian 12's sshd leaves it: one listener per address family.
OLD = [
    'LISTEN 0 128 0.0.0.0:22 0.0.0.0:* users:(("sshd",pid=35,fd=3)) ino:1001 sk:1 <->',
    'LISTEN 0 128 [::]:22 [::]:* users:(("sshd",pid=35,fd=4)) ino:1002 sk:2 v6only:1 <->',
]
NEW = [line.replace("ino:100", "ino:200") for line in OLD]
# Another service's listener is never taken for sshd's.
OTHER = 'LISTEN 0 4096 127.0.0.1:8902 0.0.0.0:* users:(("python3",pid=77,fd=5)) ino:3001 sk:3 <->'
# ssh.socket (Ubuntu 24.04): systemd holds the socket it handed sshd, through any reload.
ACTIVATED = (
    'LISTEN 0 4096 *:22 *:* users:(("sshd",pid=900,fd=3),("systemd",pid=1,fd=51)) ino:4001 sk:4 <->'
)

# ss: what it lists before the reload, then on each call after it, the last one for ever after.
FAKE_SS = """#!/bin/bash
if [ -f "{tmp}/reloaded" ]; then
  n=$(($(cat "{tmp}/ss-after" 2>/dev/null || echo 0) + 1))
  echo "$n" >"{tmp}/ss-after"
  echo "ss after reload $n" >>"{tmp}/calls.log"
  cat "{tmp}/after/$n" 2>/dev/null || cat "{tmp}/after/last"
else
  echo "ss before reload" >>"{tmp}/calls.log"
  cat "{tmp}/before"
fi
"""


class Host:
    def __init__(self, tmp: Path, before: list[str], after: list[list[str]], ss: bool = True):
        self.tmp = tmp
        stubs = tmp / "bin"
        stubs.mkdir()
        log = tmp / "calls.log"
        (tmp / "before").write_text("".join(f"{line}\n" for line in [OTHER, *before]))
        (tmp / "after").mkdir()
        for n, lines in enumerate(after, 1):
            (tmp / "after" / str(n)).write_text("".join(f"{line}\n" for line in [OTHER, *lines]))
        (tmp / "after" / "last").write_text((tmp / "after" / str(len(after))).read_text())
        (stubs / "systemctl").write_text(
            f'#!/bin/sh\necho "systemctl $*" >>"{log}"\n'
            f'[ "$*" != "reload ssh.service" ] || touch "{tmp}/reloaded"\n'
            '[ "$*" != "is-active -q sshd.service" ]\n'
        )
        (stubs / "sshd").write_text("#!/bin/sh\nexit 0\n")
        (stubs / "sleep").write_text(f'#!/bin/sh\necho "sleep $*" >>"{log}"\n')
        if ss:
            (stubs / "ss").write_text(FAKE_SS.format(tmp=tmp))
            self.path = f"{stubs}:/usr/bin:/bin"
        else:
            # This machine's tools, ss left out.
            tools = tmp / "tools"
            tools.mkdir()
            for tool in Path("/usr/bin").iterdir():
                if tool.name != "ss":
                    (tools / tool.name).symlink_to(tool)
            self.path = f"{stubs}:{tools}"
        for stub in stubs.iterdir():
            stub.chmod(0o755)
        self.dropins = tmp / "sshd_config.d"
        self.dropins.mkdir()
        self.dropin = self.dropins / f"00-portsip-im-{USER}.conf"
        self.dropin.write_text("Match User pbx\n")
        text = script_text("trust")
        assert "/etc/ssh/sshd_config.d/" in text
        self.script = text.replace("/etc/ssh/sshd_config.d/", f"{self.dropins}/")
        (tmp / "home").mkdir()

    def remove(self) -> subprocess.CompletedProcess:
        """The step's destroy, as the command provider runs it over SSH on the IM host."""
        params = {"ACTION": "remove", "PBX_USER": USER, "PUBKEY": KEY}
        return run_step(
            "trust", self.script, params, {"PATH": self.path, "HOME": str(self.tmp / "home")}
        )

    def calls(self) -> list[str]:
        return (self.tmp / "calls.log").read_text().splitlines()


def test_it_returns_once_sshd_listens_on_new_sockets(tmp_path):
    # Twice the old sockets (the signal not handled yet), once none (re-executing), then new ones.
    host = Host(tmp_path, OLD, [OLD, OLD, [], NEW, NEW])
    done = host.remove()
    assert done.returncode == 0, done.stderr
    assert not host.dropin.exists()
    calls = host.calls()
    reload = calls.index("systemctl reload ssh.service")
    assert "ss before reload" in calls[:reload]
    # Not a call more than it took to see the new sockets, and short polls in between.
    assert [c for c in calls[reload:] if c.startswith("ss")][-1] == "ss after reload 4"
    assert [c for c in calls if c.startswith("sleep")] == ["sleep 0.1"] * 3
    assert "reloaded ssh.service; sshd listens again" in done.stdout
    assert done.stdout.index("sshd listens again") < done.stdout.index(f"removed {host.dropin}")
    assert "WARNING" not in done.stderr


def test_a_new_socket_beside_an_old_one_is_not_enough(tmp_path):
    host = Host(tmp_path, OLD, [OLD, [NEW[0], OLD[1]], NEW])
    done = host.remove()
    assert done.returncode == 0, done.stderr
    assert [c for c in host.calls() if c.startswith("ss after")][-1] == "ss after reload 3"


def test_it_waits_for_every_address_not_the_first_one_bound(tmp_path):
    # The old sockets gone, then the re-executed sshd binding its two addresses one by one.
    host = Host(tmp_path, OLD, [OLD, [], [NEW[0]], NEW])
    done = host.remove()
    assert done.returncode == 0, done.stderr
    assert [c for c in host.calls() if c.startswith("ss after")][-1] == "ss after reload 4"


def test_an_sshd_that_does_not_listen_again_is_waited_for_10_s_and_named(tmp_path):
    host = Host(tmp_path, OLD, [[]])
    done = host.remove()
    # The reload is done: the destroy (or the up) goes on, and says what it saw.
    assert done.returncode == 0, done.stderr
    assert "WARNING: sshd did not listen again in about 10 s after reloading ssh.service" in (
        done.stderr
    )
    assert [c for c in host.calls() if c.startswith("sleep")] == ["sleep 0.1"] * 100
    assert f"removed {host.dropin}" in done.stdout


def test_with_ssh_socket_it_does_not_wait(tmp_path):
    # systemd holds the socket through the reload: a dial waits in its queue, never refused.
    host = Host(tmp_path, [ACTIVATED], [[ACTIVATED]])
    done = host.remove()
    assert done.returncode == 0, done.stderr
    calls = host.calls()
    assert "systemctl reload ssh.service" in calls
    assert not [c for c in calls if c.startswith(("ss after", "sleep"))]
    assert "reloaded ssh.service (no listening socket of sshd's own" in done.stdout


def test_without_ss_it_does_not_wait(tmp_path):
    host = Host(tmp_path, OLD, [OLD], ss=False)
    done = host.remove()
    assert done.returncode == 0, done.stderr
    assert "systemctl reload ssh.service" in host.calls()
    assert not [c for c in host.calls() if c.startswith("sleep")]
    assert "reloaded ssh.service (no ss on this host to see sshd listen again)" in done.stdout
