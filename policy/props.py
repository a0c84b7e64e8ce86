"""Reading a resource's properties in a policy, shared by every module of the pack.

During preview some values are unknown; the engine's proxy (pulumi_policy.proxy) raises
UnknownValueError when one is read. These helpers turn that into UNKNOWN so that one unknown value
does not hide everything else from a policy, and each policy decides what an unknown value means.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pulumi_policy.proxy import UnknownValueError


class _Unknown:
    def __repr__(self) -> str:
        return "<unknown during preview>"


UNKNOWN: Any = _Unknown()


def get(obj: Any, key: str, default: Any = None) -> Any:
    """obj[key], or `default` when absent, or UNKNOWN when not known yet."""
    if obj is None or obj is UNKNOWN or not isinstance(obj, Mapping):
        return default
    try:
        return obj[key] if key in obj else default
    except UnknownValueError:
        return UNKNOWN


def items(seq: Any) -> list[Any]:
    """The elements of a list property (UNKNOWN for each unknown one); [] when absent."""
    if seq is None or seq is UNKNOWN or isinstance(seq, (str, bytes, Mapping)):
        return []
    out = []
    for i in range(len(seq)):
        try:
            out.append(seq[i])
        except UnknownValueError:
            out.append(UNKNOWN)
    return out


def as_int(value: Any) -> int | None:
    if value is None or value is UNKNOWN or isinstance(value, bool):
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None
