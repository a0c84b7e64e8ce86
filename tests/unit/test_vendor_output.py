"""vendor.sh judges im.sh by what it prints, not by its exit status alone: the real `restart`
step (lib.sh + vendor.sh + manage.sh, as portsip_im/remote.py assembles it) run locally with bash
against a fake im.sh. PortSIP's scripts print `[error]: ...` and may still exit 0
(../shared/portsip/FACTS.md).
"""

from __future__ import annotations

import re
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from portsip_im.remote import script_text

# Scripts as this program sends them: their messages name its config keys.
pytestmark = pytest.mark.usefixtures("this_programs_names")

TOKEN = "tok-0123456789abcdef-test-only"
IM_IP = "127.0.0.87"  # a loopback address of its own: the step checks IM_IP:8887 after the verb


@pytest.fixture
def im_port() -> Iterator[None]:
    """Something listening on IM_IP:8887, as the IM service does after a good restart."""
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((IM_IP, 8887))
        s.listen(16)
        yield


NO_BACKUPS = "#!/bin/sh\necho '[portsip-im-backup] none'\n"


PINNED_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHZ1bml0LXRlc3QtaW0taG9zdC1rZXktMDAwMDAw"


def restart(
    tmp_path: Path, fake_imsh: str, fake_ssh: str = NO_BACKUPS, pinned: bool = True
) -> subprocess.CompletedProcess:
    """Run the restart step with a changed restartToken against a fake im.sh printing `fake_imsh`
    (a bash body). Returns the finished process."""
    home = tmp_path / "home"
    state = home / ".portsip-im"
    state.mkdir(parents=True, exist_ok=True)
    (state / "im-token").write_text(TOKEN)
    (state / "restart-token").write_text("r0")
    # pbx01 has pinned the IM host's key (the trust-key step): ssh_im dials only then.
    (home / ".ssh").mkdir(mode=0o700, exist_ok=True)
    (home / ".ssh" / "known_hosts").write_text(f"{IM_IP} {PINNED_KEY}\n" if pinned else "")
    guide = tmp_path / "guide"
    guide.mkdir(exist_ok=True)
    (guide / "im.sh").write_text(fake_imsh)
    # The IM host's side of vendor.sh's backup hold: an IM host without backups.
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    (bin_dir / "ssh").write_text(fake_ssh)
    (bin_dir / "ssh").chmod(0o755)
    return subprocess.run(
        [
            "bash",
            "-c",
            script_text("manage", ["vendor"]),
            "restart",
            "ACTION=restart",
            "RESTART_TOKEN=r1",
            f"IM_IP={IM_IP}",
            "PBX_USER=pbx",
            "WAIT=0",
            f"GUIDE_DIR={guide}",
        ],
        input="",
        capture_output=True,
        text=True,
        timeout=60,
        env={"HOME": str(home), "PATH": f"{bin_dir}:/usr/sbin:/usr/bin:/sbin:/bin"},
    )


def recorded_token(tmp_path: Path) -> str:
    return (tmp_path / "home" / ".portsip-im" / "restart-token").read_text()


def test_an_error_line_with_exit_0_fails_the_step(tmp_path):
    done = restart(
        tmp_path,
        'echo "[info]: restarting the IM server"\n'
        'echo "[error]: the IM container did not come up"\n'
        'echo "[info]: see docker compose logs"\n'
        "exit 0\n",
    )
    assert done.returncode == 1, done.stderr
    assert (
        "[restart] ERROR: im.sh restart failed (exit 0, but it printed an error): "
        "[error]: the IM container did not come up\n" in done.stderr
    )
    # ... and the log's tail, so the operator sees the context
    assert "    [info]: see docker compose logs" in done.stderr
    assert "full log on pbx01 in" in done.stderr
    assert "restarted" not in done.stdout
    assert recorded_token(tmp_path) == "r0"  # not recorded: the next run tries again


def test_the_error_line_shown_is_redacted(tmp_path):
    done = restart(
        tmp_path,
        'read -r t; echo "[info]: token : $t"\necho "[error]: the token $IM_TOKEN was refused"\n',
    )
    assert done.returncode == 1
    assert "failed (exit 0, but it printed an error): [error]: the token [redacted] was" in (
        done.stderr
    )
    assert TOKEN not in done.stdout + done.stderr
    logs = list((tmp_path / "home" / ".portsip-im" / "logs").glob("*-restart.log"))
    assert logs and TOKEN not in logs[0].read_text()


def test_a_coloured_error_line_counts_too(tmp_path):
    done = restart(tmp_path, "printf '\\033[31m[error]: failed\\033[0m\\n'\n")
    assert done.returncode == 1 and "im.sh restart failed (exit 0, but it printed" in done.stderr


def test_a_non_zero_exit_still_fails_with_its_error_line(tmp_path):
    done = restart(tmp_path, 'echo "[error]: cannot reach the IM server"\nexit 255\n')
    assert done.returncode == 1
    assert "im.sh restart failed (exit 255): [error]: cannot reach the IM server" in done.stderr


def test_a_non_zero_exit_without_an_error_line_fails(tmp_path):
    done = restart(tmp_path, 'echo "[info]: half way"\nexit 3\n')
    assert done.returncode == 1
    assert "im.sh restart failed (exit 3)\n" in done.stderr and "[info]: half way" in done.stderr


def test_warnings_are_shown_and_the_step_succeeds(tmp_path, im_port):
    done = restart(
        tmp_path,
        'echo "[info]: restarting"\n'
        'echo "[warn]: the IM container took 90 s to start"\n'
        'echo "[info]: the word [error] inside a line is not an error line"\n'
        "exit 0\n",
    )
    assert done.returncode == 0, done.stderr
    assert (
        "[restart] im.sh restart warned (token redacted):\n"
        "    [warn]: the IM container took 90 s to start\n" in done.stderr
    )
    assert "restarted; 127.0.0.87:8887 accepts connections" in done.stdout
    assert recorded_token(tmp_path) == "r1"


def test_a_clean_run_prints_no_warning(tmp_path, im_port):
    done = restart(tmp_path, 'echo "[info]: done"\n')
    assert done.returncode == 0, done.stderr
    assert "warned" not in done.stderr and "im.sh restart done" in done.stdout


# --- the IM host's backups are held while im.sh runs -------------------------------------------

# What `portsip-im-backup hold` does over SSH: say so, then keep the lock until stdin closes. The
# fake records "held" while it holds and "released" once its stdin is closed.
HOLDING = """#!/bin/bash
marks="$(dirname "$0")/marks"
echo 'Welcome to the IM host (a login banner)'
echo '[portsip-im-backup] held: backups wait until this im.sh verb is done'
echo held >>"$marks"
cat >/dev/null
echo released >>"$marks"
"""
NOTES_HELD = (
    'cat "$(dirname "$(command -v ssh)")/marks" >"$HOME/seen-by-imsh"\n'
    'ls -l /proc/$$/fd >"$HOME/imsh-fds"\necho "[info]: ok"\n'
)


def test_im_sh_runs_while_the_backups_are_held_and_they_are_released_after(tmp_path, im_port):
    done = restart(tmp_path, NOTES_HELD, HOLDING)
    assert done.returncode == 0, done.stderr
    assert "backups on the IM host wait for this im.sh verb" in done.stdout
    assert (tmp_path / "home" / "seen-by-imsh").read_text() == "held\n"
    assert (tmp_path / "bin" / "marks").read_text() == "held\nreleased\n"
    # im.sh got no copy of the hold's pipe (a daemon it left running would keep the hold open).
    fds = (tmp_path / "home" / "imsh-fds").read_text()
    assert not re.search(r"/tmp\.\w+/in\b", fds), fds


def test_a_runner_from_before_holds_existed_warns_and_im_sh_runs(tmp_path, im_port):
    old = (
        "#!/bin/sh\necho '[portsip-im-backup] ERROR: usage: portsip-im-backup backup' >&2\nexit 1\n"
    )
    done = restart(tmp_path, 'echo "[info]: ok"\n', old)
    assert done.returncode == 0, done.stderr
    assert "cannot hold backups during im.sh yet" in done.stderr
    assert recorded_token(tmp_path) == "r1"


def test_a_backup_holding_the_lock_for_an_hour_stops_the_verb(tmp_path):
    busy = (
        "#!/bin/sh\necho '[portsip-im-backup] ERROR: another backup, restore or im.sh verb "
        "(its hold) has held the lock for an hour' >&2\nexit 1\n"
    )
    done = restart(tmp_path, 'touch "$HOME/imsh-ran"\n', busy)
    assert done.returncode != 0
    assert "has held the lock for an hour" in done.stderr
    assert not (tmp_path / "home" / "imsh-ran").exists()
    assert recorded_token(tmp_path) == "r0"


def test_no_ssh_to_the_im_host_warns_and_im_sh_says_the_rest(tmp_path, im_port):
    refused = (
        "#!/bin/sh\necho 'ssh: connect to host 10.0.0.1 port 22: Connection refused' >&2\n"
        "exit 255\n"
    )
    done = restart(tmp_path, 'echo "[info]: ok"\n', refused)
    assert done.returncode == 0, done.stderr
    assert "could not hold the IM host's backups during im.sh (ssh: connect to host" in done.stderr


def test_no_pinned_im_host_key_no_dial_and_the_warning_names_the_trust_key_step(tmp_path):
    dialled = '#!/bin/sh\ntouch "$(dirname "$0")/dialled"\nexit 255\n'
    done = restart(tmp_path, 'echo "[info]: ok"\n', dialled, pinned=False)
    assert not (tmp_path / "bin" / "dialled").exists()
    said = [line for line in done.stderr.splitlines() if "backups" in line]
    assert len(said) == 1 and "WARNING" in said[0], done.stderr
    assert f"no pinned host key for the IM host {IM_IP}" in said[0]
    assert "the trust-key step pins imHostKey" in said[0]
