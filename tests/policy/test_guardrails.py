"""Each policy of policy/ rejects a violating resource and passes a good one."""

from __future__ import annotations

import base64

import pulumi
import pytest
from pulumi_policy import EnforcementLevel

from policy.data import DATA_PROTECTED
from policy.network import IM_PORT_OPEN, SSH_NOT_PUBLIC
from policy.no_secrets import NO_SECRETS
from policy.pack import PACK_NAME, POLICIES, REPO_ROOT
from policy.resources import (
    AWS_INGRESS_RULE,
    AWS_INSTANCE,
    AWS_SG,
    AWS_SG_RULE,
    AWS_VOLUME,
    HCLOUD_FIREWALL,
    HCLOUD_SERVER,
    HCLOUD_VOLUME,
)
from policy.sizing import (
    HOST_SIZE,
    HOST_TYPE_LISTED,
    LARGE,
    PROFILES,
    aws_instance_verdict,
    hcloud_server_verdict,
)
from portsip_im import spec
from tests.policy.support import (
    OURS,
    UNKNOWN_STRING,
    check_resource,
    check_stack,
    resource,
)
from tests.unit import harness

DATA = {**OURS, "portsip-im-role": "im-data"}


@pytest.fixture(autouse=True)
def no_stack_config():
    """No stack config reached the pack (tests that want one set it)."""
    pulumi.runtime.set_all_config({})
    yield
    pulumi.runtime.set_all_config({})


# --- the pack ---------------------------------------------------------------------------------


def test_pack_lists_each_policy_once_with_the_intended_levels():
    names = [p.name for p in POLICIES]
    assert names == [
        "im-host-meets-spec",
        "im-host-type-listed",
        "im-host-not-undersized",
        "im-port-open-to-clients",
        "ssh-not-open-to-internet",
        "im-data-protected",
        "no-secrets-in-user-data-or-tags",
        "remote-host-key-pinned",
        "no-secrets-in-remote-commands",
    ]
    levels = {p.name: p.enforcement_level for p in POLICIES}
    # None: the pack's level, MANDATORY (policy/__main__.py); only the table's gap and the lab
    # switch (which the lab stack sets on purpose) are advisory.
    assert levels.pop("im-host-type-listed") == EnforcementLevel.ADVISORY
    assert levels.pop("im-host-not-undersized") == EnforcementLevel.ADVISORY
    assert set(levels.values()) == {None}
    main = (REPO_ROOT / "policy" / "__main__.py").read_text()
    assert "EnforcementLevel.MANDATORY" in main and "PACK_NAME" in main
    assert PACK_NAME == "portsip-im-guardrails"


def test_guide_figures_come_from_the_program():
    assert PROFILES is spec.PROFILES and LARGE is spec.PROFILES["large"]


# --- im-host-meets-spec -----------------------------------------------------------------------


@pytest.mark.parametrize("itype", ["c7i.6xlarge", "c6i.8xlarge", "m7i.12xlarge", "r6i.8xlarge"])
def test_host_size_passes_aws_types_that_meet_the_guide(itype):
    props = {"instanceType": itype, "tags": OURS}
    assert not check_resource(HOST_SIZE, AWS_INSTANCE, props)


@pytest.mark.parametrize(
    "itype, figure",
    [("c7i.4xlarge", "16 vCPU"), ("m5.large", "2 vCPU"), ("t3.2xlarge", "at most 8 vCPU")],
)
def test_host_size_rejects_aws_types_below_the_guide(itype, figure):
    out = check_resource(HOST_SIZE, AWS_INSTANCE, {"instanceType": itype, "tags": OURS})
    assert len(out.violations) == 1
    assert "portsip-im:size" in out.messages[0] and figure in out.messages[0]
    assert itype in out.messages[0]


def test_host_size_only_judges_this_projects_instances():
    # An instance without the project's tag is someone else's business.
    assert not check_resource(HOST_SIZE, AWS_INSTANCE, {"instanceType": "t3.micro"})


def test_host_size_hcloud_server_types():
    ok = check_resource(HOST_SIZE, HCLOUD_SERVER, {"serverType": "ccx53", "labels": OURS})
    assert not ok
    for small in ("ccx43", "cpx51", "cx52", "cax41"):
        out = check_resource(HOST_SIZE, HCLOUD_SERVER, {"serverType": small, "labels": OURS})
        assert out and small in out.messages[0], small


@pytest.mark.parametrize(
    "typ, key", [(AWS_VOLUME, "tags"), (HCLOUD_VOLUME, "labels")], ids=["aws", "hcloud"]
)
def test_host_size_checks_the_data_volume(typ, key):
    assert not check_resource(HOST_SIZE, typ, {"size": 256, key: DATA})
    assert not check_resource(HOST_SIZE, typ, {"size": 512.0, key: DATA})
    out = check_resource(HOST_SIZE, typ, {"size": 100, key: DATA})
    assert len(out.violations) == 1 and "100 GB (minimum 256 GB)" in out.messages[0]
    # A volume without the data role (e.g. someone's scratch disk) is not the IM data volume.
    assert not check_resource(HOST_SIZE, typ, {"size": 100, key: OURS})


def test_table_agrees_with_the_cloud_catalogue_figures_the_program_uses():
    """Where the pack's table and the mocks' catalogue (AWS's and Hetzner's published figures)
    both know a type, they give the same verdict as components/portsip_im/spec.py."""
    for name, (vcpus, mem) in harness.INSTANCE_TYPES.items():
        verdict = aws_instance_verdict(name)
        assert verdict.known, name
        expected = spec.shortfalls(spec.HostFacts(vcpus=vcpus, memory_mib=mem))
        assert bool(verdict.problem) == bool(expected), name
    for name, (cores, mem_gb, _) in harness.SERVER_TYPES.items():
        verdict = hcloud_server_verdict(name)
        assert verdict.known, name
        expected = spec.shortfalls(spec.HostFacts(vcpus=cores, memory_mib=int(mem_gb * 1024)))
        assert bool(verdict.problem) == bool(expected), name


# --- im-host-type-listed (advisory) -----------------------------------------------------------


def test_unlisted_type_gets_an_advisory_not_a_rejection():
    props = {"instanceType": "c7i.metal-24xl", "tags": OURS}
    assert not check_resource(HOST_SIZE, AWS_INSTANCE, props)
    out = check_resource(HOST_TYPE_LISTED, AWS_INSTANCE, props)
    assert len(out.violations) == 1 and "c7i.metal-24xl" in out.messages[0]
    listed = {"instanceType": "c7i.6xlarge", "tags": OURS}
    assert not check_resource(HOST_TYPE_LISTED, AWS_INSTANCE, listed)
    server = {"serverType": "ccx99", "labels": OURS}
    assert check_resource(HOST_TYPE_LISTED, HCLOUD_SERVER, server)


# --- ssh-not-open-to-internet -----------------------------------------------------------------


def _vpc_rule(**kw):
    return {"ipProtocol": "tcp", "fromPort": 22, "toPort": 22, "securityGroupId": "sg-1", **kw}


@pytest.mark.parametrize(
    "typ, props",
    [
        (AWS_INGRESS_RULE, _vpc_rule(cidrIpv4="0.0.0.0/0")),
        (AWS_INGRESS_RULE, _vpc_rule(cidrIpv6="::/0")),
        (
            AWS_INGRESS_RULE,
            _vpc_rule(ipProtocol="-1", fromPort=None, toPort=None, cidrIpv4="0.0.0.0/0"),
        ),
        (AWS_INGRESS_RULE, _vpc_rule(fromPort=0, toPort=1024, cidrIpv4="0.0.0.0/0")),
        (
            AWS_SG_RULE,
            {
                "type": "ingress",
                "protocol": "tcp",
                "fromPort": 22,
                "toPort": 22,
                "cidrBlocks": ["0.0.0.0/0"],
            },
        ),
        (
            AWS_SG,
            {
                "ingress": [
                    {"protocol": "tcp", "fromPort": 22, "toPort": 22, "ipv6CidrBlocks": ["::/0"]}
                ]
            },
        ),
        (
            HCLOUD_FIREWALL,
            {
                "rules": [
                    {"direction": "in", "protocol": "tcp", "port": "22", "sourceIps": ["0.0.0.0/0"]}
                ]
            },
        ),
        (
            HCLOUD_FIREWALL,
            {
                "rules": [
                    {"direction": "in", "protocol": "tcp", "port": "1-1000", "sourceIps": ["::/0"]}
                ]
            },
        ),
        (
            HCLOUD_FIREWALL,
            {
                "rules": [
                    {
                        "direction": "in",
                        "protocol": "tcp",
                        "port": "any",
                        "sourceIps": ["0.0.0.0/0"],
                    }
                ]
            },
        ),
    ],
    ids=[
        "vpc-rule-v4",
        "vpc-rule-v6",
        "vpc-rule-all-protocols",
        "vpc-rule-port-range",
        "sg-rule",
        "sg-inline",
        "hcloud",
        "hcloud-range",
        "hcloud-any",
    ],
)
def test_ssh_open_to_the_internet_is_rejected(typ, props):
    out = check_resource(SSH_NOT_PUBLIC, typ, props)
    assert len(out.violations) == 1 and "SSH" in out.messages[0]


@pytest.mark.parametrize(
    "source, why",
    [
        ("8.0.0.0/8", "a public admin range must be /16 or narrower for IPv4"),
        ("2001:db8::/32", "a public admin range must be /48 or narrower for IPv6"),
        ("::ffff:0:0/96", "(it embeds IPv4 0.0.0.0/0)"),
    ],
)
def test_ssh_open_to_a_public_range_broader_than_admin_cidrs_allow_is_rejected(source, why):
    key = "cidrIpv6" if ":" in source else "cidrIpv4"
    out = check_resource(SSH_NOT_PUBLIC, AWS_INGRESS_RULE, _vpc_rule(**{key: source}))
    assert len(out.violations) == 1 and why in out.messages[0], out.messages
    assert out.messages[0].startswith(
        f"SSH (TCP 22) is open to {source}: as portsip-im:adminCidrs it would open SSH on the IM"
    )


@pytest.mark.parametrize("source", ["198.51.100.0/24", "203.0.0.0/16", "2001:db8:aa::/48"])
def test_ssh_from_a_narrow_public_range_passes(source):
    key = "cidrIpv6" if ":" in source else "cidrIpv4"
    assert not check_resource(SSH_NOT_PUBLIC, AWS_INGRESS_RULE, _vpc_rule(**{key: source}))


@pytest.mark.parametrize(
    "typ, props",
    [
        (AWS_INGRESS_RULE, _vpc_rule(cidrIpv4="192.168.1.11/32")),
        (AWS_INGRESS_RULE, _vpc_rule(fromPort=8887, toPort=8887, cidrIpv4="0.0.0.0/0")),
        (AWS_INGRESS_RULE, _vpc_rule(ipProtocol="udp", cidrIpv4="0.0.0.0/0")),
        (AWS_INGRESS_RULE, _vpc_rule(cidrIpv4=UNKNOWN_STRING)),  # known at update, checked then
        (
            AWS_SG_RULE,
            {
                "type": "egress",
                "protocol": "-1",
                "fromPort": 0,
                "toPort": 0,
                "cidrBlocks": ["0.0.0.0/0"],
            },
        ),
        (
            AWS_SG,
            {
                "ingress": [
                    {"protocol": "tcp", "fromPort": 22, "toPort": 22, "cidrBlocks": ["10.0.0.0/8"]}
                ]
            },
        ),
        (
            HCLOUD_FIREWALL,
            {
                "rules": [
                    {
                        "direction": "in",
                        "protocol": "tcp",
                        "port": "8887",
                        "sourceIps": ["0.0.0.0/0"],
                    },
                    {
                        "direction": "in",
                        "protocol": "tcp",
                        "port": "22",
                        "sourceIps": ["192.168.1.11/32"],
                    },
                    {
                        "direction": "out",
                        "protocol": "tcp",
                        "port": "22",
                        "destinationIps": ["0.0.0.0/0"],
                    },
                ]
            },
        ),
    ],
    ids=["pbx01", "im-port", "udp", "unknown", "egress", "sg-inline-private", "hcloud"],
)
def test_ssh_from_known_networks_passes(typ, props):
    assert not check_resource(SSH_NOT_PUBLIC, typ, props)


# --- no-secrets-in-user-data-or-tags ----------------------------------------------------------

PEM = (
    "-----BEGIN " + "OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n"  # a detector test vector
    "-----END OPENSSH PRIVATE KEY-----"
)


@pytest.mark.parametrize(
    "typ, props, kind",
    [
        (
            AWS_INSTANCE,
            {"userData": f"#!/bin/sh\ncat > /root/k <<EOF\n{PEM}\nEOF"},
            "private key",
        ),
        (
            AWS_INSTANCE,
            {"userDataBase64": base64.b64encode(b"export DB_PASSWORD=hunter2hunter2\n").decode()},
            "password",
        ),
        (
            HCLOUD_SERVER,
            {"userData": "#cloud-config\nruncmd: [echo AKIAIOSFODNN7EXAMPLE]"},
            "AWS",
        ),
        (AWS_VOLUME, {"tags": {**OURS, "imToken": "sha256:0123456789abcdef"}}, "by its key"),
        (HCLOUD_VOLUME, {"labels": {**OURS, "note": "ghp_" + "a" * 36}}, "GitHub"),
        (AWS_INSTANCE, {"volumeTags": {"backup": "s3://u:s3cr3t@host/x"}}, "URL"),
        (
            AWS_INSTANCE,
            {"rootBlockDevice": {"tags": {"db_password": "hunter2hunter2"}}},
            "secret",
        ),
    ],
    ids=[
        "pem-user-data",
        "b64-user-data",
        "aws-key",
        "tag-key",
        "label-value",
        "volume-tags",
        "root-block-device-tags",
    ],
)
def test_secret_looking_values_are_rejected(typ, props, kind):
    out = check_resource(NO_SECRETS, typ, props)
    assert len(out.violations) == 1 and kind in out.messages[0]
    # The message names where, never the value.
    for value in ("hunter2", "s3cr3t", "AKIAIOSFODNN7EXAMPLE", "0123456789abcdef"):
        assert value not in out.messages[0]


def test_ordinary_user_data_and_tags_pass():
    cloud_config = (
        "#cloud-config\nusers:\n  - name: ops\n    lock_passwd: true\n    passwd: ${PW}\n"
    )
    props = {
        "userData": cloud_config,
        "tags": {**OURS, "Name": "im-host-vm"},
        "volumeTags": {**OURS, "Name": "im-host-root"},
    }
    assert not check_resource(NO_SECRETS, AWS_INSTANCE, props)
    assert not check_resource(NO_SECRETS, AWS_INSTANCE, {"userData": UNKNOWN_STRING})
    assert not check_resource(NO_SECRETS, HCLOUD_VOLUME, {"labels": DATA})


# --- im-port-open-to-clients (stack) ----------------------------------------------------------


def _aws_stack(*im_rule_cidrs: str, with_sg: bool = True):
    sg = resource(AWS_SG, "im-host-sg", {"tags": OURS, "vpcId": "vpc-1"})
    rules = []
    for i, cidr in enumerate(im_rule_cidrs):
        key = "cidrIpv6" if ":" in cidr else "cidrIpv4"
        props = _vpc_rule(fromPort=8887, toPort=8887, tags=OURS, securityGroupId=UNKNOWN_STRING)
        props[key] = cidr
        rules.append(resource(AWS_INGRESS_RULE, f"im-{i}", props, parent=sg))
    vm = resource(AWS_INSTANCE, "im-host-vm", {"instanceType": "c7i.6xlarge", "tags": OURS})
    ssh = resource(
        AWS_INGRESS_RULE, "ssh", _vpc_rule(cidrIpv4="192.168.1.11/32", tags=OURS), parent=sg
    )
    return ([sg] if with_sg else []) + rules + [ssh, vm]


def _hcloud_stack(*sources: str):
    fw = resource(
        HCLOUD_FIREWALL,
        "im-host-fw",
        {
            "labels": OURS,
            "rules": [
                {"direction": "in", "protocol": "tcp", "port": "8887", "sourceIps": list(sources)},
                {"direction": "in", "protocol": "tcp", "port": "22", "sourceIps": ["10.0.0.2/32"]},
            ]
            if sources
            else [
                {"direction": "in", "protocol": "tcp", "port": "22", "sourceIps": ["10.0.0.2/32"]}
            ],
        },
    )
    return [fw, resource(HCLOUD_SERVER, "im-host-vm", {"serverType": "ccx53", "labels": OURS})]


EVERYONE = {"clientCidrs": ["0.0.0.0/0", "::/0"]}


def test_im_port_open_passes_when_rules_match_client_cidrs():
    assert not check_stack(IM_PORT_OPEN, _aws_stack("0.0.0.0/0", "::/0"), EVERYONE)
    assert not check_stack(IM_PORT_OPEN, _aws_stack("0.0.0.0/0"))  # no config: any rule will do
    assert not check_stack(IM_PORT_OPEN, _hcloud_stack("0.0.0.0/0", "::/0"), EVERYONE)
    # Same networks, other spelling.
    cfg = {"clientCidrs": ["10.1.0.0/16"]}
    assert not check_stack(IM_PORT_OPEN, _hcloud_stack("10.1.0.0/16"), cfg)


def test_im_port_rule_matched_through_property_dependency():
    sg = resource(AWS_SG, "sg", {"tags": OURS})
    rule = resource(
        AWS_INGRESS_RULE,
        "im",
        _vpc_rule(fromPort=8887, toPort=8887, cidrIpv4="0.0.0.0/0", securityGroupId=UNKNOWN_STRING),
        property_dependencies={"securityGroupId": [sg]},
    )
    vm = resource(AWS_INSTANCE, "vm", {"instanceType": "c7i.6xlarge", "tags": OURS})
    assert not check_stack(IM_PORT_OPEN, [sg, rule, vm])
    assert check_stack(IM_PORT_OPEN, [sg, vm])


def test_im_port_closed_is_rejected():
    out = check_stack(IM_PORT_OPEN, _aws_stack(), EVERYONE)
    assert len(out.violations) == 1 and "no inbound TCP 8887" in out.messages[0]
    assert out.violations[0][1].endswith("::im-host-sg")
    out = check_stack(IM_PORT_OPEN, _hcloud_stack())
    assert len(out.violations) == 1 and "no inbound TCP 8887" in out.messages[0]
    out = check_stack(IM_PORT_OPEN, _aws_stack(with_sg=False))
    assert len(out.violations) == 1 and "no security group" in out.messages[0]


def test_im_port_open_to_other_networks_than_configured_is_rejected():
    out = check_stack(IM_PORT_OPEN, _aws_stack("0.0.0.0/0"), EVERYONE)
    assert out.messages == [
        "TCP 8887 is not open to ::/0, which the policy config's clientCidrs lists: those IM "
        "clients cannot connect"
    ]
    out = check_stack(IM_PORT_OPEN, _hcloud_stack("0.0.0.0/0"), {"clientCidrs": ["10.1.0.0/16"]})
    assert len(out.violations) == 2
    assert "not open to 10.1.0.0/16" in out.messages[0]
    assert "also open to 0.0.0.0/0" in out.messages[1]


def test_im_port_expectation_comes_from_the_stack_config():
    # As under the engine: the stack's config is in pulumi.Config.
    pulumi.runtime.set_all_config({"portsip-im:target": "aws"})
    everyone = _aws_stack("0.0.0.0/0", "::/0")
    assert not check_stack(IM_PORT_OPEN, everyone)  # unset: the program's default, everyone
    out = check_stack(IM_PORT_OPEN, _aws_stack("0.0.0.0/0"))
    assert out.messages == [
        "TCP 8887 is not open to ::/0, which portsip-im:clientCidrs (default) lists: those IM "
        "clients cannot connect"
    ]
    pulumi.runtime.set_all_config(
        {"portsip-im:target": "aws", "portsip-im:clientCidrs": '["10.1.0.0/16"]'}
    )
    assert not check_stack(IM_PORT_OPEN, _aws_stack("10.1.0.0/16"))
    out = check_stack(IM_PORT_OPEN, everyone)
    assert "also open to 0.0.0.0/0, ::/0, which portsip-im:clientCidrs does not" in out.messages[1]
    # The pack's own config overrides the stack's.
    assert not check_stack(IM_PORT_OPEN, everyone, EVERYONE)


def test_im_port_policy_does_not_apply_without_an_im_host():
    out = check_stack(IM_PORT_OPEN, [resource(AWS_SG, "other", {"tags": OURS})])
    assert not out and out.not_applicable


# --- im-data-protected (stack) ----------------------------------------------------------------


@pytest.mark.parametrize(
    "typ, key, host",
    [(AWS_VOLUME, "tags", AWS_INSTANCE), (HCLOUD_VOLUME, "labels", HCLOUD_SERVER)],
)
def test_data_volume_must_be_protected(typ, key, host):
    vm = resource(host, "vm", {key: OURS})
    good = resource(typ, "data", {"size": 256, key: DATA}, protect=True)
    assert not check_stack(DATA_PROTECTED, [vm, good])
    bad = resource(typ, "data", {"size": 256, key: DATA}, protect=False)
    out = check_stack(DATA_PROTECTED, [vm, bad])
    assert len(out.violations) == 1
    message, where = out.violations[0]
    assert "not protected" in message and "protectData" in message and where == bad.urn


def test_im_host_without_data_volume_is_rejected():
    vm = resource(AWS_INSTANCE, "vm", {"tags": OURS})
    out = check_stack(DATA_PROTECTED, [vm])
    assert len(out.violations) == 1 and "no separate data volume" in out.messages[0]


def test_data_policy_does_not_apply_to_an_existing_host_stack():
    out = check_stack(DATA_PROTECTED, [resource("command:remote:Command", "im-prepare", {})])
    assert not out and out.not_applicable
