"""The lab's state file and run directory, and what /proc says about its processes and mounts."""

from __future__ import annotations

import json
import os
from pathlib import Path

from .common import sh, write
from .config import RUN


def state_path() -> Path:
    return RUN / "state.json"


def load_state() -> dict:
    try:
        return json.loads(state_path().read_text())
    except (OSError, ValueError):
        return {}


def save_state(st: dict) -> None:
    RUN.mkdir(parents=True, exist_ok=True)
    write(state_path(), json.dumps(st, indent=1) + "\n", 0o600)


def host_dir(name: str) -> Path:
    return RUN / "hosts" / name


def host_root(name: str) -> Path:
    return host_dir(name) / "root"


def pid_alive(pid) -> bool:
    if not pid:
        return False
    try:
        os.kill(int(pid), 0)
    except (ProcessLookupError, PermissionError, ValueError):
        return False
    try:  # a zombie is not alive
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def proc_children(pid: int) -> list[tuple[int, str]]:
    out = []
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            s = (d / "stat").read_text()
        except OSError:
            continue
        comm = s[s.index("(") + 1 : s.rindex(")")]
        ppid = int(s[s.rindex(")") + 2 :].split()[1])
        if ppid == pid:
            out.append((int(d.name), comm))
    return out


def our_nspawn_pids(name: str) -> list[int]:
    """nspawn processes whose command line names this lab's root for `name` (found by PID)."""
    root = str(host_root(name))
    found = []
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            argv = (d / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if argv and argv[0].endswith(b"systemd-nspawn") and root.encode() in argv:
            found.append(int(d.name))
    return found


def is_mounted(path: Path) -> bool:
    p = str(path)
    try:
        for line in Path("/proc/self/mounts").read_text().splitlines():
            if line.split()[1] == p:
                return True
    except OSError:
        pass
    return False


def loop_of(file: Path) -> list[str]:
    if not file.exists():
        return []
    p = sh("losetup", "-j", file, check=False)
    return [line.split(":")[0] for line in p.stdout.splitlines() if line.strip()]
