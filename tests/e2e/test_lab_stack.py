"""The real Pulumi engine on this project's own directory, against the local lab (target=existing):
preview, up, a no-op up, each day-2 change (one of them kept with `lab-stack set`), a vendor
`[error]` printed with exit status 0, key and connection changes, a wrong host key, an RSA pin, an
injected failure, pbx01 going down mid-up, and destroy — asserting on the lab's state, on the
commands the hosts ran, on the processes the machine ran, and on the engine's own summary; at the
end, no secret the module ever used is in any state, output, log or sampled argv. Driven through
scripts/lab-stack, the README's main job, with the real command provider v1.2.1: the first up
hashes the running plugin's executable against the stamp of the binary
scripts/install-pulumi-engine built (tests/e2e/test_engine_build.py shows what that binary is).
"""

from __future__ import annotations

import re
import subprocess

import pytest

from tests.e2e.engine import engine_env, stamp
from tests.e2e.stack import (
    ENGINE_BINARIES,
    counters,
    fresh_stack,
    imsh_calls,
    ours,
    remote_commands,
    wait_for,
    without_outputs_block,
)
from tests.lab.fixture import REPO

# deploy's command as pbx01's log holds it: bash -c COMMAND deploy DIGEST HOST_ID=...
DEPLOY = re.compile(r" deploy [0-9a-f]{16} HOST_ID=")


pytestmark = [pytest.mark.e2e, pytest.mark.lab]


# Where the lab authorises the operator key (lab/provision.py, lab/standins.py): pbx01's pbx and
# root, the IM host's root.
AUTHORIZED = (
    ("pbx01", "/home/pbx/.ssh/authorized_keys"),
    ("pbx01", "/root/.ssh/authorized_keys"),
    ("im", "/root/.ssh/authorized_keys"),
)


@pytest.fixture(scope="module")
def stack(lab, tmp_path_factory):
    key, saved = lab.key, {}
    try:
        with fresh_stack(lab, tmp_path_factory.mktemp("e2e")) as s:
            saved.update({(h, f): lab.path(h, f).read_text() for h, f in AUTHORIZED})
            yield s
    finally:
        # The key rotation took the lab's key away: give it back (after fresh_stack's destroy,
        # which runs with the rotated key), for the modules that follow.
        for (h, f), text in saved.items():
            lab.path(h, f).write_text(text)
        lab.key = key


class TestLabStack:
    def test_an_rsa_host_key_pin_is_refused_at_preview(self, lab, stack):
        # tests/e2e/test_host_keys.py shows the provider failing with such a pin on the lab's sshd.
        rsa = lab.path("pbx01", "/etc/ssh/ssh_host_rsa_key.pub").read_text().split()[:2]
        before = remote_commands(lab)
        stack.set["pbx01HostKey"] = " ".join(rsa)
        try:
            done = stack("preview", ok=False)
        finally:
            del stack.set["pbx01HostKey"]
        out = done.stdout + done.stderr
        assert "portsip-im:pbx01HostKey" in out and "ssh-keyscan -t ed25519 HOST" in out
        assert "Traceback" not in out
        assert remote_commands(lab) == before

    def test_preview_shows_the_steps_and_creates_nothing(self, lab, stack):
        before = remote_commands(lab)
        out = stack("preview").stdout
        for step in ("im-prepare", "im-whitelist", "im-token", "im-trust", "im-deploy", "im-state"):
            assert f"command:remote:Command {step}" in out
        assert "portsip:im:ImServer im" in out and "14 to create" in out
        assert remote_commands(lab) == before
        assert not lab.standin_state()["installed"]

    def test_the_policy_pack_passes_the_lab_stack(self, lab, stack):
        # The language host starts the pack (policy/venv, made by scripts/setup); every remote
        # step's connection and proxy pin a host key and no command text carries a secret.
        # (tests/policy/test_pack_engine.py shows the same pack failing stacks that break it.)
        done = stack("preview", "--policy-pack", str(REPO / "policy"))
        out = done.stdout + done.stderr
        assert "portsip-im-guardrails@v" in out
        assert "mandatory" not in out.lower()

    def test_up_runs_every_step_through_pbx01_with_no_secret_in_any_argv(self, lab, stack):
        logged = {host: len(lab.argv_log(host)) for host in ("pbx01", "im")}
        with stack.sampled() as argv:
            out = stack("up").stdout
        assert "14 created" in out
        assert lab.tcp_open("im", 8887)
        assert counters(lab)["run"] == 1
        assert ours(lab) == sorted([f"{lab.im}/32", f"{lab.im_public}/32"])
        o = stack.outputs()
        assert o["imEndpoint"] == f"{lab.im_public}:8887"
        assert o["imPrivateIp"] == lab.im and o["target"] == "existing"
        assert o["imHealth"]["imPort8887"] == "open"
        # The IM host's steps came through pbx01 (the provider's `proxy`), both ends pinned.
        clients = {e["client"] for e in lab.command_log("im") if e["user"] == "root"}
        assert clients == {lab.pbx01}, clients
        # Every curl/ssh/python3/chpasswd call on the hosts (the lab's argv log), and every
        # command line the machine showed meanwhile: the log did see the steps' work...
        calls = [c for h in ("pbx01", "im") for c in lab.argv_log(h)[logged[h] :]]
        assert any(c.startswith("curl ") for c in calls) and any(c == "chpasswd" for c in calls)
        assert any("pulumi-resource-command" in a for a in argv)
        # The provider and language host this up ran are the binaries scripts/install-pulumi-engine
        # built and stamped (whatever else is on PATH or in a plugin cache): the executables of
        # their running processes (/proc/PID/exe), hashed while they ran.
        env = engine_env()
        for binary in ENGINE_BINARIES:
            assert argv.exe_sha256.get(binary) == {stamp(env, binary)["binary_sha256"]}, binary
        # ... and none of it holds a secret (and none of what the later ups show: the last test).
        for value in stack.secrets:
            assert not [c for c in calls if value in c], "a secret in a tool's arguments"
            assert not [a for a in argv if value in a], "a secret in a process's argv"

    def test_second_up_changes_nothing_and_runs_no_remote_command(self, lab, stack):
        before = remote_commands(lab)
        out = stack("up").stdout
        assert "14 unchanged" in out
        assert remote_commands(lab) == before

    def test_stopped_then_running_run_only_their_verb(self, lab, stack):
        before = counters(lab)
        stack.set["imState"] = "stopped"
        stack("up", "--diff")
        assert counters(lab) == {**before, "stop": before["stop"] + 1}
        assert not lab.tcp_open("im", 8887)
        assert stack.outputs()["imHealth"]["imPort8887"] == "closed"
        stack.set["imState"] = "running"
        stack("up", "--diff")
        assert counters(lab) == {**before, "stop": before["stop"] + 1, "start": before["start"] + 1}
        assert lab.tcp_open("im", 8887)

    def test_restart_token_runs_only_restart(self, lab, stack):
        before = counters(lab)
        stack.set["restartToken"] = "2026-11-25T12:00"
        stack("up", "--diff")
        assert counters(lab) == {**before, "restart": before["restart"] + 1}

    def test_a_kept_setting_restarts_once_across_two_ups(self, lab, stack):
        # Issue 13's scenario as a user types it: `set restartToken=r1`, `up`, `up`. The setting
        # stays with the lab stack, so the second up sees no change (the value did not revert).
        stack.set.pop("restartToken")  # no one-run override: the kept setting alone
        before, restarts = counters(lab), imsh_calls(lab, "restart")
        stack("set", "restartToken=r1")
        stack("up")
        commands = remote_commands(lab)
        assert "14 unchanged" in stack("up").stdout
        assert remote_commands(lab) == commands
        assert counters(lab) == {**before, "restart": before["restart"] + 1}
        assert imsh_calls(lab, "restart") == restarts + 1
        assert stack("pulumi", "config", "get", "restartToken").stdout.strip() == "r1"

    def test_a_vendor_error_with_exit_0_fails_the_step_and_the_next_up_converges(self, lab, stack):
        # PortSIP's im.sh may print `[error]: ...` and exit 0 (FACTS.md); the lab's fault makes the
        # next verb do exactly that, doing nothing. The step must fail, through pulumi up, with it.
        before, restarts = counters(lab), imsh_calls(lab, "restart")
        stack.set["restartToken"] = "after-a-vendor-error"
        lab.plant("imsh-error-exit0")
        done = stack("up", ok=False)
        out = done.stdout + done.stderr
        # The step is the restart resource; its script is manage.sh, which names itself.
        assert "[manage] ERROR: im.sh restart failed (exit 0, but it printed an error)" in out, out
        # The whole up, preview included, reads in a few lines: the step, its ERROR line, the
        # vendor's last lines; no script text, no Python traceback (issue 17, item 1). Not counted:
        # the "Outputs:" block, where the CLI lists every stack output as deleted after a failed
        # update (pulumi/pulumi#15755) although the state keeps them (checked here).
        lines = without_outputs_block(out.splitlines())
        assert len(lines) < 60, f"{len(lines)} lines:\n{out}"
        assert "Traceback" not in out and "KeyboardInterrupt" not in out, out
        assert max(len(line) for line in lines) < 400, out
        # The command the error quotes (three times) is the step, a digest and its parameters:
        # the loader travels on stdin.
        quoted = re.findall(r'running "(.*?) IM_IP=', out)
        assert len(quoted) == 3 and all(len(q) < 70 for q in quoted), quoted
        assert stack.outputs()["imPrivateIp"] == lab.im
        assert "[error]: im.sh restart failed (simulated by the lab switch" in out, out
        assert imsh_calls(lab, "restart") == restarts + 1  # im.sh ran, said [error], exited 0
        assert counters(lab) == before  # and did nothing
        # The switch is consumed (the fault is gone): the next up restarts, and is then done.
        stack("up")
        assert counters(lab) == {**before, "restart": before["restart"] + 1}
        commands = remote_commands(lab)
        assert "14 unchanged" in stack("up").stdout
        assert remote_commands(lab) == commands

    def test_release_bump_runs_only_upgrade(self, lab, stack):
        before, token = counters(lab), lab.im_token()
        stack.set["imRelease"] = "22.1"
        # The upgrade hands im.sh a new token: no process may show the old one or the new one.
        with stack.sampled() as argv:
            stack("up", "--diff")
        assert counters(lab) == {**before, "upgrade": before["upgrade"] + 1}
        assert lab.im_token() != token
        assert {token, lab.im_token()} <= set(stack.secrets)
        assert any("im.sh upgrade" in a for a in argv), "the sampler missed the upgrade"
        for value in stack.secrets:
            assert not [a for a in argv if value in a], "a secret in a process's argv"
        # The stand-in im.sh printed the token it replaced (three ways) and the new one: the
        # upgrade's log on pbx01 and the engine's output hold neither, only [redacted].
        logs = lab.path("pbx01", "home/pbx/.portsip-im/logs").glob("*-upgrade.log")
        text = sorted(logs)[-1].read_text()
        assert "replacing the previous IM token [redacted]" in text
        assert "previous=[redacted];" in text
        for value in (token, lab.im_token()):
            assert value not in text and value not in stack.transcript[-1]

    def test_the_exported_state_holds_secrets_only_encrypted(self, lab, stack):
        exported = stack("pulumi", "stack", "export").stdout
        assert '"secure"' in exported or "ciphertext" in exported
        assert not [what for value, what in stack.secrets.items() if value in exported]

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
        # The old key is no longer authorised anywhere, so a step still dialling with its stored
        # connection (the old key) would fail from here on; the lab's own SSH uses the new key.
        old = subprocess.run(
            ["ssh-keygen", "-y", "-f", lab.key], check=True, capture_output=True, text=True
        ).stdout.split()[1]
        for host, f in AUTHORIZED:
            keys = lab.path(host, f)
            kept = [line for line in keys.read_text().splitlines() if old not in line]
            keys.write_text("".join(f"{line}\n" for line in kept))
            assert pub.split()[1] in keys.read_text() and old not in keys.read_text()
        refused = lab.ssh("pbx01", "true", user="pbx")
        assert refused.returncode == 255 and "Permission denied" in refused.stderr
        lab.key = str(new)  # the tests' own SSH too (the fixture gives the old key back)
        # A no-op up with the new key only: nothing to do, no remote command.
        commands = remote_commands(lab)
        out = stack("up").stdout
        assert "14 unchanged" in out
        assert remote_commands(lab) == commands

    def test_a_changed_dial_timeout_runs_no_vendor_verb_and_then_nothing_at_all(self, lab, stack):
        before = counters(lab)
        stack.set["sshPerDialTimeout"] = "20"
        stack("up")
        assert counters(lab) == before
        # No spurious connection diff afterwards (pulumi-command#447): a no-op up runs nothing.
        commands = remote_commands(lab)
        out = stack("up").stdout
        assert "14 unchanged" in out
        assert remote_commands(lab) == commands

    def test_wrong_pinned_host_key_fails_before_any_remote_command(self, lab, stack):
        before = remote_commands(lab)
        stack.set["restartToken"] = "after-a-wrong-key"  # a change, so a step would run
        stack.set["pbx01HostKey"] = lab.im_host_key  # the IM host's key is not pbx01's
        try:
            done = stack("up", ok=False)
        finally:
            del stack.set["pbx01HostKey"]
        # At the first dial, not after retries (docs/steps.md: A refused step).
        said = done.stdout + done.stderr
        assert "after 0 failed attempts: ssh: handshake failed: ssh: host key mismatch" in said
        assert remote_commands(lab) == before

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
        out = done.stdout + done.stderr
        assert "[deploy] ERROR: im.sh run failed" in out
        assert "Traceback" not in out and "KeyboardInterrupt" not in out, out
        assert not lab.tcp_open("im", 8887)
        stack("up")
        assert lab.tcp_open("im", 8887)
        stack("destroy")
        assert not lab.standin_state()["installed"]

    def test_pbx01_down_mid_up_fails_clearly_and_the_next_up_completes(self, lab, stack):
        def deploys() -> int:
            return sum(bool(DEPLOY.search(c)) for c in lab.commands("pbx01"))

        runs, deploys_before = counters(lab)["run"], deploys()
        # The stand-in im.sh's switch: sleep before acting, so deploy is surely still running
        # when pbx01's sshd stops.
        delay = lab.path("pbx01", "/opt/portsip-pbx-ha-guide/.delay")
        delay.write_text("8\n")
        proc = stack.start("up")
        try:
            # Once deploy is running (every step before it is done), pbx01's sshd goes away; the
            # session deploy already has keeps running (sshd's KillMode=process), new dials fail.
            wait_for(lambda: deploys() > deploys_before, 300, "the deploy step to start on pbx01")
            lab.inside("pbx01", "systemctl stop ssh")
            done = stack.done(proc)
        finally:
            delay.unlink(missing_ok=True)
            if proc.poll() is None:
                proc.kill()
            lab.inside("pbx01", "systemctl start ssh")
        out = done.stdout + done.stderr
        assert done.returncode != 0, out
        # The step that could not reach pbx01 says so, naming the address. (Pulumi's Python SDK
        # then prints a traceback of the registrations the engine cut short; that is its noise.)
        assert (
            f"**creating failed** error: after 0 failed attempts: dial tcp {lab.pbx01}:22: "
            "connect: connection refused" in out
        )
        assert counters(lab)["run"] == runs + 1  # deploy itself finished
        stack("up")
        assert counters(lab)["run"] == runs + 1  # and is not run again
        assert lab.tcp_open("im", 8887)
        assert stack.outputs()["imHealth"]["imPort8887"] == "open"
        stack("destroy")
        assert not lab.standin_state()["installed"]

    def test_no_secret_ever_used_is_in_state_engine_output_logs_or_argv(self, lab, stack):
        # Last, so it sees every up before it: the tokens before and after the upgrade (and each
        # later install's), the operator key before and after rotation, the passwords; in every
        # checkpoint the backend wrote, every engine output (`--diff` on), both hosts' command
        # and argv logs, and the command lines sampled during the first up and the upgrade.
        kinds = list(stack.secrets.values())
        assert kinds.count("an IM token") >= 2, kinds
        assert len({v for v in kinds if v.startswith("a line of the private key")}) >= 2, kinds
        assert any("pulumi-resource-command" in a for a in stack.argv)
        assert stack.secrets_seen_in() == []
