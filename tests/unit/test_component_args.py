"""ImServerArgs held to their rules by the component itself, whoever calls it: one error naming
each bad field (`host.aws.subnet_id`), nothing registered. Pure: no Pulumi engine, no mocks, except
where a value is an Output and is checked once known."""

from __future__ import annotations

from typing import Any

import pulumi
import pytest

from portsip_im.checks import ArgsError, resolve
from tests.unit import harness as h

KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAItestkey operator"


def args(target: str = "existing", **host: Any) -> dict[str, Any]:
    base: dict[str, dict[str, Any]] = {
        "existing": {
            "private_ip": h.IM_PRIVATE,
            "public_ip": h.IM_PUBLIC,
            "host_key": h.IM_HOST_KEY,
        },
        "aws": {
            "private_ip": h.IM_PRIVATE,
            "ssh_public_key": KEY,
            "subnet_id": "subnet-0pbx",
            "pbx_security_group_id": "sg-0pbx",
        },
        "hcloud": {"private_ip": h.IM_PRIVATE, "ssh_public_key": KEY, "network_id": 4242},
    }
    return {
        "host": {target: {**base[target], **host}},
        "pbx": {
            "pbx01_host": h.PBX01,
            "pbx01_host_key": h.PBX01_HOST_KEY,
            "password": "pw",
            "virtual_ip": h.PBX_VIP,
            "api": {"admin_password": "admin-pw"},
        },
        "ssh": {"private_key": "key"},
    }


def problems(a: dict[str, Any]) -> dict[str, str]:
    with pytest.raises(ArgsError) as caught:
        resolve(a)
    return dict(caught.value.problems)


def test_good_args_resolve_with_the_guides_defaults():
    r = resolve(args("aws"))
    assert (r.target, r.size, r.admin_user, r.pbx01_user) == ("aws", "c7i.6xlarge", "ubuntu", "pbx")
    assert r.pbx_api_url is not None and r.pbx01_source_cidr == f"{h.PBX01}/32"
    assert r.guide_dir == "/opt/portsip-pbx-ha-guide" and r.im_state == "running"


def test_exactly_one_host_target():
    two = args("aws")
    two["host"]["existing"] = args()["host"]["existing"]
    assert problems(two) == {
        "host": "set exactly one of aws, hcloud, existing (set: aws, existing)"
    }
    assert "set: none" in problems({**args(), "host": {}})["host"]


def test_each_target_names_its_missing_fields():
    a = args("aws")
    del a["host"]["aws"]["subnet_id"], a["pbx"]["password"]
    assert problems(a) == {
        "host.aws.subnet_id": "required when `host` is aws, not set",
        "pbx.password": "required, not set",
    }


@pytest.mark.parametrize(
    ("host", "field", "says"),
    [
        ({"private_ip": "8.8.8.8"}, "host.existing.private_ip", "is not a private address"),
        ({"host_key": "ssh-rsa AAAAB3NzaC1yc2E"}, "host.existing.host_key", "ssh-rsa host key"),
        ({"host_key": "not a key"}, "host.existing.host_key", "must be an SSH public key"),
        ({"data_disk_device": "sdb"}, "host.existing.data_disk_device", "absolute path"),
        ({"sizing_profile": "huge"}, "host.existing.sizing_profile", "'huge' is not one of"),
    ],
)
def test_existing_host_fields(host, field, says):
    assert says in problems(args(**host))[field]


@pytest.mark.parametrize(
    ("host", "field", "says"),
    [
        ({"admin_cidrs": ["10.0.0.0/8", "0.0.0.0/0"]}, "host.aws.admin_cidrs[1]", "whole Internet"),
        ({"admin_cidrs": ["::ffff:0:0/96"]}, "host.aws.admin_cidrs[0]", "embeds IPv4"),
        ({"client_cidrs": ["203.0.113.7/24"]}, "host.aws.client_cidrs[0]", "host bits set"),
        ({"data_disk_gb": 100}, "host.aws.data_disk_gb", "at least 256"),
        ({"data_snapshot_id": "vol-1"}, "host.aws.data_snapshot_id", "EBS snapshot id"),
        ({"ebs_snapshot_keep": 0}, "host.aws.ebs_snapshot_keep", "at least 1"),
    ],
)
def test_cloud_host_fields(host, field, says):
    assert says in problems(args("aws", **host))[field]


def test_pbx_api_and_service_fields():
    a = args()
    a["pbx"]["api"] = {
        "mode": "rest",
        "url": "ftp://pbx",
        "login_path": "login",
        "whitelist_days": 0,
    }
    a["im"] = {"state": "paused", "storage_path": "data/im"}
    a["ssh"]["per_dial_timeout"] = 601
    found = problems(a)
    assert "must start with https://" in found["pbx.api.url"]
    assert "starting with /" in found["pbx.api.login_path"]
    assert "at least 1" in found["pbx.api.whitelist_days"]
    assert found["pbx.api.admin_password"] == "required when `pbx.api.mode` is rest, not set"
    assert "'paused' is not one of running or stopped" in found["im.state"]
    assert found["im.storage_path"] == "must be an absolute path"
    assert found["ssh.per_dial_timeout"] == "must be at most 600"


def test_backup_fields_never_show_a_credential():
    a = args()
    a["backup"] = {
        "repository": "s3://user:s3cr3t@host/bucket",
        "password": "p",
        "schedule": "*-*-* *:00",
        "keep": {"daily": 0},
        "env": {"RESTIC_PASSWORD": "x"},
        "restore_snapshot": "yesterday",
    }
    found = problems(a)
    assert "s3cr3t" not in str(found)
    assert "password in the URL" in found["backup.repository"]
    assert "systemd calendar" in found["backup.schedule"]
    assert "positive whole number" in found["backup.keep"]
    assert "set by the backup itself" in found["backup.env"]
    assert "`latest` or a restic snapshot id" in found["backup.restore_snapshot"]
    inside = args()
    inside["backup"] = {"repository": "/var/lib/portsip/repo", "password": "p"}
    assert "lies in or over /var/lib/portsip" in problems(inside)["backup.repository"]


def test_pbx01_host_that_is_no_address_needs_pbx01_private_ip_on_a_cloud():
    a = args("hcloud")
    a["pbx"]["pbx01_host"] = "pbx01.example.net"
    assert "is not an IPv4 address" in problems(a)["pbx.pbx01_private_ip"]
    a["pbx"]["pbx01_private_ip"] = "192.168.1.11"
    assert resolve(a).pbx01_source_cidr == "192.168.1.11/32"


class _Mocks(pulumi.runtime.Mocks):
    def new_resource(self, args):  # type: ignore[no-untyped-def]
        return [f"{args.name}-id", dict(args.inputs)]

    def call(self, args):  # type: ignore[no-untyped-def]
        return {}


@pytest.mark.parametrize(
    ("place", "value", "field", "says"),
    [
        ("host_key", "ssh-rsa AAAAB3NzaC1yc2E", "host.existing.host_key", "ssh-rsa host key"),
        ("private_ip", "8.8.8.8", "host.existing.private_ip", "not a private address"),
    ],
)
def test_an_output_is_checked_once_known_with_the_same_message(place, value, field, says):
    pulumi.runtime.set_mocks(_Mocks(), preview=False)
    a = args(**{place: pulumi.Output.from_input(value)})
    r = resolve(a)  # nothing known yet to refuse
    checked = r.im_host_key if place == "host_key" else r.private_ip
    assert isinstance(checked, pulumi.Output)

    @pulumi.runtime.test
    def known():
        return checked.apply(lambda v: v)

    with pytest.raises(ArgsError, match=f"{field}: .*{says}"):
        known()


EVIL = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIevil"


@pytest.mark.parametrize(
    ("place", "field"),
    [("host_key", "host.existing.host_key"), ("pbx01_host_key", "pbx.pbx01_host_key")],
)
def test_a_host_key_output_with_a_second_line_is_refused_by_name(place, field):
    # Before 0.5.0 an Output was checked but passed on raw: split() read the line break as a
    # space, and trust-key.sh wrote `* ssh-ed25519 EVIL` into pbx01's known_hosts.
    pulumi.runtime.set_mocks(_Mocks(), preview=False)
    a = args()
    two_lines = pulumi.Output.from_input(f"{h.IM_HOST_KEY}\n* {EVIL}")
    if place == "host_key":
        a["host"]["existing"]["host_key"] = two_lines
    else:
        a["pbx"]["pbx01_host_key"] = two_lines
    r = resolve(a)
    checked = r.im_host_key if place == "host_key" else r.pbx01_host_key

    @pulumi.runtime.test
    def known():
        return checked.apply(lambda v: v)  # type: ignore[union-attr]

    with pytest.raises(ArgsError, match=f"{field}: must be one SSH public key on one line"):
        known()


def test_a_key_output_is_normalized_as_a_plain_value_is():
    pulumi.runtime.set_mocks(_Mocks(), preview=False)
    a = args("aws", ssh_public_key=pulumi.Output.from_input(f"  {KEY}\n"))
    a["host"]["aws"]["private_ip"] = h.IM_PRIVATE
    a["pbx"]["pbx01_host_key"] = pulumi.Output.from_input(f"{h.PBX01_HOST_KEY} root@pbx01\n")
    r = resolve(a)
    plain = resolve(args("aws"))

    @pulumi.runtime.test
    def known():
        return pulumi.Output.all(r.ssh_public_key, r.pbx01_host_key).apply(
            lambda v: assert_equal(v, [plain.ssh_public_key, h.PBX01_HOST_KEY])
        )

    known()


def assert_equal(got: Any, want: Any) -> None:
    assert got == want


PIN = "sha256//" + "A" * 43 + "="
CA = "-----BEGIN CERTIFICATE-----\nMIIBdTCCARugAwIBAgIU\n-----END CERTIFICATE-----"


def test_pbx_api_trust_fields():
    a = args()
    a["pbx"]["api"].update(url="http://192.168.1.130:8887/api")
    assert "plain http://" in problems(a)["pbx.api.url"]
    a["pbx"]["api"]["allow_insecure_http"] = True
    assert resolve(a).pbx_api_url == "http://192.168.1.130:8887/api"
    bad = args()
    bad["pbx"]["api"].update(
        ca_certificate="-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----",
        pinned_public_key="sha256//short",
    )
    found = problems(bad)
    assert "holds a private key" in found["pbx.api.ca_certificate"]
    assert "must be `sha256//BASE64`" in found["pbx.api.pinned_public_key"]
    good = args()
    good["pbx"]["api"].update(ca_certificate=CA + "\n\n", pinned_public_key=f"{PIN} ; {PIN}")
    r = resolve(good)
    assert r.pbx_api_ca_certificate == CA + "\n"
    assert r.pbx_api_pinned_public_key == f"{PIN};{PIN}"


def test_the_pin_is_a_parameter_and_the_ca_travels_with_the_secrets():
    from portsip_im.pbx import PbxAccess

    good = args()
    good["pbx"]["api"].update(ca_certificate=CA, pinned_public_key=PIN)
    access = PbxAccess.from_settings(resolve(good))
    assert access.params()["PBX_PINNED_PUBKEY"] == PIN
    assert set(access.api_secrets()) == {"PBX_ADMIN_PASSWORD", "PBX_CA_CERT"}
    assert "PBX_CA_CERT" not in access.params()
    # Unset, nothing is sent: a stack without them sends what it sent before.
    plain = PbxAccess.from_settings(resolve(args()))
    assert "PBX_PINNED_PUBKEY" not in plain.params()
    assert set(plain.api_secrets()) == {"PBX_ADMIN_PASSWORD"}


def test_line_based_secrets_and_the_pbx_user():
    a = args()
    a["pbx"]["password"] = "pw\nroot:x"
    a["pbx"]["user"] = "daemon"
    a["backup"] = {"repository": "sftp:vault:/srv/im", "password": "one\ntwo"}
    found = problems(a)
    assert found["pbx.password"].startswith("must be on one line")
    assert "root:x" not in str(found) and "two" not in found["backup.password"]
    assert found["backup.password"].startswith("must be on one line")
    assert "'daemon' is a system or cloud admin account" in found["pbx.user"]
    admin = args(admin_user="ops")
    admin["pbx"]["user"] = "ops"
    assert "IM host's admin user" in problems(admin)["pbx.user"]


def test_a_misspelled_or_other_targets_field_is_named():
    a = args("hcloud", client_cidr=["203.0.113.0/24"], data_snapshot_id="snap-0123456789abcdef0")
    a["pbx"]["api"]["admin_pasword"] = "x"
    found = problems(a)
    assert found["host.hcloud.client_cidr"] == "unknown field; did you mean client_cidrs?"
    assert found["host.hcloud.data_snapshot_id"] == "only for `host.aws` (an EBS snapshot)"
    assert found["pbx.api.admin_pasword"] == "unknown field; did you mean admin_password?"


def test_an_empty_client_list_admits_no_one_and_a_wrong_type_is_an_args_error():
    assert resolve(args("aws", client_cidrs=[])).client_cidrs == []
    assert problems(args("aws", data_disk_gb="300")) == {
        "host.aws.data_disk_gb": "must be a whole number of GB"
    }


def test_a_required_output_without_a_value_is_refused_never_left_unpinned():
    pulumi.runtime.set_mocks(_Mocks(), preview=False)
    r = resolve(args(host_key=pulumi.Output.from_input(None)))

    @pulumi.runtime.test
    def known():
        return r.im_host_key.apply(lambda v: v)  # type: ignore[union-attr]

    with pytest.raises(ArgsError, match=r"host.existing.host_key: required, not set"):
        known()


def test_secrets_given_as_plain_text_become_secrets():
    pulumi.runtime.set_mocks(_Mocks(), preview=False)
    a = args()
    a["backup"] = {
        "repository": "/mnt/im-backup",
        "password": "plain-backup-pw",
        "env": {"AWS_SECRET_ACCESS_KEY": pulumi.Output.secret("s3-secret")},
    }
    r = resolve(a)
    values = [
        r.pbx_password,
        r.ssh_private_key,
        r.pbx_admin_password,
        r.backup_password,
        r.backup_env,
    ]

    assert all(isinstance(v, pulumi.Output) for v in values)
    for v in values:
        assert pulumi.runtime.sync_await._sync_await(v.is_secret())  # type: ignore[attr-defined]


def test_the_firewall_is_for_an_existing_host_and_needs_pbx01s_private_ip():
    assert resolve(args()).host_firewall is False
    on = resolve(args(firewall=True, client_cidrs=[], admin_cidrs=["10.9.0.0/16"]))
    assert on.host_firewall and on.pbx01_source_cidr == f"{h.PBX01}/32"
    assert on.client_cidrs == [] and [str(n) for n in on.admin_cidrs] == ["10.9.0.0/16"]
    assert problems(args("aws", firewall=True))["host.aws.firewall"].startswith(
        "only for `host.existing`"
    )
    assert problems(args("hcloud", firewall=True)) == {
        "host.hcloud.firewall": "only for `host.existing` (on hcloud the program's security group "
        "/ firewall admits `host.hcloud.client_cidrs` and `host.hcloud.admin_cidrs` already)"
    }
    # Without the firewall nothing on an existing host reads the ranges: refused, not ignored.
    assert problems(args(client_cidrs=["203.0.113.0/24"])) == {
        "host.existing.client_cidrs": "only with `host.existing.firewall` (nothing else on an "
        "existing host reads it)"
    }
    named = args(firewall=True)
    named["pbx"]["pbx01_host"] = "pbx01.example.net"
    found = problems(named)
    assert list(found) == ["pbx.pbx01_private_ip"]
    assert (
        "'pbx01.example.net') is not an IPv4 address: set it to pbx01's private IP"
        in (found["pbx.pbx01_private_ip"])
    )
    # Without the firewall an existing host needs no such address (as before).
    named["host"]["existing"].pop("firewall")
    assert resolve(named).pbx01_source_cidr == ""
    bad = args(firewall=True, admin_cidrs=["0.0.0.0/0"])
    assert list(problems(bad)) == ["host.existing.admin_cidrs[0]"]
    nosudo = args(firewall=True)
    nosudo["prepare"] = {"pbx_sudo_nopasswd": False}
    assert "needs `prepare.pbx_sudo_nopasswd`" in problems(nosudo)["host.existing.firewall"]
    assert problems(args(firewall="yes")) == {
        "host.existing.firewall": "'yes': must be true or false"
    }


def test_the_pbx_user_by_default_is_not_the_admin_user_either():
    assert "IM host's admin user" in problems(args(admin_user="pbx"))["pbx.user"]


def test_a_firewall_without_the_jump_needs_the_operators_address():
    a = args(firewall=True)
    a["pbx"]["pbx01_private_ip"] = h.PBX01
    a["ssh"]["jump_via_pbx01"] = False
    assert "list it in `host.existing.admin_cidrs`" in problems(a)["host.existing.firewall"]
    a["host"]["existing"]["admin_cidrs"] = ["198.51.100.7/32"]
    assert resolve(a).host_firewall is True
