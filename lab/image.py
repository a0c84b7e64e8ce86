"""The preflight checks and the cached debootstrap root image the hosts boot from."""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import time
from pathlib import Path

from .common import LabError, log, write
from .config import CACHE, INCLUDE, MIN_FREE_MB, MIRROR, RUN, SUITE


def image_key() -> str:
    spec = json.dumps({"suite": SUITE, "variant": "minbase", "include": INCLUDE}, sort_keys=True)
    return hashlib.sha256(spec.encode()).hexdigest()[:12]


def image_dir() -> Path:
    return CACHE / f"rootfs-{SUITE}-{image_key()}"


def image_ready() -> bool:
    return (image_dir() / ".lab-image-complete").exists()


def free_mb(path: Path) -> int:
    while not path.exists():
        path = path.parent
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize // (1024 * 1024)


def preflight() -> None:
    """Everything `up` needs, checked before anything is started. Raises LabError (one line)."""
    if os.geteuid() != 0:
        raise LabError("must run as root (it creates a bridge, loop devices and containers)")
    need = [
        "systemd-nspawn",
        "nsenter",
        "losetup",
        "ip",
        "mount",
        "umount",
        "ssh-keygen",
        "ssh-keyscan",
        "openssl",
        "useradd",
        "chpasswd",
        "mkfs.ext4",
        "wipefs",
    ]
    if not image_ready():
        need.append("debootstrap")
    missing = [c for c in need if not shutil.which(c)]
    if missing:
        pkgs = {"systemd-nspawn": "systemd-container", "debootstrap": "debootstrap"}
        hint = ", ".join(sorted({pkgs.get(m, m) for m in missing}))
        raise LabError(f"missing command(s) {', '.join(missing)} (apt-get install {hint})")
    if "overlay" not in Path("/proc/filesystems").read_text():
        raise LabError("the kernel has no overlay file system")
    if not Path("/dev/loop-control").exists():
        raise LabError("no /dev/loop-control: loop devices are not available")
    need_cache = MIN_FREE_MB or (1024 if not image_ready() else 0)
    need_run = MIN_FREE_MB or 200
    if need_cache and free_mb(CACHE) < need_cache:
        raise LabError(
            f"not enough disk space for the root image in {CACHE}: "
            f"{free_mb(CACHE)} MB free, need {need_cache} MB"
        )
    if free_mb(RUN) < need_run:
        raise LabError(
            f"not enough disk space in {RUN.parent}: {free_mb(RUN)} MB free, need {need_run} MB"
        )


def ensure_image() -> Path:
    img = image_dir()
    if image_ready():
        return img
    CACHE.mkdir(parents=True, exist_ok=True)
    # Several clusters may start at once (the test workers): one builds, the others wait for it.
    with open(CACHE / ".build.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        return img if image_ready() else _build(img)


def _build(img: Path) -> Path:
    for old in CACHE.glob("rootfs-*"):  # other versions and half-built ones
        if old != img:
            shutil.rmtree(old, ignore_errors=True)
    tmp = CACHE / f"build-{image_key()}"
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.rmtree(img, ignore_errors=True)
    log(f"building the root image with debootstrap into {img} (once; about a minute)")
    t0 = time.time()
    p = subprocess.run(
        [
            "debootstrap",
            "--variant=minbase",
            f"--include={','.join(INCLUDE)}",
            SUITE,
            str(tmp),
            MIRROR,
        ],
        capture_output=True,
        text=True,
    )
    if p.returncode != 0:
        shutil.rmtree(tmp, ignore_errors=True)
        tail = (p.stderr.strip() or p.stdout.strip() or "?").splitlines()[-1]
        raise LabError(f"debootstrap failed: {tail}")
    for k in (tmp / "etc/ssh").glob("ssh_host_*"):
        k.unlink()
    write(tmp / "etc/machine-id", "")
    for deb in (tmp / "var/cache/apt/archives").glob("*.deb"):
        deb.unlink()
    (tmp / ".lab-image-complete").write_text(
        f"built {time.strftime('%F %T')} in {time.time() - t0:.0f}s\n"
    )
    tmp.rename(img)
    log(f"root image ready ({time.time() - t0:.0f}s)")
    return img
