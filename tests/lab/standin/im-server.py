#!/usr/bin/python3
"""Stand-in for PortSIP's IM server (portsip-im lab only), run as portsip-im-standin.service.

TCP 8887 (all addresses): HTTP GET / (or /status) -> JSON {"service", "state", "release", ...}.
127.0.0.1:8902: GET /svr_stats -> JSON, like the vendor container's health check URL.
Reads /var/lib/portsip-im-standin/state.json on every request. Never sees the IM token.
"""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

STATE = "/var/lib/portsip-im-standin/state.json"


def status() -> dict:
    try:
        with open(STATE) as f:
            st = json.load(f)
    except (OSError, ValueError):
        st = {}
    return {
        "service": "portsip-im-standin",
        "state": "running",
        "release": st.get("release"),
        "private_ip": st.get("private_ip"),
        "public_ip": st.get("public_ip"),
        "storage_path": st.get("storage_path"),
    }


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    paths = ("/", "/status")

    def log_message(self, fmt, *args):
        pass

    def do_GET(self):
        if self.path.split("?")[0] in self.paths:
            code, body = 200, status()
        else:
            code, body = 404, {"error": "not found"}
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


class StatsHandler(Handler):
    paths = ("/svr_stats",)


def main() -> None:
    stats = ThreadingHTTPServer(("127.0.0.1", 8902), StatsHandler)
    stats.daemon_threads = True
    threading.Thread(target=stats.serve_forever, daemon=True).start()
    srv = ThreadingHTTPServer(("0.0.0.0", 8887), Handler)
    srv.daemon_threads = True
    srv.serve_forever()


if __name__ == "__main__":
    main()
