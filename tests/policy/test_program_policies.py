"""The pack over what the real program registers (tests/unit/harness.py's mocks): the stacks the
program builds pass every mandatory policy, and a config that breaks a guard rail is caught.

The harness loads the stack's config into `pulumi.Config`, as the engine does for a policy pack,
so `im-port-open-to-clients` reads `portsip-im:clientCidrs` here as it does under the engine."""

from __future__ import annotations

import pulumi
import pytest
from pulumi_policy import ResourceValidationPolicy, StackValidationPolicy

from policy.pack import POLICIES
from policy.resources import AWS_INGRESS_RULE, AWS_VOLUME, HCLOUD_FIREWALL
from stack_config import ConfigError
from tests.policy.support import check_resource, check_stack, from_program
from tests.unit import harness


def run_pack(result: harness.Result, config: dict | None = None) -> dict[str, list[str]]:
    """Every policy's violation messages over one program run (advisory ones included)."""
    config = config or {}
    resources = from_program(result)
    found: dict[str, list[str]] = {}
    for policy in POLICIES:
        cfg = config.get(policy.name)
        if isinstance(policy, StackValidationPolicy):
            messages = check_stack(policy, resources, cfg).messages
        else:
            assert isinstance(policy, ResourceValidationPolicy)
            messages = [
                m
                for reg in result.resources
                for m in check_resource(policy, reg.typ, reg.inputs, reg.name, cfg).messages
            ]
        if messages:
            found[policy.name] = messages
    return found


@pytest.mark.parametrize("target", ["aws", "hcloud", "existing"])
def test_the_program_passes_every_policy(target):
    result = harness.run(harness.base_config(target))
    assert run_pack(result) == {}


@pytest.mark.parametrize("target", ["aws", "hcloud"])
def test_unprotected_data_volume_is_caught(target):
    result = harness.run({**harness.base_config(target), "protectData": "false"})
    found = run_pack(result)
    assert list(found) == ["im-data-protected"]
    assert "im-host-data is not protected" in found["im-data-protected"][0]


@pytest.mark.parametrize("target", ["aws", "hcloud"])
def test_client_cidrs_follow_the_stack_config(target):
    cidrs = '["203.0.113.0/24", "2001:db8::/32"]'
    result = harness.run({**harness.base_config(target), "clientCidrs": cidrs})
    assert run_pack(result) == {}
    # A policy config that expects everyone (an override) sees the narrower rules.
    found = run_pack(result, {"im-port-open-to-clients": {"clientCidrs": ["0.0.0.0/0"]}})
    assert list(found) == ["im-port-open-to-clients"]
    assert any("not open to 0.0.0.0/0" in m for m in found["im-port-open-to-clients"])
    assert any(
        "also open to" in m and "203.0.113.0/24" in m for m in found["im-port-open-to-clients"]
    )


@pytest.mark.parametrize("target", ["aws", "hcloud"])
def test_rules_that_miss_a_configured_client_network_are_caught(target):
    result = harness.run({**harness.base_config(target), "clientCidrs": '["203.0.113.0/24"]'})
    # The program opened 8887 to 203.0.113.0/24; the stack config now (say, edited after the
    # resources were recorded) also lists an office that no rule admits.
    pulumi.runtime.set_config("portsip-im:clientCidrs", '["203.0.113.0/24", "198.51.100.0/24"]')
    found = run_pack(result)
    assert found == {
        "im-port-open-to-clients": [
            "TCP 8887 is not open to 198.51.100.0/24, which portsip-im:clientCidrs lists: "
            "those IM clients cannot connect"
        ]
    }


def _widen_ssh_to_anywhere(result: harness.Result, target: str) -> str:
    """Open the recorded SSH rule for the admin network to 0.0.0.0/0 instead, as a change made
    around the program would (a hand-edited rule). Returns the changed resource's name."""
    admin = "198.51.100.0/24"  # harness.base_config's adminCidrs
    assert harness.base_config(target)["adminCidrs"] == f'["{admin}"]'
    if target == "aws":
        (rule,) = [
            r
            for r in result.resources
            if r.typ == AWS_INGRESS_RULE
            and r.inputs.get("fromPort") == 22
            and r.inputs.get("cidrIpv4") == admin
        ]
        rule.inputs["cidrIpv4"] = "0.0.0.0/0"
        return rule.name
    (firewall,) = [r for r in result.resources if r.typ == HCLOUD_FIREWALL]
    (ssh,) = [rule for rule in firewall.inputs["rules"] if rule["port"] == "22"]
    ssh["sourceIps"] = [("0.0.0.0/0" if ip == admin else ip) for ip in ssh["sourceIps"]]
    return firewall.name


# Not for `existing`: the program creates no security group or firewall for an existing host,
# so there is no SSH rule of the stack's for the pack to check.
@pytest.mark.parametrize("target", ["aws", "hcloud"])
def test_ssh_from_anywhere_is_caught(target):
    # The program refuses adminCidrs 0.0.0.0/0 itself (test_the_program_refuses_ssh_from_anywhere);
    # the policy is the second line, for a rule widened around the program. Widen the recorded one.
    result = harness.run(harness.base_config(target))
    assert run_pack(result) == {}
    widened = _widen_ssh_to_anywhere(result, target)
    found = run_pack(result)
    assert list(found) == ["ssh-not-open-to-internet"], (widened, found)
    (message,) = found["ssh-not-open-to-internet"]
    assert message.startswith("SSH (TCP 22) is open to 0.0.0.0/0: as portsip-im:adminCidrs it ")


@pytest.mark.parametrize("target", ["aws", "hcloud", "existing"])
def test_the_program_refuses_ssh_from_anywhere(target):
    # The first line: the config is refused, naming the key, before any resource exists.
    with pytest.raises(ConfigError) as exc:
        harness.run({**harness.base_config(target), "adminCidrs": '["0.0.0.0/0"]'})
    named = "portsip-im:adminCidrs[0]: '0.0.0.0/0': would open SSH on the IM server to 0.0.0.0/0"
    assert named in str(exc.value)


def test_undersized_data_volume_is_caught_after_the_program_check():
    # The program refuses dataDiskGb < 256 itself; the policy is the second line, for a change
    # made around the program (e.g. a hand-edited resource). Lower it in the recorded inputs.
    result = harness.run(harness.base_config("aws"))
    data = next(r for r in result.resources if r.typ == AWS_VOLUME)
    data.inputs["size"] = 128
    assert "im-host-meets-spec" in run_pack(result)


def _step(result: harness.Result, suffix: str) -> harness.Registered:
    return next(
        r for r in result.resources if r.typ == "command:remote:Command" and r.name.endswith(suffix)
    )


@pytest.mark.parametrize("target", ["aws", "existing"])
def test_unpinned_step_connections_are_caught(target):
    result = harness.run(harness.base_config(target))
    prepare = _step(result, "-prepare")  # on the IM host, through pbx01
    del prepare.inputs["connection"]["proxy"]["hostKey"]
    _step(result, "-pbx01-check").inputs["connection"]["hostKey"] = ""
    found = run_pack(result)
    assert list(found) == ["remote-host-key-pinned"]
    assert sorted(m.split(":")[0] for m in found["remote-host-key-pinned"]) == [
        "im-pbx01-check",
        "im-prepare",
    ]


def test_a_secret_config_value_in_a_step_command_is_caught():
    # As if a change passed pbxPassword as a parameter instead of on stdin.
    config = harness.base_config("aws")
    result = harness.run(config)
    check = _step(result, "-pbx01-check")
    check.inputs["create"] += f" PBX_PASSWORD={config['pbxPassword']}"
    found = run_pack(result)
    assert found == {
        "no-secrets-in-remote-commands": [
            "im-pbx01-check: `create` carries the secret value of config portsip-im:pbxPassword; "
            "a command's text is its remote command line (seen in `ps` and the host's logs), "
            "shown in preview diffs and kept in state: pass secrets on stdin "
            "(components/portsip_im/remote.py step(secrets=...))"
        ]
    }


@pytest.mark.parametrize("target", ["aws", "existing"])
def test_the_program_with_backups_passes_every_policy(target):
    config = {**harness.base_config(target), **harness.BACKUP_CONFIG, "imRelease": "22.3.1"}
    assert run_pack(harness.run(config)) == {}


def test_a_backup_password_in_a_step_command_is_caught():
    # As if a change passed backupPassword as a parameter instead of on stdin: the pack knows
    # it from the stack's secret config (settings.SECRETS), even on a step without stdin.
    result = harness.run({**harness.base_config("existing"), **harness.BACKUP_CONFIG})
    check = _step(result, "-pbx01-check")
    check.inputs["create"] += f" PASSWORD={harness.BACKUP_PASSWORD}"
    found = run_pack(result)
    assert list(found) == ["no-secrets-in-remote-commands"]
    assert "portsip-im:backupPassword" in found["no-secrets-in-remote-commands"][0]
