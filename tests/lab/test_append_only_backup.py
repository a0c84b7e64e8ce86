"""Backups the IM host cannot erase: a stack with backupAppendOnly against the vault's restic REST
server in append-only mode (`rest-server --append-only --no-auth`, the lab's private bridge only;
lab/provision.py). Each step exactly as the component builds it, over real SSH: the up succeeds, a
backup as the timer takes it is recorded `ok` with nothing forgotten or pruned, root on the IM
host cannot delete a snapshot (the server refuses restic's forget), and a restore from it works.
docs/backups.md: An append-only repository."""

from __future__ import annotations

import json
import re
import secrets
import shlex
import time

import pytest

from tests.lab.guide import Guide, lab_config
from tests.lab.test_backup import DISK_CHAT, FILES_CHAT, answers_soon, last_backup
from tests.lab.test_guide_steps import fresh

pytestmark = pytest.mark.lab

PASSWORD = "lab-append-only-password-" + secrets.token_hex(6)
CONF = "/etc/portsip-im-backup"


def append_only_config(lab, repo: str, **overrides: str) -> dict[str, str]:
    return lab_config(
        lab, backupRepository=repo, backupPassword=PASSWORD, backupAppendOnly="true", **overrides
    )


@pytest.fixture(scope="module")
def append_only(lab):
    """A deployed stack whose backups go to a fresh repository on the append-only rest-server;
    afterwards the IM host is reset (its timer with it) and the repository removed."""
    name = "im-" + secrets.token_hex(4)
    repo = f"{lab.vault_rest}{name}/"
    fresh(lab)
    guide = Guide(lab, append_only_config(lab, repo))
    guide.repo, guide.repo_dir = repo, f"/srv/rest-server/{name}"  # type: ignore[attr-defined]
    try:
        t0 = time.monotonic()
        guide.up()
        print(f"up_seconds={time.monotonic() - t0:.1f}")
        yield guide
    finally:
        lab.reset_im()
        lab.inside("vault", f"rm -rf {shlex.quote(guide.repo_dir)}")  # type: ignore[attr-defined]


def test_the_vault_serves_append_only_on_the_lab_bridge_only(lab):
    unit = lab.path("vault", "/etc/systemd/system/lab-rest-server.service").read_text()
    assert "--append-only --no-auth" in unit and f"--listen {lab.vault}:8000" in unit
    listening = lab.ssh("vault", "ss -Hltn", check=True).stdout.split("\n")
    ours = [line.split()[3] for line in listening if line.split() and ":8000" in line.split()[3]]
    assert ours == [f"{lab.vault}:8000"], listening
    assert lab.vault_rest == f"rest:http://{lab.vault}:8000/"


def test_up_installs_the_runner_without_retention(lab, append_only):
    said = append_only.transcript()
    assert "repository initialised" in said
    assert "append-only: nothing is forgotten or pruned from this host" in said
    lab.ssh("im", f"test -f {CONF}/append-only && test ! -e {CONF}/keep", check=True)
    assert lab.path("vault", f"{append_only.repo_dir}/config").exists()
    # once more: nothing to change, and it says so
    append_only.outputs.clear()
    append_only.run("backup", "update")
    said = append_only.transcript()
    assert "already initialised" in said and "wrote" not in said and "removed" not in said


def snapshots_on_the_vault(lab, guide) -> list[str]:
    return sorted(p.name for p in lab.path("vault", f"{guide.repo_dir}/snapshots").iterdir())


def test_backup_runs_are_recorded_ok_and_nothing_is_forgotten(lab, append_only):
    # Two runs the same day: the default keep rules (one a day) would forget the first, so a run
    # that still asked for that would be refused by the server and recorded failed.
    for _ in range(2):
        chat, files = "chat-" + secrets.token_hex(8), "file-" + secrets.token_hex(8)
        lab.ssh("im", f"echo {chat} > {DISK_CHAT} && echo {files} > {FILES_CHAT}", check=True)
        lab.ssh("im", "systemctl start portsip-im-backup.service", check=True, timeout=300)
        last = last_backup(lab)
        assert last["status"] == "ok", last
        assert re.fullmatch("[0-9a-f]{8,64}", last["snapshot"])
        assert "pruning is left to the repository's owner" in last["message"]
        print(f"backup_seconds={last['seconds']}")
    taken = snapshots_on_the_vault(lab, append_only)
    assert len(taken) == 2 and any(s.startswith(last["snapshot"]) for s in taken), taken
    journal = lab.ssh("im", "journalctl -u portsip-im-backup --no-pager", check=True).stdout
    assert "append-only repository: nothing forgotten or pruned from this host" in journal
    assert "retention applied" not in journal
    assert answers_soon(lab)
    append_only.chat, append_only.files = chat, files  # type: ignore[attr-defined]
    append_only.snapshot = last["snapshot"]  # type: ignore[attr-defined]


def test_root_on_the_im_host_cannot_delete_a_snapshot(lab, append_only):
    snapshot = append_only.snapshot  # type: ignore[attr-defined]
    before = snapshots_on_the_vault(lab, append_only)
    assert len(before) == 2 and any(s.startswith(snapshot) for s in before), before
    # The host's own settings, as root: what an intruder there would use.
    env = (
        f"RESTIC_REPOSITORY=$(cat {CONF}/repository) RESTIC_PASSWORD_FILE={CONF}/password "
        f"RESTIC_CACHE_DIR=/var/lib/portsip-im-backup/cache"
    )
    restic = f"{env} restic"
    t0 = time.monotonic()
    # restic 0.14 retries a refused delete for about 45 s, and cannot be told not to: its first
    # refusal is proof enough, then it is stopped as ^C stops it (it lets go of its lock).
    done = lab.ssh("im", f"{env} timeout -s INT 15 restic forget {snapshot}", timeout=300)
    print(f"refused_forget_seconds={time.monotonic() - t0:.1f}")
    assert done.returncode != 0, done.stdout
    assert "403 Forbidden" in done.stderr, done.stderr[-2000:]
    assert snapshots_on_the_vault(lab, append_only) == before
    listed = lab.ssh("im", f"{restic} snapshots --json", check=True).stdout
    assert sorted(s["id"] for s in json.loads(listed)) == before


def test_a_restore_from_it_gives_the_data_back(lab, append_only):
    lab.ssh("im", f"echo lost > {DISK_CHAT} && rm -f {FILES_CHAT}", check=True)
    append_only.config = append_only_config(lab, append_only.repo, restoreSnapshot="latest")
    done = append_only.run("restore")
    assert "restored snapshot latest" in done.stdout
    chat = lab.ssh("im", f"cat {DISK_CHAT}", check=True).stdout.strip()
    assert chat == append_only.chat  # type: ignore[attr-defined]
    files = lab.ssh("im", f"cat {FILES_CHAT}", check=True).stdout.strip()
    assert files == append_only.files  # type: ignore[attr-defined]
    assert answers_soon(lab)
    # the restore deleted nothing on the server either
    assert len(snapshots_on_the_vault(lab, append_only)) == 2


def test_no_backup_secret_in_argv_logs_or_outputs(lab, append_only):
    said = append_only.transcript()
    logged = "\n".join(lab.commands("im") + lab.commands("pbx01") + lab.argv_log("im"))
    journal = lab.ssh("im", "journalctl -u portsip-im-backup --no-pager", check=True).stdout
    for where, text in (("output", said), ("argv", logged), ("journal", journal)):
        assert PASSWORD not in text, where
