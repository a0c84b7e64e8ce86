"""fleet/select.py: which stacks a fleet command acts on (names, globs, a tag, the canary)."""

from __future__ import annotations

import pytest

from fleet.model import FleetError
from fleet.select import select

BACKEND = ["organization/portsip-im/eu-a", "eu-b", "us-a", "lab"]
TAGS = {"eu-a": {"fleet": "eu"}, "eu-b": {"fleet": "eu", "tier": "gold"}, "us-a": {}, "lab": {}}


def test_names_in_the_order_given_each_once():
    assert select(BACKEND, names=["us-a", "eu-a", "us-a"]) == ["us-a", "eu-a"]


def test_unknown_name_is_an_error_naming_what_exists():
    with pytest.raises(FleetError, match="no stack 'eu-c'.*eu-a, eu-b"):
        select(BACKEND, names=["eu-c"])


def test_glob_over_the_backends_stacks():
    assert select(BACKEND, globs=["eu-*"]) == ["eu-a", "eu-b"]
    assert select(BACKEND, names=["lab"], globs=["*-a"]) == ["lab", "eu-a", "us-a"]


def test_tag_alone_filters_every_stack():
    assert select(BACKEND, tag="fleet=eu", tags_of=TAGS.__getitem__) == ["eu-a", "eu-b"]
    assert select(BACKEND, tag="tier", tags_of=TAGS.__getitem__) == ["eu-b"]


def test_tag_narrows_names_and_globs():
    assert select(BACKEND, globs=["*"], tag="tier=gold", tags_of=TAGS.__getitem__) == ["eu-b"]


def test_canary_comes_first_and_is_added_when_missing():
    assert select(BACKEND, globs=["eu-*"], canary="eu-b") == ["eu-b", "eu-a"]
    assert select(BACKEND, names=["eu-a"], canary="lab") == ["lab", "eu-a"]
    with pytest.raises(FleetError, match="canary 'nope'"):
        select(BACKEND, names=["eu-a"], canary="nope")


def test_nothing_selected_is_an_error():
    with pytest.raises(FleetError, match="no stacks selected"):
        select(BACKEND)
    with pytest.raises(FleetError, match="matches no stack"):
        select(BACKEND, globs=["zz-*"])
    with pytest.raises(FleetError, match="matches no stack"):
        select(BACKEND, tag="fleet=asia", tags_of=TAGS.__getitem__)
