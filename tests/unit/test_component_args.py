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
        "host.aws.subnet_id": "required, not set",
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
    assert found["pbx.api.admin_password"] == "required, not set"
    assert "'paused' is not one of running, stopped" in found["im.state"]
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


def test_a_misspelled_or_other_targets_field_is_named():
    a = args("hcloud", client_cidr=["203.0.113.0/24"], data_snapshot_id="snap-0123456789abcdef0")
    a["pbx"]["api"]["admin_pasword"] = "x"
    found = problems(a)
    assert found["host.hcloud.client_cidr"] == "unknown field; did you mean client_cidrs?"
    assert found["host.hcloud.data_snapshot_id"] == "only for host.aws"
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
