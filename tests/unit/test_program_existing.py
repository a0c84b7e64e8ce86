"""target=existing under Pulumi's mocks: nothing provisioned, the host described."""

from tests.unit import harness as h


def test_nothing_is_provisioned_and_outputs_describe_the_host():
    r = h.run(h.base_config("existing"))
    provisioned = [x.typ for x in r.resources if not x.typ.startswith("command:")]
    assert sorted(provisioned) == ["portsip:im:ExistingHost", "portsip:im:ImServer"]
    assert r.mocks.calls == []
    assert r.exports == {
        "target": "existing",
        "imPrivateIp": h.IM_PRIVATE,
        "imPublicIp": h.IM_PUBLIC,
        "imEndpoint": f"{h.IM_PUBLIC}:8887",
        "hostId": f"existing:{h.IM_PRIVATE}",
        "imHealth": {
            "imPort8887": "open",
            "expected": "running",
            "vendorStatus": "unavailable",
            "checkedFrom": "pbx01",
        },
    }
