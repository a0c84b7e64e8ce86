"""The Pulumi engine that scripts/install-pulumi-engine builds: its environment, for the end-to-end
tests and scripts/benchmark.

The engine is the CLI, the Python language host and the command provider v1.2.1 built from their
upstream sources (docs/engine.md). `.ci/run` builds it before pytest; a test that needs
it fails (never skips) when it is missing.
"""

from __future__ import annotations

import secrets
import subprocess
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
COMMAND_VERSION = "1.2.1"


def engine_env(pulumi_home: Path | None = None) -> dict[str, str]:
    """The environment scripts/engine-env sets up (engine first on PATH, no downloads, no update
    check); with `pulumi_home`, a private plugin cache holding the built command provider."""
    out = subprocess.run(
        ["bash", "-c", ". scripts/engine-env >/dev/null 2>&1; env -0"],
        cwd=ROOT,
        check=True,
        capture_output=True,
    ).stdout.decode()
    env = dict(item.split("=", 1) for item in out.split("\0") if "=" in item)
    binary = Path(env["PORTSIP_COMMAND_PLUGIN"])
    if not (Path(env["PORTSIP_ENGINE_BIN"]) / "pulumi").exists() or not binary.exists():
        raise RuntimeError(
            f"no engine in {env['PORTSIP_ENGINE_BIN']}: run scripts/install-pulumi-engine"
        )
    if pulumi_home is not None:
        env["PULUMI_HOME"] = str(pulumi_home)
        install = ["pulumi", "plugin", "install", "resource", "command", COMMAND_VERSION]
        subprocess.run([*install, "--file", str(binary)], env=env, check=True, capture_output=True)
    return env


def stamp(env: dict[str, str], name: str) -> dict[str, str]:
    """What scripts/install-pulumi-engine recorded of one binary it built (version, source,
    source_sha256, binary_sha256), from $PORTSIP_ENGINE_DIR/stamps."""
    text = (Path(env["PORTSIP_ENGINE_DIR"]) / "stamps" / name).read_text()
    return dict(line.split(": ", 1) for line in text.splitlines())


class Project:
    """A throw-away Pulumi Python project run by the engine's CLI (through the Python language
    host, in the repository's virtualenv), with its own file backend and passphrase: for tests of
    the provider and the policy pack themselves. Secrets go to `config set --secret` on stdin."""

    def __init__(self, folder: Path, program: str, env: dict[str, str]):
        self.dir = folder
        (folder / "state").mkdir(parents=True)
        (folder / "Pulumi.yaml").write_text(
            f"name: {folder.name}\nruntime:\n  name: python\n  options:\n"
            f"    virtualenv: {ROOT / 'venv'}\n"
        )
        (folder / "__main__.py").write_text(textwrap.dedent(program))
        self.env = {
            **env,
            "PULUMI_BACKEND_URL": f"file://{folder / 'state'}",
            "PULUMI_CONFIG_PASSPHRASE": secrets.token_hex(16),
        }

    def pulumi(self, *args: str, input: str | None = None, check: bool = True):
        done = subprocess.run(
            ["pulumi", "--non-interactive", *args],
            cwd=self.dir,
            env=self.env,
            input=input if input is not None else "",
            capture_output=True,
            text=True,
            timeout=600,
        )
        if check and done.returncode != 0:
            raise AssertionError(f"pulumi {' '.join(args)}:\n{done.stdout}\n{done.stderr}")
        return done

    def init(self, stack: str, config=None, secret=None) -> None:
        self.pulumi("stack", "init", stack)
        for key, value in (config or {}).items():
            self.set(stack, key, value)
        for key, value in (secret or {}).items():
            self.set(stack, key, value, secret=True)

    def set(self, stack: str, key: str, value: str, secret: bool = False) -> None:
        flag = "--secret" if secret else "--plaintext"
        self.pulumi("config", "set", "--stack", stack, flag, key, input=value)

    def up(self, stack: str, check: bool = True):
        return self.pulumi("up", "--stack", stack, "--yes", "--skip-preview", check=check)

    def preview(self, stack: str, *args: str, check: bool = True):
        return self.pulumi("preview", "--stack", stack, "--color", "never", *args, check=check)
