"""pbx01's stand-ins: the pbx user, the HA helper im.sh and the PBX REST API (tests/lab/standin)."""

from __future__ import annotations

import json
import os
from pathlib import Path

from .common import LabError, sh, write
from .config import GUIDE_DIR, OPENAPI, RUN, STANDIN


def chroot_ids(root: Path, user: str) -> tuple[int, int]:
    for line in (root / "etc/passwd").read_text().splitlines():
        f = line.split(":")
        if f[0] == user:
            return int(f[2]), int(f[3])
    raise LabError(f"user {user} not found in {root}")


def provision_pbx01(root: Path, op_key: str) -> None:
    sec = RUN / "secrets"
    if not any(u.startswith("pbx:") for u in (root / "etc/passwd").read_text().splitlines()):
        sh("useradd", "-R", root, "-m", "-s", "/bin/bash", "-G", "sudo", "pbx")
    password = (RUN / "pbx_password").read_text().strip()
    sh("chpasswd", "-R", root, input=f"pbx:{password}\n")  # on stdin, never in argv
    write(root / "etc/sudoers.d/pbx", "pbx ALL=(ALL:ALL) NOPASSWD: ALL\n", 0o440)
    uid, gid = chroot_ids(root, "pbx")
    ssh_dir = root / "home/pbx/.ssh"
    ssh_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chown(ssh_dir, uid, gid)
    write(ssh_dir / "authorized_keys", op_key, 0o600, (uid, gid))
    # the stand-in HA helper (im.sh and what it ships to the IM host), owned by pbx
    guide = root / GUIDE_DIR.lstrip("/")
    guide.mkdir(parents=True, exist_ok=True)
    os.chown(guide, uid, gid)
    write(guide / "im.sh", (STANDIN / "im.sh").read_text(), 0o755, (uid, gid))
    for f in ("im-remote.py", "im-server.py"):
        write(guide / "lab-standin" / f, (STANDIN / f).read_text(), 0o644, (uid, gid))
    os.chown(guide / "lab-standin", uid, gid)
    # the stand-in PBX REST API: pbx-api.py and the package pbx_api/ it imports from beside it
    api = root / "opt/portsip-pbx-api"
    write(api / "pbx-api.py", (STANDIN / "pbx-api.py").read_text(), 0o755)
    for f in sorted((STANDIN / "pbx_api").glob("*.py")):
        write(api / "pbx_api" / f.name, f.read_text(), 0o644)
    if not OPENAPI.exists():
        raise SystemExit(f"{OPENAPI} is missing: the lab's PBX API is judged by it (../shared)")
    write(root / "etc/portsip-pbx-api/openapi.json", OPENAPI.read_text(), 0o644)
    admin_user, admin_pw = (RUN / "pbx_admin").read_text().splitlines()[:2]
    write(
        root / "etc/portsip-pbx-api/admin.json",
        json.dumps({"username": admin_user, "password": admin_pw}) + "\n",
        0o600,
    )
    write(root / "etc/portsip-pbx-api/tls.crt", (sec / "tls.crt").read_text(), 0o644)
    write(root / "etc/portsip-pbx-api/tls.key", (sec / "tls.key").read_text(), 0o600)
    write(
        root / "etc/systemd/system/portsip-pbx-api.service",
        "[Unit]\nDescription=PortSIP PBX REST API (lab stand-in)\nAfter=network.target\n\n"
        "[Service]\nExecStart=/usr/bin/python3 /opt/portsip-pbx-api/pbx-api.py\n"
        "Restart=always\nRestartSec=1\n\n[Install]\nWantedBy=multi-user.target\n",
    )
    wants = root / "etc/systemd/system/multi-user.target.wants"
    wants.mkdir(parents=True, exist_ok=True)
    link = wants / "portsip-pbx-api.service"
    if not link.is_symlink():
        link.symlink_to("/etc/systemd/system/portsip-pbx-api.service")
