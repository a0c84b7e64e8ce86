"""What a real value of each kind looks like, for everything that reaches a host or a remote
command: paths, users, labels, cloud names and ids, the PBX API's URL and trust."""

from __future__ import annotations

import posixpath
import re
from typing import Any

TARGETS = ("aws", "hcloud", "existing")
SIZING_PROFILES = ("large", "medium")
IM_STATES = ("running", "stopped")
PBX_API_MODES = ("rest", "manual")
PBX_API_LOGINS = ("auto", "json", "oauth")

# Accounts the pbx user must never be: prepare sets its password (the cluster's) and gives it
# passwordless sudo, so naming one of these would hand them to whoever knows that password.
RESERVED_USERS = frozenset(
    "root daemon bin sys sync games man lp mail news uucp proxy www-data backup list irc gnats "
    "nobody systemd-network systemd-resolve systemd-timesync systemd-coredump messagebus syslog "
    "_apt sshd uuidd tcpdump tss landscape pollinate polkitd lxd dnsmasq usbmux fwupd-refresh "
    "ubuntu ec2-user admin".split()
)


def pbx_user(value: str) -> str:
    """The PBX nodes' user: a login name, and not a system or cloud admin account."""
    posix_user(value)
    if value in RESERVED_USERS:
        raise ValueError(
            f"{value!r} is a system or cloud admin account: prepare would set its password to "
            "the PBX nodes' and give it passwordless sudo; use the PBX nodes' own user (the "
            "guide's `pbx`)"
        )
    return value


def absolute_path(value: str) -> str:
    if not posixpath.isabs(value):
        raise ValueError("must be an absolute path")
    return posixpath.normpath(value)


def data_disk_gb(value: int) -> int:
    if value < 256:
        raise ValueError("must be at least 256 (GB), the guide's minimum disk for the IM server")
    return value


# What no repository URL or API URL holds, and a shell would read.
SHELL_UNSAFE = re.compile(r"[\s\x00-\x1f\x7f'\"`$\\;|&<>(){}]")


def url(value: str) -> str:
    if not value.startswith(("https://", "http://")):
        raise ValueError("must start with https://")
    if SHELL_UNSAFE.search(value):
        raise ValueError("must not contain quotes, white space or shell characters")
    return value


PLAIN_HTTP = (
    "is plain http://: the admin password, the bearer token and the IM token would cross the "
    "network in clear; use https:// (trust a self-signed PBX with its CA certificate or a pinned "
    "public key), or, knowingly, allow insecure http"
)


def pem_certificates(value: str) -> str:
    """One or more PEM certificates (a CA bundle), stripped; never a private key."""
    text = value.strip()
    blocks = re.findall(
        r"-----BEGIN CERTIFICATE-----\n[A-Za-z0-9+/=\n]+-----END CERTIFICATE-----", text
    )
    if "PRIVATE KEY" in text:
        raise ValueError("holds a private key: give only the CA's certificate (PEM)")
    if not blocks or "".join(blocks) != re.sub(r"\n(?=-----BEGIN)", "", text):
        raise ValueError(
            "must be PEM certificates (-----BEGIN CERTIFICATE----- … -----END CERTIFICATE-----), "
            "nothing else"
        )
    return text + "\n"


_PIN = re.compile(r"sha256//[A-Za-z0-9+/]{43}=")


def pinned_public_key(value: str) -> str:
    """curl's --pinnedpubkey: one or more `sha256//BASE64` hashes of a public key, `;` between."""
    pins = [p.strip() for p in value.split(";")]
    if not pins or not all(_PIN.fullmatch(p) for p in pins):
        raise ValueError(
            "must be `sha256//BASE64` (the SHA-256 of the PBX certificate's public key, base64; "
            "several joined by `;`): openssl s_client -connect HOST:8887 </dev/null | openssl "
            "x509 -pubkey -noout | openssl pkey -pubin -outform der | openssl dgst -sha256 "
            "-binary | base64"
        )
    return ";".join(pins)


# What real values look like, for everything that reaches a host or a remote command. The scripts
# pass values as data, but PortSIP's scripts are not ours: nothing a real value never holds (shell
# metacharacters, white space, control characters, `..`) gets that far.
_PATH = re.compile(r"/[A-Za-z0-9._/-]*")
_USER = re.compile(r"[a-z_][a-z0-9_-]{0,31}")
_LABEL = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:+~-]{0,63}")
_OS = re.compile(r"[a-z][a-z0-9._-]* [0-9A-Za-z][0-9A-Za-z._-]*")
HOST_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9.-]{0,252}|[0-9A-Fa-f:.]+")
_NAME = re.compile(r"[a-z0-9][a-z0-9.-]{0,62}")
_ID = {
    "subnet": re.compile(r"subnet-[0-9a-z]{1,32}"),
    "sg": re.compile(r"sg-[0-9a-z]{1,32}"),
    "ami": re.compile(r"ami-[0-9a-z]{1,32}"),
    "eipalloc": re.compile(r"eipalloc-[0-9a-z]{1,32}"),
}
_API_USER = re.compile(r"[^\s\x00-\x1f\x7f'\"`$\\;|&<>]{1,128}")

SHAPES = {
    "path": "an absolute path of letters, digits and . _ - / (no `..`)",
    "device": "a device path under /dev/ (letters, digits, . _ - /)",
    "user": "a POSIX user name: a-z, 0-9, _ and -, starting with a letter or _, at most 32",
    "label": "letters, digits and . _ : + ~ - (starting with a letter or digit), at most 64",
    "os": "`ID VERSION_ID` as in /etc/os-release, e.g. `ubuntu 24.04`",
    "host": "a host name or IP address",
    "name": "lower-case letters, digits, . and -",
    "api user": "a user name without white space, quotes or shell characters",
}


def _shaped(regex: re.Pattern[str], shape: str) -> Any:
    def check(value: str) -> str:
        if not isinstance(value, str) or not regex.fullmatch(value):
            raise ValueError(f"must be {SHAPES.get(shape, shape)}")
        return value

    return check


def ordinary_path(value: str) -> str:
    value = absolute_path(value)
    if not _PATH.fullmatch(value) or "/../" in value + "/":
        raise ValueError(f"must be {SHAPES['path']}")
    return value


def device_path(value: str) -> str:
    value = ordinary_path(value)
    if not value.startswith("/dev/"):
        raise ValueError(f"must be {SHAPES['device']}")
    return value


posix_user = _shaped(_USER, "user")
label = _shaped(_LABEL, "label")
os_release = _shaped(_OS, "os")
host_name = _shaped(HOST_NAME, "host")
cloud_name = _shaped(_NAME, "name")
api_user = _shaped(_API_USER, "api user")


def aws_id(kind: str) -> Any:
    return _shaped(_ID[kind], f"an AWS id `{kind}-…` (letters and digits after the dash)")


def login_path(value: str) -> str:
    """A path under the API's base URL (the OAuth login's)."""
    if not isinstance(value, str) or not value.startswith("/") or any(ch in value for ch in "?# "):
        raise ValueError(
            f"{value!r}: must be a path under the API base URL, starting with / "
            "(e.g. /login/oauth/token)"
        )
    return value


def public_ip_id(value: str) -> str:
    """An Elastic IP allocation id (`eipalloc-…`) or a Hetzner Primary IP id (digits)."""
    if isinstance(value, str) and value.isdigit():
        return value
    return aws_id("eipalloc")(value)
