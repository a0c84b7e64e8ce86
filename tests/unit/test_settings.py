"""Config parsing and validation, without Pulumi's runtime: every bad input gets one clear error."""

import ipaddress

import pytest

from portsip_im.rules import in_network, is_private_address
from stack_config import ConfigError, check_config, config_keys, parse_config
from tests.unit.harness import base_config

SECRETS = {"sshPrivateKey", "pbxPassword", "pbxAdminPassword", "imToken"}


def parse(target: str, /, **overrides: str | None):
    raw = base_config(target)
    for key, value in overrides.items():
        if value is None:
            raw.pop(key, None)
        else:
            raw[key] = value
    return check_config(raw, SECRETS & raw.keys())


def error_of(target: str, /, **overrides: str | None) -> str:
    with pytest.raises(ConfigError) as exc:
        parse(target, **overrides)
    return str(exc.value)


@pytest.mark.parametrize("target", ["aws", "hcloud", "existing"])
def test_guide_example_is_valid(target):
    c = parse(target)
    assert c.target == target
    assert c.private_ip == "192.168.1.25"
    assert c.data_disk_gb == 256
    assert c.storage_path == "/data/im"
    assert [str(n) for n in c.admin_cidrs] == ([] if target == "existing" else ["198.51.100.0/24"])


def test_defaults():
    c = parse("existing")
    assert [str(n) for n in c.client_cidrs] == ["0.0.0.0/0", "::/0"]
    assert c.pbx01_user == "pbx"
    assert c.protect_data is True
    assert c.location == "fsn1" and c.image == "ubuntu-24.04"


def test_cidr_lists_accept_json_or_commas():
    c = parse("existing", clientCidrs="10.0.0.0/8, 2001:db8::/32")
    assert [str(n) for n in c.client_cidrs] == ["10.0.0.0/8", "2001:db8::/32"]
    c = parse("existing", clientCidrs='["10.0.0.0/8"]')
    assert [str(n) for n in c.client_cidrs] == ["10.0.0.0/8"]


@pytest.mark.parametrize(
    "target, overrides, expected",
    [
        (
            "existing",
            {"target": "gcp"},
            "portsip-im:target: 'gcp' is not one of aws, hcloud or existing",
        ),
        ("existing", {"target": None}, "portsip-im:target: required, not set"),
        ("existing", {"privateIp": "192.168.1.300"}, "portsip-im:privateIp: '192.168.1.300'"),
        ("existing", {"privateIp": "im.example"}, "is not an IPv4 address"),
        ("existing", {"privateIp": None}, "portsip-im:privateIp: required, not set"),
        ("existing", {"privateIp": "0.0.0.0"}, "portsip-im:privateIp: 0.0.0.0 is not a usable"),
        ("existing", {"publicIp": None}, "portsip-im:publicIp: required when target is existing"),
        ("aws", {"subnetId": None}, "portsip-im:subnetId: required when target is aws"),
        ("aws", {"pbxSecurityGroupId": None}, "portsip-im:pbxSecurityGroupId: required when"),
        ("aws", {"sshPublicKey": None}, "portsip-im:sshPublicKey: required when target is aws"),
        ("aws", {"publicIp": "104.18.36.110"}, "portsip-im:publicIp: only for target existing"),
        ("hcloud", {"networkId": None}, "portsip-im:networkId: required when target is hcloud"),
        ("hcloud", {"networkId": "pbx-net"}, "portsip-im:networkId: 'pbx-net'"),
        ("existing", {"dataDiskGb": "128"}, "portsip-im:dataDiskGb: '128': must be at least 256"),
        ("existing", {"dataDiskGb": "lots"}, "portsip-im:dataDiskGb: 'lots'"),
        (
            "existing",
            {"clientCidrs": '["10.0.0.0/33"]'},
            "portsip-im:clientCidrs[0]: '10.0.0.0/33'",
        ),
        ("existing", {"adminCidrs": "10.1.2.3/8"}, "portsip-im:adminCidrs[0]: '10.1.2.3/8'"),
        (
            "existing",
            {"storagePath": "data/im"},
            "portsip-im:storagePath: 'data/im': must be an absolute path",
        ),
        (
            "existing",
            {"dataDiskDevice": "sdb"},
            "portsip-im:dataDiskDevice: 'sdb': must be an absolute",
        ),
        (
            "existing",
            {"pbx01Host": None},
            "portsip-im:pbx01Host: required when pbxStack is not set",
        ),
        ("existing", {"privateIP": "192.168.1.25"}, "portsip-im:privateIP: unknown config key"),
        ("existing", {"protectData": "maybe"}, "portsip-im:protectData: 'maybe'"),
    ],
)
def test_bad_input_names_the_key(target, overrides, expected):
    assert expected in error_of(target, **overrides)


@pytest.mark.parametrize(
    "key, value, expected",
    [
        ("imState", "paused", "portsip-im:imState: 'paused' is not one of running or stopped"),
        ("pbxApi", "soap", "portsip-im:pbxApi: 'soap' is not one of rest or manual"),
    ],
)
def test_choices_name_their_own_options(key, value, expected):
    assert expected in error_of("existing", **{key: value})


def test_pbx01_hostname_needs_its_private_ip_on_clouds():
    msg = error_of("aws", pbx01Host="pbx01.example")
    assert "portsip-im:pbx01PrivateIp: required when pbx01Host ('pbx01.example')" in msg
    parse("aws", pbx01Host="pbx01.example", pbx01PrivateIp="192.168.1.11")
    parse("existing", pbx01Host="pbx01.example")  # no cloud firewall to write there


def test_missing_secret():
    msg = error_of("existing", sshPrivateKey=None)
    assert (
        "portsip-im:sshPrivateKey: required, not set (pulumi config set --secret sshPrivateKey"
        in msg
    )


def test_secret_given_as_plain_text_is_refused():
    raw = base_config("existing")
    with pytest.raises(ConfigError) as exc:
        parse_config(raw, secret_keys=set())
    assert "portsip-im:sshPrivateKey: set as plain text; it must be a secret" in str(exc.value)


def test_every_problem_in_one_error():
    msg = error_of("existing", privateIp="nope", dataDiskGb="10", storagePath="rel")
    assert msg.count("portsip-im:") == 3


def test_malformed_json_list():
    assert "portsip-im:clientCidrs: '[\"10.0.0.0/8\"': not a valid JSON list" in error_of(
        "existing", clientCidrs='["10.0.0.0/8"'
    )


def test_pbx_stack_replaces_pbx01_host():
    c = parse("existing", pbx01Host=None, pbxStack="acme/portsip-pbx/prod")
    assert c.pbx_stack == "acme/portsip-pbx/prod"


def test_ip_inside_network():
    in_network("192.168.1.25", "192.168.1.0/24", "subnet s")
    with pytest.raises(ValueError, match=r"^10.0.0.5 is not inside subnet s \(192.168.1.0/24\)$"):
        in_network("10.0.0.5", "192.168.1.0/24", "subnet s")
    with pytest.raises(ValueError, match="network or broadcast"):
        in_network("192.168.1.255", "192.168.1.0/24", "subnet s")


def test_every_field_has_a_description():
    from portsip_im.args import ImServerArgs
    from portsip_im.inputs import docstrings, leaves

    docs = docstrings(ImServerArgs)
    assert all(docs[path] for path in leaves(ImServerArgs))
    assert "sshPrivateKey" in config_keys() and "privateIp" in config_keys()


@pytest.mark.parametrize(
    "cidrs",
    [
        '["0.0.0.0/0"]',
        '["::/0"]',
        "0.0.0.0/1, 128.0.0.0/1",  # the whole Internet in two halves
        '["2.0.0.0/7"]',  # one bit broader than the IPv4 bound
        '["2000::/3"]',  # all of IPv6's global unicast
        '["2001:db8::/31"]',  # one bit broader than the IPv6 bound
    ],
)
def test_admin_cidrs_that_span_the_internet_are_refused(cidrs):
    msg = error_of("aws", adminCidrs=cidrs)
    assert "portsip-im:adminCidrs[0]:" in msg
    assert "would open SSH on the IM server to" in msg
    assert "or narrower for IPv" in msg


def test_admin_cidrs_name_the_whole_internet():
    assert "0.0.0.0/0 (the whole Internet)" in error_of("aws", adminCidrs='["0.0.0.0/0"]')
    assert "/48 or narrower for IPv6" in error_of("aws", adminCidrs="::/0")


@pytest.mark.parametrize(
    "cidrs",
    [
        "10.0.0.0/8",
        "100.64.0.0/10",
        "fd00::/8",
        "198.51.0.0/16",
        "2001:db8::/48",
        "198.51.100.7/32",
        "203.0.113.0/24, 2001:db8:1::/48",
        "::ffff:c0a8:0/112",  # IPv4-mapped 192.168.0.0/16: private
        "::ffff:cb00:7100/120",  # IPv4-mapped 203.0.113.0/24
    ],
)
def test_admin_cidrs_at_or_inside_the_bound_are_accepted(cidrs):
    c = parse("aws", adminCidrs=cidrs)
    assert [str(n) for n in c.admin_cidrs] == [x.strip() for x in cidrs.split(",")]


def test_client_cidrs_may_still_be_everyone():
    # TCP 8887 is the IM service itself: open to everyone by default, on purpose.
    c = parse("aws", clientCidrs='["0.0.0.0/0", "::/0"]')
    assert [str(n) for n in c.client_cidrs] == ["0.0.0.0/0", "::/0"]


@pytest.mark.parametrize(
    "address, private",
    [
        ("10.0.0.1", True),
        ("172.16.0.1", True),
        ("172.31.255.254", True),
        ("192.168.1.25", True),
        ("100.64.0.1", True),  # RFC 6598 shared address space
        ("100.127.255.254", True),
        ("fd12:3456::25", True),  # IPv6 ULA
        ("172.32.0.1", False),
        ("100.128.0.1", False),
        ("8.8.8.8", False),
        ("104.18.36.110", False),
        ("192.0.2.1", False),  # documentation range: private to Python, not a PBX network
        ("169.254.1.1", False),  # link-local
        ("2001:db8::25", False),
    ],
)
def test_private_address(address, private):
    assert is_private_address(ipaddress.ip_address(address)) is private


@pytest.mark.parametrize("key", ["privateIp", "pbx01PrivateIp", "pbxVirtualIp"])
@pytest.mark.parametrize("target", ["aws", "hcloud", "existing"])
def test_private_addresses_must_be_private(target, key):
    msg = error_of(target, **{key: "8.8.8.8"})
    assert f"portsip-im:{key}: 8.8.8.8 is not a private address (RFC 1918" in msg
    assert "set allowPublicPrivateNetwork: true" in msg
    assert msg.count("portsip-im:") == 1


def test_public_private_network_is_an_explicit_opt_out():
    c = parse(
        "existing",
        privateIp="8.8.8.8",
        pbxVirtualIp="8.8.4.4",
        pbx01PrivateIp="8.8.8.9",
        allowPublicPrivateNetwork="true",
    )
    assert str(c.private_ip) == "8.8.8.8" and c.allow_public_private_network is True
    assert parse("existing").allow_public_private_network is False
    # The opt-out is about addressing only: an unusable address stays refused.
    assert "127.0.0.1 is not a usable host address" in error_of(
        "existing", privateIp="127.0.0.1", allowPublicPrivateNetwork="true"
    )


def test_public_ip_may_be_public():
    assert str(parse("existing", publicIp="104.18.36.110").public_ip) == "104.18.36.110"


def test_pbx01_host_as_default_private_ip_must_be_private_on_clouds():
    msg = error_of("aws", pbx01Host="104.18.36.11")
    assert (
        "portsip-im:pbx01PrivateIp: not set, and pbx01Host (104.18.36.11), its default, is not a "
        "private address" in msg
    )
    assert msg.count("portsip-im:") == 1
    parse("aws", pbx01Host="104.18.36.11", pbx01PrivateIp="192.168.1.11")
    parse("aws", pbx01Host="104.18.36.11", allowPublicPrivateNetwork="true")
    parse("existing", pbx01Host="104.18.36.11")  # reached from outside; no cloud SSH rule there


def test_a_misspelled_key_fails_naming_the_closest_known_one():
    msg = error_of("aws", storagPath="/data/im")
    assert "portsip-im:storagPath: unknown config key; did you mean storagePath?" in msg


def test_an_unknown_key_reaches_the_program_and_fails_before_anything_exists():
    from tests.unit import harness

    with pytest.raises(ConfigError, match=r"portsip-im:imRelase: .*did you mean imRelease\?"):
        harness.run({**harness.base_config("existing"), "imRelase": "22.1"})


@pytest.mark.parametrize(
    ("key", "value", "shape"),
    [
        ("storagePath", "/data/im;reboot", "an absolute path of letters"),
        ("guideDir", "/opt/$(id)", "an absolute path of letters"),
        ("dataDiskDevice", "/var/disk", "a device path under /dev/"),
        ("pbx01User", "pbx root", "a POSIX user name"),
        ("adminUser", "Ubuntu", "a POSIX user name"),
        ("pbxAdminUser", "admin'; --", "a user name without white space"),
        ("imRelease", "22.1 && curl x", "letters, digits and"),
        ("restartToken", "`id`", "letters, digits and"),
        ("requiredOs", "ubuntu", "`ID VERSION_ID`"),
        ("pbx01Host", "pbx01|x", "a host name or IP address"),
        ("pbxApiUrl", "https://pbx/api;x", "shell characters"),
    ],
)
def test_values_that_reach_a_host_are_held_to_their_shape(key, value, shape):
    msg = error_of("existing", **{key: value})
    assert f"portsip-im:{key}: " in msg and shape in msg


def test_values_read_as_before_the_table():
    # As pydantic read them: t/f/y/n, a whole number written with `.0`; not another script's digits.
    c = parse("existing", protectData="F", jumpViaPbx01="y", sshPerDialTimeout="30.0")
    assert (c.protect_data, c.jump_via_pbx01, c.ssh_per_dial_timeout) == (False, True, 30)
    assert "must be a whole number" in error_of("existing", sshPerDialTimeout="٣٠")
    assert "must be a whole number" in error_of("existing", sshPerDialTimeout="30.5")


def test_public_ip_beside_a_reused_allocation_is_ignored_as_before():
    c = parse("aws", publicIp="104.18.36.110", publicIpId="eipalloc-0123abcd")
    assert c.public_ip_id == "eipalloc-0123abcd"
    assert "portsip-im:publicIp: only for target existing" in error_of(
        "aws", publicIp="104.18.36.110"
    )


def test_a_plain_key_set_as_a_secret_is_never_shown():
    raw = {**base_config("existing"), "pbxApiUrl": "ftp://pbx.example/hidden-path"}
    with pytest.raises(ConfigError) as exc:
        check_config(raw, SECRETS & raw.keys() | {"pbxApiUrl"})
    assert "hidden-path" not in str(exc.value)
    assert "portsip-im:pbxApiUrl: set as a secret, but it is not one" in str(exc.value)
    raw = {**base_config("existing"), "adminCidrs": '["not-a-network"]', "hostFirewall": "true"}
    with pytest.raises(ConfigError) as exc:
        check_config(raw, SECRETS & raw.keys() | {"adminCidrs"})
    assert "not-a-network" not in str(exc.value)


def test_the_stack_config_holds_no_secret():
    c = parse("existing")
    assert c.given("pbxPassword") is True and c.given("sshPrivateKey") is True
    assert "pw" not in repr(c)
