"""The declaration of one input beyond its type and docstring: its default and its rule.

args.py declares every field of ImServerArgs: its type and docstring in the TypedDicts, its default
and rule in `INPUTS`, one entry per field path (`host.*.size`: the field of whichever host target).
The component applies them (checks/); this program's config layer checks a key with the same
entry; the config reference shows the same default. A test holds INPUTS to the TypedDicts.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, get_args, get_origin

from . import rules
from .spec import DEFAULT_PROFILE

Rule = Callable[[Any], Any]


@dataclass(frozen=True)
class Input:
    """What the component does with one field besides its type."""

    default: Any = None
    """The value when the caller leaves it out: a value, or a function of (target, sizing profile
    name) for defaults that depend on them. None: no default (optional, or required)."""
    rule: Rule | None = None
    """Raises ValueError (a message without the field's name) for a bad value; returns the
    normalised value."""
    normalize: bool = True
    """False: the value is checked but passed on as given (a stack made before the check keeps its
    exact value)."""
    plain_only: bool = False
    """An Output is another resource's own id: only a typed-in value is held to the rule."""
    private_address: bool | None = None
    """An IPv4 host address; True: a private one unless `allow_public_private_network`."""

    def default_for(self, target: str, profile: str = DEFAULT_PROFILE) -> Any:
        value = self.default(target, profile) if callable(self.default) else self.default
        # A fresh copy: a caller's list or dict must never be shared with the table.
        return (
            list(value)
            if isinstance(value, list)
            else dict(value)
            if isinstance(value, dict)
            else value
        )


def check(entry: Input, value: Any, allow_public: bool = False) -> Any:
    """`value` held to `entry`'s rule: the normalised value, or ValueError."""
    if entry.private_address is not None:
        rules.usable_address(str(value), entry.private_address, allow_public)
        return value
    if entry.rule is None:
        return value
    made = entry.rule(value)
    return made if entry.normalize else value


def one_of(*allowed: str) -> Rule:
    def rule(value: Any) -> Any:
        if value not in allowed:
            options = ", ".join(allowed[:-1]) + " or " + allowed[-1]
            raise ValueError(f"{value!r} is not one of {options}")
        return value

    return rule


def boolean(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"{value!r}: must be true or false")
    return value


def whole(low: int, high: int | None = None, unit: str = "") -> Rule:
    def rule(value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"must be a whole number{unit}")
        if value < low:
            raise ValueError(f"must be a whole number of at least {low}")
        if high is not None and value > high:
            raise ValueError(f"must be at most {high}")
        return value

    return rule


def matching(pattern: str, shape: str) -> Rule:
    regex = re.compile(pattern)

    def rule(value: Any) -> Any:
        if not isinstance(value, str) or not regex.fullmatch(value):
            raise ValueError(f"{value!r}: must be {shape}")
        return value

    rule.pattern = pattern  # type: ignore[attr-defined]  # a script's own check is held to it
    return rule


def cidr_list(admin: bool) -> Rule:
    """A list of networks; `admin`: each an SSH source range (rules.admin_range). A bad entry's
    message starts with its index, `[i] …`, which the caller joins to the field's name."""

    def rule(values: Any) -> list[Any]:
        if not isinstance(values, list):
            raise ValueError("must be a list of networks (CIDR)")
        import ipaddress

        out = []
        for i, text in enumerate(values):
            try:
                net = ipaddress.ip_network(str(text))
                out.append(rules.admin_range(net) if admin else net)
            except ValueError as exc:
                why = str(exc)
                shown = why if why.startswith(repr(text)) else f"{text!r}: {why}"
                raise IndexedError(i, shown) from None
        return out

    return rule


class IndexedError(ValueError):
    """A bad entry of a list, `index` naming it (`admin_cidrs[0]`)."""

    def __init__(self, index: int, message: str) -> None:
        super().__init__(message)
        self.index = index


# ----- what the component's TypedDicts hold, for the table's test and the config reference -----


def fields(typed: Any) -> dict[str, Any]:
    """A TypedDict's fields → their annotations (NotRequired and Input stripped to the value's
    type: str, int, bool, list[...], dict[...] or a nested TypedDict)."""
    # The annotations as objects (args.py has no `from __future__ import annotations`); not
    # get_type_hints, which would have to resolve pulumi.Input's forward reference to Output.
    return {name: _value_type(hint) for name, hint in typed.__annotations__.items()}


def _value_type(hint: Any) -> Any:
    # NotRequired[X] → X; pulumi.Input[T] is Union[T, Awaitable[T], Output[T]]: T comes first.
    args = get_args(hint)
    if get_origin(hint) is not None and args and get_origin(hint) not in (list, dict):
        return _value_type(args[0])
    return hint


def leaves(typed: Any, prefix: str = "") -> dict[str, Any]:
    """Every field path of a TypedDict tree → its value type; the host targets' fields as
    `host.*.name` (one entry for all targets that have it)."""
    out: dict[str, Any] = {}
    for name, kind in fields(typed).items():
        path = f"{prefix}{name}"
        if prefix == "host." and isinstance(kind, type) and hasattr(kind, "__annotations__"):
            for leaf, leaf_kind in leaves(kind).items():
                out.setdefault(f"host.*.{leaf}", leaf_kind)
        elif isinstance(kind, type) and issubclass(kind, dict) and hasattr(kind, "__total__"):
            out.update(leaves(kind, f"{path}."))
        else:
            out[path] = kind
    return out


def docstrings(typed: Any, prefix: str = "") -> dict[str, str]:
    """Each field path's docstring (the string after its annotation in args.py), as the component
    package's schema takes it; the host targets' fields as `host.*.name`, the first one found."""
    module = _module_docs(typed.__module__)
    out: dict[str, str] = {}
    for name, kind in fields(typed).items():
        # A TypedDict keeps no trace of the one it extends: an inherited field's docstring is
        # found in the class that declares it.
        doc = module.get(typed.__name__, {}).get(name) or next(
            (docs[name] for docs in module.values() if name in docs), ""
        )
        out[f"{prefix}{name}"] = doc
        if isinstance(kind, type) and issubclass(kind, dict) and hasattr(kind, "__total__"):
            if prefix == "host.":
                for leaf, text in docstrings(kind).items():
                    out.setdefault(f"host.*.{leaf}", text)
            else:
                out.update(docstrings(kind, f"{prefix}{name}."))
    return out


def _module_docs(module_name: str) -> dict[str, dict[str, str]]:
    """Class name → field → docstring, for every class of a module written as args.py is: a class
    line, then per field `    name: type` and its `\"\"\"docstring\"\"\"` right below. (Read with a
    pattern, not `ast`: CPython 3.11's ast.parse can fail on a deep stack, as under Pulumi's
    mocks.)"""
    import sys

    source = inspect.getsource(sys.modules[module_name])
    out: dict[str, dict[str, str]] = {}
    for cls in re.finditer(r"^class (\w+)\b[^\n]*\n((?:[ \t]+[^\n]*\n|\n)*)", source, re.M):
        fields = re.finditer(r'^    (\w+): [^\n]+\n    """(.*?)"""', cls.group(2), re.M | re.S)
        out[cls.group(1)] = {m.group(1): " ".join(m.group(2).split()) for m in fields}
    return out


def generic(path: str) -> str:
    """`host.aws.size` → `host.*.size` (the INPUTS key of a host target's field)."""
    return re.sub(r"^host\.(aws|hcloud|existing)\.", "host.*.", path)


def entry(inputs: Mapping[str, Input], path: str) -> Input:
    return inputs.get(generic(path), Input())
