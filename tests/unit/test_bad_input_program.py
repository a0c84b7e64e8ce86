"""Bad input, run through the real program in preview: one clear error naming the key, and not a
single resource registered (not even the ImServer component)."""

import pulumi
import pytest

from stack_config import ConfigError
from tests.unit import harness as h


def preview_error(config, secret_keys=h.SECRET_KEYS):
    # A ConfigError, or the component's ArgsError named by config key when the bad value is an
    # Output known only during the run (both RunErrors: Pulumi prints the message alone).
    with pytest.raises(pulumi.RunError) as exc:
        h.run(config, secret_keys=secret_keys, preview=True)
    return str(exc.value)


CASES = [
    (
        "unknown target",
        {**h.base_config("existing"), "target": "azure"},
        "portsip-im:target: 'azure'",
    ),
    (
        "private ip not an ip",
        {**h.base_config("aws"), "privateIp": "192.168.1"},
        "portsip-im:privateIp",
    ),
    (
        "private ip outside the subnet",
        {**h.base_config("aws"), "privateIp": "10.20.30.40"},
        "portsip-im:privateIp: 10.20.30.40 is not inside subnet subnet-0pbx (192.168.1.0/24)",
    ),
    (
        "private ip outside the network",
        {**h.base_config("hcloud"), "privateIp": "172.16.0.9"},
        "portsip-im:privateIp: 172.16.0.9 is not inside network 4242 (192.168.0.0/16)",
    ),
    (
        "public ip missing for existing",
        {k: v for k, v in h.base_config("existing").items() if k != "publicIp"},
        "portsip-im:publicIp: required when target is existing",
    ),
    (
        "aws size below spec",
        {**h.base_config("aws"), "size": "c7i.4xlarge"},
        "portsip-im:size: instance type c7i.4xlarge has 16 vCPU (minimum 20)",
    ),
    (
        "aws memory below spec",
        {**h.base_config("aws"), "size": "m7i.large"},
        "2 vCPU (minimum 20), 8 GiB RAM (minimum 16 GiB)",
    ),
    (
        "hcloud size below spec",
        {**h.base_config("hcloud"), "size": "cpx51"},
        "portsip-im:size: server type cpx51 has 16 vCPU (minimum 20)",
    ),
    (
        "unknown aws size",
        {**h.base_config("aws"), "size": "t9.huge"},
        "portsip-im:size: AWS has no instance type 't9.huge'",
    ),
    (
        "unknown sizing profile",
        {**h.base_config("hcloud"), "sizingProfile": "small"},
        "portsip-im:sizingProfile: 'small' is not one of large or medium",
    ),
    (
        "existing host with an unknown sizing profile",
        {**h.base_config("existing"), "sizingProfile": "Medium"},
        "portsip-im:sizingProfile: 'Medium' is not one of large or medium",
    ),
    (
        "aws size below the medium profile",
        {**h.base_config("aws"), "sizingProfile": "medium", "size": "r7i.xlarge"},
        "portsip-im:size: instance type r7i.xlarge has 4 vCPU (minimum 6); PortSIP's guide asks "
        "for at least 6 cores (counted as vCPUs), 16 GiB RAM and a 256 GB SSD in sizingProfile "
        "medium",
    ),
    (
        "undersized switch on aws",
        {**h.base_config("aws"), "allowUndersizedHost": "true"},
        "portsip-im:allowUndersizedHost: only for target existing (a lab host measured at "
        "prepare; on aws it has no effect",
    ),
    (
        "undersized switch on hcloud with a small size",
        {**h.base_config("hcloud"), "allowUndersizedHost": "true", "sizingProfile": "medium"},
        "portsip-im:allowUndersizedHost: only for target existing (a lab host measured at "
        "prepare; on hcloud it has no effect: pick a size that meets the profile",
    ),
    (
        "unknown subnet",
        {**h.base_config("aws"), "subnetId": "subnet-0nope"},
        "portsip-im:subnetId: no subnet 'subnet-0nope'",
    ),
    (
        "rsa host key pinned",
        {**h.base_config("existing"), "pbx01HostKey": "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQC7"},
        "portsip-im:pbx01HostKey: 'ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQC7': is an ssh-rsa host "
        "key, which the command provider can only verify with SHA-1 `ssh-rsa` signatures that "
        "OpenSSH 8.8+ servers refuse: pin the host's ed25519 key instead "
        "(`ssh-keyscan -t ed25519 HOST`)",
    ),
    (
        "backup every five minutes",
        {**h.base_config("existing"), "backupSchedule": "*:0/5"},
        "portsip-im:backupSchedule: '*:0/5': must be a systemd calendar expression",
    ),
    (
        "backup repository inside the data it backs up",
        {**h.base_config("existing"), **h.BACKUP_CONFIG, "backupRepository": "/var/lib/portsip/bk"},
        "portsip-im:backupRepository: '/var/lib/portsip/bk': lies in or over /var/lib/portsip",
    ),
    (
        "backup repository url with credentials",
        {**h.base_config("existing"), "backupRepository": "s3:https://key:secret@s3.example/b"},
        "portsip-im:backupRepository: 's3:https://***@s3.example/b': carries a password",
    ),
    (
        "scheduled ebs snapshots off aws",
        {**h.base_config("hcloud"), "ebsSnapshotKeep": "7"},
        "portsip-im:ebsSnapshotKeep: only for target aws (EBS snapshots)",
    ),
    (
        "ssh dial timeout out of range",
        {**h.base_config("existing"), "sshPerDialTimeout": "0"},
        "portsip-im:sshPerDialTimeout: '0': must be a whole number of at least 1",
    ),
    (
        "data disk too small",
        {**h.base_config("hcloud"), "dataDiskGb": "200"},
        "portsip-im:dataDiskGb: '200': must be at least 256",
    ),
    (
        "malformed cidr",
        {**h.base_config("aws"), "clientCidrs": '["0.0.0.0/40"]'},
        "portsip-im:clientCidrs[0]: '0.0.0.0/40'",
    ),
    (
        "ssh open to the whole internet",
        {**h.base_config("aws"), "adminCidrs": '["0.0.0.0/0"]'},
        "portsip-im:adminCidrs[0]: '0.0.0.0/0': would open SSH on the IM server to 0.0.0.0/0 "
        "(the whole Internet)",
    ),
    (
        "ssh open to the whole ipv6 internet",
        {**h.base_config("hcloud"), "adminCidrs": '["198.51.100.0/24", "::/0"]'},
        "portsip-im:adminCidrs[1]: '::/0': would open SSH on the IM server to ::/0",
    ),
    (
        "ssh open to a huge range",
        {**h.base_config("existing"), "adminCidrs": '["64.0.0.0/2"]'},
        "portsip-im:adminCidrs[0]: '64.0.0.0/2': would open SSH on the IM server to 64.0.0.0/2; "
        "a public admin range must be /16 or narrower for IPv4",
    ),
    (
        "ssh open to a public /8",
        {**h.base_config("aws"), "adminCidrs": '["198.51.100.0/24", "52.0.0.0/8"]'},
        "portsip-im:adminCidrs[1]: '52.0.0.0/8': would open SSH on the IM server to 52.0.0.0/8; "
        "a public admin range must be /16 or narrower for IPv4 (list the operators' own "
        "networks; private ranges, RFC 1918 10/8",
    ),
    (
        "ssh open to a public ipv6 /32",
        {**h.base_config("hcloud"), "adminCidrs": '["2001:db8::/32"]'},
        "portsip-im:adminCidrs[0]: '2001:db8::/32': would open SSH on the IM server to "
        "2001:db8::/32; a public admin range must be /48 or narrower for IPv6",
    ),
    (
        "ssh open to all of ipv4 through ipv4-mapped ipv6",
        {**h.base_config("existing"), "adminCidrs": '["::ffff:0:0/96"]'},
        "portsip-im:adminCidrs[0]: '::ffff:0:0/96': would open SSH on the IM server to "
        "::ffff:0:0/96 (it embeds IPv4 0.0.0.0/0) (the whole Internet); a public admin range must "
        "be /16 or narrower for IPv4",
    ),
    (
        "ssh open to a public /8 through ipv4-mapped ipv6",
        {**h.base_config("aws"), "adminCidrs": '["::ffff:34.0.0.0/104"]'},
        "portsip-im:adminCidrs[0]: '::ffff:34.0.0.0/104': would open SSH on the IM server to "
        "::ffff:2200:0/104 (it embeds IPv4 34.0.0.0/8)",
    ),
    (
        "ssh open to all of ipv4 through a /64 over the mapped block",
        {**h.base_config("hcloud"), "adminCidrs": '["::/64"]'},
        "portsip-im:adminCidrs[0]: '::/64': would open SSH on the IM server to ::/64 (it embeds "
        "IPv4 0.0.0.0/0)",
    ),
    (
        "public address as the private ip",
        {**h.base_config("existing"), "privateIp": "8.8.8.8"},
        "portsip-im:privateIp: 8.8.8.8 is not a private address",
    ),
    (
        "public address as the pbx virtual ip",
        {**h.base_config("aws"), "pbxVirtualIp": "104.18.36.130"},
        "portsip-im:pbxVirtualIp: 104.18.36.130 is not a private address",
    ),
    (
        "public address as pbx01's private ip",
        {**h.base_config("hcloud"), "pbx01PrivateIp": "104.18.36.11"},
        "portsip-im:pbx01PrivateIp: 104.18.36.11 is not a private address",
    ),
    (
        "storage path not absolute",
        {**h.base_config("existing"), "storagePath": "im"},
        "portsip-im:storagePath: 'im': must be an absolute path",
    ),
    (
        "backup repository not a restic url",
        {**h.base_config("existing"), "backupRepository": "ftp://backup.example/im"},
        "portsip-im:backupRepository: 'ftp://backup.example/im': must be a restic repository",
    ),
    (
        "backup repository with a password in its url",
        {**h.base_config("existing"), "backupRepository": "rest:https://u:pw@b.example/im"},
        "portsip-im:backupRepository: 'rest:https://***@b.example/im': carries a password",
    ),
    (
        "backup repository without its password",
        {**h.base_config("existing"), "backupRepository": "s3:s3.amazonaws.com/bucket/im"},
        "portsip-im:backupPassword: required when backupRepository is set, not set",
    ),
    (
        "backup schedule not a calendar expression",
        {**h.base_config("existing"), "backupSchedule": "every night"},
        "portsip-im:backupSchedule: 'every night': must be a systemd calendar expression",
    ),
    (
        "backup schedule too frequent",
        {**h.base_config("existing"), "backupSchedule": "minutely"},
        "portsip-im:backupSchedule: 'minutely'",
    ),
    (
        "backup keep not positive",
        {**h.base_config("existing"), "backupKeep": '{"daily": 0}'},
        "portsip-im:backupKeep: '{\"daily\": 0}': daily: must be a positive whole number",
    ),
    (
        "backup keep unknown rule",
        {**h.base_config("existing"), "backupKeep": '{"dayly": 7}'},
        "'dayly' is not one of last, hourly, daily, weekly, monthly, yearly",
    ),
    (
        "backup env not an object",
        {
            **h.base_config("existing"),
            "backupRepository": "/srv/backup",
            "backupPassword": "restic-pass",
            "backupEnv": '["AWS_ACCESS_KEY_ID"]',
        },
        "portsip-im:backupEnv: must be a JSON object of environment variables",
    ),
    (
        "backup env sets the password itself",
        {
            **h.base_config("existing"),
            "backupRepository": "/srv/backup",
            "backupPassword": "restic-pass",
            "backupEnv": '{"RESTIC_PASSWORD": "x"}',
        },
        "portsip-im:backupEnv: RESTIC_PASSWORD: set by the backup itself",
    ),
    (
        "restore snapshot not an id",
        {
            **h.base_config("existing"),
            "backupRepository": "/srv/backup",
            "backupPassword": "restic-pass",
            "restoreSnapshot": "yesterday",
        },
        "portsip-im:restoreSnapshot: 'yesterday'",
    ),
    (
        "restore without a repository",
        {**h.base_config("existing"), "restoreSnapshot": "latest"},
        "portsip-im:restoreSnapshot: needs backupRepository",
    ),
    (
        "data snapshot not an ebs snapshot id",
        {**h.base_config("aws"), "dataSnapshotId": "vol-0123"},
        "portsip-im:dataSnapshotId: 'vol-0123'",
    ),
    (
        "data snapshot on hcloud",
        {**h.base_config("hcloud"), "dataSnapshotId": "snap-0123456789abcdef0"},
        "portsip-im:dataSnapshotId: only for target aws",
    ),
    (
        "pbx password with a line break (chpasswd would read a second account)",
        {**h.base_config("existing"), "pbxPassword": "pw\nroot:owned"},
        "portsip-im:pbxPassword: must be on one line",
    ),
    (
        "pbx user is root",
        {**h.base_config("existing"), "pbx01User": "root"},
        "portsip-im:pbx01User: 'root' is a system or cloud admin account",
    ),
    (
        "pbx user is the cloud image's admin",
        {**h.base_config("aws"), "pbx01User": "ubuntu"},
        "portsip-im:pbx01User: 'ubuntu' is a system or cloud admin account",
    ),
    (
        "pbx user is the IM host's admin user",
        {**h.base_config("existing"), "adminUser": "ops", "pbx01User": "ops"},
        "portsip-im:pbx01User: 'ops' is the IM host's admin user",
    ),
    (
        "a second host key on another line",
        {
            **h.base_config("existing"),
            "imHostKey": h.IM_HOST_KEY + "\n* ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIevil",
        },
        "': must be one SSH public key on one line (it holds a line break",
    ),
    (
        "a second host key on the same line",
        {
            **h.base_config("existing"),
            "imHostKey": h.IM_HOST_KEY + " ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIevil",
        },
        "': must be one SSH public key (a second key type follows the first)",
    ),
    (
        "plain http PBX API",
        {**h.base_config("existing"), "pbxApiUrl": "http://192.168.1.130:8887/api"},
        "portsip-im:pbxApiUrl: is plain http://",
    ),
    (
        "a PBX API pin of the wrong shape",
        {**h.base_config("existing"), "pbxApiPinnedPublicKey": "sha1//abc"},
        "portsip-im:pbxApiPinnedPublicKey",
    ),
    (
        "an rclone repository carrying its secret key",
        {
            **h.base_config("existing"),
            "backupRepository": "rclone::s3,access_key_id=AKIA1,secret_access_key=wJalr:bucket",
            "backupPassword": "restic-pass",
        },
        "portsip-im:backupRepository",
    ),
    (
        "a host firewall on aws",
        {**h.base_config("aws"), "hostFirewall": "true"},
        "portsip-im:hostFirewall: only for target existing",
    ),
    (
        "a host firewall without pbx01's private ip",
        {**h.base_config("existing"), "hostFirewall": "true", "pbx01Host": "pbx01.example.net"},
        "portsip-im:pbx01PrivateIp: required when pbx01Host ('pbx01.example.net') is not an IPv4",
    ),
    (
        "ssh key missing",
        {k: v for k, v in h.base_config("existing").items() if k != "sshPrivateKey"},
        "portsip-im:sshPrivateKey: required, not set",
    ),
]


@pytest.mark.parametrize("config, expected", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_clear_error_and_nothing_created(config, expected, monkeypatch):
    registered = []
    original = h.Recorder.new_resource

    def spy(self, args):
        registered.append(args.typ)
        return original(self, args)

    monkeypatch.setattr(h.Recorder, "new_resource", spy)
    msg = preview_error(config)
    assert expected in msg
    assert msg.count("portsip-im:") == 1, msg  # one problem, one line naming it
    assert "Traceback" not in msg
    assert registered == []


@pytest.mark.parametrize(
    "key, value, secret",
    [
        ("backupRepository", "s3:https://AKIAKEYID:wJalrSecret/Key@s3.example/b", "wJalrSecret"),
        ("backupRepository", "rest:https://im:p@ss-word@b.example/im", "ss-word"),
        ("backupRepository", "sftp://im:hunter2@b.example//im bk", "hunter2"),
        ("backupRepository", "ftp://im:hunter2@b.example/im", "hunter2"),
        ("pbxApiUrl", "ftp://admin:hunter2@pbx.example/api", "hunter2"),
        ("backupRepository", "rclone::s3,access_key_id=AKIAKEYID,secret_access_key=wJ:b", "wJ:"),
    ],
)
def test_a_refused_url_never_shows_its_credentials(key, value, secret):
    # The error quotes what it refuses: previews and CI logs keep it, so the password must not be
    # in it, however the URL is malformed otherwise.
    config = {**h.base_config("existing"), key: value}
    if key == "backupRepository":
        config["backupPassword"] = "restic-pass"
    msg = preview_error(config)
    assert f"portsip-im:{key}:" in msg
    assert secret not in msg and "AKIAKEYID" not in msg, msg
    assert "***@" in msg or "=***" in msg, msg


def test_secret_as_plain_text_creates_nothing(monkeypatch):
    registered = []
    monkeypatch.setattr(h.Recorder, "new_resource", lambda self, a: registered.append(a.typ))
    msg = preview_error(h.base_config("aws"), secret_keys=())
    assert "portsip-im:sshPrivateKey: set as plain text; it must be a secret" in msg
    assert registered == []


def test_config_error_is_a_clean_run_error():
    import pulumi

    # RunError is what Pulumi prints as a message alone, without the program's stack trace.
    assert issubclass(ConfigError, pulumi.RunError)


def test_plain_key_set_as_secret_is_refused():
    # Pulumi's CLI takes a key named *token* for a secret; this one goes into a command line.
    config = {**h.base_config("existing"), "restartToken": "2026-11-30"}
    msg = preview_error(config, secret_keys=(*h.SECRET_KEYS, "restartToken"))
    assert (
        "portsip-im:restartToken: set as a secret, but it is not one (it shows in commands and "
        "previews): pulumi config set --plaintext restartToken ..." in msg
    )


def _pbx_stack_exports(monkeypatch, **outputs):
    """The PBX stack (a StackReference under the mocks) exports `outputs` over the guide's."""
    original = h.Recorder.new_resource

    def new_resource(self, args):
        rid, state = original(self, args)
        if args.typ == "pulumi:pulumi:StackReference":
            state["outputs"] = {**state["outputs"], **outputs}
        return rid, state

    monkeypatch.setattr(h.Recorder, "new_resource", new_resource)


def _from_pbx_stack(target, *keys):
    cfg = {**h.base_config(target), "pbxStack": "acme/portsip-pbx/prod"}
    for key in keys:
        del cfg[key]
    return cfg


PBX_STACK_CASES = [
    (
        "public pbx01 from the pbx stack as the ssh source",
        _from_pbx_stack("aws", "pbx01Host"),
        {"pbx01Host": "104.18.36.11"},
        "portsip-im:pbx01PrivateIp: not set, and pbx01Host (104.18.36.11), its default, is not a "
        "private address",
    ),
    (
        "pbx01 from the pbx stack not an ip",
        _from_pbx_stack("hcloud", "pbx01Host"),
        {"pbx01Host": "pbx01.example.com"},
        "portsip-im:pbx01PrivateIp: required when pbx01Host ('pbx01.example.com') is not an IPv4 "
        "address",
    ),
    (
        "public virtual ip from the pbx stack",
        _from_pbx_stack("existing", "pbxVirtualIp"),
        {"pbxVirtualIp": "104.18.36.130"},
        "portsip-im:pbxVirtualIp: not set, and 104.18.36.130 from pbxStack acme/portsip-pbx/prod's "
        "output pbxVirtualIp is not a private address",
    ),
    (
        "virtual ip from the pbx stack not an ip",
        _from_pbx_stack("aws", "pbxVirtualIp"),
        {"pbxVirtualIp": "vip.example.com"},
        "portsip-im:pbxVirtualIp: not set, and vip.example.com from pbxStack "
        "acme/portsip-pbx/prod's output pbxVirtualIp is not an IPv4 address",
    ),
]


@pytest.mark.parametrize(
    "config, exported, expected",
    [c[1:] for c in PBX_STACK_CASES],
    ids=[c[0] for c in PBX_STACK_CASES],
)
def test_pbx_stack_addresses_meet_the_config_rules(config, exported, expected, monkeypatch):
    # Known only once the StackReference resolves, so checked in an apply: still one ConfigError
    # (a RunError, which the language host prints as its message alone), naming key and origin.
    _pbx_stack_exports(monkeypatch, **exported)
    msg = preview_error(config)
    assert msg.startswith(expected), msg
    assert "\n" not in msg and msg.count("portsip-im:") == 1, msg
    if "private address" in expected:
        assert "allowPublicPrivateNetwork: true" in msg


@pytest.mark.parametrize("target, key", [("aws", "pbx01Host"), ("hcloud", "pbxVirtualIp")])
def test_pbx_stack_public_addresses_with_the_opt_out(target, key, monkeypatch):
    public = {"pbx01Host": "104.18.36.11", "pbxVirtualIp": "104.18.36.130"}[key]
    _pbx_stack_exports(monkeypatch, **{key: public})
    r = h.run({**_from_pbx_stack(target, key), "allowPublicPrivateNetwork": "true"}, preview=True)
    assert r.exports["target"] == target


def test_pbx_stack_private_addresses_pass(monkeypatch):
    _pbx_stack_exports(monkeypatch)
    r = h.run(_from_pbx_stack("aws", "pbx01Host", "pbxVirtualIp"), preview=True)
    ssh = [
        x.inputs
        for x in r.mocks.of_type("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule")
        if x.inputs.get("fromPort") == 22
    ]
    assert "192.168.1.11/32" in {x.get("cidrIpv4") for x in ssh}
