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

The code: this file (the servers) and the package pbx_api/ beside it (config, state, spec,
traffic, routes, handler); scripts/lab copies both to /opt/portsip-pbx-api/ on pbx01.
"""

import os
import ssl
import sys
import threading
from http.server import ThreadingHTTPServer

from pbx_api import spec
from pbx_api.config import BIND, INTERNAL_PORT, PORT, TLS_DIR
from pbx_api.handler import Handler, InternalHandler
from pbx_api.state import LOCK, load


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


def main() -> None:
    spec.load_judge()
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
