"""The guide's remote steps under Pulumi's mocks: order, triggers, connections and secrets.

What each step's script does is proven over real SSH in tests/lab; here, the resource graph."""

import base64

import pytest

from portsip_im import naming
from portsip_im.remote import SCRIPTS, params_of, secrets_part, sent_script
from stack_config import key_of_path
from tests.unit import harness as h

CMD = "command:remote:Command"
SECRET_VALUES = ("test-only-private-key", "test-only-pbx-password", "test-only-admin-password")


@pytest.fixture(scope="module")
def existing():
    return h.run(h.base_config("existing"))


@pytest.fixture(scope="module")
def aws():
    return h.run(h.base_config("aws"))


def steps(result):
    return {r.name.removeprefix("im-"): r for r in result.mocks.of_type(CMD)}


def reaches(result, src, dst):
    """True when `src` waits (directly or through others) for `dst`."""
    by_name = {r.name: r for r in result.resources}
    seen, todo = set(), [f"im-{src}"]
    while todo:
        name = todo.pop()
        for dep in by_name[name].depends_on:
            if dep == dst or dep == f"im-{dst}":
                return True
            if dep not in seen:
                seen.add(dep)
                todo.append(dep)
    return False


params = params_of


def secret_lines(r: h.Registered) -> str:
    return secrets_part(r.inputs["create"], r.inputs["stdin"])


def test_steps_follow_the_guide(existing):
    s = steps(existing)
    assert set(s) == {
        "pbx01-check",
        "prepare",
        "whitelist",
        "token",
        "trust-key",
        "trust",
        "deploy",
        "state",
        "restart",
        "upgrade",
        "health",
    }
    chain = ["prepare", "whitelist", "token", "deploy", "state", "restart", "health"]
    for later, earlier in zip(chain[1:], chain[:-1], strict=True):
        assert reaches(existing, later, earlier), f"{later} must wait for {earlier}"
    assert reaches(existing, "prepare", "pbx01-check")
    assert reaches(existing, "deploy", "trust") and reaches(existing, "trust", "trust-key")
    assert reaches(existing, "upgrade", "token") and reaches(existing, "upgrade", "deploy")
    # Vendor verbs never run side by side: state → restart → upgrade.
    assert reaches(existing, "restart", "state") and reaches(existing, "upgrade", "restart")
    assert all(r.parent == "im" for r in s.values())


def test_new_vm_steps_wait_for_the_host(aws):
    s = steps(aws)
    assert "host-key" in s
    assert "im-host-vm" in s["host-key"].depends_on  # depending on the host waits for its children
    assert reaches(aws, "prepare", "host-key") and reaches(aws, "prepare", "im-host-vm")
    assert reaches(aws, "prepare", "im-host-data-attachment")
    assert s["host-key"].options["ignore_changes"] == ["connection", "create", "update"]
    assert s["host-key"].inputs["triggers"] == ["im-host-vm-id"]  # a new VM: its key is read again


def test_every_connection_pins_its_host_key(existing, aws):
    for result, im_key in ((existing, h.IM_HOST_KEY), (aws, h.STEP_STDOUT["host-key"].strip())):
        for name, r in steps(result).items():
            conn = r.inputs["connection"]
            if conn["host"] == h.PBX01:
                assert conn["hostKey"] == h.PBX01_HOST_KEY, name
                assert conn["user"] == "pbx" and "proxy" not in conn
            else:
                assert conn["host"] == h.IM_PRIVATE, name
                assert conn["hostKey"] == im_key, name
                assert (
                    conn["proxy"]["host"] == h.PBX01
                    and conn["proxy"]["hostKey"] == h.PBX01_HOST_KEY
                )
                # The jump host's own dial keeps pbx01's limits, sshPerDialTimeout included.
                assert conn["proxy"]["perDialTimeout"] == conn["perDialTimeout"] == 15
                assert conn["proxy"]["dialErrorLimit"] == 0
            # No dial is retried: a refused host key or login fails at its first attempt.
            assert conn["dialErrorLimit"] == 0, name
            assert conn["privateKey"] == "test-only-private-key"
            assert "connection" in r.secret_inputs, name


def test_im_host_steps_and_users(existing, aws):
    im_steps = {"prepare", "trust"}
    for name, r in steps(existing).items():
        on_im = r.inputs["connection"]["host"] == h.IM_PRIVATE
        assert on_im == (name in im_steps), name
    assert steps(existing)["prepare"].inputs["connection"]["user"] == "root"
    assert not steps(existing)["prepare"].inputs["create"].startswith("sudo")
    # On AWS the operator logs in as ubuntu and the step runs as root through sudo.
    assert steps(aws)["prepare"].inputs["connection"]["user"] == "ubuntu"
    assert steps(aws)["prepare"].inputs["create"].startswith("sudo -n bash -c ")


def test_commands_are_the_scripts_files(existing):
    s = steps(existing)
    for name, files in {
        "prepare": ["lib.sh", "prepare.sh"],
        "whitelist": ["lib.sh", "pbx-api.sh", "whitelist.sh"],
        "deploy": ["lib.sh", "pbx-api.sh", "vendor.sh", "deploy.sh"],
        "state": ["lib.sh", "vendor.sh", "manage.sh"],
    }.items():
        script = sent_script(s[name].inputs["create"], s[name].inputs["stdin"])
        joined = "\n".join((SCRIPTS / f).read_text() for f in files).rstrip("\n")
        assert script == naming.in_script(joined, key_of_path), name


def test_no_secret_outside_stdin_and_connection(existing, aws):
    for result in (existing, aws):
        for r in result.resources:
            for key, value in r.inputs.items():
                if key in ("stdin", "connection", "triggers"):
                    continue
                text = repr(value)
                for secret in SECRET_VALUES:
                    assert secret not in text, f"{r.name}.{key} carries a secret"


def test_secrets_travel_on_stdin_as_secrets(existing):
    s = steps(existing)
    prepare_stdin = secret_lines(s["prepare"])
    assert "stdin" in s["prepare"].secret_inputs
    assert (
        prepare_stdin
        == "PBX_PASSWORD\t" + base64.b64encode(b"test-only-pbx-password").decode() + "\n"
    )
    for name in ("whitelist", "token", "deploy", "upgrade"):
        assert "stdin" in s[name].secret_inputs, name
        assert secret_lines(s[name]).startswith("PBX_ADMIN_PASSWORD\t"), name
    for name in ("pbx01-check", "trust-key", "trust", "state", "restart", "health"):
        # The script alone: no secret, so nothing to hide in a preview diff.
        assert "stdin" not in s[name].secret_inputs and secret_lines(s[name]) == "", name


def test_deploy_is_an_idempotent_script_keyed_by_host_and_addresses(existing, aws):
    d = steps(existing)["deploy"]
    p = params(d.inputs["create"])
    assert (p["PRIVATE_IP"], p["PUBLIC_IP"], p["STORAGE_PATH"]) == (
        h.IM_PRIVATE,
        h.IM_PUBLIC,
        "/data/im",
    )
    assert p["HOST_ID"] == f"existing:{h.IM_PRIVATE}"
    assert params(steps(aws)["deploy"].inputs["create"])["HOST_ID"] == "im-host-vm-id"
    # Any update re-runs the script, which runs no vendor verb while its record on pbx01 holds
    # (proven over SSH in tests/lab); nothing replaces the step, so no `im.sh rm` by surprise.
    assert d.inputs["update"] == d.inputs["create"]
    assert "triggers" not in d.inputs
    assert d.options["delete_before_replace"] is False
    assert params(d.inputs["delete"])["ACTION"] == "rm"
    assert d.inputs["logging"] == "none"
    assert sorted(d.options["additional_secret_outputs"]) == ["connection", "stderr", "stdout"]
    assert d.inputs["addPreviousOutputInEnv"] is False


def test_prepare_reruns_only_on_its_inputs(existing):
    p = steps(existing)["prepare"]
    assert p.inputs["update"] == ":"
    assert "delete" not in p.inputs  # destroy never touches the host or its data
    args = params(p.inputs["create"])
    # The whole data path (database, IM data) lives on the data disk; files are bound onto it.
    assert args["DATA_DISK"] == "/dev/sdb" and args["DATA_MOUNT"] == "/var/lib/portsip"
    assert args["STORAGE_PATH"] == "/data/im"
    # It re-runs for a new host or a new pbx password, and the password in its triggers is secret.
    assert args["HOST_ID"] in p.inputs["triggers"][0].values()
    assert "test-only-pbx-password" in p.inputs["triggers"] and "triggers" in p.secret_inputs
    assert args["MEASURE_SPEC"] == "1" and args["ALLOW_UNDERSIZED"] == "0"
    assert args["REQUIRED_OS"] == "ubuntu 24.04"


def test_destroy_undoes_in_reverse(existing):
    s = steps(existing)
    assert params(s["whitelist"].inputs["delete"])["ACTION"] == "remove"
    assert params(s["trust"].inputs["delete"])["ACTION"] == "remove"
    assert params(s["trust-key"].inputs["delete"])["ACTION"] == "remove"
    assert params(s["token"].inputs["delete"])["ACTION"] == "remove"
    assert params(s["upgrade"].inputs["delete"])["ACTION"] == "forget"
    # Deleting in reverse dependency order runs `im.sh rm` before whitelist and trust go.
    assert reaches(existing, "deploy", "whitelist") and reaches(existing, "deploy", "trust")


def test_whitelist_marks_its_own_entries(existing, aws):
    p = params(steps(existing)["whitelist"].inputs["create"])
    assert p["MARK"] == "portsip-im:portsip-im/dev"
    assert p["IPS"] == f"{h.IM_PUBLIC} {h.IM_PRIVATE}"
    assert p["PBX_API_URL"] == f"https://{h.PBX_VIP}:8887/api"
    assert p["PBX_CLIENT_ID"] == "9d806019-75b2-4b3d-bb8b-f5a3a412cc0a"
    # On AWS both the Elastic IP and the private IP (PortSIP's AWS guide).
    assert params(steps(aws)["whitelist"].inputs["create"])["IPS"] == f"{h.EIP} {h.IM_PRIVATE}"


def test_day2_settings_reach_their_steps():
    cfg = {
        **h.base_config("existing"),
        "imState": "stopped",
        "restartToken": "r2",
        "imRelease": "22.3",
    }
    s = steps(h.run(cfg))
    assert params(s["state"].inputs["create"])["STATE"] == "stopped"
    assert params(s["restart"].inputs["create"])["RESTART_TOKEN"] == "r2"
    assert params(s["upgrade"].inputs["create"])["RELEASE"] == "22.3"
    assert "RELEASE" not in params(s["token"].inputs["create"])  # upgrade makes its own token
    assert params(s["health"].inputs["create"])["EXPECT"] == "stopped"


def test_manual_mode_gives_the_token_and_asks_for_the_whitelist():
    cfg = {
        **h.base_config("existing"),
        "pbxApi": "manual",
        "imToken": "tok-123",
        "whitelistConfirmed": "true",
    }
    del cfg["pbxAdminPassword"]
    s = steps(h.run(cfg))
    assert secret_lines(s["token"]) == "IM_TOKEN\t" + base64.b64encode(b"tok-123").decode() + "\n"
    assert "stdin" in s["token"].secret_inputs
    wl = params(s["whitelist"].inputs["create"])
    assert wl["MODE"] == "manual" and wl["CONFIRMED"] == "1" and "PBX_API_URL" not in wl
    assert secret_lines(s["whitelist"]) == "" and "stdin" not in s["whitelist"].secret_inputs
    assert params(s["deploy"].inputs["create"])["VERIFY_API"] == "0"


def test_manual_mode_without_token_is_refused():
    from stack_config import ConfigError

    cfg = {**h.base_config("existing"), "pbxApi": "manual"}
    with pytest.raises(ConfigError, match="portsip-im:imToken: required when pbxApi is manual"):
        h.run(cfg, preview=True)


def test_undersized_lab_host_is_allowed_loudly():
    s = steps(h.run({**h.base_config("existing"), "allowUndersizedHost": "true"}))
    assert params(s["prepare"].inputs["create"])["ALLOW_UNDERSIZED"] == "1"


def test_every_step_that_runs_an_im_verb_can_hold_the_im_hosts_backups():
    # vendor.sh holds the IM host's backup lock over pbx01's trust as PBX_USER for each im.sh
    # verb; a step without it would stop with vendor.sh's "needs PBX_USER" instead of racing.
    result = h.run({**h.base_config("existing"), **h.BACKUP_CONFIG})
    vendors = [
        r
        for r in result.mocks.of_type("command:remote:Command")
        if "im_verb()" in (sent_script(r.inputs["create"], r.inputs["stdin"]) or "")
    ]
    assert {r.name for r in vendors} >= {"im-deploy", "im-state", "im-restart", "im-upgrade"}
    for r in vendors:
        p = params(r.inputs["create"])
        # deploy names the IM host PRIVATE_IP (its script sets IM_IP from it)
        assert "PBX_USER" in p and ("IM_IP" in p or "PRIVATE_IP" in p), r.name


def test_steps_whose_stdout_is_a_key_log_only_what_they_did(existing, aws):
    for result, names in ((existing, ["trust-key"]), (aws, ["trust-key", "host-key"])):
        logging = {n: r.inputs.get("logging") for n, r in steps(result).items()}
        for name in names:
            assert logging[name] == "stderr", name
        assert logging["whitelist"] == "stdoutAndStderr"
