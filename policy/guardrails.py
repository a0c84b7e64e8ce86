"""The policies of the `portsip-im-guardrails` pack, importable without starting the pack.

`__main__.py` hands `POLICIES` to `PolicyPack` (which serves them to the Pulumi engine and never
returns); the tests call the policies' `validate` directly. The policies on the remote steps
(host keys pinned, no secrets in command text) are in remote_commands.py; reading properties that
may be unknown at preview is in props.py.

How resources are recognised: every resource the program creates carries the tag/label
`portsip-im-stack` (components/hosts/__init__.py, `stack_labels`), and the data volume also
`portsip-im-role=im-data` (components/hosts/aws.py, hcloud.py).

Host size (decided): the program already checks `size` at preview against the cloud's own catalogue
(`aws.ec2.get_instance_type`, `hcloud.get_server_type`) with the figures of components/spec.py,
for the stack's `portsip-im:sizingProfile`; the pack reads that key from the stack's config too. A
policy cannot call a cloud API, so this pack keeps a small table of instance/server types whose
figures are published and stable (below), reuses spec.py's minimums and its check, and:
  * rejects a type it knows to be too small (mandatory),
  * passes a type it knows to meet the guide,
  * reports a type it does not know (advisory policy `im-host-type-listed`), leaving the verdict to
    the program's catalogue check.
The data volume's size is checked exactly: it is in the resource's inputs.

TCP 8887: the engine hands a policy pack the stack's configuration (pulumi.Config), so the rules
are checked against the stack's own `portsip-im:clientCidrs` (or the program's default); the pack's
config (`--policy-pack-config`) can override that list.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import json
import re
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pulumi
from pulumi_policy import (
    EnforcementLevel,
    PolicyConfigSchema,
    PolicyResource,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)

# The pack runs from its own folder; the guide's figures live in the program (components/spec.py).
REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from components.settings import NAMESPACE, ImConfig, admin_range_problem  # noqa: E402
from components.spec import (  # noqa: E402
    DEFAULT_PROFILE,
    IM_PORT,
    PROFILES,
    HostFacts,
    Profile,
    describe_shortfall,
    guide_asks,
)
from policy.props import UNKNOWN, get, items  # noqa: E402
from policy.remote_commands import HOST_KEY_PINNED, NO_SECRETS_IN_COMMANDS  # noqa: E402

PACK_NAME = "portsip-im-guardrails"

STACK_TAG = "portsip-im-stack"
ROLE_TAG = "portsip-im-role"
DATA_ROLE = "im-data"
SSH_PORT = 22

AWS_INSTANCE = "aws:ec2/instance:Instance"
AWS_VOLUME = "aws:ebs/volume:Volume"
AWS_SG = "aws:ec2/securityGroup:SecurityGroup"
AWS_SG_RULE = "aws:ec2/securityGroupRule:SecurityGroupRule"
AWS_INGRESS_RULE = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
HCLOUD_SERVER = "hcloud:index/server:Server"
HCLOUD_VOLUME = "hcloud:index/volume:Volume"
HCLOUD_FIREWALL = "hcloud:index/firewall:Firewall"

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

    The engine hands a policy pack the stack's configuration (see configured_client_cidrs). An
    unknown name is the program's error to report at preview; here it is None, and the host-size
    policy then holds the host to the large profile, the strictest.
    """
    name = pulumi.Config(NAMESPACE).get("sizingProfile") or DEFAULT_PROFILE
    return PROFILES.get(name)


def marks(props: Any) -> dict[str, Any]:
    """A resource's tags (AWS) or labels (Hetzner), as a plain dict."""
    out: dict[str, Any] = {}
    for key in ("tags", "labels"):
        value = get(props, key)
        if isinstance(value, Mapping):
            for k in value:
                out[k] = get(value, k)
    return out


def is_ours(props: Any) -> bool:
    return STACK_TAG in marks(props)


def is_data_volume(props: Any) -> bool:
    return marks(props).get(ROLE_TAG) == DATA_ROLE


def as_int(value: Any) -> int | None:
    if value is None or value is UNKNOWN or isinstance(value, bool):
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def network(value: Any) -> Network | None:
    if not isinstance(value, str):
        return None
    try:
        return ipaddress.ip_network(value.strip(), strict=False)
    except ValueError:
        return None


def is_world(value: Any) -> bool:
    """True for 0.0.0.0/0 and ::/0 (any spelling of them)."""
    net = network(value)
    return net is not None and net.prefixlen == 0


# ---------------------------------------------------------------------------------------------
# Firewall rules, normalised across AWS and Hetzner.


@dataclass(frozen=True)
class Ingress:
    protocol: Any
    """`tcp`, `udp`, `all`, … (lower case), or UNKNOWN."""
    from_port: int | None
    to_port: int | None
    """None on both: every port."""
    sources: tuple[Any, ...]
    """CIDRs as written (str), or UNKNOWN for one not known yet."""

    def covers_tcp(self, port: int) -> bool:
        if self.protocol is UNKNOWN or self.protocol not in ("tcp", "6", "all", "-1", "any"):
            return False
        if self.protocol in ("all", "-1", "any") or self.from_port is None:
            return True
        to_port = self.to_port if self.to_port is not None else self.from_port
        if self.from_port < 0:  # AWS's "-1": every port
            return True
        return self.from_port <= port <= to_port


def _protocol(value: Any) -> Any:
    if value is UNKNOWN:
        return UNKNOWN
    return str(value).lower() if value is not None else "all"


def _aws_ingress(rule: Any, cidr_keys: tuple[str, ...], protocol_key: str) -> Ingress:
    sources: list[Any] = []
    for key in cidr_keys:
        value = get(rule, key)
        if value is UNKNOWN:
            sources.append(UNKNOWN)
        elif isinstance(value, str):
            sources.append(value)
        else:
            sources.extend(items(value))
    from_port, to_port = as_int(get(rule, "fromPort")), as_int(get(rule, "toPort"))
    return Ingress(_protocol(get(rule, protocol_key)), from_port, to_port, tuple(sources))


def _hcloud_port(value: Any) -> tuple[int | None, int | None]:
    if value is None or value is UNKNOWN or str(value).strip().lower() == "any":
        return None, None
    low, _, high = str(value).partition("-")
    lo, hi = as_int(low.strip()), as_int((high or low).strip())
    return (lo, hi) if lo is not None and hi is not None else (None, None)


def ingress_rules(resource_type: str, props: Any) -> list[Ingress]:
    """The inbound rules one resource defines (none for a resource that defines no firewall)."""
    if resource_type == AWS_INGRESS_RULE:
        return [_aws_ingress(props, ("cidrIpv4", "cidrIpv6"), "ipProtocol")]
    if resource_type == AWS_SG_RULE:
        if get(props, "type") != "ingress":
            return []
        return [_aws_ingress(props, ("cidrBlocks", "ipv6CidrBlocks"), "protocol")]
    if resource_type == AWS_SG:
        return [
            _aws_ingress(r, ("cidrBlocks", "ipv6CidrBlocks"), "protocol")
            for r in items(get(props, "ingress"))
            if r is not UNKNOWN
        ]
    if resource_type == HCLOUD_FIREWALL:
        out = []
        for rule in items(get(props, "rules")):
            if rule is UNKNOWN or get(rule, "direction") != "in":
                continue
            lo, hi = _hcloud_port(get(rule, "port"))
            sources = get(rule, "sourceIps")
            srcs = (UNKNOWN,) if sources is UNKNOWN else tuple(items(sources))
            out.append(Ingress(_protocol(get(rule, "protocol")), lo, hi, srcs))
        return out
    return []


# ---------------------------------------------------------------------------------------------
# 1. The IM host meets the stack's sizing profile (large: 20 vCPU / 16 GiB / 256 GB).


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
            "(policy/guardrails.py), so only the program's preview check against the cloud's "
            "catalogue vouches for its size",
            None,
        )


# ---------------------------------------------------------------------------------------------
# 2. SSH is never open to the Internet.


def validate_ssh_not_public(
    args: ResourceValidationArgs, report_violation: ReportViolation
) -> None:
    for rule in ingress_rules(args.resource_type, args.props):
        if not rule.covers_tcp(SSH_PORT):
            continue
        for source in rule.sources:
            net = network(source)
            why = admin_range_problem(net) if net is not None else None
            if why is not None:
                # The rule adminCidrs is held to: the whole Internet, or a public range broader
                # than IPv4 /16 or IPv6 /48 (components/settings.py, ADMIN_CIDR_MIN_PREFIX).
                report_violation(
                    f"SSH (TCP {SSH_PORT}) is open to {source}: as portsip-im:adminCidrs it "
                    f"{why}; allow only pbx01 and the operator's networks",
                    None,
                )


# ---------------------------------------------------------------------------------------------
# 3. No secret-looking value in user-data, tags or labels.

SECRET_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("a private key", re.compile(r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY-----")),
    ("an AWS access key id", re.compile(r"\b(?:AKIA|ASIA)[A-Z0-9]{16}\b")),
    (
        "an AWS secret access key",
        re.compile(r"(?i)aws.{0,20}secret.{0,20}[=:]\s*['\"]?[A-Za-z0-9/+=]{40}\b"),
    ),
    ("a GitHub token", re.compile(r"\b(?:gh[pousr]_[A-Za-z0-9]{36,}|github_pat_\w{22,})")),
    ("a Slack token", re.compile(r"\bxox[abposr]-[A-Za-z0-9-]{10,}")),
    ("a Pulumi access token", re.compile(r"\bpul-[a-f0-9]{40}\b")),
    ("a JSON web token", re.compile(r"\beyJ[\w-]{10,}\.eyJ[\w-]{10,}\.[\w-]{10,}")),
    ("a URL with a password", re.compile(r"\b[a-z][a-z0-9+.-]*://[^/\s:@]+:[^/\s@]+@")),
    (
        "a password or token assignment",
        re.compile(
            # DB_PASSWORD=…, token: …; not `lock_passwd: true` nor `password: ${VAR}`.
            r"(?i)(?<![a-z0-9])(?:password|passwd|pwd|secret|token|api[_-]?key|access[_-]?key|"
            r"private[_-]?key|client[_-]?secret)\s*[:=]\s*['\"]?"
            r"(?!(?:true|false|yes|no|null|none)\b|\$|\{\{|<)[^\s'\"]{4,}"
        ),
    ),
)
SECRET_TAG_KEY = re.compile(
    r"(?i)(?:password|passwd|secret|token|api[_-]?key|private[_-]?key|credential)"
)
USER_DATA_KEYS = ("userData", "userDataBase64")
TAG_KEYS = ("tags", "tagsAll", "labels", "volumeTags")


def secret_kind(text: str) -> str | None:
    """What secret `text` seems to hold (for the message; never the value), or None."""
    for kind, pattern in SECRET_PATTERNS:
        if pattern.search(text):
            return kind
    return None


def _decoded(text: str) -> str | None:
    compact = "".join(text.split())
    if len(compact) < 16 or not re.fullmatch(r"[A-Za-z0-9+/]+={0,2}", compact):
        return None
    try:
        return base64.b64decode(compact, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None


def find_secrets(props: Any) -> list[str]:
    """Where props hold a secret-looking value, as phrases naming the property and the kind."""
    found = []
    for key in USER_DATA_KEYS:
        value = get(props, key)
        if not isinstance(value, str):
            continue
        for text in filter(None, (value, _decoded(value))):
            kind = secret_kind(text)
            if kind:
                found.append(f"{key} holds what looks like {kind}")
                break
    # An instance's root volume carries its tags in rootBlockDevice (not volumeTags, which would
    # retag separately managed volumes).
    root = get(props, "rootBlockDevice")
    nested = [("rootBlockDevice.tags", get(root, "tags"))] if isinstance(root, Mapping) else []
    for key, tags in [*((k, get(props, k)) for k in TAG_KEYS), *nested]:
        if not isinstance(tags, Mapping):
            continue
        for name in tags:
            value = get(tags, name)
            if not isinstance(value, str):
                continue
            kind = secret_kind(f"{name}={value}") or secret_kind(value)
            if kind is None and value and SECRET_TAG_KEY.search(name):
                kind = "a secret (by its key's name)"
            if kind:
                found.append(f"{key}[{name!r}] holds what looks like {kind}")
    return found


def validate_no_secrets(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    for where in find_secrets(args.props):
        report_violation(
            f"{where}: user-data, tags and labels are stored and shown in plain text; keep "
            "secrets in `pulumi config set --secret` and pass them over SSH",
            None,
        )


# ---------------------------------------------------------------------------------------------
# 4. TCP 8887 is open to the configured client CIDRs (stack policy).


def _im_hosts(resources: Iterable[PolicyResource]) -> list[PolicyResource]:
    return [
        r
        for r in resources
        if r.resource_type in (AWS_INSTANCE, HCLOUD_SERVER) and is_ours(r.props)
    ]


def _belongs_to(rule: PolicyResource, group: PolicyResource) -> bool:
    """Whether an AWS rule resource is a rule of `group`: by parent, or by its input's source."""
    if rule.parent is group or (rule.parent is not None and rule.parent.urn == group.urn):
        return True
    deps = rule.property_dependencies.get("securityGroupId", [])
    if any(d.urn == group.urn for d in deps):
        return True
    sg_id, group_id = get(rule.props, "securityGroupId"), get(group.props, "id")
    return isinstance(sg_id, str) and sg_id == group_id


def im_port_sources(resources: list[PolicyResource]) -> tuple[list[Any], list[PolicyResource]]:
    """(sources of every inbound TCP 8887 rule on the IM security groups / firewalls, those)."""
    hosts = _im_hosts(resources)
    firewalls: list[PolicyResource] = []
    if any(h.resource_type == AWS_INSTANCE for h in hosts):
        firewalls += [r for r in resources if r.resource_type == AWS_SG and is_ours(r.props)]
    if any(h.resource_type == HCLOUD_SERVER for h in hosts):
        firewalls += [
            r for r in resources if r.resource_type == HCLOUD_FIREWALL and is_ours(r.props)
        ]
    sources: list[Any] = []
    for fw in firewalls:
        rules = list(ingress_rules(fw.resource_type, fw.props))
        if fw.resource_type == AWS_SG:
            for r in resources:
                if r.resource_type in (AWS_INGRESS_RULE, AWS_SG_RULE) and _belongs_to(r, fw):
                    rules += ingress_rules(r.resource_type, r.props)
        for rule in rules:
            if rule.covers_tcp(IM_PORT):
                sources.extend(rule.sources)
    return sources, firewalls


def _normalise(cidrs: Iterable[Any]) -> set[Network] | None:
    out = set()
    for c in cidrs:
        net = network(c)
        if net is None:
            return None
        out.add(net)
    return out


def _cidr_list(raw: Any) -> list[Any]:
    # As the program reads it: structured config arrives as a JSON string; a comma list works too.
    if isinstance(raw, str):
        text = raw.strip()
        if text.startswith("["):
            return list(json.loads(text))
        return [item.strip() for item in text.split(",") if item.strip()]
    return list(raw)


def configured_client_cidrs(args: StackValidationArgs) -> tuple[list[Any] | None, str]:
    """The CIDRs TCP 8887 must be open to, and where that list comes from.

    1. The pack's own config (`--policy-pack-config`), `clientCidrs`, when given: an override.
    2. The stack's config: the engine hands a policy pack the stack's configuration (the Python
       SDK loads it into `pulumi.Config`), so `portsip-im:clientCidrs` or, unset, the program's
       default (components/settings.py).
    3. Neither (no stack config reached the pack): None, and any 8887 rule will do.
    """
    override = args.get_config().get("clientCidrs")
    if override is not None:
        return _cidr_list(override), "the policy config's clientCidrs"
    stack = pulumi.Config(NAMESPACE)
    if stack.get("target") is None:
        return None, ""
    raw = stack.get("clientCidrs")
    if raw is None:
        default = ImConfig.model_fields["client_cidrs"].default_factory
        assert default is not None
        return [str(c) for c in default()], f"{NAMESPACE}:clientCidrs (default)"  # type: ignore[call-arg]
    try:
        return _cidr_list(raw), f"{NAMESPACE}:clientCidrs"
    except ValueError:
        return [raw], f"{NAMESPACE}:clientCidrs"


def validate_im_port_open(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    hosts = _im_hosts(args.resources)
    if not hosts:
        args.not_applicable("no IM host (aws instance / hcloud server) in this stack")
        return
    sources, firewalls = im_port_sources(args.resources)
    if not firewalls:
        report_violation(
            "the IM host has no security group / firewall of this stack, so nothing opens "
            f"TCP {IM_PORT} to the IM clients",
            hosts[0].urn,
        )
        return
    if not sources:
        report_violation(
            f"no inbound TCP {IM_PORT} rule on the IM server's security group / firewall: "
            "IM clients cannot connect (portsip-im:clientCidrs)",
            firewalls[0].urn,
        )
        return
    configured, origin = configured_client_cidrs(args)
    if configured is None or any(s is UNKNOWN for s in sources):
        return  # no expectation known, or the sources are known only at update time
    wanted, opened = _normalise(configured), _normalise(sources)
    if wanted is None or opened is None:
        report_violation(
            f"TCP {IM_PORT} rule sources {sources} or {origin} {configured} are not all CIDRs",
            firewalls[0].urn,
        )
        return
    missing = sorted(map(str, wanted - opened))
    extra = sorted(map(str, opened - wanted))
    if missing:
        report_violation(
            f"TCP {IM_PORT} is not open to {', '.join(missing)}, which {origin} lists: those "
            "IM clients cannot connect",
            firewalls[0].urn,
        )
    if extra:
        report_violation(
            f"TCP {IM_PORT} is also open to {', '.join(extra)}, which {origin} does not list",
            firewalls[0].urn,
        )


# ---------------------------------------------------------------------------------------------
# 5. The data volume is protected (stack policy: resource options are visible there).


def validate_data_protected(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    volumes = [r for r in args.resources if is_data_volume(r.props)]
    hosts = _im_hosts(args.resources)
    if not volumes and not hosts:
        args.not_applicable("no IM data volume and no IM host in this stack")
        return
    if hosts and not volumes:
        report_violation(
            f"the IM host has no separate data volume ({ROLE_TAG}={DATA_ROLE}): chat history "
            "and files would die with the VM",
            hosts[0].urn,
        )
    for vol in volumes:
        if not vol.opts.protect:
            report_violation(
                f"the IM data volume {vol.name} is not protected: set portsip-im:protectData to "
                "true, so no replacement or destroy deletes chat history and files",
                vol.urn,
            )


# ---------------------------------------------------------------------------------------------
# 6. allowUndersizedHost is a lab switch (stack policy: it is config, not a resource).


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
IM_PORT_OPEN = StackValidationPolicy(
    name="im-port-open-to-clients",
    description=f"TCP {IM_PORT} on the IM server is open to the configured client CIDRs.",
    validate=validate_im_port_open,
    config_schema=PolicyConfigSchema(
        properties={
            "clientCidrs": {
                "type": "array",
                "items": {"type": "string"},
                "description": "Overrides the stack's portsip-im:clientCidrs (which the pack "
                "reads from the stack's config): the TCP 8887 rules must open exactly these.",
            }
        }
    ),
)
SSH_NOT_PUBLIC = ResourceValidationPolicy(
    name="ssh-not-open-to-internet",
    description="No security group, security group rule or firewall opens SSH (TCP 22) to "
    "0.0.0.0/0, ::/0 or a public range broader than IPv4 /16 or IPv6 /48 (the adminCidrs rule).",
    validate=validate_ssh_not_public,
)
DATA_PROTECTED = StackValidationPolicy(
    name="im-data-protected",
    description="The IM data volume exists and is `protect`ed.",
    validate=validate_data_protected,
)
NO_SECRETS = ResourceValidationPolicy(
    name="no-secrets-in-user-data-or-tags",
    description="No private key, password, token or cloud key in user-data, tags or labels.",
    validate=validate_no_secrets,
)

POLICIES = [
    HOST_SIZE,
    HOST_TYPE_LISTED,
    NOT_UNDERSIZED,
    IM_PORT_OPEN,
    SSH_NOT_PUBLIC,
    DATA_PROTECTED,
    NO_SECRETS,
    # On every target: the remote steps (policy/remote_commands.py).
    HOST_KEY_PINNED,
    NO_SECRETS_IN_COMMANDS,
]
