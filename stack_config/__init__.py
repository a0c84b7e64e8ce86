"""This program's config: the `portsip-im:*` keys, their secrets and `pbxStack`, read into
ImServerArgs. The only reader of `pulumi.Config`; the component (portsip_im) reads none."""

from .args import config_key, server_from_config, to_args
from .keys import NAMESPACE, ConfigError, ImConfig
from .load import Settings, load_settings, pbx_stack_address
from .parse import config_keys, key_of, parse_config
from .secrets import SECRETS, SecretSpec

__all__ = [
    "NAMESPACE",
    "SECRETS",
    "ConfigError",
    "ImConfig",
    "SecretSpec",
    "Settings",
    "config_key",
    "config_keys",
    "key_of",
    "load_settings",
    "parse_config",
    "pbx_stack_address",
    "server_from_config",
    "to_args",
]
