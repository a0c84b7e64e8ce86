"""The fault catalogue (docs/lab.md), and planting and clearing the faults."""

from __future__ import annotations

import hashlib
import shutil

from .common import sh, write
from .config import GUIDE_DIR, HOSTS, RUN
from .hosts import in_host, restart_sshd, running_hosts
from .provision import has_lab_host_keys, install_host_keys
from .standins import chroot_ids
from .state import host_root

# Faults: name -> (host, what it plants). Details in docs/lab.md.
FAKE_PACKAGES = {
    "postgresql": [
        ("postgresql-16", "PostgreSQL 16 (lab fault marker)"),
        ("postgresql", "PostgreSQL metapackage (lab fault marker)"),
    ],
    "dns": [("bind9", "Internet Domain Name Server (lab fault marker)")],
    "dhcp": [("isc-dhcp-server", "ISC DHCP server (lab fault marker)")],
    "vpn": [("openvpn", "virtual private network daemon (lab fault marker)")],
    "teamviewer": [("teamviewer", "TeamViewer remote control (lab fault marker)")],
}
# im.sh faults: the lab switch file each plants in GUIDE_DIR (tests/lab/standin/im.sh reads them).
IMSH_SWITCHES = {
    "imsh-fail": ".fail-next",
    "imsh-fail-always": ".fail-always",
    "imsh-error-exit0": ".error-exit0-next",
}
LISTENERS = {"dns": ("lab-fault-dns", "53/udp 53/tcp"), "dhcp": ("lab-fault-dhcp", "67/udp")}
FAULTS = {
    "postgresql": "im: dpkg status entries for postgresql-16 and postgresql",
    "dns": "im: dpkg entry for bind9 and a listener on :53 udp+tcp (lab-fault-dns.service)",
    "dhcp": "im: dpkg entry for isc-dhcp-server and a listener on :67/udp (lab-fault-dhcp.service)",
    "vpn": "im: dpkg entry for openvpn",
    "teamviewer": "im: dpkg entry for teamviewer",
    "os": 'im: /etc/os-release replaced by a file saying Debian 11 (VERSION_ID="11")',
    "disk": "im: the data disk gets ext4 (label lab-fault) holding a file LAB-FAULT-NOT-BLANK",
    "imsh-fail": f"pbx01: {GUIDE_DIR}/.fail-next (the next im.sh verb fails, switch consumed)",
    "imsh-fail-always": f"pbx01: {GUIDE_DIR}/.fail-always (every im.sh verb fails until cleared)",
    "imsh-error-exit0": f"pbx01: {GUIDE_DIR}/.error-exit0-next (the next im.sh verb prints an "
    "[error] line and exits 0, switch consumed)",
    "pbx01-down": "pbx01: its network link host0 is down (unreachable)",
    "im-down": "im: its network link host0 is down (unreachable)",
    "im-new-host-key": "im: new SSH host keys of every type, as on a VM rebuilt at the same "
    "address (sshd restarted; the lab's known_hosts no longer matches the host until cleared)",
}


def dpkg_entry(pkg: str, desc: str) -> str:
    return (
        f"Package: {pkg}\nStatus: install ok installed\nPriority: optional\nSection: misc\n"
        f"Installed-Size: 1\nMaintainer: portsip-im lab <lab@localhost>\nArchitecture: all\n"
        f"Version: 99.lab-fault\nDescription: {desc}\n"
    )


def plant(fault: str, st: dict) -> None:
    im = host_root("im")
    if fault in FAKE_PACKAGES:
        status = im / "var/lib/dpkg/status"
        text = status.read_text()
        for pkg, desc in FAKE_PACKAGES[fault]:
            if f"\nPackage: {pkg}\n" not in "\n" + text:
                text = text.rstrip("\n") + "\n\n" + dpkg_entry(pkg, desc)
            readme = f"{pkg}: planted by scripts/lab fault {fault}\n"
            write(im / f"usr/share/doc/{pkg}/README.lab-fault", readme)
            write(
                im / f"var/lib/dpkg/info/{pkg}.list",
                f"/usr/share/doc/{pkg}\n/usr/share/doc/{pkg}/README.lab-fault\n",
            )
            md5 = hashlib.md5(readme.encode()).hexdigest()
            write(
                im / f"var/lib/dpkg/info/{pkg}.md5sums",
                f"{md5}  usr/share/doc/{pkg}/README.lab-fault\n",
            )
        write(status, text)
    if fault in LISTENERS:
        unit, ports = LISTENERS[fault]
        write(
            im / f"etc/systemd/system/{unit}.service",
            f"[Unit]\nDescription=lab fault: a listener on {ports}\n\n[Service]\n"
            f"ExecStart=/usr/bin/python3 /usr/local/sbin/lab-fault-listener {ports}\n\n"
            "[Install]\nWantedBy=multi-user.target\n",
        )
        in_host(
            "im",
            st,
            f"systemctl daemon-reload && systemctl enable --now {unit}.service >/dev/null 2>&1"
            f" && systemctl is-active --quiet {unit}.service",
        )
    elif fault == "os":
        orig = (im / "usr/lib/os-release").read_text()
        fake = []
        for line in orig.splitlines():
            k = line.split("=", 1)[0]
            fake.append(
                {
                    "VERSION_ID": 'VERSION_ID="11"',
                    "VERSION": 'VERSION="11 (bullseye)"',
                    "VERSION_CODENAME": "VERSION_CODENAME=bullseye",
                    "PRETTY_NAME": 'PRETTY_NAME="Debian GNU/Linux 11 (bullseye)"',
                }.get(k, line)
            )
        write(im / "etc/os-release", "\n".join(fake) + "\n")
    elif fault == "disk":
        dev = st["loop"]
        sh("mkfs.ext4", "-q", "-F", "-L", "lab-fault", dev)
        mnt = RUN / "mnt"
        mnt.mkdir(exist_ok=True)
        sh("mount", dev, mnt)
        try:
            write(
                mnt / "LAB-FAULT-NOT-BLANK",
                "planted by scripts/lab fault disk: this disk holds data\n",
            )
        finally:
            sh("umount", mnt)
    elif fault in IMSH_SWITCHES:
        guide = host_root("pbx01") / GUIDE_DIR.lstrip("/")
        uid, gid = chroot_ids(host_root("pbx01"), "pbx")
        f = IMSH_SWITCHES[fault]
        write(guide / f, "planted by scripts/lab fault\n", 0o644, (uid, gid))
    elif fault == "im-new-host-key":
        # The host makes its own new keys, as a rebuilt VM does at its first boot.
        in_host("im", st, "rm -f /etc/ssh/ssh_host_*_key /etc/ssh/ssh_host_*_key.pub")
        in_host("im", st, "ssh-keygen -A >/dev/null")
        restart_sshd("im", st, lab_keys=False, wait="im-down" not in st.get("faults", []))
    elif fault in ("pbx01-down", "im-down"):
        set_link(st, fault.split("-")[0], "down")


def set_link(st: dict, name: str, state: str) -> None:
    """A host's network link up or down, from the host's side of its network namespace."""
    sh("nsenter", "-t", st["hosts"][name]["init_pid"], "-n", "ip", "link", "set", "host0", state)


def disk_in_use(st: dict) -> bool:
    dev = st.get("loop")
    if not dev:
        return False
    r = in_host("im", st, f"grep -q '^{dev} ' /proc/self/mounts", check=False)
    return r.returncode == 0


def blank_disk(st: dict) -> None:
    dev = st["loop"]
    sh("sync")
    if sh("blkdiscard", "-f", dev, check=False).returncode != 0:
        sh("wipefs", "-a", "-q", dev, check=False)
        sh("dd", "if=/dev/zero", f"of={dev}", "bs=1M", "count=16", "conv=fsync", check=False)
    sh("wipefs", "-a", "-q", dev, check=False)


def clear_faults(st: dict) -> list[str]:
    warnings = []
    im, pbx = host_root("im"), host_root("pbx01")
    status = im / "var/lib/dpkg/status"
    fake = {p for pk in FAKE_PACKAGES.values() for p, _ in pk}
    stanzas = status.read_text().split("\n\n")
    keep = [s for s in stanzas if not any(s.strip().startswith(f"Package: {p}\n") for p in fake)]
    if len(keep) != len(stanzas):
        write(status, "\n\n".join(keep).rstrip("\n") + "\n")
    for p in fake:
        for ext in ("list", "md5sums"):
            (im / f"var/lib/dpkg/info/{p}.{ext}").unlink(missing_ok=True)
        shutil.rmtree(im / f"usr/share/doc/{p}", ignore_errors=True)
    for unit, _ in LISTENERS.values():
        if (im / f"etc/systemd/system/{unit}.service").exists():
            in_host(
                "im", st, f"systemctl disable --now {unit}.service >/dev/null 2>&1", check=False
            )
            (im / f"etc/systemd/system/{unit}.service").unlink(missing_ok=True)
            in_host("im", st, "systemctl daemon-reload", check=False)
    osr = im / "etc/os-release"
    if not osr.is_symlink():
        osr.unlink(missing_ok=True)
        osr.symlink_to("../usr/lib/os-release")
    if "disk" in st.get("faults", []):
        if disk_in_use(st):
            warnings.append(
                "the data disk is mounted on im: not wiped (use `scripts/lab reset im`)"
            )
        else:
            blank_disk(st)
    for f in IMSH_SWITCHES.values():
        (pbx / GUIDE_DIR.lstrip("/") / f).unlink(missing_ok=True)
    for name in HOSTS:
        if name in running_hosts(st):
            set_link(st, name, "up")
    if "im" in running_hosts(st) and not has_lab_host_keys("im"):
        install_host_keys("im")
        restart_sshd("im", st, lab_keys=True)
    return warnings
