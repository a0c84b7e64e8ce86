"""The guard rails every caller of ImServer gets: what a real value of each kind looks like.

Pure functions, no Pulumi: each input's entry in args.py's INPUTS names its rule here, the component
applies it (checks.py), this program's config layer checks a key through the same entry (one input,
one rule), and the policy pack judges other people's resources by them. Each raises ValueError with
a message that does not name the field: the caller prefixes the name it knows the value by.
"""

from __future__ import annotations

import base64
import ipaddress
import json
import posixpath
import re
from typing import Any

Target = str  # "aws" | "hcloud" | "existing"
TARGETS = ("aws", "hcloud", "existing")
SIZING_PROFILES = ("large", "medium")
IM_STATES = ("running", "stopped")
PBX_API_MODES = ("rest", "manual")
PBX_API_LOGINS = ("auto", "json", "oauth")

_SSH_KEY_TYPES = {
    "ssh-ed25519",
    "ssh-rsa",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
}
_BASE64 = re.compile(r"[A-Za-z0-9+/]+={0,2}")


def everyone() -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    return [ipaddress.IPv4Network("0.0.0.0/0"), ipaddress.IPv6Network("::/0")]


# The broadest *public* SSH source range `adminCidrs` accepts, per IP version. An IPv4 /16 (65,536
# addresses, a legacy class B) is more than any one office, VPN pool or cloud VPC an operator
# administers from; an IPv6 /48 is one site's standard assignment (RFC 6177). A broader public
# range spans networks the operator does not run (a /8 is a whole legacy class A, a /32 an ISP's
# entire allocation): it is not an admin range but a part of the Internet.
ADMIN_CIDR_MIN_PREFIX = {4: 16, 6: 48}

# What counts as a private address for privateIp, pbx01PrivateIp and pbxVirtualIp: RFC 1918,
# RFC 6598 (shared address space, carrier-grade NAT) and IPv6 unique local addresses (RFC 4193).
# Deliberately not `ipaddress.is_private`, which also admits documentation, benchmarking and
# link-local ranges that no PBX network uses. An admin range inside one of them may be as wide as
# the block itself (10.0.0.0/8 is one organisation's own network, unreachable from the Internet).
PRIVATE_NETWORKS = tuple(
    ipaddress.ip_network(n)
    for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "fc00::/7")
)
PRIVATE_TEXT = "RFC 1918 10/8, 172.16/12, 192.168/16; RFC 6598 100.64/10; IPv6 ULA fc00::/7"

# IPv6 blocks that carry an IPv4 address in their last 32 bits: IPv4-mapped (RFC 4291, how a
# dual-stack socket sees an IPv4 peer), IPv4-compatible (deprecated) and NAT64's well-known prefix
# (RFC 6052). A range over them admits the IPv4 addresses it embeds, so it is judged as that IPv4
# range: ::ffff:0:0/96 is 0.0.0.0/0.
EMBEDDED_IPV4 = tuple(ipaddress.IPv6Network(n) for n in ("::ffff:0:0/96", "::/96", "64:ff9b::/96"))


def is_private_address(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """True for an address inside one of PRIVATE_NETWORKS."""
    return any(ip.version == net.version and ip in net for net in PRIVATE_NETWORKS)


def _is_private_network(net: ipaddress.IPv4Network | ipaddress.IPv6Network) -> bool:
    return any(
        net.version == block.version and net.subnet_of(block)  # type: ignore[arg-type]
        for block in PRIVATE_NETWORKS
    )


def _embedded_ipv4(net: ipaddress.IPv6Network) -> ipaddress.IPv4Network | None:
    """The IPv4 range an IPv6 range admits through EMBEDDED_IPV4, if it touches one."""
    for block in EMBEDDED_IPV4:
        if net.overlaps(block):
            if net.prefixlen <= block.prefixlen:
                return ipaddress.IPv4Network("0.0.0.0/0")
            low = int(net.network_address) & 0xFFFFFFFF
            return ipaddress.IPv4Network((low, net.prefixlen - block.prefixlen))
    return None


def admin_range(
    net: ipaddress.IPv4Network | ipaddress.IPv6Network,
) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    judged: list[tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, str]] = [(net, "")]
    if isinstance(net, ipaddress.IPv6Network):
        v4 = _embedded_ipv4(net)
        if v4 is not None:
            judged.append((v4, f" (it embeds IPv4 {v4})"))
    for rng, via in judged:
        bound = ADMIN_CIDR_MIN_PREFIX[rng.version]
        if rng.prefixlen < bound and not _is_private_network(rng):
            whole = " (the whole Internet)" if rng.prefixlen == 0 else ""
            raise ValueError(
                f"would open SSH on the IM server to {net}{via}{whole}; a public admin range "
                f"must be /{bound} or narrower for IPv{rng.version} (list the operators' own "
                f"networks; private ranges, {PRIVATE_TEXT}, may be wider)"
            )
    return net


# restic repository URLs the backup accepts: the backends Debian 12's restic (0.14) has, plus a
# local absolute path (a second disk, or a mount).
BACKUP_SCHEMES = ("s3:", "sftp:", "rest:", "b2:", "azure:", "gs:", "swift:", "rclone:")
# systemd calendar shorthands (systemd.time(7)). `minutely` and `hourly` are left out on purpose:
# every run stops IM for the length of the backup.
BACKUP_SCHEDULE_KEYWORDS = ("daily", "weekly", "monthly", "quarterly", "semiannually", "yearly")
# A conservative subset of systemd's OnCalendar syntax, checked at preview ("Mon..Fri 02:30",
# "*-*-* 03:00:00", "Sun 04:00 UTC"); backup.sh checks it again with `systemd-analyze calendar`.
_DAYS = r"(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)"
# The time of day must be concrete (HH:MM[:SS], hours 0-23, minutes and seconds 0-59): a `*` or a
# `/` there would run it every hour or minute, and every run stops IM.
_CALENDAR = re.compile(
    rf"(?:{_DAYS}(?:(?:\.\.|,){_DAYS})*\s+)?(?:[0-9*][0-9*,./~-]*\s+)?"
    r"(?:[01]?[0-9]|2[0-3]):[0-5][0-9](?::[0-5][0-9])?(?:\s+UTC)?"
)
# restic forget's --keep-* rules the backupKeep object may name.
BACKUP_KEEP_RULES = ("last", "hourly", "daily", "weekly", "monthly", "yearly")
_ENV_NAME = re.compile(r"[A-Z_][A-Z0-9_]*")
# backupEnv must not reach what the backup sets itself, nor the shell's own variables.
_ENV_RESERVED = re.compile(
    r"RESTIC_PASSWORD.*|RESTIC_REPOSITORY.*|RESTIC_CACHE_DIR|PATH|HOME|IFS|SHELL|LD_.*|BASH.*"
    r"|SHELLOPTS|EUID|UID|PPID|GROUPS"
)


def _backup_env_problems(text: str | dict[str, Any]) -> list[str]:
    """What is wrong with a backup.env secret (a JSON object NAME → value); never quotes a value."""
    if isinstance(text, dict):
        env: Any = text
    else:
        try:
            env = json.loads(text)
        except json.JSONDecodeError as exc:
            return [f"not a JSON object ({exc.msg})"]
    if not isinstance(env, dict):
        return ['must be a JSON object of environment variables, e.g. {"AWS_ACCESS_KEY_ID": …}']
    out = []
    for i, (name, value) in enumerate(env.items()):
        if not _ENV_NAME.fullmatch(name):
            # The name is not quoted: a value pasted in the wrong place would be shown.
            out.append(f"entry {i + 1}: its name is not an environment variable name (A-Z, 0-9, _)")
        elif _ENV_RESERVED.fullmatch(name):
            out.append(f"{name}: set by the backup itself (`backup.password`, `backup.repository`)")
        elif not isinstance(value, str):
            out.append(f"{name}: its value must be a string")
    return out


def ssh_key(value: str) -> str:
    """An SSH public key, `TYPE BASE64 [comment]`, stripped: one key on one line. A line break
    would make a second line wherever the key is written (known_hosts, authorized_keys): a second
    key, or a pattern such as `*`, trusted beside the one meant."""
    if _CONTROL.search(value.strip()):
        raise ValueError(
            "must be one SSH public key on one line (it holds a line break or a control character)"
        )
    parts = value.split()
    if len(parts) < 2 or parts[0] not in _SSH_KEY_TYPES or not _BASE64.fullmatch(parts[1]):
        raise ValueError("must be an SSH public key, `TYPE BASE64` (e.g. ssh-ed25519 AAAA…)")
    if any(part in _SSH_KEY_TYPES for part in parts[2:]):
        raise ValueError("must be one SSH public key (a second key type follows the first)")
    return value.strip()


# Control characters (line breaks, NUL, tab...) in a value that a line-based file or tool reads.
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def one_line_secret(value: str) -> str:
    """A secret that a line-based tool reads (chpasswd's `user:password` lines, restic's password
    file): a line break would end it early or start another record. Never quoted."""
    if re.search(r"[\r\n\x00]", str(value)):
        raise ValueError("must be on one line (it holds a line break or a NUL character)")
    return value


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


def pinned_key(value: str) -> str:
    """A public key to pin, as `TYPE BASE64`: the comment is not part of the key."""
    ssh_key(value)
    return " ".join(value.split()[:2])


def host_key(value: str) -> str:
    """A host key to pin, as `TYPE BASE64` (the comment is not part of the key)."""
    ssh_key(value)
    # The command provider offers the server exactly the pinned key's type; for an RSA key that is
    # `ssh-rsa` (SHA-1 signatures), which OpenSSH 8.8 and later refuse: every dial would fail ("no
    # common algorithm for host key"). Seen on the lab's sshd.
    if value.split()[0] == "ssh-rsa":
        raise ValueError(
            "is an ssh-rsa host key, which the command provider can only verify with SHA-1 "
            "`ssh-rsa` signatures that OpenSSH 8.8+ servers refuse: pin the host's ed25519 "
            "key instead (`ssh-keyscan -t ed25519 HOST`)"
        )
    return pinned_key(value)


def absolute_path(value: str) -> str:
    if not posixpath.isabs(value):
        raise ValueError("must be an absolute path")
    return posixpath.normpath(value)


def data_disk_gb(value: int) -> int:
    if value < 256:
        raise ValueError("must be at least 256 (GB), the guide's minimum disk for the IM server")
    return value


# `scheme://user:password@host`: an error message quotes what it refuses, and previews and CI logs
# keep it; a URL's credentials must not ride along (backup repositories refuse them for that
# reason). Pasted secrets are rarely URL-encoded (an AWS secret key often holds a `/`), so anything
# from `://` to an `@` with a `:` between counts.
URL_CREDENTIALS = re.compile(r"://[^@]*:[^@]*@")
# What no repository URL or API URL holds, and a shell would read.
_UNSAFE = re.compile(r"[\s\x00-\x1f\x7f'\"`$\\;|&<>(){}]")


def masked(value: object) -> object:
    """A rejected value as an error may show it: a URL's user and password replaced by ***."""
    if isinstance(value, str) and URL_CREDENTIALS.search(value):
        # Up to the last @: an unencoded @ or / in the password is masked too.
        return re.sub(r"://.*@", "://***@", value)
    if isinstance(value, str) and value.startswith("rclone:") and _RCLONE_SECRET.search(value):
        # Each credential option's value, up to the next option or the path.
        return _RCLONE_VALUE.sub(lambda m: m.group(1) + "***", value)
    return value


def backup_repository(value: str) -> str:
    value = value.strip()
    if value.startswith("/"):
        return ordinary_path(value)
    if _UNSAFE.search(value):
        raise ValueError("must not contain quotes, white space or shell characters")
    if not value.startswith(BACKUP_SCHEMES) or len(value.split(":", 1)[1]) == 0:
        raise ValueError(
            "must be a restic repository: "
            + ", ".join(f"`{p}…`" for p in BACKUP_SCHEMES)
            + " or an absolute local path"
        )
    if any(ch.isspace() for ch in value):
        raise ValueError("must not contain white space")
    if URL_CREDENTIALS.search(value):
        # The URL is a plain parameter (argv, state): a password in it would leak.
        raise ValueError(
            "carries a password in the URL; put credentials in `backup.env` (a secret)"
        )
    if value.startswith("rclone:") and _RCLONE_SECRET.search(value):
        # rclone's connection strings (`rclone::s3,access_key_id=…,secret_access_key=…:bucket`)
        # carry options in the same plain parameter.
        raise ValueError(
            "carries a credential in an rclone option; put it in `backup.env` (a secret), as "
            "RCLONE_CONFIG_… variables"
        )
    sftp_server(value)  # an `sftp:` one must name its server and path as restic reads them
    return value


# An rclone option naming a credential: key, secret, pass(word), token, sas, credentials.
_RCLONE_OPTION = r"[,:][a-z0-9_]*(?:key|secret|pass|token|sas|credentials)[a-z0-9_]*="
_RCLONE_SECRET = re.compile(_RCLONE_OPTION, re.IGNORECASE)
# ...and its value, up to the next option or the path (a quoted value whole).
_RCLONE_VALUE = re.compile(rf"({_RCLONE_OPTION})(?:\"[^\"]*\"?|'[^']*'?|[^,:]*)", re.IGNORECASE)

_SFTP_USER = re.compile(r"[A-Za-z0-9._][A-Za-z0-9._-]{0,63}")


def sftp_server(repository: str) -> tuple[str | None, str, int] | None:
    """The SFTP login of an `sftp:` repository, (user, host, port); None for other repositories.
    restic's two forms: `sftp:[USER@]HOST:PATH` and `sftp://[USER@]HOST[:PORT]//PATH`."""
    if not repository.startswith("sftp:"):
        return None
    rest = repository[len("sftp:") :]
    shape = "must name the SFTP server and a path: `sftp:USER@HOST:/PATH` or `sftp://USER@HOST:PORT//PATH`"
    port = 22
    if rest.startswith("//"):
        login, slash, path = rest[2:].partition("/")
        if re.fullmatch(r".*:[0-9]+", login) and not login.endswith("]"):
            login, _, number = login.rpartition(":")
            port = int(number)
    else:
        if "[" in rest:
            # restic cuts the short form at its first colon: an IPv6 address would be cut too.
            raise ValueError(
                "an IPv6 address needs the URL form: `sftp://USER@[ADDRESS]:PORT//PATH`"
            )
        login, slash, path = rest.partition(":")
    user, _, host = login.rpartition("@")
    host = host.removeprefix("[").removesuffix("]")
    if not slash or not path.strip("/") or not _HOST.fullmatch(host) or not 0 < port < 65536:
        raise ValueError(shape)
    if user and not _SFTP_USER.fullmatch(user):
        raise ValueError("the SFTP user must be letters, digits, . _ and - (at most 64)")
    return user or None, host, port


def _ssh_private_key_problems(text: str) -> list[str]:
    """What is wrong with an SSH private key given in config (its content is never quoted)."""
    lines = text.strip().splitlines()
    if not lines or not re.fullmatch(r"-----BEGIN [A-Z ]*PRIVATE KEY-----", lines[0].strip()):
        return ["must be an SSH private key (the whole file, from `-----BEGIN … PRIVATE KEY-----`)"]
    if not re.fullmatch(r"-----END [A-Z ]*PRIVATE KEY-----", lines[-1].strip()):
        return ["is cut short: no `-----END … PRIVATE KEY-----` line"]
    if "ENCRYPTED" in text or _openssh_cipher(lines[1:-1]) not in (None, "none"):
        return ["is protected by a passphrase; the backup timer cannot type one: use a key without"]
    return []


def _openssh_cipher(body: list[str]) -> str | None:
    """The cipher of an `openssh-key-v1` key (`none` when it has no passphrase); None for another
    format or a body that does not decode."""
    magic = b"openssh-key-v1\0"
    try:
        raw = base64.b64decode("".join(line.strip() for line in body), validate=True)
    except ValueError:
        return None
    if not raw.startswith(magic) or len(raw) < len(magic) + 4:
        return None
    size = int.from_bytes(raw[len(magic) : len(magic) + 4], "big")
    return raw[len(magic) + 4 : len(magic) + 4 + size].decode("ascii", "replace")


def backup_schedule(value: str) -> str:
    value = " ".join(value.split())
    if value in BACKUP_SCHEDULE_KEYWORDS or _CALENDAR.fullmatch(value):
        return value
    raise ValueError(
        "must be a systemd calendar expression: "
        + ", ".join(BACKUP_SCHEDULE_KEYWORDS)
        + ", or e.g. `*-*-* 03:00:00`, `Mon..Fri 02:30`, `Sun 04:00 UTC`"
    )


def backup_keep(value: Any) -> dict[str, int]:
    if not isinstance(value, dict) or not value:
        raise ValueError('must be a JSON object, e.g. {"daily": 7, "weekly": 4}')
    for rule, count in value.items():
        if rule not in BACKUP_KEEP_RULES:
            raise ValueError(f"{rule!r} is not one of {', '.join(BACKUP_KEEP_RULES)}")
        if isinstance(count, bool) or not isinstance(count, int) or count < 1:
            raise ValueError(f"{rule}: must be a positive whole number")
    return value


def repository_placement(repo: str, storage_path: str | None) -> None:
    """A local repository must not lie in or over what the backup copies or keeps its state in."""
    if not repo.startswith("/"):
        return
    # A repository inside what it backs up would back itself up, be swapped out by a restore, and
    # go with the data disk; one on / would fill the system disk.
    data = (
        "/var/lib/portsip",
        storage_path,
        "/etc/portsip-im-backup",
        "/var/lib/portsip-im-backup",
    )
    inside = [
        p
        for p in data
        if p and (repo == p or repo.startswith(p.rstrip("/") + "/") or p.startswith(repo + "/"))
    ]
    if repo == "/" or inside:
        where = "/" if repo == "/" else inside[0]
        raise ValueError(
            f"{repo!r}: lies in or over {where}, which the backup copies or keeps its state in; "
            "use another disk or mount (e.g. /mnt/im-backup) or a remote repository"
        )


def in_network(private_ip: str, network: str, where: str) -> None:
    """The IM server's private IP must be a host address inside its subnet/network."""
    ip = ipaddress.ip_address(private_ip)
    net = ipaddress.ip_network(network, strict=False)
    if ip not in net:
        raise ValueError(f"{ip} is not inside {where} ({net})")
    if ip in (net.network_address, net.broadcast_address):
        raise ValueError(f"{ip} is the network or broadcast address of {net}")


def usable_address(value: str, private: bool, allow_public: bool) -> ipaddress.IPv4Address:
    """An IPv4 host address; `private` ones must be in PRIVATE_NETWORKS unless `allow_public`."""
    try:
        ip = ipaddress.IPv4Address(value)
    except ValueError:
        raise ValueError(f"{value!r} is not an IPv4 address") from None
    if ip.is_unspecified or ip.is_multicast or ip.is_loopback:
        raise ValueError(f"{ip} is not a usable host address")
    if private and not allow_public and not is_private_address(ip):
        raise ValueError(f"{ip} is not a private address ({PRIVATE_TEXT})")
    return ip


def url(value: str) -> str:
    if not value.startswith(("https://", "http://")):
        raise ValueError("must start with https://")
    if _UNSAFE.search(value):
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
_HOST = re.compile(r"[A-Za-z0-9][A-Za-z0-9.-]{0,252}|[0-9A-Fa-f:.]+")
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
host_name = _shaped(_HOST, "host")
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


def ssh_private_key(value: str) -> str:
    problems = _ssh_private_key_problems(value)
    if problems:
        raise ValueError("; ".join(problems))
    return value


def backup_env(value: Any) -> Any:
    """The backup's environment, a JSON object (or its text) of NAME → value; never quoted."""
    if not isinstance(value, dict | str):
        value = json.dumps(value, default=str)  # a JSON list, number…: judged as what it is
    problems = _backup_env_problems(value)
    if problems:
        raise ValueError("; ".join(problems))
    return value
