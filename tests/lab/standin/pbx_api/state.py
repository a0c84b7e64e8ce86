"""The state file (/var/lib/portsip-pbx-api/state.json), sessions, the API's errors, and the IP
rules' fields and queries."""

import base64
import datetime
import hashlib
import hmac
import ipaddress
import json
import os
import re
import secrets
import threading
import time

from .config import (
    ADMIN,
    FILTER_FIELDS,
    IM_FIELDS,
    JSON_LOGIN,
    LOGIN_STYLES,
    STATE,
    TOKEN_LIFETIME,
)

LOCK = threading.RLock()


def now() -> float:
    return time.time()


def rfc3339(ts: float) -> str:
    return datetime.datetime.fromtimestamp(ts, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def sha(s: str) -> str:
    return hashlib.sha256(s.encode()).hexdigest()


def new_id() -> str:
    return base64.b64encode(str(secrets.randbelow(9 * 10**17) + 10**17).encode()).decode()


def fresh_state() -> dict:
    return {
        "ip_filters": [],
        "im_token": secrets.token_urlsafe(32),
        "im_token_generation": 1,
        "im": {k: "" for k in IM_FIELDS},
        # sha256(access token) -> {"expires": epoch, "refresh": sha256(refresh token)}
        "sessions": {},
        "login_styles": LOGIN_STYLES,
        "json_login": JSON_LOGIN,
        "requests": [],  # last 500: {ts, method, path, status} -- never bodies or headers
    }


def load() -> dict:
    try:
        with open(STATE) as f:
            return json.load(f)
    except (OSError, ValueError):
        st = fresh_state()
        save(st)
        return st


def save(st: dict) -> None:
    os.makedirs(os.path.dirname(STATE), exist_ok=True)
    tmp = STATE + ".tmp"
    with open(tmp, "w") as f:
        json.dump(st, f, indent=1)
    os.replace(tmp, STATE)


def admin() -> dict:
    with open(ADMIN) as f:
        return json.load(f)


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, problems: list[str] | None = None):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.problems = problems or [message]

    def body(self) -> dict:
        return {"errors": [{"code": self.code, "message": m} for m in self.problems]}


def bad(message: str) -> ApiError:
    return ApiError(400, "INVALID_ARGUMENT", message)


def check_credentials(username: str, password: str) -> bool:
    a = admin()
    return hmac.compare_digest(
        str(username).lower(), a["username"].lower()
    ) and hmac.compare_digest(str(password), a["password"])


def new_session(st: dict) -> dict:
    access, refresh = secrets.token_hex(24).upper(), secrets.token_hex(24).upper()
    cookie = secrets.token_urlsafe(24)
    exp = now() + TOKEN_LIFETIME
    st["sessions"] = {k: v for k, v in st["sessions"].items() if v["expires"] > now()}
    # The access token itself is kept only for GET /login's answer to the session's cookie
    # ("cookie" login); the lab's state file is not a secret store.
    st["sessions"][sha(access)] = {
        "expires": exp,
        "refresh": sha(refresh),
        "cookie": sha(cookie),
        "access": access,
    }
    return {"access_token": access, "refresh_token": refresh, "expires": exp, "cookie": cookie}


def valid_cidr(v) -> str:
    if not isinstance(v, str) or not v:
        raise bad("cidr must be a CIDR string like 192.0.2.25/32")
    try:
        ipaddress.ip_network(v, strict=False)
    except ValueError:
        raise bad(f"invalid cidr {v!r}") from None
    return v


def filter_fields(body: dict, creating: bool) -> dict:
    """An IP rule's fields from a body the document's schema has already accepted (Spec.check);
    what is left to check is what the document says only in words: `cidr` is CIDR notation."""
    out = {k: body[k] for k in ("cidr", "target", "expire_at", "description") if k in body}
    if "cidr" in out:
        valid_cidr(out["cidr"])
    if creating:
        out.setdefault("expire_at", "")
        out.setdefault("description", "")
    return out


def apply_query(items: list, q: dict) -> dict:
    def one(name, default=None):
        v = q.get(name)
        return v[-1] if v else default

    flt = one("filter")
    if flt:
        for clause in re.split(r"\s+and\s+", flt.strip()):
            m = re.fullmatch(r"(\w+)\s+eq\s+'([^']*)'", clause.strip())
            if not m or m.group(1) not in FILTER_FIELDS:
                raise bad(
                    f"unsupported filter {clause!r} (lab stand-in: FIELD eq 'VALUE' [and ...])"
                )
            items = [i for i in items if str(i.get(m.group(1), "")) == m.group(2)]
    search = one("search")
    if search:
        items = [i for i in items if search in i["cidr"] or search in i.get("description", "")]
    orderby = one("orderby")
    if orderby:
        parts = orderby.split()
        if parts[0] not in FILTER_FIELDS:
            raise bad(f"cannot order by {parts[0]!r}")
        items = sorted(
            items,
            key=lambda i: str(i.get(parts[0], "")),
            reverse=len(parts) > 1 and parts[1].lower() == "desc",
        )
    skip, top = int(one("skip", 0)), int(one("top", 100))  # integers in range: Spec.check
    return {"count": len(items), "items": items[skip : skip + top]}
