"""Run the program's remote steps over real SSH in the lab, exactly as the component builds them.

The program is evaluated under Pulumi's mocks with a lab stack's config; each step's registered
inputs (`create`/`update`/`delete` command, `stdin`, `connection`) are then executed over SSH with
the same connection: the same user, the pinned host key, and pbx01 as jump host for the IM host.
What a step prints is fed back into the next evaluation, as the engine would.
"""

from __future__ import annotations

import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from portsip_im.remote import pinned_ssh_options
from tests.unit import harness as h

CMD = "command:remote:Command"
ORDER = [
    "pbx01-check",
    "host-key",
    "prepare",
    "whitelist",
    "token",
    "trust-key",
    "trust",
    "firewall",
    "deploy",
    "backup",
    "restore",
    "state",
    "restart",
    "upgrade",
    "health",
]


def lab_config(lab, **overrides: str) -> dict[str, str]:
    """The lab stack: target existing, the lab's addresses and keys (see Pulumi.lab.yaml)."""
    config = {
        "target": "existing",
        "privateIp": lab.im,
        "publicIp": lab.im_public,
        "pbx01Host": lab.pbx01,
        "pbx01HostKey": lab.pbx01_host_key,
        "imHostKey": lab.im_host_key,
        "dataDiskDevice": lab.im_data_disk,
        "storagePath": "/data/im",
        "requiredOs": "debian 12",
        "allowUndersizedHost": "true",
        "applyOsUpdates": "false",
        "pbxApiUrl": lab.pbx_api,
        "pbxApiTlsVerify": "false",
        "pbxAdminUser": lab.pbx_admin.user,
        "sshPrivateKey": Path(lab.key).read_text(),
        "pbxPassword": lab.pbx_password,
        "pbxAdminPassword": lab.pbx_admin.password,
    }
    config.update(overrides)
    return {k: v for k, v in config.items() if v is not None}


@dataclass
class Guide:
    lab: object
    config: dict[str, str]
    printed: dict[str, str] = field(default_factory=dict)
    outputs: list[subprocess.CompletedProcess] = field(default_factory=list)
    _tmp: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="portsip-im-guide-")))

    def steps(self) -> dict[str, h.Registered]:
        result = h.run(self.config, step_stdout=self.printed)
        return {r.name.removeprefix("im-"): r for r in result.mocks.of_type(CMD)}

    def _ssh(self, conn: dict) -> list[str]:
        key = self._tmp / "key"
        if not key.exists():
            key.write_text(conn["privateKey"])
            key.chmod(0o600)
        known = self._tmp / "known_hosts"
        entries = [f"{conn['host']} {conn['hostKey']}"]
        if conn.get("proxy"):
            entries.append(f"{conn['proxy']['host']} {conn['proxy']['hostKey']}")
        known.write_text("\n".join(entries) + "\n")
        common = pinned_ssh_options(key, known)
        args = ["ssh", *common]
        if conn.get("proxy"):
            p = conn["proxy"]
            jump = " ".join(["ssh", *common, "-W", "%h:%p", f"{p['user']}@{p['host']}"])
            args += ["-o", f"ProxyCommand={jump}"]
        return [*args, f"{conn['user']}@{conn['host']}"]

    def run(
        self, step: str, phase: str = "create", check: bool = True
    ) -> subprocess.CompletedProcess:
        r = self.steps()[step]
        command = r.inputs.get(phase)
        if command is None:
            return subprocess.CompletedProcess([], 0, "", "")
        done = subprocess.run(
            [*self._ssh(r.inputs["connection"]), command],
            input=r.inputs.get("stdin", ""),
            capture_output=True,
            text=True,
            timeout=600,
        )
        self.outputs.append(done)
        if phase != "delete":
            self.printed[step] = done.stdout
        if check and done.returncode != 0:
            raise AssertionError(f"step {step} ({phase}) failed:\n{done.stdout}\n{done.stderr}")
        return done

    def up(self, only: list[str] | None = None) -> None:
        present = self.steps()
        for step in ORDER:
            if step in present and (only is None or step in only):
                self.run(step)

    def destroy(self) -> None:
        present = self.steps()
        for step in reversed(ORDER):
            if step in present:
                self.run(step, "delete")

    def transcript(self) -> str:
        return "\n".join(p.stdout + p.stderr for p in self.outputs)
