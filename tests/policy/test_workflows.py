"""The GitHub workflows: actionlint passes them and fails a broken copy; they preview on pull
requests and deploy on main with the policy pack, for every stack, with pinned versions.

actionlint comes from scripts/install-actionlint (built from the Go module proxy, cached outside
the repository), or from $ACTIONLINT. It checks expressions, action inputs (it knows
pulumi/actions@v6's) and, through shellcheck, the `run:` scripts.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = ROOT / ".github" / "workflows"
FILES = sorted(WORKFLOWS.glob("*.yml"))


@pytest.fixture(scope="module")
def actionlint() -> str:
    if os.environ.get("ACTIONLINT"):
        return os.environ["ACTIONLINT"]
    done = subprocess.run(
        [str(ROOT / "scripts" / "install-actionlint")],
        capture_output=True,
        text=True,
        timeout=900,
    )
    if done.returncode != 0:
        pytest.fail(f"scripts/install-actionlint failed:\n{done.stderr[-3000:]}")
    return done.stdout.strip().splitlines()[-1]


def lint(actionlint: str, root: Path) -> subprocess.CompletedProcess:
    shellcheck = shutil.which("shellcheck") or str(ROOT / "venv" / "bin" / "shellcheck")
    files = sorted(str(p.relative_to(root)) for p in (root / ".github" / "workflows").glob("*.yml"))
    return subprocess.run(
        [actionlint, "-no-color", "-oneline", "-shellcheck", shellcheck, "-pyflakes", "", *files],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=120,
    )


def load(path: Path) -> dict:
    doc = yaml.safe_load(path.read_text())
    doc["on"] = doc.pop(True, doc.get("on"))  # YAML 1.1 reads the key `on` as true
    return doc


def steps_using(doc: dict, action: str) -> list[dict]:
    return [
        step
        for job in doc["jobs"].values()
        for step in job.get("steps", [])
        if str(step.get("uses", "")).startswith(action)
    ]


def pin(requirements: Path, package: str) -> str:
    match = re.search(rf"^{re.escape(package)}==(\S+)", requirements.read_text(), re.M)
    assert match, f"{requirements.name} does not pin {package}"
    return match.group(1)


def test_workflows_exist():
    assert [p.name for p in FILES] == ["deploy.yml", "drift.yml", "preview.yml"]


def test_actionlint_passes_the_workflows(actionlint):
    done = lint(actionlint, ROOT)
    assert done.returncode == 0, done.stdout + done.stderr


BREAKAGES = {
    "unknown-action-input": ("policyPacks: policy", "policyPack: policy", 'input "policyPack"'),
    "undefined-matrix-key": ("${{ matrix.stack }}", "${{ matrix.stacks }}", 'property "stacks"'),
    "script-injection": (
        "run: scripts/setup",
        'run: echo "${{ github.event.pull_request.title }}" && scripts/setup',
        "potentially untrusted",
    ),
    "bad-yaml": ("jobs:", "jobs:\n  - [", "could not parse"),
}


@pytest.mark.parametrize("name", sorted(BREAKAGES))
def test_actionlint_fails_a_broken_workflow(actionlint, tmp_path, name):
    old, new, expected = BREAKAGES[name]
    copy = tmp_path / ".github" / "workflows"
    copy.mkdir(parents=True)
    text = (WORKFLOWS / "preview.yml").read_text()
    assert old in text
    (copy / "preview.yml").write_text(text.replace(old, new, 1))
    done = lint(actionlint, tmp_path)
    assert done.returncode != 0, f"actionlint passed a broken workflow ({name})"
    assert expected in done.stdout + done.stderr


def test_preview_on_pull_requests_with_pr_comment_and_policy_pack():
    doc = load(WORKFLOWS / "preview.yml")
    assert "pull_request" in doc["on"] and "push" not in doc["on"]
    assert doc["permissions"]["pull-requests"] == "write"
    (step,) = steps_using(doc, "pulumi/actions@v6")
    assert step["with"]["command"] == "preview"
    assert step["with"]["comment-on-pr"] is True
    assert step["with"]["policyPacks"] == "policy"
    assert step["with"]["stack-name"] == "${{ matrix.stack }}"


def test_deploy_on_push_to_main_with_policy_pack():
    doc = load(WORKFLOWS / "deploy.yml")
    assert doc["on"]["push"]["branches"] == ["main"] and "pull_request" not in doc["on"]
    (step,) = steps_using(doc, "pulumi/actions@v6")
    assert step["with"]["command"] == "up"
    assert step["with"]["policyPacks"] == "policy"
    (job,) = doc["jobs"].values()
    assert job["concurrency"]["cancel-in-progress"] is False


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_every_stack_is_in_the_matrix_and_versions_are_pinned(path):
    doc = load(path)
    # The lab stack runs on one machine against its local lab (scripts/lab-stack), never in CI.
    local_only = {"lab"}
    stacks = sorted(
        name
        for p in ROOT.glob("Pulumi.*.yaml")
        if (name := p.name[len("Pulumi.") : -len(".yaml")]) not in local_only
    )
    (job,) = doc["jobs"].values()
    assert sorted(job["strategy"]["matrix"]["stack"]) == stacks
    (step,) = steps_using(doc, "pulumi/actions@v6")
    assert str(step["with"]["pulumi-version"]) == pin(ROOT / "requirements.txt", "pulumi")
    # The pack's virtualenv is what PulumiPolicy.yaml names, built from policy/requirements.txt.
    setup = " ".join(str(s.get("run", "")) for s in job["steps"])
    assert "python -m venv policy/venv" in setup and "-r policy/requirements.txt" in setup
    packs = yaml.safe_load((ROOT / "policy" / "PulumiPolicy.yaml").read_text())
    assert packs["runtime"]["options"]["virtualenv"] == "venv"


def test_policy_pack_pins_match_the_program():
    pack = ROOT / "policy" / "requirements.txt"
    for package in ("pulumi",):
        assert pin(pack, package) == pin(ROOT / "requirements.txt", package), package
    dev = ROOT / "requirements-dev.txt"
    if "pulumi-policy" in dev.read_text():
        assert pin(pack, "pulumi-policy") == pin(dev, "pulumi-policy")


DRIFT_BREAKAGES = {
    "misspelt-preview-input": (
        "expect-no-changes: true",
        "expect-no-change: true",
        'input "expect-no-change"',
    ),
    "undefined-step-outcome": (
        "if: steps.preview.outcome == 'failure' || steps.status.outcome == 'failure'\n        env:",
        "if: steps.previews.outcome == 'failure'\n        env:",
        'property "previews"',
    ),
    "status-output-injected-in-shell": (
        'echo "- \\`scripts/status --json\\`: $STATUS"',
        'echo "${{ github.event.issue.title }}"',
        "potentially untrusted",
    ),
}


@pytest.mark.parametrize("name", sorted(DRIFT_BREAKAGES))
def test_actionlint_fails_a_broken_drift_workflow(actionlint, tmp_path, name):
    old, new, expected = DRIFT_BREAKAGES[name]
    copy = tmp_path / ".github" / "workflows"
    copy.mkdir(parents=True)
    text = (WORKFLOWS / "drift.yml").read_text()
    assert old in text, name
    (copy / "drift.yml").write_text(text.replace(old, new, 1))
    done = lint(actionlint, tmp_path)
    assert done.returncode != 0, f"actionlint passed a broken drift workflow ({name})"
    assert expected in done.stdout + done.stderr


def test_drift_is_scheduled_refreshes_expects_no_changes_and_runs_status():
    doc = load(WORKFLOWS / "drift.yml")
    assert doc["on"]["schedule"] and "workflow_dispatch" in doc["on"]
    assert "pull_request" not in doc["on"] and "push" not in doc["on"]
    assert doc["permissions"]["issues"] == "write"
    (step,) = steps_using(doc, "pulumi/actions@v6")
    assert step["with"]["command"] == "preview"
    assert step["with"]["refresh"] is True and step["with"]["expect-no-changes"] is True
    assert step["with"]["policyPacks"] == "policy"
    assert step["continue-on-error"] is True  # the status still runs, the issue still opens
    (job,) = doc["jobs"].values()
    by_id = {s.get("id"): s for s in job["steps"]}
    assert 'scripts/status "$STACK" --json' in by_id["status"]["run"]
    assert by_id["status"]["continue-on-error"] is True
    issue = next(s for s in job["steps"] if "gh issue create" in str(s.get("run", "")))
    assert "steps.preview.outcome == 'failure'" in issue["if"]
    assert "steps.status.outcome == 'failure'" in issue["if"]
    # One issue per stack: an open one is commented on, not duplicated.
    assert "gh issue comment" in issue["run"] and "gh issue list --state open" in issue["run"]
    # And the run itself fails, so the schedule's history shows it.
    assert job["steps"][-1]["run"].rstrip().endswith("exit 1")
