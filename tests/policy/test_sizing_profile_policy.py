"""im-host-meets-spec holds the host to the stack's own `portsip-im:sizingProfile`, which the pack
reads from the stack's config (as the engine hands it over; the harness loads it the same way)."""

from __future__ import annotations

import pulumi
import pytest

from policy.resources import AWS_INSTANCE, HCLOUD_SERVER
from policy.sizing import (
    HOST_SIZE,
    HOST_TYPE_LISTED,
    NOT_UNDERSIZED,
    aws_instance_verdict,
    hcloud_server_verdict,
    stack_profile,
)
from portsip_im import spec
from tests.policy.support import OURS, check_resource, check_stack
from tests.policy.test_program_policies import run_pack
from tests.unit import harness


@pytest.fixture(autouse=True)
def no_stack_config():
    pulumi.runtime.set_all_config({})
    yield
    pulumi.runtime.set_all_config({})


def stack_config(**values: str) -> None:
    pulumi.runtime.set_all_config({f"portsip-im:{k}": v for k, v in values.items()})


def aws(itype: str):
    return check_resource(HOST_SIZE, AWS_INSTANCE, {"instanceType": itype, "tags": OURS})


def hcloud(stype: str):
    return check_resource(HOST_SIZE, HCLOUD_SERVER, {"serverType": stype, "labels": OURS})


@pytest.mark.parametrize("target", ["aws", "hcloud"])
def test_a_medium_stack_passes_every_policy(target):
    result = harness.run({**harness.base_config(target), "sizingProfile": "medium"})
    assert run_pack(result) == {}


@pytest.mark.parametrize(
    "target, default", [("aws", "instance type c7i.2xlarge"), ("hcloud", "server type ccx33")]
)
def test_medium_sized_host_in_a_large_stack_is_refused(target, default):
    """The program sized the host for medium; a stack whose config says large must not get it."""
    result = harness.run({**harness.base_config(target), "sizingProfile": "medium"})
    stack_config(target=target, sizingProfile="large")
    found = run_pack(result)
    assert list(found) == ["im-host-meets-spec"]
    (msg,) = found["im-host-meets-spec"]
    assert msg.startswith(f"portsip-im:size: {default} has 8 vCPU (minimum 20)")
    assert msg.endswith("in sizingProfile large (up to 50,000 users)")


def test_medium_profile_from_the_stack_config():
    stack_config(target="aws", sizingProfile="medium")
    assert not aws("c7i.2xlarge") and not aws("c7i.4xlarge") and not hcloud("ccx33")
    out = aws("c7i.xlarge")
    assert out.messages == [
        "portsip-im:size: instance type c7i.xlarge has 4 vCPU (minimum 6), 8 GiB RAM (minimum "
        "16 GiB); PortSIP's guide asks for at least 6 cores (counted as vCPUs), 16 GiB RAM and a "
        "256 GB SSD in "
        "sizingProfile medium (up to 10,000 users)"
    ]
    assert "4 vCPU (minimum 6)" in hcloud("ccx23").messages[0]
    # Memory still counts: 8 vCPU with 2 GiB each is 16 GiB, 4 vCPU with 8 GiB each is 32.
    assert "4 vCPU (minimum 6)" in aws("r7i.xlarge").messages[0]
    # A burstable family whose largest size has 8 vCPU is not refused wholesale for medium: the
    # table does not know its sizes, so the advisory policy and the program's check decide.
    assert not aws("t3.2xlarge")
    assert check_resource(
        HOST_TYPE_LISTED, AWS_INSTANCE, {"instanceType": "t3.2xlarge", "tags": OURS}
    )


@pytest.mark.parametrize("config", [{}, {"target": "aws"}, {"target": "aws", "sizingProfile": ""}])
def test_large_when_the_stack_says_nothing(config):
    stack_config(**config)
    assert stack_profile() is spec.LARGE
    assert "minimum 20" in aws("c7i.2xlarge").messages[0]
    assert "at most 8 vCPU" in aws("t3.2xlarge").messages[0]


def test_unknown_profile_is_held_to_large():
    # The program refuses it at preview; the pack, should it see one, is strictest.
    stack_config(target="aws", sizingProfile="tiny")
    assert stack_profile() is None
    assert "in sizingProfile large" in aws("c7i.2xlarge").messages[0]


@pytest.mark.parametrize("profile", ["large", "medium"])
def test_table_agrees_with_the_catalogue_per_profile(profile):
    """Where the table knows a type it agrees with the catalogue; for medium, the shared-vCPU
    lines (cpx) are not in it: the family rule only refuses them wholesale for large."""
    p = spec.PROFILES[profile]
    for name, (vcpus, mem) in harness.INSTANCE_TYPES.items():
        verdict = aws_instance_verdict(name, p)
        assert verdict.known, name
        assert bool(verdict.problem) == bool(spec.shortfalls(spec.HostFacts(vcpus, mem), p)), name
    for name, (cores, mem_gb, _) in harness.SERVER_TYPES.items():
        verdict = hcloud_server_verdict(name, p)
        facts = spec.HostFacts(cores, int(mem_gb * 1024))
        assert verdict.known or (profile == "medium" and name.startswith("cpx")), name
        if verdict.known:
            assert bool(verdict.problem) == bool(spec.shortfalls(facts, p)), name


# --- im-host-not-undersized (advisory, stack) --------------------------------------------------


def test_undersized_switch_is_reported_naming_the_profile():
    result = harness.run(
        {
            **harness.base_config("existing"),
            "sizingProfile": "medium",
            "allowUndersizedHost": "true",
        }
    )
    found = run_pack(result)
    assert list(found) == ["im-host-not-undersized"]
    assert found["im-host-not-undersized"] == [
        "portsip-im:allowUndersizedHost is true: the IM host is let through below PortSIP's 6 "
        "cores (counted as vCPUs), 16 GiB RAM and a 256 GB SSD (sizingProfile medium); a lab "
        "switch, never "
        "production (a smaller site sets sizingProfile medium)"
    ]


@pytest.mark.parametrize("value", ["false", "", None])
def test_no_report_without_the_switch(value):
    config = {**harness.base_config("existing"), "sizingProfile": "medium"}
    if value is not None:
        config["allowUndersizedHost"] = value
    assert run_pack(harness.run(config)) == {}


def test_undersized_policy_needs_a_portsip_stack():
    stack_config(allowUndersizedHost="true")  # no target: not this program's stack config
    out = check_stack(NOT_UNDERSIZED, [])
    assert not out and out.not_applicable
