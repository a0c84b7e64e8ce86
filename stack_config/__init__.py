"""This program's config: the `portsip-im:*` keys (table.py), their secrets and `pbxStack`, read
into ImServerArgs. The only reader of `pulumi.Config`; the component (portsip_im) reads none."""

from .args import check_config, config_key, server_from_config, to_args
from .keys import NAMESPACE, ConfigError, StackConfig
from .load import Settings, load_settings, pbx_stack_address
from .parse import config_keys, key_of, parse_config
from .secrets import SECRETS, SecretSpec
from .table import KEYS, Key, key_of_path

__all__ = [
    "KEYS",
    "NAMESPACE",
    "SECRETS",
    "ConfigError",
    "Key",
    "SecretSpec",
    "Settings",
    "StackConfig",
    "check_config",
    "config_key",
    "config_keys",
    "key_of",
    "key_of_path",
    "load_settings",
    "parse_config",
    "pbx_stack_address",
    "server_from_config",
    "to_args",
]
