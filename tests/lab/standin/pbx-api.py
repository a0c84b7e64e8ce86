#!/usr/bin/python3
"""Stand-in for the PortSIP PBX v22 REST API -- only what the portsip-im project uses.

Written for the portsip-im lab from ../shared/portsip/FACTS.md and PortSIP's published OpenAPI 3.1
document (pbx-rest-api-v22.openapi.json); not PortSIP code. Runs on the lab's pbx01 as
portsip-pbx-api.service, with python3's standard library and the jsonschema library (Debian's
python3-jsonschema).

The document is the judge. It is loaded at start (/etc/portsip-pbx-api/openapi.json), and every
request to /api is checked against it before anything else: a path the document does not have ->
404, a method it does not have there -> 405, a missing or invalid bearer token where the operation
needs one -> 401, query parameters and JSON bodies against the operation's schemas, validated by
jsonschema (JSON Schema 2020-12, as OpenAPI 3.1 says; the document's `date_time` format is RFC
3339) -> 400; every refusal is a 4XX with an `errors` list. Beyond the schemas, only what the
document says in words is refused: a `cidr` that is no CIDR, an IM address of the wrong family.
Served (HTTPS on 0.0.0.0:8887, base path /api):
  POST /api/login               the document's login: JSON {username, password}; GET /api/login,
                                POST /api/logout
  GET|POST /api/ip_filters, GET|POST /api/ip_filters/{id}, POST /api/ip_filters/{id}/destroy
  GET|POST /api/im/token, POST /api/im/token/destroy, GET|POST /api/im
  POST /api/login/oauth/token   NOT in the OpenAPI document: the OAuth password grant documented
                                elsewhere, in PortSIP's REST guide (FACTS.md), served as that guide
                                describes it -- form: grant_type=password|refresh_token, username,
                                password, scope=all, client_id=<PortSIP's fixed id>
Which login styles are served is the state's `login_styles` (default ["json", "oauth"]); a style
left out answers 404 like a PBX without it (tests use ["oauth"] for an older PBX, ["json"] for a
PBX exactly as the document describes it). With no IM token, `GET /im/token` answers 404, or 200
with `{}` when the state's `no_token_answer` is "200". How `POST /login` answers is the state's
`json_login`: "body" (default: 200 with {access_token, expires_at, expires_in, role}) or
"cookie" (exactly as the document says: an empty 200 that sets a session cookie; `GET /login`, the
session's login status, then returns the access_token for that cookie, and 401 without one).

Every /api request and its answer is appended to the traffic file
(/var/lib/portsip-pbx-api/traffic.jsonl), with secrets (passwords, tokens) replaced by
"[redacted]", so the tests can validate each pair against the document with openapi-core.

Plain HTTP on 127.0.0.1:8886 (local to pbx01 only, no auth) -- what the stand-in im.sh uses:
  GET /internal/im/token_sha256 -> {"sha256": ...|null};  POST /internal/im  (as POST /api/im)

State: /var/lib/portsip-pbx-api/state.json (tests read it). Admin: /etc/portsip-pbx-api/admin.json.
Environment overrides (tests run it locally too): PBX_API_STATE, PBX_API_ADMIN, PBX_API_TLS (a
directory, or "off" for plain HTTP), PBX_API_PORT, PBX_API_INTERNAL_PORT, PBX_API_OPENAPI,
PBX_API_TRAFFIC, PBX_API_BIND, PBX_API_LOGIN_STYLES, PBX_API_JSON_LOGIN.
"""

import base64
import datetime
import hashlib
import hmac
import ipaddress
import json
import os
import re
import secrets
import ssl
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import jsonschema  # Debian's python3-jsonschema in the lab (scripts/lab INCLUDE)

STATE = os.environ.get("PBX_API_STATE", "/var/lib/portsip-pbx-api/state.json")
ADMIN = os.environ.get("PBX_API_ADMIN", "/etc/portsip-pbx-api/admin.json")
TLS_DIR = os.environ.get("PBX_API_TLS", "/etc/portsip-pbx-api")
PORT = int(os.environ.get("PBX_API_PORT", "8887"))
BIND = os.environ.get("PBX_API_BIND", "0.0.0.0")
OPENAPI = os.environ.get("PBX_API_OPENAPI", "/etc/portsip-pbx-api/openapi.json")
TRAFFIC = os.environ.get("PBX_API_TRAFFIC", "/var/lib/portsip-pbx-api/traffic.jsonl")
OAUTH_PATH = "/login/oauth/token"  # relative to /api; the REST guide's, not in the document
SECRET_FIELDS = {"password", "access_token", "refresh_token", "token"}
LOGIN_STYLES = os.environ.get("PBX_API_LOGIN_STYLES", "json,oauth").split(",")
JSON_LOGIN = os.environ.get("PBX_API_JSON_LOGIN", "body")
SESSION_COOKIE = "portsip_session"
INTERNAL_PORT = int(os.environ.get("PBX_API_INTERNAL_PORT", "8886"))
CLIENT_ID = "9d806019-75b2-4b3d-bb8b-f5a3a412cc0a"
TOKEN_LIFETIME = 1800
IM_FIELDS = ("private_ipv4", "private_ipv6", "public_ipv4", "public_ipv6")
FILTER_FIELDS = ("id", "cidr", "target", "expire_at", "description")

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


# ---------------------------------------------------------------- the document as the judge


def rfc3339_time(value) -> bool:
    """The document's `date_time` format (RFC 3339, section 5.6): JSON Schema has no such name."""
    if not isinstance(value, str):
        return True  # a format says nothing about other types
    if not RFC3339.fullmatch(value):
        return False
    try:
        datetime.datetime.fromisoformat(re.sub(r"[Zz]$", "+00:00", value))
    except ValueError:
        return False
    return True


RFC3339 = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?([Zz]|[+-]\d\d:\d\d)")
FORMATS = jsonschema.FormatChecker()
FORMATS.checks("date_time")(rfc3339_time)
FORMATS.checks("date-time")(rfc3339_time)


class Spec:
    """The OpenAPI document: operation lookup; schemas are checked by the jsonschema library
    (OpenAPI 3.1 schemas are JSON Schema 2020-12)."""

    def __init__(self, doc: dict):
        self.doc = doc
        self.security = doc.get("security", [])
        self.paths = []  # (regex, template, path item), literal paths before templated ones
        for template, item in doc.get("paths", {}).items():
            rx = re.sub(r"\\{[^/]+?\\}", "([^/]+)", re.escape(template))
            self.paths.append((re.compile(rx + "$"), template, item))
        self.paths.sort(key=lambda t: t[1].count("{"))

    def resolve(self, node):
        """A parameter or request body object behind a `$ref` (schemas' own refs: jsonschema)."""
        while isinstance(node, dict) and "$ref" in node:
            ref = node["$ref"]
            assert ref.startswith("#/"), ref
            node = self.doc
            for part in ref[2:].split("/"):
                node = node[part.replace("~1", "/").replace("~0", "~")]
        return node

    def find(self, path: str):
        """(template, path item, path parameter values) or None."""
        for rx, template, item in self.paths:
            m = rx.match(path)
            if m:
                names = re.findall(r"\{([^/]+?)\}", template)
                return template, item, dict(zip(names, m.groups(), strict=True))
        return None

    def check(self, value, schema, where: str) -> list[str]:
        """Every way `value` breaks `schema`, one message each, prefixed with where it is."""
        schema = self.resolve(schema)
        if not isinstance(schema, dict):
            return []
        # The document's components ride along so that a schema's "#/components/..." resolves.
        root = {**schema, "components": self.doc.get("components", {})}
        validator = jsonschema.Draft202012Validator(root, format_checker=FORMATS)
        out = []
        for err in validator.iter_errors(value):
            at = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in err.absolute_path)
            out.append(f"{where}{at}: {err.message}")
        return out

    @staticmethod
    def coerce(raw: str, schema: dict):
        """A query/path parameter's string as its schema's type (unchanged if it is no number)."""
        t = schema.get("type")
        try:
            if t == "integer":
                return int(raw)
            if t == "number":
                return float(raw)
        except ValueError:
            return raw
        if t == "boolean" and raw in ("true", "false"):
            return raw == "true"
        return raw


def load_spec() -> Spec:
    with open(OPENAPI) as f:
        return Spec(json.load(f))


def redacted(value):
    """A copy of a JSON value with every secret field's value replaced by "[redacted]"."""
    if isinstance(value, dict):
        return {
            k: "[redacted]" if k in SECRET_FIELDS and isinstance(v, str) else redacted(v)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [redacted(v) for v in value]
    return value


def record(entry: dict) -> None:
    os.makedirs(os.path.dirname(TRAFFIC), exist_ok=True)
    with open(TRAFFIC, "a") as f:
        f.write(json.dumps(entry) + "\n")


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "PortSIP-PBX-lab-standin"
    internal = False

    def log_message(self, fmt, *args):  # method, path, status only
        pass

    # -- plumbing
    def send(self, status: int, body=None) -> None:
        data = b"" if body is None else json.dumps(body).encode()
        self.send_response(status)
        if self.set_cookie:
            self.send_header("Set-Cookie", self.set_cookie)
        if body is not None:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def body_bytes(self) -> bytes:
        return self._body

    def json_body(self) -> dict:
        raw = self.body_bytes()
        if not raw.strip():
            return {}
        try:
            return json.loads(raw)
        except ValueError:
            raise bad("body is not valid JSON") from None

    def bearer(self, st: dict) -> None:
        h = self.headers.get("Authorization", "")
        if not h.startswith("Bearer "):
            raise ApiError(401, "UNAUTHORIZED", "missing bearer access token")
        s = st["sessions"].get(sha(h[7:].strip()))
        if not s or s["expires"] < now():
            raise ApiError(401, "UNAUTHORIZED", "invalid or expired access token")

    def session(self, st: dict) -> dict:
        """The caller's session: by its session cookie, else by its bearer token; 401 without."""
        jar = self.headers.get("Cookie", "")
        cookies = dict(c.strip().split("=", 1) for c in jar.split(";") if "=" in c)
        if SESSION_COOKIE in cookies:
            want = sha(cookies[SESSION_COOKIE])
            for s in st["sessions"].values():
                if s.get("cookie") == want and s["expires"] >= now():
                    return s
            raise ApiError(401, "UNAUTHORIZED", "invalid or expired session")
        self.bearer(st)
        return st["sessions"][sha(self.headers["Authorization"][7:].strip())]

    def handle_any(self, method: str) -> None:
        self.set_cookie = None
        url = urllib.parse.urlsplit(self.path)
        path = url.path.rstrip("/") or "/"
        query = urllib.parse.parse_qs(url.query, keep_blank_values=True)
        n = int(self.headers.get("Content-Length") or 0)
        self._body = (
            self.rfile.read(n) if n > 0 else b""
        )  # always consumed: keep-alive stays in sync
        documented = True
        with LOCK:
            st = load()
            try:
                if self.internal:
                    status, body = self.route_internal(method, path, st)
                else:
                    documented = self.judge(method, path, query, st)
                    status, body = self.route(method, path, query, st)
            except ApiError as e:
                status, body = e.status, e.body()
            except Exception as e:  # noqa: BLE001
                status, body = (
                    500,
                    {"errors": [{"code": "INTERNAL", "message": f"{type(e).__name__}: {e}"}]},
                )
            st["requests"] = (
                st["requests"]
                + [{"ts": rfc3339(now()), "method": method, "path": path, "status": status}]
            )[-500:]
            save(st)
            if not self.internal:
                self.record(method, path, url.query, status, body, documented)
        self.send(status, body)
        print(f"{method} {path} {status}", file=sys.stderr, flush=True)

    def record(self, method, path, query, status, body, documented) -> None:
        """One request and its answer in the traffic file, secrets redacted."""
        ctype = self.headers.get("Content-Type")
        headers = {"Content-Type": ctype} if ctype else {}
        if self.headers.get("Authorization"):
            scheme = self.headers["Authorization"].split(" ", 1)[0]
            headers["Authorization"] = f"{scheme} [redacted]"
        raw = self._body.decode("utf-8", "replace")
        if raw.strip() and (ctype or "").startswith("application/x-www-form-urlencoded"):
            form = urllib.parse.parse_qsl(raw, keep_blank_values=True)
            raw = urllib.parse.urlencode(
                [(k, "[redacted]" if k in SECRET_FIELDS else v) for k, v in form]
            )
        elif raw.strip():
            try:
                raw = json.dumps(redacted(json.loads(raw)))
            except ValueError:
                pass
        record(
            {
                "ts": rfc3339(now()),
                "method": method,
                "path": path,
                "query": query,
                "headers": headers,
                "body": raw,
                "status": status,
                "response": "" if body is None else json.dumps(redacted(body)),
                "documented": documented,
            }
        )

    def judge(self, method: str, path: str, query: dict, st: dict) -> bool:
        """The request against the OpenAPI document (raises ApiError with every problem).
        True when the operation is in the document; False for the OAuth login (REST guide)."""
        if not path.startswith("/api/"):
            raise ApiError(404, "NOT_FOUND", f"no such path {path}")
        p = path[len("/api") :]
        styles = st.get("login_styles", ["json", "oauth"])
        if p == OAUTH_PATH:
            if "oauth" not in styles:
                raise ApiError(404, "NOT_FOUND", f"no such path {path}")
            if method != "POST":
                raise ApiError(405, "METHOD_NOT_ALLOWED", f"{method} not allowed on {path}")
            return False  # documented elsewhere: PortSIP's REST guide
        if p == "/login" and method == "POST" and "json" not in styles:
            raise ApiError(404, "NOT_FOUND", f"no such path {path}")
        found = SPEC.find(p)
        if found is None:
            raise ApiError(404, "NOT_FOUND", f"no such path {path}")
        template, item, path_params = found
        op = item.get(method.lower())
        if op is None:
            raise ApiError(405, "METHOD_NOT_ALLOWED", f"{method} not allowed on {path}")
        security = op.get("security", SPEC.security)
        if security and {} not in security:
            self.bearer(st)
        problems = []
        for param in [*item.get("parameters", []), *op.get("parameters", [])]:
            param = SPEC.resolve(param)
            name, where, schema = param["name"], param["in"], param.get("schema", {})
            if where == "query" and name in query:
                value = Spec.coerce(query[name][-1], SPEC.resolve(schema))
                problems += SPEC.check(value, schema, f"query parameter {name}")
            elif where == "path":
                value = Spec.coerce(urllib.parse.unquote(path_params[name]), SPEC.resolve(schema))
                problems += SPEC.check(value, schema, f"path parameter {name}")
            elif param.get("required") and where == "query":
                problems.append(f"query parameter {name}: required")
        rb = SPEC.resolve(op.get("requestBody"))
        if rb:
            content = rb.get("content", {})
            ctype = (self.headers.get("Content-Type") or "").split(";")[0].strip()
            if not self._body.strip():
                if rb.get("required"):
                    problems.append("body: required")
            elif ctype not in content:
                raise ApiError(
                    415,
                    "UNSUPPORTED_MEDIA_TYPE",
                    f"body: content type {ctype or 'none'!r}; {template} takes "
                    + ", ".join(content),
                )
            elif ctype == "application/json":
                try:
                    value = json.loads(self._body)
                except ValueError:
                    raise bad("body: not valid JSON") from None
                problems += SPEC.check(value, content[ctype].get("schema", {}), "body")
        if problems:
            raise ApiError(400, "INVALID_ARGUMENT", problems[0], problems)
        return True

    def do_GET(self):
        self.handle_any("GET")

    def do_POST(self):
        self.handle_any("POST")

    def do_PUT(self):
        self.handle_any("PUT")

    def do_DELETE(self):
        self.handle_any("DELETE")

    # -- routes
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


class InternalHandler(Handler):
    internal = True


class TLSServer(ThreadingHTTPServer):
    daemon_threads = True
    context: ssl.SSLContext

    def finish_request(self, request, client_address):  # handshake in the worker thread
        request.settimeout(30)
        try:
            request = self.context.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError):
            return
        self.RequestHandlerClass(request, client_address, self)


SPEC: Spec


def main() -> None:
    global SPEC
    SPEC = load_spec()
    with LOCK:
        load()  # create the state on first start
    public: ThreadingHTTPServer
    if TLS_DIR == "off":  # plain HTTP: only for a local test run, never the lab
        public, scheme = ThreadingHTTPServer((BIND, PORT), Handler), "http"
        public.daemon_threads = True
    else:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(os.path.join(TLS_DIR, "tls.crt"), os.path.join(TLS_DIR, "tls.key"))
        tls = TLSServer((BIND, PORT), Handler)
        tls.context = ctx
        public, scheme = tls, "https"
    internal = ThreadingHTTPServer(("127.0.0.1", INTERNAL_PORT), InternalHandler)
    internal.daemon_threads = True
    threading.Thread(target=internal.serve_forever, daemon=True).start()
    print(
        f"listening on {scheme}://{BIND}:{public.server_address[1]}/api and "
        f"http://127.0.0.1:{internal.server_address[1]}/internal",
        file=sys.stderr,
        flush=True,
    )
    public.serve_forever()


if __name__ == "__main__":
    main()
