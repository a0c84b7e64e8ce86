"""The one place that turns a remote step's `.sh` file and inputs into a pulumi-command resource.

A step runs as `bash -c 'read -r l&&eval "$l";exit 3' STEP DIGEST KEY=VALUE …`: on stdin come a
loader line, the script (lib.sh + libraries + step) and then the secrets (`NAME<TAB>base64` lines).
The loader reads exactly the script's bytes and runs them only if their SHA-256 opens with DIGEST (a
stdin cut short runs nothing), then the script reads the secrets. So the command is the step's
name, a digest and its parameters: a failed step's error, which the command provider opens with
the command it ran (and the CLI prints three times), quotes little else; the digest makes a
changed script show as a change of that step in `pulumi preview`, and a changed parameter shows
as itself. Secrets are Pulumi secrets, in no argv. Connections are built the same way on
every run (a drifting connection would re-run steps).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pulumi
import pulumi_command as command

from . import naming
from .wire import encode_secrets, params_of, render, secrets_part, sent_script, stdin_text

__all__ = [
    "encode_secrets",
    "params_of",
    "render",
    "secrets_part",
    "sent_script",
    "stdin_text",
]

SCRIPTS = Path(__file__).parent / "scripts"
# Updates that must run nothing of substance still reach the host once: `:` is the shell's no-op.
NOOP = ":"


def script_text(step: str, libraries: Sequence[str] = ()) -> str:
    """lib.sh, then the named libraries, then `<step>.sh`, as one script, its messages naming the
    inputs in the caller's words (naming.in_script)."""
    parts = ["lib.sh", *(f"{lib}.sh" for lib in libraries), f"{step}.sh"]
    return naming.in_script("\n".join((SCRIPTS / part).read_text() for part in parts))


def pinned_ssh_options(key: str | Path, known_hosts: str | Path, timeout: int = 10) -> list[str]:
    """OpenSSH options for the hosts the program reaches outside Pulumi (scripts/status, the lab):
    this key only, no prompt, no user config, and only the host keys in `known_hosts`."""
    options = {
        "IdentitiesOnly": "yes",
        "BatchMode": "yes",
        "StrictHostKeyChecking": "yes",
        "UserKnownHostsFile": str(known_hosts),
        "ConnectTimeout": str(timeout),
        "LogLevel": "ERROR",
    }
    return ["-F", "/dev/null", "-i", str(key)] + [
        word for name, value in options.items() for word in ("-o", f"{name}={value}")
    ]


# The command provider retries a failed dial up to dialErrorLimit times, whatever failed: a changed
# host key or a refused login as well, which no retry cures. Through the jump host it even retries
# the handshake on the connection the first failure closed, so every later attempt ends in `EOF`
# and the reason is lost. So no dial is retried: a refused step fails at its first attempt with
# the provider's own reason (`host key mismatch`, `unable to authenticate`, `connection refused`).
# The one wait a retry can end, a new VM's boot, is done on pbx01 by the host-key step, bounded.
DIAL_RETRIES = 0


@dataclass(frozen=True)
class Host:
    """Where a step runs: a pinned SSH connection, and whether the step needs root through sudo."""

    connection: command.remote.ConnectionArgs
    sudo: bool


def connection(
    host: pulumi.Input[str],
    user: str,
    private_key: pulumi.Input[str],
    host_key: pulumi.Input[str],
    via: command.remote.ConnectionArgs | None = None,
    *,
    per_dial_timeout: int,
) -> command.remote.ConnectionArgs:
    """A pinned connection; `via` makes its host the jump host (pinned as well). No dial is
    retried (`DIAL_RETRIES`)."""
    proxy = None
    if via is not None:
        proxy = command.remote.ProxyConnectionArgs(
            host=via.host,
            user=via.user,
            private_key=via.private_key,
            host_key=via.host_key,
            dial_error_limit=via.dial_error_limit,
            per_dial_timeout=via.per_dial_timeout,
        )
    return command.remote.ConnectionArgs(
        host=host,
        user=user,
        private_key=private_key,
        host_key=host_key,
        proxy=proxy,
        dial_error_limit=DIAL_RETRIES,
        per_dial_timeout=per_dial_timeout,
    )


def step(
    name: str,
    *,
    on: Host,
    script: str,
    params: Mapping[str, pulumi.Input[str]],
    secrets: Mapping[str, pulumi.Input[str]] | None = None,
    delete_params: Mapping[str, str] | None = None,
    rerun_on_update: bool = True,
    triggers: Sequence[pulumi.Input[object]] | None = None,
    quiet: bool = False,
    data_stdout: bool = False,
    opts: pulumi.ResourceOptions | None = None,
) -> command.remote.Command:
    """One remote step of the guide.

    - `script`: the step's file name without `.sh`, optionally prefixed by libraries, e.g.
      "pbx-api+whitelist".
    - `delete_params`: parameter overrides for the destroy run (e.g. {"ACTION": "remove"}); without
      it, destroy runs nothing.
    - `rerun_on_update`: when False, an update (a changed connection, a new project version of the
      script) runs only `:`; the step re-runs solely when one of its `triggers` changes.
    - `quiet`: no command output in Pulumi's logs, and stdout/stderr kept as secrets in state
      (steps that run vendor code; its output is redacted already, this is the second lock).
    - `data_stdout`: the step's stdout is data a later step reads (a public key), not progress:
      only its stderr (what it did) reaches Pulumi's progress lines.
    """
    *libraries, step_name = script.split("+")
    text = script_text(step_name, libraries)
    resolved = pulumi.Output.all(**dict(params)) if params else pulumi.Output.from_input({})

    create = resolved.apply(lambda p: render(step_name, text, p, on.sudo))
    delete = None
    if delete_params is not None:
        delete = resolved.apply(lambda p: render(step_name, text, {**p, **delete_params}, on.sudo))
    update = create if rerun_on_update else NOOP

    stdin: pulumi.Input[str] = stdin_text(text)
    if secrets:
        encoded: pulumi.Output[str] = pulumi.Output.all(**dict(secrets)).apply(
            lambda values: stdin_text(text, encode_secrets(values))
        )
        stdin = pulumi.Output.secret(encoded)  # type: ignore[arg-type]

    return command.remote.Command(
        name,
        connection=on.connection,
        create=create,
        update=update,
        delete=delete,
        stdin=stdin,
        triggers=list(triggers) if triggers else None,
        logging=command.remote.Logging.NONE
        if quiet
        else command.remote.Logging.STDERR
        if data_stdout
        else command.remote.Logging.STDOUT_AND_STDERR,
        add_previous_output_in_env=False,
        opts=pulumi.ResourceOptions.merge(
            opts, pulumi.ResourceOptions(additional_secret_outputs=["stdout", "stderr"])
        )
        if quiet
        else opts,
    )
