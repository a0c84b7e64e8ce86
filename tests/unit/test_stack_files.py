"""The committed stack file and the generated config reference stay true."""

import json
import runpy
import subprocess
import sys

import pytest
import yaml

from tests.unit import harness as h

REFERENCE = h.ROOT / "scripts" / "config-reference"
# Where the generated tables (config keys, PBX API calls) and the example stacks live.
CONFIGURATION = h.ROOT / "docs" / "configuration.md"
STACKS_DOC = h.ROOT / "docs" / "stacks.md"


def stack_config(path):
    raw = yaml.safe_load(path.read_text())["config"]
    out = {}
    for key, value in raw.items():
        ns, _, name = key.partition(":")
        if ns != "portsip-im":
            continue
        out[name] = json.dumps(value) if isinstance(value, (list, dict)) else str(value)
    return out


def test_dev_stack_is_complete_and_valid_once_its_placeholders_are_replaced():
    config = stack_config(h.ROOT / "Pulumi.dev.yaml")
    assert "sshPrivateKey" not in config  # secrets are set by command, never written there
    config.update(sshPrivateKey="k", pbxPassword="p", pbxAdminPassword="a")
    from stack_config import ConfigError

    # As committed, each example key is refused, naming what to put there.
    with pytest.raises(ConfigError) as refused:
        h.run(config, secret_keys=h.SECRET_KEYS, preview=True)
    said = str(refused.value)
    assert "portsip-im:pbx01HostKey: still the committed example value; put pbx01's own" in said
    assert "portsip-im:sshPublicKey: still the committed example value" in said
    config.update(pbx01HostKey=h.PBX01_HOST_KEY, sshPublicKey=h.IM_HOST_KEY)
    result = h.run(config)
    assert result.exports["target"] == "aws"
    assert result.exports["imPrivateIp"] == "192.168.1.25"
    assert result.mocks.one("aws:ec2/instance:Instance").inputs["instanceType"] == "c7i.6xlarge"


def test_config_reference_is_current():
    done = subprocess.run(
        [sys.executable, str(REFERENCE), "--check"], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr


def test_config_reference_catches_a_stale_table():
    ref = runpy.run_path(str(REFERENCE))
    doc = CONFIGURATION.read_text()
    assert ref["render_configuration"](doc) == doc
    stale = doc.replace("| `dataDiskGb` | integer | `256` |", "| `dataDiskGb` | integer | `128` |")
    assert stale != doc
    assert ref["render_configuration"](stale) == doc
    stale_api = doc.replace("| `GET` | `/im/token` |", "| `GET` | `/im/tokens` |")
    assert stale_api != doc
    assert ref["render_configuration"](stale_api) == doc
    pulumi_yaml = (h.ROOT / "Pulumi.yaml").read_text()
    assert ref["render_pulumi_yaml"](pulumi_yaml) == pulumi_yaml
    stale_yaml = pulumi_yaml.replace("default: 256", "default: 512")
    assert stale_yaml != pulumi_yaml
    assert ref["render_pulumi_yaml"](stale_yaml) == pulumi_yaml


def test_pulumi_yaml_declares_every_key():
    from stack_config import config_keys

    declared = yaml.safe_load((h.ROOT / "Pulumi.yaml").read_text())["config"]
    assert sorted(k.split(":", 1)[1] for k in declared) == sorted(config_keys())
    assert declared["portsip-im:sshPrivateKey"]["secret"] is True


def documented_stacks():
    """The stack files docs/stacks.md shows (```yaml blocks with a portsip-im:target)."""
    import re

    doc = STACKS_DOC.read_text()
    blocks = re.findall(r"```yaml\n(.*?)```", doc, re.S)
    return [yaml.safe_load(b)["config"] for b in blocks if "portsip-im:target:" in b]


def test_every_shown_stack_passes_the_address_rules():
    """Pulumi.dev.yaml, Pulumi.lab.yaml and docs/stacks.md's examples: private addresses private,
    no SSH range that spans the Internet (the rules of stack_config/ and portsip_im.rules)."""
    from stack_config import ConfigError, parse_config

    secrets = {"sshPrivateKey": "k", "pbxPassword": "p", "pbxAdminPassword": "a"}
    stacks = {
        "dev": stack_config(h.ROOT / "Pulumi.dev.yaml"),
        "lab": {
            **stack_config(h.ROOT / "Pulumi.lab.yaml"),
            # what scripts/lab-stack adds from the running lab
            "pbx01HostKey": h.PBX01_HOST_KEY,
            "imHostKey": h.IM_HOST_KEY,
        },
    }
    for i, raw in enumerate(documented_stacks()):
        stacks[f"docs-{i}"] = {
            k.partition(":")[2]: json.dumps(v) if isinstance(v, list) else str(v)
            for k, v in raw.items()
            if k.startswith("portsip-im:")
        }
    assert len(stacks) == 4  # dev, lab, docs/stacks.md's Hetzner and on-prem stacks
    for name, config in stacks.items():
        config = {**config, **secrets}
        for key in ("pbx01HostKey", "imHostKey", "sshPublicKey"):
            if key in config:  # docs/stacks.md's examples abbreviate keys as AAAA...
                config[key] = h.IM_HOST_KEY
        try:
            parse_config(config, set(secrets))
        except ConfigError as exc:
            raise AssertionError(f"stack {name}: {exc}") from None


def test_lab_stack_knows_every_secret():
    """scripts/lab-stack refuses to keep secrets in plain text: its list is settings.SECRETS."""
    import re

    from stack_config import SECRETS

    text = (h.ROOT / "scripts" / "lab-stack").read_text()
    listed = re.search(r'^secret_keys=" (.*) "$', text, re.M)
    assert listed, "secret_keys not found in scripts/lab-stack"
    assert sorted(listed.group(1).split()) == sorted(s.key for s in SECRETS)
