"""The IM host's backup runner (components/scripts/backup-lib.sh) on this machine with a real restic
and a local repository, its paths moved into a temporary folder: a backup records its result, a
restore swaps the snapshot in (files added since are gone, a top-level directory keeps its inode,
so a bind mount of it keeps working), and a failing backup is recorded as failed with restic's
reason. Over real SSH on the IM host: tests/lab/test_backup.py. restic comes from scripts/setup
--dev (Debian's package)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess

import pytest

from components.remote import SCRIPTS

pytestmark = [
    # It runs as root on the IM host (chown --reference, the lock under /var/lib).
    pytest.mark.skipif(os.geteuid() != 0, reason="the runner runs as root"),
]


def test_restic_is_installed():
    assert shutil.which("restic"), "restic is missing: scripts/setup --dev installs it"


@pytest.fixture
def runner(tmp_path):
    lib = (SCRIPTS / "backup-lib.sh").read_text()
    lib = lib.replace("/etc/portsip-im-backup", str(tmp_path / "conf"))
    lib = lib.replace("/var/lib/portsip-im-backup", str(tmp_path / "state"))
    conf, data = tmp_path / "conf", tmp_path / "data"
    conf.mkdir()
    (data / "im-data").mkdir(parents=True)
    (data / "storage").mkdir()
    (conf / "data-path").write_text(f"{data}\n")
    (conf / "repository").write_text(f"{tmp_path / 'repo'}\n")
    (conf / "password").write_text("unit-test-repo-password")
    (conf / "keep").write_text("--keep-daily 7\n")
    (conf / "env").write_text("")
    (tmp_path / "lib.sh").write_text(lib)

    def run(*args: str, init: bool = False) -> subprocess.CompletedProcess:
        script = f'set -euo pipefail\n. "{tmp_path}/lib.sh"\n'
        if init:
            script += "pib_init; pib_env; restic init >/dev/null\n"
        script += 'pib_main "$@"\n'
        return subprocess.run(
            ["bash", "-c", script, "portsip-im-backup", *args],
            capture_output=True,
            text=True,
            timeout=120,
            env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "HOME": str(tmp_path)},
        )

    run.data = data  # type: ignore[attr-defined]
    run.last = lambda: json.loads((tmp_path / "state" / "last.json").read_text())  # type: ignore[attr-defined]
    run.tmp = tmp_path  # type: ignore[attr-defined]
    return run


def test_backup_then_restore_swaps_the_snapshot_in(runner):
    data = runner.data
    (data / "im-data" / "chat.txt").write_text("chat-1\n")
    (data / "storage" / "file.txt").write_text("file-1\n")
    done = runner("backup", init=True)
    assert done.returncode == 0, done.stderr
    last = runner.last()
    assert last["status"] == "ok" and last["bytes"] > 0 and len(last["snapshot"]) >= 8
    assert "retention applied: --keep-daily 7" in done.stdout

    storage_inode = (data / "storage").stat().st_ino
    (data / "im-data" / "chat.txt").write_text("changed\n")
    (data / "storage" / "file.txt").unlink()
    (data / "storage" / "new.txt").write_text("added after the backup\n")
    (data / "stray").write_text("added after the backup\n")
    done = runner("restore", "latest")
    assert done.returncode == 0, done.stderr
    assert (data / "im-data" / "chat.txt").read_text() == "chat-1\n"
    assert (data / "storage" / "file.txt").read_text() == "file-1\n"
    assert not (data / "storage" / "new.txt").exists() and not (data / "stray").exists()
    assert (data / "storage").stat().st_ino == storage_inode
    assert not (data / ".portsip-im-restore").exists()


def test_a_failing_backup_is_recorded_with_restics_reason(runner):
    done = runner("backup")  # no repository was initialised
    assert done.returncode != 0
    assert "restic backup failed: Fatal:" in done.stderr
    last = runner.last()
    assert last["status"] == "failed" and last["snapshot"] == ""
    assert "unit-test-repo-password" not in json.dumps(last) + done.stdout + done.stderr
