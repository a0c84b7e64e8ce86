"""How the component's messages name its inputs: in the caller's words.

The component names each input by its argument path (`pbx.api.admin_password`, `host.aws.size`),
and a message that mentions another input writes its path in backticks. A caller that knows its
inputs by other names sets a namer once: this repository's program names them by its config keys
(stack_config), the component package by the camelCase properties a YAML or TypeScript program
writes. Errors raised later, when an Output's value is known, are named the same way.
"""

from __future__ import annotations

import re
from collections.abc import Callable

Namer = Callable[[str], str | None]
"""An argument path → the caller's name for it; None: keep the path."""

_namer: Namer | None = None
_heading = "ImServer arguments"
_prefix = ""

# A backticked argument path: `pbx.api.mode`, `host.existing`, `host.aws.admin_cidrs[0]`.
_REFERENCE = re.compile(
    r"`((?:host|pbx|ssh|prepare|im|backup)(?:\.[a-z0-9_*]+)+|allow_public_private_network|host)"
    r"(\[\d+\])?`"
)


def use(namer: Namer | None, heading: str = "ImServer arguments", prefix: str = "") -> None:
    """Name inputs with `namer` from now on in this process (None: argument paths); an error
    opens with `invalid <heading>:`, and each problem's name with `prefix`."""
    global _namer, _heading, _prefix
    _namer, _heading, _prefix = namer, heading, prefix


def heading() -> str:
    return _heading


def field(path: str) -> str:
    """The name a problem line opens with."""
    return _prefix + name(path)


def name(path: str, namer: Namer | None = None) -> str:
    """The caller's name for an argument path (an index such as `[0]` is kept); `namer`: this
    one instead of the process's."""
    namer = namer or _namer
    base, index = path, ""
    match = re.fullmatch(r"(.*?)(\[\d+\])", path)
    if match:
        base, index = match.group(1), match.group(2)
    named = namer(base) if namer is not None else None
    return (named or base) + index


def text(message: str, namer: Namer | None = None) -> str:
    """A message with each backticked argument path it mentions in the caller's words (left as it
    is, backticks and all, where the caller has no other name for it)."""
    namer = namer or _namer

    def named(m: re.Match[str]) -> str:
        found = namer(m.group(1)) if namer is not None else None
        return found + (m.group(2) or "") if found else m.group(0)

    return _REFERENCE.sub(named, message)


def camel_case(path: str) -> str:
    """The component package's property path: `pbx.api.admin_password` → `pbx.api.adminPassword`."""
    return ".".join(
        re.sub(r"_([a-z0-9])", lambda m: m.group(1).upper(), part) for part in path.split(".")
    )


# `{{pbx.api.url}}` in a remote script's message: the input it names, rendered when the script is
# sent, so the host's errors name inputs as the caller does (this program: `pbxApiUrl`, the same
# bytes as before the scripts took the marker). `{{=path}}`: as a problem line opens, with the
# caller's prefix (`portsip-im:pbxApiUrl`).
_IN_SCRIPT = re.compile(
    r"\{\{(=?)((?:host|pbx|ssh|prepare|im|backup)\.[a-z0-9_.*]+|allow_public_private_network)\}\}"
)


def in_script(script: str, namer: Namer | None = None) -> str:
    """A script's text with each `{{path}}` it holds in the caller's words."""

    def named(m: re.Match[str]) -> str:
        if m.group(1) and namer is None:
            return field(m.group(2))
        return name(m.group(2), namer)

    return _IN_SCRIPT.sub(named, script)
