"""scripts/install-pulumi-engine uses a Pulumi CLI and plugins already installed when they are the
pinned versions, and says so; another version on PATH is not used, and the script says it builds
instead. Fakes on PATH stand for the installed ones; no Go, no sources, a cache of the test's
own."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ENV_FILE = (ROOT / "scripts" / "engine-env").read_text()
PINNED = {
    name: re.search(rf"^{var}=(\S+)", ENV_FILE, re.MULTILINE).group(1)
    for name, var in (
        ("pulumi", "PORTSIP_PULUMI_VERSION"),
        ("pulumi-language-python", "PORTSIP_LANGHOST_VERSION"),
        ("pulumi-language-yaml", "PORTSIP_YAML_VERSION"),
        ("command", "PORTSIP_COMMAND_VERSION"),
    )
}


def fake(path: Path, version: str) -> None:
    """An executable printing VERSION for `version`/`--version`; anything else succeeds quietly."""
    path.write_text(
        f'#!/bin/sh\ncase "$1" in version|--version|-version) echo "{version}";; *) exit 0;; esac\n'
    )
    path.chmod(0o755)


def install(tmp: Path, cli_version: str) -> subprocess.CompletedProcess:
    bin_dir, home = tmp / "installed", tmp / "home"
    bin_dir.mkdir()
    fake(bin_dir / "pulumi", cli_version)
    # `pulumi plugin install resource command V --file F --reinstall`, as the real CLI files it.
    text = (
        (bin_dir / "pulumi")
        .read_text()
        .replace(
            "*) exit 0;;",
            'plugin) d="$PULUMI_HOME/plugins/resource-$4-v$5"; mkdir -p "$d"; cp "$7" "$d/";; '
            "*) exit 0;;",
        )
    )
    (bin_dir / "pulumi").write_text(text)
    fake(bin_dir / "pulumi-language-python", PINNED["pulumi-language-python"])
    fake(bin_dir / "pulumi-language-python-exec", "")
    fake(bin_dir / "pulumi-resource-pulumi-python", "")
    fake(bin_dir / "pulumi-language-yaml", PINNED["pulumi-language-yaml"])
    plugin = home / ".pulumi" / "plugins" / f"resource-command-v{PINNED['command']}"
    plugin.mkdir(parents=True)
    fake(plugin / "pulumi-resource-command", PINNED["command"])
    return install_again(tmp)  # no go on PATH: building is not possible here


def test_the_installed_engine_at_the_pinned_versions_is_used_and_nothing_is_built(tmp_path):
    done = install(tmp_path, PINNED["pulumi"])
    assert done.returncode == 0, done.stderr
    for name in (
        "pulumi",
        "pulumi-language-python",
        "pulumi-language-yaml",
        "pulumi-resource-command",
    ):
        assert f"using the installed {name} " in done.stderr, done.stderr
    assert "building" not in done.stderr
    # Stamped as installed, and a second run only checks the stamps.
    again = install_again(tmp_path)
    assert again.returncode == 0 and "using the installed" not in again.stderr, again.stderr


def install_again(tmp: Path) -> subprocess.CompletedProcess:
    """scripts/install-pulumi-engine with only the fakes in `tmp` (and no go) on PATH."""
    env = {
        "PATH": f"{tmp / 'installed'}:/usr/bin:/bin",
        "HOME": str(tmp / "home"),
        "PORTSIP_ENGINE_CACHE": str(tmp / "cache"),
        "PORTSIP_THIRD_PARTY": str(tmp / "no-sources"),
    }
    return subprocess.run(
        [str(ROOT / "scripts" / "install-pulumi-engine")],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_another_cli_version_is_not_used_and_the_script_says_it_builds(tmp_path):
    done = install(tmp_path, "v3.100.0")
    assert done.returncode == 1  # it would build, but here are no sources and no go
    assert f"building pulumi {PINNED['pulumi']}: the installed " in done.stderr, done.stderr
    assert f"is v3.100.0, not the pinned {PINNED['pulumi']}" in done.stderr
    assert "using the installed pulumi-language-python" in done.stderr  # the others still are
    assert "missing source" in done.stderr or "go is not on PATH" in done.stderr
    cached = list((tmp_path / "cache").rglob("bin/pulumi"))
    assert cached == [], "a CLI of another version was put in the cache"
    assert os.environ  # (the test's own environment is untouched)
