"""What `scripts/status` runs on pbx01 and how it gets there: one read-only script
(scripts/status.d/status.sh after lib.sh and pbx-api.sh), reached the way the program reaches
pbx01 (the operator's key, pbx01's pinned host key, secrets on stdin only); its last line of
output is the JSON report the judge reads."""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from portsip_im import naming, remote
from portsip_im.pbx import PbxAccess
from portsip_im.steps import DEFAULT_DATA_PATH
from stack_config import NAMESPACE, key_of_path

from .model import BACKUP_STATUS, ROOT, Stack, StatusError

REMOTE_SCRIPT = ROOT / "scripts" / "status.d" / "status.sh"


def probe_params(stack: Stack) -> dict[str, str]:
    """status.sh's plain parameters: as the program's steps get them, never a secret."""
    c = stack.config
    api_url = c.pbx_api_url or (f"https://{c.pbx_virtual_ip}:8887/api" if c.pbx_virtual_ip else "")
    pbx = PbxAccess(
        mode=c.pbx_api,
        api_url=api_url.rstrip("/"),
        login=c.pbx_api_login,
        login_path=c.pbx_api_login_path,
        tls_verify=c.pbx_api_tls_verify,
        admin_user=c.pbx_admin_user,
        admin_password=None,
        im_token=None,
        whitelist_confirmed=c.whitelist_confirmed,
        pinned_public_key=c.pbx_api_pinned_public_key,
    )
    params = {k: str(v) for k, v in pbx.params().items()}
    params.update(
        IM_IP=str(stack.outputs["imPrivateIp"]),
        PBX_USER=c.pbx01_user,
        DATA_PATH=DEFAULT_DATA_PATH,
        STORAGE_PATH=c.storage_path or "",
        BACKUP_STATUS=BACKUP_STATUS,
    )
    return params


def run_probe(stack: Stack, timeout: int = 180) -> dict[str, Any]:
    """Run status.sh on pbx01 over pinned SSH; its JSON report."""
    c = stack.config
    if not c.pbx01_host:
        raise StatusError(f"{NAMESPACE}:pbx01Host: not set, and no pbxStack supplies it")
    # As remote.step assembles a step: lib.sh, the PBX client, then the step itself.
    parts = (remote.SCRIPTS / "lib.sh", remote.SCRIPTS / "pbx-api.sh", REMOTE_SCRIPT)
    # This program's words in the probe's messages, as in its steps' (naming.in_script).
    text = naming.in_script("\n".join(part.read_text() for part in parts), key_of_path)
    command = remote.render("status", text, probe_params(stack))
    stdin = remote.stdin_text(
        text,
        remote.encode_secrets(
            {
                "PBX_ADMIN_PASSWORD": stack.secrets.get("pbxAdminPassword"),
                "PBX_CA_CERT": c.pbx_api_ca_certificate,
            }
        ),
    )
    with tempfile.TemporaryDirectory(prefix="portsip-im-status-") as tmp:
        key = Path(tmp) / "key"
        # 0600 from the start: the key is never readable by anyone else, not even for a moment.
        fd = os.open(key, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(stack.secrets["sshPrivateKey"].rstrip("\n") + "\n")
        known = Path(tmp) / "known_hosts"
        known.write_text(f"{c.pbx01_host} {c.pbx01_host_key}\n")
        ssh = [
            "ssh",
            *remote.pinned_ssh_options(key, known, c.ssh_per_dial_timeout),
            f"{c.pbx01_user}@{c.pbx01_host}",
            command,
        ]
        try:
            done = subprocess.run(
                ssh, input=stdin, capture_output=True, text=True, timeout=timeout, check=False
            )
        except subprocess.TimeoutExpired:
            raise StatusError(f"pbx01 ({c.pbx01_host}): no answer within {timeout}s") from None
    last = done.stdout.strip().splitlines()[-1:] or [""]
    try:
        report: dict[str, Any] = json.loads(last[0])
    except ValueError:
        why = (done.stderr.strip().splitlines() or ["no output"])[-1][:300]
        raise StatusError(
            f"pbx01 ({c.pbx01_user}@{c.pbx01_host}): the status probe failed: {why}"
        ) from None
    return report
