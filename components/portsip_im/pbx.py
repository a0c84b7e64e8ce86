"""The PBX side of the guide (steps 2 and 3) behind one small interface with two implementations.

Both operations — whitelist an IP (and remove it again), obtain the IM token — run on pbx01 by
`scripts/whitelist.sh` and `scripts/token.sh`:

- `rest`: through PortSIP's PBX REST API (v22), as its OpenAPI document describes it. `API_CALLS`
  below lists every call; `scripts/pbx-api.sh` makes them, logging in as `pbx.api.login` says. The
  admin password reaches pbx01 as a secret on stdin.
- `manual`: for sites that will not hand the program PBX admin credentials. The token is the
  operator's `pbx.api.im_token`; the whitelist is the operator's to add, and the step refuses to
  go on until `pbx.api.whitelist_confirmed` says it is done, telling exactly what to click.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi

from .resolved import Resolved

# PortSIP's REST guide documents this fixed OAuth client id for the password grant.
OAUTH_CLIENT_ID = "9d806019-75b2-4b3d-bb8b-f5a3a412cc0a"
JSON_LOGIN_PATH = "/login"  # the OpenAPI document's login
OAUTH_LOGIN_PATH = "/login/oauth/token"  # the REST guide's; pbx.api.login_path overrides it


@dataclass(frozen=True)
class ApiCall:
    """One PBX REST API call the program can make (paths relative to the base URL `.../api`).

    `documented`: the call is in PortSIP's OpenAPI document (`pbx-rest-api-v22.openapi.json`);
    the OAuth login is documented only in PortSIP's REST guide.
    """

    method: str
    path: str
    step: str
    when: str
    needs: str
    documented: bool = True


_BEARER = "the bearer token from the login"
# Every call `scripts/pbx-api.sh` and the steps make (a unit test checks the scripts against this
# table and the table against the OpenAPI document; docs/configuration.md's table is generated
# from it).
API_CALLS: tuple[ApiCall, ...] = (
    ApiCall(
        "POST",
        JSON_LOGIN_PATH,
        "whitelist, token, deploy, upgrade",
        "first, with `pbx.api.login` `json` or `auto`",
        "JSON `{username, password}`: `pbx.api.admin_user`, `pbx.api.admin_password` (on stdin)",
    ),
    ApiCall(
        "GET",
        JSON_LOGIN_PATH,
        "whitelist, token, deploy, upgrade",
        "after `POST /login` only when its 200 carries no `access_token` (the document gives that "
        "answer no body): the session's login status, which does",
        "the session cookie `POST /login` set (a 0600 cookie jar on pbx01)",
    ),
    ApiCall(
        "POST",
        OAUTH_LOGIN_PATH,
        "whitelist, token, deploy, upgrade",
        "first, with `pbx.api.login` `oauth`, or `auto` when `/login` answers 404/405 "
        "(path: `pbx.api.login_path`)",
        "form `grant_type=password`, `username`, `password`, `scope=all`, `client_id`",
        documented=False,
    ),
    ApiCall(
        "GET",
        "/ip_filters",
        "whitelist, scripts/status",
        "every run: list the IP rules, 100 a page (`top`, `skip`)",
        _BEARER,
    ),
    ApiCall(
        "POST",
        "/ip_filters",
        "whitelist",
        "an IM address has no ACCEPT rule yet",
        "JSON `{cidr, target: ACCEPT, expire_at, description}` (`pbx.api.whitelist_days`); "
        + _BEARER,
    ),
    ApiCall(
        "POST",
        "/ip_filters/{id}/destroy",
        "whitelist",
        "a rule of this stack for an address no longer wanted; every rule of this stack on destroy",
        f"the rule's id; {_BEARER}",
    ),
    ApiCall(
        "GET",
        "/im/token",
        "token",
        "every run: the PBX's current IM token, kept on pbx01",
        _BEARER,
    ),
    ApiCall(
        "POST",
        "/im/token",
        "token, upgrade",
        "the PBX has no IM token; `im.token_rotation` changed; `im.release` changed (after the "
        "cluster check)",
        _BEARER,
    ),
    ApiCall(
        "GET",
        "/im",
        "deploy, scripts/status",
        "after `im.sh run`: the PBX lists the IM server's addresses (polled); status: compared "
        "with the stack's",
        _BEARER,
    ),
)


@dataclass(frozen=True)
class PbxAccess:
    """How the program talks to the PBX: `rest` or `manual`."""

    mode: str
    api_url: pulumi.Input[str] | None
    login: str
    login_path: str
    tls_verify: bool
    admin_user: str
    admin_password: pulumi.Input[str] | None
    im_token: pulumi.Input[str] | None
    whitelist_confirmed: bool
    # How a self-signed PBX is trusted without turning verification off: its CA's PEM (travels on
    # stdin with the secrets: a multi-line value has no place in a command line) or a pin.
    ca_certificate: pulumi.Input[str] | None = None
    pinned_public_key: str | None = None

    @classmethod
    def from_settings(cls, r: Resolved) -> PbxAccess:
        return cls(
            mode=r.pbx_api,
            api_url=r.pbx_api_url,
            login=r.pbx_api_login,
            login_path=r.pbx_api_login_path,
            tls_verify=r.pbx_api_tls_verify,
            admin_user=r.pbx_admin_user,
            admin_password=r.pbx_admin_password,
            im_token=r.im_token,
            whitelist_confirmed=r.whitelist_confirmed,
            ca_certificate=r.pbx_api_ca_certificate,
            pinned_public_key=r.pbx_api_pinned_public_key,
        )

    @property
    def rest(self) -> bool:
        return self.mode == "rest"

    def params(self) -> dict[str, pulumi.Input[str]]:
        """Plain parameters of every step that calls the API (scripts/pbx-api.sh reads them)."""
        out: dict[str, pulumi.Input[str]] = {"MODE": self.mode}
        if self.rest:
            assert self.api_url is not None  # checked by checks.resolve
            out.update(
                PBX_API_URL=self.api_url,
                PBX_LOGIN=self.login,
                PBX_JSON_LOGIN_PATH=JSON_LOGIN_PATH,
                PBX_LOGIN_PATH=self.login_path,
                PBX_CLIENT_ID=OAUTH_CLIENT_ID,
                PBX_TLS_VERIFY="1" if self.tls_verify else "0",
                PBX_ADMIN_USER=self.admin_user,
            )
            if self.pinned_public_key:  # only when set: a stack without it sends what it sent
                out["PBX_PINNED_PUBKEY"] = self.pinned_public_key
        return out

    def api_secrets(self) -> dict[str, pulumi.Input[str]]:
        """The admin password, for steps that log in, and the CA certificate when one is given
        (rest only)."""
        out: dict[str, pulumi.Input[str]] = {}
        if self.rest and self.admin_password is not None:
            out["PBX_ADMIN_PASSWORD"] = self.admin_password
        if self.rest and self.ca_certificate is not None:
            out["PBX_CA_CERT"] = self.ca_certificate
        return out

    def token_secrets(self) -> dict[str, pulumi.Input[str]]:
        """What the token step needs: the admin password (rest) or the operator's token (manual)."""
        if self.rest:
            return self.api_secrets()
        assert self.im_token is not None  # checked by checks.resolve
        return {"IM_TOKEN": self.im_token}
