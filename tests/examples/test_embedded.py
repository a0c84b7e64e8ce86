"""examples/embedded on mocks (aws, hcloud): a larger program's own resources feed ImServer.

The subnet, the PBX nodes' security group, the Hetzner network and pbx01's private address are
Outputs of the example's own resources; the component takes them as they are, looks the network up
once its id is known, and holds the IM server's private IP to it, with an error naming the field.
The `existing` case runs under the real engine against the lab (tests/e2e/test_examples_lab.py).
"""

from __future__ import annotations

import runpy
from pathlib import Path
from typing import Any

import pulumi
import pytest

from tests.unit import harness as h

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "embedded"
PROJECT = "portsip-pbx-platform"
OPERATOR_PUBLIC = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAItestkey operator"


def run(target: str, subnet_cidr: str = "192.168.1.0/24") -> h.Recorder:
    invokes = {**h.aws_invokes(), **h.hcloud_invokes()}

    def subnet(args: dict) -> dict:
        # The example's own subnet, looked up by the id its resource got.
        assert args["id"] == "pbx-subnet-id", args
        return {
            "id": args["id"],
            "cidrBlock": subnet_cidr,
            "vpcId": "pbx-vpc-id",
            "availabilityZone": "eu-central-1a",
        }

    def network(args: dict) -> dict:
        return {"id": int(args["id"]), "name": "pbx-network", "ipRange": "192.168.0.0/16"}

    invokes["aws:ec2/getSubnet:getSubnet"] = subnet
    invokes["hcloud:index/getNetwork:getNetwork"] = network
    mocks = h.Recorder(invokes=invokes)
    config = {
        "target": target,
        "operatorPrivateKey": "test-only-private-key",
        "operatorPublicKey": OPERATOR_PUBLIC,
        "pbxPassword": "test-only-pbx-password",
        "pbxAdminPassword": "test-only-admin-password",
        "pbx01HostKey": h.PBX01_HOST_KEY,
    }
    secret = ["operatorPrivateKey", "pbxPassword", "pbxAdminPassword"]
    pulumi.runtime.set_all_config(
        {f"{PROJECT}:{k}": v for k, v in config.items()}, [f"{PROJECT}:{k}" for k in secret]
    )
    pulumi.runtime.settings.reset_options(project=PROJECT, stack="prod")
    pulumi.runtime.set_mocks(
        mocks, project=PROJECT, stack="prod", preview=False, monitor=h.RecordingMonitor(mocks)
    )

    @pulumi.runtime.test
    def program() -> Any:
        runpy.run_path(str(EXAMPLE / "__main__.py"), run_name="__main__")
        return pulumi.Output.from_input(None)

    program()
    return mocks


def test_aws_takes_the_programs_own_subnet_group_and_pbx01():
    m = run("aws")
    assert [r.name for r in m.of_type("portsip:im:ImServer")] == ["im"]
    eni = m.one("aws:ec2/networkInterface:NetworkInterface")
    assert eni.inputs["subnetId"] == "pbx-subnet-id"
    assert eni.inputs["securityGroups"] == ["im-host-sg-id", "pbx-nodes-id"]
    assert eni.inputs["privateIps"] == ["192.168.1.25"]
    # pbx01's address is its instance's: the IM host's SSH admits it, the steps dial it.
    ssh = m.named("im-host-ssh-from-pbx01")
    assert ssh.inputs["cidrIpv4"] == "192.168.1.11/32"
    assert m.named("im-prepare").inputs["connection"]["proxy"]["host"] == "192.168.1.11"
    assert m.call_args["aws:ec2/getSubnet:getSubnet"] == [{"id": "pbx-subnet-id"}]
    # The component and its children hang under the program like its own resources do.
    assert m.named("im-host").parent == "im"
    assert m.named("im-deploy").parent == "im"


def test_hcloud_takes_the_programs_own_network_and_pbx01():
    m = run("hcloud")
    server = m.named("im-host-vm")
    network = m.named("pbx-network")
    assert server.inputs["networks"] == [{"networkId": int(network.id), "ip": "192.168.1.25"}]
    assert m.call_args["hcloud:index/getNetwork:getNetwork"] == [{"id": int(network.id)}]
    # pbx01's address is its server's: the firewall admits SSH from it, the steps dial it.
    [ssh] = [r for r in m.named("im-host-fw").inputs["rules"] if r["port"] == "22"]
    assert ssh["sourceIps"][0] == "192.168.1.11/32"
    assert m.named("im-prepare").inputs["connection"]["proxy"]["host"] == "192.168.1.11"


def test_an_output_subnet_is_checked_when_known_naming_the_field():
    with pytest.raises(
        Exception,
        match=r"host\.aws\.private_ip: 192\.168\.1\.25 is not inside "
        r"subnet pbx-subnet-id \(10\.0\.0\.0/24\)",
    ):
        run("aws", subnet_cidr="10.0.0.0/24")
