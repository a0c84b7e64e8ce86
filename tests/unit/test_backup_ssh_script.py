"""backup-ssh.sh (lib.sh + backup-ssh.sh, as the step sends it) on this machine, its paths moved
into a temporary folder and ssh stood in for: the key and pin are proven before they replace the
ones in use, a wrong host key or refused key names its config key and changes nothing, a key with
a passphrase is refused, a second run writes nothing, and removal takes all three files away.
Over real SSH against the lab's SFTP server: tests/e2e/test_backup_stack.py."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from portsip_im.remote import encode_secrets, script_text

HOST_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHNmdHAtc2VydmVyLWhvc3Qta2V5LXVuaXQtdGVzdA"


class BackupSsh:
    def __init__(self, tmp: Path):
        if os.geteuid() != 0:
            pytest.fail("the backup-ssh step's tests need root, as the lab's do", pytrace=False)
        self.tmp = tmp
        text = script_text("backup-ssh")
        for path, where in (
            ("/etc/portsip-im-backup", "conf"),
            ("/etc/ssh/ssh_config.d", "ssh_config.d"),
            ("/etc/ssh/ssh_config", "ssh_config"),
        ):
            text = text.replace(path, str(tmp / where))
        self.script = text
        (tmp / "ssh_config.d").mkdir()
        (tmp / "ssh_config").write_text(f"Include {tmp}/ssh_config.d/*.conf\n")
        self.bin = tmp / "bin"
        self.bin.mkdir()
        self.answer("")

    def answer(self, ssh_says: str) -> None:
        """What the SFTP server answers next: nothing (a login) or ssh's complaint."""
        code = "exit 0" if not ssh_says else f"echo '{ssh_says}' >&2; exit 255"
        (self.bin / "ssh").write_text(f'#!/bin/sh\necho "$*" >>"{self.tmp}/ssh.log"\n{code}\n')
        (self.bin / "ssh").chmod(0o755)

    def key(self, passphrase: str = "") -> str:
        path = self.tmp / f"key-{len(list(self.tmp.glob('key-*')))}"
        subprocess.run(
            ["ssh-keygen", "-q", "-t", "ed25519", "-N", passphrase, "-f", str(path)], check=True
        )
        return path.read_text()

    def __call__(self, key: str, action: str = "install") -> subprocess.CompletedProcess:
        return subprocess.run(
            ["bash", "-c", self.script, "backup-ssh", f"ACTION={action}"]
            + ["SFTP_HOST=10.0.5.20", "SFTP_PORT=2222", "SFTP_USER=restic", f"HOST_KEY={HOST_KEY}"],
            input=encode_secrets({"BACKUP_SSH_KEY": key}),
            capture_output=True,
            text=True,
            timeout=60,
            env={"PATH": f"{self.bin}:/usr/bin:/bin", "HOME": str(self.tmp)},
        )

    def installed(self) -> dict[str, str]:
        files = [self.tmp / "conf/ssh/id", self.tmp / "conf/ssh/known_hosts"]
        files.append(self.tmp / "ssh_config.d/portsip-im-backup.conf")
        return {f.name: f.read_text() for f in files if f.exists()}


@pytest.fixture
def step(tmp_path):
    return BackupSsh(tmp_path)


def test_installs_the_key_and_pin_for_that_server_only_and_a_second_run_writes_nothing(step):
    key = step.key()
    done = step(key)
    assert done.returncode == 0, done.stderr
    files = step.installed()
    assert files["id"] == key
    assert files["known_hosts"] == f"[10.0.5.20]:2222 {HOST_KEY}\n"
    conf = files["portsip-im-backup.conf"]
    assert "Match localuser root host 10.0.5.20" in conf
    assert "GlobalKnownHostsFile /dev/null" in conf and "StrictHostKeyChecking yes" in conf
    assert oct((step.tmp / "conf/ssh/id").stat().st_mode & 0o777) == "0o600"
    # The proof read no config file and offered only the staged key.
    probe = (step.tmp / "ssh.log").read_text().splitlines()[-1]
    assert probe.startswith("-F /dev/null") and "-l restic -s 10.0.5.20 sftp" in probe
    again = step(key)
    assert again.returncode == 0 and "wrote" not in again.stdout
    assert not (step.tmp / "conf/ssh/.staged").exists()


@pytest.mark.parametrize(
    ("ssh_says", "names"),
    [
        ("Host key verification failed.", "portsip-im:backupSshHostKey"),
        ("restic@10.0.5.20: Permission denied (publickey).", "portsip-im:backupSshKey"),
        ("ssh: connect to host 10.0.5.20 port 2222: Connection refused", "backupRepository"),
    ],
)
def test_a_new_key_that_does_not_log_in_changes_nothing(step, ssh_says, names):
    assert step(step.key()).returncode == 0
    before = step.installed()
    step.answer(ssh_says)
    done = step(step.key())
    assert done.returncode != 0
    assert names in done.stderr and ssh_says.split(": ")[-1] in done.stderr
    assert step.installed() == before  # the key in use is still the one in place
    assert not (step.tmp / "conf/ssh/.staged").exists()


def test_a_key_with_a_passphrase_is_refused(step):
    done = step(step.key("a pass phrase"))
    assert done.returncode != 0
    assert "usable without a passphrase" in done.stderr
    assert step.installed() == {}


def test_removal_takes_all_three_away(step):
    key = step.key()
    assert step(key).returncode == 0
    done = step(key, action="remove")
    assert done.returncode == 0 and "removed the SFTP key" in done.stdout
    assert step.installed() == {}
    assert "nothing to remove" in step(key, action="remove").stdout
