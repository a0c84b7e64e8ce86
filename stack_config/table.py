"""This program's config keys: one row each, naming the ImServer argument it feeds.

The component's args are the single source of each input's meaning (type, docstring, default,
rule: components/portsip_im/args.py). A row here only says how this program's config reaches it:
the camelCase key an operator types, the argument path, whether it must be a secret, and which
`pbxStack` output fills it when it is not set. From these rows come the config parsing, the
args ImServer is given, the names in every message, and Pulumi.yaml's config block and
docs/configuration.md (scripts/config-reference).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

NAMESPACE = "portsip-im"


@dataclass(frozen=True)
class Key:
    key: str
    """The config key, as the operator types it."""
    path: str | None
    """The ImServer argument it feeds (`host.*.x`: the field of the target's host); None: a key
    of this program alone (its description is `doc`)."""
    secret: bool = False
    """Must be set with `--secret`."""
    pbx_stack: str | None = None
    """The `pbxStack` output that fills it when it is not set."""
    doc: str = ""
    """What this program adds to the argument's docstring (how to set it here), or the whole
    description of a key of this program alone."""


_LIST = (
    "A list: `pulumi config set --path '{key}[0]' 198.51.100.0/24` (Pulumi.yaml declares it an "
    "array)."
)

KEYS: tuple[Key, ...] = (
    Key(
        "target",
        None,
        doc="Where the IM server runs: `aws`, `hcloud` (Hetzner Cloud) or "
        "`existing` (an on-prem server you already have).",
    ),
    Key("privateIp", "host.*.private_ip"),
    Key("publicIp", "host.*.public_ip"),
    Key("publicIpId", "host.*.public_ip_id"),
    Key("sizingProfile", "host.*.sizing_profile"),
    Key("size", "host.*.size"),
    Key("subnetId", "host.*.subnet_id"),
    Key("pbxSecurityGroupId", "host.*.pbx_security_group_id"),
    Key("ami", "host.*.ami"),
    Key("networkId", "host.*.network_id"),
    Key("location", "host.*.location"),
    Key("image", "host.*.image"),
    Key("dataDiskGb", "host.*.data_disk_gb"),
    Key("dataSnapshotId", "host.*.data_snapshot_id"),
    Key("ebsSnapshotKeep", "host.*.ebs_snapshot_keep"),
    Key("dataDiskDevice", "host.*.data_disk_device"),
    Key("storagePath", "im.storage_path"),
    Key("clientCidrs", "host.*.client_cidrs", doc=_LIST.format(key="clientCidrs")),
    Key("adminCidrs", "host.*.admin_cidrs", doc=_LIST.format(key="adminCidrs")),
    Key("hostFirewall", "host.*.firewall"),
    Key("adminUser", "host.*.admin_user"),
    Key("sshPublicKey", "host.*.ssh_public_key"),
    Key("pbx01Host", "pbx.pbx01_host", pbx_stack="pbx01Host"),
    Key("pbx01PrivateIp", "pbx.pbx01_private_ip"),
    Key("pbx01User", "pbx.user"),
    Key("pbxVirtualIp", "pbx.virtual_ip", pbx_stack="pbxVirtualIp"),
    Key(
        "pbxPublicIp",
        None,
        pbx_stack="pbxPublicIp",
        doc="The PBX cluster's static public IP "
        "(from `pbxStack` if unset). Informational: PortSIP's HA im.sh takes no PBX address; "
        "kept for stacks that read this one.",
    ),
    Key(
        "pbxStack",
        None,
        doc="A stack (`org/project/stack`) whose outputs `pbx01Host`, "
        "`pbxVirtualIp`, `pbxPublicIp` fill those keys when they are not set.",
    ),
    Key("protectData", "host.*.protect_data"),
    Key("pbx01HostKey", "pbx.pbx01_host_key"),
    Key("imHostKey", "host.*.host_key"),
    Key("jumpViaPbx01", "ssh.jump_via_pbx01"),
    Key("sshPerDialTimeout", "ssh.per_dial_timeout"),
    Key("requiredOs", "prepare.required_os"),
    Key("allowUndersizedHost", "host.*.allow_undersized"),
    Key("pbxSudoNopasswd", "prepare.pbx_sudo_nopasswd"),
    Key("applyOsUpdates", "prepare.apply_os_updates"),
    Key("guideDir", "pbx.guide_dir"),
    Key("pbxApi", "pbx.api.mode"),
    Key("pbxApiUrl", "pbx.api.url"),
    Key("pbxApiLogin", "pbx.api.login"),
    Key("pbxApiLoginPath", "pbx.api.login_path"),
    Key("pbxApiTlsVerify", "pbx.api.tls_verify"),
    Key(
        "pbxApiCaCertificate",
        "pbx.api.ca_certificate",
        doc='`pulumi config set pbxApiCaCertificate -- "$(cat pbx-ca.pem)"`.',
    ),
    Key("pbxApiPinnedPublicKey", "pbx.api.pinned_public_key"),
    Key("pbxApiAllowInsecureHttp", "pbx.api.allow_insecure_http"),
    Key("pbxAdminUser", "pbx.api.admin_user"),
    Key("whitelistDays", "pbx.api.whitelist_days"),
    Key("whitelistConfirmed", "pbx.api.whitelist_confirmed"),
    Key("imState", "im.state"),
    Key("restartToken", "im.restart_token"),
    Key("imTokenRotation", "im.token_rotation", doc="Set it with `--plaintext`."),
    Key("imRelease", "im.release"),
    Key("skipClusterCheck", "im.skip_cluster_check"),
    Key("backupRepository", "backup.repository"),
    Key("backupSchedule", "backup.schedule"),
    Key("backupKeep", "backup.keep", doc="A JSON object."),
    Key("restoreSnapshot", "backup.restore_snapshot"),
    Key("backupSshHostKey", "backup.ssh_host_key"),
    Key("backupAppendOnly", "backup.append_only"),
    Key("upgradeWithoutBackup", "im.upgrade_without_backup"),
    Key("allowPublicPrivateNetwork", "allow_public_private_network"),
    Key("sshPrivateKey", "ssh.private_key", secret=True),
    Key("pbxPassword", "pbx.password", secret=True),
    Key("pbxAdminPassword", "pbx.api.admin_password", secret=True),
    Key("backupPassword", "backup.password", secret=True),
    Key(
        "backupEnv",
        "backup.env",
        secret=True,
        doc='A JSON object, e.g. `{"AWS_ACCESS_KEY_ID": "…", "AWS_SECRET_ACCESS_KEY": "…"}`.',
    ),
    Key("backupSshKey", "backup.ssh_key", secret=True),
    Key("imToken", "pbx.api.im_token", secret=True),
)

BY_KEY = {k.key: k for k in KEYS}
BY_PATH = {k.path: k for k in KEYS if k.path is not None}


def key_of_path(path: str) -> str | None:
    """The config key of an argument path (`host.aws.size` → `size`); the host group itself is
    `target`, and `host.existing` reads `target existing`."""
    if path == "host":
        return "target"
    target = re.fullmatch(r"host\.(aws|hcloud|existing)", path)
    if target:
        return f"target {target.group(1)}"
    row = BY_PATH.get(re.sub(r"^host\.(aws|hcloud|existing)\.", "host.*.", path))
    return row.key if row else None


def snake(key: str) -> str:
    """`pbx01PrivateIp` → `pbx01_private_ip`: the attribute name of a key (StackConfig)."""
    return re.sub(r"(?<=[a-z0-9])([A-Z])", lambda m: "_" + m.group(1).lower(), key)
