"""Backups to an SFTP server with the stack's own key (backupSshKey, backupSshHostKey): the login
read from the repository, the key's and host key's shapes, the backup-ssh step (only with the key,
before the backup, the key on stdin as a secret), and one clear error per bad value at preview.
The script itself, over real SSH against the lab's SFTP host: tests/e2e/test_backup_stack.py."""

from __future__ import annotations

import base64

import pytest

from portsip_im import rules
from tests.unit import harness as h
from tests.unit.test_backup_steps import CMD
from tests.unit.test_bad_input_program import preview_error
from tests.unit.test_steps_graph import params, reaches, secret_lines, steps


@pytest.mark.parametrize(
    ("repository", "login"),
    [
        ("sftp:restic@10.0.5.20:/srv/restic/im", ("restic", "10.0.5.20", 22)),
        ("sftp:nas.example.com:/backups/im", (None, "nas.example.com", 22)),
        ("sftp://backup@nas.example.com:2222//srv/im", ("backup", "nas.example.com", 2222)),
        ("sftp://nas//srv/im", (None, "nas", 22)),
        ("sftp://restic@[fd00::5]:2222//srv/im", ("restic", "fd00::5", 2222)),
        ("sftp:first.last@nas:/srv/im", ("first.last", "nas", 22)),
        ("s3:s3.amazonaws.com/bucket/im", None),
        ("/mnt/im-backup", None),
    ],
)
def test_the_sftp_login_is_read_from_the_repository(repository, login):
    assert rules.sftp_server(repository) == login


@pytest.mark.parametrize(
    "repository",
    [
        "sftp://restic@nas:0//srv",
        "sftp:-oProxyCommand@nas:/srv",  # ssh would read the user as an option
        "sftp:@:/srv",
        "sftp:restic@[fd00::5]:/srv",  # restic cuts the short form at the first colon
        "sftp:restic@nas",  # no path
        "sftp://nas//",
    ],
)
def test_a_repository_naming_no_usable_login_is_refused(repository):
    with pytest.raises(ValueError):
        rules.sftp_server(repository)


def test_private_key_shapes():
    assert rules.ssh_private_key(h.BACKUP_SSH_KEY) == h.BACKUP_SSH_KEY
    with pytest.raises(ValueError, match="must be an SSH private key"):
        rules.ssh_private_key("ssh-ed25519 AAAA… a public key")
    cut = "\n".join(h.BACKUP_SSH_KEY.splitlines()[:2])
    with pytest.raises(ValueError, match="cut short"):
        rules.ssh_private_key(cut)
    for key in (
        h.new_private_key(passphrase="a pass phrase"),  # OpenSSH's own format
        h.new_private_key("ecdsa", passphrase="a pass phrase", pem=True),  # PEM, Proc-Type
    ):
        with pytest.raises(ValueError, match="passphrase"):
            rules.ssh_private_key(key)
    pem = h.new_private_key("ecdsa", pem=True)
    assert rules.ssh_private_key(pem) == pem


@pytest.fixture(scope="module")
def sftp():
    return h.run({**h.base_config("existing"), **h.SFTP_BACKUP_CONFIG})


def test_the_backup_ssh_step_runs_on_the_im_host_before_the_backup(sftp):
    s = steps(sftp)
    step = s["backup-ssh"]
    assert step.inputs["connection"]["host"] == h.IM_PRIVATE
    assert reaches(sftp, "backup-ssh", "deploy")
    assert reaches(sftp, "backup", "backup-ssh")
    p = params(step.inputs["create"])
    assert p == {
        "SFTP_HOST": "10.0.5.20",
        "SFTP_PORT": "22",
        "SFTP_USER": "restic",
        "HOST_KEY": h.SFTP_HOST_KEY,  # the comment dropped
    }
    assert params(step.inputs["delete"])["ACTION"] == "remove"


def test_the_key_travels_only_on_stdin_as_a_secret(sftp):
    step = steps(sftp)["backup-ssh"]
    assert "stdin" in step.secret_inputs
    lines = dict(line.split("\t") for line in secret_lines(step).splitlines())
    assert base64.b64decode(lines["BACKUP_SSH_KEY"]).decode() == h.BACKUP_SSH_KEY
    body = h.BACKUP_SSH_KEY.splitlines()[1]
    for r in sftp.mocks.of_type(CMD):
        for phase in ("create", "update", "delete"):
            assert body not in (r.inputs.get(phase) or ""), (r.name, phase)


def test_without_the_key_there_is_no_such_step():
    config = {**h.base_config("existing"), **h.SFTP_BACKUP_CONFIG}
    del config["backupSshKey"], config["backupSshHostKey"]
    s = steps(h.run(config))
    assert "backup-ssh" not in s and "backup" in s


SFTP = {**h.base_config("existing"), **h.SFTP_BACKUP_CONFIG}


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        (
            {**SFTP, "backupRepository": "s3:s3.amazonaws.com/bucket/im"},
            "portsip-im:backupSshKey: only for an `sftp:` repository (backupRepository)",
        ),
        (
            {k: v for k, v in SFTP.items() if k != "backupSshHostKey"},
            "portsip-im:backupSshHostKey: required with backupSshKey",
        ),
        (
            {k: v for k, v in SFTP.items() if k != "backupSshKey"},
            "portsip-im:backupSshKey: required with backupSshHostKey",
        ),
        (
            {**SFTP, "backupSshKey": "ssh-ed25519 AAAAC3Nza a public key"},
            "portsip-im:backupSshKey: must be an SSH private key",
        ),
        (
            {**SFTP, "backupSshHostKey": "not-a-key"},
            "portsip-im:backupSshHostKey: 'not-a-key': must be an SSH public key",
        ),
        (
            {**SFTP, "backupRepository": "sftp:-oProxyCommand@nas:/srv/im"},
            "portsip-im:backupRepository: 'sftp:-oProxyCommand@nas:/srv/im': the SFTP user must be",
        ),
    ],
    ids=["not sftp", "no host key", "no key", "a public key", "bad host key", "bad sftp user"],
)
def test_bad_sftp_settings_fail_at_preview_naming_the_key(config, expected):
    assert expected in preview_error(config)


def test_the_key_as_plain_text_is_refused():
    plain = tuple(k for k in h.SECRET_KEYS if k != "backupSshKey")
    assert "portsip-im:backupSshKey: set as plain text" in preview_error(SFTP, plain)


def test_the_component_holds_its_fields_to_the_same_rules():
    from portsip_im.checks import resolve
    from tests.unit.test_component_args import args, problems

    a = args()
    a["backup"] = {"repository": "s3:host/bucket", "password": "p", "ssh_key": h.BACKUP_SSH_KEY}
    found = problems(a)
    assert "only for an `sftp:` repository" in found["backup.ssh_key"]
    assert "required with `backup.ssh_key`" in found["backup.ssh_host_key"]
    a["backup"] = {**a["backup"], "repository": "sftp:nas:/im", "ssh_key": "not a key"}
    assert "must be an SSH private key" in problems(a)["backup.ssh_key"]
    a["backup"] = {
        "repository": "sftp://restic@nas:2222//srv/im",
        "password": "p",
        "ssh_key": h.BACKUP_SSH_KEY,
        "ssh_host_key": h.SFTP_HOST_KEY + " comment",
    }
    r = resolve(a)
    assert r.backup_sftp == ("restic", "nas", 2222)
    assert r.backup_ssh_host_key == h.SFTP_HOST_KEY
