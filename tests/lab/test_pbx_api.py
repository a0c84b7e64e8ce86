"""The stand-in PBX REST API on pbx01: auth, whitelist (IP filters), IM token and IM record.

PortSIP's OpenAPI document is the judge: every request these tests send and every answer the
stand-in gives is validated against it with openapi-core after each test (the autouse fixture
`api_traffic_conforms` in tests/lab/fixture.py), and the stand-in refuses what the document
refuses. The OAuth login is the REST guide's, not the document's: tested here as that guide says."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests import spec_judge
from tests.lab.fixture import API_TRAFFIC, OAUTH_CLIENT_ID, REPO
from tests.lab.guide import Guide, lab_config

pytestmark = pytest.mark.lab


@pytest.fixture(scope="module")
def token(lab):
    lab.reset_pbx01()
    return lab.api_login()


def login_form(lab, **over):
    form = {
        "grant_type": "password",
        "username": lab.pbx_admin.user,
        "password": lab.pbx_admin.password,
        "scope": "all",
        "client_id": OAUTH_CLIENT_ID,
    }
    form.update(over)
    return form


def test_oauth_login(lab, token):
    status, body = lab.api("POST", "/login/oauth/token", form=login_form(lab))
    assert status == 200
    assert set(body) == {"access_token", "expires_in", "refresh_token", "token_type"}
    assert body["expires_in"] == 1800 and body["token_type"] == "Bearer"
    # a refresh token gives a new access token
    status, again = lab.api(
        "POST",
        "/login/oauth/token",
        form={
            "grant_type": "refresh_token",
            "refresh_token": body["refresh_token"],
            "client_id": OAUTH_CLIENT_ID,
        },
    )
    assert status == 200 and again["access_token"] != body["access_token"]


@pytest.mark.parametrize(
    "over",
    [
        {"password": "wrong"},
        {"username": "nobody"},
        {"client_id": "00000000-0000-0000-0000-000000000000"},
    ],
)
def test_oauth_login_refused(lab, over):
    status, body = lab.api("POST", "/login/oauth/token", form=login_form(lab, **over))
    assert status == 400 and body["errors"][0]["code"] == "UNAUTHORIZED"


def test_oauth_login_needs_a_form_body(lab):
    status, _ = lab.api("POST", "/login/oauth/token", json_body=login_form(lab))
    assert status == 400


def test_json_login(lab):
    status, body = lab.api(
        "POST",
        "/login",
        json_body={"username": lab.pbx_admin.user, "password": lab.pbx_admin.password},
    )
    assert status == 200 and set(body) == {"access_token", "expires_at", "expires_in", "role"}
    assert lab.api("GET", "/ip_filters", token=body["access_token"])[0] == 200
    status, body = lab.api(
        "POST", "/login", json_body={"username": lab.pbx_admin.user, "password": "x"}
    )
    assert status == 401 and body["errors"][0]["code"] == "UNAUTHORIZED"


@pytest.mark.parametrize(
    "method,path",
    [
        ("GET", "/ip_filters"),
        ("POST", "/ip_filters"),
        ("GET", "/im/token"),
        ("POST", "/im/token"),
        ("POST", "/im/token/destroy"),
        ("GET", "/im"),
        ("POST", "/im"),
        ("POST", "/ip_filters/x/destroy"),
    ],
)
def test_everything_else_needs_a_bearer_token(lab, method, path):
    assert lab.api(method, path)[0] == 401
    status, body = lab.api(method, path, token="0" * 48)
    assert status == 401 and body["errors"][0]["code"] == "UNAUTHORIZED"


def test_logout_ends_the_session(lab):
    t = lab.api_login()
    assert lab.api("POST", "/logout", token=t)[0] == 204
    assert lab.api("GET", "/im", token=t)[0] == 401


def test_whitelist_entry_lifecycle(lab, token):
    entry = {
        "cidr": "10.213.7.12/32",
        "target": "ACCEPT",
        "expire_at": "2036-01-01T00:00:00Z",
        "description": "portsip-im test",
    }
    status, body = lab.api("POST", "/ip_filters", token=token, json_body=entry)
    assert status == 200 and set(body) == {"id"}
    fid = body["id"]
    assert {**entry, "id": fid} in lab.api_state()["ip_filters"]  # recorded in the state file
    status, listing = lab.api("GET", "/ip_filters", token=token)
    assert status == 200
    assert listing["count"] >= 1 and {**entry, "id": fid} in listing["items"]
    status, one = lab.api("GET", f"/ip_filters/{fid}", token=token)
    assert status == 200 and one == {**entry, "id": fid}
    status, found = lab.api(
        "GET", "/ip_filters?filter=cidr%20eq%20%2710.213.7.12%2F32%27", token=token
    )
    assert status == 200 and [i["id"] for i in found["items"]] == [fid]
    assert (
        lab.api("POST", f"/ip_filters/{fid}", token=token, json_body={"description": "renamed"})[0]
        == 200
    )
    assert lab.api("GET", f"/ip_filters/{fid}", token=token)[1]["description"] == "renamed"
    assert lab.api("POST", f"/ip_filters/{fid}/destroy", token=token)[0] == 204
    assert all(i["id"] != fid for i in lab.api_state()["ip_filters"])
    assert lab.api("POST", f"/ip_filters/{fid}/destroy", token=token)[0] == 400  # bad id now
    assert lab.api("GET", f"/ip_filters/{fid}", token=token)[0] == 404


@pytest.mark.parametrize(
    "bad, says",
    [
        ({"cidr": "10.213.7.300/32", "target": "ACCEPT"}, "invalid cidr"),
        ({"cidr": "10.213.7.12/32", "target": "MAYBE"}, "is not one of ['ACCEPT', 'DENY']"),
        ({"cidr": "10.213.7.12/32", "target": "ACCEPT", "expire_at": "soon"}, "not a 'date_time'"),
        ({"target": "ACCEPT"}, "body: 'cidr' is a required property"),
        ({"cidr": ["10.213.7.12/32"], "target": "ACCEPT"}, "is not of type 'string'"),
        ({"cidr": "10.213.7.12/32", "target": "ACCEPT", "description": "x" * 256}, "is too long"),
    ],
)
def test_bad_whitelist_entries_are_refused(lab, token, bad, says):
    n = len(lab.api_state()["ip_filters"])
    status, body = lab.api("POST", "/ip_filters", token=token, json_body=bad)
    assert status == 400 and any(says in e["message"] for e in body["errors"]), body
    assert len(lab.api_state()["ip_filters"]) == n


@pytest.mark.parametrize(
    "method, path, body, status, says",
    [
        ("POST", "/login", {"username": "admin"}, 400, "'password' is a required property"),
        ("POST", "/login", {"username": 7, "password": "x"}, 400, "is not of type 'string'"),
        ("GET", "/ip_filters?top=0", None, 400, "less than the minimum of 1"),
        ("GET", "/ip_filters?skip=-1", None, 400, "less than the minimum of 0"),
        ("GET", "/ip_filters?top=many", None, 400, "is not of type 'integer'"),
        ("DELETE", "/ip_filters", None, 405, "DELETE not allowed"),
        ("GET", "/no_such_thing", None, 404, "no such path"),
    ],
)
def test_what_the_document_refuses_is_refused(lab, token, method, path, body, status, says):
    got, answer = lab.api(method, path, token=token, json_body=body)
    assert got == status and any(says in e["message"] for e in answer["errors"]), answer


def test_login_styles_served_as_set(lab):
    try:
        lab.api_login_styles("oauth")  # an older PBX: only the REST guide's login
        creds = {"username": lab.pbx_admin.user, "password": lab.pbx_admin.password}
        assert lab.api("POST", "/login", json_body=creds)[0] == 404
        assert lab.api("POST", "/login/oauth/token", form=login_form(lab))[0] == 200
        lab.api_login_styles("json")  # exactly the document
        assert lab.api("POST", "/login/oauth/token", form=login_form(lab))[0] == 404
        assert lab.api("POST", "/login", json_body=creds)[0] == 200
    finally:
        lab.api_login_styles("json", "oauth")


def test_documented_login_answer_drives_the_steps(lab, token):
    """`json_login` "cookie": POST /login answers exactly as the document says (an empty 200 and a
    session cookie); GET /login gives the token for that session only. The whitelist and token
    steps, run over SSH as rendered, still log in."""
    creds = {"username": lab.pbx_admin.user, "password": lab.pbx_admin.password}
    lab.api_json_login("cookie")
    try:
        assert lab.api("POST", "/login", json_body=creds) == (200, None)
        assert lab.api("GET", "/login")[0] == 401  # no session cookie, no bearer
        lab.judge_traffic()
        guide = Guide(lab, lab_config(lab))
        for step in ("whitelist", "token"):
            done = guide.run(step)
            assert "(json login, POST /login + GET /login with the session cookie, " in done.stderr
        entries = lab.api_traffic()
        lab.traffic_problems += spec_judge.problems(entries)  # judged as the fixture would
        calls = [(e["method"], e["path"], e["status"]) for e in entries]
        assert calls[:3] == [
            ("POST", "/api/login", 200),
            ("GET", "/api/login", 200),
            ("GET", "/api/ip_filters", 200),
        ]
        guide.run("whitelist", "delete")
        assert lab.pbx_admin.password not in guide.transcript()
    finally:
        lab.api_json_login("body")


def test_traffic_is_recorded_for_the_judge_without_secrets(lab, token):
    lab.judge_traffic()  # what came before is judged now; this test's own traffic follows
    lab.api("GET", "/ip_filters?top=5", token=token)
    entries = lab.api_traffic()
    assert [(e["method"], e["path"], e["query"], e["status"]) for e in entries] == [
        ("GET", "/api/ip_filters", "top=5", 200)
    ]
    assert entries[0]["headers"] == {"Authorization": "Bearer [redacted]"}
    assert not spec_judge.problems(entries)
    text = lab.path("pbx01", API_TRAFFIC).read_text()
    assert lab.pbx_admin.password not in text and token not in text
    assert (lab.im_token() or "-") not in text


def test_im_token_regenerate_and_destroy(lab, token):
    status, cur = lab.api("GET", "/im/token", token=token)
    assert status == 200 and set(cur) == {"token"}
    assert cur["token"] == lab.im_token()
    status, new = lab.api("POST", "/im/token", token=token)
    assert status == 200 and new["token"] != cur["token"]
    assert lab.im_token() == new["token"]
    assert lab.api("GET", "/im/token", token=token)[1] == new
    assert lab.api("POST", "/im/token/destroy", token=token)[0] == 204
    assert lab.im_token() is None and lab.api("GET", "/im/token", token=token)[0] == 404
    assert lab.api("POST", "/im/token", token=token)[0] == 200  # leave one for later tests


def test_im_record(lab, token):
    status, body = lab.api("GET", "/im", token=token)
    assert status == 200
    rec = {
        "private_ipv4": "10.213.7.12",
        "private_ipv6": "",
        "public_ipv4": "10.213.7.112",
        "public_ipv6": "",
    }
    assert lab.api("POST", "/im", token=token, json_body=rec)[0] == 200
    assert lab.api("GET", "/im", token=token)[1] == rec == lab.api_state()["im"]
    assert lab.api("POST", "/im", token=token, json_body={"private_ipv4": "fe80::1"})[0] == 400


def test_the_api_is_https_only_with_the_lab_ca(lab):
    import ssl
    import urllib.error
    import urllib.request

    with pytest.raises(urllib.error.URLError) as e:  # not trusted by the system's CAs
        urllib.request.urlopen(lab.pbx_api + "/im", context=ssl.create_default_context(), timeout=5)
    assert isinstance(e.value.reason, ssl.SSLCertVerificationError)
    with pytest.raises((urllib.error.URLError, ConnectionError)):  # no plain HTTP
        urllib.request.urlopen(lab.pbx_api.replace("https:", "http:") + "/im", timeout=5)
    assert Path(lab.pbx_api_ca).read_text().startswith("-----BEGIN CERTIFICATE-----")


def test_requests_are_audited_without_secrets(lab):
    st = lab.api_state()
    assert st["requests"] and {"ts", "method", "path", "status"} == set(st["requests"][-1])
    text = lab.path("pbx01", "/var/lib/portsip-pbx-api/state.json").read_text()
    assert lab.pbx_admin.password not in text


LATE_TRAFFIC = """
import json

import pytest

from tests.lab.fixture import API_TRAFFIC


@pytest.fixture(scope="module")
def late(lab):
    yield
    # After the last test's own check: a request the document refuses, recorded as accepted.
    entry = {
        "method": "POST", "path": "/api/ip_filters", "query": "",
        "headers": {"Content-Type": "application/json", "Authorization": "Bearer [redacted]"},
        "body": json.dumps({"cidr": "10.213.7.99/32", "target": "MAYBE"}),
        "status": 200, "response": json.dumps({"id": "NzAw"}),
    }
    with open(lab.path("pbx01", API_TRAFFIC), "a") as f:
        f.write(json.dumps(entry) + "\\n")


def test_nothing(lab, late):
    pass
"""


def test_traffic_after_the_last_test_is_judged_when_the_lab_stops(tmp_path):
    """A module-scoped teardown runs after the last test's traffic check: the session's lab
    judges what it left when it stops, and a finding fails the run. The probe's session starts a
    lab of its own, on a cluster no other session uses (9)."""
    probe = tmp_path / "test_late_traffic.py"
    probe.write_text(LATE_TRAFFIC)
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "tests.lab.fixture",
            "--rootdir",
            str(REPO),
            "-c",
            str(REPO / "pyproject.toml"),
            str(probe),
        ],
        cwd=REPO,
        env={**os.environ, "PORTSIP_LAB_CLUSTER": "9"},
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode != 0, done.stdout
    assert "PBX API traffic (after the last test) that disagrees" in done.stdout, done.stdout
    assert "POST /api/ip_filters -> 200: request:" in done.stdout
