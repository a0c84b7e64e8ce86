"""backupAppendOnly (component: backup.append_only): the IM host never forgets or prunes, so an
append-only repository (rest-server --append-only) works and root there cannot delete snapshots.
Here: the config's refusal of backupKeep beside it, the component's, and what the backup step
sends. The runner's side: tests/unit/test_backup_runner.py; against the lab's append-only
rest-server: tests/lab/test_append_only_backup.py."""

from __future__ import annotations

import pytest

from portsip_im.checks import ArgsError, resolve
from stack_config import ConfigError, check_config, parse_config
from tests.unit import harness as h
from tests.unit.test_bad_input_program import preview_error
from tests.unit.test_component_args import args
from tests.unit.test_steps_graph import params, steps

REST = {"backupRepository": "rest:http://10.0.5.20:8000/portsip-im/", "backupPassword": "pw"}


def parse(**overrides: str):
    raw = {**h.base_config("existing"), **REST, **overrides}
    # check_config: every check the program makes before it registers anything.
    return check_config(raw, {"sshPrivateKey", "pbxPassword", "pbxAdminPassword", "backupPassword"})


def test_append_only_is_off_by_default():
    assert parse().backup_append_only is False
    assert parse(backupAppendOnly="true").backup_append_only is True


def test_backup_keep_with_append_only_is_refused_naming_both_keys():
    with pytest.raises(ConfigError) as exc:
        parse(backupAppendOnly="true", backupKeep='{"daily": 3}')
    msg = str(exc.value)
    assert "portsip-im:backupKeep: ignored with backupAppendOnly" in msg, msg
    # without append-only the same rule is fine
    assert parse(backupKeep='{"daily": 3}').backup_keep == {"daily": 3}


def test_backup_keep_at_its_default_passes_with_append_only():
    # Pulumi.yaml's declared default reaches the program as if set: it is not the operator's.
    c = parse(backupAppendOnly="true", backupKeep='{"daily": 7, "weekly": 4, "monthly": 6}')
    assert c.backup_append_only is True


def test_append_only_without_a_repository_is_refused():
    raw = {**h.base_config("existing"), "backupAppendOnly": "true"}
    with pytest.raises(ConfigError) as exc:
        parse_config(raw, {"sshPrivateKey", "pbxPassword", "pbxAdminPassword"})
    assert "portsip-im:backupAppendOnly: needs backupRepository" in str(exc.value)


def test_the_program_refuses_it_at_preview_and_creates_nothing():
    config = {
        **h.base_config("existing"),
        **h.BACKUP_CONFIG,
        "backupAppendOnly": "true",
        "backupKeep": '{"last": 30}',
    }
    msg = preview_error(config)
    assert "portsip-im:backupKeep: ignored with backupAppendOnly" in msg, msg
    assert msg.count("portsip-im:") == 1, msg  # one problem, one line naming it


def test_the_component_refuses_keep_beside_append_only():
    a = args()
    a["backup"] = {
        "repository": "/mnt/b",
        "password": "p",
        "append_only": True,
        "keep": {"last": 3},
    }
    with pytest.raises(ArgsError) as caught:
        resolve(a)
    found = dict(caught.value.problems)
    assert list(found) == ["backup.keep"]
    assert found["backup.keep"].startswith("ignored with `backup.append_only`")
    a["backup"] = {"repository": "/mnt/b", "password": "p", "append_only": "yes"}
    with pytest.raises(ArgsError) as caught:
        resolve(a)
    assert dict(caught.value.problems) == {"backup.append_only": "'yes': must be true or false"}
    a["backup"] = {"repository": "/mnt/b", "password": "p", "append_only": True}
    assert resolve(a).input("backup.append_only") is True
    del a["backup"]["append_only"]
    assert resolve(a).input("backup.append_only") is False


def test_the_backup_step_sends_append_only_and_no_retention():
    s = steps(h.run({**h.base_config("existing"), **h.BACKUP_CONFIG, "backupAppendOnly": "true"}))
    p = params(s["backup"].inputs["create"])
    assert p["APPEND_ONLY"] == "1" and p["KEEP"] == ""
    assert params(s["backup"].inputs["delete"])["ACTION"] == "remove"
    # the restore reads only: it is the same step as without append-only
    plain = steps(h.run({**h.base_config("existing"), **h.BACKUP_CONFIG}))
    assert s["restore"].inputs["create"] == plain["restore"].inputs["create"]


def test_without_the_key_the_backup_step_sends_what_it_sent_before():
    for config in (
        {**h.base_config("existing"), **h.BACKUP_CONFIG},
        {**h.base_config("existing"), **h.BACKUP_CONFIG, "backupAppendOnly": "false"},
    ):
        p = params(steps(h.run(config))["backup"].inputs["create"])
        assert list(p) == ["REPOSITORY", "SCHEDULE", "KEEP", "DATA_PATH"]
        assert p["KEEP"] == "--keep-daily 7 --keep-weekly 4 --keep-monthly 6"
