"""The fleet's no-op up over two lab clusters, --parallel 1 against --parallel 2 (docs/fleet.md)."""

from __future__ import annotations

import secrets
import statistics
import subprocess
from pathlib import Path

from bench.common import REPEAT, ROOT, timed
from tests.e2e.engine import engine_env
from tests.lab.fixture import Lab, run_lab


def fleet(lab: Lab, tmp: Path, figures: dict[str, str]) -> None:
    """The fleet's figures on a lab returned to fresh."""
    for host in ("pbx01", "im"):
        run_lab("reset", host)
    figures.update(fleet_figures(tmp))


def fleet_figures(tmp: Path) -> dict[str, str]:
    """No-op `scripts/fleet up` over two stacks on two lab clusters (the running cluster 1 and a
    cluster 2 started and stopped here), --parallel 1 against --parallel 2: median wall times and
    their ratio (docs/fleet.md)."""
    cluster2 = {"PORTSIP_LAB_CLUSTER": "2"}
    env = engine_env(tmp / "fleet-home")
    env.update(PULUMI_BACKEND_URL=f"file://{tmp / 'fleet-state'}", PORTSIP_LAB_KEEP="1")
    env["PULUMI_CONFIG_PASSPHRASE"] = secrets.token_hex(16)  # made per run, never stored
    (tmp / "fleet-state").mkdir()
    stacks = {"fleet-1": {}, "fleet-2": cluster2}
    cfg = [a for name in stacks for a in ("--config-dir", str(tmp / name))]
    fleet = [str(ROOT / "scripts" / "fleet"), "up", *stacks]

    def lab_stack(name: str, verb: str, check: bool = True) -> None:
        stack_env = {
            **env,
            **stacks[name],
            "PORTSIP_LAB_STACK": name,
            "PORTSIP_LAB_STACK_DIR": str(tmp / name),
        }
        subprocess.run(
            [str(ROOT / "scripts" / "lab-stack"), verb],
            env=stack_env,
            check=check,
            capture_output=True,
        )

    figures: dict[str, str] = {}
    try:
        up = run_lab("up", env=cluster2, timeout=900)
        if up.returncode != 0:
            raise RuntimeError(f"lab cluster 2 did not start:\n{up.stderr}")
        for name in stacks:
            lab_stack(name, "configure")
        subprocess.run([*fleet, "--parallel", "2", *cfg], env=env, check=True, capture_output=True)
        medians = {}
        for parallel in (1, 2):
            runs = [timed([*fleet, "--parallel", str(parallel), *cfg], env) for _ in range(REPEAT)]
            medians[parallel] = statistics.median(runs)
            figures[f"fleet_noop_up_parallel{parallel}_seconds"] = f"{medians[parallel]:.2f}"
        figures["fleet_noop_up_parallel1_vs_2_ratio"] = f"{medians[1] / medians[2]:.2f}"
    finally:
        for name in stacks:
            if (tmp / name).exists():
                lab_stack(name, "destroy", check=False)
        run_lab("down", env=cluster2, timeout=300)
    return figures
