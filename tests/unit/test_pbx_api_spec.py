"""The PBX API client against PortSIP's OpenAPI document, without the lab.

- The calls the program makes (portsip_im/pbx.py API_CALLS) are the calls its scripts make, and
  each one is in the document (the OAuth login excepted: PortSIP's REST guide documents it).
- Against a mock served from the document -- the lab's stand-in PBX API run locally on 127.0.0.1,
  serving only the document's JSON login and refusing what the document refuses -- the program's
  own rendered whitelist, token and removal commands succeed, and every request and response they
  exchanged validates against the document with openapi-core.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from portsip_im.args import INPUTS
from portsip_im.pbx import API_CALLS, JSON_LOGIN_PATH, OAUTH_LOGIN_PATH
from portsip_im.remote import SCRIPTS, sent_script
from tests import spec_judge
from tests.unit import harness as h

STANDIN = h.ROOT / "tests" / "lab" / "standin" / "pbx-api.py"
ADMIN = ("admin", "mock-admin-pw-7f3a")


def _template(path: str) -> str:
    return re.sub(r"\{[^/]+\}", "{}", path)


STATUS_SCRIPTS = (
    h.ROOT / "scripts" / "status.d"
)  # scripts/status runs these on pbx01 with pbx-api.sh


def pbx_scripts() -> list[Path]:
    return sorted([*SCRIPTS.glob("*.sh"), *STATUS_SCRIPTS.glob("*.sh")])


def script_calls(files: list[Path] | None = None) -> set[tuple[str, str]]:
    """(method, path) of every `pbx_request` in the step and status scripts; `$x` segments
    become `{}`."""
    calls = set()
    for f in pbx_scripts() if files is None else files:
        for m in re.finditer(r'pbx_request\s+(GET|POST)\s+"?([^"\s]+)', f.read_text()):
            path = m.group(2).split("?")[0]
            calls.add((m.group(1), re.sub(r"\$\{?\w+\}?", "{}", path)))
    return calls


def test_every_call_the_scripts_make_is_in_the_table_and_back():
    # scripts/status's PBX calls count too (it reads the IM record and the IP rules).
    assert script_calls([STATUS_SCRIPTS / "status.sh"]) >= {("GET", "/im")}
    assert STATUS_SCRIPTS / "status.sh" in pbx_scripts()
    table = {(c.method, _template(c.path)) for c in API_CALLS}
    logins = {("POST", JSON_LOGIN_PATH), ("GET", JSON_LOGIN_PATH), ("POST", OAUTH_LOGIN_PATH)}
    assert script_calls() == table - logins
    assert logins <= table
    # The scripts' login paths are the table's: parameters from pbx.py, defaults alike.
    text = (SCRIPTS / "pbx-api.sh").read_text()
    assert f'"${{PBX_JSON_LOGIN_PATH:={JSON_LOGIN_PATH}}}"' in text
    assert f'"${{PBX_LOGIN_PATH:={OAUTH_LOGIN_PATH}}}"' in text
    assert INPUTS["pbx.api.login_path"].default == OAUTH_LOGIN_PATH


def test_every_documented_call_is_in_the_openapi_document():
    doc = spec_judge.document()
    for call in API_CALLS:
        item = doc["paths"].get(call.path, {})
        if call.documented:
            assert call.method.lower() in item, f"{call.method} {call.path} is not in the document"
            op = item[call.method.lower()]
            secured = op.get("security", doc.get("security"))
            assert (call.path == JSON_LOGIN_PATH) == (not secured), call
        else:
            # Only the OAuth login is taken from elsewhere (the REST guide), and it really is not
            # in the document: the day PortSIP adds it, it becomes a documented call.
            assert call.path == OAUTH_LOGIN_PATH and call.method.lower() not in item


def test_the_judge_can_fail():
    bad = {
        "method": "POST",
        "path": "/api/ip_filters",
        "query": "",
        "headers": {"Content-Type": "application/json", "Authorization": "Bearer [redacted]"},
        "body": json.dumps({"cidr": "192.0.2.1/32", "target": "MAYBE"}),
        "status": 200,
        "response": json.dumps({"id": 5}),
    }
    found = spec_judge.problems([bad])
    assert any("request" in p for p in found) and any("response" in p for p in found)
    assert spec_judge.problems([{**bad, "path": "/api/nope", "status": 200}])
    assert spec_judge.problems([{**bad, "path": "/api/nope", "documented": False}])
    # The document's date_time format is judged (openapi-core would pass any string without it).
    late = {"cidr": "192.0.2.1/32", "target": "ACCEPT", "expire_at": "soon"}
    found = spec_judge.problems([{**bad, "body": json.dumps(late), "response": '{"id": "x"}'}])
    assert [p for p in found if "request" in p], found


def test_the_judge_finds_refusals_of_what_the_document_accepts():
    good = {
        "method": "POST",
        "path": "/api/ip_filters",
        "query": "",
        "headers": {"Content-Type": "application/json", "Authorization": "Bearer [redacted]"},
        "body": json.dumps({"cidr": "192.0.2.1/32", "target": "ACCEPT"}),
        "status": 400,
        "response": json.dumps({"errors": [{"code": "INVALID_ARGUMENT", "message": "no"}]}),
    }
    found = spec_judge.problems([good])
    assert found == [
        "POST /api/ip_filters -> 400: refused, yet the request conforms to the document"
    ]
    # What the document rejects, in its schemas or in words, may be refused; so may a bad login,
    # a stale bearer and an unknown id.
    for refused in (
        {**good, "body": json.dumps({"cidr": "192.0.2.1/32", "target": "MAYBE"})},
        {**good, "body": json.dumps({"cidr": "192.0.2.300/32", "target": "ACCEPT"})},
        {**good, "status": 401},
        {**good, "method": "POST", "path": "/api/ip_filters/NzAw/destroy", "body": ""},
        {**good, "method": "GET", "path": "/api/ip_filters/NzAw", "body": "", "status": 404},
        {**good, "path": "/api/im", "body": json.dumps({"private_ipv4": "fe80::1"})},
    ):
        assert not spec_judge.problems([refused]), refused
    assert spec_judge.problems(
        [{**good, "path": "/api/im", "body": '{"private_ipv4": "10.0.0.1"}'}]
    )


# ---------------------------------------------------------------- a mock served from the document


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class MockPbx:
    url: str
    state_file: Path
    traffic: Path
    home: Path

    def state(self) -> dict:
        return json.loads(self.state_file.read_text())

    def set_state(self, **changes) -> None:
        st = self.state()
        st.update(changes)
        tmp = self.state_file.with_suffix(".new")
        tmp.write_text(json.dumps(st))
        tmp.replace(self.state_file)

    def entries(self) -> list[dict]:
        return spec_judge.read(self.traffic)


def start_mock(tmp_path: Path, styles: str) -> tuple[MockPbx, subprocess.Popen]:
    admin = tmp_path / "admin.json"
    admin.write_text(json.dumps({"username": ADMIN[0], "password": ADMIN[1]}))
    port = _free_port()
    mock = MockPbx(
        url=f"http://127.0.0.1:{port}/api",
        state_file=tmp_path / "state.json",
        traffic=tmp_path / "traffic.jsonl",
        home=tmp_path / "pbx01-home",
    )
    mock.home.mkdir()
    env = {
        "PATH": os.environ["PATH"],
        "PBX_API_STATE": str(mock.state_file),
        "PBX_API_ADMIN": str(admin),
        "PBX_API_TLS": "off",
        "PBX_API_BIND": "127.0.0.1",
        "PBX_API_PORT": str(port),
        "PBX_API_INTERNAL_PORT": "0",
        "PBX_API_OPENAPI": str(spec_judge.SPEC),
        "PBX_API_TRAFFIC": str(mock.traffic),
        "PBX_API_LOGIN_STYLES": styles,
    }
    proc = subprocess.Popen(
        [sys.executable, str(STANDIN)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    deadline = time.monotonic() + 20
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                raise RuntimeError(f"the mock PBX API did not start: {proc.stderr.read()!r}")  # noqa: B904
            time.sleep(0.1)
    return mock, proc


@pytest.fixture
def mock_pbx(tmp_path):
    """The stand-in run locally as the document's PBX: only `POST /login`, strict checks."""
    mock, proc = start_mock(tmp_path, "json")
    yield mock
    proc.terminate()
    proc.wait(timeout=10)
    found = spec_judge.problems(mock.entries())
    assert not found, "traffic that disagrees with the OpenAPI document:\n" + "\n".join(found)


def steps(url: str, **config: str) -> dict[str, h.Registered]:
    cfg = {
        **h.base_config("existing"),
        "pbxApiUrl": url,
        "pbxApiTlsVerify": "false",
        "pbxApiAllowInsecureHttp": "true",  # the document-only mock serves plain http locally
        "pbxAdminUser": ADMIN[0],
        "pbxAdminPassword": ADMIN[1],
        **config,
    }
    return {
        r.name.removeprefix("im-"): r for r in h.run(cfg).mocks.of_type("command:remote:Command")
    }


def run_step(
    mock: MockPbx, step: str, phase: str = "create", extra: str = "", **config: str
) -> subprocess.CompletedProcess:
    """The step's rendered command, run locally as on pbx01 (HOME: a fresh pbx01 home)."""
    r = steps(mock.url, **config)[step]
    return subprocess.run(
        r.inputs[phase] + extra,
        shell=True,
        executable="/bin/bash",
        input=r.inputs.get("stdin", ""),
        capture_output=True,
        text=True,
        timeout=120,
        env={"HOME": str(mock.home), "PATH": os.environ["PATH"]},
    )


def ok(done: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    assert done.returncode == 0, done.stdout + done.stderr
    return done


def ours(mock: MockPbx) -> list[str]:
    return sorted(
        e["cidr"] for e in mock.state()["ip_filters"] if e["description"].startswith("portsip-im:")
    )


def test_rendered_whitelist_token_and_removal_succeed_against_the_document(mock_pbx):
    done = ok(run_step(mock_pbx, "whitelist"))
    assert "logged in as admin (json login, POST /login, pbxApiLogin=auto)" in done.stderr
    assert ours(mock_pbx) == sorted([f"{h.IM_PRIVATE}/32", f"{h.IM_PUBLIC}/32"])

    pbx_token = mock_pbx.state()["im_token"]
    done = ok(run_step(mock_pbx, "token"))
    assert "read the PBX's current IM token" in done.stderr
    copy = mock_pbx.home / ".portsip-im" / "im-token"
    assert copy.read_text() == pbx_token == mock_pbx.state()["im_token"]  # kept, not regenerated
    assert pbx_token not in done.stdout + done.stderr
    assert done.stdout.startswith("sha256:")

    ok(run_step(mock_pbx, "whitelist", "delete"))
    assert ours(mock_pbx) == []
    ok(run_step(mock_pbx, "token", "delete"))
    assert not copy.exists()
    assert mock_pbx.state()["im_token"] == pbx_token  # removing the copy leaves the PBX's token
    assert ADMIN[1] not in mock_pbx.traffic.read_text()
    assert pbx_token not in mock_pbx.traffic.read_text()


def test_token_regenerated_only_when_none_or_asked(mock_pbx):
    first = mock_pbx.state()["im_token"]
    ok(run_step(mock_pbx, "token", imTokenRotation="a"))  # the first value is only recorded
    assert mock_pbx.state()["im_token"] == first
    ok(run_step(mock_pbx, "token", imTokenRotation="a"))
    assert mock_pbx.state()["im_token"] == first
    done = ok(run_step(mock_pbx, "token", imTokenRotation="b"))
    assert "imTokenRotation changed ('a' -> 'b')" in done.stderr
    rotated = mock_pbx.state()["im_token"]
    assert rotated != first
    assert (mock_pbx.home / ".portsip-im" / "im-token").read_text() == rotated
    mock_pbx.set_state(im_token=None)  # the PBX has none (404), but pbx01 holds a copy: kept
    done = ok(run_step(mock_pbx, "token", imTokenRotation="b"))
    assert "HTTP 404 (no token, or no such path on this PBX); kept pbx01's copy" in done.stderr
    assert mock_pbx.state()["im_token"] is None
    (mock_pbx.home / ".portsip-im" / "im-token").unlink()  # and neither has one: generated
    done = ok(run_step(mock_pbx, "token", imTokenRotation="b"))
    assert "HTTP 404 and pbx01 has no copy: the PBX had no IM token; it generated one" in (
        done.stderr
    )
    generated = mock_pbx.state()["im_token"]
    assert generated not in (None, rotated)
    assert (mock_pbx.home / ".portsip-im" / "im-token").read_text() == generated


def test_a_pbx_that_says_it_has_no_token_gets_one_even_when_pbx01_has_a_copy(mock_pbx):
    """200 without a token: the PBX has none, so no IM server can be using pbx01's copy."""
    ok(run_step(mock_pbx, "token"))
    copy = mock_pbx.home / ".portsip-im" / "im-token"
    old = copy.read_text()
    mock_pbx.set_state(im_token=None, no_token_answer="200")
    done = ok(run_step(mock_pbx, "token"))
    assert "GET /im/token answered 200 without one); it generated one (pbx01's copy was not" in (
        done.stderr
    )
    new = mock_pbx.state()["im_token"]
    assert new and new != old and copy.read_text() == new
    assert new not in done.stdout + done.stderr


def test_json_login_as_documented_takes_the_token_from_get_login(mock_pbx):
    """The document's POST /login answers 200 with no body; GET /login (the session's login
    status) carries access_token for the session cookie POST /login set."""
    mock_pbx.set_state(json_login="cookie")
    done = ok(run_step(mock_pbx, "whitelist"))
    assert "(json login, POST /login + GET /login with the session cookie, pbxApiLogin=auto)" in (
        done.stderr
    )
    assert ours(mock_pbx) == sorted([f"{h.IM_PRIVATE}/32", f"{h.IM_PUBLIC}/32"])
    calls = [(e["method"], e["path"], e["status"], e["response"]) for e in mock_pbx.entries()]
    assert calls[:2] == [
        ("POST", "/api/login", 200, ""),
        ("GET", "/api/login", 200, calls[1][3]),
    ]
    assert "[redacted]" in calls[1][3]  # the access token, kept out of the traffic file
    ok(run_step(mock_pbx, "token"))
    assert not list(mock_pbx.home.rglob("*cookie*"))  # the jar stays in the step's private temp dir


def test_a_login_that_gives_no_token_names_the_keys(tmp_path):
    """POST /login 200 with nothing in it and a GET /login without a token: one clear error."""
    import http.server
    import threading

    class Empty(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        do_POST = do_GET

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Empty)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/api"
        mock = MockPbx(url, tmp_path / "none", tmp_path / "none", tmp_path)
        done = run_step(mock, "whitelist")
    finally:
        server.shutdown()
    assert done.returncode != 0
    assert (
        f"json login (POST {url}/login) answered 200, but neither its body nor GET /login "
        "(HTTP 200) gave an access_token; check pbxApiUrl" in done.stderr
    )
    assert "pbxApiLogin" in done.stderr and ADMIN[1] not in done.stdout + done.stderr


def test_login_errors_say_what_went_wrong(mock_pbx, tmp_path):
    # json only at a PBX without /login: no such path, with the style and the URL tried.
    mock_pbx.set_state(login_styles=["oauth"])
    done = run_step(mock_pbx, "whitelist", pbxApiLogin="json")
    assert done.returncode != 0
    assert f"no such login path: the json login (POST {mock_pbx.url}/login) answered HTTP 404" in (
        done.stderr
    )
    assert "check the admin password" not in done.stderr and ADMIN[1] not in done.stderr
    mock_pbx.set_state(login_styles=["json"])
    # bad credentials
    done = run_step(mock_pbx, "whitelist", pbxAdminPassword="wrong-pw-1")
    assert done.returncode != 0 and "bad credentials" in done.stderr
    assert "wrong-pw-1" not in done.stdout + done.stderr
    # oauth asked for, but the document's PBX has no such path
    done = run_step(mock_pbx, "whitelist", pbxApiLogin="oauth")
    assert done.returncode != 0
    assert f"no such login path: the oauth login (POST {mock_pbx.url}/login/oauth/token)" in (
        done.stderr
    )
    # unreachable: nothing listens
    closed = f"http://127.0.0.1:{_free_port()}/api"
    done = run_step(mock_pbx, "whitelist", pbxApiUrl=closed)
    assert done.returncode != 0 and "unreachable" in done.stderr
    # timeout: something accepts the connection and never answers
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        url = f"http://127.0.0.1:{silent.getsockname()[1]}/api"
        done = run_step(mock_pbx, "whitelist", extra=" PBX_API_MAX_TIME=2", pbxApiUrl=url)
    assert done.returncode != 0 and "timeout: no answer within 2s" in done.stderr
    assert "check pbxApiUrl" in done.stderr
    # anything else curl cannot do names the keys behind the URL and TLS
    done = run_step(mock_pbx, "whitelist", extra=" PBX_API_URL=http://127.0.0.1:99999/api")
    assert done.returncode != 0 and "failed (curl exit 3: " in done.stderr
    assert "check pbxApiUrl (https://HOST:8887/api) and pbxApiTlsVerify" in done.stderr
    # a login refused for another reason than credentials (here: the document's 64-character
    # limit on the user name) names the credentials and the login style keys
    done = run_step(mock_pbx, "whitelist", pbxAdminUser="a" * 65)
    assert done.returncode != 0 and "was refused (HTTP 400: INVALID_ARGUMENT: " in done.stderr
    assert "check pbxAdminUser and pbxAdminPassword, and pbxApiLogin/pbxApiLoginPath" in (
        done.stderr
    )


def test_auto_falls_back_to_oauth_only_when_login_is_missing(tmp_path):
    mock, proc = start_mock(tmp_path, "oauth")  # an older PBX: only the REST guide's login
    try:
        done = ok(run_step(mock, "whitelist"))
        assert "logged in as admin (oauth login, POST /login/oauth/token, pbxApiLogin=auto)" in (
            done.stderr
        )
        assert [(e["path"], e["status"]) for e in mock.entries()][:2] == [
            ("/api/login", 404),
            ("/api/login/oauth/token", 200),
        ]
        # A wrong password at /login is not a missing path: no fallback, bad credentials.
        mock.set_state(login_styles=["json", "oauth"])
        before = len(mock.entries())
        done = run_step(mock, "whitelist", pbxAdminPassword="wrong-pw-2")
        assert done.returncode != 0 and "bad credentials: the json login" in done.stderr
        assert [e["path"] for e in mock.entries()[before:]] == ["/api/login"]
        assert not spec_judge.problems(mock.entries())
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_the_mock_refuses_what_the_document_refuses(mock_pbx):
    import urllib.error
    import urllib.request

    def call(method, path, body=None, token=None, ctype="application/json"):
        data = None if body is None else (body if isinstance(body, bytes) else json.dumps(body))
        headers = {"Content-Type": ctype} if data is not None else {}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        req = urllib.request.Request(
            mock_pbx.url + path,
            data=data.encode() if isinstance(data, str) else data,
            method=method,
            headers=headers,
        )
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                return r.status, json.loads(r.read() or b"null")
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read() or b"null")

    status, body = call("POST", "/login", {"username": ADMIN[0]})
    assert status == 400
    assert "body: 'password' is a required property" in body["errors"][0]["message"]
    status, body = call("POST", "/login", {"username": ADMIN[0], "password": ADMIN[1]})
    assert status == 200
    token = body["access_token"]
    assert call("GET", "/im/token")[0] == 401  # no bearer
    for bad, says in (
        ({"cidr": "192.0.2.1/32", "target": "MAYBE"}, "is not one of"),
        ({"cidr": 5, "target": "ACCEPT"}, "body.cidr: 5 is not of type 'string'"),
        ({"target": "ACCEPT"}, "'cidr' is a required property"),
        ({"cidr": "192.0.2.1/32", "target": "ACCEPT", "expire_at": "soon"}, "is not a 'date_time'"),
        ({"cidr": "192.0.2.1/32", "target": "ACCEPT", "description": "x" * 256}, "is too long"),
    ):
        status, body = call("POST", "/ip_filters", bad, token=token)
        assert status == 400 and any(says in e["message"] for e in body["errors"]), (bad, body)
    status, body = call("GET", "/ip_filters?top=500", token=token)
    assert status == 400 and "greater than the maximum of 100" in body["errors"][0]["message"]
    assert call("GET", "/ip_filters?top=100", token=token)[0] == 200
    assert call("DELETE", "/im", token=token)[0] == 405
    assert call("GET", "/no/such/thing", token=token)[0] == 404
    status, _ = call("POST", "/login", b"username=admin", ctype="application/x-www-form-urlencoded")
    assert status == 415
    assert mock_pbx.state()["ip_filters"] == []


def test_the_login_line_is_shown_by_the_whitelist_step_only():
    """docs/stacks.md: which login worked is read in the whitelist step's log; the steps that
    handle the IM token and vendor output log nothing."""
    logging = {n: r.inputs.get("logging") for n, r in steps("http://127.0.0.1:9/api").items()}
    assert logging["whitelist"] == "stdoutAndStderr"
    assert {logging[n] for n in ("token", "deploy", "upgrade")} == {"none"}
    doc = " ".join((h.ROOT / "docs" / "stacks.md").read_text().split())
    assert "Which one worked is shown in the whitelist step's output in Pulumi's log" in doc


def test_commands_run_as_rendered():
    """The mock tests run exactly the remote command a step registers (no local rewriting)."""
    r = steps("http://127.0.0.1:9/api")["token"]
    words = shlex.split(r.inputs["create"])
    script = sent_script(r.inputs["create"], r.inputs["stdin"]) or ""
    assert words[:2] == ["bash", "-c"] and "pbx-api.sh" in script and words[3] == "token"
