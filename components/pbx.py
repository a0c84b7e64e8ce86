"""The PBX side of the guide (steps 2 and 3) behind one small interface with two implementations.

Both operations — whitelist an IP (and remove it again), obtain the IM token — run on pbx01 by
`scripts/whitelist.sh` and `scripts/token.sh`:

- `rest`: through PortSIP's PBX REST API (v22). Endpoint paths and auth live here and in
  `scripts/pbx-api.sh`; the admin password reaches pbx01 as a secret on stdin.
- `manual`: for sites that will not hand the program PBX admin credentials. The token is the
  operator's `imToken`; the whitelist is the operator's to add, and the step refuses to go on
  until `whitelistConfirmed` says it is done, telling exactly what to click.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi

from .settings import Settings

# PortSIP documents this fixed OAuth client id for the password grant.
OAUTH_CLIENT_ID = "9d806019-75b2-4b3d-bb8b-f5a3a412cc0a"
LOGIN_PATH = "/login/oauth/token"
IP_FILTERS_PATH = "/ip_filters"
IM_TOKEN_PATH = "/im/token"
IM_RECORD_PATH = "/im"


@dataclass(frozen=True)
class PbxAccess:
    """How the program talks to the PBX: `rest` or `manual`."""

    mode: str
    api_url: pulumi.Input[str] | None
    login_path: str
    tls_verify: bool
    admin_user: str
    admin_password: pulumi.Output[str] | None
    im_token: pulumi.Output[str] | None
    whitelist_confirmed: bool

    @classmethod
    def from_settings(cls, settings: Settings) -> PbxAccess:
        c = settings.config
        return cls(
            mode=c.pbx_api,
            api_url=settings.pbx_api_url,
            login_path=c.pbx_api_login_path,
            tls_verify=c.pbx_api_tls_verify,
            admin_user=c.pbx_admin_user,
            admin_password=settings.pbx_admin_password,
            im_token=settings.im_token,
            whitelist_confirmed=c.whitelist_confirmed,
        )

    @property
    def rest(self) -> bool:
        return self.mode == "rest"

    def params(self) -> dict[str, pulumi.Input[str]]:
        """Plain parameters of every step that calls the API (scripts/pbx-api.sh reads them)."""
        out: dict[str, pulumi.Input[str]] = {"MODE": self.mode}
        if self.rest:
            assert self.api_url is not None  # enforced by the settings' cross checks
            out.update(
                PBX_API_URL=self.api_url,
                PBX_LOGIN_PATH=self.login_path,
                PBX_CLIENT_ID=OAUTH_CLIENT_ID,
                PBX_TLS_VERIFY="1" if self.tls_verify else "0",
                PBX_ADMIN_USER=self.admin_user,
            )
        return out

    def api_secrets(self) -> dict[str, pulumi.Input[str]]:
        """The admin password, for steps that log in (rest only)."""
        if self.rest and self.admin_password is not None:
            return {"PBX_ADMIN_PASSWORD": self.admin_password}
        return {}

    def token_secrets(self) -> dict[str, pulumi.Input[str]]:
        """What the token step needs: the admin password (rest) or the operator's token (manual)."""
        if self.rest:
            return self.api_secrets()
        assert self.im_token is not None  # enforced by the settings' secret checks
        return {"IM_TOKEN": self.im_token}
