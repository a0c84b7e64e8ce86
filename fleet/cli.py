"""`scripts/fleet VERB [STACK...] [options]`: one operation over many stacks, with a canary and a
bound on how many run at once, a line per stack as it starts and ends, then one report.

  scripts/fleet up --glob 'customer-*' --canary customer-a --parallel 4
  scripts/fleet set imRelease=22.3.2 --tag fleet=eu     (set --secret KEY reads the value on stdin)
  scripts/fleet status --tag fleet=eu --json

Exit status: 0 every stack ok; 1 a stack failed, or was skipped because of a failure; 2 the fleet
could not start (bad selection, unreadable backend).
"""

from __future__ import annotations

import argparse
import re
import sys
import threading
import time
from pathlib import Path

from . import report
from .engine import Backend
from .model import FleetError, Outcome, TaskResult
from .schedule import exit_status, run_fleet
from .select import select

VERBS = ("preview", "up", "refresh", "status", "set", "unset")
KEY = re.compile(r"^([a-z][a-z0-9-]*:)?[a-z][A-Za-z0-9]*$")


def parse(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(
        prog="scripts/fleet",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ap.add_argument("verb", choices=VERBS)
    ap.add_argument(
        "args",
        nargs="*",
        help="stack names; for set, KEY=VALUE first (KEY alone with --secret: value on stdin); "
        "for unset, KEY first",
    )
    ap.add_argument("--glob", action="append", default=[], help="stacks whose name matches")
    ap.add_argument("--tag", help="only stacks with this tag (KEY=VALUE, or KEY)")
    ap.add_argument("--canary", help="this stack first and alone; the rest only if it is healthy")
    ap.add_argument("--parallel", type=int, default=1, help="at most N stacks at once (1)")
    ap.add_argument("--secret", action="store_true", help="set: the value is a secret")
    ap.add_argument("--json", action="store_true", help="the report as one JSON document")
    ap.add_argument(
        "--config-dir",
        action="append",
        type=Path,
        default=[],
        help="where Pulumi.<stack>.yaml lives when not in the repository (the lab's stacks)",
    )
    args = ap.parse_intermixed_args(argv)
    if args.parallel < 1:
        ap.error("--parallel must be at least 1")
    return args


def setting(args: argparse.Namespace, stdin_value: str | None) -> tuple[str, str | None]:
    """(key, value) of set/unset, taken off the front of args.args."""
    if not args.args:
        raise FleetError(f"{args.verb}: give {'KEY=VALUE' if args.verb == 'set' else 'KEY'} first")
    first = args.args.pop(0)
    if args.verb == "unset":
        key, value = first, None
    elif "=" in first:
        key, value = first.split("=", 1)
    elif args.secret and stdin_value is not None:
        key, value = first, stdin_value
    else:
        raise FleetError("set: give KEY=VALUE (or --secret KEY with the value on stdin)")
    if not KEY.match(key):
        raise FleetError(f"{args.verb}: {key!r} is not a config key")
    return key, value


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    out_lock = threading.Lock()
    secrets: list[str] = []

    def say(line: str) -> None:
        # With --json the progress lines go to stderr, so stdout is the one document.
        with out_lock:
            print(report.redact(line, secrets), file=sys.stderr if args.json else sys.stdout)
            (sys.stderr if args.json else sys.stdout).flush()

    try:
        key = value = None
        if args.verb in ("set", "unset"):
            needs_stdin = (
                args.verb == "set" and args.secret and args.args and "=" not in args.args[0]
            )
            stdin_value = sys.stdin.read().rstrip("\n") if needs_stdin else None
            key, value = setting(args, stdin_value)
            if args.secret and value:
                secrets.append(value)
        backend = Backend(args.config_dir)
        names = select(
            backend.stack_names(),
            names=args.args,
            globs=args.glob,
            tag=args.tag,
            tags_of=backend.tags,
            canary=args.canary,
        )
    except FleetError as exc:
        print(f"fleet: {report.redact(str(exc), secrets)}", file=sys.stderr)
        return 2

    def task(name: str) -> TaskResult:
        if args.verb in ("preview", "up", "refresh"):
            return backend.engine(args.verb, name)
        if args.verb == "status":
            result, text = backend.status(name)
            if not args.json and text:
                say(text)
            return result
        assert key is not None
        return backend.set_config(name, key, value, args.secret)

    # The canary must be healthy after a change; after preview or set nothing changed live.
    check = backend.healthy if args.verb in ("up", "refresh") else None

    def ended(o: Outcome) -> None:
        o.note = report.redact(o.note, secrets) if o.note else o.note
        say(report.end_line(o))

    outcomes = run_fleet(
        names,
        task,
        parallel=args.parallel,
        canary=args.canary,
        canary_check=check,
        clock=time.time,
        on_start=lambda n: say(report.start_line(args.verb, n, time.time())),
        on_end=ended,
    )
    render = report.as_json if args.json else report.as_text
    text = render(args.verb, outcomes, args.parallel, args.canary)
    print(("" if args.json else "\n") + report.redact(text, secrets))
    return exit_status(outcomes)
