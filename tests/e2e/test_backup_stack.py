"""Backups through the real engine (scripts/lab-stack, the real command provider) against the lab,
to a repository on another host: the lab's SFTP server `vault`, reached with the stack's own key
(backupSshKey) and its pinned host key (backupSshHostKey). An up installs the key and the backup
and restore steps with no backup secret in any process's argv; a second up runs 0 remote
commands; a restore is `restoreSnapshot=latest` and `pulumi up`, docs/backups.md's restore
command; a failing backup stops an `imRelease` upgrade and the next up, the repository back,
upgrades; after a real disaster (the whole IM host lost: its root file system and its data disk,
then rebuilt blank at the same address) docs/backups.md's "The IM host is lost" (destroy, then an
up with restoreSnapshot) gives the data back from the vault, also when the new host has SSH host
keys of its own (destroy --continue-on-error, state delete of the refused steps, the new key);
the state, engine output and the hosts' command logs hold neither the backup password, nor a
backupEnv credential, nor the SFTP key."""

from __future__ import annotations

import json
import re
import secrets
import shutil

import pytest

from tests.e2e.stack import counters, fresh_stack, process_sampler, remote_commands

pytestmark = [pytest.mark.e2e, pytest.mark.lab]

REPOSITORY = "/srv/restic/portsip-im"  # on the vault, the SFTP user's home
CHAT = "/var/lib/portsip/im-data/chat-history.txt"
LAST = "/var/lib/portsip-im-backup/last.json"
FILES = "/data/im/shared-file.txt"  # storagePath, a directory on the data disk


# A repository credential as an S3 repository would need (the local repository ignores it): it
# must be as absent as the password from argv, state, engine output and the hosts' logs.
CREDENTIAL = "e2e-secret-access-key-" + secrets.token_hex(8)


def on_vault(lab, script: str, check: bool = True):
    return lab.ssh("vault", script, check=check)


@pytest.fixture(scope="module")
def stack(lab, tmp_path_factory):
    on_vault(lab, f"rm -rf {REPOSITORY}")
    with fresh_stack(lab, tmp_path_factory.mktemp("e2e-backup")) as s:
        s.set["backupRepository"] = f"sftp:restic@{lab.vault}:{REPOSITORY}"
        s.set["backupSshHostKey"] = lab.vault_host_key
        s.dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        env = s.dir / "backup-env"
        env.write_text(json.dumps({"AWS_SECRET_ACCESS_KEY": CREDENTIAL}))
        env.chmod(0o600)
        shutil.copy(lab.backup_ssh_key, s.dir / "backup-ssh-key")
        (s.dir / "backup-ssh-key").chmod(0o600)
        s.remember_secrets()
        yield s
    on_vault(lab, f"rm -rf {REPOSITORY}", check=False)


def backed_up_chat(lab) -> tuple[str, str]:
    """A new chat line in the IM data and its shared files, then a backup as the timer runs it:
    the line and the snapshot that holds it."""
    chat = "chat-" + secrets.token_hex(8)
    lab.ssh("im", f"echo {chat} > {CHAT} && echo {chat} > {FILES}", check=True)
    lab.ssh("im", "systemctl start portsip-im-backup.service", check=True, timeout=300)
    return chat, json.loads(lab.ssh("im", f"cat {LAST}", check=True).stdout)["snapshot"]


LOST = "/home/pbx/.portsip-im/im-host-lost-"


def mark_lost(lab) -> None:
    """docs/backups.md: the operator's word on pbx01 that the IM host was lost."""
    lab.ssh("pbx01", f"sudo -u pbx touch {LOST}{lab.im}", check=True)


def exported(stack) -> list[dict]:
    """The resources in the stack's state."""
    state = json.loads(stack("pulumi", "stack", "export").stdout)
    return state["deployment"].get("resources") or []


def backup_password(stack) -> str:
    return (stack.dir / "backup-password").read_text().strip()


def backup_secrets(stack) -> list[str]:
    key = (stack.dir / "backup-ssh-key").read_text().splitlines()
    return [backup_password(stack), CREDENTIAL, *(k for k in key if not k.startswith("-----"))]


class TestBackupStack:
    def test_up_installs_the_backup_with_no_secret_in_any_argv(self, lab, stack):
        with process_sampler() as argv:
            out = stack("up").stdout
        assert "17 created" in out, out
        lab.ssh("im", "systemctl is-enabled portsip-im-backup.timer", check=True)
        # The repository is on the vault, not on the host it protects.
        on_vault(lab, f"test -f {REPOSITORY}/config")
        assert "backup-ssh: root logs in to restic@" in out
        for secret in backup_secrets(stack):
            assert not [a for a in argv if secret in a]
        assert stack.outputs()["imHealth"]["lastBackup"] == "none"
        # The credential reached the IM host, root-only, for restic's environment.
        names = lab.ssh("im", "cut -f1 /etc/portsip-im-backup/env", check=True).stdout.split()
        assert names == ["AWS_SECRET_ACCESS_KEY"]

    def test_second_up_runs_no_remote_command(self, lab, stack):
        before = remote_commands(lab)
        out = stack("up").stdout
        assert "17 unchanged" in out, out
        assert remote_commands(lab) == before

    def test_restore_is_a_config_value_and_pulumi_up(self, lab, stack):
        chat = "chat-" + secrets.token_hex(8)
        lab.ssh("im", f"echo {chat} > {CHAT}", check=True)
        lab.ssh("im", "systemctl start portsip-im-backup.service", check=True, timeout=300)
        lab.ssh("im", f"echo lost > {CHAT}", check=True)
        before = counters(lab)
        stack.set["restoreSnapshot"] = "latest"
        stack("up")
        assert lab.ssh("im", f"cat {CHAT}", check=True).stdout.strip() == chat
        assert counters(lab) == before  # no vendor verb
        assert lab.tcp_open("im", 8887)
        assert stack.outputs()["imHealth"]["lastBackup"]["status"] == "ok"
        # Unset: the step is replaced by one that restores nothing; the data stays.
        del stack.set["restoreSnapshot"]
        stack("up")
        assert lab.ssh("im", f"cat {CHAT}", check=True).stdout.strip() == chat
        before = remote_commands(lab)
        assert "17 unchanged" in stack("up").stdout
        assert remote_commands(lab) == before

    def test_a_failing_backup_blocks_the_upgrade_and_the_next_up_completes(self, lab, stack):
        before = counters(lab)
        # The repository gone (moved away on the server): the backup before the upgrade fails.
        on_vault(lab, f"mv {REPOSITORY} {REPOSITORY}.away")
        stack.set["imRelease"] = "22.1-backup-test"
        try:
            done = stack("up", ok=False)
        finally:
            on_vault(lab, f"mv {REPOSITORY}.away {REPOSITORY}")
        assert "so im.sh upgrade was not run" in done.stdout + done.stderr
        assert counters(lab) == before  # no upgrade, no other verb
        # The host recorded the failure. imHealth is what the last completed change saw: the up
        # stopped before the health step, so the output still shows the earlier good backup (stale,
        # as docs/backups.md says); scripts/status reads the live record and names the failure.
        live = json.loads(lab.ssh("im", f"cat {LAST}", check=True).stdout)
        assert live["status"] == "failed"
        assert stack.outputs()["imHealth"]["lastBackup"]["status"] == "ok"
        status = stack("status", "--json", ok=None)
        assert status.returncode == 1, status.stdout + status.stderr
        problems = json.loads(status.stdout)["problems"]
        assert any(p.startswith("the last backup failed (") for p in problems), problems
        stack("up")
        assert counters(lab) == {**before, "upgrade": before["upgrade"] + 1}
        assert lab.tcp_open("im", 8887)

    def test_disaster_then_the_readmes_restore_onto_a_blank_host(self, lab, stack):
        # What the operator has: a backup taken by the timer, and this stack's config.
        chat, snapshot = backed_up_chat(lab)
        # The disaster: the whole IM host is lost, its root file system and its data disk, and a
        # new one is built blank at the same address (the lab's image: no pbx user, no IM, no
        # backup settings, nothing of the stack).
        lab.reset_im()
        assert lab.ssh("im", f"test -e {CHAT} || id pbx").returncode != 0
        assert lab.ssh("im", "test -e /etc/portsip-im-backup/repository").returncode != 0
        # docs/backups.md, "The IM host is lost": destroy stops at im.sh rm (pbx01 cannot log in
        # there) and names the marker; with it, destroy forgets the deployment; then an up with
        # restoreSnapshot builds the host (prepare formats the disk, deploy runs im.sh run, the
        # backup step opens the vault's repository, the restore puts the data back).
        before = counters(lab)
        stopped = stack("destroy", ok=False)
        assert f"touch {LOST}{lab.im}" in stopped.stdout + stopped.stderr
        mark_lost(lab)
        stack("destroy")
        assert counters(lab) == before  # no im.sh verb ran on the lost host
        lab.ssh("pbx01", "test ! -e /home/pbx/.portsip-im/deployed", check=True)  # forgotten
        stack.set.pop("imRelease", None)
        stack.set["restoreSnapshot"] = "latest"
        stack("up")
        mounted = lab.ssh("im", "findmnt -no SOURCE /var/lib/portsip", check=True).stdout.strip()
        assert mounted == lab.im_data_disk  # prepare formatted and mounted the blank disk
        assert lab.ssh("im", f"cat {CHAT}", check=True).stdout.strip() == chat
        assert lab.ssh("im", f"cat {FILES}", check=True).stdout.strip() == chat
        assert lab.tcp_open("im", 8887)
        assert counters(lab) == {**before, "run": before["run"] + 1}  # im.sh run, nothing else
        health = stack.outputs()["imHealth"]
        assert health["imPort8887"] == "open"
        # The new host has taken no backup yet; the old host's snapshot is still in the vault.
        assert health["lastBackup"] == "none"
        listed = lab.ssh("im", "portsip-im-backup snapshots", check=True, timeout=120).stdout
        assert snapshot[:8] in listed
        # ...and the new host backs up to the same repository.
        lab.ssh("im", "systemctl start portsip-im-backup.service", check=True, timeout=300)
        assert json.loads(lab.ssh("im", f"cat {LAST}", check=True).stdout)["status"] == "ok"

    def test_a_lost_host_back_with_other_host_keys(self, lab, stack):
        # The same disaster, but the new server made SSH host keys of its own (a reinstall): the
        # steps that log in to it refuse it, and docs/backups.md's way around them is taken.
        chat, snapshot = backed_up_chat(lab)
        lab.reset_im()
        lab.plant("im-new-host-key")
        before = counters(lab)
        mark_lost(lab)  # the operator knows the host was rebuilt
        refused: set[str] = set()
        for _ in range(5):
            done = stack("pulumi", "destroy", "--continue-on-error", "--yes", ok=None)
            if done.returncode == 0:
                break
            failed = set(re.findall(r"(im-[a-z0-9-]+) \*\*deleting failed\*\*", done.stdout))
            assert failed, done.stdout + done.stderr
            # Each refused at its first dial, with the reason (docs/steps.md: A refused step),
            # not after 40 dials ending in `handshake failed: EOF`.
            said = done.stdout + done.stderr
            assert "after 0 failed attempts: ssh: handshake failed: ssh: host key mismatch" in said
            assert "handshake failed: EOF" not in said, said
            refused |= failed
            urns = [r["urn"] for r in exported(stack) if r["urn"].split("::")[-1] in failed]
            stack("pulumi", "state", "delete", "--yes", *urns)
        else:
            pytest.fail("destroy --continue-on-error did not complete in 5 rounds")
        # Only the steps that log in to the IM host itself were refused (the host key), and
        # im.sh ran nowhere.
        assert refused == {"im-backup", "im-backup-ssh", "im-trust"}, refused
        assert exported(stack) == []
        assert counters(lab) == before
        stack.set["imHostKey"] = lab.host_key_now("im")
        stack.set["restoreSnapshot"] = snapshot
        stack("up")
        assert lab.inside("im", f"cat {CHAT}").stdout.strip() == chat
        assert counters(lab) == {**before, "run": before["run"] + 1}
        assert stack.outputs()["imHealth"]["imPort8887"] == "open"
        lab.inside("im", "systemctl start portsip-im-backup.service")  # backs up again

    def test_state_engine_output_and_command_logs_hold_no_backup_secret(self, lab, stack):
        exported = stack("pulumi", "stack", "export").stdout
        logs = "\n".join(lab.commands("pbx01") + lab.commands("im") + lab.commands("vault"))
        # (lab.inside: the IM host has host keys of its own now, which the lab does not pin)
        journal = lab.inside("im", "journalctl -u portsip-im-backup --no-pager").stdout
        result = lab.inside("im", "cat /var/lib/portsip-im-backup/*.json*").stdout
        assert '"status": "ok"' in result
        for secret in backup_secrets(stack):
            for where, text in (
                ("state", exported),
                ("engine output", "\n".join(stack.transcript)),
                ("the hosts' command logs", logs),
                ("the backup's journal", journal),
                ("the backup's results", result),
            ):
                assert secret not in text, f"a backup secret in {where}"

    def test_destroy_stops_the_timer_removes_the_key_and_keeps_the_repository(self, lab, stack):
        stack("destroy")
        lab.inside("im", "! systemctl is-enabled -q portsip-im-backup.timer")  # (checked)
        for gone in ("/etc/portsip-im-backup/ssh", "/etc/ssh/ssh_config.d/portsip-im-backup.conf"):
            lab.inside("im", f"test ! -e {gone}")
        on_vault(lab, f"test -f {REPOSITORY}/config")
