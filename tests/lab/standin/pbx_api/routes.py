"""What each operation does, once the document has accepted the request (pbx_api.spec)."""

import ipaddress
import re
import secrets
import urllib.parse

from .config import CLIENT_ID, IM_FIELDS, SESSION_COOKIE, TLS_DIR, TOKEN_LIFETIME
from .state import (
    ApiError,
    apply_query,
    bad,
    check_credentials,
    filter_fields,
    new_id,
    new_session,
    now,
    rfc3339,
    sha,
)


class Routes:
    """Handler's routes: the public /api ones and the internal ones (pbx_api.handler)."""

    def route(self, method, path, query, st):
        if self.internal:
            return self.route_internal(method, path, st)
        if not path.startswith("/api/") and path != "/api":
            raise ApiError(404, "NOT_FOUND", f"no such path {path}")
        p = path[len("/api") :]
        if p == "/login/oauth/token" and method == "POST":
            return self.oauth(st)
        if p == "/login" and method == "POST":
            b = self.json_body()
            if not check_credentials(b.get("username", ""), b.get("password", "")):
                raise ApiError(401, "UNAUTHORIZED", "invalid username or password")
            s = new_session(st)
            secure = "" if TLS_DIR == "off" else "; Secure"  # curl drops Secure cookies on http
            self.set_cookie = f"{SESSION_COOKIE}={s['cookie']}; Path=/api; HttpOnly{secure}"
            if st.get("json_login", "body") == "cookie":
                return 200, None  # the document: 200, no body
            return 200, {
                "access_token": s["access_token"],
                "expires_at": rfc3339(s["expires"]),
                "expires_in": TOKEN_LIFETIME,
                "role": "SystemAdmin",
            }
        if p == "/logout" and method == "POST":
            h = self.headers.get("Authorization", "")
            st["sessions"].pop(sha(h[7:].strip()), None)
            return 204, None
        if p == "/login" and method == "GET":
            s = self.session(st)
            return 200, {
                "access_token": s["access"],
                "expires_at": rfc3339(s["expires"]),
                "expires_in": int(s["expires"] - now()),
                "role": "SystemAdmin",
            }
        self.bearer(st)
        if p == "/ip_filters":
            if method == "GET":
                return 200, apply_query(list(st["ip_filters"]), query)
            if method == "POST":
                item = {"id": new_id(), **filter_fields(self.json_body(), creating=True)}
                st["ip_filters"].append(item)
                return 200, {"id": item["id"]}
        m = re.fullmatch(r"/ip_filters/([^/]+)(/destroy)?", p)
        if m:
            fid, destroy = urllib.parse.unquote(m.group(1)), m.group(2)
            found = [i for i in st["ip_filters"] if i["id"] == fid]
            if destroy and method == "POST":
                if not found:
                    raise bad(f"invalid rule ID {fid!r}")
                st["ip_filters"] = [i for i in st["ip_filters"] if i["id"] != fid]
                return 204, None
            if not destroy and method in ("GET", "POST"):
                if not found:
                    raise ApiError(404, "NOT_FOUND", f"no IP rule with id {fid!r}")
                if method == "POST":
                    found[0].update(filter_fields(self.json_body(), creating=False))
                    return 200, None
                return 200, found[0]
        if p == "/im/token":
            if method == "GET":
                if not st["im_token"] and st.get("no_token_answer") == "200":
                    return 200, {}  # the document's `token` is optional
                if not st["im_token"]:
                    raise ApiError(404, "NOT_FOUND", "no IM server token; generate one")
                return 200, {"token": st["im_token"]}
            if method == "POST":
                st["im_token"] = secrets.token_urlsafe(32)
                st["im_token_generation"] += 1
                return 200, {"token": st["im_token"]}
        if p == "/im/token/destroy" and method == "POST":
            st["im_token"] = None
            return 204, None
        if p == "/im":
            if method == "GET":
                return 200, dict(st["im"])
            if method == "POST":
                self.update_im(st, self.json_body())
                return 200, None
        if p in (
            "/ip_filters",
            "/im/token",
            "/im",
            "/im/token/destroy",
            "/login",
            "/logout",
            "/login/oauth/token",
        ):
            raise ApiError(405, "METHOD_NOT_ALLOWED", f"{method} not allowed on {path}")
        raise ApiError(404, "NOT_FOUND", f"no such path {path}")

    def oauth(self, st):
        ctype = self.headers.get("Content-Type", "")
        if not ctype.startswith("application/x-www-form-urlencoded"):
            raise bad(
                "the token endpoint takes a form-encoded body (application/x-www-form-urlencoded)"
            )
        form = {k: v[-1] for k, v in urllib.parse.parse_qs(self.body_bytes().decode()).items()}
        if form.get("client_id") != CLIENT_ID:
            raise ApiError(400, "UNAUTHORIZED", "invalid client_id")
        grant = form.get("grant_type")
        if grant == "password":
            if form.get("scope", "all") != "all":
                raise bad("scope must be all")
            if not check_credentials(form.get("username", ""), form.get("password", "")):
                raise ApiError(400, "UNAUTHORIZED", "invalid username or password")
        elif grant == "refresh_token":
            r = sha(form.get("refresh_token", ""))
            old = [k for k, v in st["sessions"].items() if v["refresh"] == r]
            if not old:
                raise ApiError(400, "UNAUTHORIZED", "invalid refresh token")
            for k in old:
                del st["sessions"][k]
        else:
            raise bad("grant_type must be password or refresh_token")
        s = new_session(st)
        return 200, {
            "access_token": s["access_token"],
            "expires_in": TOKEN_LIFETIME,
            "refresh_token": s["refresh_token"],
            "token_type": "Bearer",
        }

    @staticmethod
    def update_im(st, body):
        if not isinstance(body, dict) or set(body) - set(IM_FIELDS):
            raise bad(f"fields are {', '.join(IM_FIELDS)}")
        for k, v in body.items():
            if v:
                try:
                    ip = ipaddress.ip_address(v)
                except ValueError:
                    raise bad(f"{k}: invalid IP address {v!r}") from None
                if ip.version != int(k[-1]):
                    raise bad(f"{k}: not an IPv{k[-1]} address")
            st["im"][k] = v or ""

    def route_internal(self, method, path, st):
        if path == "/internal/im/token_sha256" and method == "GET":
            return 200, {"sha256": sha(st["im_token"]) if st["im_token"] else None}
        if path == "/internal/im" and method == "POST":
            self.update_im(st, self.json_body())
            return 200, {}
        raise ApiError(404, "NOT_FOUND", f"no such path {path}")
