"""Policy `no-secrets-in-user-data-or-tags`: no secret-looking value in user-data, tags or labels.

Its counterpart for the remote steps' command text is in remote_commands.py. (Not named
`secrets.py`: the pack runs with policy/ on sys.path, where that would shadow the standard
library's `secrets`.)
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping
from typing import Any

from pulumi_policy import ReportViolation, ResourceValidationArgs, ResourceValidationPolicy

from policy.props import get

SECRET_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("a private key", re.compile(r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY-----")),
    ("an AWS access key id", re.compile(r"\b(?:AKIA|ASIA)[A-Z0-9]{16}\b")),
    (
        "an AWS secret access key",
        re.compile(r"(?i)aws.{0,20}secret.{0,20}[=:]\s*['\"]?[A-Za-z0-9/+=]{40}\b"),
    ),
    ("a GitHub token", re.compile(r"\b(?:gh[pousr]_[A-Za-z0-9]{36,}|github_pat_\w{22,})")),
    ("a Slack token", re.compile(r"\bxox[abposr]-[A-Za-z0-9-]{10,}")),
    ("a Pulumi access token", re.compile(r"\bpul-[a-f0-9]{40}\b")),
    ("a JSON web token", re.compile(r"\beyJ[\w-]{10,}\.eyJ[\w-]{10,}\.[\w-]{10,}")),
    ("a URL with a password", re.compile(r"\b[a-z][a-z0-9+.-]*://[^/\s:@]+:[^/\s@]+@")),
    (
        "a password or token assignment",
        re.compile(
            # DB_PASSWORD=…, token: …; not `lock_passwd: true` nor `password: ${VAR}`.
            r"(?i)(?<![a-z0-9])(?:password|passwd|pwd|secret|token|api[_-]?key|access[_-]?key|"
            r"private[_-]?key|client[_-]?secret)\s*[:=]\s*['\"]?"
            r"(?!(?:true|false|yes|no|null|none)\b|\$|\{\{|<)[^\s'\"]{4,}"
        ),
    ),
)
SECRET_TAG_KEY = re.compile(
    r"(?i)(?:password|passwd|secret|token|api[_-]?key|private[_-]?key|credential)"
)
USER_DATA_KEYS = ("userData", "userDataBase64")
TAG_KEYS = ("tags", "tagsAll", "labels", "volumeTags")


def secret_kind(text: str) -> str | None:
    """What secret `text` seems to hold (for the message; never the value), or None."""
    for kind, pattern in SECRET_PATTERNS:
        if pattern.search(text):
            return kind
    return None


def _decoded(text: str) -> str | None:
    compact = "".join(text.split())
    if len(compact) < 16 or not re.fullmatch(r"[A-Za-z0-9+/]+={0,2}", compact):
        return None
    try:
        return base64.b64decode(compact, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None


def find_secrets(props: Any) -> list[str]:
    """Where props hold a secret-looking value, as phrases naming the property and the kind."""
    found = []
    for key in USER_DATA_KEYS:
        value = get(props, key)
        if not isinstance(value, str):
            continue
        for text in filter(None, (value, _decoded(value))):
            kind = secret_kind(text)
            if kind:
                found.append(f"{key} holds what looks like {kind}")
                break
    # An instance's root volume carries its tags in rootBlockDevice (not volumeTags, which would
    # retag separately managed volumes).
    root = get(props, "rootBlockDevice")
    nested = [("rootBlockDevice.tags", get(root, "tags"))] if isinstance(root, Mapping) else []
    for key, tags in [*((k, get(props, k)) for k in TAG_KEYS), *nested]:
        if not isinstance(tags, Mapping):
            continue
        for name in tags:
            value = get(tags, name)
            if not isinstance(value, str):
                continue
            kind = secret_kind(f"{name}={value}") or secret_kind(value)
            if kind is None and value and SECRET_TAG_KEY.search(name):
                kind = "a secret (by its key's name)"
            if kind:
                found.append(f"{key}[{name!r}] holds what looks like {kind}")
    return found


def validate_no_secrets(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    for where in find_secrets(args.props):
        report_violation(
            f"{where}: user-data, tags and labels are stored and shown in plain text; keep "
            "secrets in `pulumi config set --secret` and pass them over SSH",
            None,
        )


NO_SECRETS = ResourceValidationPolicy(
    name="no-secrets-in-user-data-or-tags",
    description="No private key, password, token or cloud key in user-data, tags or labels.",
    validate=validate_no_secrets,
)
