"""target=aws under Pulumi's mocks: the real inputs of every resource, and the outputs."""

import pytest

from tests.unit import harness as h

INGRESS = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"


@pytest.fixture(scope="module")
def result():
    return h.run(h.base_config("aws"))


def rules(result, group_id):
    return [
        r.inputs for r in result.mocks.of_type(INGRESS) if r.inputs["securityGroupId"] == group_id
    ]


def test_resources_registered(result):
    types = sorted(r.typ for r in result.resources)
    assert types.count(INGRESS) == 5  # 8887 v4 + v6, SSH from pbx01 and one admin CIDR, PBX group
    for typ in (
        "portsip:im:ImServer",
        "portsip:im:AwsHost",
        "aws:ec2/securityGroup:SecurityGroup",
        "aws:ec2/networkInterface:NetworkInterface",
        "aws:ec2/eip:Eip",
        "aws:ec2/eipAssociation:EipAssociation",
        "aws:ec2/keyPair:KeyPair",
        "aws:ec2/instance:Instance",
        "aws:ebs/volume:Volume",
        "aws:ec2/volumeAttachment:VolumeAttachment",
    ):
        assert types.count(typ) == 1, typ


def test_im_port_open_to_client_cidrs_only(result):
    own = rules(result, "im-host-sg-id")
    im = [r for r in own if r.get("fromPort") == 8887]
    assert {(r.get("cidrIpv4"), r.get("cidrIpv6")) for r in im} == {
        ("0.0.0.0/0", None),
        (None, "::/0"),
    }
    assert all(r["ipProtocol"] == "tcp" and r["toPort"] == 8887 for r in im)


def test_ssh_only_from_pbx01_and_admins(result):
    ssh = [r for r in rules(result, "im-host-sg-id") if r.get("fromPort") == 22]
    assert sorted(r["cidrIpv4"] for r in ssh) == ["192.168.1.11/32", "198.51.100.0/24"]
    assert not any(r.get("cidrIpv6") for r in ssh)
    assert {r.get("fromPort") for r in rules(result, "im-host-sg-id")} == {22, 8887}


def test_pbx_group_admits_the_elastic_ip_only(result):
    (rule,) = rules(result, "sg-0pbxnodes")
    assert rule["cidrIpv4"] == f"{h.EIP}/32"
    assert rule["ipProtocol"] == "-1"
    assert not result.mocks.of_type("aws:ec2/securityGroup:SecurityGroup")[0].inputs.get("ingress")


def test_network_interface_holds_fixed_ip_and_both_groups(result):
    eni = result.mocks.one("aws:ec2/networkInterface:NetworkInterface").inputs
    assert eni["privateIps"] == [h.IM_PRIVATE]
    assert eni["subnetId"] == "subnet-0pbx"
    assert eni["securityGroups"] == ["im-host-sg-id", "sg-0pbxnodes"]
    assoc = result.mocks.one("aws:ec2/eipAssociation:EipAssociation").inputs
    assert assoc["networkInterfaceId"] == "im-host-eni-id"
    assert assoc["allocationId"] == "eipalloc-0im"
    assert result.mocks.one("aws:ec2/eip:Eip").inputs["domain"] == "vpc"


def test_instance_is_ubuntu_noble_of_the_default_size_without_user_data(result):
    vm = result.mocks.one("aws:ec2/instance:Instance").inputs
    assert vm["ami"] == "ami-0noble"
    assert vm["instanceType"] == "c7i.6xlarge"
    assert vm["primaryNetworkInterface"] == {"networkInterfaceId": "im-host-eni-id"}
    assert vm["keyName"] == "im-host-key-1234"
    assert vm["metadataOptions"]["httpTokens"] == "required"
    assert "userData" not in vm and "userDataBase64" not in vm
    assert vm["tags"]["portsip-im-stack"] == "dev"


def test_ami_lookup_is_canonical_noble_amd64(result):
    (args,) = result.mocks.call_args["aws:ec2/getAmi:getAmi"]
    assert args["owners"] == ["099720109477"] and args["mostRecent"] is True
    filters = {f["name"]: f["values"] for f in args["filters"]}
    assert filters["name"] == ["ubuntu/images/hvm-ssd-gp3/ubuntu-noble-24.04-amd64-server-*"]
    assert filters["architecture"] == ["x86_64"]


def test_a_new_ami_or_login_key_does_not_replace_the_running_vm(result):
    vm = result.mocks.one("aws:ec2/instance:Instance")
    assert sorted(vm.options["ignore_changes"]) == ["ami", "keyName"]
    assert vm.options["delete_before_replace"] is True  # the ENI holds the fixed IP


def test_data_volume_is_protected_and_outlives_the_vm(result):
    assert result.mocks.one("aws:ebs/volume:Volume").options["protect"] is True
    assert result.mocks.one("aws:ec2/instance:Instance").options["protect"] is False
    unprotected = h.run({**h.base_config("aws"), "protectData": "false"})
    assert unprotected.mocks.one("aws:ebs/volume:Volume").options["protect"] is False


def test_data_volume_is_separate_gp3_of_configured_size(result):
    vol = result.mocks.one("aws:ebs/volume:Volume").inputs
    assert vol["size"] == 256 and vol["type"] == "gp3" and vol["encrypted"] is True
    assert vol["availabilityZone"] == "eu-central-1a"
    att = result.mocks.one("aws:ec2/volumeAttachment:VolumeAttachment").inputs
    assert att["volumeId"] == "vol-0123456789abcdef0" and att["instanceId"] == "im-host-vm-id"
    assert att["deviceName"] == "/dev/sdf" and att["stopInstanceBeforeDetaching"] is True
    key = result.mocks.one("aws:ec2/keyPair:KeyPair").inputs
    assert key["publicKey"] == h.base_config("aws")["sshPublicKey"]
    egress = result.mocks.of_type("aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule")
    assert sorted(
        (e.inputs.get("cidrIpv4") or "", e.inputs.get("cidrIpv6") or "") for e in egress
    ) == [
        ("", "::/0"),
        ("0.0.0.0/0", ""),
    ]


def test_every_taggable_resource_carries_the_stack(result):
    tagged = [
        r
        for r in result.resources
        if r.typ.startswith("aws:")
        and "EipAssociation" not in r.typ
        and "VolumeAttachment" not in r.typ
    ]
    assert tagged
    for r in tagged:
        assert r.inputs["tags"]["portsip-im-stack"] == "dev", r.name
        assert r.inputs["tags"]["managed-by"] == "pulumi"


def test_outputs(result):
    assert result.exports == {
        "target": "aws",
        "imPrivateIp": h.IM_PRIVATE,
        "imPublicIp": h.EIP,
        "imEndpoint": f"{h.EIP}:8887",
        "hostId": "im-host-vm-id",
        "dataVolumeId": "vol-0123456789abcdef0",
        "imHealth": {
            "imPort8887": "open",
            "expected": "running",
            "vendorStatus": "unavailable",
            "checkedFrom": "pbx01",
        },
    }
    assert result.secret_exports == set()


def test_reused_elastic_ip_is_not_allocated():
    r = h.run({**h.base_config("aws"), "publicIpId": "eipalloc-0keep"})
    assert r.mocks.of_type("aws:ec2/eip:Eip") == []
    assert (
        r.mocks.one("aws:ec2/eipAssociation:EipAssociation").inputs["allocationId"]
        == "eipalloc-0keep"
    )
    assert r.exports["imPublicIp"] == "203.0.113.99"


def test_ami_override_skips_lookup():
    r = h.run({**h.base_config("aws"), "ami": "ami-0pinned"})
    assert r.mocks.one("aws:ec2/instance:Instance").inputs["ami"] == "ami-0pinned"
    assert "aws:ec2/getAmi:getAmi" not in r.mocks.calls


def test_pbx_stack_supplies_pbx01():
    cfg = {**h.base_config("aws"), "pbxStack": "acme/portsip-pbx/prod"}
    del cfg["pbx01Host"]
    r = h.run(cfg)
    assert len(r.mocks.of_type("pulumi:pulumi:StackReference")) == 1
    ssh = [x.inputs for x in r.mocks.of_type(INGRESS) if x.inputs.get("fromPort") == 22]
    assert "192.168.1.11/32" in {x.get("cidrIpv4") for x in ssh}


def test_scheduled_ebs_snapshots_only_when_asked(result):
    assert result.mocks.of_type("aws:dlm/lifecyclePolicy:LifecyclePolicy") == []
    scheduled = h.run({**h.base_config("aws"), "ebsSnapshotKeep": "14"})
    policy = scheduled.mocks.one("aws:dlm/lifecyclePolicy:LifecyclePolicy").inputs
    details = policy["policyDetails"]
    # DLM snapshots every volume carrying ANY target tag: there is one, and only this stack's data
    # volume carries it (not the root volume, whose tags are the instance's volumeTags).
    volume = scheduled.mocks.one("aws:ebs/volume:Volume")
    assert details["resourceTypes"] == ["VOLUME"]
    assert details["targetTags"] == {"portsip-im-data-volume": "portsip-im/dev/im-host-data"}
    assert details["targetTags"].items() <= volume.inputs["tags"].items()
    tagged = [
        r.name
        for r in scheduled.mocks.resources
        for field in ("tags", "volumeTags")
        if "portsip-im-data-volume" in (r.inputs.get(field) or {})
    ]
    assert tagged == [volume.name]
    [schedule] = details["schedules"]
    assert schedule["retainRule"] == {"count": 14}
    assert schedule["createRule"] == {"interval": 24, "intervalUnit": "HOURS", "times": "03:00"}
    role = scheduled.mocks.one("aws:iam/role:Role").inputs
    assert "dlm.amazonaws.com" in role["assumeRolePolicy"]
    attached = scheduled.mocks.one("aws:iam/rolePolicyAttachment:RolePolicyAttachment").inputs
    assert attached["policyArn"].endswith("service-role/AWSDataLifecycleManagerServiceRole")


def test_data_snapshot_on_an_existing_volume_warns_at_preview(monkeypatch):
    import pulumi

    said: list[str] = []
    monkeypatch.setattr(pulumi.log, "warn", lambda msg, *a, **k: said.append(msg))
    config = {**h.base_config("aws"), "dataSnapshotId": "snap-0123456789abcdef0"}
    # A new volume made from it: nothing to say.
    h.run(config, preview=True)
    assert not [m for m in said if "dataSnapshotId" in m]
    # The volume exists already, made blank: the value changes nothing, and says so.
    monkeypatch.setitem(h.COMPUTED, "aws:ebs/volume:Volume", {"snapshotId": ""})
    h.run(config, preview=True)
    [warning] = [m for m in said if "dataSnapshotId" in m]
    assert warning.startswith("dataSnapshotId snap-0123456789abcdef0 is ignored")
    assert "restoreSnapshot" in warning
