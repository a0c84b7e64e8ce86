"""Host key pinning as the real command provider (Go's x/crypto/ssh) does it, against the lab's
sshd: one `command:remote:Command` to pbx01 in a throw-away project, pinned three ways.

The provider offers the server exactly the pinned key's type. An ed25519 pin connects; a wrong pin
fails in the handshake, before any command runs; an RSA pin asks for `ssh-rsa` (SHA-1), which the
lab's OpenSSH refuses, so the program rejects RSA pins at preview
(tests/unit/test_bad_input_program.py, and the lab stack in test_lab_stack.py).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.engine import Project, engine_env

pytestmark = [pytest.mark.e2e, pytest.mark.lab]

PROGRAM = """
    import pulumi
    import pulumi_command as command

    cfg = pulumi.Config()
    ran = command.remote.Command(
        "pinned",
        connection=command.remote.ConnectionArgs(
            host=cfg.require("host"),
            user="pbx",
            private_key=cfg.require_secret("key"),
            host_key=cfg.require("hostKey"),
            dial_error_limit=4,
            per_dial_timeout=5,
        ),
        create="echo pinned-connection-ok",
    )
    pulumi.export("stdout", ran.stdout)
    """


@pytest.fixture
def project(lab, tmp_path) -> Project:
    p = Project(tmp_path / "pinned", PROGRAM, engine_env(tmp_path / "pulumi-home"))
    p.init("t", config={"host": lab.pbx01}, secret={"key": Path(lab.key).read_text()})
    return p


def pbx01_commands(lab) -> list[str]:
    return [c for c in lab.commands("pbx01") if "pinned-connection-ok" in c]


def test_an_ed25519_pin_connects(lab, project):
    assert lab.pbx01_host_key.startswith("ssh-ed25519 ")
    project.set("t", "hostKey", lab.pbx01_host_key)
    project.up("t")
    out = project.pulumi("stack", "output", "--stack", "t", "stdout").stdout
    assert "pinned-connection-ok" in out
    assert len(pbx01_commands(lab)) >= 1


def test_a_wrong_pin_fails_before_any_command_runs(lab, project):
    before = len(pbx01_commands(lab))
    project.set("t", "hostKey", lab.im_host_key)  # a real key, but the IM host's
    done = project.up("t", check=False)
    assert done.returncode != 0
    assert "ssh: handshake failed: ssh: host key mismatch" in done.stdout + done.stderr
    assert len(pbx01_commands(lab)) == before


def test_an_rsa_pin_finds_no_common_host_key_algorithm(lab, project):
    rsa = lab.path("pbx01", "/etc/ssh/ssh_host_rsa_key.pub").read_text().split()
    before = len(pbx01_commands(lab))
    project.set("t", "hostKey", f"{rsa[0]} {rsa[1]}")
    done = project.up("t", check=False)
    out = done.stdout + done.stderr
    assert done.returncode != 0
    # The very key pbx01 has, refused because the provider asks for SHA-1 signatures only.
    assert "no common algorithm for host key" in out and "we offered: [ssh-rsa]" in out
    assert len(pbx01_commands(lab)) == before
