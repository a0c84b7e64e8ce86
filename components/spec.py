"""The guide's hardware minimums for the IM server, and the one check every target uses.

PortSIP sizes a dedicated IM server for up to 50,000 concurrent users at 20 CPU cores, 16 GB RAM
and a 256 GB SSD. The check is pure so it runs the same on cloud catalogue figures at preview
time and on figures measured on an existing host.
"""

from __future__ import annotations

from dataclasses import dataclass

IM_PORT = 8887
"""Where IM clients reach the IM service (the guide: allow it in any extra firewall)."""
MIN_VCPUS = 20
MIN_MEMORY_MIB = 16 * 1024
MIN_DISK_GB = 256

# A cloud "16 GB" type reports a little less than 16 GiB once the hypervisor takes its share;
# measured MemTotal on a 16 GiB host is ~15.6 GiB. Allow 5% below the figure for measured hosts.
MEASURED_MEMORY_SLACK = 0.95


@dataclass(frozen=True)
class HostFacts:
    """What one host offers: from a cloud catalogue (aws/hcloud) or measured (existing)."""

    vcpus: int
    memory_mib: int
    disk_gb: int | None = None
    measured: bool = False


def shortfalls(facts: HostFacts) -> list[str]:
    """Each way `facts` falls short of the guide's minimums, as a phrase; empty if none."""
    out = []
    if facts.vcpus < MIN_VCPUS:
        out.append(f"{facts.vcpus} vCPU (minimum {MIN_VCPUS})")
    floor = MIN_MEMORY_MIB * (MEASURED_MEMORY_SLACK if facts.measured else 1)
    if facts.memory_mib < floor:
        out.append(f"{facts.memory_mib / 1024:g} GiB RAM (minimum {MIN_MEMORY_MIB // 1024} GiB)")
    if facts.disk_gb is not None and facts.disk_gb < MIN_DISK_GB:
        out.append(f"{facts.disk_gb} GB disk (minimum {MIN_DISK_GB} GB)")
    return out


def describe_shortfall(key: str, what: str, facts: HostFacts) -> str | None:
    """One sentence naming the config key, the host and every figure below the minimum."""
    short = shortfalls(facts)
    if not short:
        return None
    return (
        f"{key}: {what} has {', '.join(short)}; PortSIP's guide asks for at least "
        f"{MIN_VCPUS} vCPU, {MIN_MEMORY_MIB // 1024} GiB RAM and a {MIN_DISK_GB} GB SSD"
    )
