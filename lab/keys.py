"""Per-lab secrets: the operator key, the IM host's backup key (for the vault), the hosts' SSH host
keys, the PBX API's TLS certificate and admin password, and the known_hosts file that names them."""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
from pathlib import Path

from .common import LabError, sh, write
from .config import HOSTS, PBX_ADMIN_USER, RUN


def keygen(path: Path, kind: str, comment: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    sh("ssh-keygen", "-q", "-t", kind, "-N", "", "-C", comment, "-f", path)


def keygen_started(path: Path, kind: str, comment: str) -> subprocess.Popen:
    """ssh-keygen started for a new key pair without a passphrase (OpenSSH format, private key
    0600); the caller waits, so the keys are made side by side."""
    return subprocess.Popen(
        ["ssh-keygen", "-q", "-t", kind, "-N", "", "-C", comment, "-f", str(path)],
        stdout=subprocess.DEVNULL,
    )


def make_secrets() -> None:
    """Per-lab secrets, made once per `up` and kept for `reset`."""
    RUN.mkdir(parents=True, exist_ok=True)
    os.chmod(RUN, 0o700)
    sec = RUN / "secrets"
    sec.mkdir(mode=0o700, exist_ok=True)
    procs = []
    if not (RUN / "id_ed25519").exists():
        procs.append(keygen_started(RUN / "id_ed25519", "ed25519", "portsip-im-lab-operator"))
    # The IM host's root logs in to the vault's restic account with it (an `sftp:` repository).
    if not (RUN / "backup_ssh_key").exists():
        procs.append(keygen_started(RUN / "backup_ssh_key", "ed25519", "portsip-im-lab-backup"))
    for name in HOSTS:
        d = sec / name
        d.mkdir(mode=0o700, exist_ok=True)
        for kind in ("rsa", "ecdsa", "ed25519"):
            f = d / f"ssh_host_{kind}_key"
            if not f.exists():
                procs.append(keygen_started(f, kind, f"root@{name}"))
    if not (sec / "tls.crt").exists():
        procs.append(
            subprocess.Popen(
                [
                    "openssl",
                    "req",
                    "-x509",
                    "-newkey",
                    "ec",
                    "-pkeyopt",
                    "ec_paramgen_curve:prime256v1",
                    "-nodes",
                    "-days",
                    "365",
                    "-subj",
                    "/CN=pbx01",
                    "-addext",
                    f"subjectAltName=IP:{HOSTS['pbx01']['ip']},IP:127.0.0.1,DNS:pbx01,DNS:localhost",
                    "-keyout",
                    str(sec / "tls.key"),
                    "-out",
                    str(sec / "tls.crt"),
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )
    if not (RUN / "pbx_admin").exists():
        write(RUN / "pbx_admin", f"{PBX_ADMIN_USER}\n{secrets.token_urlsafe(18)}\n", 0o600)
    if not (RUN / "pbx_password").exists():
        write(RUN / "pbx_password", secrets.token_urlsafe(18) + "\n", 0o600)
    for p in procs:
        if p.wait() != 0:
            raise LabError(f"key generation failed: {' '.join(p.args[:4])}")
    shutil.copy(sec / "tls.crt", RUN / "pbx_api_ca.crt")
    lines = []
    for name, h in HOSTS.items():
        addrs = ",".join([h["ip"], *h["extra"], name])
        for kind in ("ed25519", "ecdsa", "rsa"):
            pub = (sec / name / f"ssh_host_{kind}_key.pub").read_text().split()
            lines.append(f"{addrs} {pub[0]} {pub[1]}")
    write(RUN / "known_hosts", "\n".join(lines) + "\n", 0o644)


def host_pubkey(name: str) -> str:
    pub = (RUN / "secrets" / name / "ssh_host_ed25519_key.pub").read_text().split()
    return f"{pub[0]} {pub[1]}"
