"""Every command, config key and stack output the Markdown shows is real: README.md, docs/** and
examples/** hold each `scripts/X subcommand --flag` (in a code span or block) to what that script
accepts, each config key they name to the program's (`stack_config.config_keys()`), and each stack
output to what __main__.py exports. (Relative links: test_docs_links.py.)

What a script accepts is read from the script itself, never from a list kept here: an argparse
script's `--help` (status, fleet), else its usage text (scripts/lab's `--help`; the leading comment
or docstring of the others, which is what they print on a wrong command). Nothing is run that
could change anything: scripts/lab-stack is read, not run.
"""

from __future__ import annotations

import functools
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from stack_config.parse import config_keys  # noqa: E402

SCRIPTS = (
    "lab-stack",
    "lab",
    "status",
    "fleet",
    "benchmark",
    "config-reference",
    "setup",
    "install-pulumi-engine",
)
ARGPARSE = {"status", "fleet"}
# Scripts whose subcommands hand the rest of the line to `pulumi` (its flags are not theirs).
PASSTHROUGH = {"lab-stack": {"up", "preview", "destroy", "pulumi"}}
# camelCase names in backticks that are neither config keys nor outputs: the imHealth output's
# fields (checked against health.sh below) and the command provider's and AWS's own fields.
OTHER_NAMES = {"dialErrorLimit", "hostKey", "volumeTags", "gwN"}  # gwN: an xdist worker

FENCE = re.compile(r"^```[^\n]*\n(.*?)^```", re.MULTILINE | re.DOTALL)
SPAN = re.compile(r"`([^`]+)`")  # a span may wrap a line
COMMAND = re.compile(r"(?<![\w/.(-])scripts/(" + "|".join(SCRIPTS) + r")(?![\w./-])([^\n]*)")
END = re.compile(r"&&|\|\||[|;)#<>`]")


def markdown() -> list[Path]:
    files = [ROOT / "README.md", *(ROOT / "docs").rglob("*.md"), *(ROOT / "examples").rglob("*.md")]
    return sorted(f for f in files if f.is_file())


def code(md: Path) -> list[str]:
    """The Markdown's code: each fenced block's lines, and each code span outside them."""
    text = md.read_text()
    pieces = [line for block in FENCE.findall(text) for line in block.splitlines()]
    pieces += [" ".join(span.split()) for span in SPAN.findall(FENCE.sub("", text))]
    return pieces


def commands(md: Path) -> list[tuple[str, list[str]]]:
    """(script, words) of each `scripts/X ...` in the Markdown's code, up to a shell operator."""
    found = []
    for piece in code(md):
        for m in COMMAND.finditer(piece):
            rest = END.split(m.group(2), maxsplit=1)[0]
            found.append((m.group(1), rest.split()))
    return found


@functools.cache
def usage(script: str) -> str:
    path = ROOT / "scripts" / script
    if script in ARGPARSE or script == "lab":
        done = subprocess.run(
            [str(path), "--help"], capture_output=True, text=True, timeout=60, cwd=ROOT
        )
        return done.stdout + done.stderr
    text = path.read_text()
    if text.startswith("#!/usr/bin/env python"):
        return text.split('"""')[1]
    lines = text.splitlines()[1:]
    return "\n".join(
        line for line in lines[: next(i for i, s in enumerate(lines) if not s.startswith("#"))]
    )


def accepted(script: str) -> tuple[set[str], set[str]]:
    """(subcommands, flags) the script's usage names."""
    text = usage(script)
    flags = set(re.findall(r"(?<![\w-])(--[a-z][a-z0-9-]*)", text))
    subs = set(re.findall(rf"scripts/{re.escape(script)} +([a-z][a-z0-9-]*)", text))
    for choices in re.findall(r"\{([a-z,-]+)\}", text) if script in ARGPARSE else []:
        subs |= set(choices.split(","))
    return subs, flags


def has_subcommands(script: str) -> bool:
    return bool(accepted(script)[0])


@pytest.mark.parametrize("md", markdown(), ids=lambda p: str(p.relative_to(ROOT)))
def test_each_documented_script_command_is_accepted(md: Path):
    wrong = []
    for script, words in commands(md):
        subs, flags = accepted(script)
        positional = [w for w in words if not w.startswith(("-", "["))]
        if subs and positional and re.fullmatch(r"[a-z][a-z0-9-]*", positional[0]):
            if script not in ARGPARSE and positional[0] not in subs:
                wrong.append(f"scripts/{script} {positional[0]}: not in its usage")
            elif script in ARGPARSE and words[0] == positional[0] and positional[0] not in subs:
                wrong.append(f"scripts/{script} {positional[0]}: not one of its verbs")
        stop = PASSTHROUGH.get(script, set())
        for word in words:
            if word in stop:
                break
            flag = re.match(r"\[?(--[a-z][a-z0-9-]*)", word)
            if flag and flag.group(1) not in flags:
                wrong.append(f"scripts/{script} {flag.group(1)}: not a flag it takes")
    assert wrong == [], f"{md.relative_to(ROOT)}: " + "; ".join(sorted(set(wrong)))


KEYS = set(config_keys())
EXPORT = re.compile(r'pulumi\.export\("(\w+)"')
OUTPUTS = set(EXPORT.findall((ROOT / "__main__.py").read_text()))
HEALTH_FIELDS = set(
    re.findall(
        r'"(\w+)": ',
        re.search(
            r"json\.dumps\(\{(.*?)\}\)",
            (ROOT / "components/portsip_im/scripts/health.sh").read_text(),
        ).group(1),
    )
)
CONFIG_VERB = re.compile(
    r"pulumi config (?:set|get|rm)((?: +--[a-z-]+)*) +['\"]?([A-Za-z][\w.:-]*)"
)
KEEP_VERB = re.compile(r"scripts/(?:lab-stack|fleet) (?:set|unset)(?: +--secret)? +([A-Za-z]\w*)")


def example_keys(md: Path) -> set[str]:
    """An example's own config keys (its Pulumi.yaml's, and those its program reads)."""
    if "examples" not in md.relative_to(ROOT).parts:
        return set()
    text = "".join(f.read_text() for f in md.parent.iterdir() if f.suffix in (".yaml", ".py"))
    declared = set(re.findall(r"^  (\w+):$", text, re.MULTILINE))
    return (
        declared | set(re.findall(r"cfg\.(?:get|require)\w*\(\"(\w+)\"", text)) | {"clientConfig"}
    )


def config_names(piece: str) -> set[str]:
    """The portsip-im config keys a piece of code names."""
    names = set(re.findall(r"portsip-im:([a-z]\w*)", piece))
    for _, key in CONFIG_VERB.findall(piece):
        if ":" in key and not key.startswith("portsip-im:"):
            continue  # another provider's (aws:region, hcloud:token)
        names.add(re.split(r"[.\[]", key.removeprefix("portsip-im:"))[0])
    names |= {k for k in KEEP_VERB.findall(piece) if k[0].islower()}
    return names


@pytest.mark.parametrize("md", markdown(), ids=lambda p: str(p.relative_to(ROOT)))
def test_each_config_key_and_output_named_exists(md: Path):
    wrong = []
    for piece in code(md):
        wrong += [
            f"config key {k}" for k in config_names(piece) if k not in KEYS | example_keys(md)
        ]
        for name in re.findall(
            r"(?:stack output|get_output\(|require_output\()[\"' ]*(\w+)", piece
        ):
            if name not in OUTPUTS and name != "json":
                wrong.append(f"output {name}")
    # Every camelCase name in backticks: a config key, an output, an imHealth field, or another
    # system's field named on purpose.
    own = example_keys(md)
    for name in re.findall(r"`([a-z]+[A-Z][A-Za-z0-9]*)`", md.read_text()):
        if name not in KEYS | OUTPUTS | HEALTH_FIELDS | OTHER_NAMES | own:
            wrong.append(f"`{name}`: no such config key or output")
    assert wrong == [], f"{md.relative_to(ROOT)}: " + "; ".join(sorted(set(wrong)))


def test_the_outputs_table_lists_every_output_and_every_imhealth_field():
    text = (ROOT / "docs" / "stacks.md").read_text()
    table = text.split("## Outputs", 1)[1].split("\n\n", 2)[1]
    rows = dict(re.findall(r"^\| `(\w+)` \| (.*) \|$", table, re.MULTILINE))
    assert set(rows) == OUTPUTS
    named = set(re.findall(r"`(\w+)`", rows["imHealth"]))
    assert HEALTH_FIELDS <= named, f"imHealth's fields the table omits: {HEALTH_FIELDS - named}"


def test_this_test_sees_the_commands_it_checks():
    """A guard against a test that checks nothing: the README's and docs' commands are found."""
    seen = {script for md in markdown() for script, _ in commands(md)}
    assert {"lab-stack", "lab", "status", "fleet", "setup", "install-pulumi-engine"} <= seen
    assert {"configure", "up", "set", "status"} <= accepted("lab-stack")[0]
    assert "--config-file" in accepted("status")[1]
    assert "--check" in accepted("config-reference")[1]


SECRET_KEYS = {s.key for s in __import__("stack_config.secrets", fromlist=["SECRETS"]).SECRETS}


@pytest.mark.parametrize("md", markdown(), ids=lambda p: str(p.relative_to(ROOT)))
def test_each_list_of_the_stacks_secrets_names_them_all(md: Path):
    """A list that starts like the stack's secrets (`sshPrivateKey`, `pbxPassword`, ...) is all of
    them (the examples' programs have secrets of their own)."""
    if example_keys(md):
        return
    for found in re.findall(r"`sshPrivateKey`, `pbxPassword`[^.;]*", md.read_text()):
        named = set(re.findall(r"`(\w+)`", found))
        assert SECRET_KEYS <= named, f"{md.relative_to(ROOT)}: omits {SECRET_KEYS - named}"
