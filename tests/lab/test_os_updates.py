"""prepare's OS updates and its waits, in the lab.

applyOsUpdates on (issue 19, item 3): the IM host's only package source is the lab's own apt
repository (tests/lab/apt_repo.py, on the bridge's address), holding a newer version of a package
the host has. prepare applies it once, before the install, waiting for dpkg's lock that another
apt holds (issue 17, item 2); after the IM service is deployed, a re-run of prepare with a changed
input fetches nothing and upgrades nothing, even with a newer version published: shown by apt's
own history on the IM host and the repository's log.

A host still booting (issue 17, item 2): with /run/nologin there (pam_nologin refuses every login
but root's), prepare waits until it goes, and says that it waited."""

from __future__ import annotations

import shlex

import pytest

from lab.config import BRIDGE_IP
from tests.lab.apt_repo import PACKAGE, apt_repo
from tests.lab.guide import Guide, lab_config
from tests.lab.test_guide_steps import fresh

pytestmark = pytest.mark.lab


def installed(lab) -> str:
    return lab.path("im", f"/usr/share/{PACKAGE}/version").read_text().strip()


def upgrades(lab) -> int:
    """apt's history on the IM host: how many runs upgraded the lab's package."""
    history = lab.path("im", "/var/log/apt/history.log")
    text = history.read_text() if history.exists() else ""
    return sum(1 for line in text.splitlines() if line.startswith("Upgrade:") and PACKAGE in line)


@pytest.fixture
def updates_on(lab, tmp_path):
    fresh(lab)
    with apt_repo(tmp_path, BRIDGE_IP) as repo:
        old = repo.publish("1.0")
        (lab.path("im", "/root") / old.name).write_bytes(old.read_bytes())
        # The lab repository becomes the host's only package source.
        lab.ssh(
            "im",
            f"dpkg -i /root/{old.name} >/dev/null && rm /root/{old.name} && "
            "rm -f /etc/apt/sources.list.d/* && cat >/etc/apt/sources.list",
            input=repo.source_line() + "\n",
            check=True,
        )
        assert installed(lab) == "1.0" and upgrades(lab) == 0
        repo.publish("1.1")
        yield repo
    fresh(lab)  # the IM host back to its own package sources and blank


def in_background(lab, script: str, started: str) -> None:
    """Run `script` on the IM host, detached, and return once it has created the file `started`."""
    lab.ssh(
        "im",
        f"rm -f {started}; setsid nohup sh -c {shlex.quote(script)} >/dev/null 2>&1 </dev/null & "
        f"for i in $(seq 100); do [ -e {started} ] && exit 0; sleep 0.1; done; exit 1",
        check=True,
    )


# Holds apt's two locks as apt-daily and unattended-upgrades do (fcntl locks), for 8 s: the package
# lists' (apt-get update) and dpkg's frontend lock (dist-upgrade).
HOLD_APT_LOCKS = (
    "python3 -c 'import fcntl, time; "
    'locks = [open(p, "w") for p in ("/var/lib/apt/lists/lock", "/var/lib/dpkg/lock-frontend")]; '
    "[fcntl.lockf(f, fcntl.LOCK_EX) for f in locks]; "
    'open("/run/lab-apt-locked", "w"); time.sleep(8)\''
)


def test_updates_apply_once_before_the_install_and_never_again(lab, updates_on):
    repo = updates_on
    guide = Guide(lab, lab_config(lab, applyOsUpdates="true"))
    guide.run("pbx01-check")
    # Another apt (apt-daily, unattended-upgrades on a fresh VM) holds apt's locks: prepare waits.
    in_background(lab, HOLD_APT_LOCKS, "/run/lab-apt-locked")
    guide.run("prepare")
    assert "updates: applied (1 packages were upgradable)" in guide.printed["prepare"]
    assert installed(lab) == "1.1" and upgrades(lab) == 1
    assert any(path.endswith(f"{PACKAGE}_1.1_all.deb") for path in repo.requests), repo.requests

    guide.up(only=["whitelist", "token", "trust-key", "trust", "deploy"])
    assert lab.tcp_open("im", 8887)

    repo.publish("1.2")
    fetched = len(repo.requests)
    guide.config = lab_config(lab, applyOsUpdates="true", pbxPassword="changed-in-the-lab")
    again = guide.run("prepare")
    assert "updates: applied before the install" in again.stdout, again.stdout
    assert installed(lab) == "1.1" and upgrades(lab) == 1
    assert repo.requests[fetched:] == [], "prepare fetched from the package source again"
    assert lab.tcp_open("im", 8887)


def test_prepare_waits_for_a_host_still_booting(lab):
    fresh(lab)
    lab.ssh("im", "printf 'System is booting up.\\n' >/run/nologin", check=True)
    in_background(lab, "touch /run/lab-booting; sleep 6; rm -f /run/nologin", "/run/lab-booting")
    guide = Guide(lab, lab_config(lab))
    guide.run("pbx01-check")
    said = guide.run("prepare").stdout
    assert "boot: the host is still booting (logins refused); waiting up to" in said, said
    assert "boot: finished" in said, said
    assert lab.ssh("im", "test ! -e /run/nologin").returncode == 0
    fresh(lab)
