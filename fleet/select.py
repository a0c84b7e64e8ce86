"""Which stacks: explicit names, globs over the backend's stacks, a stack tag. No I/O: the
backend's stack names and a way to read one stack's tags are passed in."""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Iterable

from .model import FleetError


def short_name(name: str) -> str:
    """`org/project/stack` or `stack` -> `stack` (file backends list either form)."""
    return name.rsplit("/", 1)[-1]


def select(
    available: Iterable[str],
    names: Iterable[str] = (),
    globs: Iterable[str] = (),
    tag: str | None = None,
    tags_of: Callable[[str], dict[str, str]] | None = None,
    canary: str | None = None,
) -> list[str]:
    """The selected stacks, in the order given (names first, then glob matches sorted), each
    once, filtered by `tag` (KEY=VALUE, or KEY: the tag is set) when given; the canary first.
    Explicit names and the canary must exist in the backend; a selection of nothing is an error."""
    known = sorted({short_name(n) for n in available})
    chosen: list[str] = []

    def add(name: str) -> None:
        if name not in chosen:
            chosen.append(name)

    names, globs = list(names), list(globs)
    for name in names:
        if name not in known:
            raise FleetError(f"no stack {name!r} in the backend (it has: {', '.join(known)})")
        add(name)
    for pattern in globs:
        for name in known:
            if fnmatch.fnmatchcase(name, pattern):
                add(name)
    if not names and not globs:
        if tag is None:
            raise FleetError("no stacks selected: give names, --glob PATTERN or --tag KEY=VALUE")
        chosen = list(known)
    if tag is not None:
        if tags_of is None:
            raise FleetError("--tag needs the stacks' tags")
        key, _, value = tag.partition("=")
        chosen = [
            n for n in chosen if key in (t := tags_of(n)) and ("=" not in tag or t[key] == value)
        ]
    if canary is not None:
        if canary not in known:
            raise FleetError(f"canary {canary!r} is not a stack in the backend")
        chosen = [canary] + [n for n in chosen if n != canary]
    if not chosen:
        raise FleetError("the selection matches no stack")
    return chosen
