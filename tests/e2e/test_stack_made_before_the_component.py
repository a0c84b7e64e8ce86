"""A lab stack made by the program as it was before ImServer became a typed component package (the
commit BEFORE, from `git archive`), with backups on, is taken over by today's program:

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


def before_tree(root: Path) -> Path:
    root.mkdir()
    archive = subprocess.run(
        ["git", "archive", "--format=tar", BEFORE], cwd=REPO, capture_output=True, check=True
    ).stdout
    with tarfile.open(fileobj=BytesIO(archive)) as tar:
        tar.extractall(root, filter="data")
    (root / "venv").symlink_to(REPO / "venv")  # the same pinned packages
    # The same lab too: the old scripts/lab knows fewer hosts, would take today's lab for a broken
    # one and restart it under the other tests. Only the program is BEFORE's.
    (root / "scripts" / "lab").unlink()
    (root / "scripts" / "lab").symlink_to(REPO / "scripts" / "lab")
    return root


def authorized_keys(lab) -> int:
    keys = lab.path("im", "home/pbx/.ssh/authorized_keys")
    return len([line for line in keys.read_text().splitlines() if line.strip()])


def test_a_stack_made_before_updates_only_its_changed_remote_steps(lab, tmp_path):
    old = before_tree(tmp_path / "before")

    with fresh_stack(lab, tmp_path) as stack:
        stack.set["backupRepository"] = "/var/backups/portsip-im"
        stack.dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        (stack.dir / "backup-env").write_text(json.dumps({"AWS_SECRET_ACCESS_KEY": "e2e-only"}))
        stack.repo = old
        made = stack("up").stdout
        assert "16 created" in made, made

        stack.repo = REPO
        steps = json.loads(stack("preview", "--json").stdout)["steps"]
        changed = {s["urn"].rsplit("::", 1)[1]: s for s in steps if s["op"] != "same"}
        assert changed, "no script changed since BEFORE? then expect no changes here"
        for name, s in changed.items():
            # health re-checks after any step that ran (its triggers): replaced, as by design.
            assert s["op"] == ("replace" if name == "im-health" else "update"), f"{name}: {s['op']}"
            assert s["newState"]["type"] == "command:remote:Command", name
        assert {"im-trust-key", "im-health", "im-deploy"} <= set(changed)

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
