"""The guide's hardware minimums per sizing profile, and the one check every target uses.

PortSIP sizes a dedicated IM server in two profiles (the AWS edition of the guide gives both; the
on-premise guide only the first):
  * large: up to 50,000 concurrent users, 20 CPU cores, 16 GB RAM, a 256 GB SSD;
  * medium ("small to medium"): up to 10,000 users, 6–8 cores or more, 16 GB RAM, a 256 GB SSD.
The check is pure so it runs the same on cloud catalogue figures at preview time, on figures
measured on an existing host, and in the policy pack.

Cores are counted as vCPUs (logical CPUs): AWS's `default_vcpus`, Hetzner's `cores` (its vCPU
count) and `nproc` on an existing host, the one figure all three report alike. On AWS's SMT types
a vCPU is a hardware thread, half a physical core: c7i.6xlarge's 24 vCPU are 12 cores. docs/hosts.md
("Cores or vCPUs") says why, and which sizes meet the profiles read as physical cores; the
preview's messages say "cores (counted as vCPUs)" so no one mistakes one for the other.
"""

from __future__ import annotations

from dataclasses import dataclass

IM_PORT = 8887
"""Where IM clients reach the IM service (the guide: allow it in any extra firewall)."""


@dataclass(frozen=True)
class Profile:
    """One of PortSIP's sizing profiles for the IM server."""

    name: str
    users: int
    """Concurrent users PortSIP sizes the profile for."""
    min_vcpus: int
    """PortSIP's "cores", checked against vCPUs (see the module's docstring)."""
    min_memory_mib: int
    min_disk_gb: int

    def asks(self) -> str:
        """The minimums as the error messages say them."""
        return (
            f"{self.min_vcpus} cores (counted as vCPUs), {self.min_memory_mib // 1024} GiB RAM "
            f"and a {self.min_disk_gb} GB SSD"
        )


# "6–8 cores or more": 6 is the floor; 8 vCPU is what the medium default sizes offer.
PROFILES: dict[str, Profile] = {
    "large": Profile("large", 50_000, 20, 16 * 1024, 256),
    "medium": Profile("medium", 10_000, 6, 16 * 1024, 256),
}
LARGE = PROFILES["large"]
DEFAULT_PROFILE = "large"

# The large profile's figures under their old names: the guide's on-premise minimums.
MIN_VCPUS = LARGE.min_vcpus
MIN_MEMORY_MIB = LARGE.min_memory_mib
MIN_DISK_GB = LARGE.min_disk_gb

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


def shortfalls(facts: HostFacts, profile: Profile = LARGE) -> list[str]:
    """Each way `facts` falls short of the profile's minimums, as a phrase; empty if none."""
    out = []
    if facts.vcpus < profile.min_vcpus:
        out.append(f"{facts.vcpus} vCPU (minimum {profile.min_vcpus})")
    floor = profile.min_memory_mib * (MEASURED_MEMORY_SLACK if facts.measured else 1)
    if facts.memory_mib < floor:
        out.append(
            f"{facts.memory_mib / 1024:g} GiB RAM (minimum {profile.min_memory_mib // 1024} GiB)"
        )
    if facts.disk_gb is not None and facts.disk_gb < profile.min_disk_gb:
        out.append(f"{facts.disk_gb} GB disk (minimum {profile.min_disk_gb} GB)")
    return out


def guide_asks(profile: Profile = LARGE) -> str:
    """What PortSIP asks for in `profile`, naming the profile (the tail of every size message)."""
    return (
        f"PortSIP's guide asks for at least {profile.asks()} in `host.*.sizing_profile` "
        f"{profile.name} (up to {profile.users:,} users)"
    )


def describe_shortfall(
    key: str, what: str, facts: HostFacts, profile: Profile = LARGE
) -> str | None:
    """One sentence naming the config key, the host, every figure below the minimum, the profile."""
    short = shortfalls(facts, profile)
    if not short:
        return None
    return f"{key}: {what} has {', '.join(short)}; {guide_asks(profile)}"


# Default `size` per sizing profile (spec.py), the smallest current general-purpose type
# that meets it with dedicated cores:
# - large (>= 20 vCPU, >= 16 GiB): c7i.6xlarge has 24 vCPU and 48 GiB (c7i.4xlarge's 16 vCPU fall
#   short); Hetzner ccx53 has 32 dedicated vCPU and 128 GB (ccx43 has 16).
# - medium (>= 6 vCPU, >= 16 GiB): c7i.2xlarge has 8 vCPU and exactly 16 GiB (c7i.xlarge has 4);
#   Hetzner ccx33 has 8 dedicated vCPU and 32 GB (ccx23 has 4). Shared-vCPU lines (t3, cpx) are
#   not defaults: PortSIP asks for cores, and those are burstable.
# PortSIP's "cores" are counted as vCPUs (spec.py): c7i's vCPUs are hardware threads, so
# c7i.6xlarge has 12 physical cores and c7i.2xlarge 4; docs/hosts.md says so and names the sizes
# that meet the profiles counted in physical cores.
DEFAULT_SIZE = {
    "large": {"aws": "c7i.6xlarge", "hcloud": "ccx53"},
    "medium": {"aws": "c7i.2xlarge", "hcloud": "ccx33"},
}
