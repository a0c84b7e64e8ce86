"""Run the pack's policies outside the engine, on arguments built the way the engine builds them.

pulumi-policy ships no test helpers, so these build `ResourceValidationArgs` / `StackValidationArgs`
directly, with properties wrapped in the same unknown-checking proxy the analyzer uses (so a policy
that trips over a value unknown at preview fails here too).
"""

from __future__ import annotations

import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pulumi_policy import (
    PolicyCustomTimeouts,
    PolicyResource,
    PolicyResourceOptions,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)
from pulumi_policy.policy import _NotApplicableError
from pulumi_policy.proxy import UNKNOWN_STRING_VALUE, unknown_checking_proxy

from tests.unit import harness

UNKNOWN_STRING = UNKNOWN_STRING_VALUE
STACK = "dev"
OURS = {"managed-by": "pulumi", "portsip-im-project": "portsip-im", "portsip-im-stack": STACK}


def urn(typ: str, name: str) -> str:
    return f"urn:pulumi:{STACK}::portsip-im::{typ}::{name}"


def options(protect: bool = False, parent: str | None = None) -> PolicyResourceOptions:
    return PolicyResourceOptions(
        protect=protect,
        ignore_changes=[],
        delete_before_replace=None,
        aliases=[],
        custom_timeouts=PolicyCustomTimeouts(0, 0, 0),
        additional_secret_outputs=[],
        parent=parent,
    )


@dataclass
class Outcome:
    violations: list[tuple[str, str | None]] = field(default_factory=list)
    not_applicable: str | None = None

    def report(self, message: str, urn: str | None = None) -> None:
        """The `report_violation` callback."""
        self.violations.append((message, urn))

    @property
    def messages(self) -> list[str]:
        return [m for m, _ in self.violations]

    def __bool__(self) -> bool:  # truthy when the policy objected
        return bool(self.violations)


def check_resource(
    policy: ResourceValidationPolicy,
    typ: str,
    props: Mapping[str, Any],
    name: str = "r",
    config: Mapping[str, Any] | None = None,
) -> Outcome:
    out = Outcome()
    args = ResourceValidationArgs(
        typ, unknown_checking_proxy(dict(props)), urn(typ, name), name, options(), None, config
    )
    try:
        policy.validate(args, out.report)
    except _NotApplicableError as exc:
        out.not_applicable = exc.reason or ""
    return out


def resource(
    typ: str,
    name: str,
    props: Mapping[str, Any],
    protect: bool = False,
    parent: PolicyResource | None = None,
    property_dependencies: dict[str, list[PolicyResource]] | None = None,
) -> PolicyResource:
    return PolicyResource(
        typ,
        unknown_checking_proxy(dict(props)),
        urn(typ, name),
        name,
        options(protect, parent.urn if parent else None),
        None,
        parent,
        [],
        property_dependencies or {},
    )


def check_stack(
    policy: StackValidationPolicy,
    resources: list[PolicyResource],
    config: Mapping[str, Any] | None = None,
) -> Outcome:
    out = Outcome()
    args = StackValidationArgs(resources, config)
    try:
        policy.validate(args, out.report)
    except _NotApplicableError as exc:
        out.not_applicable = exc.reason or ""
    return out


def from_program(result: harness.Result) -> list[PolicyResource]:
    """What the program registered under mocks, as the engine hands it to stack policies."""
    out = [
        resource(reg.typ, reg.name, reg.inputs, protect=bool(reg.options.get("protect")))
        for reg in result.resources
    ]
    by_name = {res.name: res for res in out}
    # Registrations run on several threads, so parents are linked once all are in.
    for reg, res in zip(result.resources, out, strict=True):
        parent = by_name.get(reg.parent)
        if parent is not None:
            res.parent = parent
            res.opts.parent = parent.urn
    return out


def fresh_private_key(folder: Path) -> str:
    """An ed25519 private key made now with ssh-keygen, for tests that need one's text."""
    path = folder / "id_ed25519"
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)],
        check=True,
        capture_output=True,
    )
    return path.read_text()
