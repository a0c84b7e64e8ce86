"""scripts/fleet on a two-cluster lab, real engine: the session's lab (cluster 1) and a second
cluster started here (PORTSIP_LAB_CLUSTER=2), one lab stack each (fleet-1, fleet-2) in one file
backend. Fleet `up` of the two new stacks; a no-op `up` with --parallel 1 never overlaps and with
--parallel 2 does (the report's start and end times); fleet `status` over both; `set imRelease`
and `up` with fleet-2 as canary upgrades both; a canary whose im.sh fails (the lab fault
imsh-fail-always on cluster 2) stops before fleet-1 is touched, and the report and exit status say
so; `set --secret` and every fleet output hold no secret. Both stacks are destroyed and the second
cluster stopped at the end, whatever happened."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import time
from pathlib import Path

import pytest

from tests.e2e.engine import engine_env
from tests.lab.fixture import REPO, Lab, run_lab

pytestmark = [pytest.mark.e2e, pytest.mark.lab]

STACKS = ("fleet-1", "fleet-2")
CLUSTER2 = {"PORTSIP_LAB_CLUSTER": "2"}


class Fleet:
    def __init__(self, lab: Lab, lab2: Lab, tmp: Path):
        self.labs = {"fleet-1": lab, "fleet-2": lab2}
        self.passphrase = secrets.token_hex(16)
        self.dirs = {name: tmp / name for name in STACKS}
        self.env = {
            **engine_env(tmp / "pulumi-home"),
            "PULUMI_BACKEND_URL": f"file://{tmp / 'state'}",
            "PULUMI_CONFIG_PASSPHRASE": self.passphrase,
            "PORTSIP_LAB_KEEP": "1",
        }
        (tmp / "state").mkdir()
        self.outputs: list[str] = []
        self.extra_secrets: list[str] = []
        self.upgraded: dict[str, str | None] = {}

    def lab_stack(self, name: str, *args: str, check: bool = True):
        cluster = {} if name == "fleet-1" else CLUSTER2
        env = {
            **self.env,
            **cluster,
            "PORTSIP_LAB_STACK": name,
            "PORTSIP_LAB_STACK_DIR": str(self.dirs[name]),
        }
        done = subprocess.run(
            [str(REPO / "scripts" / "lab-stack"), *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=900,
            check=False,
        )
        if check and done.returncode != 0:
            pytest.fail(f"lab-stack {name} {' '.join(args)}:\n{done.stdout}\n{done.stderr}")
        return done

    def __call__(self, *args: str, input: str | None = None) -> subprocess.CompletedProcess:
        cfg = [a for d in self.dirs.values() for a in ("--config-dir", str(d))]
        done = subprocess.run(
            [str(REPO / "scripts" / "fleet"), *args, *cfg],
            env=self.env,
            input=input if input is not None else "",
            capture_output=True,
            text=True,
            timeout=1800,
            check=False,
        )
        self.outputs.append(done.stdout + done.stderr)
        print(f"$ scripts/fleet {' '.join(args)}\n{done.stdout}{done.stderr}")
        return done

    def report(self, *args: str, rc: int = 0) -> dict:
        done = self(*args, "--json")
        assert done.returncode == rc, done.stdout + done.stderr
        doc = json.loads(done.stdout)
        found = {s["stack"]: s for s in doc["stacks"]}
        found["_order"] = [s["stack"] for s in doc["stacks"]]
        return found

    def release(self, name: str) -> str | None:
        return self.labs[name].standin_state().get("release")

    def secret_values(self) -> dict[str, str]:
        found = {self.passphrase: "the passphrase"}
        for name, lab in self.labs.items():
            found[lab.pbx_password] = f"{name}'s pbx password"
            found[lab.pbx_admin.password] = f"{name}'s PBX admin password"
            token = lab.im_token()
            if token:
                found[token] = f"{name}'s IM token"
            for line in Path(lab.key).read_text().splitlines():
                if len(line) > 20 and not line.startswith("-----"):
                    found[line] = f"a line of {name}'s operator key"
            backup = self.dirs[name] / "backup-password"
            if backup.exists():
                found[backup.read_text().strip()] = f"{name}'s backup password"
        for v in self.extra_secrets:
            found[v] = "the secret given to fleet set --secret"
        return found


@pytest.fixture(scope="module")
def fleet(lab, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("fleet")
    lab.clear_faults()
    lab.reset_pbx01()
    lab.reset_im()
    made: list[Fleet] = []
    try:
        # Registered before `up`: a crashed up of cluster 2 is cleaned up too (finally below).
        up = run_lab("up", env=CLUSTER2, timeout=600)
        assert up.returncode == 0, f"cluster 2 did not start:\n{up.stderr}{up.stdout}"
        lab2 = Lab.from_up(up.stdout)
        assert lab2.pbx01 == "10.213.8.11" and lab2.im == "10.213.8.12"
        f = Fleet(lab, lab2, tmp)
        made.append(f)
        for name in STACKS:
            f.lab_stack(name, "configure")
        yield f
    finally:
        run_lab("fault", "clear", env=CLUSTER2)
        for f in made:
            for name in STACKS:
                if f.dirs[name].exists():
                    f.lab_stack(name, "destroy", check=False)
        down = run_lab("down", env=CLUSTER2, timeout=300)
        assert down.returncode == 0, f"cluster 2 did not stop:\n{down.stderr}"


def overlap(a: dict, b: dict) -> bool:
    return a["started"] < b["ended"] and b["started"] < a["ended"]


def test_up_of_two_new_stacks(fleet):
    t0 = time.monotonic()
    r = fleet.report("up", "--glob", "fleet-*", "--parallel", "2")
    print(f"first fleet up of both, --parallel 2: {time.monotonic() - t0:.1f} s")
    for name in STACKS:
        assert r[name]["result"] == "ok"
        assert r[name]["remote_steps"] >= 8, r[name]  # the guide's steps, each over SSH
        assert r[name]["changes"] > r[name]["remote_steps"]
        assert r[name]["im_health"], r[name]
        assert fleet.labs[name].standin_state()["state"] == "running"
    # Each stack deployed to its own cluster's addresses.
    assert fleet.labs["fleet-2"].standin_state()["private_ip"] == "10.213.8.12"
    assert fleet.labs["fleet-1"].standin_state()["private_ip"] == fleet.labs["fleet-1"].im


def test_noop_up_parallel_1_never_overlaps_parallel_2_does(fleet):
    t0 = time.monotonic()
    one = fleet.report("up", *STACKS, "--parallel", "1")
    t1 = time.monotonic()
    two = fleet.report("up", *STACKS, "--parallel", "2")
    t2 = time.monotonic()
    print(
        f"no-op fleet up of 2 stacks: --parallel 1 {t1 - t0:.1f} s, --parallel 2 {t2 - t1:.1f} s, "
        f"ratio {(t1 - t0) / (t2 - t1):.2f}"
    )
    for r in (one, two):
        assert all(r[n]["result"] == "ok" and r[n]["remote_steps"] == 0 for n in STACKS), r
    assert not overlap(one["fleet-1"], one["fleet-2"])
    assert one["fleet-2"]["started"] >= one["fleet-1"]["ended"]
    assert overlap(two["fleet-1"], two["fleet-2"])


def test_status_over_both(fleet):
    # Selected by a stack tag this time (the file backend keeps stack tags).
    for name in STACKS:
        subprocess.run(
            ["pulumi", "stack", "tag", "set", "region", "lab", "--stack", name],
            cwd=REPO,
            env=fleet.env,
            check=True,
            capture_output=True,
        )
    assert fleet("status", "--tag", "region=elsewhere").returncode == 2
    done = fleet("status", "--tag", "region=lab")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "portsip-im status: stack fleet-1" in done.stdout
    assert "portsip-im status: stack fleet-2" in done.stdout
    assert f"open on {fleet.labs['fleet-1'].im}" in done.stdout
    assert "open on 10.213.8.12" in done.stdout
    assert done.stdout.rstrip().endswith("OK: 2 ok, 0 failed, 0 skipped")


def test_set_and_canary_up_upgrades_both(fleet):
    before = {name: fleet.release(name) for name in STACKS}
    done = fleet("set", "imRelease=22.3.7", "--glob", "fleet-*")
    assert done.returncode == 0, done.stdout + done.stderr
    r = fleet.report("up", "--glob", "fleet-*", "--canary", "fleet-2")
    assert r["_order"] == ["fleet-2", "fleet-1"]
    assert r["fleet-2"]["canary"] is True
    for name in STACKS:
        assert r[name]["result"] == "ok", r[name]
        assert r[name]["remote_steps"] >= 1
        # imRelease changed, so im.sh upgrade ran: the stand-in's release moved on.
        assert fleet.release(name) not in (None, before[name]), (name, before)
        fleet.upgraded[name] = fleet.release(name)
    # The rest started only after the canary had ended (and been judged healthy).
    assert r["fleet-1"]["started"] >= r["fleet-2"]["ended"]


def test_failing_canary_stops_before_the_second_stack(fleet):
    lab1 = fleet.labs["fleet-1"]
    p = run_lab("fault", "imsh-fail-always", env=CLUSTER2)
    assert p.returncode == 0, p.stderr
    try:
        assert fleet("set", "imRelease=22.3.8", *STACKS).returncode == 0
        before = len(lab1.commands("pbx01")) + len(lab1.commands("im"))
        done = fleet("up", *STACKS, "--canary", "fleet-2")
        assert done.returncode == 1, done.stdout + done.stderr
        lines = done.stdout.splitlines()
        row = {ln.split()[0]: ln.split() for ln in lines if ln.startswith("fleet-")}
        assert row["fleet-2"][1:3] == ["(canary)", "failed"], done.stdout
        assert row["fleet-1"][1] == "skipped", done.stdout
        assert "fleet-1: not started: canary fleet-2 failed" in done.stdout
        assert "FAILED: 0 ok, 1 failed, 1 skipped" in done.stdout
        assert not any("start  fleet-1" in ln for ln in lines)
        # fleet-1 untouched: no command reached its cluster, its IM keeps its release.
        assert len(lab1.commands("pbx01")) + len(lab1.commands("im")) == before
        for name in STACKS:
            assert fleet.release(name) == fleet.upgraded[name]
    finally:
        run_lab("fault", "clear", env=CLUSTER2)


def test_set_secret_and_no_secret_in_any_fleet_output(fleet):
    value = "fleet-" + secrets.token_hex(12)
    fleet.extra_secrets.append(value)
    done = fleet("set", "--secret", "backupPassword", *STACKS, input=value + "\n")
    assert done.returncode == 0, done.stdout + done.stderr
    for name in STACKS:
        text = (fleet.dirs[name] / f"Pulumi.{name}.yaml").read_text()
        assert "backupPassword:\n    secure:" in text and value not in text
    leaks = [
        f"{what} in fleet output #{i + 1}"
        for i, out in enumerate(fleet.outputs)
        for v, what in fleet.secret_values().items()
        if len(v) >= 8 and v in out
    ]
    assert not leaks, leaks
    # Nothing the fleet ran wrote a stack file into the repository (each stack's config is in
    # its own lab-stack dir).
    assert not list(REPO.glob("Pulumi.fleet-*.yaml"))
    assert os.environ.get("PULUMI_CONFIG_PASSPHRASE") != fleet.passphrase
