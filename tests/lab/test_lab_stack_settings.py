"""`scripts/lab-stack set KEY=VALUE` keeps a setting with the lab stack until it is changed, the way
`pulumi config set` does; PORTSIP_LAB_STACK_SET overrides one run only; secrets are never kept.

These run `scripts/lab-stack configure` (which reads `scripts/lab info`, so the lab must run, and
needs a `pulumi` CLI: PATH or scripts/install-pulumi-engine) and read the stack config it writes.
No `pulumi up`: that is the end-to-end tests' job.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.lab.fixture import REPO

pytestmark = pytest.mark.lab

LAB_STACK = REPO / "scripts" / "lab-stack"


@pytest.fixture
def stack_dir(tmp_path) -> Path:
    return tmp_path / "lab-stack"


def lab_stack(stack_dir: Path, *args: str, one_run: str | None = None, ok: bool | None = True):
    env = {**os.environ, "PORTSIP_LAB_STACK_DIR": str(stack_dir)}
    env.pop("PORTSIP_LAB_STACK_SET", None)
    if one_run is not None:
        env["PORTSIP_LAB_STACK_SET"] = one_run
    done = subprocess.run(
        [str(LAB_STACK), *args], capture_output=True, text=True, timeout=300, env=env
    )
    if ok is True and done.returncode != 0:
        pytest.fail(f"lab-stack {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
    if ok is False and done.returncode == 0:
        pytest.fail(f"lab-stack {' '.join(args)} should have failed:\n{done.stdout}")
    return done


def config_of(stack_dir: Path) -> dict:
    """The lab stack's config as `configure` wrote it, without the namespace."""
    raw = yaml.safe_load((stack_dir / "Pulumi.lab.yaml").read_text())["config"]
    return {k.removeprefix("portsip-im:"): v for k, v in raw.items()}


def test_a_kept_setting_stays_set_across_runs(lab, stack_dir):
    lab_stack(stack_dir, "set", "restartToken=r1")
    for _ in range(2):
        lab_stack(stack_dir, "configure")
        assert config_of(stack_dir)["restartToken"] == "r1"
    # The committed lab stack and the lab's keys are still there; secrets only encrypted.
    config = config_of(stack_dir)
    assert config["privateIp"] == lab.im and config["pbx01HostKey"] == lab.pbx01_host_key
    assert set(config["pbxPassword"]) == {"secure"}
    assert lab.pbx_password not in (stack_dir / "Pulumi.lab.yaml").read_text()
    # Changed, then dropped: as `pulumi config set` and `pulumi config rm` would.
    lab_stack(stack_dir, "set", "restartToken=r2", "imState=stopped")
    lab_stack(stack_dir, "configure")
    assert (config_of(stack_dir)["restartToken"], config_of(stack_dir)["imState"]) == (
        "r2",
        "stopped",
    )
    assert lab_stack(stack_dir, "settings").stdout == "restartToken=r2\nimState=stopped\n"
    lab_stack(stack_dir, "unset", "imState")
    lab_stack(stack_dir, "configure")
    assert "imState" not in config_of(stack_dir)
    assert config_of(stack_dir)["restartToken"] == "r2"
    assert oct((stack_dir / "settings").stat().st_mode & 0o777) == "0o600"


def test_a_one_run_override_lasts_one_run(lab, stack_dir):
    lab_stack(stack_dir, "set", "restartToken=kept")
    lab_stack(stack_dir, "configure", one_run="restartToken=once\nimRelease=22.1")
    assert config_of(stack_dir)["restartToken"] == "once"  # the one-run value wins over the kept
    assert config_of(stack_dir)["imRelease"] == "22.1"
    lab_stack(stack_dir, "configure")
    assert config_of(stack_dir)["restartToken"] == "kept"
    assert "imRelease" not in config_of(stack_dir)


@pytest.mark.parametrize(
    "arg, message",
    [
        ("pbxPassword=hunter2", "set: pbxPassword is a secret, and lab-stack keeps no secret"),
        ("imToken=abc", "set: imToken is a secret"),
        ("sshPrivateKey=x", "set: sshPrivateKey is a secret"),
        ("restart-token=1", "set: 'restart-token' is not a config key (a camelCase name"),
        ("RestartToken=1", "set: 'RestartToken' is not a config key"),
        ("restartTokn=1", "set: unknown config key restartTokn"),
        ("restartToken", "set: 'restartToken' is not KEY=VALUE"),
    ],
)
def test_bad_settings_are_refused_and_nothing_is_kept(lab, stack_dir, arg, message):
    done = lab_stack(stack_dir, "set", "imState=stopped", arg, ok=False)
    assert f"lab-stack: {message}" in done.stderr
    assert (
        not (stack_dir / "settings").exists()
        or "imState" not in (stack_dir / "settings").read_text()
    )
    assert "hunter2" not in done.stdout


def test_a_secret_cannot_slip_in_as_a_one_run_override(lab, stack_dir):
    done = lab_stack(stack_dir, "configure", one_run="pbxAdminPassword=plain", ok=False)
    assert "lab-stack: PORTSIP_LAB_STACK_SET: pbxAdminPassword is a secret" in done.stderr


def test_pulumi_passthrough_reads_the_lab_stacks_config_and_refuses_to_change_it(lab, stack_dir):
    committed = (REPO / "Pulumi.lab.yaml").read_bytes()
    lab_stack(stack_dir, "set", "restartToken=r1")
    lab_stack(stack_dir, "configure")
    # Read through the lab stack's config (the committed file has no restartToken, no host key).
    got = lab_stack(stack_dir, "pulumi", "config", "get", "restartToken")
    assert got.stdout.strip() == "r1"
    listed = lab_stack(stack_dir, "pulumi", "config", "--json").stdout
    assert lab.pbx01_host_key in listed and lab.pbx_password not in listed
    for args in (("config", "set", "restartToken", "r2"), ("config", "rm", "restartToken")):
        done = lab_stack(stack_dir, "pulumi", *args, ok=False)
        assert f"lab-stack: pulumi config {args[1]} is refused" in done.stderr
        assert "scripts/lab-stack set KEY=VALUE" in done.stderr
    done = lab_stack(stack_dir, "pulumi", "stack", "rename", "x", ok=False)
    assert "would write Pulumi.lab.yaml in the repository" in done.stderr
    assert (REPO / "Pulumi.lab.yaml").read_bytes() == committed
    assert not (REPO / "Pulumi.x.yaml").exists()
    assert config_of(stack_dir)["restartToken"] == "r1"


def test_an_unchanged_config_is_reused_and_a_changed_source_rebuilds_it(lab, stack_dir):
    # Rebuilding encrypts each secret again (a key derivation each, and new ciphertexts): an up,
    # preview or destroy reuses the config while nothing it is built from changed.
    lab_stack(stack_dir, "configure")
    config = stack_dir / "Pulumi.lab.yaml"
    built = config.read_text()
    lab_stack(stack_dir, "preview")
    assert config.read_text() == built
    # A secret's file changed (seen by its metadata), then a one-run setting, then none again.
    (stack_dir / "backup-password").write_text("another-lab-backup-password\n")
    lab_stack(stack_dir, "preview")
    assert config.read_text() != built
    got = lab_stack(stack_dir, "pulumi", "config", "get", "backupPassword").stdout.strip()
    assert got == "another-lab-backup-password"
    lab_stack(stack_dir, "preview", one_run="restartToken=once")
    assert config_of(stack_dir)["restartToken"] == "once"
    lab_stack(stack_dir, "preview")
    assert "restartToken" not in config_of(stack_dir)
