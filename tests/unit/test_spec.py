"""The guide's hardware minimums, as a pure check (no Pulumi)."""

from portsip_im.spec import PROFILES, HostFacts, describe_shortfall, shortfalls


def test_large_profile_passes():
    assert shortfalls(HostFacts(vcpus=20, memory_mib=16 * 1024, disk_gb=256)) == []


def test_each_figure_below_the_minimum_is_named():
    short = shortfalls(HostFacts(vcpus=19, memory_mib=16 * 1024 - 1, disk_gb=255))
    assert short == [
        "19 vCPU (minimum 20)",
        f"{(16 * 1024 - 1) / 1024:g} GiB RAM (minimum 16 GiB)",
        "255 GB disk (minimum 256 GB)",
    ]


def test_unknown_disk_is_not_judged():
    assert shortfalls(HostFacts(vcpus=32, memory_mib=65536, disk_gb=None)) == []


def test_measured_memory_allows_the_kernels_share():
    # A 16 GiB VM reports ~15.6 GiB MemTotal; a catalogue figure gets no such slack.
    measured = HostFacts(vcpus=24, memory_mib=15_980, disk_gb=300, measured=True)
    catalogue = HostFacts(vcpus=24, memory_mib=15_980, disk_gb=300)
    assert shortfalls(measured) == []
    assert shortfalls(catalogue) != []


def test_message_names_key_host_and_minimums():
    msg = describe_shortfall("portsip-im:size", "instance type m7i.large", HostFacts(2, 8192, 256))
    assert msg is not None
    assert msg.startswith("portsip-im:size: instance type m7i.large has 2 vCPU (minimum 20), 8 GiB")
    assert "at least 20 cores (counted as vCPUs), 16 GiB RAM and a 256 GB SSD" in msg
    assert describe_shortfall("k", "x", HostFacts(24, 49152, 256)) is None


def test_medium_profile_asks_six_vcpu_and_says_so():
    medium = PROFILES["medium"]
    assert shortfalls(HostFacts(vcpus=8, memory_mib=16 * 1024, disk_gb=256), medium) == []
    assert shortfalls(HostFacts(vcpus=6, memory_mib=16 * 1024, disk_gb=256), medium) == []
    assert shortfalls(HostFacts(vcpus=5, memory_mib=16 * 1024, disk_gb=256), medium) == [
        "5 vCPU (minimum 6)"
    ]
    msg = describe_shortfall("portsip-im:size", "server type ccx23", HostFacts(4, 16384), medium)
    assert msg == (
        "portsip-im:size: server type ccx23 has 4 vCPU (minimum 6); PortSIP's guide asks for at "
        "least 6 cores (counted as vCPUs), 16 GiB RAM and a 256 GB SSD in `host.*.sizing_profile` "
        "medium "
        "(up to 10,000 users)"
    )
    # The default is the large profile, and a message says so.
    assert "in `host.*.sizing_profile` large" in (
        describe_shortfall("k", "x", HostFacts(8, 16384)) or ""
    )
