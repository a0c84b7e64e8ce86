"""This stack's config → ImServerArgs, row by row of table.py, and the component's problems back
in config keys.

Every row with an argument path puts its key's value there (`host.*.x` under the stack's target);
the component then checks what involves several inputs, and `server_from_config` makes it name
them by config key (`portsip-im:size`), also in errors raised later, once an Output is known.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, cast

import pulumi

from portsip_im import ArgsError, naming
from portsip_im.args import HOST_TARGETS, INPUTS, ImServerArgs

from .keys import ConfigError, StackConfig
from .load import Settings
from .parse import UNUSED_WITHOUT_REPOSITORY, parse_config
from .table import BY_KEY, KEYS, NAMESPACE, key_of_path

if TYPE_CHECKING:
    from portsip_im import ImServer

_FIREWALL_ONLY = ("clientCidrs", "adminCidrs")
# A key of another target's host is ignored, as it always was (stack files list every key), and
# said so when it is not the default; these are refused, as they always were: they would mislead.
_REFUSED_ELSEWHERE = (
    "publicIp",
    "dataSnapshotId",
    "ebsSnapshotKeep",
    "allowUndersizedHost",
    "hostFirewall",
)


def config_key(field: str) -> str:
    """The config key an ImServerArgs field path comes from (`host.aws.size[0]` → `size[0]`)."""
    return f"{NAMESPACE}:{naming.name(field, key_of_path)}"


def to_args(s: Settings) -> ImServerArgs:
    """The component's args for this stack's config, one table row at a time."""
    c = s.config
    target = c.target
    args: dict[str, Any] = {"host": {target: {}}}
    filled = {"pbx01Host": s.pbx01_host, "pbxVirtualIp": s.pbx_virtual_ip}
    for row in KEYS:
        if row.path is None:
            continue
        value = s.secrets.get(row.key) if row.secret else c.given(row.key)
        if value is None and row.key in filled:
            value = filled[row.key]
        if value is None:
            continue
        if not row.secret and _is_default(row.path, value, target, c.sizing_profile):
            continue  # a value the component has anyway (Pulumi.yaml declares most of them)
        if row.key in UNUSED_WITHOUT_REPOSITORY and c.given("backupRepository") is None:
            continue
        if row.key in _FIREWALL_ONLY and target == "existing" and not c.given("hostFirewall"):
            # Accepted before hostFirewall existed, when nothing on an existing host read them.
            _unused(row.key, "on target existing without hostFirewall")
            continue
        if row.path.startswith("host.*.") and not _on_target(row.path, target):
            if row.key == "publicIp" and c.given("publicIpId") is not None:
                # As before: beside publicIpId, the reused address's own, it was never read.
                _unused(row.key, f"on target {target} (publicIpId names the address)")
                continue
            if row.key not in _REFUSED_ELSEWHERE:
                _unused(row.key, f"on target {target}")
                continue
        if row.key == "backupEnv":
            value = (
                json.loads(value)
                if isinstance(value, str)
                else value.apply(lambda text: json.loads(text) if text else {})
            )
        _put(args, row.path.replace("host.*.", f"host.{target}."), value)
    return cast(ImServerArgs, args)


def _on_target(path: str, target: str) -> bool:
    return path.split(".")[2] in HOST_TARGETS[target].__annotations__


def _is_default(path: str, value: Any, target: str, profile: str) -> bool:
    default = INPUTS[path].default_for(target, profile)
    if isinstance(value, list) and isinstance(default, list):
        return [str(v) for v in value] == [str(v) for v in default]
    return bool(value == default)


def _unused(key: str, where: str) -> None:
    """A key set to something other than its default, with no effect here: said."""
    pulumi.log.warn(f"{NAMESPACE}:{key} has no effect {where}")


def _put(args: dict[str, Any], path: str, value: Any) -> None:
    *groups, name = path.split(".")
    node = args
    for group in groups:
        node = node.setdefault(group, {})
    node[name] = value


def _lines(exc: ArgsError) -> list[str]:
    """The component's problems by config key; a missing secret says how to set it."""
    out = []
    for field, message in exc.named(key_of_path):
        row = BY_KEY.get(field.split("[")[0])
        if row is not None and row.secret and message.endswith("not set"):
            message += f" (pulumi config set --secret {row.key} ...)"
        out.append(f"{NAMESPACE}:{field}: {message}")
    return out


def check_config(
    raw: dict[str, str], secret_keys: set[str] | frozenset[str] = frozenset()
) -> StackConfig:
    """Everything the program checks before it registers a resource, without running it: each
    key (parse_config), then what involves several inputs (the component's checks, named by config
    key). Where pbxStack fills pbx01Host, those wait for the program, which reads its outputs."""
    from portsip_im.checks import resolve

    config = parse_config(raw, secret_keys)
    if config.pbx_stack and config.given("pbx01Host") is None:
        return config
    settings = Settings(
        config=config,
        secrets={row.key: raw[row.key] for row in KEYS if row.secret and row.key in raw},  # type: ignore[misc]
        pbx01_host=config.pbx01_host,
        pbx_virtual_ip=config.pbx_virtual_ip,
        pbx_public_ip=None,
    )
    try:
        resolve(to_args(settings))
    except ArgsError as exc:
        raise ConfigError("invalid configuration:\n  " + "\n  ".join(_lines(exc))) from None
    return config


def server_from_config(name: str, settings: Settings) -> ImServer:
    """ImServer for this stack, its errors naming config keys (`portsip-im:size`), not fields."""
    from portsip_im import ImServer

    # Also for the errors the component raises later, when an Output's value is known.
    naming.use(key_of_path, heading="configuration", prefix=f"{NAMESPACE}:")
    try:
        return ImServer(name, to_args(settings))
    except ArgsError as exc:
        lines = _lines(exc)
        if len(lines) == 1:
            raise ConfigError(lines[0]) from None
        raise ConfigError("invalid configuration:\n  " + "\n  ".join(lines)) from None
