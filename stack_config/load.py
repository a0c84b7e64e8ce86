"""Read the stack: its config, its secrets as Pulumi secret Outputs, and the PBX stack's outputs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi

from portsip_im.rules import usable_address

from .keys import ConfigError, StackConfig
from .parse import config_keys, parse_config
from .table import KEYS, NAMESPACE

PUBLIC_OPT_OUT = (
    "if this network really uses public addresses internally, set allowPublicPrivateNetwork: true"
)


@dataclass(frozen=True)
class Settings:
    """Checked config plus the secrets (as Pulumi secret Outputs) and the PBX addresses."""

    config: StackConfig
    secrets: dict[str, pulumi.Output[str]]
    """Each secret key that is set → its value, a Pulumi secret."""
    pbx01_host: pulumi.Input[str]
    pbx_virtual_ip: pulumi.Input[str] | None
    pbx_public_ip: pulumi.Input[str] | None

    @property
    def target(self) -> str:
        return str(self.config.target)


def pbx_stack_address(key: str, c: StackConfig, value: Any) -> Any:
    """An address a pbxStack output supplies for `key`, held to the rule its config value meets,
    naming where it came from (None, an output the stack does not have, passes through)."""
    if value is None or value == "":
        return None
    origin = f"{value} from pbxStack {c.pbx_stack}'s output {key}"
    try:
        ip = usable_address(str(value), True, bool(c.allow_public_private_network))
    except ValueError as exc:
        why = "is not an IPv4 address" if "IPv4" in str(exc) else "is not a private address"
        opt_out = "" if "IPv4" in str(exc) else f"; set {key}, or {PUBLIC_OPT_OUT}"
        raise ConfigError(f"{NAMESPACE}:{key}: not set, and {origin} {why}{opt_out}") from None
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
    # An empty value is not set (Pulumi.yaml declares optional keys with an empty default).
    secrets = {
        row.key: cfg.require_secret(row.key)
        for row in KEYS
        if row.secret and raw.get(row.key, "") != ""
    }
    pbx01_host: pulumi.Input[str] | None = config.pbx01_host
    pbx_vip: pulumi.Input[str] | None = config.pbx_virtual_ip
    pbx_public: pulumi.Input[str] | None = config.pbx_public_ip
    if config.pbx_stack:
        ref = pulumi.StackReference(config.pbx_stack)
        pbx01_host = pbx01_host or ref.require_output("pbx01Host")
        if pbx_vip is None:
            # Config values were checked by parse_config; the stack's are known only now.
            pbx_vip = ref.get_output("pbxVirtualIp").apply(
                lambda v: pbx_stack_address("pbxVirtualIp", config, v)
            )
        pbx_public = pbx_public or ref.get_output("pbxPublicIp")
    return Settings(
        config=config,
        secrets=secrets,
        pbx01_host=pbx01_host or "",
        pbx_virtual_ip=pbx_vip,
        pbx_public_ip=pbx_public,
    )
