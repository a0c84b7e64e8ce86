"""A remote step run on this machine the way the command provider runs it over SSH: its command
line through bash, its loader line, script and secrets on stdin (portsip_im/wire.py)."""

from __future__ import annotations

import subprocess
from collections.abc import Mapping

from portsip_im.remote import encode_secrets, render, stdin_text


def run_step(
    step: str,
    script: str,
    params: Mapping[str, str],
    env: Mapping[str, str],
    secrets: Mapping[str, str] | None = None,
    timeout: float = 60,
) -> subprocess.CompletedProcess:
    """Run `script` (as remote.script_text makes it) as step `step` with these parameters and
    secrets, in the environment `env` only."""
    return subprocess.run(
        render(step, script, params),
        shell=True,
        executable="/bin/bash",
        input=stdin_text(script, encode_secrets(secrets or {})),
        capture_output=True,
        text=True,
        timeout=timeout,
        env=dict(env),
    )
