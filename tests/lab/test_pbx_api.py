"""The stand-in PBX REST API on pbx01: auth, whitelist (IP filters), IM token and IM record, with
response shapes checked against PortSIP's published OpenAPI description (../shared/portsip/)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.lab.fixture import OAUTH_CLIENT_ID, REPO

pytestmark = pytest.mark.lab

SPEC = REPO.parent / "shared" / "portsip" / "pbx-rest-api-v22.openapi.json"


@pytest.fixture(scope="module")
def spec():
    if not SPEC.exists():
        pytest.fail(
            f"{SPEC} not found: the CI layout puts ../shared beside the repo", pytrace=False
        )
    return json.loads(SPEC.read_text())


def schema_of(spec, path, method, status="200"):
    op = spec["paths"][path][method]
    return op["responses"][status]["content"]["application/json"]["schema"]


def conforms(value, schema) -> list[str]:
    """A small JSON-schema check (type, properties, items, enum, allOf): enough for these."""
    problems = []
    for sub in schema.get("allOf", []):
        problems += conforms(value, sub)
    t = schema.get("type")
    types = {"object": dict, "array": list, "string": str, "integer": int, "boolean": bool}
    if t in types and not isinstance(value, types[t]):
        return [f"{value!r} is not {t}"]
    if "enum" in schema and value not in schema["enum"]:
        problems.append(f"{value!r} not in {schema['enum']}")
    if t == "object":
        props = schema.get("properties", {})
        for k, v in value.items():
            if k not in props:
                problems.append(f"unexpected field {k!r}")
            else:
                problems += [f"{k}: {p}" for p in conforms(v, props[k])]
    if t == "array":
        for i, v in enumerate(value):
            problems += [f"[{i}]: {p}" for p in conforms(v, schema.get("items", {}))]
    return problems


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


def test_json_login(lab, spec):
    status, body = lab.api(
        "POST",
        "/login",
        json_body={"username": lab.pbx_admin.user, "password": lab.pbx_admin.password},
    )
    assert status == 200 and not conforms(body, schema_of(spec, "/login", "get"))
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


def test_whitelist_entry_lifecycle(lab, token, spec):
    entry = {
        "cidr": "10.213.7.12/32",
        "target": "ACCEPT",
        "expire_at": "2036-01-01T00:00:00Z",
        "description": "portsip-im test",
    }
    status, body = lab.api("POST", "/ip_filters", token=token, json_body=entry)
    assert status == 200 and not conforms(body, schema_of(spec, "/ip_filters", "post"))
    fid = body["id"]
    assert {**entry, "id": fid} in lab.api_state()["ip_filters"]  # recorded in the state file
    status, listing = lab.api("GET", "/ip_filters", token=token)
    assert status == 200 and not conforms(listing, schema_of(spec, "/ip_filters", "get"))
    assert listing["count"] >= 1 and {**entry, "id": fid} in listing["items"]
    status, one = lab.api("GET", f"/ip_filters/{fid}", token=token)
    assert status == 200 and one == {**entry, "id": fid}
    assert not conforms(one, schema_of(spec, "/ip_filters/{id}", "get"))
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
    "bad",
    [
        {"cidr": "10.213.7.300/32", "target": "ACCEPT"},
        {"cidr": "10.213.7.12/32", "target": "MAYBE"},
        {"cidr": "10.213.7.12/32", "target": "ACCEPT", "expire_at": "soon"},
        {"target": "ACCEPT"},
    ],
)
def test_bad_whitelist_entries_are_refused(lab, token, bad):
    n = len(lab.api_state()["ip_filters"])
    status, body = lab.api("POST", "/ip_filters", token=token, json_body=bad)
    assert status == 400 and body["errors"]
    assert len(lab.api_state()["ip_filters"]) == n


def test_im_token_regenerate_and_destroy(lab, token, spec):
    status, cur = lab.api("GET", "/im/token", token=token)
    assert status == 200 and not conforms(cur, schema_of(spec, "/im/token", "get"))
    assert cur["token"] == lab.im_token()
    status, new = lab.api("POST", "/im/token", token=token)
    assert status == 200 and new["token"] != cur["token"]
    assert lab.im_token() == new["token"]
    assert lab.api("GET", "/im/token", token=token)[1] == new
    assert lab.api("POST", "/im/token/destroy", token=token)[0] == 204
    assert lab.im_token() is None and lab.api("GET", "/im/token", token=token)[0] == 404
    assert lab.api("POST", "/im/token", token=token)[0] == 200  # leave one for later tests


def test_im_record(lab, token, spec):
    status, body = lab.api("GET", "/im", token=token)
    assert status == 200 and not conforms(body, schema_of(spec, "/im", "get"))
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
