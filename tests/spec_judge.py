"""PortSIP's OpenAPI document for the PBX REST API as the judge of recorded traffic (openapi-core).

The stand-in PBX API (tests/lab/standin/pbx-api.py) appends every request and its answer to a
traffic file, secrets redacted. `problems()` validates each request and each response against the
document with openapi-core; the OAuth login, which the document does not have (PortSIP's REST guide
documents it), is the one call left out, and only that one.
"""

from __future__ import annotations

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
    return OpenAPI.from_dict(document_cached(), config=Config(spec_validator_cls=None))


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
            # A request the stand-in refused (4XX) may well break the document: that is the point
            # of refusing it. Only accepted requests must conform.
            if e["status"] < 400:
                out.append(f"{what}: request: {_why(exc)}")
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


def _secured(method: str, path: str) -> bool:
    doc = document_cached()
    for template, item in doc["paths"].items():
        rx = "^/api" + re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(template)) + "$"
        if re.match(rx, path) and method.lower() in item:
            return bool(item[method.lower()].get("security", doc.get("security")))
    return False


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
