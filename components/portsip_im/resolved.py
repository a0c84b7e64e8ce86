"""Resolved: ImServerArgs with every field checked and its default applied (checks.resolve makes
it), in the shape the hosts and steps read."""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass

import pulumi

from .spec import Profile


@dataclass(frozen=True)
class Resolved:
    """The args with defaults applied, in the shape the hosts and steps read."""

    target: str
    profile: Profile
    private_ip: pulumi.Input[str]
    public_ip: pulumi.Input[str] | None
    public_ip_id: str | None
    size: str | None
    subnet_id: pulumi.Input[str] | None
    pbx_security_group_id: pulumi.Input[str] | None
    ami: str | None
    network_id: pulumi.Input[int] | None
    location: str
    image: str
    data_disk_gb: int
    data_snapshot_id: str | None
    ebs_snapshot_keep: int | None
    data_disk_device: str | None
    protect_data: bool
    client_cidrs: list[ipaddress.IPv4Network | ipaddress.IPv6Network]
    admin_cidrs: list[ipaddress.IPv4Network | ipaddress.IPv6Network]
    admin_user: str
    ssh_public_key: pulumi.Input[str] | None
    im_host_key: pulumi.Input[str] | None
    allow_undersized_host: bool
    pbx01_host: pulumi.Input[str]
    pbx01_host_key: pulumi.Input[str]
    pbx01_user: str
    pbx01_source_cidr: pulumi.Input[str]
    guide_dir: str
    pbx_password: pulumi.Input[str]
    pbx_api: str
    pbx_api_url: pulumi.Input[str] | None
    pbx_api_login: str
    pbx_api_login_path: str
    pbx_api_tls_verify: bool
    pbx_api_ca_certificate: pulumi.Input[str] | None
    pbx_api_pinned_public_key: str | None
    pbx_admin_user: str
    pbx_admin_password: pulumi.Input[str] | None
    im_token: pulumi.Input[str] | None
    whitelist_days: int
    whitelist_confirmed: bool
    ssh_private_key: pulumi.Input[str]
    jump_via_pbx01: bool
    ssh_per_dial_timeout: int
    required_os: str
    apply_os_updates: bool
    pbx_sudo_nopasswd: bool
    storage_path: str | None
    im_state: str
    restart_token: str | None
    im_token_rotation: str | None
    im_release: str | None
    skip_cluster_check: bool
    upgrade_without_backup: bool
    backup_repository: str | None
    backup_password: pulumi.Input[str] | None
    backup_env: pulumi.Input[Mapping[str, str]] | None
    backup_schedule: str
    backup_keep: dict[str, int]
    restore_snapshot: str | None
    backup_sftp: tuple[str | None, str, int] | None = None
    """An `sftp:` repository's login (user, host, port), with backup_ssh_key set: the backup-ssh
    step gives root's ssh the key and the pinned host key for that server."""
    backup_ssh_key: pulumi.Input[str] | None = None
    backup_ssh_host_key: pulumi.Input[str] | None = None
    host_firewall: bool = False
    """existing: the firewall step manages the host's own nftables table (hostFirewall)."""
    backup_append_only: bool = False
    """The repository is append-only: the runner never forgets or prunes (backupAppendOnly)."""
