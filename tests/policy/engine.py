"""A throw-away Pulumi Python project run by the real engine with this repository's policy pack.

The engine is what scripts/install-pulumi-engine builds (tests/e2e/engine.py). The language host
starts the pack with `python -m pulumi.policy` in the pack's own virtualenv, policy/venv, which
scripts/setup builds from policy/requirements.txt (the CLI installs nothing for a local pack). A
missing piece fails the test with what to run: .ci/run builds all of them before pytest.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.e2e.engine import ROOT, Project, engine_env

PACK = ROOT / "policy"


def project(tmp: Path, name: str, program: str) -> Project:
    """A Python project in tmp/<name> running `program`, with the engine and the pack ready."""
    try:
        env = engine_env(tmp / "pulumi-home")
    except RuntimeError as e:
        pytest.fail(f"{e} (.ci/run does, before pytest)")
    python = PACK / "venv" / "bin" / "python"
    probe = python.exists() and subprocess.run(
        [str(python), "-c", "import pulumi_policy, pulumi"], capture_output=True
    )
    if not probe or probe.returncode != 0:
        pytest.fail(
            "the policy pack's virtualenv policy/venv is missing or incomplete: run scripts/setup "
            "(it builds policy/venv from policy/requirements.txt)"
        )
    return Project(tmp / name, program, env)


def preview_with_pack(proj: Project, stack: str) -> subprocess.CompletedProcess[str]:
    """`pulumi preview --policy-pack policy` of one stack."""
    return proj.preview(stack, "--policy-pack", str(PACK), check=False)
