"""`scripts/lab up` / `down` on their own: the lifecycle leaves nothing behind, and `up` refuses
cleanly on a machine that lacks what it needs.

These tests run `scripts/lab` themselves on cluster 1, so they are marked `lab_cycle`: run alone,
the plugin in tests/lab/fixture.py orders them before every test that uses the session `lab`
fixture (which then runs on cluster 1 too); under pytest-xdist the session labs run on clusters
of their own (fixture.py: WORKER_CLUSTER_BASE) and never meet these.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from tests.lab.fixture import LAB, parse_up, session_lab_on
from tests.lab.fixture import run_lab as run_any_lab

pytestmark = [pytest.mark.lab, pytest.mark.lab_cycle]

# Cluster 1, the lab as it always was (its addresses and names are what these tests check).
CLUSTER = {"PORTSIP_LAB_CLUSTER": "1"}
RUN = Path(os.environ.get("PORTSIP_LAB_RUN", "/run/portsip-im-lab"))
# Another cluster's run dir (/run/portsip-im-lab-3) and bridge (br-pimlab3) are not this one's.
MINE = re.compile(rf"{re.escape(str(RUN))}(/|\s|$)|br-pimlab(\s|$|[^0-9])")


def run_lab(*args: str, timeout: float = 300, env: dict | None = None):
    return run_any_lab(*args, timeout=timeout, env={**CLUSTER, **(env or {})})


UP_KEYS = [
    "pbx01",
    "im",
    "im_public",
    "key",
    "pbx_api",
    "pbx_admin",
    "known_hosts",
    "pbx01_host_key",
    "im_host_key",
]


def live_lab_processes() -> list[str]:
    """Non-zombie processes whose command line mentions the lab's run dir (nspawn and friends)."""
    found = []
    for d in Path("/proc").iterdir():
        if not d.name.isdigit() or int(d.name) == os.getpid():
            continue
        try:
            state = (d / "stat").read_text().rsplit(")", 1)[1].split()[0]
            argv = (d / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if state != "Z" and MINE.search(argv):
            found.append(f"{d.name}: {argv}")
    return found


def leftovers() -> list[str]:
    out = []
    procs = live_lab_processes()
    deadline = time.time() + 10
    while procs and time.time() < deadline:
        time.sleep(0.2)
        procs = live_lab_processes()
    out += [f"process {p}" for p in procs]
    if Path("/sys/class/net/br-pimlab").exists():
        out.append("bridge br-pimlab")
    loops = subprocess.run(["losetup", "-a"], capture_output=True, text=True).stdout
    out += [f"loop {line}" for line in loops.splitlines() if MINE.search(line)]
    mounts = Path("/proc/self/mounts").read_text()
    out += [f"mount {line}" for line in mounts.splitlines() if MINE.search(line)]
    for veth in ("vb-pbx01", "vb-im", "vb-vault"):
        if Path(f"/sys/class/net/{veth}").exists():
            out.append(f"veth {veth}")
    if RUN.exists():
        out.append(f"run dir {RUN}")
    return out


def test_up_down_twice_leaves_nothing_behind():
    assert not session_lab_on(1), "must run before the session lab starts (lab_cycle ordering)"
    assert run_lab("down").returncode == 0  # start from nothing, whatever ran before
    for round_ in (1, 2):
        up = run_lab("up", timeout=900)
        assert up.returncode == 0, up.stderr
        facts = parse_up(up.stdout)
        assert list(facts)[: len(UP_KEYS)] == UP_KEYS, up.stdout
        assert facts["pbx01"] == "10.213.7.11" and facts["im"] == "10.213.7.12"
        assert facts["im_public"] == "10.213.7.112"
        assert facts["pbx_api"] == "https://10.213.7.11:8887/api"
        again = run_lab("up")  # idempotent: same facts, nothing restarted
        assert again.returncode == 0 and parse_up(again.stdout) == facts
        assert run_lab("status").returncode == 0
        down = run_lab("down")
        assert down.returncode == 0, down.stderr
        assert leftovers() == [], f"round {round_}"
        st = run_lab("status")
        assert st.returncode == 3 and "not running" in st.stdout
    assert run_lab("down").returncode == 0  # down when nothing runs succeeds


def test_down_after_a_crashed_up_cleans_up():
    """Kill `up` half-way (after the bridge, loop device and containers exist), then `down`."""
    assert not session_lab_on(1)
    p = subprocess.Popen(
        [str(LAB), "up"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, **CLUSTER},
    )
    deadline = time.time() + 120
    while time.time() < deadline and not live_lab_processes():
        time.sleep(0.05)
    p.kill()
    p.wait()
    assert run_lab("down").returncode == 0
    assert leftovers() == []


def _tool_dir(without: set[str]) -> str:
    """A PATH holding every tool the lab uses except `without`."""
    d = tempfile.mkdtemp(prefix="lab-path-")
    os.symlink(os.path.realpath(sys.executable), os.path.join(d, "python3"))
    for tool in [
        "env",
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
        "debootstrap",
    ]:
        src = shutil.which(tool)
        if src and tool not in without:
            os.symlink(src, os.path.join(d, tool))
    return d


def assert_refused_cleanly(p: subprocess.CompletedProcess, words: str) -> None:
    assert p.returncode != 0
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("lab: error: ") and words in lines[0], p.stderr
    assert p.stdout == ""


@pytest.fixture
def nothing_running():
    if session_lab_on(1) or run_lab("status").returncode != 3:
        pytest.fail("these checks need a stopped lab (they ran after the session lab started?)")
    yield
    assert leftovers() == []


def test_up_without_systemd_nspawn_says_so(nothing_running):
    d = _tool_dir({"systemd-nspawn"})
    try:
        p = run_lab("up", env={"PATH": d})
    finally:
        shutil.rmtree(d)
    assert_refused_cleanly(p, "systemd-nspawn")
    assert "systemd-container" in p.stderr


def test_up_without_debootstrap_and_no_cached_image_says_so(nothing_running):
    d = _tool_dir({"debootstrap"})
    cache = tempfile.mkdtemp(prefix="lab-empty-cache-")
    try:
        p = run_lab("up", env={"PATH": d, "PORTSIP_LAB_CACHE": cache})
    finally:
        shutil.rmtree(d)
        shutil.rmtree(cache)
    assert_refused_cleanly(p, "debootstrap")


def test_up_without_disk_space_says_so(nothing_running):
    p = run_lab("up", env={"PORTSIP_LAB_MIN_FREE_MB": str(10**9)})
    assert_refused_cleanly(p, "not enough disk space")


def test_up_as_non_root_says_so(nothing_running):
    d = tempfile.mkdtemp(prefix="lab-nonroot-")
    os.chmod(d, 0o755)
    # scripts/lab runs the package lab/ from the repository root above it: copy both, so laid out
    os.mkdir(os.path.join(d, "scripts"))
    shutil.copy(LAB, os.path.join(d, "scripts", "lab"))
    shutil.copytree(
        LAB.parent.parent / "lab",
        os.path.join(d, "lab"),
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    try:
        p = subprocess.run(
            [
                "setpriv",
                "--reuid=65534",
                "--regid=65534",
                "--clear-groups",
                "/usr/bin/python3",
                os.path.join(d, "scripts", "lab"),
                "up",
            ],
            capture_output=True,
            text=True,
            timeout=60,
            env={**os.environ, **CLUSTER},
        )
    finally:
        shutil.rmtree(d)
    assert_refused_cleanly(p, "must run as root")
