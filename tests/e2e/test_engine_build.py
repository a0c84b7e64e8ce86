"""The engine the end-to-end tests stand on is the real one: the command provider is v1.2.1, the Go
binary built from the unmodified upstream source, and it is what the plugin cache holds; the Python
language host is v3.259.0 built from its source (scripts/install-pulumi-engine)."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
from pathlib import Path

import pytest

from tests.e2e.engine import COMMAND_VERSION, ROOT, engine_env, stamp

pytestmark = pytest.mark.e2e


def tree_sha256(folder: Path) -> str:
    """What scripts/install-pulumi-engine stamps: sha256 over `sha256sum` of every file, sorted."""
    paths = sorted(
        (f"./{p.relative_to(folder).as_posix()}" for p in folder.rglob("*") if p.is_file()),
        key=lambda s: s.encode(),
    )
    lines = "".join(
        f"{hashlib.sha256((folder / p[2:]).read_bytes()).hexdigest()}  {p}\n" for p in paths
    )
    return hashlib.sha256(lines.encode()).hexdigest()


def file_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def go_build_info(binary: Path) -> str:
    return subprocess.run(
        ["go", "version", "-m", str(binary)], check=True, capture_output=True, text=True
    ).stdout


@pytest.fixture(scope="module")
def env(tmp_path_factory) -> dict[str, str]:
    return engine_env(tmp_path_factory.mktemp("pulumi-home"))


def test_the_command_plugin_is_v121_built_from_the_upstream_source(env):
    plugins = json.loads(
        subprocess.run(
            ["pulumi", "plugin", "ls", "--json"], env=env, check=True, capture_output=True
        ).stdout
    )
    command = [p for p in plugins if p["name"] == "command" and p["kind"] == "resource"]
    assert [p["version"] for p in command] == [COMMAND_VERSION]
    cached = Path(env["PULUMI_HOME"]) / "plugins/resource-command-v1.2.1/pulumi-resource-command"
    built = Path(env["PORTSIP_COMMAND_PLUGIN"])
    # Off PATH, so the engine loads the plugin cache's copy (as it would a downloaded one).
    assert not (Path(env["PORTSIP_ENGINE_BIN"]) / built.name).exists()
    # The plugin the engine starts is the binary built here, and the stamp says from what.
    # (tests/e2e/test_lab_stack.py hashes the plugin process a real lab `up` runs, too.)
    assert file_sha256(cached) == file_sha256(built) == stamp(env, built.name)["binary_sha256"]
    recorded = stamp(env, built.name)
    source = Path(env["PORTSIP_THIRD_PARTY"]) / f"pulumi-command-v{COMMAND_VERSION}" / "provider"
    assert recorded["version"] == COMMAND_VERSION
    # Named relative to PORTSIP_THIRD_PARTY (older stamps hold the absolute path of the checkout
    # that built them), identified by its hash: the cache is shared by every clone on the machine.
    assert recorded["source"].endswith(f"pulumi-command-v{COMMAND_VERSION}/provider")
    assert recorded["source_sha256"] == tree_sha256(source)
    # A Go binary of pulumi-command's provider module, its version set by ldflags, and Go's SSH.
    info = go_build_info(cached)
    assert "path\tgithub.com/pulumi/pulumi-command/provider/cmd/pulumi-resource-command" in info
    assert "mod\tgithub.com/pulumi/pulumi-command/provider\t(devel)" in info
    assert f"pulumi-command/provider/pkg/version.Version={COMMAND_VERSION}" in info
    assert "dep\tgolang.org/x/crypto\t" in info


def test_the_python_language_host_is_v3259_built_from_its_source(env):
    host = Path(env["PORTSIP_ENGINE_BIN"]) / "pulumi-language-python"
    recorded = stamp(env, host.name)
    source = Path(env["PORTSIP_THIRD_PARTY"]) / "pulumi-language-python-v3.259.0"
    assert recorded["version"] == "v3.259.0"
    assert recorded["source_sha256"] == tree_sha256(source)
    assert recorded["binary_sha256"] == file_sha256(host)
    info = go_build_info(host)
    assert "path\tgithub.com/pulumi/pulumi/sdk/python/cmd/pulumi-language-python/v3" in info
    assert "dep\tgithub.com/pulumi/pulumi/sdk/v3\tv3.259.0" in info
    shim = host.with_name("pulumi-language-python-exec")
    upstream_shim = source / "sdk/python/cmd/pulumi-language-python-exec"
    assert shim.read_bytes() == upstream_shim.read_bytes()


def test_a_missing_source_is_named_in_one_line(tmp_path):
    done = subprocess.run(
        ["scripts/install-pulumi-engine"],
        cwd=ROOT,
        env={
            **{k: v for k, v in os.environ.items() if not k.startswith(("PORTSIP_", "PULUMI_"))},
            "PORTSIP_ENGINE_CACHE": str(tmp_path / "cache"),
            "PORTSIP_THIRD_PARTY": str(tmp_path / "nowhere"),
        },
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    *why, error = done.stderr.splitlines()
    assert error == (
        f"install-pulumi-engine: missing source {tmp_path}/nowhere/pulumi-command-v1.2.1/provider/"
        "go.mod (set PORTSIP_THIRD_PARTY to the folder holding pulumi-command-v1.2.1 and "
        "pulumi-language-python-v3.259.0)"
    )
    # Before it, only why each binary is to be built (none installed at the pinned version).
    assert all(line.startswith("install-pulumi-engine: building ") for line in why), why
    assert not (tmp_path / "cache").exists() or not any((tmp_path / "cache").rglob("pulumi"))
