"""This stack's config → ImServerArgs: a plain mapping, key by key, and back for error messages.

The config layer checked every key already (parse.py), so the component's own checks pass; what only
the component can check (the cloud's catalogue, the subnet or network, a reused public IP) comes
back as an ArgsError naming its field, and `server_from_config` names the config key instead.
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any, cast

from portsip_im import ArgsError
from portsip_im.args import (
    AwsHostArgs,
    BackupArgs,
    ExistingHostArgs,
    HcloudHostArgs,
    HostArgs,
    ImServerArgs,
    ImServiceArgs,
    PbxApiArgs,
    PbxArgs,
    PrepareArgs,
    SshArgs,
)

from .keys import NAMESPACE, ConfigError, ImConfig
from .load import Settings

if TYPE_CHECKING:
    from portsip_im import ImServer

# ImServerArgs field → config key, for the messages of checks only the component can make. `*` is
# the host's target (aws, hcloud, existing).
FIELD_KEYS = {
    "host": "target",
    "host.*.private_ip": "privateIp",
    "host.*.public_ip": "publicIp",
    "host.*.public_ip_id": "publicIpId",
    "host.*.size": "size",
    "host.*.sizing_profile": "sizingProfile",
    "host.*.subnet_id": "subnetId",
    "host.*.pbx_security_group_id": "pbxSecurityGroupId",
    "host.*.ami": "ami",
    "host.*.network_id": "networkId",
    "host.*.location": "location",
    "host.*.image": "image",
    "host.*.data_disk_gb": "dataDiskGb",
    "host.*.data_snapshot_id": "dataSnapshotId",
    "host.*.ebs_snapshot_keep": "ebsSnapshotKeep",
    "host.*.data_disk_device": "dataDiskDevice",
    "host.*.protect_data": "protectData",
    "host.*.client_cidrs": "clientCidrs",
    "host.*.admin_cidrs": "adminCidrs",
    "host.*.admin_user": "adminUser",
    "host.*.firewall": "hostFirewall",
    "host.*.ssh_public_key": "sshPublicKey",
    "host.*.host_key": "imHostKey",
    "host.*.allow_undersized": "allowUndersizedHost",
    "pbx.pbx01_host": "pbx01Host",
    "pbx.pbx01_host_key": "pbx01HostKey",
    "pbx.pbx01_private_ip": "pbx01PrivateIp",
    "pbx.password": "pbxPassword",
    "pbx.user": "pbx01User",
    "pbx.virtual_ip": "pbxVirtualIp",
    "pbx.guide_dir": "guideDir",
    "pbx.api.mode": "pbxApi",
    "pbx.api.url": "pbxApiUrl",
    "pbx.api.login": "pbxApiLogin",
    "pbx.api.login_path": "pbxApiLoginPath",
    "pbx.api.tls_verify": "pbxApiTlsVerify",
    "pbx.api.ca_certificate": "pbxApiCaCertificate",
    "pbx.api.pinned_public_key": "pbxApiPinnedPublicKey",
    "pbx.api.allow_insecure_http": "pbxApiAllowInsecureHttp",
    "pbx.api.admin_user": "pbxAdminUser",
    "pbx.api.admin_password": "pbxAdminPassword",
    "pbx.api.im_token": "imToken",
    "pbx.api.whitelist_days": "whitelistDays",
    "pbx.api.whitelist_confirmed": "whitelistConfirmed",
    "ssh.private_key": "sshPrivateKey",
    "ssh.jump_via_pbx01": "jumpViaPbx01",
    "ssh.per_dial_timeout": "sshPerDialTimeout",
    "prepare.required_os": "requiredOs",
    "prepare.apply_os_updates": "applyOsUpdates",
    "prepare.pbx_sudo_nopasswd": "pbxSudoNopasswd",
    "im.storage_path": "storagePath",
    "im.state": "imState",
    "im.restart_token": "restartToken",
    "im.token_rotation": "imTokenRotation",
    "im.release": "imRelease",
    "im.skip_cluster_check": "skipClusterCheck",
    "im.upgrade_without_backup": "upgradeWithoutBackup",
    "backup.repository": "backupRepository",
    "backup.password": "backupPassword",
    "backup.env": "backupEnv",
    "backup.schedule": "backupSchedule",
    "backup.keep": "backupKeep",
    "backup.append_only": "backupAppendOnly",
    "backup.restore_snapshot": "restoreSnapshot",
    "backup.ssh_key": "backupSshKey",
    "backup.ssh_host_key": "backupSshHostKey",
}


def config_key(field: str) -> str:
    """The config key an ImServerArgs field path comes from (`host.aws.size[0]` → `size[0]`)."""
    match = re.fullmatch(r"([a-z_.]+)(\[\d+\])?", field)
    path, index = (match.group(1), match.group(2) or "") if match else (field, "")
    generic = re.sub(r"^host\.(aws|hcloud|existing)\.", "host.*.", path)
    key = FIELD_KEYS.get(generic)
    return f"{NAMESPACE}:{key}{index}" if key else field


def _set(**fields: Any) -> dict[str, Any]:
    """The fields that are set: an unset key leaves the component's default."""
    return {name: value for name, value in fields.items() if value is not None}


def _str(value: object) -> str | None:
    return None if value is None else str(value)


def _firewall(c: ImConfig) -> dict[str, Any]:
    """hostFirewall and the ranges it admits (existing); nothing at all when it is off."""
    if not c.host_firewall:
        return {}
    return {
        "firewall": True,
        "client_cidrs": [str(n) for n in c.client_cidrs],
        "admin_cidrs": [str(n) for n in c.admin_cidrs],
    }


def to_args(s: Settings) -> ImServerArgs:
    """The component's args for this stack's config, key by key."""
    c = s.config
    common: dict[str, Any] = _set(
        private_ip=str(c.private_ip), sizing_profile=c.sizing_profile, admin_user=c.admin_user
    )
    host: HostArgs
    if c.target == "existing":
        host = HostArgs(
            existing=cast(
                ExistingHostArgs,
                _set(
                    **common,
                    public_ip=_str(c.public_ip),
                    host_key=c.im_host_key,
                    data_disk_device=c.data_disk_device,
                    allow_undersized=c.allow_undersized_host,
                    **_firewall(c),
                ),
            )
        )
    else:
        cloud = _set(
            **common,
            ssh_public_key=c.ssh_public_key,
            size=c.size,
            public_ip_id=c.public_ip_id,
            data_disk_gb=c.data_disk_gb,
            protect_data=c.protect_data,
            client_cidrs=[str(n) for n in c.client_cidrs],
            admin_cidrs=[str(n) for n in c.admin_cidrs],
        )
        if c.target == "aws":
            aws = _set(
                subnet_id=c.subnet_id,
                pbx_security_group_id=c.pbx_security_group_id,
                ami=c.ami,
                data_snapshot_id=c.data_snapshot_id,
                ebs_snapshot_keep=c.ebs_snapshot_keep,
            )
            host = HostArgs(aws=AwsHostArgs(**cloud, **aws))  # type: ignore[typeddict-item]
        else:
            hcloud = _set(network_id=c.network_id, location=c.location, image=c.image)
            host = HostArgs(hcloud=HcloudHostArgs(**cloud, **hcloud))  # type: ignore[typeddict-item]

    api = PbxApiArgs(
        **_set(  # type: ignore[typeddict-item]
            mode=c.pbx_api,
            url=c.pbx_api_url,
            login=c.pbx_api_login,
            login_path=c.pbx_api_login_path,
            tls_verify=c.pbx_api_tls_verify,
            ca_certificate=c.pbx_api_ca_certificate,
            pinned_public_key=c.pbx_api_pinned_public_key,
            allow_insecure_http=c.pbx_api_allow_insecure_http or None,
            admin_user=c.pbx_admin_user,
            admin_password=s.pbx_admin_password,
            im_token=s.im_token,
            whitelist_days=c.whitelist_days,
            whitelist_confirmed=c.whitelist_confirmed,
        )
    )
    pbx = PbxArgs(
        pbx01_host=s.pbx01_host,
        pbx01_host_key=c.pbx01_host_key,
        password=s.pbx_password,
        **_set(  # type: ignore[typeddict-item]
            pbx01_private_ip=s.pbx01_private_ip,
            virtual_ip=s.pbx_virtual_ip,
        ),
        user=c.pbx01_user,
        guide_dir=c.guide_dir,
        api=api,
    )
    args = ImServerArgs(
        host=host,
        pbx=pbx,
        ssh=SshArgs(
            private_key=s.ssh_private_key,
            jump_via_pbx01=c.jump_via_pbx01,
            per_dial_timeout=c.ssh_per_dial_timeout,
        ),
        prepare=PrepareArgs(
            required_os=c.required_os,
            apply_os_updates=c.apply_os_updates,
            pbx_sudo_nopasswd=c.pbx_sudo_nopasswd,
        ),
        im=ImServiceArgs(
            **_set(  # type: ignore[typeddict-item]
                storage_path=c.storage_path,
                state=c.im_state,
                restart_token=c.restart_token,
                token_rotation=c.im_token_rotation,
                release=c.im_release,
                skip_cluster_check=c.skip_cluster_check,
                upgrade_without_backup=c.upgrade_without_backup,
            )
        ),
        allow_public_private_network=c.allow_public_private_network,
    )
    if c.backup_repository is not None:
        assert s.backup_password is not None  # required with a repository (secrets.py)
        env = None
        if s.backup_env is not None:
            env = s.backup_env.apply(lambda text: json.loads(text) if text else {})
        args["backup"] = BackupArgs(
            repository=c.backup_repository,
            password=s.backup_password,
            **_set(  # type: ignore[typeddict-item]
                env=env,
                schedule=c.backup_schedule,
                # append-only: no retention from the IM host (backupKeep is refused with it).
                keep=None if c.backup_append_only else dict(c.backup_keep),
                append_only=c.backup_append_only or None,
                restore_snapshot=c.restore_snapshot,
                ssh_key=s.backup_ssh_key,
                ssh_host_key=c.backup_ssh_host_key,
            ),
        )
    return args


def server_from_config(name: str, settings: Settings) -> ImServer:
    """ImServer for this stack, its errors naming config keys (`portsip-im:size`), not fields."""
    from portsip_im import ImServer

    try:
        return ImServer(name, to_args(settings))
    except ArgsError as exc:
        lines = [f"{config_key(field)}: {message}" for field, message in exc.problems]
        if len(lines) == 1:
            raise ConfigError(lines[0]) from None
        raise ConfigError("invalid configuration:\n  " + "\n  ".join(lines)) from None
