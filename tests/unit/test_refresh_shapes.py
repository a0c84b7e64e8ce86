"""`pulumi refresh` reads each cloud resource back from its provider; a value the program sends in
a shape the provider never returns would then differ on every preview (a perpetual diff). On the
mocks' shapes: the program is deterministic, sends CIDRs in the canonical form the clouds return,
and tags/labels every resource the same way. (Remote steps: pulumi-command's Read returns the
state as is, so refresh cannot see them; scripts/status covers that — README, "Drift".)"""

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
