"""Addresses and networks: what a private address is, who may reach SSH (admin ranges), an IP
inside its subnet."""

from __future__ import annotations

import ipaddress


def everyone() -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    return [ipaddress.IPv4Network("0.0.0.0/0"), ipaddress.IPv6Network("::/0")]


# The broadest *public* SSH source range `adminCidrs` accepts, per IP version. An IPv4 /16 (65,536
# addresses, a legacy class B) is more than any one office, VPN pool or cloud VPC an operator
# administers from; an IPv6 /48 is one site's standard assignment (RFC 6177). A broader public
# range spans networks the operator does not run (a /8 is a whole legacy class A, a /32 an ISP's
# entire allocation): it is not an admin range but a part of the Internet.
ADMIN_CIDR_MIN_PREFIX = {4: 16, 6: 48}

# What counts as a private address for privateIp, pbx01PrivateIp and pbxVirtualIp: RFC 1918,
# RFC 6598 (shared address space, carrier-grade NAT) and IPv6 unique local addresses (RFC 4193).
# Deliberately not `ipaddress.is_private`, which also admits documentation, benchmarking and
# link-local ranges that no PBX network uses. An admin range inside one of them may be as wide as
# the block itself (10.0.0.0/8 is one organisation's own network, unreachable from the Internet).
PRIVATE_NETWORKS = tuple(
    ipaddress.ip_network(n)
    for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "fc00::/7")
)
PRIVATE_TEXT = "RFC 1918 10/8, 172.16/12, 192.168/16; RFC 6598 100.64/10; IPv6 ULA fc00::/7"

# IPv6 blocks that carry an IPv4 address in their last 32 bits: IPv4-mapped (RFC 4291, how a
# dual-stack socket sees an IPv4 peer), IPv4-compatible (deprecated) and NAT64's well-known prefix
# (RFC 6052). A range over them admits the IPv4 addresses it embeds, so it is judged as that IPv4
# range: ::ffff:0:0/96 is 0.0.0.0/0.
EMBEDDED_IPV4 = tuple(ipaddress.IPv6Network(n) for n in ("::ffff:0:0/96", "::/96", "64:ff9b::/96"))


def is_private_address(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """True for an address inside one of PRIVATE_NETWORKS."""
    return any(ip.version == net.version and ip in net for net in PRIVATE_NETWORKS)


def _is_private_network(net: ipaddress.IPv4Network | ipaddress.IPv6Network) -> bool:
    return any(
        net.version == block.version and net.subnet_of(block)  # type: ignore[arg-type]
        for block in PRIVATE_NETWORKS
    )


def _embedded_ipv4(net: ipaddress.IPv6Network) -> ipaddress.IPv4Network | None:
    """The IPv4 range an IPv6 range admits through EMBEDDED_IPV4, if it touches one."""
    for block in EMBEDDED_IPV4:
        if net.overlaps(block):
            if net.prefixlen <= block.prefixlen:
                return ipaddress.IPv4Network("0.0.0.0/0")
            low = int(net.network_address) & 0xFFFFFFFF
            return ipaddress.IPv4Network((low, net.prefixlen - block.prefixlen))
    return None


def admin_range(
    net: ipaddress.IPv4Network | ipaddress.IPv6Network,
) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    judged: list[tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, str]] = [(net, "")]
    if isinstance(net, ipaddress.IPv6Network):
        v4 = _embedded_ipv4(net)
        if v4 is not None:
            judged.append((v4, f" (it embeds IPv4 {v4})"))
    for rng, via in judged:
        bound = ADMIN_CIDR_MIN_PREFIX[rng.version]
        if rng.prefixlen < bound and not _is_private_network(rng):
            whole = " (the whole Internet)" if rng.prefixlen == 0 else ""
            raise ValueError(
                f"would open SSH on the IM server to {net}{via}{whole}; a public admin range "
                f"must be /{bound} or narrower for IPv{rng.version} (list the operators' own "
                f"networks; private ranges, {PRIVATE_TEXT}, may be wider)"
            )
    return net


def in_network(private_ip: str, network: str, where: str) -> None:
    """The IM server's private IP must be a host address inside its subnet/network."""
    ip = ipaddress.ip_address(private_ip)
    net = ipaddress.ip_network(network, strict=False)
    if ip not in net:
        raise ValueError(f"{ip} is not inside {where} ({net})")
    if ip in (net.network_address, net.broadcast_address):
        raise ValueError(f"{ip} is the network or broadcast address of {net}")


def usable_address(value: str, private: bool, allow_public: bool) -> ipaddress.IPv4Address:
    """An IPv4 host address; `private` ones must be in PRIVATE_NETWORKS unless `allow_public`."""
    try:
        ip = ipaddress.IPv4Address(value)
    except ValueError:
        raise ValueError(f"{value!r} is not an IPv4 address") from None
    if ip.is_unspecified or ip.is_multicast or ip.is_loopback:
        raise ValueError(f"{ip} is not a usable host address")
    if private and not allow_public and not is_private_address(ip):
        raise ValueError(f"{ip} is not a private address ({PRIVATE_TEXT})")
    return ip
