"""Network exposure policies: `ssh-not-open-to-internet` and `im-port-open-to-clients`.

TCP 8887: the engine hands a policy pack the stack's configuration (pulumi.Config), so the rules
are checked against the stack's own `portsip-im:clientCidrs` (or the program's default); the pack's
config (`--policy-pack-config`) can override that list.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Iterable
from typing import Any

import pulumi
from pulumi_policy import (
    PolicyConfigSchema,
    PolicyResource,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)

from policy.firewall import Network, ingress_rules, network
from policy.props import UNKNOWN, get
from policy.resources import (
    AWS_INGRESS_RULE,
    AWS_INSTANCE,
    AWS_SG,
    AWS_SG_RULE,
    HCLOUD_FIREWALL,
    HCLOUD_SERVER,
    im_hosts,
    is_ours,
)
from portsip_im.args import INPUTS
from portsip_im.rules import admin_range
from portsip_im.spec import IM_PORT
from stack_config import NAMESPACE

SSH_PORT = 22

# ---------------------------------------------------------------------------------------------
# SSH is never open to the Internet.


def validate_ssh_not_public(
    args: ResourceValidationArgs, report_violation: ReportViolation
) -> None:
    for rule in ingress_rules(args.resource_type, args.props):
        if not rule.covers_tcp(SSH_PORT):
            continue
        for source in rule.sources:
            net = network(source)
            why = _admin_range_problem(net) if net is not None else None
            if why is not None:
                # The rule adminCidrs is held to: the whole Internet, or a public range broader
                # than IPv4 /16 or IPv6 /48 (portsip_im/rules.py, ADMIN_CIDR_MIN_PREFIX).
                report_violation(
                    f"SSH (TCP {SSH_PORT}) is open to {source}: as portsip-im:adminCidrs it "
                    f"{why}; allow only pbx01 and the operator's networks",
                    None,
                )


# ---------------------------------------------------------------------------------------------
# TCP 8887 is open to the configured client CIDRs (stack policy).


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
    hosts = im_hosts(resources)
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
       default (the component's, portsip_im/args.py).
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
        default = INPUTS["host.*.client_cidrs"].default_for(str(stack.get("target")))
        return [str(c) for c in default], f"{NAMESPACE}:clientCidrs (default)"
    try:
        return _cidr_list(raw), f"{NAMESPACE}:clientCidrs"
    except ValueError:
        return [raw], f"{NAMESPACE}:clientCidrs"


def validate_im_port_open(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    hosts = im_hosts(args.resources)
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

SSH_NOT_PUBLIC = ResourceValidationPolicy(
    name="ssh-not-open-to-internet",
    description="No security group, security group rule or firewall opens SSH (TCP 22) to "
    "0.0.0.0/0, ::/0 or a public range broader than IPv4 /16 or IPv6 /48 (the adminCidrs rule).",
    validate=validate_ssh_not_public,
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


def _admin_range_problem(net: ipaddress.IPv4Network | ipaddress.IPv6Network) -> str | None:
    """Why `net` may not be an SSH source range (the component's admin_cidrs rule), or None."""
    try:
        admin_range(net)
    except ValueError as exc:
        return str(exc)
    return None
