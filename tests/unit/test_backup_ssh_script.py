"""backup-ssh.sh (lib.sh + backup-ssh.sh, as the step sends it) on this machine, its paths moved
into a temporary folder and ssh stood in for by a fake SFTP server that lets in only the keys it
authorizes and checks its host key against the known_hosts files ssh is told of: the key and pin
are proven before they replace the ones in use, the proof offers the new key alone (no config file,
no default key, no global known_hosts, no prompt), a wrong host key or refused key names its config
key and changes nothing (even while the key in use still logs in), a key with a passphrase is
refused, a second run writes nothing, and removal takes all three files away. Over real SSH against
the lab's SFTP server: tests/e2e/test_backup_stack.py."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from portsip_im.remote import encode_secrets, script_text

HOST_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHNmdHAtc2VydmVyLWhvc3Qta2V5LXVuaXQtdGVzdA"
OTHER_HOST_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIG90aGVyLXNlcnZlci1ob3N0LWtleS11bml0LXRlc3Q"

# Scripts as this program sends them: their messages name its config keys.
pytestmark = pytest.mark.usefixtures("this_programs_names")

# ssh as the SFTP server at 10.0.5.20:2222 answers it. It reads its options as OpenSSH does (the
# command line first, then, unless -F names a file, ~/.ssh/config and the system ssh_config with
# its Include), offers every identity they name (and, without IdentitiesOnly, the default
# ~/.ssh/id_ed25519), checks the server's host key against every known_hosts file they name (the
# user's and the global one), and logs in only with a key the server authorizes. Each call is
# logged as JSON: its argv, the config files read, the public keys it offered, its outcome.
FAKE_SSH = r"""#!{python}
import glob, json, os, subprocess, sys

server = json.load(open({server!r}))
home = os.environ["HOME"]
argv = sys.argv[1:]
cli, identities, config_file, rest, port, user = {{}}, [], None, [], "22", None
i = 0
while i < len(argv):
    a = argv[i]
    if rest or not a.startswith("-"):
        rest.append(a)
    elif a in ("-F", "-o", "-p", "-l", "-i"):
        v = argv[i + 1]
        i += 1
        if a == "-F":
            config_file = v
        elif a == "-o":
            k, _, val = v.partition("=")
            cli.setdefault(k.lower(), val)
        elif a == "-p":
            port = v
        elif a == "-l":
            user = v
        else:
            identities.append(v)
    i += 1
host = rest[0]
identities += [cli["identityfile"]] if "identityfile" in cli else []

def read_config(path, seen):
    try:
        lines = open(path).read().splitlines()
    except OSError:
        return
    seen.append(path)
    for line in lines:
        words = line.split(None, 1)
        if len(words) < 2 or words[0].startswith("#"):
            continue
        k, v = words[0].lower(), words[1].strip()
        if k == "include":
            for f in sorted(glob.glob(v)):
                read_config(f, seen)
        elif k == "identityfile":
            identities.append(v)
        elif k != "match":
            config.setdefault(k, v)

config, read = {{}}, []
if config_file is None:
    read_config(os.path.join(home, ".ssh/config"), read)
    read_config(server["system_config"], read)
elif config_file != "/dev/null":
    read_config(config_file, read)
opt = lambda k, default=None: cli.get(k, config.get(k, default))
if opt("identitiesonly", "no") != "yes":
    identities.append(os.path.join(home, ".ssh/id_ed25519"))

def public(path):
    keygen = ["ssh-keygen", "-y", "-P", "", "-f", path]
    done = subprocess.run(keygen, capture_output=True, text=True)
    return " ".join(done.stdout.split()[:2]) if done.returncode == 0 else None

offered = [k for k in map(public, identities) if k]
known_files = [opt("userknownhostsfile", os.path.join(home, ".ssh/known_hosts"))]
known_files.append(opt("globalknownhostsfile", server["global_known_hosts"]))
entry = host if port == "22" else f"[{{host}}]:{{port}}"
known = []
for f in known_files:
    try:
        for line in open(f).read().splitlines():
            words = line.split()
            if len(words) >= 3 and entry in words[0].split(","):
                known.append(" ".join(words[1:3]))
    except OSError:
        pass
who = user or opt("user") or "root"
record = dict(argv=argv, read=read, offered=offered, known_hosts=known_files, known=known)

def end(outcome, message=""):
    record["outcome"] = outcome
    with open({log!r}, "a") as f:
        f.write(json.dumps(record) + "\n")
    if message:
        sys.stderr.write(message + "\n")
    sys.exit(0 if outcome == "login" else 255)

if server["down"]:
    end("down", server["down"])
if server["host_key"] not in known:
    if known:
        end("host key", "@" * 59 + "\n@    WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!     @\n"
            + "@" * 59 + "\nIT IS POSSIBLE THAT SOMEONE IS DOING SOMETHING NASTY!\n"
            + f"Host key for {{entry}} has changed and you have requested strict checking.\n"
            + "Host key verification failed.")
    if opt("stricthostkeychecking", "ask") in ("yes", "ask"):
        end("host key", f"No ED25519 host key is known for {{entry}} and you have requested "
            + "strict checking.\nHost key verification failed.")
if not set(offered) & set(server["authorized"]):
    end("denied", f"{{who}}@{{host}}: Permission denied (publickey).")
end("login")
"""


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
        (tmp / ".ssh").mkdir()  # root's own (HOME is tmp)
        self.bin = tmp / "bin"
        self.bin.mkdir()
        self.log = tmp / "ssh.log"
        (self.bin / "ssh").write_text(
            FAKE_SSH.format(
                python=sys.executable, server=str(tmp / "server.json"), log=str(self.log)
            )
        )
        (self.bin / "ssh").chmod(0o755)
        self.server(authorized=[])

    def server(self, authorized: list[str], host_key: str = HOST_KEY, down: str = "") -> None:
        """The SFTP server from now on: the keys it lets in (private key texts), its host key,
        and, when `down` is ssh's complaint, that it cannot be reached."""
        (self.tmp / "server.json").write_text(
            json.dumps(
                {
                    "authorized": [self.public(k) for k in authorized],
                    "host_key": host_key,
                    "down": down,
                    "system_config": str(self.tmp / "ssh_config"),
                    "global_known_hosts": str(self.tmp / "ssh_known_hosts"),
                }
            )
        )

    def key(self, passphrase: str = "") -> str:
        path = self.tmp / f"key-{len(list(self.tmp.glob('key-*')))}"
        subprocess.run(
            ["ssh-keygen", "-q", "-t", "ed25519", "-N", passphrase, "-f", str(path)], check=True
        )
        return path.read_text()

    def public(self, private: str) -> str:
        path = next(p for p in self.tmp.glob("key-*") if p.read_text() == private)
        return " ".join(Path(f"{path}.pub").read_text().split()[:2])

    def logins(self) -> list[dict]:
        """Each ssh call so far, as the fake logged it."""
        if not self.log.exists():
            return []
        return [json.loads(line) for line in self.log.read_text().splitlines()]

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


def options(argv: list[str]) -> dict[str, str]:
    """The -o NAME=VALUE options of an ssh command line."""
    return dict(argv[i + 1].split("=", 1) for i, word in enumerate(argv[:-1]) if word == "-o")


@pytest.fixture
def step(tmp_path):
    return BackupSsh(tmp_path)


def test_installs_the_key_and_pin_for_that_server_only_and_a_second_run_writes_nothing(step):
    key = step.key()
    step.server(authorized=[key])
    done = step(key)
    assert done.returncode == 0, done.stderr
    files = step.installed()
    assert files["id"] == key
    assert files["known_hosts"] == f"[10.0.5.20]:2222 {HOST_KEY}\n"
    conf = files["portsip-im-backup.conf"]
    assert "Match localuser root host 10.0.5.20" in conf
    assert "GlobalKnownHostsFile /dev/null" in conf and "StrictHostKeyChecking yes" in conf
    assert oct((step.tmp / "conf/ssh/id").stat().st_mode & 0o777) == "0o600"
    again = step(key)
    assert again.returncode == 0 and "wrote" not in again.stdout
    assert not (step.tmp / "conf/ssh/.staged").exists()


def test_the_proof_login_offers_the_new_key_alone_with_the_pinned_host_key(step):
    key = step.key()
    step.server(authorized=[key])
    assert step(key).returncode == 0
    (proof,) = step.logins()
    argv = proof["argv"]
    assert proof["outcome"] == "login"
    # The new key, and no other: no config file read (the drop-in would add the key in use), no
    # default identity, and only the staged pin as known hosts.
    assert proof["offered"] == [step.public(key)]
    assert proof["read"] == [] and argv[:2] == ["-F", "/dev/null"]
    staged = step.tmp / "conf/ssh/.staged"
    assert options(argv) == {
        "IdentityFile": f"{staged}/id",
        "IdentitiesOnly": "yes",
        "UserKnownHostsFile": f"{staged}/known_hosts",
        "GlobalKnownHostsFile": "/dev/null",
        "StrictHostKeyChecking": "yes",
        "BatchMode": "yes",
        "ConnectTimeout": "30",
    }
    assert proof["known"] == [HOST_KEY]  # what the staged known_hosts held at the login
    assert argv[-7:] == ["-p", "2222", "-l", "restic", "-s", "10.0.5.20", "sftp"]


def test_a_new_key_the_server_refuses_fails_though_the_key_in_use_and_roots_own_log_in(step):
    # The key in use and root's default key both still log in; a proof that offered either
    # (a config file read, IdentitiesOnly off) would pass for the refused new one.
    old, own = step.key(), step.key()
    (step.tmp / ".ssh/id_ed25519").write_text(own)
    (step.tmp / ".ssh/id_ed25519").chmod(0o600)
    step.server(authorized=[old])
    assert step(old).returncode == 0
    before = step.installed()
    step.server(authorized=[old, own])
    done = step(step.key())
    assert done.returncode != 0
    assert "refused the key (portsip-im:backupSshKey) for restic" in done.stderr
    assert "Permission denied (publickey)" in done.stderr
    assert step.installed() == before and not (step.tmp / "conf/ssh/.staged").exists()
    assert step.logins()[-1]["outcome"] == "denied"


def test_a_new_key_the_server_lets_in_replaces_the_one_in_use(step):
    old, new = step.key(), step.key()
    step.server(authorized=[old])
    assert step(old).returncode == 0
    step.server(authorized=[old, new])  # the operator authorized the new key first
    done = step(new)
    assert done.returncode == 0, done.stderr
    assert step.installed()["id"] == new
    assert step.logins()[-1]["offered"] == [step.public(new)]


def test_a_wrong_pin_fails_though_the_machines_known_hosts_know_the_server(step):
    # The server's real key is in root's and the global known_hosts: a proof that read them
    # would accept a pin that is wrong.
    for known in (step.tmp / ".ssh/known_hosts", step.tmp / "ssh_known_hosts"):
        known.write_text(f"[10.0.5.20]:2222 {OTHER_HOST_KEY}\n")
    key = step.key()
    step.server(authorized=[key], host_key=OTHER_HOST_KEY)
    done = step(key)  # pins HOST_KEY
    assert done.returncode != 0
    assert "does not show the pinned key (portsip-im:backupSshHostKey)" in done.stderr
    assert "REMOTE HOST IDENTIFICATION HAS CHANGED" in done.stderr
    assert step.installed() == {}


@pytest.mark.parametrize(
    ("server", "ssh_says", "names"),
    [
        ({"host_key": OTHER_HOST_KEY}, "IDENTIFICATION HAS CHANGED", "backupSshHostKey"),
        ({"authorized_new": False}, "Permission denied (publickey).", "portsip-im:backupSshKey"),
        (
            {"down": "ssh: connect to host 10.0.5.20 port 2222: Connection refused"},
            "Connection refused",
            "backupRepository",
        ),
    ],
)
def test_a_new_key_that_does_not_log_in_changes_nothing(step, server, ssh_says, names):
    old = step.key()
    step.server(authorized=[old])
    assert step(old).returncode == 0
    before = step.installed()
    new = step.key()
    authorized = [old] if server.get("authorized_new") is False else [old, new]
    step.server(
        authorized=authorized,
        host_key=server.get("host_key", HOST_KEY),
        down=server.get("down", ""),
    )
    done = step(new)
    assert done.returncode != 0
    assert names in done.stderr and ssh_says in done.stderr
    assert step.installed() == before  # the key in use is still the one in place
    assert not (step.tmp / "conf/ssh/.staged").exists()


def test_a_key_with_a_passphrase_is_refused(step):
    done = step(step.key("a pass phrase"))
    assert done.returncode != 0
    assert "usable without a passphrase" in done.stderr
    assert step.installed() == {}


def test_removal_takes_all_three_away(step):
    key = step.key()
    step.server(authorized=[key])
    assert step(key).returncode == 0
    done = step(key, action="remove")
    assert done.returncode == 0 and "removed the SFTP key" in done.stdout
    assert step.installed() == {}
    assert "nothing to remove" in step(key, action="remove").stdout
