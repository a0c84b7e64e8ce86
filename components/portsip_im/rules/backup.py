"""restic backups: repository URLs (no credentials in them), an SFTP login, schedules, retention,
the environment, where a local repository may lie."""

from __future__ import annotations

import json
import re
from typing import Any

from .shapes import HOST_NAME, SHELL_UNSAFE, ordinary_path

# restic repository URLs the backup accepts: the backends Debian 12's restic (0.14) has, plus a
# local absolute path (a second disk, or a mount).
BACKUP_SCHEMES = ("s3:", "sftp:", "rest:", "b2:", "azure:", "gs:", "swift:", "rclone:")
# systemd calendar shorthands (systemd.time(7)). `minutely` and `hourly` are left out on purpose:
# every run stops IM for the length of the backup.
BACKUP_SCHEDULE_KEYWORDS = ("daily", "weekly", "monthly", "quarterly", "semiannually", "yearly")
# A conservative subset of systemd's OnCalendar syntax, checked at preview ("Mon..Fri 02:30",
# "*-*-* 03:00:00", "Sun 04:00 UTC"); backup.sh checks it again with `systemd-analyze calendar`.
_DAYS = r"(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)"
# The time of day must be concrete (HH:MM[:SS], hours 0-23, minutes and seconds 0-59): a `*` or a
# `/` there would run it every hour or minute, and every run stops IM.
_CALENDAR = re.compile(
    rf"(?:{_DAYS}(?:(?:\.\.|,){_DAYS})*\s+)?(?:[0-9*][0-9*,./~-]*\s+)?"
    r"(?:[01]?[0-9]|2[0-3]):[0-5][0-9](?::[0-5][0-9])?(?:\s+UTC)?"
)
# restic forget's --keep-* rules the backupKeep object may name.
BACKUP_KEEP_RULES = ("last", "hourly", "daily", "weekly", "monthly", "yearly")
_ENV_NAME = re.compile(r"[A-Z_][A-Z0-9_]*")
# backupEnv must not reach what the backup sets itself, nor the shell's own variables.
_ENV_RESERVED = re.compile(
    r"RESTIC_PASSWORD.*|RESTIC_REPOSITORY.*|RESTIC_CACHE_DIR|PATH|HOME|IFS|SHELL|LD_.*|BASH.*"
    r"|SHELLOPTS|EUID|UID|PPID|GROUPS"
)


def _backup_env_problems(text: str | dict[str, Any]) -> list[str]:
    """What is wrong with a backup.env secret (a JSON object NAME → value); never quotes a value."""
    if isinstance(text, dict):
        env: Any = text
    else:
        try:
            env = json.loads(text)
        except json.JSONDecodeError as exc:
            return [f"not a JSON object ({exc.msg})"]
    if not isinstance(env, dict):
        return ['must be a JSON object of environment variables, e.g. {"AWS_ACCESS_KEY_ID": …}']
    out = []
    for i, (name, value) in enumerate(env.items()):
        if not _ENV_NAME.fullmatch(name):
            # The name is not quoted: a value pasted in the wrong place would be shown.
            out.append(f"entry {i + 1}: its name is not an environment variable name (A-Z, 0-9, _)")
        elif _ENV_RESERVED.fullmatch(name):
            out.append(f"{name}: set by the backup itself (`backup.password`, `backup.repository`)")
        elif not isinstance(value, str):
            out.append(f"{name}: its value must be a string")
    return out


# `scheme://user:password@host`: an error message quotes what it refuses, and previews and CI logs
# keep it; a URL's credentials must not ride along (backup repositories refuse them for that
# reason). Pasted secrets are rarely URL-encoded (an AWS secret key often holds a `/`), so anything
# from `://` to an `@` with a `:` between counts.
URL_CREDENTIALS = re.compile(r"://[^@]*:[^@]*@")


def masked(value: object) -> object:
    """A rejected value as an error may show it: a URL's user and password replaced by ***."""
    if isinstance(value, str) and URL_CREDENTIALS.search(value):
        # Up to the last @: an unencoded @ or / in the password is masked too.
        return re.sub(r"://.*@", "://***@", value)
    if isinstance(value, str) and value.startswith("rclone:") and _RCLONE_SECRET.search(value):
        # Each credential option's value, up to the next option or the path.
        return _RCLONE_VALUE.sub(lambda m: m.group(1) + "***", value)
    return value


def backup_repository(value: str) -> str:
    value = value.strip()
    if value.startswith("/"):
        return ordinary_path(value)
    if SHELL_UNSAFE.search(value):
        raise ValueError("must not contain quotes, white space or shell characters")
    if not value.startswith(BACKUP_SCHEMES) or len(value.split(":", 1)[1]) == 0:
        raise ValueError(
            "must be a restic repository: "
            + ", ".join(f"`{p}…`" for p in BACKUP_SCHEMES)
            + " or an absolute local path"
        )
    if any(ch.isspace() for ch in value):
        raise ValueError("must not contain white space")
    if URL_CREDENTIALS.search(value):
        # The URL is a plain parameter (argv, state): a password in it would leak.
        raise ValueError(
            "carries a password in the URL; put credentials in `backup.env` (a secret)"
        )
    if value.startswith("rclone:") and _RCLONE_SECRET.search(value):
        # rclone's connection strings (`rclone::s3,access_key_id=…,secret_access_key=…:bucket`)
        # carry options in the same plain parameter.
        raise ValueError(
            "carries a credential in an rclone option; put it in `backup.env` (a secret), as "
            "RCLONE_CONFIG_… variables"
        )
    sftp_server(value)  # an `sftp:` one must name its server and path as restic reads them
    return value


# An rclone option naming a credential: key, secret, pass(word), token, sas, credentials.
_RCLONE_OPTION = r"[,:][a-z0-9_]*(?:key|secret|pass|token|sas|credentials)[a-z0-9_]*="
_RCLONE_SECRET = re.compile(_RCLONE_OPTION, re.IGNORECASE)
# ...and its value, up to the next option or the path (a quoted value whole).
_RCLONE_VALUE = re.compile(rf"({_RCLONE_OPTION})(?:\"[^\"]*\"?|'[^']*'?|[^,:]*)", re.IGNORECASE)

_SFTP_USER = re.compile(r"[A-Za-z0-9._][A-Za-z0-9._-]{0,63}")


def sftp_server(repository: str) -> tuple[str | None, str, int] | None:
    """The SFTP login of an `sftp:` repository, (user, host, port); None for other repositories.
    restic's two forms: `sftp:[USER@]HOST:PATH` and `sftp://[USER@]HOST[:PORT]//PATH`."""
    if not repository.startswith("sftp:"):
        return None
    rest = repository[len("sftp:") :]
    shape = "must name the SFTP server and a path: `sftp:USER@HOST:/PATH` or `sftp://USER@HOST:PORT//PATH`"
    port = 22
    if rest.startswith("//"):
        login, slash, path = rest[2:].partition("/")
        if re.fullmatch(r".*:[0-9]+", login) and not login.endswith("]"):
            login, _, number = login.rpartition(":")
            port = int(number)
    else:
        if "[" in rest:
            # restic cuts the short form at its first colon: an IPv6 address would be cut too.
            raise ValueError(
                "an IPv6 address needs the URL form: `sftp://USER@[ADDRESS]:PORT//PATH`"
            )
        login, slash, path = rest.partition(":")
    user, _, host = login.rpartition("@")
    host = host.removeprefix("[").removesuffix("]")
    if not slash or not path.strip("/") or not HOST_NAME.fullmatch(host) or not 0 < port < 65536:
        raise ValueError(shape)
    if user and not _SFTP_USER.fullmatch(user):
        raise ValueError("the SFTP user must be letters, digits, . _ and - (at most 64)")
    return user or None, host, port


def backup_schedule(value: str) -> str:
    value = " ".join(value.split())
    if value in BACKUP_SCHEDULE_KEYWORDS or _CALENDAR.fullmatch(value):
        return value
    raise ValueError(
        "must be a systemd calendar expression: "
        + ", ".join(BACKUP_SCHEDULE_KEYWORDS)
        + ", or e.g. `*-*-* 03:00:00`, `Mon..Fri 02:30`, `Sun 04:00 UTC`"
    )


def backup_keep(value: Any) -> dict[str, int]:
    if not isinstance(value, dict) or not value:
        raise ValueError('must be a JSON object, e.g. {"daily": 7, "weekly": 4}')
    for rule, count in value.items():
        if rule not in BACKUP_KEEP_RULES:
            raise ValueError(f"{rule!r} is not one of {', '.join(BACKUP_KEEP_RULES)}")
        if isinstance(count, bool) or not isinstance(count, int) or count < 1:
            raise ValueError(f"{rule}: must be a positive whole number")
    return value


def repository_placement(repo: str, storage_path: str | None) -> None:
    """A local repository must not lie in or over what the backup copies or keeps its state in."""
    if not repo.startswith("/"):
        return
    # A repository inside what it backs up would back itself up, be swapped out by a restore, and
    # go with the data disk; one on / would fill the system disk.
    data = (
        "/var/lib/portsip",
        storage_path,
        "/etc/portsip-im-backup",
        "/var/lib/portsip-im-backup",
    )
    inside = [
        p
        for p in data
        if p and (repo == p or repo.startswith(p.rstrip("/") + "/") or p.startswith(repo + "/"))
    ]
    if repo == "/" or inside:
        where = "/" if repo == "/" else inside[0]
        raise ValueError(
            f"{repo!r}: lies in or over {where}, which the backup copies or keeps its state in; "
            "use another disk or mount (e.g. /mnt/im-backup) or a remote repository"
        )


def backup_env(value: Any) -> Any:
    """The backup's environment, a JSON object (or its text) of NAME → value; never quoted."""
    if not isinstance(value, dict | str):
        value = json.dumps(value, default=str)  # a JSON list, number…: judged as what it is
    problems = _backup_env_problems(value)
    if problems:
        raise ValueError("; ".join(problems))
    return value
