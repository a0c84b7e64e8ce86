"""examples/consumer under Pulumi's mocks: the StackReference to the IM stack answers from here."""

from __future__ import annotations

import gc
import json
import runpy
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from unittest import mock

import pulumi
import pytest

ROOT = Path(__file__).resolve().parents[2]
CONSUMER = ROOT / "examples" / "consumer"
PROJECT = "portsip-im-consumer"
IM_OUTPUTS = {"imEndpoint": "203.0.113.25:8887", "imPrivateIp": "192.168.1.25", "target": "aws"}


@dataclass
class Mocks(pulumi.runtime.Mocks):
    im_outputs: dict[str, Any]
    references: list[str] = field(default_factory=list)

    def new_resource(self, args: pulumi.runtime.MockResourceArgs):
        outputs = dict(args.inputs)
        if args.typ == "pulumi:pulumi:StackReference":
            self.references.append(args.inputs.get("name", args.name))
            outputs["outputs"] = dict(self.im_outputs)
            outputs["secretOutputNames"] = []
        return [f"{args.name}-id", outputs]

    def call(self, args: pulumi.runtime.MockCallArgs):
        raise AssertionError(f"unexpected invoke {args.token}")


def run(config: dict[str, str], im_outputs: dict[str, Any] | None = None):
    """Run examples/consumer/__main__.py: (exports, mocks). Raises what the program raises."""
    mocks = Mocks(im_outputs=IM_OUTPUTS if im_outputs is None else im_outputs)
    pulumi.runtime.set_all_config({f"{PROJECT}:{k}": v for k, v in config.items()})
    pulumi.runtime.settings.reset_options(project=PROJECT, stack="dev")
    pulumi.runtime.set_mocks(mocks, project=PROJECT, stack="dev", preview=False)
    exports: dict[str, pulumi.Output] = {}
    values: dict[str, Any] = {}

    def record(name: str, value: Any) -> None:
        exports[name] = pulumi.Output.from_input(value)

    @pulumi.runtime.test
    def program():
        with mock.patch.object(pulumi, "export", record):
            runpy.run_path(str(CONSUMER / "__main__.py"), run_name="__main__")

        async def collect():
            for name, out in exports.items():
                values[name] = await out.future()

        return pulumi.Output.from_input(collect())

    try:
        program()
    finally:
        # A failed program leaves the SDK's pending outputs un-awaited: collect them quietly now.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            gc.collect()
    return values, mocks


def test_reads_the_im_stack_named_in_config_and_exports_a_client_config():
    exports, mocks = run({"imStack": "acme/portsip-im/prod"})
    assert mocks.references == ["acme/portsip-im/prod"]
    assert exports["imEndpoint"] == "203.0.113.25:8887"
    assert exports["imPrivateIp"] == "192.168.1.25"
    assert json.loads(exports["clientConfig"]) == {
        "imServer": {"host": "203.0.113.25", "port": 8887},
        "imServerPrivate": {"host": "192.168.1.25", "port": 8887},
    }


def test_im_stack_config_is_required():
    with pytest.raises(Exception, match="imStack"):
        run({})


def test_missing_output_on_the_im_stack_fails():
    with pytest.raises(Exception, match="imPrivateIp"):
        run({"imStack": "acme/portsip-im/prod"}, {"imEndpoint": "203.0.113.25:8887"})


def test_malformed_endpoint_fails_with_its_value():
    with pytest.raises(Exception, match="not HOST:PORT"):
        run({"imStack": "acme/portsip-im/prod"}, {**IM_OUTPUTS, "imEndpoint": "203.0.113.25"})


def test_consumer_reads_the_outputs_the_im_program_exports():
    """The names the example reads are ones /__main__.py exports."""
    main = (ROOT / "__main__.py").read_text()
    for name in ("imEndpoint", "imPrivateIp"):
        assert f'pulumi.export("{name}"' in main
        assert f'require_output("{name}")' in (CONSUMER / "__main__.py").read_text()


def test_project_file_declares_the_config_key():
    import yaml

    project = yaml.safe_load((CONSUMER / "Pulumi.yaml").read_text())
    assert project["name"] == PROJECT
    assert project["runtime"]["name"] == "python"
    assert "imStack" in project["config"]
