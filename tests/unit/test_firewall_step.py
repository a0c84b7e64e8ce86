"""hostFirewall under Pulumi's mocks: the firewall step is registered only when it is on, after
trust and before deploy, on pbx01 as the pbx user, with the stack's ranges as parameters. What the
script does on a host is proven over real SSH in tests/lab/test_existing_firewall.py."""

from __future__ import annotations

import pytest

from portsip_im.remote import params_of
from tests.unit import harness as h

CMD = "command:remote:Command"
ON = {
    **h.base_config("existing"),
    "hostFirewall": "true",
    "clientCidrs": '["203.0.113.0/24", "2001:db8::/32"]',
    "adminCidrs": '["198.51.100.0/24"]',
}


def steps(result):
    return {r.name.removeprefix("im-"): r for r in result.mocks.of_type(CMD)}


@pytest.fixture(scope="module")
def walled():
    return h.run(ON)


def test_without_the_option_there_is_no_firewall_step():
    assert "firewall" not in steps(h.run(h.base_config("existing")))
    assert "firewall" not in steps(h.run({**h.base_config("existing"), "hostFirewall": "false"}))


def test_the_step_runs_on_pbx01_after_trust_and_before_deploy(walled):
    s = steps(walled)
    fw = s["firewall"]
    assert "im-trust" in fw.depends_on
    assert "im-firewall" in s["deploy"].depends_on
    # pbx01 as the pbx user (it reaches the IM host through pbx01's trust), never the IM host's
    # admin login.
    assert fw.inputs["connection"]["host"] == h.PBX01
    assert fw.inputs["connection"]["user"] == "pbx"
    assert fw.inputs["connection"] == s["deploy"].inputs["connection"]


def test_its_parameters_are_the_stacks_ranges(walled):
    fw = steps(walled)["firewall"]
    assert params_of(fw.inputs["create"]) == {
        "IM_IP": h.IM_PRIVATE,
        "PBX_USER": "pbx",
        "PBX01_IP": h.PBX01,
        "ADMIN_CIDRS": "198.51.100.0/24",
        "CLIENT_CIDRS": "203.0.113.0/24 2001:db8::/32",
        "ROLLBACK": "60",
    }
    assert params_of(fw.inputs["delete"])["ACTION"] == "remove"
    assert "nft -c -f" in fw.inputs["stdin"]


def test_the_default_clients_are_everyone_and_pbx01_private_ip_wins():
    fw = steps(
        h.run({**h.base_config("existing"), "hostFirewall": "true", "pbx01PrivateIp": "10.1.2.3"})
    )["firewall"]
    p = params_of(fw.inputs["create"])
    assert (p["CLIENT_CIDRS"], p["ADMIN_CIDRS"], p["PBX01_IP"]) == (
        "0.0.0.0/0 ::/0",
        "",
        "10.1.2.3",
    )
