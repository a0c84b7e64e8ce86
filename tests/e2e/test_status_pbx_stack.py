"""scripts/status follows `pbxStack` on the real engine: with pbx01Host and pbxVirtualIp unset in
the lab stack's config, it reads them from a second, tiny stack in the same file backend (project
portsip-pbx, outputs only), reaches pbx01 at the address that stack gives, and fails with exit 2
naming the problem when that stack cannot be read or gives an address the rules refuse."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.e2e.engine import engine_env
from tests.e2e.stack import Stack, fresh_stack, secret_values
from tests.lab.fixture import REPO

pytestmark = [pytest.mark.e2e, pytest.mark.lab]

PBX_PROJECT = "portsip-pbx"


@pytest.fixture(scope="module")
def deployed(lab, tmp_path_factory):
    with fresh_stack(lab, tmp_path_factory.mktemp("status-pbx-stack")) as s:
        s("up")
        yield s


def backend_env(stack: Stack) -> dict[str, str]:
    """The lab stack's backend and passphrase, with the engine on PATH."""
    return {
        **engine_env(),
        "PULUMI_HOME": stack.env["PULUMI_HOME"],
        "PULUMI_BACKEND_URL": f"file://{stack.dir / 'state'}",
        "PULUMI_CONFIG_PASSPHRASE": stack.passphrase,
        "PULUMI_SKIP_UPDATE_CHECK": "true",
    }


def pbx_stack(stack: Stack, tmp: Path, name: str, **outputs: str) -> str:
    """A stack of project portsip-pbx in the lab's backend exporting `outputs`; its full name."""
    folder = tmp / f"pbx-{name}"
    folder.mkdir()
    (folder / "Pulumi.yaml").write_text(
        f"name: {PBX_PROJECT}\nruntime:\n  name: python\n  options:\n"
        f"    virtualenv: {REPO / 'venv'}\n"
    )
    exports = "".join(f"pulumi.export({k!r}, {v!r})\n" for k, v in outputs.items())
    (folder / "__main__.py").write_text("import pulumi\n" + exports)
    env = backend_env(stack)
    for args in (["stack", "init", name], ["up", "--yes", "--skip-preview"]):
        subprocess.run(
            ["pulumi", "--non-interactive", *args], cwd=folder, env=env, check=True, timeout=300
        )
    return f"organization/{PBX_PROJECT}/{name}"


def config_following(stack: Stack, tmp: Path, pbx: str) -> Path:
    """The lab stack's config file (as its last `up` wrote it) with pbx01Host and pbxVirtualIp
    removed and pbxStack naming `pbx`."""
    lines = (stack.dir / "Pulumi.lab.yaml").read_text().splitlines()
    gone = ("  portsip-im:pbx01Host:", "  portsip-im:pbxVirtualIp:")
    kept = [ln for ln in lines if not ln.startswith(gone)]
    assert len(kept) == len(lines) - 2, "the lab config no longer sets both keys"
    at = kept.index("config:") + 1
    kept.insert(at, f"  portsip-im:pbxStack: {pbx}")
    path = tmp / f"Pulumi.lab.{pbx.rsplit('/', 1)[-1]}.yaml"
    path.write_text("\n".join(kept) + "\n")
    return path


def status(stack: Stack, config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(REPO / "scripts" / "status"), "lab", "--config-file", str(config), *args],
        env={**stack.env, **backend_env(stack)},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_status_reads_pbx01_and_the_vip_from_the_pbx_stack(lab, deployed, tmp_path):
    pbx = pbx_stack(deployed, tmp_path, "lab-pbx", pbx01Host=lab.pbx01, pbxVirtualIp=lab.pbx01)
    done = status(deployed, config_following(deployed, tmp_path, pbx))
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"open on {lab.im}" in done.stdout and done.stdout.rstrip().endswith("OK")
    for value in secret_values(lab):
        assert value not in done.stdout + done.stderr


def test_the_address_really_comes_from_the_pbx_stack(lab, deployed, tmp_path):
    # The PBX stack sends status to the IM host's address, where pbx01's pinned key does not
    # match: it must fail there, naming that address (not the lab config's pbx01, now unset).
    pbx = pbx_stack(deployed, tmp_path, "elsewhere", pbx01Host=lab.im, pbxVirtualIp=lab.pbx01)
    done = status(deployed, config_following(deployed, tmp_path, pbx))
    assert done.returncode == 2, done.stdout + done.stderr
    assert f"pbx01 (pbx@{lab.im})" in done.stderr, done.stderr


def test_a_public_vip_from_the_pbx_stack_is_refused(lab, deployed, tmp_path):
    pbx = pbx_stack(deployed, tmp_path, "public", pbx01Host=lab.pbx01, pbxVirtualIp="104.18.36.130")
    done = status(deployed, config_following(deployed, tmp_path, pbx), "--json")
    assert done.returncode == 2, done.stdout + done.stderr
    assert (
        f"portsip-im:pbxVirtualIp: not set, and 104.18.36.130 from pbxStack {pbx}'s output "
        "pbxVirtualIp is not a private address" in done.stdout
    )


def test_an_unreadable_pbx_stack_is_exit_2_naming_it(deployed, tmp_path):
    missing = f"organization/{PBX_PROJECT}/no-such-stack"
    done = status(deployed, config_following(deployed, tmp_path, missing))
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stdout == ""
    assert done.stderr.startswith(
        f"status: portsip-im:pbxStack: cannot read the outputs of {missing!r} (they fill "
        "pbx01Host and pbxVirtualIp): error: no stack named"
    ), done.stderr
