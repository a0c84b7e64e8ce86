"""The lab's fixed facts: where things are, the bridge and the hosts' addresses, the root image's
packages. Environment: PORTSIP_LAB_CLUSTER, PORTSIP_LAB_CACHE, PORTSIP_LAB_RUN, PORTSIP_LAB_MIRROR,
PORTSIP_LAB_MIN_FREE_MB.

PORTSIP_LAB_CLUSTER=N (default 1) names one of several labs on this machine: cluster 1 is the lab
as it always was (bridge br-pimlab, 10.213.7.0/24, /run/portsip-im-lab); cluster N has its own
bridge br-pimlabN, its own 10.213.(6+N).0/24, its own run dir /run/portsip-im-lab-N and its own
container names (pbx01-cN, im-cN, vault-cN: nspawn names the bridge's veth after them), and
shares the cached image."""

from __future__ import annotations

import os
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
STANDIN = REPO / "tests" / "lab" / "standin"
# PortSIP's OpenAPI document of the PBX REST API: the stand-in checks every request against it.
OPENAPI = REPO.parent / "shared" / "portsip" / "pbx-rest-api-v22.openapi.json"


def _cluster() -> int:
    raw = os.environ.get("PORTSIP_LAB_CLUSTER", "") or "1"
    if not raw.isdigit() or not 1 <= int(raw) <= 200:
        raise SystemExit(f"lab: error: PORTSIP_LAB_CLUSTER={raw!r}: a number from 1 to 200")
    return int(raw)


CLUSTER = _cluster()
_SUFFIX = "" if CLUSTER == 1 else f"-{CLUSTER}"
_NET = f"10.213.{6 + CLUSTER}"
CACHE = Path(os.environ.get("PORTSIP_LAB_CACHE", "/var/cache/portsip-im/lab"))
RUN = Path(os.environ.get("PORTSIP_LAB_RUN", f"/run/portsip-im-lab{_SUFFIX}"))
MIRROR = os.environ.get("PORTSIP_LAB_MIRROR", "http://deb.debian.org/debian")
MIN_FREE_MB = int(os.environ.get("PORTSIP_LAB_MIN_FREE_MB", "0") or 0)  # 0: built-in defaults

BRIDGE = "br-pimlab" if CLUSTER == 1 else f"br-pimlab{CLUSTER}"
BRIDGE_IP = f"{_NET}.1"
PREFIX = 24
HOSTS = {
    "pbx01": {"ip": f"{_NET}.11", "extra": []},
    "im": {"ip": f"{_NET}.12", "extra": [f"{_NET}.112"]},
    # an SFTP server the IM host's root backs up to with restic (an `sftp:` repository)
    "vault": {"ip": f"{_NET}.13", "extra": []},
}
IM_PUBLIC = f"{_NET}.112"
# The container (machine) name of each host; inside, the hostname is always the host's name.
MACHINE = {name: name if CLUSTER == 1 else f"{name}-c{CLUSTER}" for name in HOSTS}
API_PORT = 8887
# The vault's restic REST server (rest-server --append-only --no-auth), on the vault's bridge
# address only: `rest:http://VAULT:8000/NAME/`. Built from the Go module proxy into the tools
# cache by scripts/install-rest-server (not packaged on Debian 12), copied into the vault's layer.
REST_PORT = 8000
INSTALL_REST_SERVER = REPO / "scripts" / "install-rest-server"
DATA_DISK_MB = 300
PBX_ADMIN_USER = "admin"
SUITE = "bookworm"
INCLUDE = [
    "systemd",
    "systemd-sysv",
    "openssh-server",
    "sudo",
    "iproute2",
    "dbus",
    "python3",
    "openssl",
    "curl",
    "e2fsprogs",
    "util-linux",
    "procps",
    # The stand-in PBX API validates requests against PortSIP's OpenAPI document with it.
    "python3-jsonschema",
    # The IM host's backups (components/portsip_im/scripts/backup.sh installs it with apt where it
    # is missing; the lab has no route to a mirror, so its image carries it).
    "restic",
    # An existing host's firewall (components/portsip_im/scripts/firewall.sh, hostFirewall).
    "nftables",
]
GUIDE_DIR = "/opt/portsip-pbx-ha-guide"
# Tools whose every call is logged with its arguments on the hosts (/var/log/lab-argv.log).
ARGV_LOGGED = ("curl", "ssh", "ssh-keyscan", "python3", "chpasswd", "openssl")
SYS_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
