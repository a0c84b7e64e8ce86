"""The only reader of Pulumi config: keys, defaults, validation, error messages.

Every config key of the `portsip-im` namespace is a field of `ImConfig` below (camelCase in Pulumi,
snake_case here). The field descriptions are the config reference: `Pulumi.yaml` and the README
table are generated from them (`scripts/config-reference`), and a test fails when they drift.

Bad input never reaches a resource: `parse_config` turns every problem into one `ConfigError`
that names each key and what is wrong, before the program registers anything.
"""

from __future__ import annotations

import ipaddress
import json
import posixpath
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, Literal

import pulumi
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    IPvAnyNetwork,
    ValidationError,
    field_validator,
)
from pydantic.alias_generators import to_camel
from pydantic_core import ErrorDetails

from .spec import PROFILES, Profile

NAMESPACE = "portsip-im"

Target = Literal["aws", "hcloud", "existing"]

_SSH_KEY_TYPES = {
    "ssh-ed25519",
    "ssh-rsa",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
}
_BASE64 = re.compile(r"[A-Za-z0-9+/]+={0,2}")

# Default `size` per sizing profile (components/spec.py), the smallest current general-purpose type
# that meets it with dedicated cores:
# - large (>= 20 vCPU, >= 16 GiB): c7i.6xlarge has 24 vCPU and 48 GiB (c7i.4xlarge's 16 vCPU fall
#   short); Hetzner ccx53 has 32 dedicated vCPU and 128 GB (ccx43 has 16).
# - medium (>= 6 vCPU, >= 16 GiB): c7i.2xlarge has 8 vCPU and exactly 16 GiB (c7i.xlarge has 4);
#   Hetzner ccx33 has 8 dedicated vCPU and 32 GB (ccx23 has 4). Shared-vCPU lines (t3, cpx) are
#   not defaults: PortSIP asks for cores, and those are burstable.
# PortSIP's "cores" are counted as vCPUs (components/spec.py): c7i's vCPUs are hardware threads, so
# c7i.6xlarge has 12 physical cores and c7i.2xlarge 4; the README says so and names the sizes that
# meet the profiles counted in physical cores.
DEFAULT_SIZE = {
    "large": {"aws": "c7i.6xlarge", "hcloud": "ccx53"},
    "medium": {"aws": "c7i.2xlarge", "hcloud": "ccx33"},
}
# Who the operator's key logs in as on a fresh VM (the image's default account).
DEFAULT_ADMIN_USER = {"aws": "ubuntu", "hcloud": "root", "existing": "root"}


def _everyone() -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
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
_PRIVATE_TEXT = "RFC 1918 10/8, 172.16/12, 192.168/16; RFC 6598 100.64/10; IPv6 ULA fc00::/7"

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


def _admin_range(
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
                f"networks; private ranges, {_PRIVATE_TEXT}, may be wider)"
            )
    return net


def admin_range_problem(net: ipaddress.IPv4Network | ipaddress.IPv6Network) -> str | None:
    """Why `net` may not be an SSH source range (the adminCidrs rule), or None. The policy pack
    holds every SSH rule to it, whoever wrote the rule."""
    try:
        _admin_range(net)
    except ValueError as exc:
        return str(exc)
    return None


AdminCidr = Annotated[IPvAnyNetwork, AfterValidator(_admin_range)]


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
DEFAULT_BACKUP_KEEP = {"daily": 7, "weekly": 4, "monthly": 6}
_ENV_NAME = re.compile(r"[A-Z_][A-Z0-9_]*")
# backupEnv must not reach what the backup sets itself, nor the shell's own variables.
_ENV_RESERVED = re.compile(
    r"RESTIC_PASSWORD.*|RESTIC_REPOSITORY.*|RESTIC_CACHE_DIR|PATH|HOME|IFS|SHELL|LD_.*|BASH.*"
    r"|SHELLOPTS|EUID|UID|PPID|GROUPS"
)


def _json_value(value: Any) -> Any:
    # Pulumi hands structured config over as a JSON string.
    if isinstance(value, str):
        try:
            return json.loads(value)
        except json.JSONDecodeError as exc:
            raise ValueError(f"not valid JSON ({exc.msg})") from None
    return value


def backup_env_problems(text: str) -> list[str]:
    """What is wrong with a backupEnv secret (a JSON object NAME → value); never quotes a value."""
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
            out.append(f"{name}: set by the backup itself (backupPassword, backupRepository)")
        elif not isinstance(value, str):
            out.append(f"{name}: its value must be a string")
    return out


class ConfigError(pulumi.RunError):
    """Bad stack configuration. A RunError, so Pulumi prints the message and no stack trace."""


class ImConfig(BaseModel):
    """Plain (non-secret) configuration of one portsip-im stack."""

    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=True
    )

    target: Target = Field(
        description="Where the IM server runs: `aws`, `hcloud` (Hetzner Cloud) or `existing` "
        "(an on-prem server you already have)."
    )
    private_ip: ipaddress.IPv4Address = Field(
        description="The IM server's static private IP (the guide's 192.168.1.25). On aws/hcloud "
        "it "
        "must lie inside `subnetId` / `networkId`."
    )
    public_ip: ipaddress.IPv4Address | None = Field(
        None,
        description="The IM server's static public IP. Required for `existing`; on aws/hcloud the "
        "program allocates one (Elastic IP / Primary IP) unless `publicIpId` is set.",
    )
    public_ip_id: str | None = Field(
        None,
        description="aws/hcloud: an existing Elastic IP allocation id (`eipalloc-…`) or Hetzner "
        "Primary IP id to reuse instead of allocating one.",
    )
    sizing_profile: Literal["large", "medium"] = Field(
        "large",
        description="PortSIP's sizing profile for the IM host: `large` (up to 50,000 users: 20 "
        "cores, 16 GiB, 256 GB SSD) or `medium` (up to 10,000 users: 6 cores, 16 GiB, 256 GB SSD); "
        "cores are counted as vCPUs (README, Cores or vCPUs). "
        "Checked against the cloud's figures at preview (measured on `existing`), and by the "
        "policy pack.",
    )
    size: str | None = Field(
        None,
        description="AWS instance type or Hetzner server type. Default: `c7i.6xlarge` / `ccx53` "
        "(sizingProfile large), `c7i.2xlarge` / `ccx33` (medium). Checked against the profile's "
        "minimums.",
    )
    subnet_id: str | None = Field(
        None, description="aws (required): the subnet the PBX HA nodes live in."
    )
    pbx_security_group_id: str | None = Field(
        None,
        description="aws (required): the PBX HA nodes' security group. The IM instance joins it, "
        "and it gets one ingress rule from the IM server's Elastic IP, owned by this stack.",
    )
    ami: str | None = Field(
        None,
        description="aws: an AMI id to use instead of the latest Canonical Ubuntu 24.04 amd64.",
    )
    network_id: int | None = Field(
        None, description="hcloud (required): id of the Hetzner network the PBX nodes are on."
    )
    location: str = Field("fsn1", description="hcloud: the location of the server and its volume.")
    image: str = Field("ubuntu-24.04", description="hcloud: the server image.")
    data_disk_gb: int = Field(
        256, description="Size in GB of the separate data volume for IM data (aws/hcloud), >= 256."
    )
    data_snapshot_id: str | None = Field(
        None,
        description="aws: create the data volume from this EBS snapshot (`snap-…`, e.g. an "
        "`im-pre-upgrade-snapshot`) instead of blank. Read only when the volume is created (a new "
        "stack, or `pulumi up --replace` of the unprotected volume); later changes are ignored, "
        "with a preview warning.",
        pattern=r"^snap-[0-9a-f]{8,17}$",
    )
    ebs_snapshot_keep: int | None = Field(
        None,
        ge=1,
        le=1000,
        description="aws: also snapshot the data volume every day at 03:00 UTC with Data "
        "Lifecycle Manager, keeping this many (crash-consistent, beside the restic backups). "
        "Unset: no scheduled EBS snapshots.",
    )
    data_disk_device: str | None = Field(
        None,
        description="existing: the block device that holds IM data (e.g. `/dev/sdb`), if any.",
    )
    storage_path: str | None = Field(
        None,
        description="Absolute path for IM files (the guide's `im.sh run -f`), e.g. `/data/im`.",
    )
    client_cidrs: list[IPvAnyNetwork] = Field(
        default_factory=lambda: _everyone(),
        description="Who may reach the IM service on TCP 8887 (JSON list). Default: everyone.",
    )
    admin_cidrs: list[AdminCidr] = Field(
        default_factory=list,
        description="Who besides pbx01 may reach SSH on the IM server (JSON list). Default: none. "
        "A public range must be IPv4 /16 or IPv6 /48 or narrower (0.0.0.0/0, ::/0 and other "
        "ranges that span much of the Internet are refused; IPv4-mapped IPv6 ranges count as the "
        "IPv4 range they embed); a private one (RFC 1918, RFC 6598, IPv6 ULA) may be as wide as "
        "its block.",
    )
    admin_user: str | None = Field(
        None,
        description="The account the operator's key logs in as on the IM host. Default: `ubuntu` "
        "(aws), `root` (hcloud, existing).",
    )
    ssh_public_key: str | None = Field(
        None,
        description="aws/hcloud (required): the operator's public key, installed on the new VM.",
    )
    pbx01_host: str | None = Field(
        None,
        description="Address the operator reaches pbx01 at over SSH (from `pbxStack` if unset).",
    )
    pbx01_private_ip: ipaddress.IPv4Address | None = Field(
        None,
        description="pbx01's private IP, the source of SSH to the IM server. Default: `pbx01Host` "
        "when that is an IP.",
    )
    pbx01_user: str = Field("pbx", description="The PBX nodes' Linux user (the guide's `pbx`).")
    pbx_virtual_ip: ipaddress.IPv4Address | None = Field(
        None, description="The PBX HA virtual IP (from `pbxStack` if unset)."
    )
    pbx_public_ip: ipaddress.IPv4Address | None = Field(
        None,
        description="The PBX cluster's static public IP (from `pbxStack` if unset). Informational: "
        "PortSIP's HA im.sh takes no PBX address; kept for stacks that read this one.",
    )
    pbx_stack: str | None = Field(
        None,
        description="A stack (`org/project/stack`) whose outputs `pbx01Host`, `pbxVirtualIp`, "
        "`pbxPublicIp` fill those keys when they are not set.",
    )
    protect_data: bool = Field(
        True,
        description="Protect the data volume from deletion (`pulumi destroy` then stops at it "
        "until you `pulumi state unprotect` it).",
    )
    pbx01_host_key: str = Field(
        description="pbx01's SSH host key, `TYPE BASE64` as in known_hosts (`ssh-keyscan -t "
        "ed25519 PBX01`, checked out of band). Every connection to pbx01 pins it."
    )
    im_host_key: str | None = Field(
        None,
        description="existing (required): the IM host's SSH host key, `TYPE BASE64`. New VMs: "
        "read once from pbx01 over the private network, then pinned.",
    )
    jump_via_pbx01: bool = Field(
        True,
        description="Reach the IM host's SSH through pbx01 as jump host, so it need not face "
        "the Internet. If false, the operator connects to its private IP directly.",
    )
    ssh_per_dial_timeout: int = Field(
        15,
        ge=1,
        le=600,
        description="Seconds one SSH dial (to pbx01, or through it to the IM host) may take before "
        "it is retried. Changing it re-runs the steps' idempotent scripts, never a vendor verb.",
    )
    required_os: str = Field(
        "ubuntu 24.04",
        description="`ID VERSION_ID` (from /etc/os-release) the IM host and pbx01 must both run.",
    )
    allow_undersized_host: bool = Field(
        False,
        description="existing: accept a host below the sizing profile's minimums, with a loud "
        "warning. For a lab only, never production (a smaller site sets sizingProfile medium). "
        "Refused on aws/hcloud, where it would have no effect; the policy pack reports it.",
    )
    pbx_sudo_nopasswd: bool = Field(
        True,
        description="Let the IM host's pbx user sudo without a password: im.sh drives the host "
        "from pbx01 over SSH, where no one can type one.",
    )
    apply_os_updates: bool = Field(
        True, description="Install all OS updates (apt dist-upgrade) while preparing the IM host."
    )
    guide_dir: str = Field(
        "/opt/portsip-pbx-ha-guide",
        description="Where PortSIP's HA helper scripts (im.sh) live on pbx01.",
    )
    pbx_api: Literal["rest", "manual"] = Field(
        "rest",
        description="How the whitelist and the IM token are done: `rest` through the PBX REST API "
        "(needs pbxAdminPassword), or `manual` (you whitelist in the portal and give imToken).",
    )
    pbx_api_url: str | None = Field(
        None,
        description="Base URL of the PBX REST API as pbx01 reaches it. Default: "
        "`https://<pbxVirtualIp>:8887/api`.",
    )
    pbx_api_login: Literal["auto", "json", "oauth"] = Field(
        "auto",
        description="rest: how to log in to the PBX API. `json`: the OpenAPI document's `POST "
        "/login` with a JSON body; `oauth`: the form-encoded password grant of PortSIP's REST "
        "guide at `pbxApiLoginPath`; `auto`: `json`, and `oauth` only when `/login` answers 404 "
        "or 405.",
    )
    pbx_api_login_path: str = Field(
        "/login/oauth/token",
        description="The PBX API's OAuth login path (PortSIP's REST guide), for `pbxApiLogin` "
        "`oauth` or `auto`.",
    )
    pbx_api_tls_verify: bool = Field(
        True,
        description="Verify the PBX API's TLS certificate (off only for a self-signed lab PBX).",
    )
    pbx_admin_user: str = Field(
        "admin", description="rest: the PBX system administrator's user name."
    )
    whitelist_days: int = Field(
        3650, description="How long the whitelist entry lasts (the guide: a long expiration)."
    )
    whitelist_confirmed: bool = Field(
        False,
        description="manual: set true once you have whitelisted the IM server's IPs in the portal.",
    )
    im_state: Literal["running", "stopped"] = Field(
        "running", description="`running` or `stopped`: runs `im.sh start` / `im.sh stop`."
    )
    restart_token: str | None = Field(
        None, description="Any value; changing it runs `im.sh restart` once."
    )
    im_token_rotation: str | None = Field(
        None,
        description="rest: any value; setting it to a new one regenerates the IM token on the PBX "
        "once and re-deploys the IM server with it (`im.sh rm`, `im.sh run`). Set it with "
        "`--plaintext`. (manual: set a new imToken instead.)",
    )
    im_release: str | None = Field(
        None,
        description="A label for the installed IM release; changing it (with a fresh token) runs "
        "`im.sh upgrade` after the PBX cluster check.",
    )
    skip_cluster_check: bool = Field(
        False, description="Upgrade without first checking that the PBX cluster is healthy."
    )
    backup_repository: str | None = Field(
        None,
        description="The restic repository the IM data is backed up to: `s3:`, `sftp:`, `rest:`, "
        "`b2:`, `azure:`, `gs:`, `swift:`, `rclone:` or an absolute local path. Not set: no "
        "backups (a loud warning at preview).",
    )
    backup_schedule: str = Field(
        "daily",
        description="When the backup runs, a systemd calendar expression (OnCalendar): "
        "`daily`, `weekly`, `monthly`, … or e.g. `*-*-* 03:00:00`, `Mon..Fri 02:30`.",
    )
    backup_keep: dict[str, int] = Field(
        default_factory=lambda: dict(DEFAULT_BACKUP_KEEP),
        description="Retention, restic's `--keep-*` rules as a JSON object: `last`, `hourly`, "
        "`daily`, `weekly`, `monthly`, `yearly` → a positive count.",
    )
    restore_snapshot: str | None = Field(
        None,
        description="Restore the IM data from this backup snapshot: `latest` or a restic "
        "snapshot id. The restore runs once each time the value changes (IM stopped, data "
        "swapped in, IM started, health checked); unset it afterwards. Needs backupRepository.",
        pattern=r"^(latest|[0-9a-f]{8,64})$",
    )
    upgrade_without_backup: bool = Field(
        False,
        description="Let an `imRelease` upgrade go ahead when the backup before it fails, with a "
        "loud warning. Default: a failed backup stops the upgrade. (Without backupRepository "
        "there is no backup to take: the upgrade warns and goes ahead.)",
    )
    allow_public_private_network: bool = Field(
        False,
        description="Accept public addresses for `privateIp`, `pbx01PrivateIp` and "
        "`pbxVirtualIp`, for networks that really use public addressing internally. Default: "
        "they must be private (RFC 1918, RFC 6598 100.64.0.0/10, IPv6 ULA fc00::/7).",
    )

    @field_validator("storage_path", "data_disk_device")
    @classmethod
    def _absolute(cls, value: str | None) -> str | None:
        if value is not None and not posixpath.isabs(value):
            raise ValueError("must be an absolute path")
        return value and posixpath.normpath(value)

    @field_validator("pbx01_host_key", "im_host_key", "ssh_public_key")
    @classmethod
    def _ssh_key(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parts = value.split()
        if len(parts) < 2 or parts[0] not in _SSH_KEY_TYPES or not _BASE64.fullmatch(parts[1]):
            raise ValueError("must be an SSH public key, `TYPE BASE64` (e.g. ssh-ed25519 AAAA…)")
        return value.strip()

    @field_validator("pbx01_host_key", "im_host_key")
    @classmethod
    def _host_key(cls, value: str | None) -> str | None:
        if value is None:
            return None
        # The command provider offers the server exactly the pinned key's type; for an RSA key
        # that is `ssh-rsa` (SHA-1 signatures), which OpenSSH 8.8 and later refuse: every dial
        # would fail ("no common algorithm for host key"). Seen on the lab's sshd.
        if value.split()[0] == "ssh-rsa":
            raise ValueError(
                "is an ssh-rsa host key, which the command provider can only verify with SHA-1 "
                "`ssh-rsa` signatures that OpenSSH 8.8+ servers refuse: pin the host's ed25519 "
                "key instead (`ssh-keyscan -t ed25519 HOST`)"
            )
        # Pinned keys are compared as `TYPE BASE64`; a trailing comment is not part of the key.
        return " ".join(value.split()[:2])

    @field_validator("data_disk_gb")
    @classmethod
    def _disk(cls, value: int) -> int:
        if value < 256:
            raise ValueError(
                "must be at least 256 (GB), the guide's minimum disk for the IM server"
            )
        return value

    @field_validator("backup_repository")
    @classmethod
    def _repository(cls, value: str | None) -> str | None:
        if value is None:
            return None
        value = value.strip()
        if value.startswith("/"):
            return posixpath.normpath(value)
        if not value.startswith(BACKUP_SCHEMES) or len(value.split(":", 1)[1]) == 0:
            raise ValueError(
                "must be a restic repository: "
                + ", ".join(f"`{p}…`" for p in BACKUP_SCHEMES)
                + " or an absolute local path"
            )
        if any(ch.isspace() for ch in value):
            raise ValueError("must not contain white space")
        if _URL_CREDENTIALS.search(value):
            # The URL is a plain parameter (argv, state): a password in it would leak.
            raise ValueError(
                "carries a password in the URL; put credentials in backupEnv (a secret)"
            )
        return value

    @field_validator("backup_schedule")
    @classmethod
    def _schedule(cls, value: str) -> str:
        value = " ".join(value.split())
        if value in BACKUP_SCHEDULE_KEYWORDS or _CALENDAR.fullmatch(value):
            return value
        raise ValueError(
            "must be a systemd calendar expression: "
            + ", ".join(BACKUP_SCHEDULE_KEYWORDS)
            + ", or e.g. `*-*-* 03:00:00`, `Mon..Fri 02:30`, `Sun 04:00 UTC`"
        )

    @field_validator("backup_keep", mode="before")
    @classmethod
    def _keep_json(cls, value: Any) -> Any:
        value = _json_value(value)
        if not isinstance(value, dict) or not value:
            raise ValueError('must be a JSON object, e.g. {"daily": 7, "weekly": 4}')
        for rule, count in value.items():
            if rule not in BACKUP_KEEP_RULES:
                raise ValueError(f"{rule!r} is not one of {', '.join(BACKUP_KEEP_RULES)}")
            if isinstance(count, bool) or not isinstance(count, int) or count < 1:
                raise ValueError(f"{rule}: must be a positive whole number")
        return value

    @field_validator("client_cidrs", "admin_cidrs", mode="before")
    @classmethod
    def _cidr_list(cls, value: Any) -> Any:
        # Pulumi hands structured config over as a JSON string; a comma list is accepted as well.
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                try:
                    return json.loads(text)
                except json.JSONDecodeError as exc:
                    raise ValueError(f"not a valid JSON list ({exc.msg})") from None
            return [item.strip() for item in text.split(",") if item.strip()]
        return value


@dataclass(frozen=True)
class SecretSpec:
    key: str
    description: str
    required_when: Callable[[ImConfig], bool] = lambda c: True
    when: str = ""
    """Says when it is required, for the docs; empty means always."""


SECRETS = [
    SecretSpec(
        "sshPrivateKey",
        "The operator's SSH private key, logging in to pbx01 (as pbx01User) and to the IM host "
        "(as adminUser).",
    ),
    SecretSpec(
        "pbxPassword",
        "The password of the pbx user on the PBX nodes; the IM host's pbx user gets the same.",
    ),
    SecretSpec(
        "pbxAdminPassword",
        "The PBX system administrator's password, for the REST API.",
        lambda c: c.pbx_api == "rest",
        "pbxApi is rest",
    ),
    SecretSpec(
        "backupPassword",
        "The restic repository's password (it encrypts the backups: keep a copy outside this "
        "stack, without it no backup can be read).",
        lambda c: c.backup_repository is not None,
        "backupRepository is set",
    ),
    SecretSpec(
        "backupEnv",
        "The restic repository's credentials, a JSON object of environment variables, e.g. "
        '`{"AWS_ACCESS_KEY_ID": "…", "AWS_SECRET_ACCESS_KEY": "…"}`.',
        lambda c: False,
        "the repository needs credentials",
    ),
    SecretSpec(
        "imToken",
        "The IM server token from the portal (Servers > IM Servers > Generate Token).",
        lambda c: c.pbx_api == "manual",
        "pbxApi is manual",
    ),
]


@dataclass(frozen=True)
class Settings:
    """Validated config plus the secrets (as Pulumi secret Outputs) and the PBX addresses."""

    config: ImConfig
    ssh_private_key: pulumi.Output[str]
    pbx_password: pulumi.Output[str]
    pbx_admin_password: pulumi.Output[str] | None
    im_token: pulumi.Output[str] | None
    backup_password: pulumi.Output[str] | None
    backup_env: pulumi.Output[str] | None
    """The backupEnv JSON object, when set (a Pulumi secret)."""
    pbx01_host: pulumi.Input[str]
    pbx_virtual_ip: pulumi.Input[str] | None
    pbx_public_ip: pulumi.Input[str] | None

    @property
    def target(self) -> str:
        return self.config.target

    @property
    def profile(self) -> Profile:
        return PROFILES[self.config.sizing_profile]

    @property
    def size(self) -> str | None:
        return self.config.size or DEFAULT_SIZE[self.config.sizing_profile].get(self.config.target)

    @property
    def admin_user(self) -> str:
        return self.config.admin_user or DEFAULT_ADMIN_USER[self.config.target]

    @property
    def pbx_api_url(self) -> pulumi.Input[str] | None:
        if self.config.pbx_api_url:
            return self.config.pbx_api_url.rstrip("/")
        if self.pbx_virtual_ip is None:
            return None
        return pulumi.Output.from_input(self.pbx_virtual_ip).apply(
            lambda vip: f"https://{vip}:8887/api"
        )

    @property
    def pbx01_source_cidr(self) -> pulumi.Input[str]:
        """Where SSH to the IM host comes from: pbx01's private address, as a /32."""
        c = self.config
        if c.pbx01_private_ip is not None:
            return f"{c.pbx01_private_ip}/32"
        origin = "pbx01Host" if c.pbx01_host else f"pbx01Host from pbxStack {c.pbx_stack}"
        return pulumi.Output.from_input(self.pbx01_host).apply(
            lambda host: _host_cidr(host, origin, c.allow_public_private_network)
        )


def _host_cidr(host: str, origin: str = "pbx01Host", allow_public: bool = False) -> str:
    try:
        ip = ipaddress.IPv4Address(host)
    except ValueError:
        raise ConfigError(
            f"{NAMESPACE}:pbx01PrivateIp: not set, and {origin} ({host!r}) is not an IPv4 "
            "address; set pbx01PrivateIp to pbx01's private IP (the SSH rule's source)"
        ) from None
    # parse_config checks a pbx01Host from config; one from pbxStack is only known here.
    if not allow_public and not is_private_address(ip):
        raise ConfigError(
            f"{NAMESPACE}:pbx01PrivateIp: not set, and {origin} ({ip}), its default, is not a "
            f"private address ({_PRIVATE_TEXT}); set pbx01PrivateIp to pbx01's private IP (the "
            f"source of SSH to the IM server), or {_PUBLIC_OPT_OUT}"
        )
    return f"{ip}/32"


def pbx_stack_address(key: str, c: ImConfig, value: Any) -> Any:
    """An address a pbxStack output supplies for `key`, held to the rule config values meet
    (None, an output the stack does not have, passes through as None)."""
    if value is None or value == "":
        return None
    origin = f"{value} from pbxStack {c.pbx_stack}'s output {key}"
    try:
        ip = ipaddress.IPv4Address(str(value))
    except ValueError:
        raise ConfigError(
            f"{NAMESPACE}:{key}: not set, and {origin} is not an IPv4 address"
        ) from None
    if not c.allow_public_private_network and not is_private_address(ip):
        raise ConfigError(
            f"{NAMESPACE}:{key}: not set, and {origin} is not a private address "
            f"({_PRIVATE_TEXT}); set {key}, or {_PUBLIC_OPT_OUT}"
        )
    return str(ip)


def key_of(field_name: str) -> str:
    """The config key (camelCase, as the operator types it) of an ImConfig field."""
    info = ImConfig.model_fields[field_name]
    return info.alias or field_name


def config_keys() -> list[str]:
    return [key_of(name) for name in ImConfig.model_fields] + [s.key for s in SECRETS]


def _describe(error: ErrorDetails) -> str:
    loc = error["loc"]
    key = str(loc[0]) if loc else "?"
    message = str(error["msg"]).removeprefix("Value error, ")
    if error["type"] == "missing":
        return f"{NAMESPACE}:{key}: required, not set"
    if error["type"] == "extra_forbidden":
        return f"{NAMESPACE}:{key}: unknown config key (known keys: see README)"
    if error["type"] == "literal_error":
        expected = str((error.get("ctx") or {}).get("expected", "")).replace("'", "")
        return f"{NAMESPACE}:{key}: {error['input']!r} is not one of {expected}"
    where = f"[{loc[1]}]" if len(loc) > 1 else ""
    return f"{NAMESPACE}:{key}{where}: {_masked(error['input'])!r}: {message}"


# `scheme://user:password@host`: an error message quotes what it refuses, and previews and CI logs
# keep it; a URL's credentials must not ride along (backupRepository refuses them for that reason).
# Pasted secrets are rarely URL-encoded (an AWS secret key often holds a `/`), so anything from
# `://` to an `@` with a `:` between counts.
_URL_CREDENTIALS = re.compile(r"://[^@]*:[^@]*@")


def _masked(value: object) -> object:
    """A rejected value as an error may show it: a URL's user and password replaced by ***."""
    if isinstance(value, str) and _URL_CREDENTIALS.search(value):
        # Up to the last @: an unencoded @ or / in the password is masked too.
        return re.sub(r"://.*@", "://***@", value)
    return value


def parse_config(
    raw: dict[str, str], secret_keys: set[str] | frozenset[str] = frozenset()
) -> ImConfig:
    """Validate raw config strings (key → value, no namespace) into an ImConfig.

    `secret_keys` are the keys the operator set with `--secret`; every key in SECRETS must be there
    (a secret given as plain text would sit unencrypted in Pulumi.<stack>.yaml).
    Raises ConfigError naming every bad key.
    """
    problems: list[str] = []
    # Pulumi.yaml declares optional keys with an empty default; empty means "not set".
    raw = {k: v for k, v in raw.items() if v != ""}
    plain = {k: v for k, v in raw.items() if k not in {s.key for s in SECRETS}}
    try:
        config = ImConfig.model_validate(plain)
    except ValidationError as exc:
        problems.extend(_describe(e) for e in exc.errors())
        config = None

    for secret in SECRETS:
        needed = secret.required_when(config) if config is not None else not secret.when
        if secret.key not in raw:
            if needed:
                why = f"required when {secret.when}" if secret.when else "required"
                problems.append(
                    f"{NAMESPACE}:{secret.key}: {why}, not set "
                    f"(pulumi config set --secret {secret.key} ...)"
                )
        elif secret.key not in secret_keys:
            problems.append(
                f"{NAMESPACE}:{secret.key}: set as plain text; it must be a secret "
                f"(pulumi config set --secret {secret.key} ...)"
            )
    if "backupEnv" in raw:
        bad_env = backup_env_problems(raw["backupEnv"])
        problems.extend(f"{NAMESPACE}:backupEnv: {p}" for p in bad_env)

    # A plain key set with --secret would still reach argv and state in clear: say so instead.
    for key in sorted(secret_keys & plain.keys()):
        problems.append(
            f"{NAMESPACE}:{key}: set as a secret, but it is not one (it shows in commands and "
            f"previews): pulumi config set --plaintext {key} ..."
        )

    if config is not None:
        problems.extend(_cross_checks(config))
    if problems:
        raise ConfigError("invalid configuration:\n  " + "\n  ".join(problems))
    assert config is not None
    return config


_PUBLIC_OPT_OUT = (
    "if this network really uses public addresses internally, set allowPublicPrivateNetwork: true"
)


def _cross_checks(c: ImConfig) -> list[str]:
    out: list[str] = []

    def need(field: str, why: str) -> None:
        if getattr(c, field) in (None, ""):
            out.append(f"{NAMESPACE}:{key_of(field)}: required when {why}, not set")

    if c.target == "existing":
        need("public_ip", "target is existing")
    if c.target == "aws":
        need("subnet_id", "target is aws")
        need("pbx_security_group_id", "target is aws")
    if c.target == "hcloud":
        need("network_id", "target is hcloud")
    if c.target in ("aws", "hcloud"):
        need("ssh_public_key", f"target is {c.target} (the new VM's login key)")
        if c.public_ip is not None and c.public_ip_id is None:
            out.append(
                f"{NAMESPACE}:publicIp: only for target existing; on {c.target} the program "
                "allocates the public IP, or set publicIpId to reuse an allocation"
            )
    if c.pbx_stack is None:
        need("pbx01_host", "pbxStack is not set")
    if c.target == "existing":
        need("im_host_key", "target is existing (pin the IM host's SSH key)")
    if (
        c.pbx_api == "rest"
        and c.pbx_api_url is None
        and c.pbx_virtual_ip is None
        and c.pbx_stack is None
    ):
        out.append(
            f"{NAMESPACE}:pbxApiUrl: required when pbxApi is rest and pbxVirtualIp is not set"
        )
    if c.pbx_api_url is not None and not c.pbx_api_url.startswith(("https://", "http://")):
        out.append(
            f"{NAMESPACE}:pbxApiUrl: {_masked(c.pbx_api_url)!r}: must start with https:// (or http://)"
        )
    if not c.pbx_api_login_path.startswith("/") or any(ch in c.pbx_api_login_path for ch in "?# "):
        out.append(
            f"{NAMESPACE}:pbxApiLoginPath: {c.pbx_api_login_path!r}: must be a path under the "
            "API base URL, starting with / (e.g. /login/oauth/token)"
        )
    if c.data_snapshot_id is not None and c.target != "aws":
        out.append(f"{NAMESPACE}:dataSnapshotId: only for target aws (an EBS snapshot)")
    if c.allow_undersized_host and c.target != "existing":
        # Only prepare.sh's measurement on an existing host heeds it; on aws/hcloud the size is
        # the catalogue's, refused at preview whatever this says, so a true here only misleads.
        out.append(
            f"{NAMESPACE}:allowUndersizedHost: only for target existing (a lab host measured at "
            f"prepare); on {c.target} it has no effect: pick a `size` that meets the profile, or "
            "sizingProfile medium for a smaller site"
        )
    if c.ebs_snapshot_keep is not None and c.target != "aws":
        out.append(f"{NAMESPACE}:ebsSnapshotKeep: only for target aws (EBS snapshots)")
    if c.restore_snapshot is not None and c.backup_repository is None:
        out.append(f"{NAMESPACE}:restoreSnapshot: needs backupRepository (where to restore from)")
    repo = c.backup_repository
    if repo is not None and repo.startswith("/"):
        # A repository inside what it backs up would back itself up, be swapped out by a
        # restore, and go with the data disk; one on / would fill the system disk.
        inside = [
            p
            for p in (
                "/var/lib/portsip",
                c.storage_path,
                "/etc/portsip-im-backup",
                "/var/lib/portsip-im-backup",
            )
            if p and (repo == p or repo.startswith(p.rstrip("/") + "/") or p.startswith(repo + "/"))
        ]
        if repo == "/" or inside:
            where = "/" if repo == "/" else inside[0]
            out.append(
                f"{NAMESPACE}:backupRepository: {repo!r}: lies in or over {where}, which the "
                "backup copies or keeps its state in; use another disk or mount (e.g. "
                "/mnt/im-backup) or a remote repository"
            )
    if c.whitelist_days < 1:
        out.append(f"{NAMESPACE}:whitelistDays: must be at least 1")
    for field in ("private_ip", "public_ip", "pbx01_private_ip", "pbx_virtual_ip"):
        ip = getattr(c, field)
        if ip is None:
            continue
        if ip.is_unspecified or ip.is_multicast or ip.is_loopback:
            out.append(f"{NAMESPACE}:{key_of(field)}: {ip} is not a usable host address")
        elif field != "public_ip" and not c.allow_public_private_network:
            if not is_private_address(ip):
                out.append(
                    f"{NAMESPACE}:{key_of(field)}: {ip} is not a private address "
                    f"({_PRIVATE_TEXT}); {_PUBLIC_OPT_OUT}"
                )
    if (
        c.target in ("aws", "hcloud")
        and c.pbx01_private_ip is None
        and not c.allow_public_private_network
    ):
        # pbx01PrivateIp defaults to pbx01Host: the SSH rule's source must then be private too.
        try:
            default = ipaddress.IPv4Address(c.pbx01_host or "")
        except ValueError:
            default = None
        if default is not None and not is_private_address(default):
            out.append(
                f"{NAMESPACE}:pbx01PrivateIp: not set, and pbx01Host ({default}), its default, is "
                "not a private address; set pbx01PrivateIp to pbx01's private IP (the source of "
                f"SSH to the IM server), or {_PUBLIC_OPT_OUT}"
            )
    if c.target in ("aws", "hcloud") and c.pbx01_private_ip is None and c.pbx_stack is None:
        try:
            ipaddress.IPv4Address(c.pbx01_host or "")
        except ValueError:
            out.append(
                f"{NAMESPACE}:pbx01PrivateIp: required when pbx01Host ({c.pbx01_host!r}) is not an "
                "IPv4 address: it is the source of the SSH rule to the IM server"
            )
    return out


def check_ip_in_network(private_ip: ipaddress.IPv4Address, network: str, where: str) -> None:
    """Raise a ConfigError when the IM server's private IP is outside its subnet/network."""
    net = ipaddress.ip_network(network, strict=False)
    if private_ip not in net:
        raise ConfigError(f"{NAMESPACE}:privateIp: {private_ip} is not inside {where} ({net})")
    if private_ip in (net.network_address, net.broadcast_address):
        raise ConfigError(
            f"{NAMESPACE}:privateIp: {private_ip} is the network or broadcast address of {net}"
        )


def load_settings() -> Settings:
    """Read the stack's config (and the PBX stack's outputs, when `pbxStack` is set)."""
    from pulumi.runtime.config import get_config, is_config_secret

    raw: dict[str, str] = {}
    for key in config_keys():
        value = get_config(f"{NAMESPACE}:{key}")
        if value is not None:
            raw[key] = value
    secret_keys = {k for k in raw if is_config_secret(f"{NAMESPACE}:{k}")}
    config = parse_config(raw, secret_keys)

    cfg = pulumi.Config(NAMESPACE)
    ssh_private_key = cfg.require_secret("sshPrivateKey")
    pbx_password = cfg.require_secret("pbxPassword")
    pbx_admin_password = cfg.get_secret("pbxAdminPassword") if config.pbx_api == "rest" else None
    im_token = cfg.get_secret("imToken") if config.pbx_api == "manual" else None
    backup_password = cfg.get_secret("backupPassword") if config.backup_repository else None
    backup_env = cfg.get_secret("backupEnv") if config.backup_repository else None

    pbx01_host: pulumi.Input[str]
    pbx_vip: pulumi.Input[str] | None = _str(config.pbx_virtual_ip)
    pbx_public: pulumi.Input[str] | None = _str(config.pbx_public_ip)
    if config.pbx_stack:
        ref = pulumi.StackReference(config.pbx_stack)
        pbx01_host = config.pbx01_host or ref.require_output("pbx01Host")
        if pbx_vip is None:
            # Config values were checked by parse_config; the stack's are known only now.
            pbx_vip = ref.get_output("pbxVirtualIp").apply(
                lambda v: pbx_stack_address("pbxVirtualIp", config, v)
            )
        pbx_public = pbx_public or ref.get_output("pbxPublicIp")
    else:
        assert config.pbx01_host is not None  # enforced by _cross_checks
        pbx01_host = config.pbx01_host

    return Settings(
        config=config,
        ssh_private_key=ssh_private_key,
        pbx_password=pbx_password,
        pbx_admin_password=pbx_admin_password,
        im_token=im_token,
        backup_password=backup_password,
        backup_env=backup_env,
        pbx01_host=pbx01_host,
        pbx_virtual_ip=pbx_vip,
        pbx_public_ip=pbx_public,
    )


def _str(value: object) -> str | None:
    return None if value is None else str(value)
