"""A lab stack made by an earlier program, with backups on, is taken over by today's program. Three
earlier programs, each from `git archive`: the one before ImServer became a typed component package
(the commit BEFORE), 0.4.0 (RELEASED) and 0.6.0 as it landed (LANDED):

- its preview changes nothing but the remote steps whose scripts changed since (SCRIPTS_CHANGED in
  tests/unit/test_same_resources_as_before.py; lib.sh goes with every step), each an in-place
  update (health, which re-checks after any step that ran, is replaced): nothing else is created,
  replaced or deleted;
- the up that applies them runs no im.sh verb and adds no whitelist entry or authorized key (each
  re-run step finds its work done), and the up after it runs 0 remote commands;
- apart from the scripts and how they travel, the component registers what the old program did
  (tests/unit/test_same_resources_as_before.py, on Pulumi's mocks, for every target);
- destroy works.
"""

from __future__ import annotations

import json
import re
import subprocess
import tarfile
from io import BytesIO
from pathlib import Path

import pytest

from tests.e2e.stack import counters, fresh_stack, ours, remote_commands
from tests.lab.fixture import REPO
from tests.unit.test_same_resources_as_before import BEFORE

pytestmark = [pytest.mark.e2e, pytest.mark.lab]


# 0.4.0, the last release: since then only the connections' dial limits changed (no dial is
# retried), so each remote step updates in place and re-runs its idempotent script.
RELEASED = "6a884a8b403113af1ee86cb933ed660611463934"
# 0.6.0, as it landed: since then every step's command changed (the loader moved to stdin, so a
# failed step's error quotes a short command), so each remote step updates in place and re-runs
# its idempotent script once (docs/stacks.md).
LANDED = "c9ecfc5a4635f2b7c020bc58edf13ca4a5f23fd3"
# What changed since LANDED: EVERY_STEP, or the steps whose script changed (SCRIPTS_CHANGED); each
# updates in place, and health, which re-checks after any step that ran, is replaced.
EVERY_STEP = object()
CHANGED_SINCE_LANDED: set[str] | object = EVERY_STEP


def before_tree(root: Path, lab, commit: str = BEFORE) -> Path:
    root.mkdir()
    archive = subprocess.run(
        ["git", "archive", "--format=tar", commit], cwd=REPO, capture_output=True, check=True
    ).stdout
    with tarfile.open(fileobj=BytesIO(archive)) as tar:
        tar.extractall(root, filter="data")
    (root / "venv").symlink_to(REPO / "venv")  # the same pinned packages
    # The same lab too: the old scripts/lab knows fewer hosts, would take today's lab for a broken
    # one and restart it under the other tests. Only the program is BEFORE's.
    (root / "scripts" / "lab").unlink()
    (root / "scripts" / "lab").symlink_to(REPO / "scripts" / "lab")
    # The old scripts/lab-stack knows only cluster 1's addresses (its Pulumi.lab.yaml): give it
    # this lab's, whichever cluster the tests run on (docs/development.md).
    lab_yaml = root / "Pulumi.lab.yaml"
    lab_yaml.write_text(lab_yaml.read_text().replace("10.213.7.", f"{lab.net}."))
    return root


def remote_steps(steps: list[dict]) -> set[str]:
    """The names of the remote steps in a `preview --json`'s steps."""
    return {
        s["urn"].rsplit("::", 1)[1]
        for s in steps
        if s["urn"].rsplit("::", 2)[1].endswith("command:remote:Command")
    }


def authorized_keys(lab) -> int:
    keys = lab.path("im", "home/pbx/.ssh/authorized_keys")
    return len([line for line in keys.read_text().splitlines() if line.strip()])


def old_reload_race(said: str) -> bool:
    return "connection refused" in said and "trust: password and keyboard-interactive" in said


def made_by(stack, old: Path) -> None:
    """The stack, with backups on, made by the program in `old`; then today's program takes it."""
    stack.set["backupRepository"] = "/var/backups/portsip-im"
    stack.dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    (stack.dir / "backup-env").write_text(json.dumps({"AWS_SECRET_ACCESS_KEY": "e2e-only"}))
    stack.repo = old
    # The old program's own package, not the one the shared venv installs (editable, today's).
    if (old / "components" / "portsip_im").is_dir():
        stack.env["PYTHONPATH"] = str(old / "components")
    made = stack("up", ok=None)
    said = made.stdout + made.stderr
    if made.returncode != 0 and old_reload_race(said):
        # That program's own race, fixed since: a step dialling the IM host just as the trust
        # step's sshd reload re-executed sshd was refused, and the next up completed.
        made = stack("up")
    elif made.returncode != 0:
        pytest.fail(f"the old program's up failed:\n{said}")
    else:
        assert "16 created" in made.stdout, made.stdout
    stack.repo = REPO
    stack.env.pop("PYTHONPATH", None)


@pytest.mark.parametrize("commit", [BEFORE, RELEASED], ids=["0.1", "0.4.0"])
def test_a_stack_made_before_updates_only_its_changed_remote_steps(lab, tmp_path, commit):
    old = before_tree(tmp_path / "before", lab, commit)

    with fresh_stack(lab, tmp_path) as stack:
        made_by(stack, old)
        steps = json.loads(stack("preview", "--json").stdout)["steps"]
        changed = {s["urn"].rsplit("::", 1)[1]: s for s in steps if s["op"] != "same"}
        assert changed, "no script changed since BEFORE? then expect no changes here"
        for name, s in changed.items():
            # health re-checks after any step that ran (its triggers): replaced, as by design.
            assert s["op"] == ("replace" if name == "im-health" else "update"), f"{name}: {s['op']}"
            assert s["newState"]["type"] == "command:remote:Command", name
        assert {"im-trust-key", "im-health", "im-deploy"} <= set(changed)
        if commit == RELEASED:  # every step's connection changed (docs/stacks.md), nothing else
            remote = remote_steps(steps)
            assert set(changed) == remote, sorted(set(changed) ^ remote)

        verbs, entries, keys = counters(lab), ours(lab), authorized_keys(lab)
        applied = stack("up").stdout
        assert re.search(rf"\b{len(changed) - 1} updated\b", applied), applied
        assert re.search(r"\b1 replaced\b", applied), applied
        assert counters(lab) == verbs, "an im.sh verb ran again"
        assert ours(lab) == entries and authorized_keys(lab) == keys

        commands = remote_commands(lab)
        again = stack("up").stdout
        assert "16 unchanged" in again, again
        assert remote_commands(lab) == commands, "a remote step ran with nothing changed"
        # fresh_stack destroys it with today's program.


def test_a_stack_made_by_the_last_landing_changes_only_what_is_listed(lab, tmp_path):
    """A stack made by 0.6.0 as it landed: today's program, same config, updates in place only the
    steps CHANGED_SINCE_LANDED names (health replaced); the up that applies them runs no im.sh verb
    and adds no whitelist entry or authorized key; the up after it runs no remote command."""
    old = before_tree(tmp_path / "landed", lab, LANDED)
    with fresh_stack(lab, tmp_path) as stack:
        made_by(stack, old)
        steps = json.loads(stack("preview", "--json").stdout)["steps"]
        changed = {s["urn"].rsplit("::", 1)[1]: s["op"] for s in steps if s["op"] != "same"}
        remote = remote_steps(steps)
        assert isinstance(CHANGED_SINCE_LANDED, set) or CHANGED_SINCE_LANDED is EVERY_STEP
        listed = remote if CHANGED_SINCE_LANDED is EVERY_STEP else set(CHANGED_SINCE_LANDED)
        expected = {name: "update" for name in listed}
        if listed:
            expected["im-health"] = "replace"
        assert changed == expected, sorted(set(changed.items()) ^ set(expected.items()))

        verbs, entries, keys = counters(lab), ours(lab), authorized_keys(lab)
        commands = remote_commands(lab)
        applied = stack("up").stdout
        if listed:
            updated = sum(op == "update" for op in expected.values())
            assert re.search(rf"\b{updated} updated\b", applied), applied
            assert re.search(r"\b1 replaced\b", applied), applied
            assert remote_commands(lab) > commands, "no step re-ran its script"
        assert counters(lab) == verbs, "an im.sh verb ran again"
        assert ours(lab) == entries and authorized_keys(lab) == keys
        # The trust step's re-run finds its drop-in in place: it reloads nothing.
        assert "reloaded ssh" not in applied, applied

        commands = remote_commands(lab)
        again = stack("up").stdout
        assert "16 unchanged" in again, again
        assert remote_commands(lab) == commands, "a remote step ran with nothing changed"
