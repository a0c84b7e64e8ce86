"""fleet/cli.py's argument handling (no Pulumi): options anywhere, set/unset's KEY first."""

from __future__ import annotations

import pytest

from fleet.cli import parse, setting
from fleet.model import FleetError


def test_options_between_the_setting_and_the_stacks():
    a = parse(["set", "--secret", "backupPassword", "eu-a", "eu-b", "--parallel", "2"])
    assert (a.verb, a.args, a.secret, a.parallel) == (
        "set",
        ["backupPassword", "eu-a", "eu-b"],
        True,
        2,
    )
    assert setting(a, "s3cret") == ("backupPassword", "s3cret")
    assert a.args == ["eu-a", "eu-b"]


def test_set_key_value_and_unset_key():
    a = parse(["set", "imRelease=22.3.2", "--glob", "eu-*"])
    assert setting(a, None) == ("imRelease", "22.3.2") and a.args == [] and a.glob == ["eu-*"]
    a = parse(["unset", "imRelease", "eu-a"])
    assert setting(a, None) == ("imRelease", None) and a.args == ["eu-a"]


def test_bad_settings_are_refused():
    with pytest.raises(FleetError, match="KEY=VALUE"):
        setting(parse(["set", "imRelease", "eu-a"]), None)
    with pytest.raises(FleetError, match="not a config key"):
        setting(parse(["set", "Bad Key=1"]), None)
    with pytest.raises(SystemExit):
        parse(["up", "--parallel", "0", "eu-a"])
