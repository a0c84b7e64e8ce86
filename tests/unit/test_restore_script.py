"""restore.sh as the restore step sends it (lib.sh + restore.sh through the loader: its rendered
command line, the script on stdin), on this machine: the runner it calls is the backup step's
(backup-lib.sh, written out as backup.sh writes /usr/local/sbin/portsip-im-backup), its paths
moved into a temporary folder, with restic, docker and the clock stood in for. A value restores
once and is recorded; the same value again (an interrupted up re-running the step) restores
nothing; a new value restores again; no value restores nothing and forgets the record. The
runner's own restore with a real restic: test_backup_runner.py; over real SSH:
tests/lab/test_backup.py."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from portsip_im.remote import SCRIPTS, script_text
from tests.unit.local_step import run_step

# Scripts as this program sends them: their messages name its config keys.
pytestmark = pytest.mark.usefixtures("this_programs_names")

RUNNER = "/usr/local/sbin/portsip-im-backup"

# restic: `stats SNAP` finds one snapshot of a few bytes; `restore SNAP --target DIR` puts the
# snapshot's data path under DIR, its chat file saying which snapshot it came from.
FAKE_RESTIC = """#!/bin/bash
echo "restic $*" >>"{log}"
case "$1" in
  stats) echo '{{"total_size":42,"total_file_count":1,"snapshots_count":1}}' ;;
  restore)
    snap="$2" target=""
    while [ $# -gt 0 ]; do [ "$1" = --target ] && target="$2"; shift; done
    mkdir -p "$target{data}/im-data"
    echo "chat from $snap" >"$target{data}/im-data/chat.txt"
    ;;
  *) echo "Fatal: the fake restic does not know $1" >&2; exit 1 ;;
esac
"""


class Restore:
    def __init__(self, tmp: Path):
        if os.geteuid() != 0:
            pytest.fail("the restore step's tests need root, as the lab's do", pytrace=False)
        self.tmp = tmp
        self.data = tmp / "data"
        (self.data / "im-data").mkdir(parents=True)
        (self.data / "im-data" / "chat.txt").write_text("live chat\n")
        stubs = tmp / "bin"
        stubs.mkdir()
        self.log = tmp / "calls.log"
        (stubs / "restic").write_text(FAKE_RESTIC.format(log=self.log, data=self.data))
        # The IM containers: running, stopped and started again on request (logged).
        (stubs / "docker").write_text(
            f'#!/bin/sh\necho "docker $*" >>"{self.log}"\n[ "$1" != inspect ] || echo true\n'
        )
        # A clock that moves on a second at each reading: the runner names what a restore sets
        # aside by the second, and two restores within one second collide there (the second
        # fails, leaving IM stopped), which no real restore of a real snapshot comes near.
        (stubs / "date").write_text(
            f'#!/bin/sh\nn=$(($(cat "{tmp}/clock" 2>/dev/null || echo 0) + 1))\n'
            f'echo "$n" >"{tmp}/clock"\nexec /usr/bin/date -d "@$((1796292000 + n))" "$@"\n'
        )
        for stub in stubs.iterdir():
            stub.chmod(0o755)
        conf = tmp / "conf"
        conf.mkdir()
        (conf / "data-path").write_text(f"{self.data}\n")
        (conf / "repository").write_text("sftp:restic@10.0.5.20:/im\n")
        (conf / "password").write_text("unit-test-repo-password")
        (tmp / "fstab").write_text("")
        # The runner as backup.sh writes it: backup-lib.sh's functions, then pib_main.
        lib = (SCRIPTS / "backup-lib.sh").read_text()
        for path, where in (
            ("/etc/portsip-im-backup", conf),
            ("/var/lib/portsip-im-backup", tmp / "state"),
            ("/etc/fstab", tmp / "fstab"),
            ("export PATH=/usr/local/sbin", f"export PATH={stubs}:/usr/local/sbin"),
        ):
            lib = lib.replace(path, str(where))
        self.runner = tmp / "sbin" / "portsip-im-backup"
        self.runner.parent.mkdir()
        self.runner.write_text(f'#!/bin/bash\nset -euo pipefail\numask 077\n{lib}\npib_main "$@"\n')
        self.runner.chmod(0o700)
        text = script_text("restore")
        assert RUNNER in text
        self.script = text.replace(RUNNER, str(self.runner))
        self.home = tmp / "home"
        self.home.mkdir()
        self.record = self.home / ".portsip-im" / "restored"

    def __call__(self, snapshot: str) -> subprocess.CompletedProcess:
        """The step's command, as the command provider runs it over SSH on the IM host."""
        env = {"PATH": f"{self.tmp / 'bin'}:/usr/bin:/bin", "HOME": str(self.home)}
        return run_step("restore", self.script, {"SNAPSHOT": snapshot}, env)

    def restic(self) -> list[str]:
        calls = self.log.read_text().splitlines() if self.log.exists() else []
        return [c.split()[1] + " " + c.split()[2] for c in calls if c.startswith("restic restore")]

    def chat(self) -> str:
        return (self.data / "im-data" / "chat.txt").read_text()


@pytest.fixture
def restore(tmp_path):
    return Restore(tmp_path)


def test_a_value_restores_once_and_a_new_value_again(restore):
    done = restore("latest")
    assert done.returncode == 0, done.stderr
    assert "[restore] restore: restoring snapshot latest of the IM data" in done.stdout
    assert restore.restic() == ["restore latest"]
    assert restore.chat() == "chat from latest\n"
    assert restore.record.read_text() == "latest"
    # The IM service was stopped for the swap and started again.
    log = restore.log.read_text()
    assert "docker stop -t 120 portsip.instantmessage" in log
    assert "docker start portsip.instantmessage" in log

    # Chats written since; the step runs again with the same value (an up interrupted after the
    # restore): nothing is restored, the new chats stay.
    (restore.data / "im-data" / "chat.txt").write_text("chat after the restore\n")
    again = restore("latest")
    assert again.returncode == 0, again.stderr
    assert "was restored already" in again.stdout
    assert restore.restic() == ["restore latest"]
    assert restore.chat() == "chat after the restore\n"

    # A new value restores again, and is what is recorded.
    done = restore("0123abcd")
    assert done.returncode == 0, done.stderr
    assert restore.restic() == ["restore latest", "restore 0123abcd"]
    assert restore.chat() == "chat from 0123abcd\n"
    assert restore.record.read_text() == "0123abcd"


def test_no_value_restores_nothing_and_forgets_the_record(restore):
    assert restore("latest").returncode == 0
    done = restore("")
    assert done.returncode == 0, done.stderr
    assert "none asked" in done.stdout and not restore.record.exists()
    assert restore.restic() == ["restore latest"]
    # Asked again later, the same value restores again: it is a new request.
    assert restore("latest").returncode == 0
    assert restore.restic() == ["restore latest", "restore latest"]


def test_a_bad_value_or_a_missing_runner_restores_nothing(restore):
    done = restore("../etc")
    assert done.returncode == 1
    assert "restoreSnapshot '../etc' is not 'latest' or a snapshot id" in done.stderr
    restore.runner.unlink()
    done = restore("latest")
    assert done.returncode == 1 and "is backupRepository set?" in done.stderr
    assert restore.restic() == [] and not restore.record.exists()
    assert restore.chat() == "live chat\n"
