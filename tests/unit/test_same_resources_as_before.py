"""The typed component (portsip_im) registers exactly what the program registered before it: the
same types, names, parents, inputs, dependencies, secrets, options and stack outputs, for each
target and the settings that change the graph most. The "before" is commit BEFORE, the last one
where ImServer took the whole parsed config; it is read with `git archive` and run under the same
mocks by tests/unit/registrations.py, with today's remote scripts in place of its own: the scripts
that changed since, each on purpose, are listed in SCRIPTS_CHANGED and checked on their own."""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
import tarfile
from io import BytesIO
from pathlib import Path

import pytest

from portsip_im import naming
from portsip_im.wire import secrets_part, sent_script
from stack_config.table import NAMESPACE, key_of_path
from tests.unit import harness as h

BEFORE = "28ad18b13b6cea0f3ddc02cbf8812a50c92d3fc5"
SCRIPT = Path(__file__).with_name("registrations.py")
BEFORE_SCRIPTS = "components/scripts"  # where BEFORE kept the remote scripts
SCRIPTS = h.ROOT / "components/portsip_im/scripts"

# Each remote script changed since BEFORE, and why. A stack made before previews an update of each
# remote step that sends one of them (lib.sh goes with every step), and its next up re-runs those
# steps once, each finding its work done (tests/e2e/test_stack_made_before_the_component.py).
SCRIPTS_CHANGED = {
    "lib.sh": "ssh_im does not dial an IM host whose key pbx01 has not pinned, and names "
    "trust-key; each ssh_im login a connection of its own (no ControlMaster sharing) (0.5.0); its "
    "header names the loader line on stdin (0.7.0)",
    "trust-key.sh": "pins exactly the stack's key: says when it replaces others, keeps none beside",
    "health.sh": "warns when pbx01 cannot log in to the IM host, instead of 'unavailable'",
    "upgrade.sh": "stops before the backup when pbx01 cannot log in to the IM host, naming why",
    "prepare.sh": "waits for boot to finish (logins open); apt waits for apt's locks and says why; "
    "refuses a pbx password with a line break and a system account as the pbx user (0.5.0)",
    "backup.sh": "its apt_get moved to lib.sh, shared with prepare; APPEND_ONLY=1 "
    "(backupAppendOnly, sent only when set) writes the append-only marker in place of the keep "
    "rules; without it the same files as before (0.6.0)",
    "backup-lib.sh": "the runner: with the append-only marker no forget or prune from the IM "
    "host, recorded ok (backupAppendOnly); without it unchanged (0.6.0)",
    "vendor.sh": "a failed im.sh verb says `[step] ERROR:` like every other failing step",
    "restore.sh": "records the value it restored: a re-run after an interrupted up restores once",
    "backup-ssh.sh": "new, sent only with backupSshKey: an SFTP repository's key and host key",
    "firewall.sh": "new, sent only with hostFirewall: an existing IM host's own nftables table, "
    "rolled back unless a fresh login from pbx01 gets in (0.5.0)",
    "trust.sh": "destroy finds nothing to remove on an IM host without the pbx user (rebuilt); "
    "pbx01's key checked as one line and authorized from pbx01 only, no forwarding; password "
    "logins off for pbx (an sshd drop-in, removed on destroy) (0.5.0); returns after reloading "
    "sshd only once sshd listens again, so the next step's dial is not refused (0.7.0)",
    "deploy.sh": "destroy on a lost IM host: stops naming the marker that skips im.sh rm once",
    "pbx-api.sh": "curl -q --globoff; the PBX trusted by a CA certificate or a pinned public key, "
    "and a TLS error names those two first (0.5.0)",
}

BACKUPS = {**h.BACKUP_CONFIG, "backupSchedule": "Mon..Fri 02:30", "backupKeep": '{"daily": 9}'}
CASES = {
    "aws": h.base_config("aws"),
    "aws-day2-backups": {
        **h.base_config("aws"),
        **BACKUPS,
        "imRelease": "22.1",
        "restartToken": "r1",
        "imTokenRotation": "t1",
        "imState": "stopped",
        "ebsSnapshotKeep": "7",
        "dataSnapshotId": "snap-0123456789abcdef0",
        "clientCidrs": '["203.0.113.0/24", "2001:db8::/48"]',
        "publicIpId": "eipalloc-0abc",
        "sizingProfile": "medium",
        "restoreSnapshot": "latest",
    },
    "aws-no-pbx01-private-ip": {
        **h.base_config("aws"),
        "adminUser": "ops",
        "jumpViaPbx01": "false",
    },
    "hcloud": h.base_config("hcloud"),
    # An empty list admits no IM client (not everyone): as before.
    "hcloud-no-clients": {**h.base_config("hcloud"), "clientCidrs": "[]"},
    "aws-no-clients": {**h.base_config("aws"), "clientCidrs": "[]"},
    "hcloud-backups": {
        **h.base_config("hcloud"),
        **BACKUPS,
        "size": "ccx43",
        "sizingProfile": "medium",
        "publicIpId": "77",
    },
    "existing": h.base_config("existing"),
    "existing-manual-backups": {
        **h.base_config("existing"),
        **BACKUPS,
        "pbxApi": "manual",
        "imToken": "tok-manual-test-only",
        "whitelistConfirmed": "true",
        "allowUndersizedHost": "true",
        "applyOsUpdates": "false",
        "pbxApiUrl": "https://192.168.1.130:8887/api/",
    },
    "existing-pbx-stack": {
        **{
            k: v
            for k, v in h.base_config("existing").items()
            if k not in ("pbx01Host", "pbxVirtualIp")
        },
        "pbxStack": "acme/portsip-pbx/prod",
        "sshPerDialTimeout": "30",
        "pbxApiLogin": "oauth",
    },
    "aws-pbx-stack": {
        **{k: v for k, v in h.base_config("aws").items() if k not in ("pbx01Host", "pbxVirtualIp")},
        "pbxStack": "acme/portsip-pbx/prod",
    },
}


@pytest.fixture(scope="module")
def before_tree(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("before")
    archive = subprocess.run(
        ["git", "archive", "--format=tar", BEFORE], cwd=h.ROOT, capture_output=True, check=True
    ).stdout
    with tarfile.open(fileobj=BytesIO(archive)) as tar:
        tar.extractall(root, filter="data")
    for script in (root / BEFORE_SCRIPTS).glob("*.sh"):
        script.write_text(script_as_sent(script.name))
    return root


def script_as_sent(name: str) -> str:
    """A script's file as this program sends it: its inputs named by config key."""
    naming.use(key_of_path, heading="configuration", prefix=f"{NAMESPACE}:")
    try:
        return naming.in_script((SCRIPTS / name).read_text())
    finally:
        naming.use(None)


def test_the_scripts_changed_since_before_are_the_listed_ones():
    listed = subprocess.run(
        ["git", "ls-tree", "--name-only", f"{BEFORE}:{BEFORE_SCRIPTS}"],
        cwd=h.ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    changed = set()
    for name in listed:
        old = subprocess.run(
            ["git", "show", f"{BEFORE}:{BEFORE_SCRIPTS}/{name}"],
            cwd=h.ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        if not (SCRIPTS / name).exists() or script_as_sent(name) != old:
            changed.add(name)
    added = {p.name for p in SCRIPTS.glob("*.sh")} - set(listed)
    assert changed | added == set(SCRIPTS_CHANGED)


def registered(root: Path, config: dict[str, str], preview: bool) -> dict:
    run = subprocess.run(
        [sys.executable, str(SCRIPT), str(root), json.dumps(config), "preview" if preview else ""],
        capture_output=True,
        text=True,
        cwd=root,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    return json.loads(run.stdout)


# Steps whose stdout is data (a public key), logged since 0.5.0 as stderr only: their progress
# lines no longer echo the key (tests/unit/test_steps_graph.py checks it).
LOGGING_CHANGED = {"im-trust-key": "stderr", "im-host-key": "stderr"}

# Parameters added on purpose since BEFORE, by step: each is checked where it is used.
PARAMS_ADDED = {
    # pbx01's address for authorized_keys' from= (0.5.0; tests/lab/test_pbx_login_hardening.py).
    "im-trust": ("PBX01_IP", "VIA_PBX01"),
}


# The connections' dial limits changed on purpose since BEFORE (0.5.0): no dial is retried, so a
# refused host key or login fails at once (portsip_im/remote.py DIAL_RETRIES, checked in
# tests/unit/test_steps_graph.py). Everything else about each connection is compared.
def without_dial_limits(connection: dict) -> dict:
    conn = {k: v for k, v in connection.items() if k != "dialErrorLimit"}
    if "proxy" in conn:
        conn["proxy"] = {k: v for k, v in conn["proxy"].items() if k != "dialErrorLimit"}
    return conn


def as_sent(resource: dict) -> dict:
    """A remote step as what it sends: for each command, sudo or not, the step's name, its script
    and its parameters, and the secret lines on stdin. The same whether the script travels in argv
    (BEFORE) or on stdin ahead of the secrets (since 0.3.0, portsip_im/wire.py)."""
    if resource["type"] != "command:remote:Command":
        return resource
    inputs = dict(resource["inputs"])
    inputs["connection"] = without_dial_limits(inputs["connection"])
    if inputs.get("logging") == LOGGING_CHANGED.get(resource["name"]):
        inputs["logging"] = "stdoutAndStderr"
    stdin = inputs.pop("stdin", "")
    secrets = stdin
    for phase in ("create", "update", "delete"):
        command = inputs.get(phase)
        if not isinstance(command, str) or command == ":":
            continue
        words = shlex.split(command)
        bash = words.index("bash")
        script = sent_script(command, stdin) if isinstance(stdin, str) else None
        if script is not None:  # bash -c COMMAND STEP DIGEST KEY=VALUE...
            secrets = secrets_part(command, stdin)
            step, params = words[bash + 3], words[bash + 5 :]
        else:  # bash -c SCRIPT STEP KEY=VALUE...
            script, step, params = words[bash + 2], words[bash + 3], words[bash + 4 :]
        added = PARAMS_ADDED.get(resource["name"], ())
        inputs[phase] = {
            "sudo": words[:bash],
            "step": step,
            "script": script.rstrip("\n"),
            "params": [p for p in params if p.split("=", 1)[0] not in added],
        }
    inputs["secret lines on stdin"] = secrets
    return {**resource, "inputs": inputs}


@pytest.mark.parametrize("preview", [False, True], ids=["up", "preview"])
@pytest.mark.parametrize("case", sorted(CASES))
def test_same_registrations_as_before(before_tree, case, preview):
    before = registered(before_tree, CASES[case], preview)
    after = registered(h.ROOT, CASES[case], preview)
    assert [(r["type"], r["name"]) for r in after["resources"]] == [
        (r["type"], r["name"]) for r in before["resources"]
    ]
    for old, new in zip(before["resources"], after["resources"], strict=True):
        assert as_sent(new) == as_sent(old), f"{old['type']} {old['name']} differs"
    assert after["exports"] == before["exports"]
    assert after["secret_exports"] == before["secret_exports"]
    assert after["calls"] == before["calls"]
