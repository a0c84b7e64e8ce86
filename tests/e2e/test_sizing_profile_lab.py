"""sizingProfile on `existing`, measured by prepare.sh on the lab's IM host (2 vCPU) through the
real engine: below the medium profile the up fails naming the profile and each figure; the lab
switch allowUndersizedHost lets it through with a warning that names the profile too."""

from __future__ import annotations

import pytest

from tests.e2e.stack import fresh_stack

pytestmark = [pytest.mark.e2e, pytest.mark.lab]


@pytest.fixture(scope="module")
def stack(lab, tmp_path_factory):
    with fresh_stack(lab, tmp_path_factory.mktemp("sizing")) as s:
        yield s


def test_medium_profile_is_measured_on_the_host_and_named(lab, stack):
    stack.set = {"sizingProfile": "medium", "allowUndersizedHost": "false"}
    done = stack("up", ok=False)
    out = done.stdout + done.stderr
    assert "vCPU (minimum 6)" in out, out[-3000:]
    assert "in sizingProfile medium (set allowUndersizedHost only for a lab)" in out
    # Nothing of the vendor's ran: prepare stopped the guide before the deploy step.
    assert int(lab.standin_state().get("counters", {}).get("run", 0)) == 0


def test_the_lab_switch_still_lets_it_through_loudly(lab, stack):
    stack.set = {"sizingProfile": "medium", "allowUndersizedHost": "true"}
    done = stack("up")
    out = done.stdout + done.stderr
    assert "UNDERSIZED HOST ACCEPTED (allowUndersizedHost=true, sizingProfile medium)" in out
