"""Backups of the IM data, over real SSH in the lab, each step exactly as the component builds it:
the backup step installs restic's timer on the IM host; a backup taken as the timer takes it is
restored onto a wiped data disk after `im.sh rm`, and the data is back; a failing backup stops an
upgrade (unless upgradeWithoutBackup); no backup secret in any command line or output.

The lab's repository is a local path on the IM host's root file system (outside the data disk),
so it survives the wipe; see docs/lab.md."""

from __future__ import annotations

import calendar
import json
import re
import secrets
import subprocess
import threading
import time

import pytest

from tests.lab.guide import Guide, lab_config
from tests.lab.test_guide_steps import counters, fresh

pytestmark = pytest.mark.lab

REPO = "/var/backups/portsip-im"
PASSWORD = "lab-restic-password-" + secrets.token_hex(6)
ENV_SECRET = "lab-repo-credential-" + secrets.token_hex(6)
DISK_CHAT = "/var/lib/portsip/im-data/chat-history.txt"
FILES_CHAT = "/data/im/shared-file.txt"


def answers_soon(lab, seconds: float = 20) -> bool:
    """IM answers on 8887 within `seconds` (the runner returns once systemd has started it)."""
    deadline = time.monotonic() + seconds
    while not lab.tcp_open("im", 8887):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.5)
    return True


def backup_config(lab, **overrides: str) -> dict[str, str]:
    return lab_config(
        lab,
        backupRepository=REPO,
        backupPassword=PASSWORD,
        backupEnv=json.dumps({"LAB_REPOSITORY_TOKEN": ENV_SECRET}),
        **overrides,
    )


def last_backup(lab) -> dict:
    done = lab.ssh("im", "cat /var/lib/portsip-im-backup/last.json", check=True)
    return json.loads(done.stdout)


@pytest.fixture(scope="module")
def backed_up(lab):
    fresh(lab)
    guide = Guide(lab, backup_config(lab))
    guide.up()
    return guide


def test_the_backup_step_installs_a_timer_and_a_root_only_config(lab, backed_up):
    lab.ssh("im", "systemctl is-enabled portsip-im-backup.timer", check=True)
    lab.ssh("im", "systemctl is-active portsip-im-backup.timer", check=True)
    unit = lab.ssh("im", "cat /etc/systemd/system/portsip-im-backup.timer", check=True).stdout
    assert "OnCalendar=daily" in unit and "Persistent=true" in unit
    modes = lab.ssh(
        "im", "stat -c '%a %U %n' /etc/portsip-im-backup /etc/portsip-im-backup/*", check=True
    ).stdout.split("\n")
    assert modes[0].startswith("700 root ")
    assert all(m.startswith("600 root ") for m in modes[1:] if m)
    lab.ssh("im", f"test -f {REPO}/config", check=True)  # restic init ran
    # No backup yet: on a rebuilt host that would put an empty snapshot before "latest".
    assert lab.ssh("im", "test -e /var/lib/portsip-im-backup/last.json").returncode != 0
    said = backed_up.transcript()
    assert "repository initialised" in said and "timer enabled" in said


def test_the_backup_step_again_changes_nothing(lab, backed_up):
    backed_up.outputs.clear()
    backed_up.run("backup", "update")
    said = backed_up.transcript()
    assert "already initialised" in said and "wrote" not in said and "installed" not in said


def test_backup_then_wiped_disk_then_restore_gives_the_data_back(lab, backed_up):
    chat, files = "chat-" + secrets.token_hex(8), "file-" + secrets.token_hex(8)
    lab.ssh("im", f"echo {chat} > {DISK_CHAT} && echo {files} > {FILES_CHAT}", check=True)
    # A backup as the timer takes it; IM is stopped for it and running again afterwards.
    lab.ssh("im", "systemctl start portsip-im-backup.service", check=True, timeout=300)
    last = last_backup(lab)
    assert last["status"] == "ok" and re.fullmatch("[0-9a-f]{8,64}", last["snapshot"])
    assert last["bytes"] > 0
    assert answers_soon(lab)
    print(f"backup_seconds={last['seconds']}")
    # The host's own list (scripts/lab writes it) named the stand-in: it was stopped for the copy.
    journal = lab.ssh("im", "journalctl -u portsip-im-backup --no-pager", check=True).stdout
    assert "consistent copy (unit:portsip-im-standin.service)" in journal, journal[-2000:]

    # The disaster: im.sh rm, then a blank data disk (as a new volume would be).
    backed_up.run("deploy", "delete")
    lab.ssh(
        "im",
        f"umount /data/im && umount /var/lib/portsip && wipefs -qa {lab.im_data_disk} && "
        f"dd if=/dev/zero of={lab.im_data_disk} bs=1M count=8 conv=fsync status=none && "
        # As on a new VM, no fstab entry for the old disk. (In a container without udev, the
        # mount unit systemd made from it would unmount the new disk at once: a lab artefact.)
        "sed -i '\\# /var/lib/portsip #d' /etc/fstab && systemctl daemon-reload",
        check=True,
    )
    said = backed_up.run("prepare").stdout  # formats the blank disk, mounts it, storage on it
    assert "formatted blank" in said
    mounted = lab.ssh("im", "findmnt -no SOURCE /var/lib/portsip", check=True).stdout.strip()
    assert mounted == lab.im_data_disk, said
    backed_up.run("deploy")  # im.sh run: a fresh, empty IM server
    assert lab.ssh("im", f"test -e {DISK_CHAT}").returncode != 0
    before = counters(lab)

    backed_up.config = backup_config(lab, restoreSnapshot="latest")
    done = backed_up.run("restore")
    assert "restored snapshot latest" in done.stdout
    took = re.search(r"in (\d+) s", done.stdout)
    print(f"restore_seconds={took.group(1) if took else '?'}")
    assert lab.ssh("im", f"cat {DISK_CHAT}", check=True).stdout.strip() == chat
    assert lab.ssh("im", f"cat {FILES_CHAT}", check=True).stdout.strip() == files
    assert (
        lab.ssh("im", "findmnt -no SOURCE /data/im", check=True)
        .stdout.strip()
        .endswith("[/storage]")
    )
    assert answers_soon(lab)
    assert counters(lab) == before  # the restore ran no vendor verb
    health = json.loads(backed_up.run("health").stdout.strip().splitlines()[-1])
    assert health["imPort8887"] == "open"
    assert health["lastBackup"]["status"] == "ok"
    assert health["lastBackup"]["snapshot"] == last["snapshot"]
    # Unsetting it restores nothing.
    backed_up.config = backup_config(lab)
    assert "none asked" in backed_up.run("restore").stdout


def test_a_failing_backup_stops_the_upgrade(lab, backed_up):
    lab.ssh("im", f"mv {REPO} {REPO}.away", check=True)  # the repository is unreachable
    try:
        before = counters(lab)
        backed_up.config = backup_config(lab, imRelease="22.1")
        done = backed_up.run("upgrade", "update", check=False)
        assert done.returncode != 0
        assert "the backup before the upgrade failed, so im.sh upgrade was not run" in done.stderr
        assert counters(lab) == before
        assert last_backup(lab)["status"] == "failed"
        assert answers_soon(lab)  # IM was started again after the failed backup

        backed_up.config = backup_config(lab, imRelease="22.1", upgradeWithoutBackup="true")
        done = backed_up.run("upgrade", "update")
        assert "THE BACKUP BEFORE THE UPGRADE FAILED; upgrading anyway" in done.stderr
        assert counters(lab) == {**before, "upgrade": before["upgrade"] + 1}
    finally:
        lab.ssh("im", f"mv {REPO}.away {REPO}", check=True)
    before = counters(lab)
    backed_up.config = backup_config(lab, imRelease="22.2")
    done = backed_up.run("upgrade", "update")
    assert "backup before the upgrade: snapshot" in done.stdout
    assert counters(lab) == {**before, "upgrade": before["upgrade"] + 1}
    assert last_backup(lab)["status"] == "ok"


def backup_service_state(lab) -> str:
    done = lab.ssh("im", "systemctl show -p ActiveState --value portsip-im-backup.service")
    return done.stdout.strip()


def test_a_backup_due_during_an_im_verb_waits_for_it(lab, backed_up):
    # The stand-in's im.sh takes 8 s per verb: long enough to start the timer's backup inside it.
    delay = lab.path("pbx01", "/opt/portsip-pbx-ha-guide/.delay")
    delay.write_text("8\n")
    backed_up.config = backup_config(lab, restartToken="while-a-backup-is-due")
    # The step as the component renders it (the mocks need this thread), run over SSH in another.
    step = backed_up.steps()["restart"]
    ssh = [*backed_up._ssh(step.inputs["connection"]), step.inputs["update"]]
    verb: dict[str, object] = {}

    def run_verb() -> None:
        verb["done"] = subprocess.run(
            ssh, input=step.inputs.get("stdin", ""), capture_output=True, text=True, timeout=300
        )

    thread = threading.Thread(target=run_verb)
    try:
        thread.start()
        deadline = time.monotonic() + 30
        while lab.ssh("im", "pgrep -f 'portsip-im-backup hold'").returncode != 0:
            assert time.monotonic() < deadline, "the verb never held the IM host's backups"
            time.sleep(0.3)
        lab.ssh("im", "systemctl start --no-block portsip-im-backup.service", check=True)
        time.sleep(3)
        # Due, but waiting on the lock: it has not stopped IM under the verb.
        assert backup_service_state(lab) == "activating"
        assert lab.ssh("im", "systemctl is-active portsip-im-standin.service").returncode == 0
        thread.join(timeout=120)
    finally:
        delay.unlink(missing_ok=True)
        thread.join(timeout=120)
    done = verb["done"]
    assert isinstance(done, subprocess.CompletedProcess) and done.returncode == 0, done
    assert "backups on the IM host wait for this im.sh verb" in done.stdout
    verb_ended = time.time()
    deadline = time.monotonic() + 120
    while backup_service_state(lab) in ("active", "activating"):
        assert time.monotonic() < deadline, "the waiting backup never ran"
        time.sleep(0.5)
    record = last_backup(lab)
    assert record["status"] == "ok", record
    # It ran once the verb let go: its record is from after the verb (to the second).
    ran = calendar.timegm(time.strptime(record["time"], "%Y-%m-%dT%H:%M:%SZ"))
    assert ran >= verb_ended - 2
    assert lab.ssh("im", "pgrep -f 'portsip-im-backup hold'").returncode != 0


def test_no_backup_secret_in_argv_logs_or_outputs(lab, backed_up):
    said = backed_up.transcript()
    logged = "\n".join(lab.commands("im") + lab.commands("pbx01"))
    # check=True: a journal that cannot be read must fail the test, not pass it with nothing read.
    journal = lab.ssh("im", "journalctl -u portsip-im-backup --no-pager", check=True).stdout
    assert "portsip-im-backup" in journal, "the journal holds no backup run to check"
    result = lab.ssh("im", "cat /var/lib/portsip-im-backup/*.json*", check=True).stdout
    for secret in (PASSWORD, ENV_SECRET):
        for where, text in (("output", said), ("argv", logged), ("journal", journal)):
            assert secret not in text, where
        assert secret not in result
    # The credentials reached restic's environment file, root-only.
    env = lab.ssh("im", "cut -f1 /etc/portsip-im-backup/env", check=True).stdout.split()
    assert env == ["LAB_REPOSITORY_TOKEN"]
