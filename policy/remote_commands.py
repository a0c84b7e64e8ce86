"""Policies on the program's remote steps (pulumi-command's `command:remote:*` resources).

They apply on every target (aws, hcloud, existing, the lab): every step runs over SSH.

`remote-host-key-pinned`: every connection, and its `proxy` (the jump host) when present, pins a
non-empty `hostKey`. Without one the command provider accepts whatever key the host offers, so a
machine in the middle would receive the private key's signature, the secrets on stdin and the
commands. A value unknown at preview (the IM host's key, read by the `host-key` step of a new VM,
or a whole connection built from a new VM's address) is not a violation: it is known, and checked
again, at update time.

`no-secrets-in-remote-commands`: no `create` / `update` / `delete` text carries a secret value.
That text is the remote command line (seen in `ps` and the hosts' command logs), appears in preview
diffs unless Pulumi marks it secret, and is stored in state. Secrets belong on stdin, as
components/portsip_im/remote.py's `step(secrets=...)` sends them.

How the policy knows the secret values. pulumi-policy's Python SDK does not tell a validation
policy which properties are secrets: the analyzer unwraps them into plain values before `validate`
runs (pulumi_policy/policy.py deserializes Analyze requests with proxy_secrets=False; Pulumi's
docs say secrets are not encrypted in policy checks, and pulumi/pulumi-policy#241, still open, asks
for a way to tell). So the policy names the secrets itself, from two places:
  1. the resource's own secret-carrying inputs: `connection.privateKey`, `.password`,
     `.privateKeyPassword`, the same three of `connection.proxy`; each value decoded from a stdin
     `NAME<TAB>base64` line (named by NAME), and any other stdin line as it is (after the loader
     line and the step's script, which a step's stdin opens with: portsip_im/wire.py); the values of
     `environment`;
  2. the stack's secret config of the program (every key of stack_config SECRETS:
     sshPrivateKey, pbxPassword, pbxAdminPassword, backupPassword, backupEnv, imToken), which the
     engine hands to the pack decrypted with the rest of the stack's config (read through
     pulumi's config, as the 8887 policy does).
A secret that is a JSON object (backupEnv: `{"AWS_SECRET_ACCESS_KEY": "…", …}`, whether from
config, stdin or environment) counts as the whole text and as each of its string values: a
command would carry one credential, never the object. Its values shorter than
MIN_JSON_VALUE_CHARS (8) are skipped: such entries are flags or names (`"1"`, `"true"`, `"auto"`,
`"s3v4"`), not credentials (access keys and secrets run to 20 characters and more), and would
match common words in a script.
A text carries a value when it, or the text with its shell quoting removed, contains the value,
its base64 form, or, for a multi-line value such as a private key, one of its lines of 16
characters or more (PEM armour lines excepted). Values shorter than MIN_SECRET_CHARS (6) are
skipped: they would match by chance. Messages name the input and the secret's source, never the
value.
"""

from __future__ import annotations

import base64
import binascii
import json
import shlex
from collections.abc import Iterator, Mapping
from typing import Any

from pulumi.runtime.config import get_config
from pulumi_policy import ReportViolation, ResourceValidationArgs, ResourceValidationPolicy

from policy.props import UNKNOWN, get
from portsip_im.wire import secrets_part
from stack_config import NAMESPACE, SECRETS

COMMAND = "command:remote:Command"
# Every pulumi-command resource that dials SSH (CopyFile is the deprecated CopyToRemote).
SSH_TYPES = (COMMAND, "command:remote:CopyToRemote", "command:remote:CopyFile")
COMMAND_TEXTS = ("create", "update", "delete")
CONNECTION_SECRETS = ("privateKey", "password", "privateKeyPassword")
MIN_SECRET_CHARS = 6
MIN_JSON_VALUE_CHARS = 8
MIN_LINE_CHARS = 16

HOST_KEY_FIX = (
    "pin the host's key, read with `ssh-keyscan -t ed25519 HOST` and checked out of band, "
    "via config `pbx01HostKey` (pbx01) or `imHostKey` (the IM host)"
)

# ---------------------------------------------------------------------------------------------
# remote-host-key-pinned


def _lacks_host_key(conn: Any) -> bool:
    """Whether a known connection (or proxy) pins no host key; an unknown one is not judged."""
    if conn is UNKNOWN:
        return False
    key = get(conn, "hostKey")
    if key is UNKNOWN:
        return False
    return not isinstance(key, str) or not key.strip()


def validate_host_key_pinned(
    args: ResourceValidationArgs, report_violation: ReportViolation
) -> None:
    if args.resource_type not in SSH_TYPES:
        return
    conn = get(args.props, "connection")
    if _lacks_host_key(conn):
        report_violation(
            f"{args.name}: its SSH connection pins no host key (connection.hostKey), so any key "
            f"the host offers is trusted; {HOST_KEY_FIX}",
            None,
        )
    proxy = get(conn, "proxy")
    if proxy is not None and _lacks_host_key(proxy):
        report_violation(
            f"{args.name}: the jump host of its SSH connection pins no host key "
            f"(connection.proxy.hostKey), so any key the jump host offers is trusted; "
            f"{HOST_KEY_FIX}",
            None,
        )


# ---------------------------------------------------------------------------------------------
# no-secrets-in-remote-commands


def _b64_value(text: str) -> str | None:
    try:
        return base64.b64decode(text.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None


def _stdin_secrets(stdin: Any, create: Any) -> Iterator[tuple[str, str]]:
    if not isinstance(stdin, str):
        return
    # A step's stdin opens with its loader line and script (portsip_im.wire): code, not secrets.
    if isinstance(create, str):
        stdin = secrets_part(create, stdin)
    for number, line in enumerate(stdin.splitlines(), 1):
        name, tab, encoded = line.partition("\t")
        value = _b64_value(encoded) if tab and name.strip() else None
        if value is not None:
            yield f"stdin's {name.strip()}", value
        elif line.strip():
            yield f"stdin line {number}", line.strip()


def resource_secrets(props: Any) -> Iterator[tuple[str, str]]:
    """(where, value) of each secret the resource's own inputs carry."""
    conn = get(props, "connection")
    for prefix, obj in (("connection", conn), ("connection.proxy", get(conn, "proxy"))):
        for key in CONNECTION_SECRETS:
            yield f"{prefix}.{key}", get(obj, key)
    yield from _stdin_secrets(get(props, "stdin"), get(props, "create"))
    env = get(props, "environment")
    if isinstance(env, Mapping):
        for name in env:
            yield f"environment[{name!r}]", get(env, name)


def config_secrets() -> Iterator[tuple[str, str]]:
    """(where, value) of the program's secret config, as the engine handed it to the pack."""
    for secret in SECRETS:
        key = f"{NAMESPACE}:{secret.key}"
        yield f"config {key}", get_config(key)


def _unquoted(text: str) -> str:
    """The text as the shell hands it over (quotes removed), so a value that quoting rewrote,
    like `'PW=it'"'"'s'`, is found too; the text itself when it does not parse."""
    try:
        return " ".join(shlex.split(text))
    except ValueError:
        return text


def _forms(value: str) -> set[str]:
    """The ways a value shows up in a command text (each long enough to mean it)."""
    forms = {value, value.strip(), base64.b64encode(value.encode()).decode()}
    if "\n" in value.strip():
        forms.update(
            line.strip()
            for line in value.splitlines()
            if len(line.strip()) >= MIN_LINE_CHARS and not line.strip().startswith("-----")
        )
    return {f for f in forms if len(f) >= MIN_SECRET_CHARS}


def _with_json_values(where: str, value: Any) -> Iterator[tuple[str, Any]]:
    """The secret itself, then, when it is a JSON object (backupEnv), each string value long
    enough to be a credential, named by its key (the key is no secret; the value never shown)."""
    yield where, value
    if not isinstance(value, str) or not value.lstrip().startswith("{"):
        return
    try:
        obj = json.loads(value)
    except json.JSONDecodeError:
        return
    if isinstance(obj, dict):
        for name, item in obj.items():
            if isinstance(item, str) and len(item.strip()) >= MIN_JSON_VALUE_CHARS:
                yield f"{where}[{name!r}]", item


def leaks(props: Any) -> list[tuple[str, str]]:
    """(command input, where its secret comes from) for each secret a command text carries; a
    JSON object found whole is reported once, not again for each of its values."""
    found: list[tuple[str, str]] = []
    for field in COMMAND_TEXTS:
        text = get(props, field)
        if not isinstance(text, str):
            continue  # absent, or unknown at preview (checked at update)
        texts = (text, _unquoted(text))
        for source, whole in (*resource_secrets(props), *config_secrets()):
            for where, value in _with_json_values(source, whole):
                if not isinstance(value, str) or len(value.strip()) < MIN_SECRET_CHARS:
                    continue
                if any(f in t for f in _forms(value) for t in texts):
                    if (field, where) not in found:
                        found.append((field, where))
                    break  # the whole found: its parts add nothing
    return found


def validate_no_secrets_in_commands(
    args: ResourceValidationArgs, report_violation: ReportViolation
) -> None:
    if args.resource_type != COMMAND:
        return
    for field, where in leaks(args.props):
        report_violation(
            f"{args.name}: `{field}` carries the secret value of {where}; a command's text is "
            "its remote command line (seen in `ps` and the host's logs), shown in preview diffs "
            "and kept in state: pass secrets on stdin "
            "(components/portsip_im/remote.py step(secrets=...))",
            None,
        )


HOST_KEY_PINNED = ResourceValidationPolicy(
    name="remote-host-key-pinned",
    description="Every command:remote connection, and its proxy (jump host), pins a hostKey.",
    validate=validate_host_key_pinned,
)
NO_SECRETS_IN_COMMANDS = ResourceValidationPolicy(
    name="no-secrets-in-remote-commands",
    description="No remote command's create/update/delete text carries a secret value (the "
    "connection's keys and passwords, stdin's secrets, environment, the stack's secret config, "
    "each value of a JSON-object secret such as backupEnv).",
    validate=validate_no_secrets_in_commands,
)
