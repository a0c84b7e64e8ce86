"""The config keys of the `portsip-im` namespace: one field of `ImConfig` per key, with its default
and its rule (camelCase in Pulumi, snake_case here). The field descriptions are the config
reference: `Pulumi.yaml` and docs/configuration.md are generated from them
(`scripts/config-reference`), and a test fails when they drift. The rules themselves are the
component's (portsip_im.rules), so a key and the ImServer field it feeds are held to one rule.
"""

from __future__ import annotations

import ipaddress
import json
from typing import Annotated, Any, Literal

import pulumi
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, IPvAnyNetwork, field_validator
from pydantic.alias_generators import to_camel

from portsip_im import rules
from portsip_im.rules import DEFAULT_BACKUP_KEEP, admin_range, everyone, json_value

NAMESPACE = "portsip-im"

# The shape each key that reaches a host or a remote command is held to (rules.SHAPES), stated in
# the generated reference.
SHAPE_OF = {
    "storage_path": "path",
    "guide_dir": "path",
    "data_disk_device": "device",
    "pbx01_user": "user",
    "admin_user": "user",
    "pbx_admin_user": "api user",
    "im_release": "label",
    "restart_token": "label",
    "im_token_rotation": "label",
    "required_os": "os",
    "pbx01_host": "host",
    "size": "name",
    "location": "name",
    "image": "name",
}

Target = Literal["aws", "hcloud", "existing"]
AdminCidr = Annotated[IPvAnyNetwork, AfterValidator(admin_range)]


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
        "cores are counted as vCPUs (docs/hosts.md, Cores or vCPUs). "
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
        default_factory=lambda: everyone(),
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
    host_firewall: bool = Field(
        False,
        description="existing: manage a host firewall on the IM host, as aws/hcloud get a security "
        "group: an nftables table of the program's own (`inet portsip_im`; the host's other rules "
        "are left alone) admitting SSH from pbx01 and `adminCidrs`, TCP 8887 from `clientCidrs`, "
        "and dropping every other new inbound connection, also to ports a container runtime "
        "publishes. Applied from pbx01 with an automatic rollback that only a fresh login from "
        "pbx01 cancels (docs/security.md). Needs pbx01's private IP (`pbx01PrivateIp`, or "
        "`pbx01Host` as an IPv4 address). Refused on aws/hcloud.",
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
        description="Verify the PBX API's TLS certificate. For a self-signed PBX set "
        "`pbxApiCaCertificate` or `pbxApiPinnedPublicKey` rather than turning this off.",
    )
    pbx_api_ca_certificate: str | None = Field(
        None,
        description="The PEM certificate(s) of the CA that signed the PBX API's certificate (a "
        "self-signed PBX: its own certificate); the API is verified against these alone. "
        '`pulumi config set pbxApiCaCertificate -- "$(cat pbx-ca.pem)"`.',
    )
    pbx_api_pinned_public_key: str | None = Field(
        None,
        description="`sha256//BASE64`, the SHA-256 of the PBX API certificate's public key "
        "(several joined by `;`): the API is trusted when its key matches, whoever signed the "
        "certificate (docs/security.md).",
    )
    pbx_api_allow_insecure_http: bool = Field(
        False,
        description="Allow an `http://` `pbxApiUrl`: the admin password, the bearer token and the "
        "IM token then cross the network in clear.",
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
    backup_append_only: bool = Field(
        False,
        description="The backup repository is append-only (restic's rest-server "
        "`--append-only`, a bucket that refuses deletes): the IM host never forgets or prunes "
        "snapshots, so root there cannot delete them; a run is recorded `ok` and retention is "
        "left to the repository's owner, from a trusted machine (docs/backups.md). A backupKeep "
        "other than its default is refused with it (it would be ignored).",
    )
    restore_snapshot: str | None = Field(
        None,
        description="Restore the IM data from this backup snapshot: `latest` or a restic "
        "snapshot id. The restore runs once each time the value changes (IM stopped, data "
        "swapped in, IM started, health checked); unset it afterwards. Needs backupRepository.",
        pattern=r"^(latest|[0-9a-f]{8,64})$",
    )
    backup_ssh_host_key: str | None = Field(
        None,
        description="`sftp:` repositories: the SFTP server's SSH host key, `TYPE BASE64` "
        "(`ssh-keyscan -t ed25519 HOST`), pinned for the IM host's restic logins (nothing else "
        "is trusted for that server). Set with backupSshKey.",
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

    @field_validator("storage_path")
    @classmethod
    def _path(cls, value: str | None) -> str | None:
        return None if value is None else rules.ordinary_path(value)

    @field_validator("guide_dir")
    @classmethod
    def _guide_dir(cls, value: str) -> str:
        rules.ordinary_path(value)
        return value  # as given: a stack made before this check keeps its exact value

    @field_validator("data_disk_device")
    @classmethod
    def _device(cls, value: str | None) -> str | None:
        return None if value is None else rules.device_path(value)

    @field_validator("pbx01_user", "admin_user")
    @classmethod
    def _user(cls, value: str | None) -> str | None:
        return None if value is None else rules.posix_user(value)

    @field_validator("pbx_admin_user")
    @classmethod
    def _api_user(cls, value: str) -> str:
        return rules.api_user(value)

    @field_validator("im_release", "restart_token", "im_token_rotation")
    @classmethod
    def _label(cls, value: str | None) -> str | None:
        return None if value is None else rules.label(value)

    @field_validator("required_os")
    @classmethod
    def _os(cls, value: str) -> str:
        return rules.os_release(value)

    @field_validator("pbx01_host")
    @classmethod
    def _host(cls, value: str | None) -> str | None:
        return None if value is None else rules.host_name(value)

    @field_validator("size", "location", "image")
    @classmethod
    def _cloud_name(cls, value: str | None) -> str | None:
        return None if value is None else rules.cloud_name(value)

    @field_validator("subnet_id")
    @classmethod
    def _subnet(cls, value: str | None) -> str | None:
        return None if value is None else rules.aws_id("subnet")(value)

    @field_validator("pbx_security_group_id")
    @classmethod
    def _group(cls, value: str | None) -> str | None:
        return None if value is None else rules.aws_id("sg")(value)

    @field_validator("ami")
    @classmethod
    def _ami(cls, value: str | None) -> str | None:
        return None if value is None else rules.aws_id("ami")(value)

    @field_validator("public_ip_id")
    @classmethod
    def _public_ip_id(cls, value: str | None) -> str | None:
        if value is None or value.isdigit():  # a Hetzner Primary IP id
            return value
        return rules.aws_id("eipalloc")(value)

    @field_validator("pbx_api_url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        return None if value is None else rules.url(value)

    @field_validator("pbx_api_ca_certificate")
    @classmethod
    def _ca(cls, value: str | None) -> str | None:
        return None if value is None else rules.pem_certificates(value)

    @field_validator("pbx_api_pinned_public_key")
    @classmethod
    def _pin(cls, value: str | None) -> str | None:
        return None if value is None else rules.pinned_public_key(value)

    @field_validator("ssh_public_key")
    @classmethod
    def _ssh_key(cls, value: str | None) -> str | None:
        return None if value is None else rules.ssh_key(value)

    @field_validator("pbx01_host_key", "im_host_key")
    @classmethod
    def _host_key(cls, value: str | None) -> str | None:
        return None if value is None else rules.host_key(value)

    @field_validator("data_disk_gb")
    @classmethod
    def _disk(cls, value: int) -> int:
        return rules.data_disk_gb(value)

    @field_validator("backup_repository")
    @classmethod
    def _repository(cls, value: str | None) -> str | None:
        return None if value is None else rules.backup_repository(value)

    @field_validator("backup_ssh_host_key")
    @classmethod
    def _pinned_key(cls, value: str | None) -> str | None:
        # Any type: OpenSSH checks it, not the command provider (no ssh-rsa limit as on imHostKey).
        return None if value is None else rules.pinned_key(value)

    @field_validator("backup_schedule")
    @classmethod
    def _schedule(cls, value: str) -> str:
        return rules.backup_schedule(value)

    @field_validator("backup_keep", mode="before")
    @classmethod
    def _keep_json(cls, value: Any) -> Any:
        return rules.backup_keep(json_value(value))

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
