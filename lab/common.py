"""What every part of the lab uses: its error, its log line, running a command, writing a file."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


class LabError(Exception):
    pass


def log(msg: str) -> None:
    print(f"lab: {msg}", file=sys.stderr, flush=True)


def sh(*args, input=None, check=True, env=None, timeout=120) -> subprocess.CompletedProcess:
    """Run a command; on failure raise LabError with its first line of stderr."""
    args = [str(a) for a in args]
    p = subprocess.run(args, input=input, capture_output=True, text=True, env=env, timeout=timeout)
    if check and p.returncode != 0:
        err = (p.stderr.strip() or p.stdout.strip() or f"exit {p.returncode}").splitlines()[-1]
        raise LabError(f"{' '.join(args[:4])}: {err}")
    return p


def write(path: Path, text: str, mode: int = 0o644, owner: tuple[int, int] | None = None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".lab-tmp")
    if tmp.is_symlink() or tmp.exists():
        tmp.unlink()
    with open(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode), "w") as f:
        f.write(text)
    os.chmod(tmp, mode)
    if owner:
        os.chown(tmp, *owner)
    if path.is_symlink():
        path.unlink()
    os.replace(tmp, path)
