"""How a step's command line and stdin are made and read back (pure: the policy pack, which has
no provider SDK, reads them too). See remote.py for why the script travels on stdin."""

from __future__ import annotations

import base64
import hashlib
import re
import shlex
from collections.abc import Mapping

# Reads the script's bytes off stdin (GNU head -c reads no further), checks their SHA-256 (sha256sum
# of a here-string: the bytes and a newline), runs them with the parameters; $0 is the step's
# name, as lib.sh expects. Short, because a failed step's error opens with it.
LOADER = (
    's=$(head -c {size});[ "$(sha256sum <<<"$s")" = "$1  -" ]'
    '||{{ echo "[$0] ERROR: step script not received intact" >&2;exit 1;}};shift;eval "$s"'
)


def _payload(script: str) -> bytes:
    # `$(…)` drops trailing newlines: digest and size are of what the loader will hold.
    return script.rstrip("\n").encode()


def render(
    step: str,
    script: str,
    params: Mapping[str, str],
    sudo: bool = False,
) -> str:
    """The exact command line a step runs (pure; the lab tests use it too). Its script goes on
    stdin first: see `stdin_text`."""
    payload = _payload(script)
    words = ["sudo", "-n"] if sudo else []
    words += ["bash", "-c", LOADER.format(size=len(payload)), step]
    words += [hashlib.sha256(payload + b"\n").hexdigest()]
    words += [f"{key}={value}" for key, value in params.items()]
    return " ".join(shlex.quote(w) for w in words)


def stdin_text(script: str, encoded_secrets: str = "") -> str:
    """A step's stdin: its script, a newline, then its secrets from `encode_secrets` (pure)."""
    return _payload(script).decode() + "\n" + encoded_secrets


def encode_secrets(secrets: Mapping[str, str | None]) -> str:
    """stdin for a step: one `NAME<TAB>base64(value)` line per secret (pure)."""
    return "".join(
        f"{name}\t{base64.b64encode(value.encode()).decode()}\n"
        for name, value in secrets.items()
        if value is not None
    )


_SIZE = re.compile(r"head -c (\d+)\)")  # LOADER's


def sent_script(command: str, stdin: str) -> str | None:
    """The script a step's command reads off its stdin; None for a command that is not a step's
    (pure)."""
    found = _SIZE.search(command)
    if found is None or "eval" not in command:
        return None
    return stdin.encode()[: int(found.group(1))].decode(errors="replace")


def params_of(command: str) -> dict[str, str]:
    """A step's plain parameters, read back from its command line (pure)."""
    words = shlex.split(command)
    start = words.index("-c") + 4  # bash -c LOADER STEP SHA256 KEY=VALUE...
    return dict(w.split("=", 1) for w in words[start:])


def secrets_part(command: str, stdin: str) -> str:
    """What follows the script on a step's stdin: its `NAME<TAB>base64` lines (pure)."""
    script = sent_script(command, stdin)
    if script is None:
        return stdin
    return stdin.encode()[len(script.encode()) + 1 :].decode()
