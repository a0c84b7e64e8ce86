"""The vault: a real sshd the IM host's root backs up to with restic (an `sftp:` repository).

Its user restic logs in with the lab's backup key and gets sshd's own SFTP server and nothing
else (no shell, no forwarding, no terminal); root on the vault still runs commands through the
command log. Every client below runs on the IM host, with the vault's host key pinned."""

from __future__ import annotations

import json
import os
import shlex
import stat
import subprocess
import uuid

import pytest

pytestmark = pytest.mark.lab

DIR = "/root/.lab-vault-test"  # on the IM host: the backup key and the vault's pinned key
KEY = f"{DIR}/backup_ssh_key"
KNOWN = f"{DIR}/known_hosts"


@pytest.fixture(scope="module")
def client(lab):
    """The backup key and the vault's pinned host key on the IM host, removed afterwards."""
    key = open(lab.backup_ssh_key).read()
    lab.ssh(
        "im",
        f"umask 077 && mkdir -p {DIR} && cat >{KEY} && "
        f"echo {shlex.quote(f'{lab.vault} {lab.vault_host_key}')} >{KNOWN}",
        input=key,
        check=True,
    )
    yield
    lab.ssh("im", f"rm -rf {DIR}", check=True)
    assert lab.ssh("im", f"test ! -e {DIR}").returncode == 0


PINNED = ["-i", KEY, "-o", f"UserKnownHostsFile={KNOWN}", "-o", "StrictHostKeyChecking=yes"]


def vault_ssh(lab) -> list[str]:
    """ssh from the IM host to restic@vault: the backup key, the vault's key pinned, no prompt."""
    return ["ssh", *PINNED, "-o", "BatchMode=yes", f"restic@{lab.vault}"]


@pytest.fixture
def scratch(lab):
    """A fresh name under /srv/restic on the vault; whatever the test put there is removed."""
    name = f"probe-{uuid.uuid4().hex[:8]}"
    yield name
    lab.inside("vault", f"rm -rf /srv/restic/{name}")


def test_backup_key_and_vault_facts(lab):
    key = lab.backup_ssh_key
    assert stat.S_IMODE(os.stat(key).st_mode) == 0o600
    # a private key that works without a passphrase (what restic's ssh needs)
    subprocess.run(["ssh-keygen", "-y", "-P", "", "-f", key], check=True, capture_output=True)
    pub = open(f"{key}.pub").read().split()
    assert pub[0] == "ssh-ed25519" and pub[2] == "portsip-im-lab-backup"
    assert lab.path("vault", "/srv/restic/.ssh/authorized_keys").read_text().split()[:2] == pub[:2]
    assert lab.vault_host_key.startswith("ssh-ed25519 AAAA")
    assert lab.host_key_now("vault") == lab.vault_host_key
    scan = subprocess.run(
        ["ssh-keyscan", "-T", "5", "-t", "ed25519", lab.vault],
        capture_output=True,
        text=True,
        timeout=30,
    ).stdout
    assert lab.vault_host_key in scan
    assert f"{lab.vault},vault {lab.vault_host_key}" in open(lab.known_hosts).read()


def test_restic_user_uses_sftp_from_the_im_host(lab, client, scratch):
    batch = (
        f"mkdir /srv/restic/{scratch}\n"
        f"put /etc/hostname /srv/restic/{scratch}/from-im\n"
        f"ls -l /srv/restic/{scratch}\n"
    )
    sftp = ["sftp", *PINNED, "-b", "-", f"restic@{lab.vault}"]
    p = lab.ssh("im", shlex.join(sftp), input=batch)
    assert p.returncode == 0, p.stderr
    assert "from-im" in p.stdout
    put = lab.path("vault", f"/srv/restic/{scratch}/from-im")
    assert put.read_text() == "im\n"
    restic = lab.path("vault", "/srv/restic")
    assert (put.stat().st_uid, put.stat().st_gid) == (restic.stat().st_uid, restic.stat().st_gid)
    assert restic.stat().st_uid != 0 and stat.S_IMODE(restic.stat().st_mode) == 0o700


def test_restic_user_gets_no_shell(lab, client):
    p = lab.ssh("im", shlex.join([*vault_ssh(lab), "id"]), timeout=60)
    assert "uid=" not in p.stdout, p.stdout
    # What sshd applies to each: restic is held to SFTP, root keeps the command log.
    im_addr = f"host=im,addr={lab.im}"
    restic = lab.ssh("vault", f"sshd -T -C user=restic,{im_addr}", check=True).stdout
    for line in (
        "forcecommand internal-sftp",
        "allowtcpforwarding no",
        "x11forwarding no",
        "permittty no",
    ):
        assert line in restic.splitlines(), line
    root = lab.ssh("vault", f"sshd -T -C user=root,{im_addr}", check=True).stdout
    assert "forcecommand /usr/local/sbin/lab-cmdlog" in root.splitlines()
    # the Match block did not take in sshd_config's global lines after the Include
    assert "subsystem sftp /usr/lib/openssh/sftp-server" in root.splitlines()


def test_root_on_the_vault_still_runs_commands_through_the_log(lab):
    marker = f"echo {uuid.uuid4().hex}"
    p = lab.ssh("vault", f"hostname; {marker} >/dev/null")
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() == "vault"
    assert lab.commands("vault", user="root")[-1] == f"hostname; {marker} >/dev/null"
    assert lab.ssh("vault", "id pbx").returncode != 0  # no stand-ins here


def test_restic_sftp_repository_on_the_vault(lab, client, scratch):
    repo = f"sftp:restic@{lab.vault}:/srv/restic/{scratch}"
    command = shlex.join([*vault_ssh(lab), "-s", "sftp"])
    restic = shlex.join(["restic", "--no-cache", "-r", repo, "-o", f"sftp.command={command}"])
    script = (
        "set -e\nread -r RESTIC_PASSWORD\nexport RESTIC_PASSWORD\n"  # never in a command line
        f"{restic} init\n{restic} backup --quiet /etc/hostname\n{restic} snapshots --json\n"
    )
    password = f"lab-vault-{uuid.uuid4().hex}"
    p = lab.ssh("im", script, input=password + "\n", timeout=300)
    assert p.returncode == 0, p.stderr
    snapshots = json.loads(p.stdout.strip().splitlines()[-1])
    assert [s["paths"] for s in snapshots] == [["/etc/hostname"]]
    config = lab.path("vault", f"/srv/restic/{scratch}/config")
    assert (
        config.exists() and config.stat().st_uid == lab.path("vault", "/srv/restic").stat().st_uid
    )
    assert not any(password in c for c in lab.commands("im"))
