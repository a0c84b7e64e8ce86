"""fleet/engine.py's Backend.stack_names through the real Automation API (LocalWorkspace) with a
fake `pulumi` on PATH that answers as the real CLI does (`stack ls --json`, `whoami --json`,
`stack export`) and logs each call: only this project's stacks are listed, whatever else a shared
backend holds. `pulumi stack ls` run in the project lists only its stacks, except in a DIY backend
of the old layout (no project folders: pulumi/pkg/backend/diy ListStacks keeps every stack whose
reference has no project), where it lists every project's by bare name; tried with pulumi
v3.274.1: from project A, `stack ls` listed project B's stack, and `preview` of it from A planned
to delete B's resources."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from fleet.engine import Backend
from fleet.model import FleetError

FAKE_PULUMI = """#!{python}
import json, os, sys
world = json.load(open(os.environ["FAKE_PULUMI_WORLD"]))
args = [a for a in sys.argv[1:] if a != "--non-interactive"]
with open(os.environ["FAKE_PULUMI_LOG"], "a") as log:
    log.write(json.dumps(args) + "\\n")
if args == ["version"]:
    print("v3.274.1")
elif args[:2] == ["stack", "ls"]:
    if world.get("ls_error"):
        sys.stderr.write(world["ls_error"])
        sys.exit(255)
    listed = [{{"name": n, "current": False, "resourceCount": 0}} for n in world["listed"]]
    print(json.dumps(listed))
elif args == ["whoami", "--json"]:
    print(json.dumps({{"user": "ops", "url": world["url"]}}))
elif args[:2] == ["stack", "export"]:
    name = args[args.index("--stack") + 1]
    if name in world.get("export_error", {{}}):
        sys.stderr.write(world["export_error"][name])
        sys.exit(255)
    projects = world["owners"].get(name, ["portsip-im"])
    urn = "urn:pulumi:{{0}}::{{1}}::pulumi:pulumi:Stack::{{1}}-{{0}}"
    resources = [{{"urn": urn.format(name, p)}} for p in projects]
    deployment = {{"manifest": {{"version": "v3.274.1"}}}}
    if resources:
        deployment["resources"] = resources
    print(json.dumps({{"version": 3, "deployment": deployment}}, indent=4))
else:
    sys.stderr.write(f"error: the fake pulumi does not know {{args}}\\n")
    sys.exit(2)
"""


class FakeCli:
    def __init__(self, tmp: Path, monkeypatch: pytest.MonkeyPatch):
        self.tmp = tmp
        self.world: dict = {"listed": [], "url": "file:///srv/state", "owners": {}}
        bin_dir = tmp / "bin"
        bin_dir.mkdir()
        (bin_dir / "pulumi").write_text(FAKE_PULUMI.format(python=sys.executable))
        (bin_dir / "pulumi").chmod(0o755)
        monkeypatch.setenv("PATH", f"{bin_dir}:/usr/bin:/bin")
        monkeypatch.setenv("FAKE_PULUMI_WORLD", str(tmp / "world.json"))
        monkeypatch.setenv("FAKE_PULUMI_LOG", str(tmp / "calls.log"))
        monkeypatch.setenv("PULUMI_AUTOMATION_API_SKIP_VERSION_CHECK", "true")

    def names(self) -> list[str]:
        (self.tmp / "world.json").write_text(json.dumps(self.world))
        return Backend().stack_names()

    def calls(self, verb: str) -> list[list[str]]:
        lines = (self.tmp / "calls.log").read_text().splitlines()
        return [c for c in map(json.loads, lines) if c[:2] == verb.split()]


@pytest.fixture
def cli(tmp_path, monkeypatch) -> FakeCli:
    return FakeCli(tmp_path, monkeypatch)


def test_a_legacy_diy_backend_lists_every_project_and_only_ours_are_kept(cli):
    cli.world["listed"] = ["fleet-1", "fleet-b", "fleet-new", "fleet-2"]
    # fleet-b is the billing project's; fleet-new was made (`stack init`) but never deployed.
    cli.world["owners"] = {"fleet-b": ["billing"], "fleet-new": []}
    assert cli.names() == ["fleet-1", "fleet-new", "fleet-2"]
    # The listing was the project's own (no --all), and each bare name's state was read
    # without --show-secrets (which could write a Pulumi.<stack>.yaml into the repository).
    assert cli.calls("stack ls") == [["stack", "ls", "--json"]]
    exports = cli.calls("stack export")
    assert sorted(c[3] for c in exports) == ["fleet-1", "fleet-2", "fleet-b", "fleet-new"]
    assert not any("--show-secrets" in c for c in exports)


def test_a_stack_whose_state_names_another_project_too_is_not_ours(cli):
    cli.world["listed"] = ["fleet-1", "mixed"]
    cli.world["owners"] = {"mixed": ["portsip-im", "billing"]}
    assert cli.names() == ["fleet-1"]


def test_qualified_names_of_another_project_are_dropped(cli):
    cli.world["listed"] = [
        "fleet-1",
        "organization/billing/fleet-3",
        "organization/portsip-im/fleet-2",
    ]
    assert cli.names() == ["fleet-1", "fleet-2"]


def test_a_cloud_backend_filters_by_project_itself_no_state_is_read(cli):
    cli.world["url"] = "https://api.pulumi.com"
    cli.world["listed"] = ["fleet-1", "acme/fleet-2", "acme/billing/fleet-3"]
    assert cli.names() == ["fleet-1", "acme/fleet-2"]
    assert cli.calls("stack export") == []


def test_an_unreadable_backend_or_state_is_a_fleet_error_with_the_reason(cli):
    cli.world["ls_error"] = (
        "error: could not list stacks:\n  read /srv/state/.pulumi/stacks: permission denied\n"
    )
    with pytest.raises(FleetError) as exc:
        cli.names()
    assert str(exc.value) == (
        "cannot list the backend's stacks: error: could not list stacks: read "
        "/srv/state/.pulumi/stacks: permission denied"
    )
    cli.world["ls_error"] = ""
    cli.world["listed"] = ["fleet-1"]
    cli.world["export_error"] = {"fleet-1": "error: checkpoint is corrupt\n"}
    with pytest.raises(FleetError, match="cannot read the state of stack fleet-1: error: check"):
        cli.names()
