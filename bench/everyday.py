"""The day-2 changes of one lab stack, counted (remote commands, vendor verbs), a no-op up timed
against an empty program's, backups and a restore timed, then the fleet; and the program's
evaluation under Pulumi's mocks (no engine, no network)."""

from __future__ import annotations

import statistics
import subprocess
import time
from pathlib import Path

from bench.common import REPEAT, ROOT, VERBS, bench_env, timed
from bench.fleet import fleet_figures
from tests.lab.fixture import Lab, run_lab
from tests.unit import harness


def everyday(lab: Lab, tmp: Path, figures: dict[str, str]) -> None:
    env = bench_env(tmp)
    for host in ("pbx01", "im"):
        run_lab("reset", host)
    lab_stack = str(ROOT / "scripts" / "lab-stack")

    def remote() -> int:
        return len(lab.commands("pbx01")) + len(lab.commands("im"))

    def verbs() -> dict[str, int]:
        c = lab.standin_state().get("counters", {})
        return {v: int(c.get(v, 0)) for v in VERBS}

    def change(name: str, settings: str = "", key: str | None = None, verb: str = "up"):
        run_env = {**env, "PORTSIP_LAB_STACK_SET": settings}
        if key:
            run_env["PORTSIP_LAB_STACK_KEY"] = key
        before_cmds, before_verbs = remote(), verbs()
        subprocess.run([lab_stack, verb], env=run_env, check=True, capture_output=True)
        after = verbs()
        figures[f"{name}_remote_commands"] = str(remote() - before_cmds)
        figures[f"{name}_vendor_verbs"] = str(sum(after[v] - before_verbs[v] for v in VERBS))

    change("first_up")
    change("noop_up")
    change("stop", "imState=stopped")
    change("start", "")
    change("restart", "restartToken=bench-1")
    change("upgrade", "restartToken=bench-1\nimRelease=22.1")
    key = tmp / "rotated"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    pub = key.with_suffix(".pub").read_text()
    for host, user in (("pbx01", "pbx"), ("pbx01", "root"), ("im", "root")):
        lab.ssh(host, "cat >> ~/.ssh/authorized_keys", user=user, input=pub, check=True)
    change("key_rotation", "restartToken=bench-1\nimRelease=22.1", key=str(key))

    # The no-op `pulumi up` of this program against an empty program's, on the same engine.
    settings = "restartToken=bench-1\nimRelease=22.1"
    subprocess.run(
        [lab_stack, "configure"],
        env={**env, "PORTSIP_LAB_STACK_SET": settings, "PORTSIP_LAB_STACK_KEY": str(key)},
        check=True,
        capture_output=True,
    )
    config = tmp / "lab-stack" / "Pulumi.lab.yaml"
    ours_env = {**env, "PULUMI_BACKEND_URL": f"file://{tmp / 'lab-stack' / 'state'}"}
    noop = [
        timed(
            [
                "pulumi",
                "up",
                "--yes",
                "--skip-preview",
                "--stack",
                "lab",
                "--config-file",
                str(config),
            ],
            ours_env,
        )
        for _ in range(REPEAT)
    ]
    empty_dir = tmp / "empty"
    empty_dir.mkdir()
    (empty_dir / "Pulumi.yaml").write_text(
        f"name: empty\nruntime:\n  name: python\n  options:\n    virtualenv: {ROOT / 'venv'}\n"
    )
    (empty_dir / "__main__.py").write_text("import pulumi  # noqa: F401\n")
    (tmp / "empty-state").mkdir()
    empty_env = {**env, "PULUMI_BACKEND_URL": f"file://{tmp / 'empty-state'}"}
    subprocess.run(
        ["pulumi", "stack", "init", "bench"],
        env=empty_env,
        cwd=empty_dir,
        check=True,
        capture_output=True,
    )
    timed(["pulumi", "up", "--yes", "--skip-preview"], empty_env, empty_dir)
    empty = [
        timed(["pulumi", "up", "--yes", "--skip-preview"], empty_env, empty_dir)
        for _ in range(REPEAT)
    ]
    figures["noop_up_seconds"] = f"{statistics.median(noop):.2f}"
    figures["empty_up_seconds"] = f"{statistics.median(empty):.2f}"
    figures["noop_up_vs_empty_ratio"] = f"{statistics.median(noop) / statistics.median(empty):.2f}"

    # Backups (the lab's repository: a local path on the IM host, docs/lab.md): the up
    # that adds them, one backup as the timer runs it (IM stopped for the copy), and a
    # restore as the README gives it (restoreSnapshot=latest, then up), wall time.
    settings += "\nbackupRepository=/var/backups/portsip-im"
    change("backup_setup", settings, key=str(key))
    start = time.perf_counter()
    lab.ssh("im", "systemctl start portsip-im-backup.service", check=True, timeout=900)
    figures["backup_seconds"] = f"{time.perf_counter() - start:.2f}"
    start = time.perf_counter()
    change("restore", settings + "\nrestoreSnapshot=latest", key=str(key))
    figures["restore_seconds"] = f"{time.perf_counter() - start:.2f}"

    change("destroy", settings, key=str(key), verb="destroy")
    for host in ("pbx01", "im"):
        run_lab("reset", host)
    figures.update(fleet_figures(tmp))


def mocks(figures: dict[str, str]) -> None:
    """The program's evaluation under Pulumi's mocks, per target: median wall time."""
    for target in ("aws", "hcloud", "existing"):
        config = harness.base_config(target)
        harness.run(config)
        runs = []
        for _ in range(REPEAT):
            start = time.perf_counter()
            harness.run(config)
            runs.append(time.perf_counter() - start)
        figures[f"mocks_eval_seconds_{target}"] = f"{statistics.median(runs):.3f}"
