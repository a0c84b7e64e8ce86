"""How a step's command line and stdin are made and read back (pure: the policy pack, which has
no provider SDK, reads them too). See remote.py for why the script travels on stdin."""

from __future__ import annotations

import base64
import hashlib
import re
import shlex
from collections.abc import Mapping

# The command runs one line it reads off stdin (bash's `read` takes a pipe a byte at a time, so the
# rest stays there). The command is all a failed step's error quotes of it, three times in the
# CLI's output: the loader itself travels on stdin. Only the loader's line ends the shell itself
# (its `exit`): a line cut short (no newline), or any other first line, exits 3 having run nothing.
COMMAND = 'read -r l&&eval "$l";exit 3'
# That first line: reads exactly the script's bytes (GNU head -c reads no further), runs them only
# if their SHA-256 (sha256sum of a here-string: the bytes and a newline) opens with the digest the
# command carries, with the parameters, and exits with their status; $0 is the step's name, as
# lib.sh expects.
LOADER = (
    's=$(head -c {size});[ "$(sha256sum<<<"$s"|cut -c-{digits})" = "$1" ]'
    '||{{ echo "[$0] ERROR: step script not received intact">&2;exit 1;}};shift;eval "$s";exit'
)
# Enough to tell a cut or changed script (and, in a preview, a changed script) from the one sent.
DIGITS = 16


def _payload(script: str) -> bytes:
    # `$(…)` drops trailing newlines: digest and size are of what the loader will hold.
    return script.rstrip("\n").encode()


def render(
    step: str,
    script: str,
    params: Mapping[str, str],
    sudo: bool = False,
) -> str:
    """The exact command line a step runs (pure; the lab tests use it too): `bash -c COMMAND STEP
    DIGEST KEY=VALUE...`. Its loader and script go on stdin first: see `stdin_text`."""
    digest = hashlib.sha256(_payload(script) + b"\n").hexdigest()[:DIGITS]
    words = ["sudo", "-n"] if sudo else []
    words += ["bash", "-c", COMMAND, step, digest]
    words += [f"{key}={value}" for key, value in params.items()]
    return " ".join(shlex.quote(w) for w in words)


def stdin_text(script: str, encoded_secrets: str = "") -> str:
    """A step's stdin: the loader's line, its script and a newline, then its secrets from
    `encode_secrets` (pure)."""
    payload = _payload(script)
    loader = LOADER.format(size=len(payload), digits=DIGITS)
    return loader + "\n" + payload.decode() + "\n" + encoded_secrets


def encode_secrets(secrets: Mapping[str, str | None]) -> str:
    """stdin for a step: one `NAME<TAB>base64(value)` line per secret (pure)."""
    return "".join(
        f"{name}\t{base64.b64encode(value.encode()).decode()}\n"
        for name, value in secrets.items()
        if value is not None
    )


_SIZE = re.compile(r"^s=\$\(head -c (\d+)\);")  # LOADER's


def sent_script(command: str, stdin: str) -> str | None:
    """The script a step's command reads off its stdin; None for a command that is not a step's
    (pure)."""
    first, newline, rest = stdin.partition("\n")
    found = _SIZE.match(first)
    # Any command may come here (the policy pack reads every stack's): one that is not a step's
    # may not even split as shell words.
    if found is None or not newline or shlex.quote(COMMAND) not in command:
        return None
    return rest.encode()[: int(found.group(1))].decode(errors="replace")


def params_of(command: str) -> dict[str, str]:
    """A step's plain parameters, read back from its command line (pure)."""
    words = shlex.split(command)
    start = words.index("-c") + 4  # bash -c COMMAND STEP DIGEST KEY=VALUE...
    return dict(w.split("=", 1) for w in words[start:])


def secrets_part(command: str, stdin: str) -> str:
    """What follows the script on a step's stdin: its `NAME<TAB>base64` lines (pure)."""
    script = sent_script(command, stdin)
    if script is None:
        return stdin
    loader = stdin.partition("\n")[0]
    return stdin.encode()[len(loader.encode()) + 1 + len(script.encode()) + 1 :].decode()
