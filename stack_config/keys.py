"""A stack's config, read: the values its keys hold, typed, with the component's defaults.

Not a second model of the inputs: which keys exist and what they feed is table.py, and each value's
type, default and rule are the component's (portsip_im.args). StackConfig only answers
`config.backup_schedule` for the code that reads a stack without running the program
(scripts/status, the fleet, the policy pack): the key's value if set, else the component's default.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pulumi

from portsip_im.args import INPUTS
from portsip_im.spec import DEFAULT_PROFILE

from .table import BY_KEY, NAMESPACE, snake

__all__ = ["NAMESPACE", "ConfigError", "StackConfig"]

_BY_ATTRIBUTE = {snake(k): row for k, row in BY_KEY.items()}


class ConfigError(pulumi.RunError):
    """Bad stack configuration. A RunError, so Pulumi prints the message and no stack trace."""


class StackConfig:
    """The typed values of one stack's keys (attribute = the key in snake_case)."""

    def __init__(self, values: Mapping[str, Any]) -> None:
        self._values = dict(values)
        """Key → typed value, for the keys that are set."""

    def given(self, key: str) -> Any:
        """The value of a key that is set, None otherwise."""
        return self._values.get(key)

    @property
    def keys(self) -> frozenset[str]:
        return frozenset(self._values)

    def replace(self, **values: Any) -> StackConfig:
        """A copy with these keys (by attribute name) set."""
        out = dict(self._values)
        for attribute, value in values.items():
            out[_BY_ATTRIBUTE[attribute].key] = value
        return StackConfig(out)

    def __getattr__(self, attribute: str) -> Any:
        row = _BY_ATTRIBUTE.get(attribute)
        if row is None:
            raise AttributeError(attribute)
        if row.key in self._values:
            return self._values[row.key]
        if row.path is None:
            return None
        target = self._values.get("target", "existing")
        profile = self._values.get("sizingProfile", DEFAULT_PROFILE)
        return INPUTS[row.path].default_for(target, profile)

    def __repr__(self) -> str:
        shown = {k: ("[secret]" if BY_KEY[k].secret else v) for k, v in self._values.items()}
        return f"StackConfig({shown})"
