"""The pack as the engine runs it: `python -m pulumi.policy <engine> policy` (what Pulumi's
pulumi-analyzer-policy-python does), then the Analyzer gRPC calls the engine makes, on loopback.

This proves that policy/__main__.py starts from its own folder (imports, names, levels), that the
stack's config handed over in PULUMI_CONFIG reaches the 8887 policy, and that a violation comes back
as a mandatory diagnostic.
"""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
from pathlib import Path

import grpc
import pytest
from google.protobuf import empty_pb2, struct_pb2
from pulumi.runtime.proto import analyzer_pb2, analyzer_pb2_grpc

from tests.policy.support import OURS, urn

ROOT = Path(__file__).resolve().parents[2]
MANDATORY = analyzer_pb2.EnforcementLevel.Value("MANDATORY")
ADVISORY = analyzer_pb2.EnforcementLevel.Value("ADVISORY")


@pytest.fixture(scope="module")
def analyzer():
    env = {
        **os.environ,
        "PULUMI_CONFIG": json.dumps(
            {"portsip-im:target": "aws", "portsip-im:clientCidrs": '["10.1.0.0/16"]'}
        ),
        "PULUMI_PROJECT": "portsip-im",
        "PULUMI_STACK": "dev",
        "PULUMI_DRY_RUN": "true",
    }
    proc = subprocess.Popen(
        [sys.executable, "-u", "-m", "pulumi.policy", "127.0.0.1:1", str(ROOT / "policy")],
        cwd=ROOT / "policy",
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        ready, _, _ = select.select([proc.stdout], [], [], 60)
        line = proc.stdout.readline() if ready else ""  # type: ignore[union-attr]
        if not line.strip().isdigit():
            proc.kill()
            _, err = proc.communicate(timeout=10)
            pytest.fail(f"the policy pack did not start: {line!r}\n{err}")
        channel = grpc.insecure_channel(f"127.0.0.1:{int(line)}")
        yield analyzer_pb2_grpc.AnalyzerStub(channel)
        channel.close()
    finally:
        proc.kill()
        proc.wait(timeout=10)


def _struct(props: dict) -> struct_pb2.Struct:
    s = struct_pb2.Struct()
    s.update(props)
    return s


def _resource(typ: str, name: str, props: dict, protect: bool = False, parent: str = ""):
    return analyzer_pb2.AnalyzerResource(
        type=typ,
        name=name,
        urn=urn(typ, name),
        properties=_struct(props),
        options=analyzer_pb2.AnalyzerResourceOptions(protect=protect),
        parent=parent,
    )


def test_pack_info(analyzer):
    info = analyzer.GetAnalyzerInfo(empty_pb2.Empty())
    assert info.name == "portsip-im-guardrails"
    levels = {p.name: p.enforcementLevel for p in info.policies}
    assert levels.pop("im-host-type-listed") == ADVISORY
    assert levels.pop("im-host-not-undersized") == ADVISORY
    assert set(levels) == {
        "im-host-meets-spec",
        "im-port-open-to-clients",
        "ssh-not-open-to-internet",
        "im-data-protected",
        "no-secrets-in-user-data-or-tags",
        "remote-host-key-pinned",
        "no-secrets-in-remote-commands",
    }
    assert set(levels.values()) == {MANDATORY}
    assert analyzer.GetPluginInfo(empty_pb2.Empty()).version


def test_resource_policies_over_grpc(analyzer):
    bad = analyzer.Analyze(
        analyzer_pb2.AnalyzeRequest(
            type="aws:ec2/instance:Instance",
            name="im-host-vm",
            urn=urn("aws:ec2/instance:Instance", "im-host-vm"),
            properties=_struct({"instanceType": "t3.large", "tags": {**OURS, "db_password": "x"}}),
            options=analyzer_pb2.AnalyzerResourceOptions(),
        )
    )
    found = {(d.policyName, d.enforcementLevel) for d in bad.diagnostics}
    assert found == {
        ("im-host-meets-spec", MANDATORY),
        ("no-secrets-in-user-data-or-tags", MANDATORY),
    }
    good = analyzer.Analyze(
        analyzer_pb2.AnalyzeRequest(
            type="aws:ec2/instance:Instance",
            name="im-host-vm",
            urn=urn("aws:ec2/instance:Instance", "im-host-vm"),
            properties=_struct({"instanceType": "c7i.6xlarge", "tags": OURS}),
            options=analyzer_pb2.AnalyzerResourceOptions(),
        )
    )
    assert list(good.diagnostics) == []


def test_stack_policies_read_the_stack_config(analyzer):
    sg = _resource("aws:ec2/securityGroup:SecurityGroup", "im-host-sg", {"tags": OURS})
    vm = _resource(
        "aws:ec2/instance:Instance", "im-host-vm", {"instanceType": "c7i.6xlarge", "tags": OURS}
    )
    data = _resource(
        "aws:ebs/volume:Volume",
        "im-host-data",
        {"size": 256, "tags": {**OURS, "portsip-im-role": "im-data"}},
        protect=True,
    )

    def rule(cidr: str):
        return _resource(
            "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule",
            "im-from-" + cidr.replace("/", "_"),
            {"ipProtocol": "tcp", "fromPort": 8887, "toPort": 8887, "cidrIpv4": cidr, "tags": OURS},
            parent=sg.urn,
        )

    # PULUMI_CONFIG says clientCidrs ["10.1.0.0/16"].
    ok = analyzer.AnalyzeStack(
        analyzer_pb2.AnalyzeStackRequest(resources=[sg, rule("10.1.0.0/16"), vm, data])
    )
    assert list(ok.diagnostics) == []
    bad = analyzer.AnalyzeStack(
        analyzer_pb2.AnalyzeStackRequest(resources=[sg, rule("0.0.0.0/0"), vm, data])
    )
    messages = {d.policyName: d.message for d in bad.diagnostics}
    assert set(messages) == {"im-port-open-to-clients"}
    assert "portsip-im:clientCidrs" in messages["im-port-open-to-clients"]
    unprotected = _resource(
        "aws:ebs/volume:Volume",
        "im-host-data",
        {"size": 256, "tags": {**OURS, "portsip-im-role": "im-data"}},
    )
    bad = analyzer.AnalyzeStack(
        analyzer_pb2.AnalyzeStackRequest(resources=[sg, rule("10.1.0.0/16"), vm, unprotected])
    )
    assert [(d.policyName, d.enforcementLevel) for d in bad.diagnostics] == [
        ("im-data-protected", MANDATORY)
    ]
