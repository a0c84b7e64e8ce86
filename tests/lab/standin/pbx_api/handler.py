"""The HTTP request handlers: the public /api one and the internal one (127.0.0.1, no auth)."""

import json
import sys
import urllib.parse
from http.server import BaseHTTPRequestHandler

from .config import SESSION_COOKIE
from .routes import Routes
from .spec import Judge
from .state import LOCK, ApiError, bad, load, now, rfc3339, save, sha
from .traffic import Recorder


class Handler(Judge, Recorder, Routes, BaseHTTPRequestHandler):
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

    def do_GET(self):
        self.handle_any("GET")

    def do_POST(self):
        self.handle_any("POST")

    def do_PUT(self):
        self.handle_any("PUT")

    def do_DELETE(self):
        self.handle_any("DELETE")


class InternalHandler(Handler):
    internal = True
