"""The lab's fixed facts: where things are, the bridge and the hosts' addresses, the root image's
packages. Environment: PORTSIP_LAB_CACHE, PORTSIP_LAB_RUN, PORTSIP_LAB_MIRROR,
PORTSIP_LAB_MIN_FREE_MB."""

from __future__ import annotations

import os
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
STANDIN = REPO / "tests" / "lab" / "standin"
# PortSIP's OpenAPI document of the PBX REST API: the stand-in checks every request against it.
OPENAPI = REPO.parent / "shared" / "portsip" / "pbx-rest-api-v22.openapi.json"
CACHE = Path(os.environ.get("PORTSIP_LAB_CACHE", "/var/cache/portsip-im/lab"))
RUN = Path(os.environ.get("PORTSIP_LAB_RUN", "/run/portsip-im-lab"))
MIRROR = os.environ.get("PORTSIP_LAB_MIRROR", "http://deb.debian.org/debian")
MIN_FREE_MB = int(os.environ.get("PORTSIP_LAB_MIN_FREE_MB", "0") or 0)  # 0: built-in defaults

BRIDGE = "br-pimlab"
BRIDGE_IP = "10.213.7.1"
PREFIX = 24
HOSTS = {
    "pbx01": {"ip": "10.213.7.11", "extra": []},
    "im": {"ip": "10.213.7.12", "extra": ["10.213.7.112"]},
}
IM_PUBLIC = "10.213.7.112"
API_PORT = 8887
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
]
GUIDE_DIR = "/opt/portsip-pbx-ha-guide"
# Tools whose every call is logged with its arguments on the hosts (/var/log/lab-argv.log).
ARGV_LOGGED = ("curl", "ssh", "ssh-keyscan", "python3", "chpasswd", "openssl")
SYS_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
