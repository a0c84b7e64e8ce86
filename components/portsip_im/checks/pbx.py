"""pbx and pbx.api: node pbx01, its user, the address SSH comes from, and the PBX API."""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from typing import Any

import pulumi

from .. import rules
from .core import ArgsError, Fields, secret


def pbx_fields(f: Fields, target: str, host: Mapping[str, Any]) -> dict[str, Any]:
    """pbx: node pbx01 (where im.sh runs), its user and the address SSH comes from."""
    for name in ("pbx01_host", "pbx01_host_key", "password"):
        f.need(f"pbx.{name}")
    user = f("pbx.user")
    admin_user = host["admin_user"]
    if user == admin_user and admin_user not in rules.RESERVED_USERS:
        f.ck.fail(
            "pbx.user",
            f"{admin_user!r} is the IM host's admin user (`host.{target}.admin_user`), the "
            "program's own login: prepare would set its password to the PBX nodes' and change its "
            "sudo",
        )
    pbx01_host = f("pbx.pbx01_host")
    walled = target != "existing" or host["host_firewall"]
    return {
        "pbx01_host": pbx01_host or "",
        "pbx01_host_key": f("pbx.pbx01_host_key"),
        "pbx01_user": user,
        "pbx01_source_cidr": source_cidr(f, f("pbx.pbx01_private_ip"), pbx01_host, bool(walled)),
        "guide_dir": f("pbx.guide_dir"),
        "pbx_password": secret(f("pbx.password")) or "",
        "virtual_ip": f("pbx.virtual_ip"),
    }


def api_fields(f: Fields, virtual_ip: Any) -> dict[str, Any]:
    """pbx.api: how the whitelist and the IM token are done."""
    mode = f("pbx.api.mode")
    api_url = f("pbx.api.url")
    if isinstance(api_url, str):
        api_url = api_url.rstrip("/")
    elif isinstance(api_url, pulumi.Output):
        api_url = api_url.apply(lambda u: u.rstrip("/") if isinstance(u, str) else u)
    elif virtual_ip is not None:
        api_url = pulumi.Output.from_input(virtual_ip).apply(lambda vip: f"https://{vip}:8887/api")
    if f("pbx.api.allow_insecure_http") is not True and api_url is not None:
        api_url = f.ck.check("pbx.api.url", api_url, https_only)
    if mode == "rest":
        if api_url is None:
            f.ck.fail(
                "pbx.api.url",
                "required when `pbx.api.mode` is rest and `pbx.virtual_ip` is not set",
            )
        f.need("pbx.api.admin_password", "`pbx.api.mode` is rest")
    else:
        f.need("pbx.api.im_token", "`pbx.api.mode` is manual")
    return {
        "pbx_api": mode,
        "pbx_api_url": api_url if mode == "rest" else None,
        "pbx_api_login": f("pbx.api.login"),
        "pbx_api_login_path": f("pbx.api.login_path"),
        "pbx_api_tls_verify": f("pbx.api.tls_verify"),
        "pbx_api_ca_certificate": f("pbx.api.ca_certificate"),
        "pbx_api_pinned_public_key": f("pbx.api.pinned_public_key"),
        "pbx_admin_user": f("pbx.api.admin_user"),
        "pbx_admin_password": secret(f.given("pbx.api.admin_password")) if mode == "rest" else None,
        "im_token": secret(f.given("pbx.api.im_token")) if mode == "manual" else None,
        "whitelist_days": f("pbx.api.whitelist_days"),
        "whitelist_confirmed": f("pbx.api.whitelist_confirmed"),
    }


def https_only(value: str) -> None:
    if str(value).startswith("http://"):
        raise ValueError(rules.PLAIN_HTTP + " (`pbx.api.allow_insecure_http`)")


def source_cidr(f: Fields, private_ip: Any, host: Any, walled: bool) -> pulumi.Input[str]:
    """Where SSH to the IM host comes from: pbx01's private address, as a /32. `walled`: a
    firewall of this program's opens SSH to it (a cloud's, or host.existing.firewall), so it must
    be known."""
    if private_ip is not None:
        if isinstance(private_ip, pulumi.Output):
            return private_ip.apply(lambda ip: f"{ip}/32")
        return f"{private_ip}/32"

    def from_host(value: Any) -> str:
        try:
            ip = ipaddress.IPv4Address(str(value))
        except ValueError:
            raise ValueError(
                f"required when `pbx.pbx01_host` ({value!r}) is not an IPv4 address: set it to "
                "pbx01's private IP (the source of SSH to the IM server, which its firewall "
                "admits)"
            ) from None
        if not f.allow_public and not rules.is_private_address(ip):
            raise ValueError(
                f"not set, and `pbx.pbx01_host` ({ip}), its default, is not a private address "
                f"({rules.PRIVATE_TEXT}); set it to pbx01's private IP (the source of SSH to the "
                "IM server), or, if this network really uses public addresses internally, set "
                "`allow_public_private_network`: true"
            )
        return f"{ip}/32"

    if not walled:
        return ""  # no firewall of this program's to open on this existing host
    if isinstance(host, pulumi.Output):

        def later(known: Any) -> str:
            try:
                return from_host(known)
            except ValueError as exc:
                raise ArgsError([("pbx.pbx01_private_ip", str(exc))]) from None

        return host.apply(later)
    try:
        return from_host(host)
    except ValueError as exc:
        f.ck.fail("pbx.pbx01_private_ip", str(exc))
        return ""
