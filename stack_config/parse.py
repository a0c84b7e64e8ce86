"""Raw config strings → a typed StackConfig, or one ConfigError naming every bad key.

Each key's value is typed by its argument's annotation and held to the component's own rule for
it (portsip_im.checks.check_input): a key and the field it feeds are one input, one rule, one
message. What involves several inputs the component checks when the program constructs ImServer
(stack_config/args.py names those problems by key). What is this program's alone is checked here:
unknown keys, secrets set in clear, committed placeholders, keys that need another key.
"""

from __future__ import annotations

import difflib
import json
import re
from typing import Any

from portsip_im.args import INPUTS, ImServerArgs
from portsip_im.checks import check_input
from portsip_im.inputs import IndexedError, leaves
from portsip_im.naming import text
from portsip_im.rules import TARGETS, masked, usable_address

from .keys import ConfigError, StackConfig
from .table import BY_KEY, KEYS, NAMESPACE, key_of_path, snake

_TYPES = leaves(ImServerArgs)


def key_of(attribute: str) -> str:
    """The config key of a StackConfig attribute (`pbx01_private_ip` → `pbx01PrivateIp`)."""
    return next(k.key for k in KEYS if snake(k.key) == attribute)


def config_keys() -> list[str]:
    return [k.key for k in KEYS]


# The committed example stacks (Pulumi.dev.yaml) mark what each user must replace; such a value
# passes every shape check and would fail only when the program dials.
_PLACEHOLDER = re.compile(r"ReplaceMe|ReplaceWithTheRealOne", re.IGNORECASE)
_PUT_THERE = {
    "pbx01HostKey": "pbx01's own ed25519 host key (on pbx01: cut -d' ' -f1,2 "
    "/etc/ssh/ssh_host_ed25519_key.pub)",
    "imHostKey": "the IM host's ed25519 host key (checked out of band)",
    "sshPublicKey": "the public half of sshPrivateKey (ssh-keygen -y -f YOUR_KEY)",
    "backupSshHostKey": "the SFTP server's ed25519 host key (ssh-keyscan -t ed25519 HOST)",
}
# As Pulumi's config and pydantic (which read these keys before) take a boolean.
_TRUE, _FALSE = ("true", "t", "yes", "y", "on", "1"), ("false", "f", "no", "n", "off", "0")
# Keys this program accepted without effect before (with no repository): still accepted.
UNUSED_WITHOUT_REPOSITORY = ("backupSchedule", "backupKeep", "backupPassword", "backupEnv")


def _typed(key: str, raw: str, hidden: bool) -> Any:
    """A raw config string as its argument's type; ValueError naming what is wrong (a `hidden`
    value, one set as a secret, never quoted)."""
    row = BY_KEY[key]
    kind = _TYPES.get(row.path or "", str)
    shown = "" if hidden else f"{masked(raw)!r}: "
    if kind is bool:
        if raw.strip().lower() in _TRUE + _FALSE:
            return raw.strip().lower() in _TRUE
        raise ValueError(f"{shown}must be true or false")
    if kind is int:
        whole = _whole_number(raw)
        if whole is None:
            raise ValueError(f"{shown}must be a whole number")
        return whole
    origin = getattr(kind, "__origin__", None)
    if origin is list:
        text_ = raw.strip()
        if not text_.startswith("["):
            return [item.strip() for item in text_.split(",") if item.strip()]
        try:
            value = json.loads(text_)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{shown}not a valid JSON list ({exc.msg})") from None
        if not isinstance(value, list):
            raise ValueError(f"{shown}must be a JSON list")
        return value
    if origin is dict:
        try:
            return json.loads(raw) if isinstance(raw, str) else raw
        except json.JSONDecodeError as exc:
            raise ValueError(f"{shown}not valid JSON ({exc.msg})") from None
    return raw


def _whole_number(raw: str) -> int | None:
    """`256`, ` 256 `, `256.0` (as pydantic took them); not `256.5`, not other scripts' digits."""
    text_ = raw.strip()
    if not text_.isascii():
        return None
    try:
        return int(text_)
    except ValueError:
        pass
    try:
        number = float(text_)
    except ValueError:
        return None
    return int(number) if number.is_integer() else None


def _shown(value: str, hidden: bool, message: str) -> str:
    """The rule's message, after the refused value (masked; one set as a secret never shown)."""
    message = text(message, key_of_path)
    quoted = repr(masked(value))
    # A message that opens with the value itself (`8.8.8.8 is not a private address`) shows it.
    if hidden or message.startswith((quoted, repr(value), f"{value} ")):
        return message
    return f"{quoted}: {message}"


def _program_key(key: str, value: str, allow_public: bool) -> list[str]:
    """A key of this program alone, held to its rule (target and pbxStack are checked above and
    by the StackReference)."""
    if key != "pbxPublicIp":
        return []
    try:
        usable_address(value, False, allow_public)
    except ValueError as exc:
        return [f"{NAMESPACE}:{key}: {exc}"]
    return []


def parse_config(
    raw: dict[str, str], secret_keys: set[str] | frozenset[str] = frozenset()
) -> StackConfig:
    """Check raw config strings (key → value, no namespace) and type them into a StackConfig.

    `secret_keys` are the keys the operator set with `--secret`; a secret key must be one of them
    (given as plain text it would sit unencrypted in Pulumi.<stack>.yaml), and a plain key must
    not (it would still show in commands and previews). Raises ConfigError naming every bad key.
    """
    problems: list[str] = []
    # Pulumi.yaml declares optional keys with an empty default; empty means "not set".
    raw = {k: v for k, v in raw.items() if v != ""}
    problems += [
        f"{NAMESPACE}:{key}: still the committed example value; put "
        f"{_PUT_THERE.get(key, 'the real value (docs/configuration.md)')} there"
        for key, value in sorted(raw.items())
        if key not in secret_keys and isinstance(value, str) and _PLACEHOLDER.search(value)
    ]
    values: dict[str, Any] = {}
    target = raw.get("target")
    if target is None:
        problems.append(f"{NAMESPACE}:target: required, not set")
    elif target not in TARGETS:
        problems.append(f"{NAMESPACE}:target: {target!r} is not one of aws, hcloud or existing")
    allow_public = raw.get("allowPublicPrivateNetwork", "").lower() in _TRUE
    for key, value in sorted(raw.items()):
        row = BY_KEY.get(key)
        if row is None:
            close = difflib.get_close_matches(key, config_keys(), n=1, cutoff=0.6)
            hint = f"did you mean {close[0]}? " if close else ""
            problems.append(
                f"{NAMESPACE}:{key}: unknown config key; {hint}(every key: docs/configuration.md)"
            )
            continue
        if row.secret and key not in secret_keys:
            problems.append(
                f"{NAMESPACE}:{key}: set as plain text; it must be a secret "
                f"(pulumi config set --secret {key} ...)"
            )
        elif not row.secret and key in secret_keys:
            problems.append(
                f"{NAMESPACE}:{key}: set as a secret, but it is not one (it shows in commands and "
                f"previews): pulumi config set --plaintext {key} ..."
            )
        hidden = row.secret or key in secret_keys
        if row.path is None:
            problems += _program_key(key, value, allow_public)
            values[key] = value
            continue
        try:
            typed = _typed(key, value, hidden)
            checked = check_input(row.path, typed, allow_public)
            # A secret is checked here, never kept: the program reads it as a Pulumi secret.
            values[key] = True if row.secret else checked
        except IndexedError as exc:
            why = "not a valid entry (not shown: set as a secret)" if hidden else str(exc)
            problems.append(f"{NAMESPACE}:{key}[{exc.index}]: {text(why, key_of_path)}")
        except ValueError as exc:
            problems.append(f"{NAMESPACE}:{key}: {_shown(value, hidden, str(exc))}")
    if "pbxStack" not in raw and "pbx01Host" not in raw:
        problems.append(f"{NAMESPACE}:pbx01Host: required when pbxStack is not set, not set")
    if "backupRepository" not in raw:
        # Without a repository there is no `backup` argument for them to go to (a key at its
        # default, as Pulumi.yaml declares it, is not a choice).
        problems += [
            f"{NAMESPACE}:{row.key}: needs backupRepository (there is no backup without one)"
            for row in KEYS
            if (row.path or "").startswith("backup.")
            and row.key in values
            and values[row.key] != INPUTS[row.path or ""].default_for("existing")
            and row.key not in UNUSED_WITHOUT_REPOSITORY
        ]
    if problems:
        raise ConfigError("invalid configuration:\n  " + "\n  ".join(problems))
    return StackConfig(values)
