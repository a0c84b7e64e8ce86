"""The real Pulumi engine drives the pulumi-command stand-in (tests/e2e/command_provider) against a
throw-away sshd on 127.0.0.1.

It proves, on one `command:remote:Command` with a pinned host key, a secret stdin, triggers and a
delete command: preview runs nothing; up runs create once; a second up runs nothing; a changed
non-trigger input runs update (with the previous stdout in PULUMI_COMMAND_STDOUT); a changed trigger
replaces (create, then delete of the old one); a failing command reports its exit status and
output; a wrong host key fails before any command runs; destroy runs delete with the stored
connection; and the state holds no plaintext of the stdin secret or the private key.

Needs: the engine (scripts/install-pulumi-engine, found through scripts/engine-env) and
/usr/sbin/sshd (Debian: `apt-get install -y openssh-server`); fails loudly otherwise.
"""

from __future__ import annotations

import hashlib
import json
import os
import pwd
import re
import secrets
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
PLUGIN_DIR = Path(__file__).resolve().parent / "command_provider"
SSHD = shutil.which("sshd", path="/usr/sbin:/usr/bin:/sbin:/bin") or "/usr/sbin/sshd"
PULUMI_TIMEOUT = 240

PROGRAM = """\
import json
from pathlib import Path

import pulumi
import pulumi_command as command

s = json.loads(Path("settings.json").read_text())
conn = command.remote.ConnectionArgs(
    host="127.0.0.1",
    port=s["port"],
    user=s["user"],
    private_key=pulumi.Output.secret(Path(s["keyFile"]).read_text()),
    host_key=s["hostKey"],
    dial_error_limit=s["dialErrorLimit"],
    per_dial_timeout=5,
)
log = s["log"]
# Each command appends one line to the log on the "host": that is how runs are counted.
create = f"echo create $(sha256sum | cut -c1-16) $PORTSIP_E2E_ENV >> {log}; echo created"
update = f"echo update {s['label']} prev=$PULUMI_COMMAND_STDOUT >> {log}; echo updated"
if s.get("fail"):
    update = f"echo update-failed >> {log}; echo oops-{s['label']} >&2; exit 3"
step = command.remote.Command(
    "step",
    connection=conn,
    create=create,
    update=update,
    delete=f"echo delete prev=$PULUMI_COMMAND_STDOUT >> {log}",
    stdin=pulumi.Output.secret(s["token"]),
    environment={"PORTSIP_E2E_ENV": "env-ok"},
    triggers=[s["trigger"]],
)
pulumi.export("stdout", step.stdout)
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _keygen(path: Path) -> str:
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "e2e", "-f", str(path)],
        check=True,
        stdin=subprocess.DEVNULL,
    )
    return path.with_suffix(".pub").read_text().strip()


@dataclass
class Sshd:
    port: int
    user: str
    host_key: str  # the server's public key, authorized_keys format
    client_key: Path  # private key authorized for `user`
    wrong_host_key: str


@pytest.fixture(scope="module")
def sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sshd]:
    if not os.access(SSHD, os.X_OK):
        pytest.fail(f"{SSHD} missing: scripts/setup --dev installs openssh-server", pytrace=False)
    d = tmp_path_factory.mktemp("sshd")
    host_key = _keygen(d / "host_ed25519")
    client_pub = _keygen(d / "client_ed25519")
    wrong = _keygen(d / "wrong_ed25519")
    (d / "authorized_keys").write_text(client_pub + "\n")
    os.chmod(d / "authorized_keys", 0o600)
    port = _free_port()
    (d / "sshd_config").write_text(
        f"Port {port}\n"
        "ListenAddress 127.0.0.1\n"
        f"HostKey {d / 'host_ed25519'}\n"
        f"AuthorizedKeysFile {d / 'authorized_keys'}\n"
        "PidFile none\n"
        "StrictModes no\n"
        "UsePAM no\n"
        "PubkeyAuthentication yes\n"
        "PasswordAuthentication no\n"
        "KbdInteractiveAuthentication no\n"
        "PermitRootLogin prohibit-password\n"
        "AcceptEnv PORTSIP_E2E_* PULUMI_COMMAND_*\n"
        "LogLevel VERBOSE\n"
    )
    if os.geteuid() == 0:
        os.makedirs("/run/sshd", mode=0o755, exist_ok=True)  # sshd's privilege-separation dir
    log = open(d / "sshd.log", "wb")  # noqa: SIM115
    proc = subprocess.Popen(
        [SSHD, "-D", "-e", "-f", str(d / "sshd_config")],
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            if proc.poll() is not None:
                pytest.fail(f"sshd exited: {(d / 'sshd.log').read_text()}")
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    pytest.fail("sshd did not listen within 10 s")
                time.sleep(0.05)
        yield Sshd(port, pwd.getpwuid(os.getuid()).pw_name, host_key, d / "client_ed25519", wrong)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def _engine_env() -> dict[str, str]:
    """The environment after `. scripts/engine-env` (PATH to the cached engine, test settings)."""
    out = subprocess.run(
        ["bash", "-c", ". scripts/engine-env >/dev/null 2>&1; env -0"],
        cwd=REPO,
        check=True,
        capture_output=True,
        env={**os.environ, "PORTSIP_ENGINE_ENV_QUIET": "1"},
    ).stdout
    return dict(item.split("=", 1) for item in out.decode().split("\0") if "=" in item)


@dataclass
class Project:
    dir: Path
    env: dict[str, str]
    settings: dict[str, object]
    log: Path
    transcript: list[str] = field(default_factory=list)
    timings: list[tuple[str, float]] = field(default_factory=list)

    def write(self, **changes: object) -> None:
        self.settings.update(changes)
        (self.dir / "settings.json").write_text(json.dumps(self.settings))

    def pulumi(self, label: str, *args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
        start = time.monotonic()
        proc = subprocess.run(
            ["pulumi", *args, "--non-interactive", "--color", "never"],
            cwd=self.dir,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=PULUMI_TIMEOUT,
            stdin=subprocess.DEVNULL,
        )
        self.timings.append((label, time.monotonic() - start))
        self.transcript.append(proc.stdout + proc.stderr)
        if ok and proc.returncode != 0:
            pytest.fail(f"pulumi {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}")
        if not ok and proc.returncode == 0:
            pytest.fail(f"pulumi {' '.join(args)} should have failed:\n{proc.stdout}")
        return proc

    def runs(self) -> list[str]:
        return self.log.read_text().splitlines() if self.log.exists() else []


@pytest.fixture
def project(tmp_path: Path, sshd: Sshd) -> Iterator[Project]:
    env = _engine_env()
    if not shutil.which("pulumi", path=env.get("PATH")):
        pytest.fail("no Pulumi CLI: run scripts/install-pulumi-engine", pytrace=False)
    env.update(
        PULUMI_HOME=str(tmp_path / "pulumi-home"),
        PULUMI_BACKEND_URL=f"file://{tmp_path / 'state'}",
    )
    env["PULUMI_CONFIG_PASSPHRASE"] = secrets.token_hex(16)  # made per test, never stored
    (tmp_path / "state").mkdir()
    sys.path.insert(0, str(PLUGIN_DIR))
    try:
        import install  # tests/e2e/command_provider/install.py

        install.install(shutil.which("pulumi", path=env["PATH"]) or "pulumi", env)
    finally:
        sys.path.remove(str(PLUGIN_DIR))

    work = tmp_path / "program"
    work.mkdir()
    (work / "Pulumi.yaml").write_text(
        "name: command-standin-e2e\n"
        "runtime:\n"
        "  name: python\n"
        "  options:\n"
        f"    virtualenv: {REPO / 'venv'}\n"
    )
    (work / "__main__.py").write_text(PROGRAM)
    log = tmp_path / "host-runs.log"  # what the "host" ran: one line per command
    token = "tok-" + secrets.token_hex(16)
    p = Project(work, env, {}, log)
    p.write(
        port=sshd.port,
        user=sshd.user,
        keyFile=str(sshd.client_key),
        hostKey=sshd.host_key,
        dialErrorLimit=10,
        token=token,
        label="v1",
        trigger="t1",
        log=str(log),
    )
    p.pulumi("stack init", "stack", "init", "dev")
    yield p
    # Shown by pytest on failure (or with -s): what the engine said, and how long each step took.
    for (label, seconds), text in zip(p.timings, p.transcript, strict=True):
        print(f"=== pulumi {label} ({seconds:.1f}s)\n{text}")


def test_engine_drives_the_standin(project: Project, sshd: Sshd) -> None:
    p = project
    token = str(p.settings["token"])
    digest = hashlib.sha256(token.encode()).hexdigest()[:16]

    # preview: the plan shows a create, and nothing runs on the host
    out = p.pulumi("preview", "preview", "--diff").stdout
    assert "+ 2 to create" in out, out
    assert p.runs() == []

    # up: create runs once, with the secret on stdin and the environment sent
    out = p.pulumi("up", "up", "--yes", "--skip-preview").stdout
    assert "+ 2 created" in out, out
    assert p.runs() == [f"create {digest} env-ok"]

    # a second up runs nothing
    out = p.pulumi("no-op up", "up", "--yes", "--skip-preview").stdout
    assert re.search(r"\b2 unchanged\b", out) and "updated" not in out, out
    assert len(p.runs()) == 1

    # a non-trigger input (the update command) changes: update runs, with the previous stdout
    p.write(label="v2")
    out = p.pulumi("update up", "up", "--yes", "--skip-preview").stdout
    assert "~ 1 updated" in out, out
    assert p.runs()[1:] == ["update v2 prev=created"]

    # a failing command: the exit status and its output, and no state change
    p.write(label="v3", fail=True)
    proc = p.pulumi("failing up", "up", "--yes", "--skip-preview", ok=False)
    assert "Process exited with status 3" in proc.stdout + proc.stderr, proc.stdout
    assert "oops-v3" in proc.stdout + proc.stderr, proc.stdout
    assert p.runs()[2:] == ["update-failed"]
    p.write(label="v2", fail=False)
    out = p.pulumi("after-failure up", "up", "--yes", "--skip-preview").stdout
    assert re.search(r"\b2 unchanged\b", out), out  # the failed update left the old state
    assert len(p.runs()) == 3

    # a trigger changes: replace = create the new one, then delete the old one
    p.write(trigger="t2")
    out = p.pulumi("replace up", "up", "--yes", "--skip-preview").stdout
    assert "+-1 replaced" in out, out
    assert p.runs()[3:] == [f"create {digest} env-ok", "delete prev=updated"]

    # the state: connection and stdin are secrets; no plaintext token or private key anywhere
    state = p.pulumi("export", "stack", "export").stdout
    key_body = [
        line for line in sshd.client_key.read_text().splitlines() if not line.startswith("-----")
    ]
    for text in [state, *p.transcript]:
        assert token not in text
        assert all(line not in text for line in key_body)
    command = next(
        r
        for r in json.loads(state)["deployment"]["resources"]
        if r["type"] == "command:remote:Command"
    )
    for key in ("connection", "stdin"):
        assert "ciphertext" in command["outputs"][key], key
        assert "ciphertext" in command["inputs"][key], key
    assert command["outputs"]["stdout"] == "created"

    # a wrong pinned host key: the up fails before anything runs on the host
    p.write(hostKey=sshd.wrong_host_key, dialErrorLimit=1)  # a connection change runs update
    proc = p.pulumi("wrong host key up", "up", "--yes", "--skip-preview", ok=False)
    text = proc.stdout + proc.stderr
    assert "after 1 failed attempts" in text and "Host key verification failed" in text, text
    assert len(p.runs()) == 5

    # destroy runs delete with the STORED connection (the settings still hold the wrong key)
    out = p.pulumi("destroy", "destroy", "--yes", "--skip-preview").stdout
    assert "- 2 deleted" in out, out
    assert p.runs()[5:] == ["delete prev=created"]


@pytest.fixture(scope="module")
def standin() -> Iterator[Any]:
    """The stand-in's modules (provider.py, sshrun.py), imported without the engine."""
    sys.path.insert(0, str(PLUGIN_DIR))
    try:
        import provider  # tests/e2e/command_provider/provider.py

        yield provider
    finally:
        sys.path.remove(str(PLUGIN_DIR))


def test_check_applies_the_schema_defaults_and_keeps_secrets(standin: Any) -> None:
    p = standin
    inputs, failures = p.check(
        {"connection": p.Secret({"host": "h", "proxy": {"host": "j"}}), "create": "x"}
    )
    assert failures == []
    assert isinstance(inputs["connection"], p.Secret)
    conn = p.plain(inputs["connection"])
    defaults = {"user": "root", "port": 22, "dialErrorLimit": 10, "perDialTimeout": 15}
    assert conn == {"host": "h", **defaults, "proxy": {"host": "j", **defaults}}
    assert inputs["addPreviousOutputInEnv"] is True
    _, failures = p.check({"connection": {"port": 22}, "logging": "loud"})
    assert {f for f, _ in failures} == {"connection.host", "logging"}


def test_diff_replaces_on_triggers_updates_otherwise(standin: Any) -> None:
    p = standin
    kind = p.Kind
    old = {"connection": p.Secret({"host": "h"}), "triggers": ["a"], "create": "c", "stdout": "x"}
    # secretness and outputs (stdout) do not count; equal plain values are no change
    assert p.diff(old, {"connection": {"host": "h"}, "triggers": ["a"], "create": "c"}, []) == (
        {},
        [],
    )
    detailed, replaces = p.diff(old, {**old, "triggers": ["b"], "update": "u"}, [])
    assert detailed == {"triggers": kind.UPDATE_REPLACE, "update": kind.ADD}
    assert replaces == ["triggers"]
    detailed, _ = p.diff(old, {**old, "create": p.UNKNOWN}, [])
    assert detailed == {"create": kind.UPDATE}
    assert p.diff(old, {**old, "create": "new"}, ["create"]) == ({}, [])


def test_ssh_through_a_pinned_proxy(sshd: Sshd, standin: Any) -> None:
    """The jump-host path (`connection.proxy`), with stdin, env and a failing command."""
    import sshrun

    key = sshd.client_key.read_text()
    hop = {"host": "127.0.0.1", "port": sshd.port, "user": sshd.user, "privateKey": key}
    conn = {**hop, "hostKey": sshd.host_key, "proxy": {**hop, "hostKey": sshd.host_key}}
    out, err = sshrun.Runner().run(
        conn,
        'echo "$PORTSIP_E2E_X"; cat; echo warn >&2',
        stdin="in\n",
        environment={"PORTSIP_E2E_X": "a b"},
    )
    assert (out, err) == ("a b\nin", "warn")
    with pytest.raises(sshrun.SshError, match=r"Process exited with status 4: running .*\nboom"):
        sshrun.Runner().run(conn, "echo boom; exit 4")
    bad_proxy = {**conn, "dialErrorLimit": 0, "proxy": {**hop, "hostKey": sshd.wrong_host_key}}
    with pytest.raises(sshrun.SshError, match="Host key verification failed"):
        sshrun.Runner().run(bad_proxy, "echo never")
