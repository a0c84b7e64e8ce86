"""Install the pulumi-command stand-in as plugin `resource command 1.2.1` into $PULUMI_HOME.

    venv/bin/python tests/e2e/command_provider/install.py [--pulumi PULUMI_CLI]

It stages the wrapper and the Python modules in a temporary folder, records the Python running
this script (it must have grpcio and the pulumi SDK: the project's venv) in the folder's `python`
file, and runs `pulumi plugin install resource command 1.2.1 --file FOLDER --reinstall`. The engine
then finds it in $PULUMI_HOME/plugins/resource-command-v1.2.1/ like a downloaded plugin.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
NAME, VERSION = "command", "1.2.1"
FILES = ("pulumi-resource-command", "provider.py", "sshrun.py")


def install(pulumi: str = "pulumi", env: dict[str, str] | None = None) -> str:
    """Install the plugin; return the folder it was installed into."""
    env = dict(os.environ if env is None else env)
    with tempfile.TemporaryDirectory(prefix="command-standin-") as stage:
        for name in FILES:
            shutil.copy2(os.path.join(HERE, name), os.path.join(stage, name))
        with open(os.path.join(stage, "python"), "w") as f:
            f.write(sys.executable)
        proc = subprocess.run(
            [
                pulumi,
                "plugin",
                "install",
                "resource",
                NAME,
                VERSION,
                "--file",
                stage,
                "--reinstall",
            ],
            env=env,
            capture_output=True,
            text=True,
        )
        if proc.returncode != 0:
            raise RuntimeError(f"pulumi plugin install failed:\n{proc.stdout}{proc.stderr}")
    home = env.get("PULUMI_HOME") or os.path.join(os.path.expanduser("~"), ".pulumi")
    target = os.path.join(home, "plugins", f"resource-{NAME}-v{VERSION}")
    if not os.access(os.path.join(target, "pulumi-resource-command"), os.X_OK):
        raise RuntimeError(f"plugin not installed as expected in {target}")
    return target


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pulumi", default="pulumi", help="the Pulumi CLI (default: on PATH)")
    print(install(parser.parse_args().pulumi))
