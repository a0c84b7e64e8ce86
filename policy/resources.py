"""How the pack recognises the program's resources, shared by the policy families.

Every resource the program creates carries the tag/label `portsip-im-stack`
(components/portsip_im/hosts/__init__.py, `stack_labels`); the data volume's own mark is in data.py.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from pulumi_policy import PolicyResource

from policy.props import get

STACK_TAG = "portsip-im-stack"

AWS_INSTANCE = "aws:ec2/instance:Instance"
AWS_VOLUME = "aws:ebs/volume:Volume"
AWS_SG = "aws:ec2/securityGroup:SecurityGroup"
AWS_SG_RULE = "aws:ec2/securityGroupRule:SecurityGroupRule"
AWS_INGRESS_RULE = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
HCLOUD_SERVER = "hcloud:index/server:Server"
HCLOUD_VOLUME = "hcloud:index/volume:Volume"
HCLOUD_FIREWALL = "hcloud:index/firewall:Firewall"


def marks(props: Any) -> dict[str, Any]:
    """A resource's tags (AWS) or labels (Hetzner), as a plain dict."""
    out: dict[str, Any] = {}
    for key in ("tags", "labels"):
        value = get(props, key)
        if isinstance(value, Mapping):
            for k in value:
                out[k] = get(value, k)
    return out


def is_ours(props: Any) -> bool:
    return STACK_TAG in marks(props)


def im_hosts(resources: Iterable[PolicyResource]) -> list[PolicyResource]:
    return [
        r
        for r in resources
        if r.resource_type in (AWS_INSTANCE, HCLOUD_SERVER) and is_ours(r.props)
    ]
