"""What makes a host's writable copy of the image that host: its name, keys and command logs."""

from __future__ import annotations

import os
import secrets
import shutil
from pathlib import Path

from .common import LabError, sh, write
from .config import ARGV_LOGGED, HOSTS, INSTALL_REST_SERVER, REST_PORT, RUN, STANDIN
from .standins import chroot_ids, provision_pbx01
from .state import host_root

HOST_KEY_KINDS = ("rsa", "ecdsa", "ed25519")


def install_host_keys(name: str) -> None:
    """The host's SSH host keys, the lab's own (made at `up`, named in its known_hosts), in place
    of any others. sshd reads them when it starts."""
    root, sec = host_root(name), RUN / "secrets" / name
    for k in (root / "etc/ssh").glob("ssh_host_*"):
        k.unlink()
    for kind in HOST_KEY_KINDS:
        src = sec / f"ssh_host_{kind}_key"
        write(root / f"etc/ssh/ssh_host_{kind}_key", src.read_text(), 0o600)
        write(root / f"etc/ssh/ssh_host_{kind}_key.pub", src.with_suffix(".pub").read_text(), 0o644)


def has_lab_host_keys(name: str) -> bool:
    """The host's SSH host keys are the lab's own (not replaced by the fault im-new-host-key)."""
    root, sec = host_root(name), RUN / "secrets" / name
    for kind in HOST_KEY_KINDS:
        mine = root / f"etc/ssh/ssh_host_{kind}_key.pub"
        if not mine.exists() or mine.read_text() != (sec / f"ssh_host_{kind}_key.pub").read_text():
            return False
    return True


def provision(name: str) -> None:
    """Make the host's writable copy say who it is. Runs on the stopped host's mounted root."""
    root = host_root(name)
    op_key = (RUN / "id_ed25519.pub").read_text()
    write(root / "etc/hostname", name + "\n")
    hosts = "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"
    hosts += "".join(f"{h['ip']}\t{n}\n" for n, h in HOSTS.items())
    write(root / "etc/hosts", hosts)
    write(root / "etc/machine-id", secrets.token_hex(16) + "\n", 0o444)
    write(root / "etc/resolv.conf", "# lab host: no DNS (no route outside the lab bridge)\n")
    install_host_keys(name)
    (root / "root/.ssh").mkdir(mode=0o700, parents=True, exist_ok=True)
    write(root / "root/.ssh/authorized_keys", op_key, 0o600)
    # every SSH command is logged (timestamp, user, command) before it runs
    write(root / "usr/local/sbin/lab-cmdlog", (STANDIN / "lab-cmdlog").read_text(), 0o755)
    write(
        root / "etc/ssh/sshd_config.d/lab.conf",
        "# portsip-im lab: log every SSH command (tests count them), then run it\n"
        "ForceCommand /usr/local/sbin/lab-cmdlog\n"
        "PermitRootLogin prohibit-password\n",
    )
    logf = root / "var/log/lab-commands.log"
    if not logf.exists():
        write(logf, "", 0o622)
    os.chmod(logf, 0o622)
    # ...and every call of the tools a secret could be handed to, with its arguments
    write(root / "usr/local/sbin/lab-argv", (STANDIN / "lab-argv").read_text(), 0o755)
    for tool in ARGV_LOGGED:
        link = root / "usr/local/bin" / tool
        if link.is_symlink() or link.exists():
            link.unlink()
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to("/usr/local/sbin/lab-argv")
    # ...and the pause point a test holds a step at (tests/lab/standin/lab-pause)
    write(root / "usr/local/sbin/lab-pause", (STANDIN / "lab-pause").read_text(), 0o755)
    link = root / "usr/local/bin/mkdir"
    if link.is_symlink() or link.exists():
        link.unlink()
    link.symlink_to("/usr/local/sbin/lab-pause")
    argvf = root / "var/log/lab-argv.log"
    if not argvf.exists():
        write(argvf, "", 0o622)
    os.chmod(argvf, 0o622)
    write(
        root / "usr/local/sbin/lab-fault-listener",
        (STANDIN / "fault-listener.py").read_text(),
        0o755,
    )
    if name == "pbx01":
        provision_pbx01(root, op_key)
    if name == "im":
        # The backup runner stops what the host lists here besides PortSIP's containers: in the
        # lab, the stand-in's unit (production code names no lab unit).
        conf = root / "etc/portsip-im-backup"
        conf.mkdir(mode=0o700, parents=True, exist_ok=True)
        write(conf / "units", "portsip-im-standin.service\n", 0o600)
    if name == "vault":
        provision_vault(root)
    slow_boot(root, int(os.environ.get("PORTSIP_LAB_BOOT_DELAY", "0") or 0))


def provision_vault(root: Path) -> None:
    """The vault's backup account: `restic`, SFTP only, logged in to with the backup key."""
    if not any(u.startswith("restic:") for u in (root / "etc/passwd").read_text().splitlines()):
        sh("useradd", "-R", root, "-M", "-d", "/srv/restic", "-s", "/usr/sbin/nologin", "restic")
    uid, gid = chroot_ids(root, "restic")
    home = root / "srv/restic"
    for d in (home, home / ".ssh"):
        d.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(d, 0o700)
        os.chown(d, uid, gid)
    key = (RUN / "backup_ssh_key.pub").read_text()
    write(home / ".ssh/authorized_keys", key, 0o600, (uid, gid))
    # lab.conf's ForceCommand (lab-cmdlog) runs the command through the user's shell, nologin
    # here, so restic gets sshd's own sftp server instead; root keeps the command log. A Match
    # block in an included file ends with that file (OpenSSH 9.2), so it cannot swallow
    # sshd_config's global lines after the Include.
    write(
        root / "etc/ssh/sshd_config.d/vault.conf",
        "# portsip-im lab: the backup account is SFTP only (restic's sftp: repository)\n"
        "Match User restic\n"
        "\tForceCommand internal-sftp\n"
        "\tAllowTcpForwarding no\n"
        "\tX11Forwarding no\n"
        "\tPermitTTY no\n",
    )
    provision_rest_server(root)


def rest_server_binary() -> Path:
    """restic's REST server, built once into the tools cache outside the repository
    (scripts/install-rest-server: from the Go module proxy; later calls only check it)."""
    p = sh(INSTALL_REST_SERVER, check=False, timeout=900)
    if p.returncode != 0:
        why = (p.stderr.strip() or f"exit {p.returncode}").splitlines()[-1]
        raise LabError(
            f"the vault's rest-server could not be built (scripts/install-rest-server): {why}"
        )
    return Path(p.stdout.strip().splitlines()[-1])


def provision_rest_server(root: Path) -> None:
    """The vault's second repository server: rest-server in append-only mode (it deletes nothing
    but locks), without authentication, plain HTTP, listening on the vault's bridge address only
    (the lab's private network; nothing routes there from elsewhere). Its data, /srv/rest-server,
    belongs to the system user rest-server, not to the SFTP account."""
    binary = rest_server_binary()
    target = root / "usr/local/sbin/rest-server"
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(binary, target)
    os.chmod(target, 0o755)
    if not any(
        u.startswith("rest-server:") for u in (root / "etc/passwd").read_text().splitlines()
    ):
        sh(
            "useradd",
            "-R",
            root,
            "-r",
            "-M",
            "-d",
            "/srv/rest-server",
            "-s",
            "/usr/sbin/nologin",
            "rest-server",
        )
    uid, gid = chroot_ids(root, "rest-server")
    data = root / "srv/rest-server"
    data.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(data, 0o700)
    os.chown(data, uid, gid)
    ip = HOSTS["vault"]["ip"]
    # The lab gives host0 its address from outside once the host has booted (lab/network.py): the
    # server waits for it, so it never binds to any other address.
    write(
        root / "etc/systemd/system/lab-rest-server.service",
        "[Unit]\nDescription=lab: restic's REST server, append-only, on the lab bridge only\n"
        "After=network.target\n\n[Service]\nUser=rest-server\nGroup=rest-server\n"
        f'ExecStartPre=/bin/sh -c \'until ip -4 -o addr show dev host0 | grep -q " {ip}/"; '
        "do sleep 0.2; done'\n"
        f"ExecStart=/usr/local/sbin/rest-server --path /srv/rest-server --listen {ip}:{REST_PORT} "
        "--append-only --no-auth\n"
        "TimeoutStartSec=90\nRestart=on-failure\nRestartSec=1\n\n"
        "[Install]\nWantedBy=multi-user.target\n",
    )
    wants = root / "etc/systemd/system/multi-user.target.wants/lab-rest-server.service"
    wants.parent.mkdir(parents=True, exist_ok=True)
    if wants.is_symlink() or wants.exists():
        wants.unlink()
    wants.symlink_to("/etc/systemd/system/lab-rest-server.service")


def slow_boot(root, seconds: int) -> None:  # type: ignore[no-untyped-def]
    """PORTSIP_LAB_BOOT_DELAY: boot takes this much longer, logins refused meanwhile (a unit that
    systemd-user-sessions, which lifts pam_nologin, waits for), as on a slow VM: the lab's own
    readiness wait is tested against it."""
    unit = root / "etc/systemd/system/lab-slow-boot.service"
    wants = root / "etc/systemd/system/multi-user.target.wants/lab-slow-boot.service"
    if seconds <= 0:
        return
    write(
        unit,
        "[Unit]\nDescription=lab: a slow boot\nBefore=systemd-user-sessions.service\n"
        "DefaultDependencies=no\n\n[Service]\nType=oneshot\n"
        f"ExecStart=/bin/sleep {seconds}\n\n[Install]\nWantedBy=multi-user.target\n",
    )
    wants.parent.mkdir(parents=True, exist_ok=True)
    if not wants.is_symlink():
        wants.symlink_to("/etc/systemd/system/lab-slow-boot.service")
