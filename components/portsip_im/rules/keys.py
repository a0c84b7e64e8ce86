"""SSH keys and line-based secrets: one public key on one line, a host key the command provider
can pin, a private key without passphrase, a password a line-based tool reads."""

from __future__ import annotations

import base64
import re

_SSH_KEY_TYPES = {
    "ssh-ed25519",
    "ssh-rsa",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
}
_BASE64 = re.compile(r"[A-Za-z0-9+/]+={0,2}")


def ssh_key(value: str) -> str:
    """An SSH public key, `TYPE BASE64 [comment]`, stripped: one key on one line. A line break
    would make a second line wherever the key is written (known_hosts, authorized_keys): a second
    key, or a pattern such as `*`, trusted beside the one meant."""
    if _CONTROL.search(value.strip()):
        raise ValueError(
            "must be one SSH public key on one line (it holds a line break or a control character)"
        )
    parts = value.split()
    if len(parts) < 2 or parts[0] not in _SSH_KEY_TYPES or not _BASE64.fullmatch(parts[1]):
        raise ValueError("must be an SSH public key, `TYPE BASE64` (e.g. ssh-ed25519 AAAA…)")
    if any(part in _SSH_KEY_TYPES for part in parts[2:]):
        raise ValueError("must be one SSH public key (a second key type follows the first)")
    return value.strip()


# Control characters (line breaks, NUL, tab...) in a value that a line-based file or tool reads.
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def one_line_secret(value: str) -> str:
    """A secret that a line-based tool reads (chpasswd's `user:password` lines, restic's password
    file): a line break would end it early or start another record. Never quoted."""
    if re.search(r"[\r\n\x00]", str(value)):
        raise ValueError("must be on one line (it holds a line break or a NUL character)")
    return value


def pinned_key(value: str) -> str:
    """A public key to pin, as `TYPE BASE64`: the comment is not part of the key."""
    ssh_key(value)
    return " ".join(value.split()[:2])


def host_key(value: str) -> str:
    """A host key to pin, as `TYPE BASE64` (the comment is not part of the key)."""
    ssh_key(value)
    # The command provider offers the server exactly the pinned key's type; for an RSA key that is
    # `ssh-rsa` (SHA-1 signatures), which OpenSSH 8.8 and later refuse: every dial would fail ("no
    # common algorithm for host key"). Seen on the lab's sshd.
    if value.split()[0] == "ssh-rsa":
        raise ValueError(
            "is an ssh-rsa host key, which the command provider can only verify with SHA-1 "
            "`ssh-rsa` signatures that OpenSSH 8.8+ servers refuse: pin the host's ed25519 "
            "key instead (`ssh-keyscan -t ed25519 HOST`)"
        )
    return pinned_key(value)


def _ssh_private_key_problems(text: str) -> list[str]:
    """What is wrong with an SSH private key given in config (its content is never quoted)."""
    lines = text.strip().splitlines()
    if not lines or not re.fullmatch(r"-----BEGIN [A-Z ]*PRIVATE KEY-----", lines[0].strip()):
        return ["must be an SSH private key (the whole file, from `-----BEGIN … PRIVATE KEY-----`)"]
    if not re.fullmatch(r"-----END [A-Z ]*PRIVATE KEY-----", lines[-1].strip()):
        return ["is cut short: no `-----END … PRIVATE KEY-----` line"]
    if "ENCRYPTED" in text or _openssh_cipher(lines[1:-1]) not in (None, "none"):
        return ["is protected by a passphrase; the backup timer cannot type one: use a key without"]
    return []


def _openssh_cipher(body: list[str]) -> str | None:
    """The cipher of an `openssh-key-v1` key (`none` when it has no passphrase); None for another
    format or a body that does not decode."""
    magic = b"openssh-key-v1\0"
    try:
        raw = base64.b64decode("".join(line.strip() for line in body), validate=True)
    except ValueError:
        return None
    if not raw.startswith(magic) or len(raw) < len(magic) + 4:
        return None
    size = int.from_bytes(raw[len(magic) : len(magic) + 4], "big")
    return raw[len(magic) + 4 : len(magic) + 4 + size].decode("ascii", "replace")


def ssh_private_key(value: str) -> str:
    problems = _ssh_private_key_problems(value)
    if problems:
        raise ValueError("; ".join(problems))
    return value
