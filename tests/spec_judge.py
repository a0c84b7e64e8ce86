"""PortSIP's OpenAPI document for the PBX REST API as the judge of recorded traffic (openapi-core).

The stand-in PBX API (tests/lab/standin/pbx-api.py) appends every request and its answer to a
traffic file, secrets redacted. `problems()` validates each request and each response against the
document with openapi-core; the OAuth login, which the document does not have (PortSIP's REST guide
documents it), is the one call left out, and only that one. A request the stand-in refused with a
4XX must really break the document -- its schemas, or what it says of a field in words (`cidr` is
CIDR notation, an IM address is of its family) -- unless the refusal is an auth failure (401) or
names something that is not there (404 on an id, on a missing IM token, or on `POST /login` at a
PBX without it; the 400 the document gives `POST /ip_filters/{id}/destroy` for an invalid rule ID).
"""

from __future__ import annotations

import datetime
import ipaddress
import json
import re
from functools import cache
from pathlib import Path
from typing import Any

from openapi_core import Config, OpenAPI
from openapi_core.templating.paths.exceptions import OperationNotFound, PathNotFound
from openapi_core.templating.responses.exceptions import ResponseNotFound
from openapi_core.testing import MockRequest, MockResponse

REPO = Path(__file__).resolve().parents[1]
SPEC = REPO.parent / "shared" / "portsip" / "pbx-rest-api-v22.openapi.json"
HOST = "https://pbx.invalid:8887"  # the document's server: {protocol}://{hostname}:{port}/api


def document() -> dict[str, Any]:
    if not SPEC.exists():
        raise FileNotFoundError(f"{SPEC}: the CI layout puts ../shared beside the repository")
    return json.loads(SPEC.read_text())


@cache
def judge() -> OpenAPI:
    # The document as published fails openapi-spec-validator on a duplicate tag name (a cosmetic
    # flaw); the operations and schemas are what is judged, so the spec check itself is skipped.
    # The document's `date_time` format (RFC 3339) is not one JSON Schema names: without this it
    # would pass any string.
    config = Config(
        spec_validator_cls=None,
        extra_format_validators={"date_time": _rfc3339, "date-time": _rfc3339},
    )
    return OpenAPI.from_dict(document_cached(), config=config)


def _rfc3339(value: Any) -> bool:
    if not isinstance(value, str):
        return True
    if not re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?([Zz]|[+-]\d\d:\d\d)", value):
        return False
    try:
        datetime.datetime.fromisoformat(re.sub(r"[Zz]$", "+00:00", value))
    except ValueError:
        return False
    return True


def read(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def problems(
    entries: list[dict[str, Any]], oauth_path: str = "/api/login/oauth/token"
) -> list[str]:
    """Every way the recorded requests and responses disagree with the document."""
    out = []
    for e in entries:
        query = "?" + e["query"] if e.get("query") else ""
        what = f"{e['method']} {e['path']}{query} -> {e['status']}"
        if not e.get("documented", True):
            if e["path"] != oauth_path:
                out.append(f"{what}: served as undocumented, but it is not the OAuth login")
            continue
        headers = dict(e.get("headers") or {})
        ctype = headers.pop("Content-Type", None)
        request = MockRequest(
            HOST,
            e["method"].lower(),
            e["path"],
            headers=headers,
            data=e.get("body") or None,
            content_type=ctype or "application/json",
            args=_args(e.get("query") or ""),
        )
        try:
            judge().validate_request(request)
        except (PathNotFound, OperationNotFound) as exc:
            # Not in the document at all: right only when the stand-in said so (404/405).
            if e["status"] not in (404, 405):
                out.append(f"{what}: not in the document, yet answered: {_why(exc)}")
            continue
        except Exception as exc:  # noqa: BLE001 -- any validation error is a finding
            # Refusing (4XX) a request that breaks the document is the point; accepting it is not.
            if e["status"] < 400:
                out.append(f"{what}: request: {_why(exc)}")
        else:
            if 400 <= e["status"] < 500 and not _refusal_allowed(e):
                out.append(f"{what}: refused, yet the request conforms to the document")
        body = e.get("response") or ""
        response = MockResponse(
            body.encode(),
            status_code=e["status"],
            content_type="application/json" if body else None,
        )
        try:
            judge().validate_response(request, response)
        except ResponseNotFound as exc:
            # A 401 for a missing or bad bearer token is what the operation's security
            # requirement means, even where the document lists no 401 among its responses
            # (e.g. POST /ip_filters/{id}/destroy lists only 204 and 400).
            if not (e["status"] == 401 and _secured(e["method"], e["path"])):
                out.append(f"{what}: response: {_why(exc)}")
        except Exception as exc:  # noqa: BLE001
            out.append(f"{what}: response: {_why(exc)}")
    return out


# IP rule and IM server fields whose form the document gives only in words.
_IM_FAMILIES = {"private_ipv4": 4, "public_ipv4": 4, "private_ipv6": 6, "public_ipv6": 6}


def _breaks_descriptions(e: dict[str, Any]) -> bool:
    """The request breaks what the document says of a field in words (no schema keyword)."""
    try:
        body = json.loads(e.get("body") or "null")
    except ValueError:
        return False
    if not isinstance(body, dict):
        return False
    if re.fullmatch(r"/api/ip_filters(/[^/]+)?", e["path"]) and isinstance(body.get("cidr"), str):
        try:  # "The CIDR notation IP address and prefix length"
            ipaddress.ip_network(body["cidr"], strict=False)
        except ValueError:
            return True
    if e["path"] == "/api/im":
        for name, family in _IM_FAMILIES.items():
            v = body.get(name)
            if isinstance(v, str) and v:  # "Host IPV4 address." / "Host IPV6 address."
                try:
                    if ipaddress.ip_address(v).version != family:
                        return True
                except ValueError:
                    return True
    return False


def _refusal_allowed(e: dict[str, Any]) -> bool:
    """A 4XX to a request that conforms: an auth failure, or something that is not there."""
    status, method, path = e["status"], e["method"], e["path"]
    template = _template(method, path)
    if status == 401:
        return True  # bad credentials, no or a stale bearer, no session
    has_id = template is not None and "{" in template
    if status == 404 and (has_id or (method, path) == ("GET", "/api/im/token")):
        return True  # an unknown id; no IM token to read
    if status == 404 and (method, path) == ("POST", "/api/login"):
        return True  # an older PBX without the document's login (the stand-in's login_styles)
    if status == 400 and (method, template) == ("POST", "/ip_filters/{id}/destroy"):
        return True  # the document's own 400: "Invalid rule ID supplied."
    return _breaks_descriptions(e)


def _template(method: str, path: str) -> str | None:
    """The document's path template that `path` (with /api) matches for `method`."""
    for template, item in document_cached()["paths"].items():
        rx = "^/api" + re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(template)) + "$"
        if re.match(rx, path) and method.lower() in item:
            return template
    return None


def _secured(method: str, path: str) -> bool:
    template = _template(method, path)
    if template is None:
        return False
    doc = document_cached()
    return bool(doc["paths"][template][method.lower()].get("security", doc.get("security")))


@cache
def document_cached() -> dict[str, Any]:
    return document()


def _args(query: str):
    from urllib.parse import parse_qsl

    from werkzeug.datastructures import ImmutableMultiDict

    return ImmutableMultiDict(parse_qsl(query, keep_blank_values=True))


def _why(exc: Exception) -> str:
    detail = [str(exc)]
    cause = exc.__cause__
    while cause is not None:
        detail.append(str(cause))
        cause = cause.__cause__
    return " / ".join(dict.fromkeys(d for d in detail if d))
