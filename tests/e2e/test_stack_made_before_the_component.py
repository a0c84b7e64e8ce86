"""A lab stack made by the program as it was before ImServer became a typed component package (the
commit BEFORE, from `git archive`), with backups on, is taken over by today's program unchanged:
`pulumi preview --expect-no-changes` passes, the next up runs 0 remote commands, and destroy works.
tests/unit/test_same_resources_as_before.py holds aws and hcloud to the same on Pulumi's mocks."""

from __future__ import annotations

import json
import subprocess
import tarfile
from io import BytesIO

import pytest

from tests.e2e.stack import fresh_stack, remote_commands
from tests.lab.fixture import REPO
from tests.unit.test_same_resources_as_before import BEFORE

pytestmark = [pytest.mark.e2e, pytest.mark.lab]


def test_a_stack_made_before_previews_no_change_and_ups_with_no_remote_command(lab, tmp_path):
    before = tmp_path / "before"
    before.mkdir()
    archive = subprocess.run(
        ["git", "archive", "--format=tar", BEFORE], cwd=REPO, capture_output=True, check=True
    ).stdout
    with tarfile.open(fileobj=BytesIO(archive)) as tar:
        tar.extractall(before, filter="data")
    (before / "venv").symlink_to(REPO / "venv")  # the same pinned packages

    with fresh_stack(lab, tmp_path) as stack:
        stack.set["backupRepository"] = "/var/backups/portsip-im"
        stack.dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        (stack.dir / "backup-env").write_text(json.dumps({"AWS_SECRET_ACCESS_KEY": "e2e-only"}))
        stack.repo = before
        made = stack("up").stdout
        assert "16 created" in made, made

        stack.repo = REPO
        preview = stack("preview", "--expect-no-changes", "--diff")
        assert "16 unchanged" in preview.stdout, preview.stdout
        commands = remote_commands(lab)
        again = stack("up").stdout
        assert "16 unchanged" in again, again
        assert remote_commands(lab) == commands, "today's program re-ran a remote step"
        # fresh_stack destroys it with today's program.
