"""What the trust step leaves on the IM host for the pbx user, in the lab over real SSH: password
logins off for pbx alone (an sshd drop-in, removed on destroy), pbx01's key authorized as one
restricted line (from pbx01's address, no forwarding), and a trust-key output that is not exactly
one key refused before anything is written."""

from __future__ import annotations

import os
import shlex
import subprocess
from pathlib import Path

import pytest

from portsip_im.remote import script_text
from tests.lab.guide import Guide, lab_config

pytestmark = pytest.mark.lab

STEPS = ["pbx01-check", "prepare", "trust-key", "trust"]
DROPIN = "/etc/ssh/sshd_config.d/00-portsip-im-pbx.conf"
OPTIONS = "no-port-forwarding,no-agent-forwarding,no-X11-forwarding"


def password_login(lab, tmp: Path, user: str, password: str) -> subprocess.CompletedProcess:
    """ssh USER@IM with a password only (keyboard-interactive too), from this machine."""
    askpass = tmp / "askpass"
    askpass.write_text(f"#!/bin/sh\nprintf '%s\\n' {shlex.quote(password)}\n")
    askpass.chmod(0o700)
    env = {**os.environ, "SSH_ASKPASS": str(askpass), "SSH_ASKPASS_REQUIRE": "force"}
    env.setdefault("DISPLAY", ":0")
    # Dialled with no wait, right after the trust step reloaded sshd (its add and its remove): the
    # step returns only once sshd listens again (tests/unit/test_trust_reload.py).
    return subprocess.run(
        [
            "ssh", "-F", "/dev/null", "-o", "StrictHostKeyChecking=yes",
            "-o", f"UserKnownHostsFile={lab.known_hosts}", "-o", "PubkeyAuthentication=no",
            "-o", "PreferredAuthentications=password,keyboard-interactive",
            "-o", "NumberOfPasswordPrompts=1", "-o", "ConnectTimeout=10",
            f"{user}@{lab.im}", "true",
        ],
        stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60, env=env,
    )  # fmt: skip


def authorized(lab) -> list[str]:
    f = lab.path("im", "/home/pbx/.ssh/authorized_keys")
    return [line for line in f.read_text().splitlines() if line.strip()] if f.exists() else []


@pytest.fixture(scope="module")
def trusted(lab):
    lab.clear_faults()
    lab.reset_pbx01()
    lab.reset_im()
    guide = Guide(lab, lab_config(lab))
    guide.up(only=STEPS)
    yield guide
    undo(guide)


def undo(guide: Guide) -> None:
    """Destroy of the two trust steps (the others here undo nothing or were never run)."""
    for step in ("trust", "trust-key"):
        guide.run(step, "delete")


def test_pbx_logs_in_with_keys_only_and_the_operator_is_untouched(lab, trusted, tmp_path):
    refused = password_login(lab, tmp_path, "pbx", lab.pbx_password)
    assert refused.returncode == 255 and "Permission denied" in refused.stderr, refused.stderr
    assert lab.path("im", DROPIN).exists()
    # The operator's own login (root, with its key) and pbx01's (pbx, with its key) still work.
    lab.ssh("im", "true", check=True)
    lab.ssh("pbx01", f"ssh -o BatchMode=yes pbx@{lab.im} true", user="pbx", check=True)
    assert "password and keyboard-interactive logins off for pbx" in trusted.transcript()
    # The lab's sshd holds its own listening sockets: the step saw it listen again.
    assert "reloaded ssh.service; sshd listens again" in trusted.transcript()


def test_pbx01s_key_is_one_restricted_line(lab, trusted, tmp_path):
    pub = lab.path("pbx01", "/home/pbx/.ssh/id_rsa.pub").read_text().split()
    assert authorized(lab) == [f'from="{lab.pbx01}",{OPTIONS} {pub[0]} {pub[1]}']
    # The same key from another address (this machine, on the lab's bridge) is refused.
    key = tmp_path / "pbx01-key"
    key.write_bytes(lab.path("pbx01", "/home/pbx/.ssh/id_rsa").read_bytes())
    key.chmod(0o600)
    elsewhere = subprocess.run(
        ["ssh", "-F", "/dev/null", "-i", str(key), "-o", "IdentitiesOnly=yes", "-o",
         "BatchMode=yes", "-o", f"UserKnownHostsFile={lab.known_hosts}", "-o",
         "StrictHostKeyChecking=yes", f"pbx@{lab.im}", "true"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert elsewhere.returncode == 255 and "Permission denied" in elsewhere.stderr
    # A second run changes nothing and says so.
    trusted.run("trust")
    assert "already authorized" in trusted.outputs[-1].stdout
    assert "already off" in trusted.outputs[-1].stdout
    assert len(authorized(lab)) == 1


@pytest.mark.parametrize(
    "extra",
    [
        "\nssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIEvilEvilEvilEvil attacker",
        'command="/bin/sh" ',
    ],
    ids=["a second line", "options before the key"],
)
def test_a_trust_key_output_that_is_not_one_key_is_refused(lab, trusted, extra):
    before = authorized(lab)
    good = lab.path("pbx01", "/home/pbx/.ssh/id_rsa.pub").read_text().strip()
    pubkey = good + extra if extra.startswith("\n") else extra + good
    # The step as the program sends it, its parameter altered (the program itself refuses such
    # output before it builds the step: tests/unit/test_trust_key.py).
    done = lab.ssh(
        "im",
        f'bash -c "$(cat)" trust {shlex.quote("PUBKEY=" + pubkey)} PBX01_IP={lab.pbx01}',
        input=script_text("trust"),
    )
    assert done.returncode != 0
    assert "[trust] ERROR: pbx01's public key (the trust-key step's output) is not exactly one" in (
        done.stderr
    )
    assert authorized(lab) == before


def test_destroy_gives_the_host_its_password_logins_back(lab, trusted, tmp_path):
    undo(trusted)
    assert not lab.path("im", DROPIN).exists()
    assert authorized(lab) == []
    # As the lab's host had it before the program: pbx may log in with its password again.
    again = password_login(lab, tmp_path, "pbx", lab.pbx_password)
    assert again.returncode == 0, again.stderr
    trusted.up(only=STEPS)  # for the fixture's own destroy


def test_a_pbx01_address_that_is_not_where_pbx01_comes_from_changes_nothing(lab, trusted):
    # pbx01PrivateIp must agree with the address the IM host sees pbx01's connection come from;
    # a wrong one would lock pbx01 out of pbx@IM, so the step stops before writing anything.
    before = authorized(lab)
    wrong = Guide(lab, lab_config(lab, pbx01PrivateIp=f"{lab.net}.99"))
    wrong.printed = dict(trusted.printed)
    done = wrong.run("trust", check=False)
    assert done.returncode != 0
    assert f"pbx01 reaches this host from {lab.pbx01}, not from pbx01PrivateIp {lab.net}.99" in (
        done.stderr
    )
    assert authorized(lab) == before
