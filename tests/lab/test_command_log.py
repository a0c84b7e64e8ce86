"""The per-host log of every command run over SSH (sshd ForceCommand wrapper lab-cmdlog)."""

from __future__ import annotations

import subprocess

import pytest

pytestmark = pytest.mark.lab


def test_counts_commands_with_user(lab):
    before = len(lab.command_log("pbx01"))
    lab.ssh("pbx01", "true", check=True)
    lab.ssh("pbx01", "echo 'two words' | wc -w", user="pbx", check=True)
    lab.ssh("pbx01", "printf 'a\\nb\\n'\nexit 3")  # multi-line, non-zero: logged all the same
    log = lab.command_log("pbx01")[before:]
    assert [(e["user"], e["cmd"]) for e in log] == [
        ("root", "true"),
        ("pbx", "echo 'two words' | wc -w"),
        ("root", "printf 'a\\nb\\n'\nexit 3"),
    ]
    assert all(e["client"] == f"{lab.net}.1" and e["ts"].endswith("Z") for e in log)
    assert lab.commands("pbx01", user="pbx")[-1] == "echo 'two words' | wc -w"


def test_commands_keep_exit_status_stdin_and_output(lab):
    p = lab.ssh("im", "cat; exit 7", input="through stdin\n")
    assert p.returncode == 7 and p.stdout == "through stdin\n"


def test_interactive_login_still_works_and_is_logged(lab):
    before = len(lab.command_log("im"))
    p = subprocess.run(
        [*lab.ssh_args("im")[:-1], "-tt", lab.ssh_args("im")[-1]],
        input="echo inter$((6*7))active\nexit\n",
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert "inter42active" in p.stdout
    assert lab.command_log("im")[before]["cmd"] is None
    assert lab.commands("im")[before] == ""


def test_sftp_and_scp_work(lab, tmp_path):
    src = tmp_path / "f.txt"
    src.write_text("payload\n")
    ssh_opts = lab.ssh_args("im")[1:-1]
    target = f"root@{lab.im}"
    before = len(lab.command_log("im"))
    p = subprocess.run(
        ["scp", *ssh_opts, str(src), f"{target}:/tmp/f.txt"], capture_output=True, text=True
    )
    assert p.returncode == 0, p.stderr
    p = subprocess.run(
        ["sftp", *ssh_opts, "-b", "-", target],
        input="get /tmp/f.txt " + str(tmp_path / "g.txt"),
        capture_output=True,
        text=True,
    )
    assert p.returncode == 0, p.stderr
    assert (tmp_path / "g.txt").read_text() == "payload\n"
    assert [c for c in lab.commands("im")[before:]] == ["/usr/lib/openssh/sftp-server"] * 2


def test_no_secret_in_any_command(lab):
    """Drive im.sh with the token on stdin, set pbx's password over stdin: no secret is logged."""
    lab.reset_im()
    lab.trust_by_hand()
    token = lab.im_token()
    assert lab.imsh("run", "-a", lab.im, "-A", lab.im_public, token=token).returncode == 0
    secrets = [token, lab.pbx_password, lab.pbx_admin.password]
    for host in ("pbx01", "im"):
        text = lab.path(host, "/var/log/lab-commands.log").read_text()
        assert text
        for s in secrets:
            assert s not in text
    # the IM side of im.sh is one logged command, as pbx
    assert [c.split(" -a")[0] for c in lab.commands("im", user="pbx")][
        -1
    ] == "sudo -n /usr/bin/python3 - run"
    lab.reset_im()
