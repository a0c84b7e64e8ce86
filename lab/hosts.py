"""The systemd-nspawn hosts: mount, boot, wait for, stop and reset them; run a script in one."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

from .common import LabError, log, sh
from .config import API_PORT, BRIDGE, HOSTS, MACHINE, REST_PORT, RUN, SYS_PATH
from .keys import host_pubkey
from .network import address, bridge_exists, tcp_answers
from .provision import provision
from .state import (
    host_dir,
    host_root,
    is_mounted,
    our_nspawn_pids,
    pid_alive,
    proc_children,
    save_state,
)


def mount_host(name: str, image: Path) -> None:
    d = host_dir(name)
    for sub in ("upper", "work", "root"):
        (d / sub).mkdir(parents=True, exist_ok=True)
    if not is_mounted(d / "root"):
        sh(
            "mount",
            "-t",
            "overlay",
            "overlay",
            "-o",
            f"lowerdir={image},upperdir={d / 'upper'},workdir={d / 'work'}",
            d / "root",
        )


def spawn(name: str, st: dict) -> int:
    args = [
        "systemd-nspawn",
        "-D",
        str(host_root(name)),
        "-M",
        MACHINE[name],
        "--register=no",
        "--keep-unit",
        "-b",
        f"--network-bridge={BRIDGE}",
        "--console=read-only",
        "--resolv-conf=off",
        "--timezone=off",
        "--link-journal=no",
    ]
    if MACHINE[name] != name:
        args.append(f"--hostname={name}")
    if name == "im" and st.get("loop"):
        args += [f"--bind={st['loop']}", f"--property=DeviceAllow={st['loop']} rwm"]
    logs = RUN / "logs"
    logs.mkdir(exist_ok=True)
    out = open(logs / f"{name}.console.log", "ab")
    p = subprocess.Popen(
        args,
        stdin=subprocess.DEVNULL,
        stdout=out,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        env={"PATH": SYS_PATH, "LANG": "C.UTF-8"},
    )
    out.close()
    st["hosts"].setdefault(name, {})["nspawn_pid"] = p.pid
    save_state(st)
    return p.pid


def wait_init(name: str, nspawn_pid: int, timeout: float = 30) -> int:
    """The container's init is nspawn's child named systemd; the first such child is transient."""
    my_netns = os.readlink("/proc/self/ns/net")
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        if not pid_alive(nspawn_pid):
            tail = (
                (RUN / "logs" / f"{name}.console.log")
                .read_text(errors="replace")
                .strip()
                .splitlines()
            )
            raise LabError(f"{name}: systemd-nspawn exited: {tail[-1] if tail else '?'}")
        kids = [pid for pid, comm in proc_children(nspawn_pid) if comm == "systemd"]
        cur = kids[0] if len(kids) == 1 else None
        if cur and cur == last:
            try:
                if (
                    os.readlink(f"/proc/{cur}/ns/net") != my_netns
                    and sh(
                        "nsenter", "-t", cur, "-n", "ip", "link", "show", "host0", check=False
                    ).returncode
                    == 0
                ):
                    return cur
            except OSError:
                pass
        last = cur
        time.sleep(0.1)
    raise LabError(f"{name}: the container's init did not appear within {timeout:.0f}s")


def wait_booted(name: str, st: dict, timeout: int = 90) -> None:
    """Until systemd says boot has finished and logins are allowed: before that, pam_nologin refuses
    every user but root ("System is booting up"), and a step that logs in as pbx fails (seen in one
    lab stack in four). A container may come up `degraded` (a unit it has no use for failed): that
    is finished too, but only once /run/nologin is gone, which systemd-user-sessions removes."""
    deadline = time.time() + timeout
    p = in_host(name, st, f"timeout {timeout} systemctl is-system-running --wait", check=False)
    state = (p.stdout.split() or ["?"])[0]
    if state not in ("running", "degraded"):
        raise LabError(f"{name}: boot did not finish within {timeout}s (systemd: {state})")
    repaired = False
    while in_host(name, st, "test -e /run/nologin", check=False).returncode == 0:
        if time.time() > deadline:
            failed = in_host(name, st, "systemctl --failed --plain --no-legend", check=False)
            raise LabError(
                f"{name}: boot finished ({state}) but logins are still refused (/run/nologin); "
                f"failed units: {' '.join(failed.stdout.split()) or 'none'}"
            )
        sessions = in_host(
            name, st, "systemctl is-active systemd-user-sessions.service", check=False
        ).stdout.strip()
        if not repaired and (
            # boot has finished, so a failed start is final (seen: status 219/CGROUP, "Failed to
            # attach to cgroup", in about one `up` in ten with three hosts): no use waiting
            sessions == "failed"
            or (sessions == "inactive" and time.time() > deadline - timeout / 2)
        ):
            # a container booted under load can lose systemd-user-sessions' start; the host is
            # otherwise up, so start it once, loudly, rather than fail the whole lab
            log(f"{name}: systemd-user-sessions is {sessions} after boot; starting it")
            in_host(name, st, "systemctl start systemd-user-sessions.service", check=False)
            repaired = True
        time.sleep(0.5)


def wait_ready(name: str, timeout: float = 60, st: dict | None = None) -> None:
    ip = HOSTS[name]["ip"]
    deadline = time.time() + timeout
    while not tcp_answers(ip, 22, b"SSH-"):
        if time.time() > deadline:
            raise LabError(f"{name}: sshd did not answer on {ip}:22 within {timeout:.0f}s")
        time.sleep(0.1)
    if host_pubkey(name) not in served_ed25519(ip):
        raise LabError(
            f"{name}: {ip} does not serve the expected host key (another host on this address?)"
        )
    if st is not None:
        wait_booted(name, st)
    if name == "vault":
        while not tcp_answers(ip, REST_PORT):
            if time.time() > deadline:
                raise LabError(f"vault: rest-server did not answer on {ip}:{REST_PORT}")
            time.sleep(0.1)
    if name == "pbx01":
        while not tcp_answers(ip, API_PORT):
            if time.time() > deadline:
                raise LabError(f"pbx01: the stand-in PBX API did not answer on {ip}:{API_PORT}")
            time.sleep(0.1)


def served_ed25519(ip: str) -> list[str]:
    """The ed25519 host keys sshd at ip:22 serves now (`ssh-ed25519 AAAA...`), as ssh-keyscan
    reads them (none while it does not answer)."""
    p = sh("ssh-keyscan", "-T", "5", "-t", "ed25519", ip, check=False)
    return [
        line.split(None, 1)[1]
        for line in p.stdout.splitlines()
        if line and not line.startswith("#")
    ]


def restart_sshd(
    name: str, st: dict, lab_keys: bool, wait: bool = True, timeout: float = 30
) -> None:
    """Restart the host's sshd (it reads its host keys when it starts; open sessions stay) and,
    with `wait`, wait until it serves the lab's own ed25519 key (`lab_keys`) or another one."""
    in_host(name, st, "systemctl restart ssh.service")
    if not wait:  # its link is down (fault im-down): nothing answers to wait for
        return
    ip = HOSTS[name]["ip"]
    deadline = time.time() + timeout
    while True:
        got = served_ed25519(ip)
        if got and (host_pubkey(name) in got) == lab_keys:
            return
        if time.time() > deadline:
            which = "its lab host key" if lab_keys else "a new host key"
            raise LabError(f"{name}: sshd does not serve {which} on {ip}:22 after {timeout:.0f}s")
        time.sleep(0.2)


def stop_host(name: str, st: dict) -> None:
    h = st.get("hosts", {}).get(name, {})
    pids = set(our_nspawn_pids(name))
    if h.get("nspawn_pid") and pid_alive(h["nspawn_pid"]):
        pids.add(int(h["nspawn_pid"]))
    for pid in pids:
        try:
            os.kill(pid, signal.SIGTERM)  # nspawn asks the container's systemd to power off
        except ProcessLookupError:
            pass
    deadline = time.time() + 15
    while any(pid_alive(p) for p in pids) and time.time() < deadline:
        time.sleep(0.1)
    for pid in pids:
        if pid_alive(pid):
            log(f"{name}: systemd-nspawn {pid} did not stop, killing it")
            init = h.get("init_pid")
            for victim in (init, pid):
                try:
                    if victim and pid_alive(victim):
                        os.kill(int(victim), signal.SIGKILL)
                except ProcessLookupError:
                    pass
    while any(pid_alive(p) for p in pids) and time.time() < deadline + 5:
        time.sleep(0.1)
    # reap our own children if any
    for pid in pids:
        try:
            os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            pass
    root = host_root(name)
    lock_name = None
    if is_mounted(root):
        try:
            s = os.stat(root)
            lock_name = f"inode-{s.st_dev}:{s.st_ino}"
        except OSError:
            pass
        for _ in range(50):
            if sh("umount", root, check=False).returncode == 0:
                break
            time.sleep(0.1)
        else:
            sh("umount", "-l", root, check=False)
    # what systemd-nspawn leaves in /run when /run is not a tmpfs
    shutil.rmtree(f"/run/systemd/nspawn/propagate/{name}", ignore_errors=True)
    if lock_name:
        Path(f"/run/systemd/nspawn/locks/{lock_name}").unlink(missing_ok=True)
    if name in st.get("hosts", {}):
        st["hosts"][name].update(nspawn_pid=None, init_pid=None)


def start_host(name: str, st: dict, image: Path) -> None:
    mount_host(name, image)
    provision(name)
    pid = spawn(name, st)
    init = wait_init(name, pid)
    st["hosts"][name]["init_pid"] = init
    save_state(st)
    address(name, init)


def wipe_upper(name: str) -> None:
    d = host_dir(name)
    for sub in ("upper", "work"):
        shutil.rmtree(d / sub, ignore_errors=True)


def running_hosts(st: dict) -> dict:
    return {
        n: h
        for n, h in st.get("hosts", {}).items()
        if pid_alive(h.get("nspawn_pid")) and pid_alive(h.get("init_pid"))
    }


def lab_is_up(st: dict) -> bool:
    return (
        bool(st.get("complete"))
        and len(running_hosts(st)) == len(HOSTS)
        and bridge_exists()
        and all(sshd_listening(name, st) for name in HOSTS)
    )


def sshd_listening(name: str, st: dict) -> bool:
    """sshd listens on port 22 inside the host. Asked inside, not by a connection from this
    machine: a test's firewall on a host may drop this machine's SSH on purpose, and a lab that
    took that for a broken host would make every host anew, with new host keys, under the tests
    that still pin the old ones."""
    done = in_host(name, st, "ss -Hltn 'sport = :22' | grep -q .", check=False)
    return done.returncode == 0


def in_host(name: str, st: dict, script: str, check: bool = True) -> subprocess.CompletedProcess:
    """Run a shell script inside a host through nsenter: not over SSH, so not in the command log."""
    init = st["hosts"][name]["init_pid"]
    return sh(
        "nsenter",
        "-t",
        init,
        "-m",
        "-u",
        "-i",
        "-n",
        "-p",
        "--",
        "/bin/sh",
        "-c",
        script,
        check=check,
        env={"PATH": SYS_PATH, "LANG": "C.UTF-8"},
    )
