"""The lab's two hosts: booted, reachable over SSH with pinned host keys, shaped like the guide's
pbx01 and a blank IM server."""

from __future__ import annotations

import subprocess

import pytest

from tests.lab.fixture import run_lab

pytestmark = pytest.mark.lab


@pytest.fixture(scope="module", autouse=True)
def blank(lab):
    lab.clear_faults()
    lab.reset_im()
    lab.reset_pbx01()
    yield


@pytest.mark.parametrize("host,name", [("pbx01", "pbx01"), ("im", "im"), ("im_public", "im")])
def test_hosts_answer_ssh_with_pinned_host_keys(lab, host, name):
    p = lab.ssh(host, "hostname && systemctl is-system-running", check=True)
    assert p.stdout.split() == [name, "running"]


def test_printed_host_keys_are_the_served_ones(lab):
    for host, key in (("pbx01", lab.pbx01_host_key), ("im", lab.im_host_key)):
        assert key.startswith("ssh-ed25519 AAAA")
        scan = subprocess.run(
            ["ssh-keyscan", "-t", "ed25519", lab.addr(host)],
            capture_output=True,
            text=True,
            timeout=30,
        ).stdout
        assert key in scan
        assert f"{lab.addr(host)}" in open(lab.known_hosts).read()


def test_a_wrong_pinned_key_is_refused(lab, tmp_path):
    wrong = tmp_path / "known_hosts"
    wrong.write_text(f"{lab.im} {lab.pbx01_host_key}\n")  # pbx01's key for the IM address
    args = lab.ssh_args("im")
    args[args.index(f"UserKnownHostsFile={lab.known_hosts}")] = f"UserKnownHostsFile={wrong}"
    p = subprocess.run([*args, "true"], capture_output=True, text=True, timeout=30)
    assert p.returncode == 255 and "host key" in p.stderr.lower()


def test_only_the_lab_network(lab):
    for host in ("pbx01", "im"):
        routes = lab.ssh(host, "ip -4 route", check=True).stdout.strip().splitlines()
        assert routes == [f"{lab.net}.0/24 dev host0 proto kernel scope link src {lab.addr(host)}"]
    addrs = lab.ssh("im", "ip -4 -o addr show dev host0", check=True).stdout
    assert f"{lab.im}/24" in addrs and f"{lab.im_public}/24" in addrs


def test_pbx01_shape(lab):
    assert lab.ssh("pbx01", "id -un", user="pbx", check=True).stdout.strip() == "pbx"
    assert lab.ssh("pbx01", "sudo -n id -un", user="pbx", check=True).stdout.strip() == "root"
    assert (
        lab.ssh(
            "pbx01", "test ! -e ~/.ssh/id_rsa && test ! -e ~/.ssh/id_rsa.pub", user="pbx"
        ).returncode
        == 0
    )
    # the password printed by `up` is pbx's password
    check = lab.ssh(
        "pbx01",
        'python3 -W ignore -c \'import crypt,spwd,sys; h=spwd.getspnam("pbx").sp_pwdp; '
        "print(crypt.crypt(sys.stdin.readline().strip(), h) == h)'",
        input=lab.pbx_password + "\n",
        check=True,
    )
    assert check.stdout.strip() == "True"
    for f in ("im.sh", "lab-standin/im-remote.py", "lab-standin/im-server.py"):
        assert lab.path("pbx01", f"/opt/portsip-pbx-ha-guide/{f}").exists()
    assert lab.tcp_open("pbx01", 8887)


def test_im_host_starts_blank(lab):
    assert lab.ssh("im", "id pbx").returncode != 0
    sshd = lab.ssh("im", "sshd -T", check=True).stdout
    assert "permitrootlogin without-password" in sshd  # = prohibit-password: key only
    assert (
        lab.ssh("im", f"test -b {lab.im_data_disk} && ! blkid -p {lab.im_data_disk}").returncode
        == 0
    )
    assert not lab.tcp_open("im", 8887)
    pbx_os = lab.ssh("pbx01", ". /etc/os-release; echo $ID $VERSION_ID", check=True).stdout
    im_os = lab.ssh("im", ". /etc/os-release; echo $ID $VERSION_ID", check=True).stdout
    assert pbx_os == im_os == "debian 12\n"
    assert lab.ssh("im", "dpkg-query -W 'postgresql*' bind9 isc-dhcp-server").returncode != 0


def test_host_to_host_ssh(lab):
    lab.trust_by_hand()
    p = lab.ssh(
        "pbx01",
        f"ssh -o BatchMode=yes -o StrictHostKeyChecking=yes pbx@{lab.im} hostname",
        user="pbx",
    )
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() == "im"
    lab.reset_im()


def test_data_disk_formats_and_mounts_by_uuid_inside_im(lab):
    disk = lab.im_data_disk
    script = f"""set -e
mkfs.ext4 -q {disk}
uuid=$(blkid -p -s UUID -o value {disk})
mkdir -p /data/im
echo "UUID=$uuid /data/im ext4 defaults,nofail 0 2" >>/etc/fstab
mount /data/im
echo hello >/data/im/probe
umount /data/im
mount -a
cat /data/im/probe
findmnt -n -o SOURCE /data/im
"""
    p = lab.ssh("im", script, check=True)
    assert p.stdout.split() == ["hello", disk]
    lab.reset_im()
    assert lab.ssh("im", f"! blkid -p {disk} && ! grep -q /data/im /etc/fstab").returncode == 0


def test_reset_im_keeps_address_and_host_key(lab):
    lab.ssh("im", "touch /root/dirty", check=True)
    lab.reset_im()
    assert lab.ssh("im", "test ! -e /root/dirty").returncode == 0  # pinned key still valid


@pytest.mark.parametrize("host", ["im", "pbx01"])
def test_a_reset_host_has_finished_booting_when_reset_returns(lab, host):
    # Until boot finishes, pam_nologin refuses every user but root ("System is booting up"): a step
    # run right after the lab said ready would fail. A slow boot (logins held back 8 s after sshd
    # answers) shows that `lab reset`, like `up`, returns only once boot has finished.
    try:
        done = run_lab("reset", host, env={"PORTSIP_LAB_BOOT_DELAY": "8"}, timeout=300)
        assert done.returncode == 0, done.stderr
        state = lab.inside(
            host, "systemctl is-system-running || true; ls /run/nologin 2>&1 || true"
        )
        assert state.stdout.split()[0] in ("running", "degraded"), state.stdout
        assert "No such file" in state.stdout, "pam_nologin still refuses logins"
        if host == "pbx01":
            login = lab.ssh(host, "true", user="pbx")
            assert login.returncode == 0, login.stderr
    finally:
        (lab.reset_im if host == "im" else lab.reset_pbx01)()
