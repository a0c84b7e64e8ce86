"""What every step needs: the name, the resolved args, where it runs, how it is parented."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import pulumi

from .. import remote
from ..hosts import ImHost
from ..pbx import PbxAccess
from ..resolved import Resolved

DEFAULT_DATA_PATH = "/var/lib/portsip"  # im_ctl.sh's default DATA_PATH


@dataclass(frozen=True)
class Steps:
    """The context the step functions share."""

    name: str
    r: Resolved
    host: ImHost
    pbx: PbxAccess
    pbx01: remote.Host
    """pbx01 as the guide's `pbx` user: where im.sh and the PBX API calls run."""
    im_admin: remote.Host
    """The IM host as the operator's admin user (root through sudo), through pbx01 by default."""
    parent: pulumi.Resource

    def child(self, *depends_on: pulumi.Resource, **extra: Any) -> pulumi.ResourceOptions:
        return pulumi.ResourceOptions(parent=self.parent, depends_on=list(depends_on), **extra)


def digest(output: pulumi.Output[str]) -> pulumi.Output[str]:
    """A short, non-secret fingerprint of a step's output: changes whenever the output does."""
    value = output.apply(lambda text: hashlib.sha256((text or "").encode()).hexdigest()[:16])
    return pulumi.Output.unsecret(value)


def flag(value: bool) -> str:
    return "1" if value else "0"
