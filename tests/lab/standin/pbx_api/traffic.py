"""The traffic file: every /api request and its answer, secrets replaced by "[redacted]"."""

import json
import os
import urllib.parse

from .config import SECRET_FIELDS, TRAFFIC
from .state import now, rfc3339


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


class Recorder:
    """Handler's record of one request and its answer (pbx_api.handler)."""

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
