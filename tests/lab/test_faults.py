"""`scripts/lab fault ...` plants exactly what docs/lab.md says, and `fault clear` removes it."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.lab


@pytest.fixture(autouse=True)
def clean(lab):
    lab.clear_faults()
    yield
    lab.clear_faults()


def installed(lab, pkg):
    p = lab.ssh("im", f"dpkg-query -W -f='${{Status}}' {pkg}")
    return p.returncode == 0 and p.stdout == "install ok installed"


@pytest.mark.parametrize(
    "fault,packages",
    [
        ("postgresql", ["postgresql-16", "postgresql"]),
        ("dns", ["bind9"]),
        ("dhcp", ["isc-dhcp-server"]),
        ("vpn", ["openvpn"]),
        ("teamviewer", ["teamviewer"]),
    ],
)
def test_package_faults(lab, fault, packages):
    assert not any(installed(lab, p) for p in packages)
    lab.plant(fault)
    assert all(installed(lab, p) for p in packages)
    assert lab.ssh("im", "dpkg --audit", check=True).stdout == ""  # dpkg stays consistent
    lab.clear_faults()
    assert not any(installed(lab, p) for p in packages)


@pytest.mark.parametrize(
    "fault,ss,port", [("dns", "-lnu", ":53 "), ("dns", "-lnt", ":53 "), ("dhcp", "-lnu", ":67 ")]
)
def test_listener_faults(lab, fault, ss, port):
    lab.plant(fault)
    assert port in lab.ssh("im", f"ss -H {ss}", check=True).stdout
    lab.clear_faults()
    assert port not in lab.ssh("im", f"ss -H {ss}", check=True).stdout


def test_os_fault(lab):
    lab.plant("os")
    assert lab.ssh("im", ". /etc/os-release; echo $VERSION_ID", check=True).stdout == "11\n"
    assert lab.ssh("pbx01", ". /etc/os-release; echo $VERSION_ID", check=True).stdout == "12\n"
    lab.clear_faults()
    assert lab.ssh("im", ". /etc/os-release; echo $VERSION_ID", check=True).stdout == "12\n"


def test_disk_fault(lab):
    disk = lab.im_data_disk
    if lab.ssh("im", f"findmnt -S {disk}").returncode == 0:  # an earlier module's stack mounted it
        lab.reset_im()
    lab.plant("disk")
    p = lab.ssh(
        "im", f"blkid -o export {disk}; mount {disk} /mnt && ls /mnt; umount /mnt", check=True
    )
    assert (
        "TYPE=ext4" in p.stdout
        and "LABEL=lab-fault" in p.stdout
        and "LAB-FAULT-NOT-BLANK" in p.stdout
    )
    lab.clear_faults()
    assert lab.ssh("im", f"blkid -p {disk}").returncode == 2  # blank again


@pytest.mark.parametrize("host", ["pbx01", "im"])
def test_unreachable_faults(lab, host):
    lab.plant(f"{host}-down")
    assert not lab.tcp_open(host, 22, timeout=1)
    lab.clear_faults()
    assert lab.ssh(host, "true").returncode == 0


def test_unknown_fault_is_refused(lab):
    with pytest.raises(AssertionError, match="unknown fault"):
        lab.plant("gremlins")


@pytest.mark.parametrize(
    "fault,switch",
    [
        ("imsh-fail", ".fail-next"),
        ("imsh-fail-always", ".fail-always"),
        ("imsh-error-exit0", ".error-exit0-next"),
    ],
)
def test_imsh_switch_faults(lab, fault, switch):
    path = lab.path("pbx01", f"/opt/portsip-pbx-ha-guide/{switch}")
    assert not path.exists()
    lab.plant(fault)
    assert path.exists()
    lab.clear_faults()
    assert not path.exists()


def test_new_host_key_fault(lab):
    lab.plant("im-new-host-key")
    new = lab.host_key_now("im")
    assert new.startswith("ssh-ed25519 ") and new != lab.im_host_key
    scan = subprocess.run(
        ["ssh-keyscan", "-T", "5", "-t", "ed25519", lab.im], capture_output=True, text=True
    ).stdout
    assert new in scan and lab.im_host_key not in scan  # what sshd serves now
    for kind in ("rsa", "ecdsa"):  # every type is new, as on a rebuilt VM
        now = lab.path("im", f"/etc/ssh/ssh_host_{kind}_key.pub").read_text().split()[1]
        assert now not in Path(lab.known_hosts).read_text()
    refused = lab.ssh("im", "true")
    assert refused.returncode == 255 and "host key" in refused.stderr.lower()
    lab.clear_faults()
    assert lab.host_key_now("im") == lab.im_host_key
    assert lab.ssh("im", "true").returncode == 0
