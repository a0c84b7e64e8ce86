"""Read the stack: its config, its secrets as Pulumi secret Outputs, and the PBX stack's outputs."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Any

import pulumi

from portsip_im.rules import PRIVATE_TEXT, is_private_address

from .keys import NAMESPACE, ConfigError, ImConfig
from .parse import PUBLIC_OPT_OUT, config_keys, parse_config


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
    backup_ssh_key: pulumi.Output[str] | None
    pbx01_host: pulumi.Input[str]
    pbx_virtual_ip: pulumi.Input[str] | None
    pbx_public_ip: pulumi.Input[str] | None

    @property
    def target(self) -> str:
        return self.config.target

    @property
    def pbx01_private_ip(self) -> pulumi.Input[str] | None:
        """pbx01's private IP: the key, or on aws/hcloud pbx01Host (from pbxStack too) checked to
        be one, as the SSH rule's source must be."""
        c = self.config
        if c.pbx01_private_ip is not None:
            return str(c.pbx01_private_ip)
        if c.target == "existing":
            return None
        origin = "pbx01Host" if c.pbx01_host else f"pbx01Host from pbxStack {c.pbx_stack}"
        return pulumi.Output.from_input(self.pbx01_host).apply(
            lambda host: _host_cidr(host, origin, c.allow_public_private_network).removesuffix(
                "/32"
            )
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
            f"private address ({PRIVATE_TEXT}); set pbx01PrivateIp to pbx01's private IP (the "
            f"source of SSH to the IM server), or {PUBLIC_OPT_OUT}"
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
            f"({PRIVATE_TEXT}); set {key}, or {PUBLIC_OPT_OUT}"
        )
    return str(ip)


def load_settings() -> Settings:
    """Read the stack's config (and the PBX stack's outputs, when `pbxStack` is set)."""
    from pulumi.runtime.config import CONFIG, get_config, get_config_env, is_config_secret

    # Every key of the namespace, known or not: a misspelled one must not pass silently.
    given = {
        k.split(":", 1)[1]
        for k in {**get_config_env(), **CONFIG.get()}
        if k.startswith(f"{NAMESPACE}:")
    }
    raw: dict[str, str] = {}
    for key in sorted(given | set(config_keys())):
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
    backup_ssh_key = cfg.get_secret("backupSshKey") if config.backup_ssh_host_key else None

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
        backup_ssh_key=backup_ssh_key,
        pbx01_host=pbx01_host,
        pbx_virtual_ip=pbx_vip,
        pbx_public_ip=pbx_public,
    )


def _str(value: object) -> str | None:
    return None if value is None else str(value)
