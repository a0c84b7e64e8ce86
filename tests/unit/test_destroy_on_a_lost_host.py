"""Destroy on a lost IM host rebuilt blank, its scripts run locally with ssh and im.sh stood in
for. deploy.sh's `im.sh rm` on pbx01: an IM host that refuses pbx01's key or shows another host
key holds nothing of the stack, so destroy forgets the deployment without running im.sh; a host
that does not answer is no such proof, and destroy still fails there. trust.sh's removal on a host
without the pbx user finds nothing to remove. Over the lab: tests/e2e/test_backup_stack.py."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from portsip_im.remote import script_text

IM_IP = "10.0.0.12"
KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHBpbm5lZC1pbS1ob3N0LWtleS11bml0LXRlc3QtMDAw"


def deploy_rm(tmp: Path, ssh_says: str) -> subprocess.CompletedProcess:
    home, bin_dir, guide = tmp / "home", tmp / "bin", tmp / "guide"
    for d in (home / ".ssh", home / ".portsip-im", bin_dir, guide):
        d.mkdir(parents=True, exist_ok=True)
    (home / ".ssh/known_hosts").write_text(f"{IM_IP} {KEY}\n")
    (home / ".portsip-im/deployed").write_text(f"existing:{IM_IP} {IM_IP} 203.0.113.5 ")
    # ssh: what the IM host answers now; im.sh: records that it ran, and fails as the real one
    # does when it cannot reach the host.
    (bin_dir / "ssh").write_text(f"#!/bin/sh\necho '{ssh_says}' >&2\nexit 255\n")
    (guide / "im.sh").write_text(
        f'echo "im.sh $*" >>"{tmp}/imsh.log"\necho "[error]: cannot reach {IM_IP}"\nexit 1\n'
    )
    (bin_dir / "ssh").chmod(0o755)
    return subprocess.run(
        ["bash", "-c", script_text("deploy", ["pbx-api", "vendor"]), "deploy"]
        + ["ACTION=rm", f"HOST_ID=existing:{IM_IP}", f"PRIVATE_IP={IM_IP}"]
        + ["PUBLIC_IP=203.0.113.5", f"GUIDE_DIR={guide}"],
        input="",
        capture_output=True,
        text=True,
        timeout=120,
        env={"HOME": str(home), "PATH": f"{bin_dir}:/usr/bin:/bin"},
    )


@pytest.mark.parametrize(
    "answer",
    [
        "pbx@10.0.0.12: Permission denied (publickey).",
        "Host key verification failed.",
        "@    WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!     @",
    ],
)
def test_a_host_that_refuses_pbx01_is_forgotten_without_im_sh(tmp_path, answer):
    done = deploy_rm(tmp_path, answer)
    assert done.returncode == 0, done.stderr
    assert not (tmp_path / "imsh.log").exists()  # im.sh never ran
    assert not (tmp_path / "home/.portsip-im/deployed").exists()
    assert "im.sh rm skipped" in done.stderr and "forgotten" in done.stdout


def test_a_host_that_does_not_answer_still_fails_the_destroy(tmp_path):
    done = deploy_rm(tmp_path, f"ssh: connect to host {IM_IP} port 22: Connection timed out")
    assert done.returncode != 0
    assert (tmp_path / "imsh.log").read_text().startswith("im.sh rm")
    assert "im.sh rm failed" in done.stderr
    assert (tmp_path / "home/.portsip-im/deployed").exists()  # kept for the next try


def test_trust_removal_on_a_host_without_the_pbx_user_finds_nothing_to_remove():
    done = subprocess.run(
        ["bash", "-c", script_text("trust"), "trust"]
        + ["ACTION=remove", "PBX_USER=no-such-user-portsip-im", f"PUBKEY={KEY} pbx@pbx01"],
        input="",
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "no user no-such-user-portsip-im on the IM host" in done.stdout
