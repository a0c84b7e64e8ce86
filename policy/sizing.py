"""Host sizing policies: `im-host-meets-spec`, `im-host-type-listed`, `im-host-not-undersized`.

The program already checks `size` at preview against the cloud's own catalogue
(`aws.ec2.get_instance_type`, `hcloud.get_server_type`) with the figures of portsip_im/spec.py,
for the stack's `portsip-im:sizingProfile`; the pack reads that key from the stack's config too. A
policy cannot call a cloud API, so this pack keeps a small table of instance/server types whose
figures are published and stable (below), reuses spec.py's minimums and its check, and:
  * rejects a type it knows to be too small (mandatory),
  * passes a type it knows to meet the guide,
  * reports a type it does not know (advisory policy `im-host-type-listed`), leaving the verdict to
    the program's catalogue check.
The data volume's size is checked exactly: it is in the resource's inputs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import pulumi
from pulumi_policy import (
    EnforcementLevel,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)

from policy.data import is_data_volume
from policy.props import as_int, get
from policy.resources import AWS_INSTANCE, AWS_VOLUME, HCLOUD_SERVER, HCLOUD_VOLUME, is_ours
from portsip_im import naming
from portsip_im.spec import (
    DEFAULT_PROFILE,
    PROFILES,
    HostFacts,
    Profile,
)
from portsip_im.spec import describe_shortfall as _describe_shortfall
from portsip_im.spec import guide_asks as _guide_asks
from stack_config import NAMESPACE, key_of_path


def guide_asks(profile: Profile) -> str:
    """The component's words, with this program's config keys (`sizingProfile`)."""
    return naming.text(_guide_asks(profile), key_of_path)


def describe_shortfall(key: str, what: str, facts: HostFacts, profile: Profile) -> str | None:
    found = _describe_shortfall(key, what, facts, profile)
    return None if found is None else naming.text(found, key_of_path)


LARGE = PROFILES[DEFAULT_PROFILE]

# ---------------------------------------------------------------------------------------------
# The table of known host types. Figures are the clouds' published ones; extend it as needed
# (a test checks it against the mocks' catalogue in tests/unit/harness.py).

# AWS: in these families an `<N>xlarge` has 4*N vCPU (`large` 2, `medium` 1), and memory per vCPU
# is fixed by the family's letter (c: 2 GiB, m: 4 GiB, r: 8 GiB; a few, like c5n, have more).
# `metal` and other sizes are not listed: they are left to the program's catalogue check.
AWS_FAMILIES: dict[str, int] = {
    **dict.fromkeys(
        ("c5", "c5a", "c5d", "c5n", "c6a", "c6g", "c6i", "c6id", "c6in", "c7a", "c7g", "c7i"), 2
    ),
    **dict.fromkeys(("m5", "m5a", "m5d", "m6a", "m6g", "m6i", "m6id", "m7a", "m7g", "m7i"), 4),
    **dict.fromkeys(("r5", "r5a", "r5d", "r6a", "r6g", "r6i", "r6id", "r7a", "r7g", "r7i"), 8),
}
AWS_SIZE_VCPUS: dict[str, int] = {
    "medium": 1,
    "large": 2,
    "xlarge": 4,
    **{f"{n}xlarge": 4 * n for n in (2, 3, 4, 6, 8, 9, 12, 16, 18, 24, 32, 48)},
}
# Families' largest size in vCPU: below a profile's minimum, every member is too small for it.
AWS_SMALL_FAMILIES: dict[str, int] = {"t2": 8, "t3": 8, "t3a": 8, "t4g": 8, "a1": 16}

# Hetzner Cloud: dedicated-vCPU CCX types (cores, memory GB).
HCLOUD_TYPES: dict[str, tuple[int, int]] = {
    "ccx13": (2, 8),
    "ccx23": (4, 16),
    "ccx33": (8, 32),
    "ccx43": (16, 64),
    "ccx53": (32, 128),
    "ccx63": (48, 192),
}
# Shared-vCPU lines' largest type in vCPU (16): too small for large; for medium, left to the table.
HCLOUD_SMALL_FAMILIES: dict[str, int] = {"cx": 16, "cpx": 16, "cax": 16}


@dataclass(frozen=True)
class TypeVerdict:
    known: bool
    problem: str | None = None
    """Why the type is below the guide, when it is."""


def _small_family(what: str, family: str, most: int, profile: Profile) -> str:
    return f"portsip-im:size: {what} is a {family} type, at most {most} vCPU; {guide_asks(profile)}"


def aws_instance_verdict(instance_type: str, profile: Profile = LARGE) -> TypeVerdict:
    """What the table says of an AWS instance type, for `profile`."""
    family, _, size = instance_type.partition(".")
    what = f"instance type {instance_type}"
    most = AWS_SMALL_FAMILIES.get(family)
    if most is not None and most < profile.min_vcpus:
        return TypeVerdict(True, _small_family(what, family, most, profile))
    if family not in AWS_FAMILIES or size not in AWS_SIZE_VCPUS:
        return TypeVerdict(False)
    vcpus = AWS_SIZE_VCPUS[size]
    facts = HostFacts(vcpus=vcpus, memory_mib=vcpus * AWS_FAMILIES[family] * 1024)
    return TypeVerdict(True, describe_shortfall("portsip-im:size", what, facts, profile))


def hcloud_server_verdict(server_type: str, profile: Profile = LARGE) -> TypeVerdict:
    """What the table says of a Hetzner server type, for `profile`."""
    what = f"server type {server_type}"
    if server_type in HCLOUD_TYPES:
        cores, memory_gb = HCLOUD_TYPES[server_type]
        facts = HostFacts(vcpus=cores, memory_mib=memory_gb * 1024)
        return TypeVerdict(True, describe_shortfall("portsip-im:size", what, facts, profile))
    match = re.fullmatch(r"([a-z]+)\d+", server_type)
    most = HCLOUD_SMALL_FAMILIES.get(match.group(1)) if match else None
    if match and most is not None and most < profile.min_vcpus:
        return TypeVerdict(True, _small_family(what, match.group(1), most, profile))
    return TypeVerdict(False)


def stack_profile() -> Profile | None:
    """The stack's `portsip-im:sizingProfile` (large when unset), as the program reads it.

    The engine hands a policy pack the stack's configuration (see network.py's
    configured_client_cidrs). An unknown name is the program's error to report at preview; here it
    is None, and the host-size policy then holds the host to the large profile, the strictest.
    """
    name = pulumi.Config(NAMESPACE).get("sizingProfile") or DEFAULT_PROFILE
    return PROFILES.get(name)


# ---------------------------------------------------------------------------------------------
# The IM host meets the stack's sizing profile (large: 20 vCPU / 16 GiB / 256 GB).


def _host_type(resource_type: str, props: Any) -> tuple[str | None, TypeVerdict | None]:
    profile = stack_profile() or LARGE
    if resource_type == AWS_INSTANCE and is_ours(props):
        name = get(props, "instanceType")
        if isinstance(name, str):
            return name, aws_instance_verdict(name, profile)
    if resource_type == HCLOUD_SERVER and is_ours(props):
        name = get(props, "serverType")
        if isinstance(name, str):
            return name, hcloud_server_verdict(name, profile)
    return None, None


def validate_host_size(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    props = args.props
    _, verdict = _host_type(args.resource_type, props)
    if verdict is not None and verdict.problem:
        report_violation(verdict.problem, None)
    if args.resource_type in (AWS_VOLUME, HCLOUD_VOLUME) and is_data_volume(props):
        profile = stack_profile() or LARGE
        size = as_int(get(props, "size"))
        if size is not None and size < profile.min_disk_gb:
            report_violation(
                f"portsip-im:dataDiskGb: the IM data volume is {size} GB "
                f"(minimum {profile.min_disk_gb} GB); {guide_asks(profile)}",
                None,
            )


def validate_host_type_listed(
    args: ResourceValidationArgs, report_violation: ReportViolation
) -> None:
    name, verdict = _host_type(args.resource_type, args.props)
    if verdict is not None and not verdict.known:
        report_violation(
            f"portsip-im:size: {name!r} is not in the policy pack's table of known types "
            "(policy/sizing.py), so only the program's preview check against the cloud's "
            "catalogue vouches for its size",
            None,
        )


# ---------------------------------------------------------------------------------------------
# allowUndersizedHost is a lab switch (stack policy: it is config, not a resource).


def validate_not_undersized(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    stack = pulumi.Config(NAMESPACE)
    if stack.get("target") is None:
        args.not_applicable("no portsip-im stack config reached the pack")
        return
    if str(stack.get("allowUndersizedHost") or "false").strip().lower() != "true":
        return
    profile = stack_profile() or LARGE
    report_violation(
        f"{NAMESPACE}:allowUndersizedHost is true: the IM host is let through below PortSIP's "
        f"{profile.asks()} (sizingProfile {profile.name}); a lab switch, never production (a "
        "smaller site sets sizingProfile medium)",
        None,
    )


# ---------------------------------------------------------------------------------------------

HOST_SIZE = ResourceValidationPolicy(
    name="im-host-meets-spec",
    description="The IM host and its data volume meet the guide's minimums for the stack's "
    f"sizingProfile (large: {LARGE.asks()}).",
    validate=validate_host_size,
)
HOST_TYPE_LISTED = ResourceValidationPolicy(
    name="im-host-type-listed",
    description="The IM host's type is one this pack knows the size of (else the program's "
    "catalogue check alone vouches for it).",
    validate=validate_host_type_listed,
    enforcement_level=EnforcementLevel.ADVISORY,
)
# Advisory, not mandatory: the lab stack sets it on purpose (its hosts have 2 vCPU) and must still
# pass the pack; an organisation that wants it to stop an update makes it mandatory with
# `--policy-pack-config` ({"im-host-not-undersized": "mandatory"}).
NOT_UNDERSIZED = StackValidationPolicy(
    name="im-host-not-undersized",
    description="The stack does not set portsip-im:allowUndersizedHost (a lab-only switch that "
    "lets an existing host below the sizing profile through).",
    validate=validate_not_undersized,
    enforcement_level=EnforcementLevel.ADVISORY,
)
