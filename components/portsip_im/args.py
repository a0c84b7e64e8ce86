"""What a caller gives ImServer: typed inputs, grouped the way PortSIP's guide groups its steps.

These are TypedDicts because the component is also served to other languages as a Pulumi component
package, whose schema is inferred from these annotations (and their docstrings, which become the
schema's descriptions). The schema has no unions: the host is one object with one optional field
per target, and exactly one of them must be set. Fields a caller would take from another resource
(subnet, security group, network, pbx01's address, keys, passwords) are `pulumi.Input`s.

Every field is checked when ImServer is constructed (components/portsip_im/checks/); a value
that is an unknown Output then is checked when it becomes known, with the same message.
"""

# No `from __future__ import annotations`: the component provider host reads these annotations as
# objects, not strings.
from typing import NotRequired, TypedDict

import pulumi

from . import rules
from .inputs import Input, boolean, cidr_list, matching, one_of, whole
from .pbx import OAUTH_LOGIN_PATH
from .spec import DEFAULT_SIZE


class CloudHostArgs(TypedDict):
    """What a new VM (aws or hcloud) needs, whichever the cloud."""

    private_ip: pulumi.Input[str]
    """The IM server's static private IP (the guide's 192.168.1.25), inside the PBX nodes'
    subnet or network."""
    ssh_public_key: pulumi.Input[str]
    """The operator's SSH public key (`TYPE BASE64`), installed on the new VM."""
    size: NotRequired[str]
    """The instance or server type. Default: the sizing profile's (aws c7i.6xlarge / hcloud ccx53
    for large, c7i.2xlarge / ccx33 for medium); checked against the profile's minimums."""
    sizing_profile: NotRequired[str]
    """PortSIP's sizing profile: `large` (default, up to 50,000 users) or `medium` (up to
    10,000)."""
    public_ip_id: NotRequired[str]
    """An Elastic IP allocation id / Hetzner Primary IP id to reuse instead of allocating one."""
    data_disk_gb: NotRequired[int]
    """Size in GB of the separate, protected data volume (chat history, files); >= 256."""
    protect_data: NotRequired[bool]
    """Protect the data volume from deletion (default true)."""
    client_cidrs: NotRequired[list[str]]
    """Who may reach the IM service on TCP 8887. Default: everyone (0.0.0.0/0 and ::/0)."""
    admin_cidrs: NotRequired[list[str]]
    """Who besides pbx01 may reach SSH. Public ranges no broader than IPv4 /16 or IPv6 /48."""
    admin_user: NotRequired[str]
    """The account the operator's key logs in as. Default: `ubuntu` (aws), `root` (hcloud,
    existing)."""


class AwsHostArgs(CloudHostArgs):
    """An EC2 instance in the PBX nodes' subnet (PortSIP's AWS edition of the guide)."""

    subnet_id: pulumi.Input[str]
    """The subnet the PBX HA nodes live in."""
    pbx_security_group_id: pulumi.Input[str]
    """The PBX nodes' security group: the IM instance joins it, and it gains one ingress rule from
    the IM server's Elastic IP, owned by this component."""
    ami: NotRequired[str]
    """An AMI id instead of the latest Canonical Ubuntu 24.04 amd64."""
    data_snapshot_id: NotRequired[str]
    """Create the data volume from this EBS snapshot (`snap-…`); read only when it is created."""
    ebs_snapshot_keep: NotRequired[int]
    """Also snapshot the data volume daily with Data Lifecycle Manager, keeping this many."""


class HcloudHostArgs(CloudHostArgs):
    """A Hetzner Cloud server on the PBX nodes' network."""

    network_id: pulumi.Input[int]
    """The Hetzner network the PBX nodes are on."""
    location: NotRequired[str]
    """The server's and its volume's location (default fsn1)."""
    image: NotRequired[str]
    """The server image (default ubuntu-24.04)."""


class ExistingHostArgs(TypedDict):
    """A server the operator already has (on-prem): nothing is provisioned, it is measured."""

    private_ip: pulumi.Input[str]
    """The server's static private IP (the guide's 192.168.1.25)."""
    public_ip: pulumi.Input[str]
    """The server's static public IP, which clients use."""
    host_key: pulumi.Input[str]
    """The server's SSH host key, `TYPE BASE64` (ed25519 or ECDSA): every connection pins it."""
    data_disk_device: NotRequired[str]
    """The block device for IM data (e.g. `/dev/sdb`), formatted only if blank."""
    sizing_profile: NotRequired[str]
    """PortSIP's sizing profile the host is measured against: `large` (default) or `medium`."""
    allow_undersized: NotRequired[bool]
    """Accept a host below the profile's minimums, loudly. For a lab only, never production."""
    admin_user: NotRequired[str]
    """The account the operator's key logs in as (default root)."""
    firewall: NotRequired[bool]
    """Manage a host firewall (default false): an nftables table of the program's own, `inet
    portsip_im`, with the cloud targets' rules (SSH from pbx01 and `host.existing.admin_cidrs`, TCP
    8887 from `host.existing.client_cidrs`, every other new inbound connection dropped), applied
    from pbx01 with a rollback that only a fresh login from pbx01 cancels. Needs pbx01's private IP
    (`pbx.pbx01_private_ip`, or `pbx.pbx01_host` as an IPv4 address)."""
    client_cidrs: NotRequired[list[str]]
    """With `host.existing.firewall`: who may reach the IM service on TCP 8887. Default:
    everyone."""
    admin_cidrs: NotRequired[list[str]]
    """With `host.existing.firewall`: who besides pbx01 may reach SSH. Public ranges no broader
    than IPv4 /16 or IPv6 /48."""


class HostArgs(TypedDict):
    """Where the IM server runs: set exactly one of `aws`, `hcloud`, `existing`."""

    aws: NotRequired[AwsHostArgs]
    """A new EC2 instance."""
    hcloud: NotRequired[HcloudHostArgs]
    """A new Hetzner Cloud server."""
    existing: NotRequired[ExistingHostArgs]
    """A server you already have."""


class PbxApiArgs(TypedDict):
    """How the whitelist (guide step 2) and the IM token (step 3) are done."""

    mode: NotRequired[str]
    """`rest` (default): through the PBX REST API with the admin's credentials; `manual`: you
    whitelist in the portal and give `pbx.api.im_token`."""
    url: NotRequired[pulumi.Input[str]]
    """The API's base URL as pbx01 reaches it. Default: https://VIRTUAL_IP:8887/api, with
    `pbx.virtual_ip`."""
    login: NotRequired[str]
    """`auto` (default), `json` (the OpenAPI document's POST /login) or `oauth`."""
    login_path: NotRequired[str]
    """The OAuth login path (default /login/oauth/token)."""
    tls_verify: NotRequired[bool]
    """Verify the API's TLS certificate (default true). Rather than turning it off for a
    self-signed PBX, trust it with `pbx.api.ca_certificate` or `pbx.api.pinned_public_key`."""
    ca_certificate: NotRequired[pulumi.Input[str]]
    """The PEM certificate(s) of the CA that signed the PBX's certificate (a self-signed PBX: its
    own certificate): the API's TLS is verified against these alone, not the system's CAs."""
    pinned_public_key: NotRequired[str]
    """`sha256//BASE64`: the SHA-256 of the PBX certificate's public key (several joined by `;`).
    The API is trusted when its key matches, whoever signed its certificate."""
    allow_insecure_http: NotRequired[bool]
    """Allow an `http://` url (default false): the admin password, bearer token and IM token then
    cross the network in clear."""
    admin_user: NotRequired[str]
    """The PBX system administrator (default admin)."""
    admin_password: NotRequired[pulumi.Input[str]]
    """rest: the administrator's password (a secret)."""
    im_token: NotRequired[pulumi.Input[str]]
    """manual: the IM token from the portal (a secret)."""
    whitelist_days: NotRequired[int]
    """How long the whitelist entry lasts (default 3650)."""
    whitelist_confirmed: NotRequired[bool]
    """manual: true once you whitelisted the IM server's addresses in the portal."""


class PbxArgs(TypedDict):
    """The PBX HA cluster side: node pbx01, where the guide's im.sh runs, and the PBX API."""

    pbx01_host: pulumi.Input[str]
    """Where the operator reaches pbx01 over SSH."""
    pbx01_host_key: pulumi.Input[str]
    """pbx01's SSH host key, `TYPE BASE64` (ed25519 or ECDSA): every connection pins it."""
    password: pulumi.Input[str]
    """The password of the `pbx` user on the PBX nodes; the IM host's pbx user gets the same."""
    pbx01_private_ip: NotRequired[pulumi.Input[str]]
    """pbx01's private IP, the source of SSH to the IM host. Default: `pbx.pbx01_host` (an
    IP)."""
    user: NotRequired[str]
    """The PBX nodes' Linux user (default pbx)."""
    virtual_ip: NotRequired[pulumi.Input[str]]
    """The PBX HA virtual IP (the API's default address)."""
    guide_dir: NotRequired[str]
    """Where PortSIP's HA helper scripts (im.sh) live on pbx01 (default
    /opt/portsip-pbx-ha-guide)."""
    api: NotRequired[PbxApiArgs]
    """How the whitelist and the token are done (default: the REST API)."""


class SshArgs(TypedDict):
    """How the program reaches pbx01 and the IM host."""

    private_key: pulumi.Input[str]
    """The operator's SSH private key (a secret), for pbx01 and the IM host's admin user."""
    jump_via_pbx01: NotRequired[bool]
    """Reach the IM host through pbx01 as jump host (default true)."""
    per_dial_timeout: NotRequired[int]
    """Seconds one SSH dial may take before it is retried (default 15)."""


class PrepareArgs(TypedDict):
    """Guide step 1: what preparing the IM host enforces."""

    required_os: NotRequired[str]
    """`ID VERSION_ID` the IM host and pbx01 must both run (default `ubuntu 24.04`)."""
    apply_os_updates: NotRequired[bool]
    """Install all OS updates once, before the install (default true)."""
    pbx_sudo_nopasswd: NotRequired[bool]
    """Let the IM host's pbx user sudo without a password (default true): im.sh drives it."""


class ImServiceArgs(TypedDict):
    """The IM service itself: deploy options and the day-2 verbs."""

    storage_path: NotRequired[str]
    """An absolute path for IM files (the guide's `im.sh run -f`)."""
    state: NotRequired[str]
    """`running` (default) or `stopped`: im.sh start / stop."""
    restart_token: NotRequired[str]
    """Any value; changing it runs im.sh restart once."""
    token_rotation: NotRequired[str]
    """rest: any value; a new one regenerates the IM token and re-deploys with it."""
    release: NotRequired[str]
    """A label for the IM release; changing it runs im.sh upgrade after the cluster check."""
    skip_cluster_check: NotRequired[bool]
    """Upgrade without first checking that the PBX cluster is healthy."""
    upgrade_without_backup: NotRequired[bool]
    """Let an upgrade go ahead when the backup before it fails, with a loud warning."""


class BackupArgs(TypedDict):
    """restic backups of the IM data, on a timer on the IM host."""

    repository: str
    """The restic repository: `s3:`, `sftp:`, `rest:`, `b2:`, `azure:`, `gs:`, `swift:`,
    `rclone:` or an absolute path on another disk; no credentials in it."""
    password: pulumi.Input[str]
    """The repository's password (a secret; keep a copy elsewhere)."""
    env: NotRequired[pulumi.Input[dict[str, str]]]
    """The repository's credentials as environment variables (a secret)."""
    schedule: NotRequired[str]
    """When the backup runs, a systemd OnCalendar expression (default daily)."""
    keep: NotRequired[dict[str, int]]
    """restic's --keep-* rules (default daily 7, weekly 4, monthly 6). Not with
    `backup.append_only`."""
    append_only: NotRequired[bool]
    """The repository is append-only (rest-server --append-only, a bucket that refuses deletes):
    the IM host never forgets or prunes snapshots, and retention is left to the repository's
    owner, from a trusted machine (docs/backups.md). Default false. `backup.keep` is refused with
    it."""
    restore_snapshot: NotRequired[str]
    """Restore the IM data from this snapshot (`latest` or an id), once per value."""
    ssh_key: NotRequired[pulumi.Input[str]]
    """`sftp:` repositories: the SSH private key the IM host's root logs in to the SFTP server
    with (a secret, no passphrase). Not set: root's own SSH setup is used."""
    ssh_host_key: NotRequired[str]
    """`sftp:` repositories: the SFTP server's host key, `TYPE BASE64` (`ssh-keyscan -t ed25519
    HOST`), pinned for restic's logins. Required with `backup.ssh_key`."""


# Each host target's own args, by the name of its field in HostArgs.
HOST_TARGETS: dict[str, type] = {
    "aws": AwsHostArgs,
    "hcloud": HcloudHostArgs,
    "existing": ExistingHostArgs,
}


class ImServerArgs(TypedDict):
    """The inputs of ImServer, in the guide's order: the host, the PBX, SSH, prepare, the IM
    service, backups."""

    host: HostArgs
    """Where the IM server runs (exactly one of aws, hcloud, existing)."""
    pbx: PbxArgs
    """The PBX cluster: pbx01 and the PBX API."""
    ssh: SshArgs
    """The operator's SSH credentials."""
    prepare: NotRequired[PrepareArgs]
    """Guide step 1's options."""
    im: NotRequired[ImServiceArgs]
    """The IM service: storage path, state, restart, token rotation, release."""
    backup: NotRequired[BackupArgs]
    """restic backups of the IM data. Not set: no backups, with a warning at every preview."""
    allow_public_private_network: NotRequired[bool]
    """Accept public addresses as private ones (host private_ip, pbx01_private_ip, virtual_ip),
    for networks that really use public addressing internally."""


# ----- each field's default and rule (inputs.py); every field of the TypedDicts above has an
# entry, `host.*.x` for a host target's field. The docstrings above say the same defaults in words.


def _size(target: str, profile: str) -> str | None:
    return DEFAULT_SIZE.get(profile, DEFAULT_SIZE["large"]).get(target)


def _admin_user(target: str, profile: str) -> str:
    # Who the operator's key logs in as on a fresh VM: the image's default account.
    return {"aws": "ubuntu", "hcloud": "root", "existing": "root"}[target]


def _disk_gb(value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError("must be a whole number of GB")
    return rules.data_disk_gb(value)


_PATH = rules.ordinary_path
INPUTS: dict[str, Input] = {
    "host.*.private_ip": Input(private_address=True),
    "host.*.public_ip": Input(private_address=False),
    "host.*.ssh_public_key": Input(rule=rules.ssh_key),
    "host.*.host_key": Input(rule=rules.host_key),
    "host.*.size": Input(_size, rules.cloud_name, normalize=False),
    "host.*.sizing_profile": Input("large", one_of(*rules.SIZING_PROFILES)),
    "host.*.public_ip_id": Input(rule=rules.public_ip_id, normalize=False),
    "host.*.data_disk_gb": Input(256, _disk_gb),
    "host.*.protect_data": Input(True, boolean),
    "host.*.client_cidrs": Input(lambda target, profile: rules.everyone(), cidr_list(admin=False)),
    "host.*.admin_cidrs": Input([], cidr_list(admin=True)),
    "host.*.admin_user": Input(_admin_user, rules.posix_user, normalize=False),
    "host.*.subnet_id": Input(rule=rules.aws_id("subnet"), plain_only=True),
    "host.*.pbx_security_group_id": Input(rule=rules.aws_id("sg"), plain_only=True),
    "host.*.ami": Input(rule=rules.aws_id("ami"), normalize=False),
    "host.*.data_snapshot_id": Input(rule=matching(r"snap-[0-9a-f]{8,17}", "an EBS snapshot id")),
    "host.*.ebs_snapshot_keep": Input(rule=whole(1, 1000)),
    "host.*.network_id": Input(rule=whole(1), plain_only=True),
    "host.*.location": Input("fsn1", rules.cloud_name, normalize=False),
    "host.*.image": Input("ubuntu-24.04", rules.cloud_name, normalize=False),
    "host.*.data_disk_device": Input(rule=rules.device_path),
    "host.*.allow_undersized": Input(False, boolean),
    "host.*.firewall": Input(False, boolean),
    "pbx.pbx01_host": Input(rule=rules.host_name),
    "pbx.pbx01_host_key": Input(rule=rules.host_key),
    "pbx.password": Input(rule=rules.one_line_secret),
    "pbx.pbx01_private_ip": Input(private_address=True),
    "pbx.user": Input("pbx", rules.pbx_user, normalize=False),
    "pbx.virtual_ip": Input(private_address=True),
    "pbx.guide_dir": Input("/opt/portsip-pbx-ha-guide", _PATH, normalize=False),
    "pbx.api.mode": Input("rest", one_of(*rules.PBX_API_MODES)),
    "pbx.api.url": Input(rule=rules.url),
    "pbx.api.login": Input("auto", one_of(*rules.PBX_API_LOGINS)),
    "pbx.api.login_path": Input(OAUTH_LOGIN_PATH, rules.login_path),
    "pbx.api.tls_verify": Input(True, boolean),
    "pbx.api.ca_certificate": Input(rule=rules.pem_certificates),
    "pbx.api.pinned_public_key": Input(rule=rules.pinned_public_key),
    "pbx.api.allow_insecure_http": Input(False, boolean),
    "pbx.api.admin_user": Input("admin", rules.api_user, normalize=False),
    "pbx.api.admin_password": Input(),
    "pbx.api.im_token": Input(),
    "pbx.api.whitelist_days": Input(3650, whole(1)),
    "pbx.api.whitelist_confirmed": Input(False, boolean),
    "ssh.private_key": Input(),
    "ssh.jump_via_pbx01": Input(True, boolean),
    "ssh.per_dial_timeout": Input(15, whole(1, 600)),
    "prepare.required_os": Input("ubuntu 24.04", rules.os_release, normalize=False),
    "prepare.apply_os_updates": Input(True, boolean),
    "prepare.pbx_sudo_nopasswd": Input(True, boolean),
    "im.storage_path": Input(rule=_PATH),
    "im.state": Input("running", one_of(*rules.IM_STATES)),
    "im.restart_token": Input(rule=rules.label, normalize=False),
    "im.token_rotation": Input(rule=rules.label, normalize=False),
    "im.release": Input(rule=rules.label, normalize=False),
    "im.skip_cluster_check": Input(False, boolean),
    "im.upgrade_without_backup": Input(False, boolean),
    "backup.repository": Input(rule=rules.backup_repository),
    "backup.password": Input(rule=rules.one_line_secret),
    "backup.env": Input(rule=rules.backup_env, normalize=False),
    "backup.schedule": Input("daily", rules.backup_schedule),
    "backup.keep": Input({"daily": 7, "weekly": 4, "monthly": 6}, rules.backup_keep),
    "backup.append_only": Input(False, boolean),
    "backup.restore_snapshot": Input(
        rule=matching(r"latest|[0-9a-f]{8,64}", "`latest` or a restic snapshot id")
    ),
    "backup.ssh_key": Input(rule=rules.ssh_private_key),
    # Any type: OpenSSH checks it, not the command provider (no ssh-rsa limit as on host_key).
    "backup.ssh_host_key": Input(rule=rules.pinned_key),
    "allow_public_private_network": Input(False, boolean),
}
