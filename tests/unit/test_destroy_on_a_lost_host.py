"""Destroy on a lost IM host rebuilt blank, its scripts run locally with ssh and im.sh stood in
for. deploy.sh's `im.sh rm` on pbx01: when pbx01 cannot log in to the IM host (refused key, other
host key, no answer), destroy stops and names the operator's way out, the marker on pbx01; with
it, the deployment is forgotten and im.sh never runs. trust.sh's removal on a host without the
pbx user finds nothing to remove. Over the lab: tests/e2e/test_backup_stack.py."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from portsip_im.remote import script_text

IM_IP = "10.0.0.12"
KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHBpbm5lZC1pbS1ob3N0LWtleS11bml0LXRlc3QtMDAw"


def deploy_rm(tmp: Path, ssh_says: str, marked: bool) -> subprocess.CompletedProcess:
    home, bin_dir, guide = tmp / "home", tmp / "bin", tmp / "guide"
    for d in (home / ".ssh", home / ".portsip-im", bin_dir, guide):
        d.mkdir(parents=True, exist_ok=True)
    (home / ".ssh/known_hosts").write_text(f"{IM_IP} {KEY}\n")
    (home / ".portsip-im/deployed").write_text(f"existing:{IM_IP} {IM_IP} 203.0.113.5 ")
    if marked:  # the operator's word, as docs/backups.md gives it
        (home / f".portsip-im/im-host-lost-{IM_IP}").touch()
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


ANSWERS = [
    "pbx@10.0.0.12: Permission denied (publickey).",
    "Host key verification failed.",
    "@    WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!     @",
    f"ssh: connect to host {IM_IP} port 22: Connection timed out",
]


@pytest.mark.parametrize("answer", ANSWERS)
def test_a_host_pbx01_cannot_log_in_to_stops_the_destroy_naming_the_way_out(tmp_path, answer):
    done = deploy_rm(tmp_path, answer, marked=False)
    assert done.returncode != 0
    assert f"touch {tmp_path}/home/.portsip-im/im-host-lost-{IM_IP}" in done.stderr
    assert answer.strip("@ ").split(":")[-1].strip() in done.stderr  # ssh's reason, shown
    assert not (tmp_path / "imsh.log").exists()  # im.sh never ran
    assert (tmp_path / "home/.portsip-im/deployed").exists()  # kept for the next try


@pytest.mark.parametrize("answer", ANSWERS)
def test_marked_lost_it_is_forgotten_without_im_sh(tmp_path, answer):
    done = deploy_rm(tmp_path, answer, marked=True)
    assert done.returncode == 0, done.stderr
    assert not (tmp_path / "imsh.log").exists()
    state = tmp_path / "home/.portsip-im"
    assert not (state / "deployed").exists() and not (state / f"im-host-lost-{IM_IP}").exists()
    assert "marked lost" in done.stdout and "im.sh rm skipped" in done.stdout


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
