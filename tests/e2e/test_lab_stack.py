"""The real Pulumi engine on this project's own directory, against the local lab (target=existing):
preview, up, a no-op up, each day-2 change, key rotation, a wrong host key, an injected failure,
and destroy — asserting on the lab's state, on the commands the hosts ran, and on the engine's
own summary. Driven through scripts/lab-stack, the README's main job.

The command provider here is the project's stand-in (tests/e2e/command_provider): the real one
cannot be built on this machine (README, "Real engine").
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
from pathlib import Path

import pytest

from tests.lab.fixture import REPO

pytestmark = [pytest.mark.e2e, pytest.mark.lab]

VERBS = ("run", "start", "stop", "restart", "rm", "upgrade")


class Stack:
    def __init__(self, lab, tmp: Path):
        self.lab = lab
        self.dir = tmp / "lab-stack"
        self.passphrase = secrets.token_hex(16)
        self.set: dict[str, str] = {}
        self.key: str | None = None
        self.transcript: list[str] = []
        self.env = {
            **os.environ,
            "PORTSIP_LAB_STACK_DIR": str(self.dir),
            "PULUMI_HOME": str(tmp / "pulumi-home"),
            "PULUMI_CONFIG_PASSPHRASE": self.passphrase,
            "PORTSIP_LAB_KEEP": "1",
        }

    def __call__(self, *args: str, ok: bool | None = True) -> subprocess.CompletedProcess:
        """Run scripts/lab-stack; ok=True/False asserts it succeeds/fails, None checks nothing."""
        env = dict(self.env)
        env["PORTSIP_LAB_STACK_SET"] = "\n".join(f"{k}={v}" for k, v in self.set.items())
        if self.key:
            env["PORTSIP_LAB_STACK_KEY"] = self.key
        done = subprocess.run(
            [str(REPO / "scripts" / "lab-stack"), *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=900,
            check=False,
        )
        self.transcript.append(done.stdout + done.stderr)
        if ok and done.returncode != 0:
            pytest.fail(f"lab-stack {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
        if ok is False and done.returncode == 0:
            pytest.fail(f"lab-stack {' '.join(args)} should have failed:\n{done.stdout}")
        return done

    def outputs(self) -> dict:
        return json.loads(self("pulumi", "stack", "output", "--json").stdout)


def remote_commands(lab) -> int:
    return len(lab.commands("pbx01")) + len(lab.commands("im"))


def counters(lab) -> dict[str, int]:
    c = lab.standin_state().get("counters", {})
    return {v: int(c.get(v, 0)) for v in VERBS}


def ours(lab) -> list[str]:
    return sorted(
        e["cidr"]
        for e in lab.api_state()["ip_filters"]
        if e.get("description", "").startswith("portsip-im:portsip-im/")
    )


@pytest.fixture(scope="module")
def stack(lab, tmp_path_factory):
    lab.clear_faults()
    lab.reset_pbx01()
    lab.reset_im()
    s = Stack(lab, tmp_path_factory.mktemp("e2e"))
    yield s
    # Whatever happened, leave the lab as it started.
    if s.dir.exists():
        s("destroy", ok=None)


class TestLabStack:
    def test_preview_shows_the_steps_and_creates_nothing(self, lab, stack):
        before = remote_commands(lab)
        out = stack("preview").stdout
        for step in ("im-prepare", "im-whitelist", "im-token", "im-trust", "im-deploy", "im-state"):
            assert f"command:remote:Command {step}" in out
        assert "portsip:im:ImServer im" in out and "14 to create" in out
        assert remote_commands(lab) == before
        assert not lab.standin_state()["installed"]

    def test_up_runs_every_step(self, lab, stack):
        out = stack("up").stdout
        assert "14 created" in out
        assert lab.tcp_open("im", 8887)
        assert counters(lab)["run"] == 1
        assert ours(lab) == sorted([f"{lab.im}/32", f"{lab.im_public}/32"])
        o = stack.outputs()
        assert o["imEndpoint"] == f"{lab.im_public}:8887"
        assert o["imPrivateIp"] == lab.im and o["target"] == "existing"
        assert o["imHealth"]["imPort8887"] == "open"

    def test_second_up_changes_nothing_and_runs_no_remote_command(self, lab, stack):
        before = remote_commands(lab)
        out = stack("up").stdout
        assert "14 unchanged" in out
        assert remote_commands(lab) == before

    def test_stopped_then_running_run_only_their_verb(self, lab, stack):
        before = counters(lab)
        stack.set["imState"] = "stopped"
        stack("up")
        assert counters(lab) == {**before, "stop": before["stop"] + 1}
        assert not lab.tcp_open("im", 8887)
        assert stack.outputs()["imHealth"]["imPort8887"] == "closed"
        stack.set["imState"] = "running"
        stack("up")
        assert counters(lab) == {**before, "stop": before["stop"] + 1, "start": before["start"] + 1}
        assert lab.tcp_open("im", 8887)

    def test_restart_token_runs_only_restart(self, lab, stack):
        before = counters(lab)
        stack.set["restartToken"] = "2026-11-25T12:00"
        stack("up")
        assert counters(lab) == {**before, "restart": before["restart"] + 1}

    def test_release_bump_runs_only_upgrade(self, lab, stack):
        before, token = counters(lab), lab.im_token()
        stack.set["imRelease"] = "22.1"
        stack("up")
        assert counters(lab) == {**before, "upgrade": before["upgrade"] + 1}
        assert lab.im_token() != token

    def test_state_and_engine_output_hold_no_secret(self, lab, stack):
        exported = stack("pulumi", "stack", "export", "--show-secrets=false").stdout
        assert '"secure"' in exported or "ciphertext" in exported
        private_key = Path(lab.key).read_text()
        values = [lab.pbx_password, lab.pbx_admin.password, lab.im_token()]
        values += [line for line in private_key.splitlines() if len(line) > 20]
        for where, text in (("state", exported), ("engine output", "\n".join(stack.transcript))):
            for value in values:
                assert value not in text, f"a secret in the {where}"

    def test_rotating_the_ssh_key_runs_no_vendor_verb(self, lab, stack, tmp_path):
        new = tmp_path / "rotated"
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(new)], check=True)
        pub = new.with_suffix(".pub").read_text()
        for host, user in (("pbx01", "pbx"), ("pbx01", "root"), ("im", "root")):
            lab.ssh(host, "cat >> ~/.ssh/authorized_keys", user=user, input=pub, check=True)
        before = counters(lab)
        stack.key = str(new)
        stack("up")
        assert counters(lab) == before

    def test_wrong_pinned_host_key_fails_before_any_remote_command(self, lab, stack):
        before = remote_commands(lab)
        stack.set["restartToken"] = "after-a-wrong-key"  # a change, so a step would run
        stack.set["pbx01HostKey"] = lab.im_host_key  # the IM host's key is not pbx01's
        done = stack("up", ok=False)
        assert "Host key verification failed" in done.stdout + done.stderr
        assert remote_commands(lab) == before
        del stack.set["pbx01HostKey"]

    def test_destroy_runs_rm_and_leaves_the_lab_as_it_started(self, lab, stack):
        before = counters(lab)
        stack("destroy")
        assert counters(lab)["rm"] == before["rm"] + 1
        assert not lab.standin_state()["installed"]
        assert ours(lab) == []
        known = lab.ssh("pbx01", "cat ~/.ssh/known_hosts 2>/dev/null || true", user="pbx").stdout
        assert lab.im not in known
        pub = lab.ssh("pbx01", "cat ~/.ssh/id_rsa.pub", user="pbx", check=True).stdout.strip()
        assert pub not in lab.ssh("im", "cat ~pbx/.ssh/authorized_keys 2>/dev/null || true").stdout

    def test_failed_deploy_leaves_a_stack_the_next_up_completes(self, lab, stack):
        stack.set.pop("restartToken", None)
        lab.fail_next_imsh()
        done = stack("up", ok=False)
        assert "im.sh run failed" in done.stdout + done.stderr
        assert not lab.tcp_open("im", 8887)
        stack("up")
        assert lab.tcp_open("im", 8887)
        stack("destroy")
        assert not lab.standin_state()["installed"]
