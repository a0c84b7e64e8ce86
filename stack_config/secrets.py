"""The secret keys (table.py's rows marked secret), as the policy pack and scripts list them."""

from __future__ import annotations

from dataclasses import dataclass

from .table import KEYS


@dataclass(frozen=True)
class SecretSpec:
    key: str
    path: str


SECRETS = [SecretSpec(k.key, k.path or "") for k in KEYS if k.secret]
