"""`pulumi refresh` reads each cloud resource back from its provider; a value the program sends in
a shape the provider never returns would then differ on every preview (a perpetual diff). On the
mocks' shapes: the program is deterministic, sends CIDRs in the canonical form the clouds return,
and tags/labels every resource the same way. (Remote steps: pulumi-command's Read returns the
state as is, so refresh cannot see them; scripts/status covers that — docs/status.md, "Drift".)"""

from __future__ import annotations

import ipaddress

import pytest

from tests.unit import harness as h

CLOUD = ("aws:", "hcloud:")


def cloud_inputs(result: h.Result) -> dict[tuple[str, str], dict]:
    return {(r.typ, r.name): r.inputs for r in result.resources if r.typ.startswith(CLOUD)}


@pytest.mark.parametrize("target", ["aws", "hcloud"])
def test_two_runs_send_the_same_inputs(target):
    config = {**h.base_config(target), "clientCidrs": '["2001:DB8:0:0::/32", "10.8.0.0/16"]'}
    assert cloud_inputs(h.run(config)) == cloud_inputs(h.run(config))


def _cidrs(value, found):
    if isinstance(value, dict):
        for k, v in value.items():
            if k in ("cidrIpv4", "cidrIpv6", "sourceIps") or isinstance(v, (dict, list)):
                _cidrs(v, found)
    elif isinstance(value, list):
        for v in value:
            _cidrs(v, found)
    elif isinstance(value, str) and "/" in value:
        found.append(value)


@pytest.mark.parametrize("target", ["aws", "hcloud"])
def test_cidrs_are_sent_in_the_canonical_form_the_cloud_returns(target):
    config = {
        **h.base_config(target),
        "clientCidrs": '["2001:DB8:0:0::/32", "10.8.0.0/16"]',
        "adminCidrs": '["2001:0db8:00aa::/48"]',
    }
    found: list[str] = []
    for inputs in cloud_inputs(h.run(config)).values():
        _cidrs(inputs, found)
    assert "2001:db8::/32" in found and "2001:db8:aa::/48" in found
    for cidr in found:
        assert cidr == str(ipaddress.ip_network(cidr)), cidr


@pytest.mark.parametrize("target", ["aws", "hcloud"])
def test_every_taggable_resource_carries_the_same_stack_labels(target):
    result = h.run(h.base_config(target))
    want = {"managed-by": "pulumi", "portsip-im-project": "portsip-im", "portsip-im-stack": "dev"}
    tagged = 0
    for r in result.resources:
        marks = r.inputs.get("tags") or r.inputs.get("labels")
        if marks is None:
            continue
        tagged += 1
        assert {k: marks[k] for k in want} == want, r.name
        # Only string values: the clouds return tags/labels as strings, anything else would differ.
        assert all(isinstance(v, str) for v in marks.values()), r.name
    assert tagged >= 3


# What each provider's Read returns for a field the program sets, as its documentation and API
# describe it. A program input that is not already in that shape differs after every refresh.
# Each rule takes the value the program sent and returns the value a Read would give back.
def _int(v):
    return int(v) if isinstance(v, (int, float)) and float(v).is_integer() else ("not an int", v)


def _canonical_cidrs(v):
    return sorted({str(ipaddress.ip_network(c, strict=False)) for c in v})


READ_SHAPES: dict[str, dict[str, object]] = {
    # aws_vpc_security_group_{ingress,egress}_rule: EC2 returns protocol names in lower case, "-1"
    # for all, whole-number ports, and the network address of each CIDR.
    "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule": {
        "ipProtocol": str.lower,
        "fromPort": _int,
        "toPort": _int,
        "cidrIpv4": lambda c: str(ipaddress.ip_network(c, strict=False)),
        "cidrIpv6": lambda c: str(ipaddress.ip_network(c, strict=False)),
    },
    "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule": {
        "ipProtocol": str.lower,
        "cidrIpv4": lambda c: str(ipaddress.ip_network(c, strict=False)),
        "cidrIpv6": lambda c: str(ipaddress.ip_network(c, strict=False)),
    },
    "aws:ebs/volume:Volume": {"size": _int, "type": str.lower},
    "aws:ec2/eip:Eip": {"domain": str.lower},
    # hcloud_firewall: rules and their source_ips are sets; the API returns ports as strings and
    # canonical networks.
    "hcloud:index/volume:Volume": {"size": _int},
}


def _hcloud_rules(rules):
    def one(rule):
        out = dict(rule)
        out["port"] = str(rule["port"]) if "port" in rule else None
        out["protocol"] = rule["protocol"].lower()
        out["sourceIps"] = _canonical_cidrs(rule.get("sourceIps", []))
        return out

    return sorted((one(r) for r in rules), key=lambda r: (r["direction"], r["port"] or ""))


READ_SHAPES["hcloud:index/firewall:Firewall"] = {"rules": _hcloud_rules}


def _as_sent(typ, field, value):
    if typ == "hcloud:index/firewall:Firewall" and field == "rules":
        # Order does not matter in a set: compare as the read would list them.
        return _hcloud_rules(value)
    return value


@pytest.mark.parametrize("target", ["aws", "hcloud"])
def test_what_the_program_sends_is_what_a_read_returns(target):
    config = {
        **h.base_config(target),
        "clientCidrs": '["2001:DB8:0:0::/32", "10.8.0.0/16"]',
        "adminCidrs": '["2001:0db8:00aa::/48", "198.51.100.0/24"]',
    }
    checked = 0
    for (typ, name), inputs in cloud_inputs(h.run(config)).items():
        for field, read in READ_SHAPES.get(typ, {}).items():
            if field not in inputs:
                continue
            checked += 1
            assert _as_sent(typ, field, inputs[field]) == read(inputs[field]), (name, field)
    assert checked >= (10 if target == "aws" else 2)


def test_the_instance_does_not_tag_volumes_that_are_managed_on_their_own():
    # pulumi-aws: "Do not use `volume_tags` if you plan to manage block device tags outside the
    # `ec2.Instance` configuration, such as using `tags` in an `ebs.Volume` resource attached via
    # `ec2.VolumeAttachment`. Doing so will result in resource cycling and inconsistent behavior."
    # The data volume is such a volume: the root volume is tagged through root_block_device instead.
    result = h.run(h.base_config("aws"))
    types = {r.typ for r in result.resources}
    assert "aws:ec2/volumeAttachment:VolumeAttachment" in types
    (vm,) = [r for r in result.resources if r.typ == "aws:ec2/instance:Instance"]
    assert "volumeTags" not in vm.inputs
    root_tags = vm.inputs["rootBlockDevice"]["tags"]
    assert root_tags["Name"].endswith("-root") and root_tags["portsip-im-stack"] == "dev"
