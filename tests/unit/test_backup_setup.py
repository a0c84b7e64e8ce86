"""The backup step's script (lib.sh + backup-lib.sh + backup.sh, as the step sends it) on this
machine with a real restic and a local repository, its paths moved into a temporary folder and
systemd and apt-get stood in for: restic's installation shows apt-get's reason when it fails, and
a changed repository setting is verified before it replaces the working one. Over real SSH on the
IM host: tests/lab/test_backup.py."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from portsip_im.remote import encode_secrets, script_text

# Scripts as this program sends them: their messages name its config keys.
pytestmark = pytest.mark.usefixtures("this_programs_names")

PASSWORD = "setup-test-repo-password"


class Setup:
    def __init__(self, tmp: Path, hide_restic: bool = False):
        if os.geteuid() != 0:
            pytest.fail("the backup step's tests need root, as the lab's do", pytrace=False)
        self.tmp = tmp
        text = script_text("backup", ["backup-lib"])
        for path, where in (
            ("/etc/portsip-im-backup", "conf"),
            ("/var/lib/portsip-im-backup", "state"),
            ("/usr/local/sbin/portsip-im-backup", "runner"),
            ("/etc/systemd/system/portsip-im-backup", "unit"),
            ("/etc/fstab", "fstab"),
        ):
            text = text.replace(path, str(tmp / where))
        self.stubs = tmp / "bin"
        self.stubs.mkdir()
        # systemctl and apt-get log what they are asked; the machine's own are never touched.
        # APT_FAILS names the apt-get verb that fails, with apt-get's own kind of reason.
        (self.stubs / "systemctl").write_text(
            f'#!/bin/sh\necho "systemctl $*" >>"{tmp}/calls.log"\n'
            'case "$1" in is-enabled|is-active) exit 1 ;; esac\n'
        )
        (self.stubs / "apt-get").write_text(
            f'#!/bin/sh\necho "apt-get $*" >>"{tmp}/calls.log"\n'
            'for a in "$@"; do [ "$a" != "$APT_FAILS" ] || '
            '{ echo "E: Unable to locate package restic ($a)" >&2; exit 100; }; done\n'
        )
        for stub in self.stubs.iterdir():
            stub.chmod(0o755)
        if hide_restic:
            text = text.replace("command -v restic ", "command -v no-restic-in-this-test ")
        text = text.replace(
            "export PATH=/usr/local/sbin", f"export PATH={self.stubs}:/usr/local/sbin"
        )
        self.script = text
        (tmp / "fstab").write_text("")
        (tmp / "data").mkdir()
        (tmp / "data" / "chat.txt").write_text("chat-1\n")

    def __call__(
        self, repository: str, password: str = PASSWORD, env: str = "", apt_fails: str = ""
    ) -> subprocess.CompletedProcess:
        secrets = {"BACKUP_PASSWORD": password, "BACKUP_ENV": env or None}
        return subprocess.run(
            [
                "bash",
                "-c",
                self.script,
                "backup",
                f"REPOSITORY={repository}",
                "KEEP=--keep-daily 7",
                f"DATA_PATH={self.tmp / 'data'}",
            ],
            input=encode_secrets(secrets),
            capture_output=True,
            text=True,
            timeout=120,
            env={
                "PATH": f"{self.stubs}:/usr/sbin:/usr/bin:/sbin:/bin",
                "HOME": str(self.tmp),
                "APT_FAILS": apt_fails,
            },
        )

    def calls(self) -> list[str]:
        log = self.tmp / "calls.log"
        return log.read_text().splitlines() if log.exists() else []

    def conf(self, name: str) -> str:
        return (self.tmp / "conf" / name).read_text()

    def backup(self) -> subprocess.CompletedProcess:
        return subprocess.run(
            [str(self.tmp / "runner"), "backup"],
            capture_output=True,
            text=True,
            timeout=120,
            env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "HOME": str(self.tmp)},
        )


@pytest.mark.parametrize("fails", ["update", "install"])
def test_restic_missing_lists_updated_first_and_apt_gets_reason_shown(tmp_path, fails):
    setup = Setup(tmp_path, hide_restic=True)
    done = setup(str(tmp_path / "repo"), apt_fails=fails)
    assert done.returncode != 0
    apt = [c for c in setup.calls() if c.startswith("apt-get")]
    # Stale lists would not know the package: they are refreshed before the install.
    assert " update" in apt[0]
    assert len(apt) == (1 if fails == "update" else 2)
    if fails == "install":
        assert apt[1].endswith(" install restic")
    assert f"E: Unable to locate package restic ({fails})" in done.stderr
    assert f"restic: apt-get {fails}" in done.stderr


def test_restic_present_no_apt_get(tmp_path):
    setup = Setup(tmp_path)
    done = setup(str(tmp_path / "repo"))
    assert done.returncode == 0, done.stderr
    assert not [c for c in setup.calls() if c.startswith("apt-get")]
    assert "repository initialised" in done.stdout


def test_a_wrong_new_password_fails_naming_it_and_keeps_the_working_settings(tmp_path):
    setup = Setup(tmp_path)
    repo = str(tmp_path / "repo")
    assert setup(repo).returncode == 0
    done = setup(repo, password="not-the-repository-password")
    assert done.returncode != 0
    assert "portsip-im:backupPassword" in done.stderr
    assert "wrong password" in done.stderr and "restic key add" in done.stderr
    assert "not-the-repository-password" not in done.stdout + done.stderr
    assert setup.conf("password") == PASSWORD
    assert not (tmp_path / "conf" / ".staged").exists()
    # The timer's runner still backs up with the settings that work.
    ran = setup.backup()
    assert ran.returncode == 0, ran.stderr


def test_an_unusable_new_repository_fails_naming_it_and_keeps_the_old_one(tmp_path):
    setup = Setup(tmp_path)
    repo = str(tmp_path / "repo")
    assert setup(repo).returncode == 0
    (tmp_path / "a-file").write_text("")
    done = setup(str(tmp_path / "a-file" / "repo"), env='{"AWS_SECRET_ACCESS_KEY": "k"}')
    assert done.returncode != 0
    assert "portsip-im:backupRepository portsip-im:backupEnv" in done.stderr
    assert "previous backup settings" in done.stderr
    assert setup.conf("repository") == repo + "\n" and setup.conf("env") == ""
    assert setup.backup().returncode == 0


def test_new_settings_that_work_replace_the_old_ones(tmp_path):
    setup = Setup(tmp_path)
    assert setup(str(tmp_path / "repo")).returncode == 0
    again = setup(str(tmp_path / "repo"))
    assert "wrote" not in again.stdout and "already initialised" in again.stdout
    moved = setup(str(tmp_path / "repo2"))
    assert moved.returncode == 0, moved.stderr
    assert f"wrote {tmp_path}/conf/repository" in moved.stdout
    assert "repository initialised" in moved.stdout
    assert setup.conf("repository") == str(tmp_path / "repo2") + "\n"
    assert oct((tmp_path / "conf" / "repository").stat().st_mode & 0o777) == "0o600"


def test_a_first_install_that_cannot_open_the_repository_names_the_key(tmp_path):
    setup = Setup(tmp_path)
    (tmp_path / "a-file").write_text("")
    done = setup(str(tmp_path / "a-file" / "repo"))
    assert done.returncode != 0
    assert "cannot open the backup repository (portsip-im:backupRepository): Fatal:" in done.stderr
    assert not (tmp_path / "conf" / "repository").exists()
