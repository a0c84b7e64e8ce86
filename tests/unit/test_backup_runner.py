"""The IM host's backup runner (portsip_im/scripts/backup-lib.sh) on this machine with a real restic
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

from portsip_im.remote import SCRIPTS


def test_restic_is_installed():
    assert shutil.which("restic"), "restic is missing: scripts/setup --dev installs it"


@pytest.fixture
def runner(tmp_path):
    # It runs as root on the IM host (chown --reference, the lock under /var/lib); so do the lab
    # tests, and CI runs as root.
    if os.geteuid() != 0:
        pytest.fail("the backup runner's tests need root, as the lab's do", pytrace=False)
    lib = (SCRIPTS / "backup-lib.sh").read_text()
    lib = lib.replace("/etc/portsip-im-backup", str(tmp_path / "conf"))
    lib = lib.replace("/var/lib/portsip-im-backup", str(tmp_path / "state"))
    lib = lib.replace("/etc/fstab", str(tmp_path / "fstab"))
    # docker and systemctl are stand-ins that log what they are asked (the machine's own
    # services are never touched): three running containers; STOP_FAILS names one that won't stop.
    stubs = tmp_path / "bin"
    stubs.mkdir()
    (stubs / "docker").write_text(
        "#!/bin/sh\n"
        f'echo "docker $*" >>"{tmp_path}/services.log"\n'
        'case "$1" in inspect) echo true ;; stop) [ "$4" != "${STOP_FAILS:-}" ] || exit 1 ;; esac\n'
    )
    # systemctl: the units in ACTIVE_UNITS are running.
    (stubs / "systemctl").write_text(
        f'#!/bin/sh\necho "systemctl $*" >>"{tmp_path}/services.log"\n'
        'case "$1" in is-active)\n'
        '  case " ${ACTIVE_UNITS:-} " in *" $3 "*) exit 0 ;; esac; exit 1 ;;\nesac\n'
    )
    # df reports DF_AVAIL bytes free when set (a nearly full data disk), else the real figure.
    (stubs / "df").write_text(
        '#!/bin/sh\n[ -n "${DF_AVAIL:-}" ] || exec /usr/bin/df "$@"\n'
        "printf 'Avail\\n%s\\n' \"$DF_AVAIL\"\n"
    )
    for stub in stubs.iterdir():
        stub.chmod(0o755)
    lib = lib.replace("export PATH=/usr/local/sbin", f"export PATH={stubs}:/usr/local/sbin")
    (tmp_path / "fstab").write_text("")
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

    def run(
        *args: str,
        init: bool = False,
        stop_fails: str = "",
        df_avail: str = "",
        active_units: str = "",
    ) -> subprocess.CompletedProcess:
        script = f'set -euo pipefail\n. "{tmp_path}/lib.sh"\n'
        if init:
            script += "pib_init; pib_env; restic init >/dev/null\n"
        script += 'pib_main "$@"\n'
        return subprocess.run(
            ["bash", "-c", script, "portsip-im-backup", *args],
            capture_output=True,
            text=True,
            timeout=120,
            env={
                "PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
                "HOME": str(tmp_path),
                "STOP_FAILS": stop_fails,
                "DF_AVAIL": df_avail,
                "ACTIVE_UNITS": active_units,
            },
        )

    run.data = data  # type: ignore[attr-defined]
    run.last = lambda: json.loads((tmp_path / "state" / "last.json").read_text())  # type: ignore[attr-defined]
    run.tmp = tmp_path  # type: ignore[attr-defined]
    run.services = lambda: (  # type: ignore[attr-defined]
        (tmp_path / "services.log").read_text().splitlines()
        if (tmp_path / "services.log").exists()
        else []
    )
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


def test_a_container_that_will_not_stop_leaves_none_stopped_and_is_recorded(runner):
    (runner.data / "im-data" / "chat.txt").write_text("chat-1\n")
    done = runner("backup", init=True, stop_fails="portsip.webserver")
    assert done.returncode != 0
    calls = [c for c in runner.services() if not c.startswith(("docker inspect", "systemctl is"))]
    # instantmessage stopped, webserver refused: both are started again, the database never
    # stopped; the failure is the last backup's result.
    assert calls[:2] == [
        "docker stop -t 120 portsip.instantmessage",
        "docker stop -t 120 portsip.webserver",
    ]
    assert sorted(calls[2:]) == [
        "docker start portsip.instantmessage",
        "docker start portsip.webserver",
    ]
    last = runner.last()
    assert last["status"] == "failed" and "backup stopped (exit" in last["message"]


def test_a_restore_keeps_what_it_replaces(runner):
    data = runner.data
    (data / "im-data" / "chat.txt").write_text("chat-1\n")
    assert runner("backup", init=True).returncode == 0
    (data / "im-data" / "chat.txt").write_text("written after the backup\n")
    (data / "stray").write_text("added after the backup\n")
    done = runner("restore", "latest")
    assert done.returncode == 0, done.stderr
    assert (data / "im-data" / "chat.txt").read_text() == "chat-1\n"
    [aside] = data.glob(".portsip-im-before-restore-*")
    assert (aside / "im-data" / "chat.txt").read_text() == "written after the backup\n"
    assert (aside / "stray").read_text() == "added after the backup\n"
    assert f"what it replaced is in {aside}" in done.stdout
    # A later backup does not carry the set-aside copy.
    assert runner("backup").returncode == 0
    listing = subprocess.run(
        ["restic", "ls", "latest"],
        env={
            "RESTIC_REPOSITORY": str(runner.tmp / "repo"),
            "RESTIC_PASSWORD": "unit-test-repo-password",
            "PATH": "/usr/bin:/bin",
            "HOME": str(runner.tmp),
        },
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "before-restore" not in listing and "chat.txt" in listing


def test_an_unmounted_data_disk_is_never_backed_up(runner):
    (runner.tmp / "fstab").write_text(f"UUID=0000 {runner.data} ext4 defaults,nofail 0 2\n")
    done = runner("backup", init=True)
    assert done.returncode != 0
    assert "is in /etc/fstab but not mounted" in done.stderr or "not mounted" in done.stderr
    assert runner.last()["status"] == "failed"
    assert not [c for c in runner.services() if "stop" in c]  # IM never stopped for it


def test_a_restore_that_would_not_fit_changes_nothing(runner):
    data = runner.data
    (data / "im-data" / "chat.txt").write_text("chat-1\n" * 1000)
    assert runner("backup", init=True).returncode == 0
    (data / "im-data" / "chat.txt").write_text("written after the backup\n")
    before = len(runner.services())
    done = runner("restore", "latest", df_avail="1048576")  # 1 MiB free
    assert done.returncode != 0
    assert "MiB free in" in done.stderr and "nothing was changed" in done.stderr
    assert (data / "im-data" / "chat.txt").read_text() == "written after the backup\n"
    assert not (data / ".portsip-im-restore").exists()
    assert not list(data.glob(".portsip-im-before-restore-*"))
    assert not [c for c in runner.services()[before:] if " stop " in c]  # IM never stopped


def test_a_restore_that_fails_after_staging_removes_the_staged_copy(runner):
    data = runner.data
    (data / "im-data" / "chat.txt").write_text("chat-1\n")
    assert runner("backup", init=True).returncode == 0
    (data / "im-data" / "chat.txt").write_text("written after the backup\n")
    before = len(runner.services())
    done = runner("restore", "latest", stop_fails="portsip.webserver")
    assert done.returncode != 0
    assert not (data / ".portsip-im-restore").exists()
    assert (data / "im-data" / "chat.txt").read_text() == "written after the backup\n"
    calls = [c for c in runner.services()[before:] if c.startswith("docker st")]
    # What was stopped before the failure is started again: the swap had not begun.
    assert sorted(c for c in calls if c.startswith("docker start")) == [
        "docker start portsip.instantmessage",
        "docker start portsip.webserver",
    ]


def test_restoring_a_snapshot_that_is_not_there_says_so(runner):
    assert runner("backup", init=True).returncode == 0
    done = runner("restore", "0123abcd")
    assert done.returncode != 0
    assert "0123abcd" in done.stderr
    assert not (runner.data / ".portsip-im-restore").exists()


def test_retention_spans_a_rebuilt_host_and_keeps_three_pre_upgrade_snapshots(runner):
    (runner.data / "im-data" / "chat.txt").write_text("chat-1\n")
    (runner.tmp / "conf" / "keep").write_text("--keep-last 2\n")
    assert runner("backup", init=True).returncode == 0
    env = {
        "RESTIC_REPOSITORY": str(runner.tmp / "repo"),
        "RESTIC_PASSWORD": "unit-test-repo-password",
        "PATH": "/usr/bin:/bin",
        "HOME": str(runner.tmp),
    }

    def restic(*args: str) -> str:
        return subprocess.run(
            ["restic", *args], env=env, capture_output=True, text=True, check=True
        ).stdout

    # Two scheduled snapshots the VM took before it was rebuilt under another hostname.
    for _ in range(2):
        restic("backup", "-q", "--host", "old-vm", "--tag", "portsip-im", str(runner.data))
    for _ in range(4):
        done = runner("backup", "pre-upgrade")
        assert done.returncode == 0, done.stderr
    done = runner("backup")
    assert done.returncode == 0, done.stderr
    assert "the newest 3 pre-upgrade snapshots kept" in done.stdout
    snaps = json.loads(restic("snapshots", "--json"))
    scheduled = [s for s in snaps if s["tags"] == ["portsip-im"]]
    pre_upgrade = [s for s in snaps if "pre-upgrade" in s["tags"]]
    # One series across hosts: keep-last 2 of all scheduled ones, not 2 per hostname.
    assert len(scheduled) == 2, [(s["hostname"], s["time"]) for s in scheduled]
    assert scheduled[-1]["id"].startswith(runner.last()["snapshot"][:8])
    assert len(pre_upgrade) == 3


def test_units_the_host_lists_are_stopped_for_the_copy_and_no_other(runner):
    (runner.data / "im-data" / "chat.txt").write_text("chat-1\n")
    assert runner("backup", init=True, active_units="lab-im.service").returncode == 0
    # Without the host's list, the runner asks systemd about no unit at all.
    assert not [c for c in runner.services() if c.startswith("systemctl")]
    (runner.tmp / "conf" / "units").write_text("# lab\nlab-im.service\nidle.service\n")
    done = runner("backup", active_units="lab-im.service")
    assert done.returncode == 0, done.stderr
    units = [c for c in runner.services() if c.startswith("systemctl") and "is-active" not in c]
    assert units == ["systemctl stop lab-im.service", "systemctl start lab-im.service"]
    assert "unit:lab-im.service" in done.stdout


def test_the_runner_names_no_lab_unit():
    assert "standin" not in (SCRIPTS / "backup-lib.sh").read_text()


def test_append_only_forgets_nothing_and_records_ok(runner):
    # An append-only repository, as rest-server --append-only answers: every delete refused. Here
    # a restic before the real one fails any `forget` the way restic does against it.
    (runner.tmp / "bin" / "restic").write_text(
        "#!/bin/sh\n"
        f'echo "restic $*" >>"{runner.tmp}/restic.log"\n'
        'case "$1" in forget | prune)\n'
        '  echo "Fatal: blob not removed, server response: 403 Forbidden (403)" >&2; exit 1 ;;\n'
        "esac\n"
        'exec /usr/bin/restic "$@"\n'
    )
    (runner.tmp / "bin" / "restic").chmod(0o755)
    (runner.data / "im-data" / "chat.txt").write_text("chat-1\n")
    assert runner("backup", init=True).returncode == 1  # the keep rules: forget is refused
    assert "restic forget failed: Fatal: blob not removed" in runner.last()["message"]
    (runner.tmp / "conf" / "keep").unlink()  # backup.sh writes the marker instead of keep
    (runner.tmp / "conf" / "append-only").write_text("append-only\n")
    for tag in ("", "pre-upgrade", ""):
        done = runner("backup", *([tag] if tag else []))
        assert done.returncode == 0, done.stderr
        assert "append-only repository: nothing forgotten or pruned from this host" in done.stdout
        last = runner.last()
        assert last["status"] == "ok" and len(last["snapshot"]) >= 8
        assert last["message"] == (
            "backup and check done; append-only: pruning is left to the repository's owner"
        )
    asked = (runner.tmp / "restic.log").read_text().splitlines()
    assert sum(a.startswith("restic forget") for a in asked) == 1  # the first run's only
    assert sum(a.startswith("restic check") for a in asked) == 3
    # every snapshot is still there, and a restore (it only reads) works
    (runner.data / "im-data" / "chat.txt").write_text("changed\n")
    done = runner("restore", "latest")
    assert done.returncode == 0, done.stderr
    assert (runner.data / "im-data" / "chat.txt").read_text() == "chat-1\n"
    listed = runner("snapshots")
    assert listed.returncode == 0 and "4 snapshots" in listed.stdout, listed.stdout
