"""docs/operations.md's recipes, each as the doc writes it, on one lab stack through the real engine
(scripts/lab-stack, the real command provider): one `up` per recipe, and what the recipe promises
checked on the lab's hosts. The stack has backups to a local repository on the IM host from its
first up, so the backup password can be rotated; the firewall recipe runs first (its table keeps
the machine out of the IM host's SSH until the recipe lets it in, and then for the rest).

The cluster is the session lab's (the `lab` fixture's): never a literal.
"""

from __future__ import annotations

import json
import secrets
import subprocess
from pathlib import Path

import pytest

from tests.e2e.stack import counters, fresh_stack, remote_commands

pytestmark = [pytest.mark.e2e, pytest.mark.lab]

REPOSITORY = "/var/backups/portsip-im"  # a local path on the IM host (docs/lab.md)
CONF = "/etc/portsip-im-backup"
AUTHORIZED = (
    ("pbx01", "/home/pbx/.ssh/authorized_keys"),
    ("pbx01", "/root/.ssh/authorized_keys"),
    ("im", "/root/.ssh/authorized_keys"),
)
ADMIN_JSON = "/etc/portsip-pbx-api/admin.json"  # the stand-in PBX's admin login


@pytest.fixture(scope="module")
def stack(lab, tmp_path_factory):
    key = lab.key
    saved: dict = {}
    try:
        with fresh_stack(lab, tmp_path_factory.mktemp("recipes")) as s:
            saved.update({(h, f): lab.path(h, f).read_text() for h, f in AUTHORIZED})
            saved[("pbx01", ADMIN_JSON)] = lab.path("pbx01", ADMIN_JSON).read_text()
            s.set["backupRepository"] = REPOSITORY
            s("up")
            yield s
    finally:
        # The rotations changed the lab's key, pbx01's pbx password and the PBX admin password:
        # give the lab its own back (after fresh_stack's destroy) for the modules that follow.
        for (h, f), text in saved.items():
            lab.path(h, f).write_text(text)
        lab.key = key
        lab.inside("pbx01", f"printf 'pbx:%s\\n' '{lab.pbx_password}' | chpasswd")
        lab.inside("im", f"rm -rf {REPOSITORY}")


def shadow_of(lab, host: str, user: str) -> str:
    return next(
        line.split(":")[1]
        for line in lab.path(host, "/etc/shadow").read_text().splitlines()
        if line.startswith(user + ":")
    )


def shadow_matches(lab, host: str, user: str, password: str) -> bool:
    """Whether USER's password on HOST is PASSWORD: its /etc/shadow hash (yescrypt on Debian 12)
    re-made with its own salt by the host's libcrypt. The password goes on stdin, through no argv
    log (/usr/bin/python3, not the lab's logging /usr/local/bin link)."""
    entry = next(
        line
        for line in lab.path(host, "/etc/shadow").read_text().splitlines()
        if line.startswith(user + ":")
    )
    hashed = entry.split(":")[1]
    check = (
        "import crypt, sys; h = sys.argv[1]; "
        "sys.exit(0 if crypt.crypt(sys.stdin.read(), h) == h else 1)"
    )
    done = subprocess.run(
        ["/usr/bin/python3", "-W", "ignore", "-c", check, hashed],
        input=password,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode in (0, 1), done.stderr
    return done.returncode == 0


def restic(lab, password_file: str, *args: str) -> subprocess.CompletedProcess:
    return lab.inside(
        "im",
        f"RESTIC_REPOSITORY={REPOSITORY} RESTIC_PASSWORD_FILE={password_file} "
        f"RESTIC_CACHE_DIR=/tmp/restic-cache restic --no-lock {' '.join(args)}",
    )


def test_widen_admin_cidrs(lab, stack):
    """operations.md: with hostFirewall (existing) the IM host's SSH admits pbx01 and adminCidrs
    only; adding the machine's range to adminCidrs and an up lets it in, no verb run. First: the
    later tests reach the IM host from the machine, which the widened list admits; the module's
    destroy removes the table."""
    machine = lab.im.rsplit(".", 1)[0] + ".1"  # the machine's address on the lab's bridge
    stack.set["hostFirewall"] = "true"
    stack.set["adminCidrs"] = "[]"
    stack("up")
    assert not lab.tcp_open("im", 22)
    before = counters(lab)
    stack.set["adminCidrs"] = json.dumps([f"{machine}/32"])
    stack("up")
    assert lab.tcp_open("im", 22)
    assert counters(lab) == before
    assert Path(lab.key).exists()


def test_rotate_the_operator_ssh_key(lab, stack, tmp_path):
    """operations.md: authorize the new key beside the old, set sshPrivateKey, up, drop the old."""
    new = tmp_path / "rotated"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(new)], check=True)
    pub = new.with_suffix(".pub").read_text()
    for host, f in AUTHORIZED:
        with lab.path(host, f).open("a") as keys:
            keys.write(pub)
    before = counters(lab)
    stack.key = str(new)
    stack("up")
    assert counters(lab) == before, "a key rotation ran an im.sh verb"
    old = subprocess.run(
        ["ssh-keygen", "-y", "-f", lab.key], check=True, capture_output=True, text=True
    ).stdout.split()[1]
    for host, f in AUTHORIZED:
        keys = lab.path(host, f)
        keys.write_text("".join(f"{k}\n" for k in keys.read_text().splitlines() if old not in k))
    assert lab.ssh("pbx01", "true", user="pbx").returncode == 255  # the old key is out
    original = lab.key
    lab.key = str(new)
    commands = remote_commands(lab)
    stack("up")  # with the new key only: nothing to do
    assert remote_commands(lab) == commands
    # The lab's own key back beside the stack's new one: `scripts/lab up` (which scripts/lab-stack
    # runs) logs in with it, and would take hosts it cannot log in to for broken and make them
    # anew, with new host keys, under every later module of this session.
    oldpub = subprocess.run(
        ["ssh-keygen", "-y", "-f", original], check=True, capture_output=True, text=True
    ).stdout
    for host, f in AUTHORIZED:
        with lab.path(host, f).open("a") as keys:
            keys.write(oldpub)
    lab.key = original


def test_rotate_the_pbx_password(lab, stack):
    """operations.md: change pbx's password on the PBX nodes, set pbxPassword, up: the IM host's
    pbx user gets it, and no im.sh verb runs."""
    new = "pbx-" + secrets.token_hex(12)
    assert lab.inside("pbx01", f"printf 'pbx:%s\\n' '{new}' | chpasswd").returncode == 0
    hashed_before = shadow_of(lab, "im", "pbx")
    before = counters(lab)
    (stack.dir / "pbx-password").write_text(new + "\n")
    stack.secrets[new] = "the rotated pbx password"
    out = stack("up").stdout
    assert shadow_matches(lab, "im", "pbx", new), out
    assert shadow_of(lab, "im", "pbx") != hashed_before
    assert counters(lab) == before, "a pbx password rotation ran an im.sh verb"


def test_rotate_the_pbx_admin_password(lab, stack):
    """operations.md: change the admin password on the PBX, set pbxAdminPassword, up: the steps
    that log in to the PBX API log in with it, and no im.sh verb runs."""
    new = "admin-" + secrets.token_hex(12)
    admin = lab.path("pbx01", ADMIN_JSON)
    admin.write_text(json.dumps({**json.loads(admin.read_text()), "password": new}) + "\n")
    (stack.dir / "pbx-admin-password").write_text(new + "\n")
    stack.secrets[new] = "the rotated PBX admin password"
    before, seen = counters(lab), len(lab.api_state()["requests"])
    stack("up")
    logins = [r for r in lab.api_state()["requests"][seen:] if "login" in r["path"]]
    assert logins and all(r["status"] < 300 for r in logins), logins
    assert counters(lab) == before


def test_rotate_the_backup_password(lab, stack, tmp_path):
    """operations.md: `restic key add` with the old password first, then backupPassword and up:
    the repository opens with the new password, the old snapshots are readable, no verb ran."""
    lab.ssh("im", "echo before-rotation > /var/lib/portsip/im-data/recipe.txt", check=True)
    lab.ssh("im", "systemctl start portsip-im-backup.service", check=True, timeout=300)
    old_snapshot = json.loads(lab.path("im", "/var/lib/portsip-im-backup/last.json").read_text())
    new = secrets.token_hex(16)
    lab.path("im", "/root/new-backup-password").write_text(new + "\n")
    added = restic(lab, f"{CONF}/password", "key add --new-password-file /root/new-backup-password")
    assert added.returncode == 0, added.stderr
    before = counters(lab)
    (stack.dir / "backup-password").write_text(new + "\n")
    stack.secrets[new] = "the rotated backup password"
    stack("up")
    assert lab.path("im", f"{CONF}/password").read_text().strip() == new
    listed = restic(lab, "/root/new-backup-password", "snapshots --json")
    assert listed.returncode == 0, listed.stderr
    assert old_snapshot["snapshot"] in {s["short_id"] for s in json.loads(listed.stdout)}
    shown = restic(
        lab,
        "/root/new-backup-password",
        f"dump {old_snapshot['snapshot']} /var/lib/portsip/im-data/recipe.txt",
    )
    assert shown.stdout.strip() == "before-rotation", shown.stderr
    assert counters(lab) == before
    lab.path("im", "/root/new-backup-password").unlink()


def test_a_backup_password_changed_without_key_add_is_refused_and_names_it(lab, stack):
    """The recipe's first step left out: up fails, names `restic key add`, keeps the old one."""
    kept = (stack.dir / "backup-password").read_text()
    (stack.dir / "backup-password").write_text(secrets.token_hex(16) + "\n")
    try:
        failed = stack("up", ok=False)
        assert "restic key add" in failed.stdout + failed.stderr
        assert lab.path("im", f"{CONF}/password").read_text().strip() == kept.strip()
    finally:
        (stack.dir / "backup-password").write_text(kept)
    stack("up")


def test_upgrade_the_im_service(lab, stack):
    """operations.md: set imRelease, up: one `im.sh upgrade` and nothing else, a new IM token,
    a new release installed and IM answering."""
    before, token = counters(lab), lab.im_token()
    release = lab.standin_state()["release"]
    stack.set["imRelease"] = "22.3.2"
    stack("up")
    assert counters(lab) == {**before, "upgrade": before["upgrade"] + 1}
    assert lab.im_token() != token
    # imRelease is the operator's label: im.sh upgrade installs what PortSIP's helper brings.
    assert lab.standin_state()["release"] != release
    assert stack.outputs()["imHealth"]["imPort8887"] == "open"
