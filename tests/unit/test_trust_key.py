"""trust-key.sh on pbx01, run locally (HOME a temporary directory; ssh-keygen the real one): pbx01
ends up trusting exactly the pinned IM host key, and says when it replaced or dropped others."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from portsip_im.remote import script_text

IM_IP = "10.0.0.12"
PINNED = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHBpbm5lZC1pbS1ob3N0LWtleS11bml0LXRlc3QtMDAw"
OLD = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIG9sZC12bS1pbS1ob3N0LWtleS11bml0LXRlc3QtMDAwMDAw"
OLD_RSA = "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAAAgQC7b2xkLXZtLXJzYS1rZXk="


def trust_key(home: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["bash", "-c", script_text("trust-key"), "trust-key", f"IM_IP={IM_IP}"]
        + [f"IM_HOST_KEY={PINNED}"],
        input="",
        capture_output=True,
        text=True,
        timeout=120,
        env={"HOME": str(home), "PATH": "/usr/bin:/bin"},
    )


def entries(home: Path) -> list[str]:
    text = (home / ".ssh/known_hosts").read_text()
    return [line.split(None, 1)[1] for line in text.splitlines() if line.startswith(IM_IP)]


@pytest.fixture
def home(tmp_path: Path) -> Path:
    (tmp_path / ".ssh").mkdir(mode=0o700)
    # pbx01's own key exists already: the step would otherwise make a 4096-bit one (slow).
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(tmp_path / ".ssh/id_rsa")],
        check=True,
    )
    return tmp_path


def test_a_first_pin(home):
    done = trust_key(home)
    assert done.returncode == 0, done.stderr
    assert entries(home) == [PINNED]
    assert f"pinned the IM host key for {IM_IP}" in done.stderr and "replaced" not in done.stderr
    assert "already pinned" in trust_key(home).stderr  # and a second run changes nothing
    assert entries(home) == [PINNED]


def test_an_old_vms_keys_are_replaced_and_it_says_so(home):
    (home / ".ssh/known_hosts").write_text(f"{IM_IP} {OLD}\n{IM_IP} {OLD_RSA}\n")
    done = trust_key(home)
    assert done.returncode == 0, done.stderr
    assert entries(home) == [PINNED]
    assert (
        f"replaced the key(s) pbx01 trusted for {IM_IP} (ssh-ed25519,ssh-rsa) with the pinned one"
        in done.stderr
    )


def test_keys_beside_the_pinned_one_are_dropped_and_it_says_so(home):
    (home / ".ssh/known_hosts").write_text(f"{IM_IP} {OLD}\n{IM_IP} {PINNED}\n{IM_IP} {OLD_RSA}\n")
    done = trust_key(home)
    assert done.returncode == 0, done.stderr
    assert entries(home) == [PINNED]
    assert "already pinned; removed the other key(s) pbx01 held for it (ssh-ed25519,ssh-rsa)" in (
        done.stderr
    )


def test_other_hosts_entries_are_kept(home):
    other = "10.0.0.99 " + OLD
    (home / ".ssh/known_hosts").write_text(f"{other}\n{IM_IP} {OLD}\n")
    assert trust_key(home).returncode == 0
    assert other in (home / ".ssh/known_hosts").read_text().splitlines()


# The trust-key step's output, as the program reads it before the trust step authorizes it.
GOOD = "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAAAgQC7cGJ4MDEta2V5 pbx@pbx01 portsip-im"


def test_the_output_is_taken_as_one_public_key_line():
    import pulumi

    from portsip_im.steps.trust import one_public_key

    assert one_public_key(f"\n{GOOD}\n") == GOOD
    for bad in (
        f"{GOOD}\nssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIEvil attacker",  # a second line
        f'command="/bin/sh" {GOOD}',  # options before the key
        f"{GOOD} ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIEvil",  # a second key on the line
        "",
    ):
        with pytest.raises(pulumi.RunError, match="not exactly one OpenSSH public key line"):
            one_public_key(bad)
