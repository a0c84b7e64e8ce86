"""scripts/status against the lab stack on the real engine (through scripts/lab-stack status):
healthy → exit 0; the IM service stopped by hand → non-zero, naming it; the whitelist entry
removed on the stand-in PBX → named; no secret in anything it prints. The stack is destroyed at
the end whatever happened."""

from __future__ import annotations

import json

import pytest

from tests.e2e.stack import Stack, fresh_stack, secret_values

pytestmark = [pytest.mark.e2e, pytest.mark.lab]


@pytest.fixture(scope="module")
def stack(lab, tmp_path_factory):
    with fresh_stack(lab, tmp_path_factory.mktemp("status")) as s:
        yield s


@pytest.fixture(scope="module")
def deployed(stack):
    stack("up")
    return stack


def status(stack: Stack, *args: str):
    return stack("status", *args, ok=None)


def no_secret_in(lab, *texts: str) -> None:
    for value in secret_values(lab):
        for text in texts:
            assert value not in text, "a secret reached scripts/status's output"


def test_healthy_stack_exits_zero_and_says_so(lab, deployed):
    done = status(deployed)
    print(done.stdout)  # docs/status.md's sample is this output (pytest -s)
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    assert "IM port 8887" in out and f"open on {lab.im}" in out
    assert "PBX /im record" in out and f"private {lab.im}, public {lab.im_public}" in out
    assert f"{lab.im_public}/32 ACCEPT until" in out and f"{lab.im}/32 ACCEPT until" in out
    assert "Data disk" in out and "% used" in out
    assert "no backups configured" in out
    assert out.rstrip().endswith("OK")
    machine = status(deployed, "--json")
    assert machine.returncode == 0
    doc = json.loads(machine.stdout)
    assert doc["ok"] is True and doc["problems"] == [] and doc["stack"] == "lab"
    no_secret_in(lab, out, done.stderr, machine.stdout, machine.stderr)


def test_im_stopped_by_hand_is_named(lab, deployed):
    lab.imsh("stop")
    try:
        done = status(deployed)
        machine = status(deployed, "--json")
    finally:
        lab.imsh("start")
    assert done.returncode == 1, done.stdout
    assert f"IM port 8887 on {lab.im} is closed, imState is running" in done.stdout
    assert "the IM service is not running on the IM host" in done.stdout
    doc = json.loads(machine.stdout)
    assert machine.returncode == 1 and doc["ok"] is False
    assert any("IM port 8887" in p for p in doc["problems"])
    no_secret_in(lab, done.stdout, done.stderr, machine.stdout)
    # Started again by hand: well again.
    assert status(deployed).returncode == 0


def test_whitelist_entry_removed_on_the_pbx_is_named(lab, deployed):
    token = lab.api_login()
    code, listing = lab.api("GET", "/ip_filters?top=100", token=token)
    assert code == 200
    (entry,) = [e for e in listing["items"] if e["cidr"] == f"{lab.im_public}/32"]
    code, _ = lab.api("POST", f"/ip_filters/{entry['id']}/destroy", token=token)
    assert code in (200, 204)
    done = status(deployed)
    assert done.returncode == 1, done.stdout
    assert f"whitelist: no ACCEPT entry for {lab.im_public}/32 on the PBX" in done.stdout
    # The private address's entry is still there, and said so.
    assert f"{lab.im}/32 ACCEPT until" in done.stdout
    no_secret_in(lab, done.stdout, done.stderr)
    # A no-op `up` would not notice (nothing changed in the program): that is what status is for.
    # Put the entry back as it was, by hand, and status is well again.
    code, _ = lab.api(
        "POST",
        "/ip_filters",
        token=token,
        json_body={k: entry[k] for k in ("cidr", "target", "expire_at", "description")},
    )
    assert code in (200, 201)
    assert status(deployed).returncode == 0
