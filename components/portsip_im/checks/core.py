"""The checking machinery: a collector of problems that checks a plain value now and an Output
when it is known, each field read with its INPUTS default and rule, and the error naming them."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import pulumi

from .. import naming, rules
from ..args import INPUTS
from ..inputs import IndexedError, Input, entry
from ..spec import DEFAULT_PROFILE

T = TypeVar("T")

# Fields that must have a value even when it arrives as an Output.
REQUIRED = {
    "private_ip",
    "public_ip",
    "host_key",
    "ssh_public_key",
    "pbx01_host",
    "pbx01_host_key",
}


class ArgsError(pulumi.RunError):
    """Bad ImServer arguments: each problem names its field (`host.aws.size`) in the caller's
    words (naming.py). A RunError, so Pulumi prints the message and no stack trace."""

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        self.problems = problems
        lines = [f"{field}: {message}" for field, message in self.named()]
        if len(lines) == 1 and naming.field("") != "":
            # A caller with its own names (the program's `portsip-im:key: …`): one line.
            super().__init__(lines[0])
        else:
            super().__init__(f"invalid {naming.heading()}:\n  " + "\n  ".join(lines))

    def __reduce__(self) -> tuple[Any, ...]:
        # Rebuilt from its problems (pickled across processes, e.g. a test runner's workers).
        return (ArgsError, (self.problems,))

    def named(self, namer: naming.Namer | None = None) -> list[tuple[str, str]]:
        """The problems as the caller names its inputs (naming.use, or `namer`)."""
        if namer is not None:
            return [(naming.name(f, namer), naming.text(m, namer)) for f, m in self.problems]
        return [(naming.field(f), naming.text(m)) for f, m in self.problems]


class Checker:
    """Collects problems; `check` runs a rule now (plain) or when the value is known (Output)."""

    def __init__(self) -> None:
        self.problems: list[tuple[str, str]] = []

    def fail(self, field: str, message: str) -> None:
        self.problems.append((field, message))

    def check(
        self, field: str, value: Any, rule: Callable[[Any], T], normalize: bool = False
    ) -> Any:
        """The value, held to `rule`; with `normalize`, what the rule makes of it (an Output's
        value once known, exactly as a plain value's)."""
        if isinstance(value, pulumi.Output):

            def later(known: Any) -> Any:
                if known in (None, ""):
                    if field.rsplit(".", 1)[-1] in REQUIRED:
                        # e.g. another stack's output that is not there: never an unpinned key.
                        raise ArgsError([(field, "required, not set (its Output has no value)")])
                    return known  # an optional value another stack does not give
                try:
                    made = rule(known)
                except IndexedError as exc:
                    raise ArgsError([(f"{field}[{exc.index}]", str(exc))]) from None
                except ValueError as exc:
                    raise ArgsError([(field, str(exc))]) from None
                return made if normalize else known

            return value.apply(later)
        try:
            made = rule(value)
        except IndexedError as exc:
            self.fail(f"{field}[{exc.index}]", str(exc))
            return value
        except ValueError as exc:
            self.fail(field, str(exc))
            return value
        return made if normalize else value


class Fields:
    """The caller's fields of one target, each with its default (INPUTS) and held to its rule."""

    def __init__(self, ck: Checker, args: Mapping[str, Any], target: str, allow_public: bool):
        self.ck, self.args, self.target, self.allow_public = ck, args, target, allow_public
        self.profile = DEFAULT_PROFILE
        self.seen: dict[str, Any] = {}

    def given(self, path: str) -> Any:
        """The caller's value at `path` (`host.aws.size`, `pbx.api.url`), None when not set."""
        value: Any = self.args
        for part in path.split("."):
            value = value.get(part) if isinstance(value, Mapping) else None
        return value

    def __call__(self, path: str) -> Any:
        """The field's value: the caller's or its default, checked (and normalised) by its rule,
        once per field."""
        if path not in self.seen:
            self.seen[path] = self._checked(path)
        return self.seen[path]

    def _checked(self, path: str) -> Any:
        e: Input = entry(INPUTS, path)
        value = self.given(path)
        if value is None:
            value = e.default_for(self.target, self.profile)
        if value is None or (e.plain_only and isinstance(value, pulumi.Output)):
            return value
        return self.ck.check(
            path,
            value,
            lambda v: held(e, v, self.allow_public),
            normalize=e.normalize and e.private_address is None,
        )

    def need(self, path: str, when: str = "") -> Any:
        if self.given(path) in (None, ""):
            self.ck.fail(path, f"required{' when ' + when if when else ''}, not set")
        return self.given(path)


def held(e: Input, value: Any, allow_public: bool) -> Any:
    if e.private_address is not None:
        try:
            rules.usable_address(str(value), e.private_address, allow_public)
        except ValueError as exc:
            if "not a private address" not in str(exc):
                raise
            raise ValueError(
                f"{exc}; if this network really uses public addresses internally, set "
                "`allow_public_private_network`: true"
            ) from None
        return value
    return e.rule(value) if e.rule is not None else value


def check_input(path: str, value: Any, allow_public: bool = False) -> Any:
    """One field's value held to its INPUTS rule, alone: the normalised value, or ValueError (an
    IndexedError for a list's entry). The program's config layer checks a key with it."""
    e = entry(INPUTS, path)
    made = held(e, value, allow_public)
    return made if e.normalize and e.private_address is None else value


def secret(value: Any) -> Any:
    """A secret the caller may have passed as plain text: it must never reach state in clear."""
    return None if value is None else pulumi.Output.secret(value)
