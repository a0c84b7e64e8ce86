"""remote-host-key-pinned and no-secrets-in-remote-commands (policy/remote_commands.py), on inputs
shaped as the engine hands a `command:remote:Command`'s to the pack (what portsip_im/remote.py
builds; see tests/unit/harness.py's recordings). Secret values are made per test."""

from __future__ import annotations

import base64
import json
import secrets

import pulumi
import pytest

from policy import remote_commands as rc
from policy.pack import POLICIES
from portsip_im import remote
from tests.policy.support import UNKNOWN_STRING, check_resource, fresh_private_key

PBX01_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPbx01PinnedKeyForPolicyTests00000000000"
IM_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIImHostPinnedKeyForPolicyTests000000000000"


@pytest.fixture(autouse=True)
def no_stack_config():
    pulumi.runtime.set_all_config({})
    yield
    pulumi.runtime.set_all_config({})


@pytest.fixture
def key(tmp_path) -> str:
    return fresh_private_key(tmp_path)


def connection(key: str, host_key=IM_KEY, proxy_key=PBX01_KEY, proxy=True) -> dict:
    """A connection through pbx01 (or direct), as portsip_im/remote.py's connection() builds it;
    a None key is left out, as the SDK leaves out an unset input."""

    def one(host: str, user: str, pin: str | None, dials: float) -> dict:
        conn = {"host": host, "port": 22.0, "user": user, "privateKey": key}
        conn.update(dialErrorLimit=dials, perDialTimeout=15.0)
        if pin is not None:
            conn["hostKey"] = pin
        return conn

    conn = one("10.0.0.12", "ubuntu", host_key, 0.0)
    if proxy:
        conn["proxy"] = one("10.0.0.11", "pbx", proxy_key, 0.0)
    return conn


def command(conn, create: str = "", stdin_secrets: dict | None = None, **extra) -> dict:
    """A step's inputs as portsip_im/remote.py's step() sends them."""
    create = create or remote.render("prepare", "echo ok", {"STORAGE_PATH": "/data/im"}, True)
    props = {
        "connection": conn,
        "create": create,
        "update": ":",
        "logging": "stdoutAndStderr",
        "addPreviousOutputInEnv": False,
        **extra,
    }
    if stdin_secrets:
        # As a step's stdin: the loader and script of a step's `create`, then the secrets.
        secret_lines = remote.encode_secrets(stdin_secrets)
        step = "read -r l" in create
        props["stdin"] = remote.stdin_text("echo ok", secret_lines) if step else secret_lines
    return props


# --- remote-host-key-pinned --------------------------------------------------------------------


def test_pinned_connection_and_proxy_pass(key):
    assert not check_resource(rc.HOST_KEY_PINNED, rc.COMMAND, command(connection(key)))
    direct = command(connection(key, proxy=False))
    assert not check_resource(rc.HOST_KEY_PINNED, rc.COMMAND, direct)


@pytest.mark.parametrize("missing", [None, "", "  "], ids=["absent", "empty", "blank"])
def test_connection_without_host_key_fails(key, missing):
    props = command(connection(key, host_key=missing))
    out = check_resource(rc.HOST_KEY_PINNED, rc.COMMAND, props, name="im-prepare")
    assert len(out.violations) == 1
    message = out.messages[0]
    assert message.startswith("im-prepare: its SSH connection pins no host key")
    assert "(connection.hostKey)" in message and "proxy" not in message
    assert "ssh-keyscan -t ed25519 HOST" in message
    assert "pbx01HostKey" in message and "imHostKey" in message


@pytest.mark.parametrize("missing", [None, ""], ids=["absent", "empty"])
def test_proxy_without_host_key_fails(key, missing):
    props = command(connection(key, proxy_key=missing))
    out = check_resource(rc.HOST_KEY_PINNED, rc.COMMAND, props, name="im-prepare")
    assert len(out.violations) == 1
    assert out.messages[0].startswith("im-prepare: the jump host of its SSH connection pins no")
    assert "(connection.proxy.hostKey)" in out.messages[0]
    assert "ssh-keyscan -t ed25519 HOST" in out.messages[0]


def test_both_unpinned_gives_two_violations(key):
    props = command(connection(key, host_key=None, proxy_key=None))
    out = check_resource(rc.HOST_KEY_PINNED, rc.COMMAND, props)
    assert len(out.violations) == 2


def test_other_ssh_resources_are_checked_too(key):
    props = {"connection": connection(key, host_key=None, proxy=False), "source": {}}
    assert check_resource(rc.HOST_KEY_PINNED, "command:remote:CopyToRemote", props)
    assert not check_resource(rc.HOST_KEY_PINNED, "command:local:Command", {"create": "true"})


def test_values_unknown_at_preview_are_not_violations(key):
    # The IM host's key read by the host-key step of a new VM: unknown until it has run.
    props = command(connection(key, host_key=UNKNOWN_STRING))
    assert not check_resource(rc.HOST_KEY_PINNED, rc.COMMAND, props)
    # A connection built from a new VM's address is unknown as a whole.
    assert not check_resource(rc.HOST_KEY_PINNED, rc.COMMAND, command(UNKNOWN_STRING))
    unknown_proxy = {**connection(key, proxy=False), "proxy": UNKNOWN_STRING}
    assert not check_resource(rc.HOST_KEY_PINNED, rc.COMMAND, command(unknown_proxy))
    # ... but a known gap beside an unknown value is still caught.
    partly = {**connection(key, host_key=None, proxy=False), "proxy": UNKNOWN_STRING}
    assert check_resource(rc.HOST_KEY_PINNED, rc.COMMAND, command(partly))


# --- no-secrets-in-remote-commands --------------------------------------------------------------


def test_secrets_on_stdin_pass(key):
    token = secrets.token_urlsafe(16)
    props = command(connection(key), stdin_secrets={"IM_TOKEN": token, "PBX_PASSWORD": "pw"})
    props["delete"] = remote.render("install", "echo bye", {"ACTION": "remove"}, True)
    assert not check_resource(rc.NO_SECRETS_IN_COMMANDS, rc.COMMAND, props)


@pytest.mark.parametrize("field", ["create", "update", "delete"])
def test_stdin_secret_in_a_command_text_fails(key, field):
    token = secrets.token_urlsafe(16)
    text = remote.render("token", "echo ok", {"IM_TOKEN": token}, True)
    props = command(connection(key), stdin_secrets={"IM_TOKEN": token}, **{field: text})
    out = check_resource(rc.NO_SECRETS_IN_COMMANDS, rc.COMMAND, props, name="im-token")
    assert out.messages == [
        f"im-token: `{field}` carries the secret value of stdin's IM_TOKEN; a command's text is "
        "its remote command line (seen in `ps` and the host's logs), shown in preview diffs and "
        "kept in state: pass secrets on stdin (components/portsip_im/remote.py step(secrets=...))"
    ]
    assert token not in out.messages[0]


@pytest.mark.parametrize(
    "path",
    [("password",), ("privateKeyPassword",), ("proxy", "password"), ("proxy", "privateKey")],
)
def test_connection_secrets_in_a_command_text_fail(key, path):
    value = secrets.token_urlsafe(12)
    conn = connection(key)
    *parents, name = path
    target = conn[parents[0]] if parents else conn
    target[name] = value
    props = command(conn, create=f"echo {value} | sudo -S true")
    out = check_resource(rc.NO_SECRETS_IN_COMMANDS, rc.COMMAND, props)
    where = ".".join(("connection", *path))
    assert len(out.violations) == 1 and f"secret value of {where};" in out.messages[0]
    assert value not in out.messages[0]


def test_private_key_whole_or_in_part_fails(key):
    whole = command(connection(key), create=remote.render("k", "true", {"KEY": key}))
    out = check_resource(rc.NO_SECRETS_IN_COMMANDS, rc.COMMAND, whole)
    assert {m.split(";")[0] for m in out.messages} == {
        "r: `create` carries the secret value of connection.privateKey",
        "r: `create` carries the secret value of connection.proxy.privateKey",
    }
    one_line = key.splitlines()[2]
    partial = command(connection(key, proxy=False), create=f"echo {one_line} >> k")
    assert check_resource(rc.NO_SECRETS_IN_COMMANDS, rc.COMMAND, partial)
    # The PEM armour alone is no secret.
    armour = command(connection(key, proxy=False), create="grep -c 'OPENSSH PRIVATE KEY-----' k")
    assert not check_resource(rc.NO_SECRETS_IN_COMMANDS, rc.COMMAND, armour)


def test_encoded_and_quoted_forms_fail(key):
    password = "it's-" + secrets.token_urlsafe(8)  # shlex.quote rewrites the quote
    b64 = base64.b64encode(password.encode()).decode()
    for text in (remote.render("s", "true", {"PW": password}), f"echo {b64} | base64 -d"):
        props = command(connection(key), text, stdin_secrets={"PBX_PASSWORD": password})
        out = check_resource(rc.NO_SECRETS_IN_COMMANDS, rc.COMMAND, props)
        assert out and "stdin's PBX_PASSWORD" in out.messages[0], text


def test_a_command_that_is_not_shell_words_is_checked_not_refused(key):
    # Not every command of a stack is a step's: this one does not split as shell words.
    raw = secrets.token_urlsafe(12)
    heredoc = "cat <<'EOF'\n# don't\nEOF"
    props = command(connection(key), heredoc, stdin=f"{raw}\n")
    assert not check_resource(rc.NO_SECRETS_IN_COMMANDS, rc.COMMAND, props)
    props = command(connection(key), heredoc + f"\n{raw}", stdin=f"{raw}\n")
    out = check_resource(rc.NO_SECRETS_IN_COMMANDS, rc.COMMAND, props)
    assert out and "stdin line 1" in out.messages[0]


def test_raw_stdin_and_environment_values_count(key):
    raw = secrets.token_urlsafe(12)
    props = command(connection(key), f"echo {raw}", stdin=f"{raw}\n")
    out = check_resource(rc.NO_SECRETS_IN_COMMANDS, rc.COMMAND, props)
    assert out and "stdin line 1" in out.messages[0]
    env = secrets.token_urlsafe(12)
    props = command(connection(key), f"curl -u admin:{env} x", environment={"PBX_ADMIN": env})
    out = check_resource(rc.NO_SECRETS_IN_COMMANDS, rc.COMMAND, props)
    assert out and "environment['PBX_ADMIN']" in out.messages[0]


def test_the_stacks_secret_config_counts(key):
    token = secrets.token_urlsafe(16)
    pulumi.runtime.set_all_config({"portsip-im:imToken": token})
    props = command(connection(key), remote.render("token", "true", {"T": token}))
    out = check_resource(rc.NO_SECRETS_IN_COMMANDS, rc.COMMAND, props)
    assert len(out.violations) == 1
    assert "secret value of config portsip-im:imToken;" in out.messages[0]
    assert token not in out.messages[0]


def test_one_value_of_a_json_object_secret_fails(key):
    # backupEnv is a JSON object: a command would carry one credential from it, not the object.
    secret_key = secrets.token_urlsafe(30)
    env = json.dumps(
        {
            "AWS_ACCESS_KEY_ID": "AKIA" + secrets.token_hex(8),
            "AWS_SECRET_ACCESS_KEY": secret_key,
            "RESTIC_COMPRESSION": "auto",
        }
    )
    pulumi.runtime.set_all_config({"portsip-im:backupEnv": env})
    text = remote.render("backup", "restic snapshots", {"AWS_SECRET_ACCESS_KEY": secret_key})
    out = check_resource(rc.NO_SECRETS_IN_COMMANDS, rc.COMMAND, command(connection(key), text))
    assert len(out.violations) == 1
    assert (
        "secret value of config portsip-im:backupEnv['AWS_SECRET_ACCESS_KEY'];" in out.messages[0]
    )
    assert secret_key not in out.messages[0]
    # The same object on stdin or in environment is split too.
    stdin = command(connection(key), text, stdin_secrets={"BACKUP_ENV": env})
    assert any(
        "stdin's BACKUP_ENV['AWS_SECRET_ACCESS_KEY']" in m
        for m in check_resource(rc.NO_SECRETS_IN_COMMANDS, rc.COMMAND, stdin).messages
    )
    # The whole object is one violation, not one more per value.
    whole = command(connection(key), remote.render("backup", "true", {"ENV": env}))
    assert len(check_resource(rc.NO_SECRETS_IN_COMMANDS, rc.COMMAND, whole).violations) == 1
    # Values under MIN_JSON_VALUE_CHARS are flags, not credentials: "auto" is in many scripts.
    assert len("auto") < rc.MIN_JSON_VALUE_CHARS
    flags = command(connection(key), "restic backup --compression auto /data")
    assert not check_resource(rc.NO_SECRETS_IN_COMMANDS, rc.COMMAND, flags)


def test_short_values_and_unknown_texts_are_skipped(key):
    # A 5-character password would match by chance (`sudo -n true` has "sudo "...).
    props = command(connection(key), "sudo -n true", stdin_secrets={"PW": "sudo "})
    assert not check_resource(rc.NO_SECRETS_IN_COMMANDS, rc.COMMAND, props)
    token = secrets.token_urlsafe(16)
    unknown = command(connection(key), UNKNOWN_STRING, stdin_secrets={"T": token})
    assert not check_resource(rc.NO_SECRETS_IN_COMMANDS, rc.COMMAND, unknown)
    unknown_stdin = command(UNKNOWN_STRING, f"echo {token}", stdin=UNKNOWN_STRING)
    assert not check_resource(rc.NO_SECRETS_IN_COMMANDS, rc.COMMAND, unknown_stdin)


def test_both_policies_are_in_the_pack():
    assert rc.HOST_KEY_PINNED in POLICIES and rc.NO_SECRETS_IN_COMMANDS in POLICIES
