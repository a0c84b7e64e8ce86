"""hostFirewall in the lab, over real SSH and exactly as the component builds the step: the IM
host's own nftables table admits SSH from pbx01 and adminCidrs and TCP 8887 from clientCidrs, and
drops the rest, as seen from an address inside and outside each range (a network namespace on the
lab's bridge, and this machine); a wrong pbx01 address fails the step and the rules go by
themselves (the rollback); destroy removes the table and its boot unit."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

import portsip_im.steps.firewall  # noqa: F401  (the module, beside the function of its name)
from lab.config import BRIDGE
from tests.lab.guide import Guide, lab_config

pytestmark = pytest.mark.lab

firewall_step = sys.modules["portsip_im.steps.firewall"]
STEPS = ["pbx01-check", "prepare", "trust-key", "trust"]
UNIT = "/etc/systemd/system/portsip-im-firewall.service"
RULES = "/etc/portsip-im/firewall.nft"
ROLLBACK = 20  # seconds: short for the tests (the program's default is 60)
OTHER_PORT = 9999  # nothing listens there: refused without the firewall, dropped with it

PROBE = """
import socket, sys
s = socket.socket()
s.settimeout(3)
try:
    s.connect((sys.argv[1], int(sys.argv[2])))
    print("reached")
except ConnectionRefusedError:
    print("reached")  # the host answered (nothing listens): not dropped
except OSError:
    print("dropped")
"""


class Probe:
    """TCP connects to the IM host from a network namespace on the lab's bridge (an address of
    its own in the lab's /24) and from this machine (the bridge's address)."""

    def __init__(self, lab) -> None:
        cluster = int(lab.net.split(".")[2]) - 6
        self.lab = lab
        self.ns = f"pimfw{cluster}"
        self.veth = f"pimfw{cluster}h"
        self.ip = f"{lab.net}.201"
        self.machine = f"{lab.net}.1"

    def up(self) -> None:
        self.down()
        for cmd in (
            ["ip", "netns", "add", self.ns],
            ["ip", "link", "add", self.veth, "type", "veth", "peer", "name", "eth0", "netns",
             self.ns],
            ["ip", "link", "set", self.veth, "master", BRIDGE, "up"],
            ["ip", "-n", self.ns, "addr", "add", f"{self.ip}/24", "dev", "eth0"],
            ["ip", "-n", self.ns, "link", "set", "eth0", "up"],
            ["ip", "-n", self.ns, "link", "set", "lo", "up"],
        ):  # fmt: skip
            subprocess.run(cmd, check=True, capture_output=True, text=True)
        # The namespace is on the lab's network: pbx01's SSH (no firewall there) answers it.
        deadline = time.monotonic() + 20
        while self.tcp(22, host=self.lab.pbx01) != "reached":
            assert time.monotonic() < deadline, "the test's namespace cannot reach the lab"

    def down(self) -> None:
        subprocess.run(["ip", "netns", "del", self.ns], capture_output=True)
        subprocess.run(["ip", "link", "del", self.veth], capture_output=True)

    def tcp(self, port: int, from_ns: bool = True, host: str | None = None) -> str:
        cmd = [sys.executable, "-c", PROBE, host or self.lab.im, str(port)]
        if from_ns:
            cmd = ["ip", "netns", "exec", self.ns, *cmd]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=30).stdout.strip()


def table_loaded(lab) -> bool:
    done = subprocess.run(
        ["nsenter", "-t", init_pid(lab), "-m", "-n", "-p", "--",
         "nft", "list", "table", "inet", "portsip_im"],
        capture_output=True,
    )  # fmt: skip
    return done.returncode == 0


def init_pid(lab) -> str:
    state = json.loads((Path(lab.run_dir) / "state.json").read_text())
    return str(state["hosts"]["im"]["init_pid"])


def pbx01_logs_in(lab) -> None:
    lab.ssh("pbx01", f"ssh -o BatchMode=yes pbx@{lab.im} true", user="pbx", check=True)


@pytest.fixture(scope="module")
def probe(lab):
    p = Probe(lab)
    try:
        p.up()
        yield p
    finally:
        p.down()


@pytest.fixture(scope="module")
def guide(lab, probe):
    lab.clear_faults()
    lab.reset_pbx01()
    lab.reset_im()
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(firewall_step, "ROLLBACK_SECONDS", ROLLBACK)
        g = Guide(lab, lab_config(lab))
        g.up(only=STEPS)
        # Without the option (as before): nothing filtered.
        assert "firewall" not in g.steps()
        assert probe.tcp(OTHER_PORT) == "reached" and probe.tcp(22) == "reached"
        try:
            yield g
        finally:
            walled(g).run("firewall", "delete", check=False)
            for step in ("trust", "trust-key"):
                g.run(step, "delete", check=False)


def walled(guide: Guide, **config: str) -> Guide:
    return Guide(guide.lab, lab_config(guide.lab, hostFirewall="true", **config), guide.printed)


def test_each_range_admits_what_it_holds_and_nothing_else(lab, guide, probe):
    inside = f'["{probe.ip}/32"]'
    # Clients: the namespace alone; no admins: SSH from pbx01 only.
    g = walled(guide, clientCidrs=inside, adminCidrs="[]")
    g.run("firewall")
    assert "rollback cancelled" in g.outputs[-1].stdout
    assert probe.tcp(8887) == "reached"
    assert probe.tcp(22) == "dropped"
    assert probe.tcp(8887, from_ns=False) == "dropped"
    assert probe.tcp(22, from_ns=False) == "dropped"
    assert probe.tcp(OTHER_PORT) == "dropped"
    pbx01_logs_in(lab)
    assert lab.path("im", UNIT).exists() and table_loaded(lab)
    units = lab.inside(
        "im",
        "systemctl is-enabled portsip-im-firewall.service; "
        "systemctl is-active portsip-im-firewall-rollback.timer || true",
    ).stdout.split()
    assert units == ["enabled", "inactive"]
    # Again: nothing to do, and it says so.
    g.run("firewall")
    assert "already in force" in g.outputs[-1].stdout

    # No clients at all; the namespace as an admin network.
    g = walled(guide, clientCidrs="[]", adminCidrs=inside)
    g.run("firewall")
    assert probe.tcp(8887) == "dropped"
    assert probe.tcp(22) == "reached"
    assert probe.tcp(22, from_ns=False) == "dropped"
    pbx01_logs_in(lab)

    # The default clients (everyone); this machine as the admin network.
    g = walled(guide, adminCidrs=f'["{probe.machine}/32"]')
    g.run("firewall")
    assert probe.tcp(8887) == "reached" and probe.tcp(8887, from_ns=False) == "reached"
    assert probe.tcp(22) == "dropped" and probe.tcp(22, from_ns=False) == "reached"
    assert probe.tcp(OTHER_PORT) == "dropped"
    pbx01_logs_in(lab)
    rules = lab.path("im", RULES).read_text()
    assert rules.count("table inet portsip_im") == 3 and "flush" not in rules


def test_a_wrong_pbx01_address_fails_the_step_and_the_rules_go_by_themselves(lab, guide, probe):
    wrong = f"{lab.net}.202"  # in the lab's /24, but not pbx01
    g = walled(guide, pbx01PrivateIp=wrong, adminCidrs="[]")
    done = g.run("firewall", check=False)
    assert done.returncode != 0
    assert "the firewall is being rolled back by itself within 20 s" in done.stderr, done.stderr
    assert "pbx01PrivateIp" in done.stderr and "adminCidrs" in done.stderr
    assert (
        not lab.path("im", UNIT).exists()
        or "enabled"
        not in lab.inside(
            "im", "systemctl is-enabled portsip-im-firewall.service || true"
        ).stdout.split()
    )
    deadline = time.monotonic() + ROLLBACK + 10  # the timer fires ROLLBACK s after the rules load
    while table_loaded(lab):
        if time.monotonic() > deadline:
            seen = lab.inside(
                "im",
                "systemctl list-timers --all --no-pager | grep portsip; "
                "journalctl --no-pager -n 40 -u portsip-im-firewall-rollback.service "
                "-u portsip-im-firewall-rollback.timer -u portsip-im-firewall.service; true",
            ).stdout
            pytest.fail(f"the rollback did not delete the table:\n{done.stdout}{done.stderr}{seen}")
        time.sleep(1)
    assert probe.tcp(OTHER_PORT) == "reached"
    pbx01_logs_in(lab)


def test_destroy_removes_the_table_and_its_unit(lab, guide, probe):
    g = walled(guide)
    g.run("firewall")
    assert table_loaded(lab) and probe.tcp(OTHER_PORT) == "dropped"
    g.run("firewall", "delete")
    assert "deleted table inet portsip_im" in g.outputs[-1].stdout
    assert not table_loaded(lab)
    assert not lab.path("im", UNIT).exists() and not lab.path("im", RULES).exists()
    assert probe.tcp(OTHER_PORT) == "reached"
    g.run("firewall", "delete")
    assert "nothing to remove" in g.outputs[-1].stdout
