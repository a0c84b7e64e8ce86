"""The remote scripts, exactly as the steps send them (lib.sh + libraries + step), pass shellcheck
and are strict bash; a broken script fails the same gate."""

import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

from portsip_im.remote import SCRIPTS, encode_secrets, render, sent_script, stdin_text
from tests.unit import harness as h

SHELLCHECK = shutil.which("shellcheck") or str(Path(h.ROOT, "venv", "bin", "shellcheck"))


def sent_scripts() -> dict[str, str]:
    """step name → the script text its create command reads off stdin, for every target."""
    out = {}
    for target, backup in (
        ("aws", h.BACKUP_CONFIG),
        ("existing", h.BACKUP_CONFIG),
        ("existing", {**h.SFTP_BACKUP_CONFIG, "hostFirewall": "true"}),
    ):
        config = {**h.base_config(target), **backup}
        for r in h.run(config).mocks.of_type("command:remote:Command"):
            script = sent_script(r.inputs["create"], r.inputs["stdin"])
            assert script is not None, r.name
            out[r.name.removeprefix("im-")] = script
    return out


def shellcheck(text: str, tmp_path: Path, name: str) -> subprocess.CompletedProcess:
    f = tmp_path / f"{name}.sh"
    f.write_text(text)
    return subprocess.run(
        [SHELLCHECK, "--shell=bash", "--severity=style", str(f)],
        capture_output=True,
        text=True,
        check=False,
    )


@pytest.mark.parametrize("step", sorted(sent_scripts()))
def test_each_sent_script_is_shellcheck_clean(step, tmp_path):
    text = sent_scripts()[step]
    assert text.startswith("# shellcheck shell=bash\n# lib.sh")
    assert "set -euo pipefail" in text.split("\n", 12)[-1] or "set -euo pipefail" in text[:800]
    done = shellcheck(text, tmp_path, step)
    assert done.returncode == 0, done.stdout


def test_the_gate_catches_a_broken_script(tmp_path):
    broken = (SCRIPTS / "lib.sh").read_text() + "\nfor f in $(ls $DIR); do echo $f; done\n"
    assert shellcheck(broken, tmp_path, "broken").returncode != 0


def test_every_script_file_is_used():
    used = "\n".join(sent_scripts().values())
    for f in SCRIPTS.glob("*.sh"):
        first = f.read_text().splitlines()[2]  # its own first line, after the directive and needs
        assert first in used, f"{f.name} is never sent"


# --- `# needs:` — what a fragment takes from the others, declared and checked ------------------

STATUS_SCRIPT = Path(h.ROOT, "scripts", "status.d", "status.sh")


def shell_code(text: str) -> str:
    """The text without comments (a `#` at a line's start or after blanks)."""
    return "\n".join(re.sub(r"(^|\s)#.*$", "", line) for line in text.splitlines())


def defined_functions(text: str) -> set[str]:
    return set(re.findall(r"^([A-Za-z_][A-Za-z0-9_]*)\(\)\s*\{", text, re.M))


def calls(text: str, function: str) -> bool:
    """`function` is run as a command somewhere in `text` (not just named in a comment)."""
    start = r"(?:^\s*\(?|[;&|{]|\$\(|\b(?:if|then|do|else|while|until)\s|!\s)\s*"
    return (
        re.search(start + re.escape(function) + r"(?=\s|$|;|\))", shell_code(text), re.M)
        is not None
    )


def declared_needs(path: Path) -> list[str]:
    line = path.read_text().splitlines()[1]
    assert line.startswith("# needs: "), f"{path.name}: line 2 must say what it needs"
    words = line.removeprefix("# needs: ").split()
    return [] if words == ["nothing"] else [w.removesuffix(".sh") for w in words]


def used_libraries(text: str, own: str) -> set[str]:
    """The other script files whose functions `text` runs."""
    return {
        f.stem
        for f in SCRIPTS.glob("*.sh")
        if f.stem != own and any(calls(text, fn) for fn in defined_functions(f.read_text()))
    }


LIB = SCRIPTS / "lib.sh"


# lib.sh is not among them: it has no `# needs:` line (test_lib_sh_takes_nothing_from_the_others).
@pytest.mark.parametrize(
    "path",
    [*sorted(p for p in SCRIPTS.glob("*.sh") if p != LIB), STATUS_SCRIPT],
    ids=lambda p: p.name,
)
def test_each_file_declares_exactly_what_it_takes_from_the_others(path):
    assert set(declared_needs(path)) - {"lib"} == used_libraries(path.read_text(), path.stem) - {
        "lib"
    }


def test_lib_sh_takes_nothing_from_the_others():
    """lib.sh comes first in every script a step sends (remote.script_text), before any library,
    so it can run no function that only another file defines, and declares no needs."""
    text = LIB.read_text()
    own = defined_functions(text)
    assert {"say", "die", "read_secrets"} <= own
    borrowed = {
        f"{fn} ({other.name})"
        for other in [*SCRIPTS.glob("*.sh"), STATUS_SCRIPT]
        if other != LIB
        for fn in defined_functions(other.read_text()) - own
        if calls(text, fn)
    }
    assert borrowed == set(), f"lib.sh runs functions of other files: {sorted(borrowed)}"
    assert not text.splitlines()[1].startswith("# needs:"), "lib.sh is sent first: it needs nothing"


def test_the_needs_check_sees_an_undeclared_call():
    assert used_libraries("x=1\nif pbx_login; then say hi; fi\n", "probe") == {"pbx-api", "lib"}
    assert used_libraries("# pbx_login is not called here\necho pbx_login\n", "probe") == set()


def assembled_steps() -> list[tuple[str, list[str]]]:
    """Each (step file, the libraries it is sent with), from portsip_im's `script="a+b+step"`."""
    found = []
    for source in Path(h.ROOT, "components", "portsip_im").rglob("*.py"):
        for spec in re.findall(r'script="([a-z0-9+-]+)"', source.read_text()):
            *libraries, step = spec.split("+")
            found.append((step, libraries))
    return found


def test_each_step_is_sent_with_what_it_needs_and_nothing_else():
    steps = assembled_steps()
    assert len({step for step, _ in steps}) >= 12
    for step, libraries in steps:
        needs = [n for n in declared_needs(SCRIPTS / f"{step}.sh") if n != "lib"]
        assert sorted(libraries) == sorted(needs), step
    # scripts/status sends lib.sh, pbx-api.sh and status.sh (status/probe.py).
    assert declared_needs(STATUS_SCRIPT) == ["lib", "pbx-api"]
    # The backup runner is written alone onto the IM host (declare -f): it may need nothing.
    assert declared_needs(SCRIPTS / "backup-lib.sh") == []


def test_the_status_script_as_sent_is_shellcheck_clean(tmp_path):
    parts = [SCRIPTS / "lib.sh", SCRIPTS / "pbx-api.sh", STATUS_SCRIPT]
    done = shellcheck("\n".join(p.read_text() for p in parts), tmp_path, "status")
    assert done.returncode == 0, done.stdout


def shellcheck_alone(path: Path) -> subprocess.CompletedProcess:
    # As CI runs it (.ci/run): the file alone, its shell from its own directive, no --shell.
    return subprocess.run(
        [SHELLCHECK, "-x", "--severity=style", path.name],
        capture_output=True,
        text=True,
        check=False,
        cwd=path.parent,
    )


@pytest.mark.parametrize("name", sorted(f.name for f in SCRIPTS.glob("*.sh")))
def test_each_script_file_checks_on_its_own(name):
    path = SCRIPTS / name
    assert path.read_text().startswith("# shellcheck shell=bash\n"), name
    done = shellcheck_alone(path)
    assert done.returncode == 0, done.stdout


def test_a_script_file_alone_gets_checked(tmp_path):
    # Without its directive shellcheck refuses a fragment (SC2148); with it, a real problem
    # still fails and a clean file passes.
    body = 'for f in $(ls "$DIR"); do echo $f; done\n'
    (tmp_path / "bare.sh").write_text(body)
    assert shellcheck_alone(tmp_path / "bare.sh").returncode != 0
    (tmp_path / "directive.sh").write_text("# shellcheck shell=bash\n" + body)
    done = shellcheck_alone(tmp_path / "directive.sh")
    assert done.returncode != 0 and "SC2086" in done.stdout
    (tmp_path / "clean.sh").write_text('# shellcheck shell=bash\necho "$DIR"\n')
    assert shellcheck_alone(tmp_path / "clean.sh").returncode == 0


def run_rendered(command: str, stdin: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        command,
        shell=True,
        executable="/bin/bash",
        input=stdin,
        capture_output=True,
        text=True,
        env={"HOME": "/tmp", "PATH": "/usr/bin:/bin"},
    )


def test_rendered_command_runs_its_script_from_stdin_with_its_parameters():
    script = 'echo "$0" "$#" "$1" "$2"\n\n'
    cmd = render("probe", script, {"A": "x y", "B": "it's"})
    words = shlex.split(cmd)
    assert words[:2] == ["bash", "-c"] and words[3] == "probe" and words[5:] == ["A=x y", "B=it's"]
    # The loader and the script travel on stdin: the command is what the step was asked.
    assert cmd.startswith("bash -c 'read -r l&&eval \"$l\";exit 3' probe ") and '"$2"' not in cmd
    assert len(cmd) - len(" 'A=x y' 'B=it'\"'\"'s'") < 70
    done = run_rendered(cmd, stdin_text(script))
    assert (done.returncode, done.stdout) == (0, "probe 2 A=x y B=it's\n"), done.stderr


@pytest.mark.parametrize("damage", ["cut short", "changed"])
def test_a_script_that_does_not_arrive_whole_runs_nothing(tmp_path, damage):
    marker = tmp_path / "ran"
    script = f"touch {marker}\necho done\n"
    stdin = stdin_text(script)
    stdin = stdin[:-4] if damage == "cut short" else stdin.replace("done", "DONE")
    done = run_rendered(render("probe", script, {}), stdin)
    assert done.returncode == 1 and not marker.exists()
    assert "[probe] ERROR: step script not received intact" in done.stderr


@pytest.mark.parametrize("left", ["nothing", "valid shell", "half", "all but its newline"])
def test_a_loader_line_cut_short_runs_nothing(tmp_path, left):
    # Even a cut that leaves valid shell (`s=$(head -c N);` alone) must not run, nor succeed.
    marker = tmp_path / "ran"
    script = f"touch {marker}\n"
    loader = stdin_text(script).partition("\n")[0]
    cut = {
        "nothing": 0,
        "valid shell": loader.index(";") + 1,
        "half": len(loader) // 2,
        "all but its newline": len(loader),
    }[left]
    done = run_rendered(render("probe", script, {}), loader[:cut])
    assert done.returncode == 3 and not marker.exists()


@pytest.mark.parametrize("first", ["", "# a comment", "true", "set -euo pipefail"])
def test_a_stdin_that_does_not_open_with_the_loader_fails_and_runs_nothing(tmp_path, first):
    # Fails closed: whatever else opens stdin (an older stdin's lib.sh, say), the step fails.
    marker = tmp_path / "ran"
    script = f"touch {marker}\n"
    done = run_rendered(render("probe", script, {}), f"{first}\n{stdin_text(script)}")
    assert done.returncode == 3 and not marker.exists()


def test_the_steps_status_is_its_scripts():
    for script, status in (("exit 7\n", 7), ("false\n", 1), ("true\n", 0)):
        done = run_rendered(render("probe", script, {}), stdin_text(script))
        assert done.returncode == status, (script, done.stderr)


def test_the_secrets_after_the_script_reach_read_secrets():
    script = (SCRIPTS / "lib.sh").read_text() + '\nread_secrets\nprintf "%s|%s" "$PW" "$#"\n'
    stdin = stdin_text(script, encode_secrets({"PW": "p@ss word\twith'\"$x"}))
    done = run_rendered(render("probe", script, {"K": "v"}), stdin)
    assert (done.returncode, done.stdout) == (0, "p@ss word\twith'\"$x|1"), done.stderr


def test_secrets_encoding_reads_back_in_bash():
    stdin = encode_secrets({"PBX_PASSWORD": "p@ss word\twith\ttabs\n'\"$x", "SKIPPED": None})
    script = (SCRIPTS / "lib.sh").read_text() + '\nread_secrets\nprintf "%s" "$PBX_PASSWORD"\n'
    done = subprocess.run(
        ["bash", "-c", script, "probe"],
        input=stdin,
        capture_output=True,
        text=True,
        check=True,
        env={"HOME": "/tmp", "PATH": "/usr/bin:/bin"},
    )
    # Command substitution drops trailing newlines; everything else comes back as it went.
    assert done.stdout == "p@ss word\twith\ttabs\n'\"$x".rstrip("\n")
    assert "SKIPPED" not in stdin
