"""sizingProfile on every target, under Pulumi's mocks: the default size follows the profile, the
cloud's catalogue figures are checked against the profile's minimums at preview (the error names
the key, the type, each figure and the profile, and nothing is registered), and `existing` hands
the profile's minimums to prepare.sh, which measures the host."""

import pytest

from portsip_im import spec
from portsip_im.spec import DEFAULT_SIZE
from stack_config import ConfigError
from tests.unit import harness as h
from tests.unit.test_steps_graph import params

CMD = "command:remote:Command"


def medium(target, **extra):
    return {**h.base_config(target), "sizingProfile": "medium", **extra}


def preview_error(config):
    with pytest.raises(ConfigError) as exc:
        h.run(config, preview=True)
    return str(exc.value)


def test_profiles_are_the_guides():
    # FACTS.md: large up to 50,000 users, >= 20 cores; small-to-medium up to 10,000, 6-8 cores or
    # more; both 16 GB RAM and a 256 GB SSD.
    assert spec.PROFILES["large"] == spec.Profile("large", 50_000, 20, 16384, 256)
    assert spec.PROFILES["medium"] == spec.Profile("medium", 10_000, 6, 16384, 256)


@pytest.mark.parametrize("profile", ["large", "medium"])
def test_default_sizes_meet_their_profile_and_only_just(profile):
    """Each default is in the mocks' catalogue (AWS's / Hetzner's published figures) and meets the
    profile; the medium defaults do not meet large (else they would be the wrong, dearer choice)."""
    aws = DEFAULT_SIZE[profile]["aws"]
    vcpus, mem = h.INSTANCE_TYPES[aws]
    assert not spec.shortfalls(spec.HostFacts(vcpus, mem, 256), spec.PROFILES[profile])
    hc = DEFAULT_SIZE[profile]["hcloud"]
    cores, mem_gb, _ = h.SERVER_TYPES[hc]
    facts = spec.HostFacts(cores, int(mem_gb * 1024), 256)
    assert not spec.shortfalls(facts, spec.PROFILES[profile])
    if profile == "medium":
        assert spec.shortfalls(spec.HostFacts(vcpus, mem, 256), spec.LARGE)
        assert spec.shortfalls(facts, spec.LARGE)


def test_aws_medium_default_instance():
    r = h.run(medium("aws"))
    assert r.mocks.one("aws:ec2/instance:Instance").inputs["instanceType"] == "c7i.2xlarge"
    assert r.mocks.call_args["aws:ec2/getInstanceType:getInstanceType"][0]["instanceType"] == (
        "c7i.2xlarge"
    )


def test_hcloud_medium_default_server():
    r = h.run(medium("hcloud"))
    assert r.mocks.one("hcloud:index/server:Server").inputs["serverType"] == "ccx33"


def test_large_stays_the_default():
    r = h.run(h.base_config("aws"))
    assert r.mocks.one("aws:ec2/instance:Instance").inputs["instanceType"] == "c7i.6xlarge"


@pytest.mark.parametrize(
    "config, expected",
    [
        (
            medium("aws", size="c7i.xlarge"),
            "portsip-im:size: instance type c7i.xlarge has 4 vCPU (minimum 6), 8 GiB RAM "
            "(minimum 16 GiB); PortSIP's guide asks for at least 6 cores (counted as vCPUs), 16 "
            "GiB RAM and a 256 GB "
            "SSD in sizingProfile medium (up to 10,000 users)",
        ),
        (
            medium("hcloud", size="ccx23"),
            "portsip-im:size: server type ccx23 has 4 vCPU (minimum 6); PortSIP's guide asks for "
            "at least 6 cores (counted as vCPUs), 16 GiB RAM and a 256 GB SSD in sizingProfile "
            "medium",
        ),
        (
            {**h.base_config("aws"), "size": "c7i.2xlarge"},
            "portsip-im:size: instance type c7i.2xlarge has 8 vCPU (minimum 20); PortSIP's guide "
            "asks for at least 20 cores (counted as vCPUs), 16 GiB RAM and a 256 GB SSD in "
            "sizingProfile large "
            "(up to 50,000 users)",
        ),
        (
            {**h.base_config("hcloud"), "sizingProfile": "large", "size": "ccx33"},
            "portsip-im:size: server type ccx33 has 8 vCPU (minimum 20)",
        ),
    ],
    ids=["aws-medium", "hcloud-medium", "aws-large", "hcloud-large-explicit"],
)
def test_type_below_the_profile_fails_at_preview_naming_it(config, expected, monkeypatch):
    registered = []
    monkeypatch.setattr(h.Recorder, "new_resource", lambda self, a: registered.append(a))
    assert expected in preview_error(config)
    assert registered == []


@pytest.mark.parametrize("target, size", [("aws", "c7i.4xlarge"), ("hcloud", "ccx43")])
def test_medium_accepts_what_large_refuses(target, size):
    assert preview_error({**h.base_config(target), "size": size})
    r = h.run(medium(target, size=size), preview=True)
    assert r.resources


def prepare(result):
    (step,) = [r for r in result.mocks.of_type(CMD) if r.name.endswith("-prepare")]
    return step


def test_existing_hands_the_profiles_minimums_to_prepare():
    large = prepare(h.run(h.base_config("existing")))
    args = params(large.inputs["create"])
    assert (args["MIN_VCPUS"], args["MIN_MEMORY_MIB"], args["MIN_DISK_GB"]) == (
        "20",
        "16384",
        "256",
    )
    assert args["SIZING_PROFILE"] == "large" and args["MEASURE_SPEC"] == "1"
    # 95% of 16 GiB: MemTotal on a 16 GiB host is a little below (components/portsip_im/spec.py).
    assert args["MEMORY_FLOOR_MIB"] == "15564"

    small = prepare(h.run(medium("existing")))
    args = params(small.inputs["create"])
    assert args["MIN_VCPUS"] == "6" and args["SIZING_PROFILE"] == "medium"
    # A changed profile re-measures the host: its figures are in prepare's triggers ...
    assert small.inputs["triggers"][0]["MIN_VCPUS"] == "6"
    # ... but the name alone is not, so stacks made before profiles existed do not re-run prepare.
    assert "SIZING_PROFILE" not in large.inputs["triggers"][0]


def test_measured_check_names_the_profile():
    text = (h.ROOT / "components" / "portsip_im" / "scripts" / "prepare.sh").read_text()
    assert "{{host.*.sizing_profile}} ${SIZING_PROFILE}" in text
    assert "${MIN_VCPUS} vCPU" in text and "${MIN_DISK_GB} GB" in text
