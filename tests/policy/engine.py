"""A throw-away Pulumi Python project run by the real engine with this repository's policy pack.

The engine is what scripts/install-pulumi-engine builds and `. scripts/engine-env` finds (CLI,
Python language host, command provider v1.2.1 in a private PULUMI_HOME). The language host starts
the pack with `python -m pulumi.policy` in the pack's own virtualenv, policy/venv, which
scripts/setup builds from policy/requirements.txt (the CLI installs nothing for a local pack).
A missing piece fails the test with what to run: .ci/run builds all of them before pytest.

State is a file backend in the test's tmp dir, the passphrase is made per project, and secrets
go to `pulumi config set --secret` on stdin, never in argv.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACK = ROOT / "policy"
COMMAND_PLUGIN = "resource-command-v1.2.1"
TIMEOUT = 300  # seconds per pulumi command; a cold preview takes a few


def engine_env() -> dict[str, str]:
    """The environment after `. scripts/engine-env`, checked to hold the whole engine."""
    out = subprocess.run(
        ["bash", "-c", ". scripts/engine-env >/dev/null 2>&1; env -0"],
        cwd=ROOT,
        check=True,
        capture_output=True,
        env={**os.environ, "PORTSIP_ENGINE_ENV_QUIET": "1"},
    ).stdout
    env = dict(item.split("=", 1) for item in out.decode().split("\0") if "=" in item)
    bin_dir = Path(env.get("PORTSIP_ENGINE_BIN", "<unset>"))
    needed = [bin_dir / "pulumi", bin_dir / "pulumi-language-python"]
    needed.append(Path(env.get("PULUMI_HOME", "<unset>")) / "plugins" / COMMAND_PLUGIN)
    missing = [str(p) for p in needed if not p.exists()]
    if missing:
        pytest.fail(
            f"the Pulumi engine is incomplete (missing {', '.join(missing)}): run "
            "scripts/install-pulumi-engine (.ci/run does, before pytest)"
        )
    probe = subprocess.run(
        [str(PACK / "venv" / "bin" / "python"), "-c", "import pulumi_policy, pydantic"],
        capture_output=True,
    )
    if probe.returncode != 0:
        pytest.fail(
            "the policy pack's virtualenv policy/venv is missing or incomplete: run scripts/setup "
            "(it builds policy/venv from policy/requirements.txt)"
        )
    return env


@dataclass
class Project:
    dir: Path
    env: dict[str, str]

    def pulumi(self, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(Path(self.env["PORTSIP_ENGINE_BIN"]) / "pulumi"), *args, "--non-interactive"],
            cwd=self.dir,
            env=self.env,
            input=stdin,
            stdin=None if stdin is not None else subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
        )

    def must(self, *args: str, stdin: str | None = None) -> None:
        proc = self.pulumi(*args, stdin=stdin)
        if proc.returncode != 0:
            pytest.fail(
                f"pulumi {args[0]} {args[1] if len(args) > 1 else ''} failed:\n"
                f"{proc.stdout}\n{proc.stderr}"
            )

    def stack(self, name: str, config: dict[str, str], secret: dict[str, str]) -> None:
        self.must("stack", "init", name)
        for key, value in config.items():
            self.must("config", "set", "--stack", name, key, value)
        for key, value in secret.items():  # the value on stdin: not in any argv
            self.must("config", "set", "--stack", name, "--secret", key, stdin=value)

    def preview(self, stack: str) -> subprocess.CompletedProcess[str]:
        """`pulumi preview --policy-pack policy` of one stack."""
        return self.pulumi(
            "preview", "--stack", stack, "--policy-pack", str(PACK), "--color", "never"
        )


def project(tmp: Path, name: str, program: str) -> Project:
    """A Python project in tmp/<name> running `program`, in the repository's virtualenv."""
    env = engine_env()
    directory = tmp / name
    directory.mkdir()
    (directory / "Pulumi.yaml").write_text(
        textwrap.dedent(
            f"""\
            name: {name}
            runtime:
              name: python
              options:
                virtualenv: {ROOT / "venv"}
            """
        )
    )
    (directory / "__main__.py").write_text(textwrap.dedent(program))
    (tmp / "state").mkdir()
    env.update(
        PULUMI_BACKEND_URL=f"file://{tmp / 'state'}",
        PULUMI_CONFIG_PASSPHRASE=secrets.token_urlsafe(24),
        PULUMI_SKIP_UPDATE_CHECK="true",
        PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION="true",
    )
    return Project(directory, env)
