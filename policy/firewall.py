"""Inbound firewall rules, normalised across AWS and Hetzner, for the network policies.

AWS spells a rule three ways (a security group's inline `ingress`, a `SecurityGroupRule`, a VPC
`SecurityGroupIngressRule`) and Hetzner one (a firewall's `rules`); `ingress_rules` turns each
into `Ingress`, so a policy asks one question of all of them.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Any

from policy.props import UNKNOWN, as_int, get, items
from policy.resources import AWS_INGRESS_RULE, AWS_SG, AWS_SG_RULE, HCLOUD_FIREWALL

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
