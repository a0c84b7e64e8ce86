"""The hosts' cloud lookups use the provider the caller gave ImServer, on mocks.

A caller who passes `providers=[aws_eu]` (or `provider=`) gets the VM from that provider; the
instance type, subnet, AMI and Elastic IP (hcloud: server type, network, Primary IP) must be
looked up through the same one, or they come from another region or account.
"""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_aws as aws
import pulumi_hcloud as hcloud
import pytest

from tests.unit import harness as h
from tests.unit.test_component_args import args

LOOKUPS = {
    "aws": (
        "aws:ec2/getInstanceType:getInstanceType",
        "aws:ec2/getSubnet:getSubnet",
        "aws:ec2/getAmi:getAmi",
        "aws:ec2/getElasticIp:getElasticIp",
    ),
    "hcloud": (
        "hcloud:index/getServerType:getServerType",
        "hcloud:index/getNetwork:getNetwork",
        "hcloud:index/getPrimaryIp:getPrimaryIp",
    ),
}


def run(target: str, how: str | None) -> h.Recorder:
    """ImServer on mocks with a provider of its own, given as `how` says (None: none given)."""
    mocks = h.Recorder(invokes={**h.aws_invokes(), **h.hcloud_invokes()})
    pulumi.runtime.settings.reset_options(project="platform", stack="eu")
    pulumi.runtime.set_mocks(
        mocks, project="platform", stack="eu", preview=False, monitor=h.RecordingMonitor(mocks)
    )

    @pulumi.runtime.test
    def program() -> Any:
        from portsip_im import ImServer

        provider: pulumi.ProviderResource
        if target == "aws":
            provider = aws.Provider("eu", region="eu-west-1")
            reuse = {"public_ip_id": "eipalloc-0reused"}
        else:
            provider = hcloud.Provider("eu", token="x" * 64)
            reuse = {"public_ip_id": "4711"}
        opts = {
            "providers": pulumi.ResourceOptions(providers=[provider]),
            "providers-map": pulumi.ResourceOptions(providers={target: provider}),
            "provider": pulumi.ResourceOptions(provider=provider),
            None: None,
        }[how]
        ImServer("im", args(target, **reuse), opts)  # type: ignore[arg-type]
        return pulumi.Output.from_input(None)

    program()
    return mocks


@pytest.mark.parametrize("how", ["providers", "providers-map", "provider"])
@pytest.mark.parametrize("target", ["aws", "hcloud"])
def test_every_lookup_goes_through_the_callers_provider(target: str, how: str) -> None:
    m = run(target, how)
    for token in LOOKUPS[target]:
        used = m.call_providers.get(token)
        assert used, f"{token} was not looked up"
        assert all(f"pulumi:providers:{target}::eu::" in ref for ref in used), (token, used)
    # ...and the VM itself is the same provider's (the component's children inherit it).
    vm = "aws:ec2/instance:Instance" if target == "aws" else "hcloud:index/server:Server"
    assert m.one(vm)


def test_without_a_provider_the_lookups_use_the_default_one() -> None:
    m = run("aws", None)
    assert all(ref == "" for ref in m.call_providers["aws:ec2/getSubnet:getSubnet"])
