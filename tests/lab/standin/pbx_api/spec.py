"""PortSIP's OpenAPI document as the judge of every /api request (see pbx-api.py)."""

import datetime
import json
import re
import urllib.parse

import jsonschema  # Debian's python3-jsonschema in the lab (lab/config.py INCLUDE)

from .config import OAUTH_PATH, OPENAPI
from .state import ApiError, bad


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


SPEC: Spec  # the document, loaded by load_judge() when pbx-api.py starts


def load_judge() -> None:
    global SPEC
    SPEC = load_spec()


class Judge:
    """Handler's check of a request against the document (pbx_api.handler)."""

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
