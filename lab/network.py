"""The lab's bridge and the hosts' addresses on it."""

from __future__ import annotations

import socket
from pathlib import Path

from .common import LabError, sh
from .config import BRIDGE, HOSTS, PREFIX


def bridge_exists() -> bool:
    return Path(f"/sys/class/net/{BRIDGE}").exists()


def bridge_ports() -> list[str]:
    d = Path(f"/sys/class/net/{BRIDGE}/brif")
    return sorted(p.name for p in d.iterdir()) if d.exists() else []


def address(name: str, init: int) -> None:
    h = HOSTS[name]
    for ip in [h["ip"], *h["extra"]]:
        p = sh(
            "nsenter",
            "-t",
            init,
            "-n",
            "ip",
            "addr",
            "add",
            f"{ip}/{PREFIX}",
            "dev",
            "host0",
            check=False,
        )
        if p.returncode != 0 and "exists" not in p.stderr:
            raise LabError(f"{name}: ip addr add {ip}: {p.stderr.strip()}")
    sh("nsenter", "-t", init, "-n", "ip", "link", "set", "host0", "up")


def tcp_answers(ip: str, port: int, banner: bytes | None = None) -> bool:
    try:
        with socket.create_connection((ip, port), timeout=1) as s:
            if banner is None:
                return True
            s.settimeout(2)
            return s.recv(64).startswith(banner)
    except OSError:
        return False
