"""The component as others use it, under the real engine against the lab (target `existing`):

- examples/embedded, a Python program that embeds ImServer and feeds it Outputs of its own
  resource (a local command reading the PBX node inventory);
- examples/yaml, a YAML program that uses ImServer through the component package
  (`packages:` as `pulumi package add` writes it), served by components/__main__.py.

Each: preview, up (the IM service answers on 8887), a second up with 0 remote commands, destroy.
Both run from a copy of the example, as a user has it, with the package's path made absolute.
"""

from __future__ import annotations

import json
import secrets
import shutil
import subprocess
import venv
from pathlib import Path

import pytest

from tests.e2e.engine import engine_env
from tests.e2e.stack import remote_commands
from tests.lab.fixture import REPO

pytestmark = [pytest.mark.e2e, pytest.mark.lab]


class Program:
    """A copy of one example with its own file backend, passphrase and stack `lab`."""

    def __init__(self, example: str, tmp: Path, env: dict[str, str]):
        self.dir = tmp / example
        shutil.copytree(REPO / "examples" / example, self.dir)
        self.env = {
            **env,
            "PULUMI_BACKEND_URL": f"file://{tmp / 'state'}",
            "PULUMI_CONFIG_PASSPHRASE": secrets.token_hex(16),
        }
        (tmp / "state").mkdir(exist_ok=True)
        self.transcript: list[str] = []

    def pulumi(self, *args: str, input: str = "", ok: bool = True) -> subprocess.CompletedProcess:
        done = subprocess.run(
            ["pulumi", "--non-interactive", *args],
            cwd=self.dir,
            env=self.env,
            input=input,
            capture_output=True,
            text=True,
            timeout=900,
        )
        self.transcript.append(done.stdout + done.stderr)
        if ok and done.returncode != 0:
            pytest.fail(f"pulumi {' '.join(args)}:\n{done.stdout}\n{done.stderr}")
        return done

    def configure(self, plain: dict[str, str], secret: dict[str, str]) -> None:
        self.pulumi("stack", "init", "lab")
        for key, value in plain.items():
            self.pulumi("config", "set", key, value)
        for key, value in secret.items():
            self.pulumi("config", "set", "--secret", key, input=value)


def lab_secrets(lab) -> dict[str, str]:
    return {
        "pbxPassword": lab.pbx_password,
        "pbxAdminPassword": lab.pbx_admin.password,
    }


def key_lines(lab) -> list[str]:
    return [line for line in Path(lab.key).read_text().splitlines() if len(line) > 20]


def the_cycle(lab, program: Program) -> None:
    """preview → up (IM on 8887) → no-op up (0 remote commands) → destroy, on a fresh lab."""
    preview = program.pulumi("preview")
    assert "portsip:im:ImServer" in preview.stdout and "im-deploy" in preview.stdout, preview.stdout
    program.pulumi("up", "--yes", "--skip-preview")
    assert lab.tcp_open("im", 8887), "the IM service does not answer on 8887"
    outputs = json.loads(program.pulumi("stack", "output", "--json").stdout)
    assert outputs["imEndpoint"] == f"{lab.im_public}:8887"
    assert outputs["imHealth"]["imPort8887"] == "open"
    before = remote_commands(lab)
    again = program.pulumi("up", "--yes", "--expect-no-changes")
    assert remote_commands(lab) == before, again.stdout
    program.pulumi("destroy", "--yes", "--skip-preview")
    assert not lab.tcp_open("im", 8887), "destroy left the IM service running"
    secrets_used = [*lab_secrets(lab).values(), *key_lines(lab)]
    seen = [s for s in secrets_used if any(s in t for t in program.transcript)]
    assert not seen, "a secret reached the engine's output"


@pytest.fixture
def fresh_lab(lab):
    lab.clear_faults()
    lab.reset_pbx01()
    lab.reset_im()
    return lab


def test_python_program_embeds_imserver_with_its_own_outputs(fresh_lab, tmp_path):
    lab = fresh_lab
    env = engine_env(tmp_path / "pulumi-home")
    program = Program("embedded", tmp_path, env)
    text = (program.dir / "Pulumi.yaml").read_text()
    (program.dir / "Pulumi.yaml").write_text(text.replace("../../venv", str(REPO / "venv")))
    inventory = tmp_path / "pbx-inventory.json"
    inventory.write_text(
        json.dumps(
            {
                "pbx01": {"private_ip": lab.pbx01},
                "im": {
                    "private_ip": lab.im,
                    "public_ip": lab.im_public,
                    "host_key": lab.im_host_key,
                },
            }
        )
    )
    program.configure(
        {
            "target": "existing",
            "inventoryCommand": f"cat {inventory}",
            "pbx01HostKey": lab.pbx01_host_key,
            "pbxAdminUser": lab.pbx_admin.user,
            "pbxApiTlsVerify": "false",
            "requiredOs": "debian 12",
            "applyOsUpdates": "false",
            "allowUndersizedHost": "true",
            "imDataDisk": lab.im_data_disk,
        },
        {"operatorPrivateKey": Path(lab.key).read_text(), **lab_secrets(lab)},
    )
    the_cycle(lab, program)


def package_venv(components: Path) -> None:
    """The component package's virtualenv (PulumiPlugin.yaml: venv/), which `pulumi install` would
    make from its requirements.txt: here it reuses the project's, pinned to the same versions."""
    venv.create(components / "venv", with_pip=False)
    site = next((components / "venv" / "lib").glob("python3*/site-packages"))
    project_site = next((REPO / "venv" / "lib").glob("python3*/site-packages"))
    (site / "project-venv.pth").write_text(f"{project_site}\n")


def test_yaml_program_uses_the_component_package(fresh_lab, tmp_path):
    lab = fresh_lab
    env = engine_env(tmp_path / "pulumi-home")
    components = tmp_path / "components"
    shutil.copytree(
        REPO / "components",
        components,
        ignore=shutil.ignore_patterns("venv", "*.egg-info", "__pycache__"),
    )
    package_venv(components)
    program = Program("yaml", tmp_path, env)
    text = (program.dir / "Pulumi.yaml").read_text()
    (program.dir / "Pulumi.yaml").write_text(text.replace("../../components", str(components)))
    program.configure(
        {
            "imPrivateIp": lab.im,
            "imPublicIp": lab.im_public,
            "imHostKey": lab.im_host_key,
            "imDataDisk": lab.im_data_disk,
            "pbx01Host": lab.pbx01,
            "pbx01HostKey": lab.pbx01_host_key,
            "pbxApiUrl": f"https://{lab.pbx01}:8887/api",
            "pbxAdminUser": lab.pbx_admin.user,
            "pbxApiTlsVerify": "false",
            "requiredOs": "debian 12",
            "applyOsUpdates": "false",
            "allowUndersizedHost": "true",
        },
        {"sshPrivateKey": Path(lab.key).read_text(), **lab_secrets(lab)},
    )
    # A misspelled property is refused by the package's schema at preview, before anything runs.
    good = (program.dir / "Pulumi.yaml").read_text()
    (program.dir / "Pulumi.yaml").write_text(good.replace("storagePath:", "storagePth:"))
    bad = program.pulumi("preview", ok=False)
    assert bad.returncode != 0 and "storagePth" in bad.stdout + bad.stderr
    (program.dir / "Pulumi.yaml").write_text(good)
    the_cycle(lab, program)
