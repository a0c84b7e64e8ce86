"""`scripts/status [STACK]`: is the IM server serving right now, and does the PBX still know it?

The stack output `imHealth` is what the last change saw; a no-op `up` rightly runs nothing. This
reads the stack's outputs and config through the Automation API, reaches pbx01 the way the program
does (the operator's key, pbx01's pinned host key, secrets on stdin only), runs one read-only
script there (scripts/status.d/status.sh after lib.sh and pbx-api.sh: status/probe.py) and judges
what it saw (status/judge.py).
Exit status: 0 all well, 1 something is wrong (each named), 2 the stack could not be read.
Not part of the Pulumi program: nothing here registers a resource.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from stack_config import (
    NAMESPACE,
    SECRETS,
    ConfigError,
    StackConfig,
    parse_config,
    pbx_stack_address,
)

from .judge import judge
from .model import ROOT, Stack, StatusError
from .probe import run_probe
from .render import as_json, as_text, failure_json, redact


def read_stack(name: str | None, config_file: Path | None) -> Stack:
    """Outputs and config (secrets decrypted in memory only) through the Automation API."""
    from pulumi import automation as auto

    with tempfile.TemporaryDirectory(prefix="portsip-im-status-") as scratch:
        work_dir = ROOT
        if config_file is not None:
            # The Automation API reads Pulumi.<stack>.yaml beside Pulumi.yaml: give it a scratch
            # project holding the stack's config file (the lab keeps it outside the repository).
            if name is None:
                raise StatusError("--config-file needs the STACK argument")
            work_dir = Path(scratch)
            shutil.copy(ROOT / "Pulumi.yaml", work_dir / "Pulumi.yaml")
            shutil.copy(config_file, work_dir / f"Pulumi.{name}.yaml")
        try:
            if name is None:
                current = auto.LocalWorkspace(work_dir=str(work_dir)).stack()
                if current is None:
                    raise StatusError("no stack selected: give STACK (pulumi stack ls)")
                name = current.name
            stack = auto.select_stack(stack_name=name, work_dir=str(work_dir))
            outputs = {k: v.value for k, v in stack.outputs().items()}
            all_config = stack.get_all_config()
        except auto.errors.CommandError as exc:
            raise StatusError(f"cannot read stack {name!r}: {first_error(str(exc))}") from None
        prefix = f"{NAMESPACE}:"
        raw = {k[len(prefix) :]: v.value for k, v in all_config.items() if k.startswith(prefix)}
        secret_keys = {k[len(prefix) :] for k, v in all_config.items() if v.secret}
        try:
            config = parse_config(raw, secret_keys)
        except ConfigError as exc:
            raise StatusError(str(exc)) from None
        secrets = {s.key: raw[s.key] for s in SECRETS if s.key in raw}
        if not outputs.get("imPrivateIp"):
            raise StatusError(f"stack {name!r} has no outputs: has `pulumi up` run?")

        def pbx_outputs(pbx_stack: str) -> dict[str, Any]:
            # The PBX stack may be another project's: the workspace reads it by its full name,
            # in the same backend, as the program's StackReference does.
            try:
                found = stack.workspace.stack_outputs(pbx_stack)
            except auto.errors.CommandError as exc:
                raise StatusError(
                    f"{NAMESPACE}:pbxStack: cannot read the outputs of {pbx_stack!r} (they fill "
                    f"pbx01Host and pbxVirtualIp): {first_error(str(exc))}"
                ) from None
            return {k: v.value for k, v in found.items()}

        config = follow_pbx_stack(config, pbx_outputs)
    return Stack(name, config, secrets, outputs)


def follow_pbx_stack(
    config: StackConfig, read_outputs: Callable[[str], dict[str, Any]]
) -> StackConfig:
    """`config` with pbx01Host and pbxVirtualIp from pbxStack's outputs where they are unset, as
    the program's StackReference fills them (and held to the same rules); unchanged otherwise."""
    if not config.pbx_stack or (config.pbx01_host and config.pbx_virtual_ip):
        return config
    outputs = read_outputs(config.pbx_stack)
    update: dict[str, Any] = {}
    if not config.pbx01_host:
        host = outputs.get("pbx01Host")
        if not host:
            raise StatusError(
                f"{NAMESPACE}:pbx01Host: not set, and pbxStack {config.pbx_stack} has no output "
                "pbx01Host"
            )
        update["pbx01_host"] = str(host)
    if config.pbx_virtual_ip is None:
        try:
            vip = pbx_stack_address("pbxVirtualIp", config, outputs.get("pbxVirtualIp"))
        except ConfigError as exc:
            raise StatusError(str(exc)) from None
        if vip is not None:
            update["pbx_virtual_ip"] = vip
    return config.replace(**update)


def first_error(text: str, width: int = 300) -> str:
    """What went wrong, in one line, from a Pulumi CLI or Automation API error text: the first
    line that says "error" (without the CommandError's "stderr: " prefix). A heading that ends in
    ':' (`error: invalid configuration:`) comes with the lines indented under it, the config key
    and what is wrong, joined by "; ". The engine prints such a heading twice: first alone on the
    resource's progress line, then with its details under Diagnostics; the details are taken
    from there."""
    lines = text.splitlines()

    def clean(line: str) -> str:
        return line.strip().removeprefix("stderr: ").strip()

    def details(i: int) -> list[str]:
        depth = len(lines[i]) - len(lines[i].lstrip())
        found = []
        for line in lines[i + 1 :]:
            if not line.strip() or len(line) - len(line.lstrip()) <= depth:
                break
            found.append(line.strip())
        return found

    hits = [i for i, line in enumerate(lines) if "error" in line.lower()]
    if not hits:
        return (text.strip().splitlines() or ["failed"])[-1][:width]
    first = clean(lines[hits[0]])
    if first.endswith(":"):
        for i in hits:
            heading = clean(lines[i])
            if heading.endswith(":") and first.endswith(heading) and details(i):
                return f"{heading} {'; '.join(details(i))}"[:width]
    return first[:width]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="scripts/status", description=__doc__.splitlines()[0])
    ap.add_argument("stack", nargs="?", help="the stack (default: the selected one)")
    ap.add_argument("--json", action="store_true", help="one JSON document, for machines")
    ap.add_argument(
        "--config-file",
        type=Path,
        help="the stack's config file when it is not Pulumi.<stack>.yaml here (the lab's)",
    )
    args = ap.parse_args(argv)
    secrets: dict[str, str] = {}
    try:
        stack = read_stack(args.stack, args.config_file)
        secrets = stack.secrets
        probe = run_probe(stack)
    except StatusError as exc:
        msg = redact(str(exc), secrets)
        if args.json:
            print(failure_json(args.stack, msg))
        else:
            print(f"status: {msg}", file=sys.stderr)
        return 2
    report = judge(stack, probe)
    text = as_json(stack, report, probe) if args.json else as_text(stack, report)
    print(redact(text, secrets))
    return 1 if report.problems else 0
