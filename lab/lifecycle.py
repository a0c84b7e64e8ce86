"""Starting and stopping the whole lab, and resetting one host."""

from __future__ import annotations

import fcntl
import os
import shutil
import time
from pathlib import Path

from .common import LabError, log, sh
from .config import (
    API_PORT,
    BRIDGE,
    BRIDGE_IP,
    CACHE,
    DATA_DISK_MB,
    HOSTS,
    IM_PUBLIC,
    PREFIX,
    REST_PORT,
    RUN,
)
from .faults import FAULTS, blank_disk
from .hosts import (
    lab_is_up,
    mount_host,
    spawn,
    start_host,
    stop_host,
    wait_init,
    wait_ready,
    wipe_upper,
)
from .image import ensure_image, preflight
from .keys import host_pubkey, make_secrets
from .network import address, bridge_exists, bridge_ports
from .provision import provision
from .state import host_root, is_mounted, load_state, loop_of, our_nspawn_pids, save_state


def info_lines(st: dict) -> list[str]:
    admin = RUN / "pbx_admin"
    return [
        f"pbx01: {HOSTS['pbx01']['ip']}",
        f"im: {HOSTS['im']['ip']}",
        f"im_public: {IM_PUBLIC}",
        f"key: {RUN / 'id_ed25519'}",
        f"pbx_api: https://{HOSTS['pbx01']['ip']}:{API_PORT}/api",
        f"pbx_admin: {admin}",
        f"known_hosts: {RUN / 'known_hosts'}",
        f"pbx01_host_key: {host_pubkey('pbx01')}",
        f"im_host_key: {host_pubkey('im')}",
        f"pbx_password: {RUN / 'pbx_password'}",
        f"im_data_disk: {st.get('loop')}",
        f"pbx_api_ca: {RUN / 'pbx_api_ca.crt'}",
        f"pbx01_root: {host_root('pbx01')}",
        f"im_root: {host_root('im')}",
        f"run_dir: {RUN}",
        f"vault: {HOSTS['vault']['ip']}",
        f"vault_host_key: {host_pubkey('vault')}",
        f"backup_ssh_key: {RUN / 'backup_ssh_key'}",
        f"vault_root: {host_root('vault')}",
        f"vault_rest: rest:http://{HOSTS['vault']['ip']}:{REST_PORT}/",
    ]


def with_lock(fn):
    def wrapped(*a):
        CACHE.mkdir(parents=True, exist_ok=True)
        with open(CACHE / ".lock", "w") as lk:
            fcntl.flock(lk, fcntl.LOCK_EX)
            return fn(*a)

    return wrapped


@with_lock
def cmd_up(_args) -> int:
    preflight()
    st = load_state()
    if lab_is_up(st):
        log("already up")
        print("\n".join(info_lines(st)))
        return 0
    if st or RUN.exists() or any(our_nspawn_pids(n) for n in HOSTS):
        log("cleaning up a previous, incomplete lab first")
        do_down()
    if bridge_exists():
        raise LabError(
            f"bridge {BRIDGE} already exists and is not this lab's ({RUN}); "
            f"another lab running? ({', '.join(bridge_ports()) or 'no ports'})"
        )
    t0 = time.time()
    try:
        image = ensure_image()
        st = {"hosts": {n: {} for n in HOSTS}, "faults": [], "image": str(image)}
        RUN.mkdir(parents=True, exist_ok=True)
        os.chmod(RUN, 0o700)
        save_state(st)
        sh("ip", "link", "add", BRIDGE, "type", "bridge")
        st["bridge"] = True
        save_state(st)
        Path(f"/proc/sys/net/ipv6/conf/{BRIDGE}/disable_ipv6").write_text("1\n")
        sh("ip", "addr", "add", f"{BRIDGE_IP}/{PREFIX}", "dev", BRIDGE)
        sh("ip", "link", "set", BRIDGE, "up")
        make_secrets()
        disk = RUN / "im-data.img"
        with open(disk, "wb") as f:
            f.truncate(DATA_DISK_MB * 1024 * 1024)
        st["loop"] = sh("losetup", "-f", "--show", disk).stdout.strip()
        save_state(st)
        for name in HOSTS:
            mount_host(name, image)
            provision(name)
        for name in HOSTS:
            spawn(name, st)
        for name in HOSTS:
            st["hosts"][name]["init_pid"] = wait_init(name, st["hosts"][name]["nspawn_pid"])
            save_state(st)
            address(name, st["hosts"][name]["init_pid"])
        for name in HOSTS:
            wait_ready(name, st=st)
        st["complete"] = True
        save_state(st)
    except BaseException as e:
        log(f"up failed ({e}); stopping what was started")
        try:
            do_down()
        except Exception as e2:  # noqa: BLE001
            log(f"cleanup after failed up: {e2}")
        if isinstance(e, LabError):
            raise
        raise LabError(f"up failed: {type(e).__name__}: {e}") from e
    log(f"up in {time.time() - t0:.1f}s")
    print("\n".join(info_lines(st)))
    return 0


def do_down() -> None:
    st = load_state()
    errors = []
    for name in HOSTS:
        try:
            stop_host(name, st)
        except Exception as e:  # noqa: BLE001
            errors.append(f"{name}: {e}")
    loops = set(loop_of(RUN / "im-data.img"))
    if (
        st.get("loop")
        and (RUN / "im-data.img").exists()
        and st["loop"] in loop_of(RUN / "im-data.img")
    ):
        loops.add(st["loop"])
    for dev in loops:
        if sh("losetup", "-d", dev, check=False).returncode != 0:
            errors.append(f"losetup -d {dev} failed")
    if is_mounted(RUN / "mnt"):
        sh("umount", RUN / "mnt", check=False)
    if bridge_exists():
        ports = bridge_ports()
        if ports and not st.get("bridge"):
            errors.append(f"bridge {BRIDGE} has ports {ports} not started by this lab; left alone")
        else:
            sh("ip", "link", "del", BRIDGE, check=False)
    still = [n for n in HOSTS if is_mounted(host_root(n))]
    if still:
        errors.append(f"still mounted: {still}")
    else:
        shutil.rmtree(RUN, ignore_errors=True)
    if errors:
        raise LabError("; ".join(errors))


@with_lock
def cmd_down(_args) -> int:
    do_down()
    log("down")
    return 0


@with_lock
def cmd_reset(args) -> int:
    if len(args) != 1 or args[0] not in HOSTS:
        raise LabError(f"usage: scripts/lab reset {'|'.join(HOSTS)}")
    name = args[0]
    st = load_state()
    if not lab_is_up(st) and not st.get("complete"):
        raise LabError("the lab is not up (scripts/lab up)")
    t0 = time.time()
    image = Path(st["image"])
    stop_host(name, st)
    wipe_upper(name)
    if name == "im":
        blank_disk(st)
    st["faults"] = [f for f in st["faults"] if FAULTS[f].split(":")[0] != name]
    save_state(st)
    start_host(name, st, image)
    wait_ready(name, st=st)
    log(f"{name} reset in {time.time() - t0:.1f}s")
    return 0
