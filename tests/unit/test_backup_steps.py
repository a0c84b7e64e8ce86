"""Backups under Pulumi's mocks: which steps exist, where they run, their order, their triggers,
that the repository's password and credentials travel only on stdin as secrets, and the EBS
snapshot before an upgrade on aws. What the scripts do is proven in tests/lab/test_backup.py."""

import base64
import hashlib
import json

import pytest

from tests.unit import harness as h
from tests.unit.test_steps_graph import params, reaches, secret_lines, steps

CMD = "command:remote:Command"
SNAPSHOT = "aws:ebs/snapshot:Snapshot"
SECRET_VALUES = (h.BACKUP_PASSWORD, h.BACKUP_SECRET_KEY, "AKIAIOSFODNN7EXAMPLE")


@pytest.fixture(scope="module")
def backed_up():
    return h.run({**h.base_config("existing"), **h.BACKUP_CONFIG})


def test_no_repository_no_backup_steps():
    s = steps(h.run(h.base_config("existing")))
    assert "backup" not in s and "restore" not in s
    assert params(s["upgrade"].inputs["create"])["BACKUP"] == "0"


def test_backup_and_restore_run_on_the_im_host_after_deploy(backed_up):
    s = steps(backed_up)
    for name in ("backup", "restore"):
        conn = s[name].inputs["connection"]
        assert conn["host"] == h.IM_PRIVATE and conn["proxy"]["host"] == h.PBX01
        assert conn["hostKey"] == h.IM_HOST_KEY
    assert reaches(backed_up, "backup", "deploy")
    assert reaches(backed_up, "restore", "backup")
    # The runner is installed before anything asks it for a backup: state, upgrade, health.
    for later in ("state", "upgrade", "health"):
        assert reaches(backed_up, later, "backup"), later
        assert reaches(backed_up, later, "restore"), later


def test_backup_parameters(backed_up):
    p = params(steps(backed_up)["backup"].inputs["create"])
    assert p["REPOSITORY"] == h.BACKUP_CONFIG["backupRepository"]
    assert p["SCHEDULE"] == "daily"
    assert p["KEEP"] == "--keep-daily 7 --keep-weekly 4 --keep-monthly 6"
    assert p["DATA_PATH"] == "/var/lib/portsip"
    assert params(steps(backed_up)["backup"].inputs["delete"])["ACTION"] == "remove"
    up = params(steps(backed_up)["upgrade"].inputs["create"])
    assert (up["BACKUP"], up["WITHOUT_BACKUP"], up["PBX_USER"]) == ("1", "0", "pbx")


def test_schedule_and_retention_reach_the_step():
    result = h.run(
        {
            **h.base_config("existing"),
            **h.BACKUP_CONFIG,
            "backupSchedule": "Mon..Fri  02:30",
            "backupKeep": '{"monthly": 12, "last": 3}',
            "upgradeWithoutBackup": "true",
        }
    )
    s = steps(result)
    p = params(s["backup"].inputs["create"])
    assert p["SCHEDULE"] == "Mon..Fri 02:30"
    assert p["KEEP"] == "--keep-last 3 --keep-monthly 12"
    assert params(s["upgrade"].inputs["create"])["WITHOUT_BACKUP"] == "1"


def test_secrets_only_on_stdin_as_secrets(backed_up):
    s = steps(backed_up)
    b = s["backup"]
    assert "stdin" in b.secret_inputs
    lines = dict(line.split("\t") for line in secret_lines(b).splitlines())
    assert base64.b64decode(lines["BACKUP_PASSWORD"]).decode() == h.BACKUP_PASSWORD
    env = base64.b64decode(lines["BACKUP_ENV"]).decode()
    creds = {
        name: base64.b64decode(value).decode()
        for name, value in (line.split("\t") for line in env.splitlines())
    }
    assert creds == json.loads(h.BACKUP_CONFIG["backupEnv"])
    for r in backed_up.mocks.of_type(CMD):
        for phase in ("create", "update", "delete"):
            text = r.inputs.get(phase) or ""
            for secret in SECRET_VALUES:
                assert secret not in text, (r.name, phase)
                assert base64.b64encode(secret.encode()).decode() not in text, (r.name, phase)
    assert not any(v in json.dumps(backed_up.exports) for v in SECRET_VALUES)


def test_restore_runs_once_per_value(backed_up):
    r = steps(backed_up)["restore"]
    assert params(r.inputs["create"]) == {"SNAPSHOT": ""}
    assert r.inputs["update"] == ":" and r.inputs["triggers"] == [""]
    asked = steps(
        h.run({**h.base_config("existing"), **h.BACKUP_CONFIG, "restoreSnapshot": "latest"})
    )
    assert params(asked["restore"].inputs["create"]) == {"SNAPSHOT": "latest"}
    assert asked["restore"].inputs["triggers"] == ["latest"]


def test_health_reruns_when_backup_settings_change():
    said = {
        name: f"[{name}] what the {name} step printed\n"
        for name in ("deploy", "restart", "upgrade", "backup", "restore")
    }
    result = h.run({**h.base_config("existing"), **h.BACKUP_CONFIG}, step_stdout=said)
    triggers = steps(result)["health"].inputs["triggers"]

    def digest(text: str) -> str:
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    # The health step re-runs whenever one of these steps ran: a digest of each one's output.
    assert triggers == [digest(said[n]) for n in ("deploy", "restart", "upgrade")] + [
        digest(said["backup"]),
        digest(said["restore"]),
    ]
    assert said["backup"] not in str(triggers)


def test_aws_snapshots_the_data_volume_before_an_upgrade():
    result = h.run({**h.base_config("aws"), **h.BACKUP_CONFIG, "imRelease": "22.3.1"})
    snap = result.mocks.one(SNAPSHOT)
    assert snap.inputs["volumeId"] == "vol-0123456789abcdef0"
    assert snap.inputs["tags"]["portsip-im-release"] == "22.3.1"
    assert snap.inputs["tags"]["managed-by"] == "pulumi"
    assert "22.3.1" in snap.inputs["description"]
    assert reaches(result, "upgrade", snap.name)
    # A new release, a new snapshot; the older ones are kept in the account.
    assert snap.options["replace_on_changes"] == ["description"]
    assert snap.options["retain_on_delete"] is True
    # The first snapshot of a large volume copies every block: far past the default 10 minutes.
    assert snap.options["custom_timeouts"]["create"] == "2h"


def test_aws_without_a_release_takes_no_snapshot():
    assert h.run({**h.base_config("aws"), **h.BACKUP_CONFIG}).mocks.of_type(SNAPSHOT) == []
    assert h.run({**h.base_config("existing"), "imRelease": "22.3.1"}).mocks.of_type(SNAPSHOT) == []


def test_no_repository_warns_once_at_preview(monkeypatch):
    import pulumi

    said = []
    monkeypatch.setattr(pulumi.log, "warn", lambda msg, *a, **k: said.append(msg))
    h.run(h.base_config("existing"), preview=True)
    assert len([m for m in said if "backup (backupRepository) is not set" in m]) == 1
    said.clear()
    h.run({**h.base_config("existing"), **h.BACKUP_CONFIG}, preview=True)
    assert not [m for m in said if "backupRepository" in m]


def test_aws_data_volume_from_a_snapshot_only_when_created():
    result = h.run({**h.base_config("aws"), "dataSnapshotId": "snap-0123456789abcdef0"})
    volume = result.mocks.one("aws:ebs/volume:Volume")
    assert volume.inputs["snapshotId"] == "snap-0123456789abcdef0"
    assert "snapshotId" in volume.options["ignore_changes"]
    assert volume.options["protect"] is True
    plain = h.run(h.base_config("aws")).mocks.one("aws:ebs/volume:Volume")
    assert "snapshotId" not in plain.inputs
