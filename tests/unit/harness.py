"""Run the real `__main__.py` under Pulumi's mocks and record what it registers.

Cloud lookups (instance types, subnets, AMIs, networks) answer from the fixtures below, so each test
states the cloud it runs against. Nothing here talks to a cloud.
"""

from __future__ import annotations

import copy
import runpy
import signal
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from unittest import mock

import pulumi

ROOT = Path(__file__).resolve().parents[2]
MAIN = ROOT / "__main__.py"
NS = "portsip-im"

# The guide's example addresses.
IM_PRIVATE = "192.168.1.25"
IM_PUBLIC = "104.18.36.110"
PBX01 = "192.168.1.11"
PBX_VIP = "192.168.1.130"
PBX_PUBLIC = "104.18.36.119"
EIP = "203.0.113.25"
HCLOUD_IP = "203.0.113.26"
PBX01_HOST_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPbx01HostKeyForTestsOnly0000000000000000"
IM_HOST_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIImHostKeyForTestsOnly00000000000000000000"

INSTANCE_TYPES = {  # default_vcpus, memory_size (MiB): AWS's published figures
    "c7i.6xlarge": (24, 49152),
    "c7i.4xlarge": (16, 32768),
    "r7i.xlarge": (4, 32768),
    "c7i.12xlarge": (48, 98304),
    "m7i.large": (2, 8192),
    "c7i.2xlarge": (8, 16384),
    "c7i.xlarge": (4, 8192),
}
SERVER_TYPES = {  # cores, memory (GB), disk (GB): Hetzner's published figures
    "ccx53": (32, 128.0, 600),
    "ccx43": (16, 64.0, 360),
    "cpx51": (16, 32.0, 360),
    "ccx33": (8, 32.0, 240),
    "ccx23": (4, 16.0, 160),
}


def aws_invokes() -> dict[str, Callable[[dict], dict]]:
    def instance_type(args: dict) -> dict:
        name = args["instanceType"]
        if name not in INSTANCE_TYPES:
            raise LookupError(f"no EC2 Instance Type found matching criteria: {name}")
        vcpus, mem = INSTANCE_TYPES[name]
        return {"instanceType": name, "defaultVcpus": vcpus, "memorySize": mem, "id": name}

    def subnet(args: dict) -> dict:
        # The fixtures' subnet and the one Pulumi.dev.yaml names: the PBX nodes' 192.168.1.0/24.
        if args["id"] not in ("subnet-0pbx", "subnet-0a1b2c3d4e5f60718"):
            raise LookupError("no matching EC2 Subnet found")
        return {
            "id": args["id"],
            "cidrBlock": "192.168.1.0/24",
            "vpcId": "vpc-0pbx",
            "availabilityZone": "eu-central-1a",
        }

    def ami(args: dict) -> dict:
        return {"id": "ami-0noble", "name": "ubuntu-noble-24.04-amd64-server-20261101"}

    def eip(args: dict) -> dict:
        return {"id": args["id"], "publicIp": "203.0.113.99"}

    return {
        "aws:ec2/getInstanceType:getInstanceType": instance_type,
        "aws:ec2/getSubnet:getSubnet": subnet,
        "aws:ec2/getAmi:getAmi": ami,
        "aws:ec2/getElasticIp:getElasticIp": eip,
    }


def hcloud_invokes() -> dict[str, Callable[[dict], dict]]:
    def server_type(args: dict) -> dict:
        name = args["name"]
        if name not in SERVER_TYPES:
            raise LookupError(f"no server type found for name {name}")
        cores, mem, disk = SERVER_TYPES[name]
        return {"id": 1, "name": name, "cores": cores, "memory": mem, "disk": disk}

    def network(args: dict) -> dict:
        if int(args["id"]) != 4242:
            raise LookupError("network not found")
        return {"id": 4242, "name": "pbx", "ipRange": "192.168.0.0/16"}

    def primary_ip(args: dict) -> dict:
        return {"id": int(args["id"]), "ipAddress": "203.0.113.98"}

    return {
        "hcloud:index/getServerType:getServerType": server_type,
        "hcloud:index/getNetwork:getNetwork": network,
        "hcloud:index/getPrimaryIp:getPrimaryIp": primary_ip,
    }


# Outputs the providers compute, by resource type.
COMPUTED: dict[str, dict[str, Any]] = {
    "aws:ec2/eip:Eip": {"publicIp": EIP, "allocationId": "eipalloc-0im"},
    "aws:ec2/keyPair:KeyPair": {"keyName": "im-host-key-1234"},
    "hcloud:index/primaryIp:PrimaryIp": {"ipAddress": HCLOUD_IP},
}
# What the remote steps print, by the end of their resource name (the real scripts print these).
STEP_STDOUT = {
    "host-key": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIScannedImHostKey000000000000000000000\n",
    "trust-key": "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQPbx01UserKey pbx@pbx01 portsip-im\n",
    "token": "sha256:0123456789abcdef\n",
    "health": '{"imPort8887": "open", "expected": "running", "vendorStatus": "unavailable", '
    '"checkedFrom": "pbx01"}\n',
}


SIG_KEY = "4dabf18193072939515e22adb298388d"
SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270"


def _holds_secret(value: Any) -> bool:
    """True when a serialized input is, or contains, a Pulumi secret."""
    if isinstance(value, dict):
        if value.get(SIG_KEY) == SECRET_SIG:
            return True
        return any(_holds_secret(v) for v in value.values())
    if isinstance(value, list):
        return any(_holds_secret(v) for v in value)
    return False


@dataclass
class Registered:
    typ: str
    name: str
    inputs: dict
    id: str = ""
    parent: str = ""
    """The parent's resource name."""
    depends_on: tuple[str, ...] = ()
    """Names of the resources it was told to wait for (depends_on and input dependencies)."""
    secret_inputs: frozenset[str] = frozenset()
    """Top-level inputs that reached the engine as secrets."""
    options: dict = field(default_factory=dict)


def _unwrap(value: Any) -> Any:
    """Inputs with secrets replaced by their values (whether they were secret is kept apart)."""
    if isinstance(value, dict):
        if value.get(SIG_KEY) == SECRET_SIG:
            return _unwrap(value.get("value"))
        return {k: _unwrap(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_unwrap(v) for v in value]
    return value


class RecordingMonitor(pulumi.runtime.mocks.MockMonitor):
    """A MockMonitor that also keeps what the real engine would see: parents, dependencies,
    secretness and resource options."""

    def __init__(self, mocks: Recorder):
        super().__init__(mocks)
        self.recorder = mocks

    def RegisterResource(self, request):
        response = super().RegisterResource(request)
        if request.type == "pulumi:pulumi:Stack":
            return response
        from google.protobuf import json_format

        raw = json_format.MessageToDict(request.object)
        secret = frozenset(k for k, v in raw.items() if _holds_secret(v))
        deps = set(request.dependencies)
        for pd in request.propertyDependencies.values():
            deps.update(pd.urns)
        # Registrations run on several threads: find this one by type and name.
        last = next(
            r
            for r in reversed(self.recorder.resources)
            if r.name == request.name and r.typ == request.type
        )
        last.parent = request.parent.rsplit("::", 1)[-1] if request.parent else ""
        last.depends_on = tuple(sorted(u.rsplit("::", 1)[-1] for u in deps))
        last.secret_inputs = secret
        last.options = {
            "protect": request.protect,
            "delete_before_replace": request.deleteBeforeReplace,
            "ignore_changes": list(request.ignoreChanges),
            "additional_secret_outputs": list(request.additionalSecretOutputs),
            "replace_on_changes": list(request.replaceOnChanges),
            "retain_on_delete": request.retainOnDelete,
            "custom_timeouts": {"create": request.customTimeouts.create},
        }
        return response


@dataclass
class Recorder(pulumi.runtime.Mocks):
    invokes: dict[str, Callable[[dict], dict]]
    step_stdout: dict[str, str] = field(default_factory=dict)
    """What a step printed, by the end of its name, overriding STEP_STDOUT (the lab feeds in
    what the real scripts printed)."""
    resources: list[Registered] = field(default_factory=list)
    calls: list[str] = field(default_factory=list)
    call_args: dict[str, list[dict]] = field(default_factory=dict)
    call_providers: dict[str, list[str]] = field(default_factory=dict)
    """Each invoke's provider reference (`URN::ID`; empty for the default provider)."""
    _next_id: int = 100

    def new_resource(self, args: pulumi.runtime.MockResourceArgs):
        outputs = dict(args.inputs)
        outputs.update(COMPUTED.get(args.typ, {}))
        if args.typ == "command:remote:Command":
            printed = {**STEP_STDOUT, **self.step_stdout}
            suffix = next((k for k in printed if args.name.endswith(f"-{k}")), None)
            outputs["stdout"] = printed[suffix] if suffix else ""
            outputs["stderr"] = ""
        if args.typ == "pulumi:pulumi:StackReference":
            outputs["outputs"] = {
                "pbx01Host": PBX01,
                "pbxVirtualIp": PBX_VIP,
                "pbxPublicIp": PBX_PUBLIC,
            }
        self._next_id += 1
        if args.typ.startswith("hcloud:"):
            rid = str(self._next_id)
        else:
            rid = f"{args.name}-id"
        if args.typ == "aws:ebs/volume:Volume":
            rid = "vol-0123456789abcdef0"
        self.resources.append(
            Registered(args.typ, args.name, _unwrap(copy.deepcopy(args.inputs)), rid)
        )
        return [rid, outputs]

    def call(self, args: pulumi.runtime.MockCallArgs):
        self.calls.append(args.token)
        self.call_args.setdefault(args.token, []).append(dict(args.args))
        self.call_providers.setdefault(args.token, []).append(args.provider or "")
        if args.token not in self.invokes:
            raise Exception(f"unexpected invoke {args.token}")
        try:
            return self.invokes[args.token](args.args)
        except LookupError as exc:
            # How a provider reports a failed lookup: the SDK raises it from the invoke.
            return {}, [("", str(exc))]

    def of_type(self, typ: str) -> list[Registered]:
        return [r for r in self.resources if r.typ == typ]

    def one(self, typ: str) -> Registered:
        found = self.of_type(typ)
        assert len(found) == 1, f"expected one {typ}, got {[r.name for r in found]}"
        return found[0]

    def named(self, name: str) -> Registered:
        found = [r for r in self.resources if r.name == name]
        assert len(found) == 1, f"expected one resource named {name}, got {len(found)}"
        return found[0]


@dataclass
class Result:
    mocks: Recorder
    exports: dict[str, Any]
    secret_exports: set[str]

    @property
    def resources(self) -> list[Registered]:
        return self.mocks.resources


def pbx_view(mark: str) -> dict[str, Any]:
    """What status.sh reads from the PBX for a deployed stack: its /im record and the two
    whitelist entries marked `mark` (the stack's own)."""
    return {
        "im": {"private_ipv4": IM_PRIVATE, "public_ipv4": IM_PUBLIC},
        "ipFilters": [
            {
                "cidr": f"{ip}/32",
                "target": "ACCEPT",
                "expire_at": "2036-11-27T05:50:02Z",
                "description": mark,
            }
            for ip in (IM_PUBLIC, IM_PRIVATE)
        ],
    }


def base_config(target: str) -> dict[str, str]:
    common = {
        "target": target,
        "privateIp": IM_PRIVATE,
        "pbx01Host": PBX01,
        "pbxVirtualIp": PBX_VIP,
        "pbxPublicIp": PBX_PUBLIC,
        "sshPrivateKey": "test-only-private-key",
        "pbxPassword": "test-only-pbx-password",
        "pbxAdminPassword": "test-only-admin-password",
        "pbx01HostKey": PBX01_HOST_KEY,
        "storagePath": "/data/im",
    }
    if target == "aws":
        common.update(
            subnetId="subnet-0pbx",
            pbxSecurityGroupId="sg-0pbxnodes",
            sshPublicKey="ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAItestkey operator",
            adminCidrs='["198.51.100.0/24"]',
        )
    elif target == "hcloud":
        common.update(
            networkId="4242",
            location="fsn1",
            sshPublicKey="ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAItestkey operator",
            adminCidrs='["198.51.100.0/24"]',
        )
    else:
        common.update(publicIp=IM_PUBLIC, dataDiskDevice="/dev/sdb", imHostKey=IM_HOST_KEY)
    return common


# Backups to an S3 bucket, credentials as secrets (the example docs/backups.md gives).
BACKUP_PASSWORD = "restic-repo-pass-4242"
BACKUP_SECRET_KEY = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
BACKUP_CONFIG = {
    "backupRepository": "s3:s3.eu-central-1.amazonaws.com/acme-portsip-im-backup/prod",
    "backupPassword": BACKUP_PASSWORD,
    "backupEnv": '{"AWS_ACCESS_KEY_ID": "AKIAIOSFODNN7EXAMPLE", "AWS_SECRET_ACCESS_KEY": "'
    + BACKUP_SECRET_KEY
    + '"}',
}


def new_private_key(kind: str = "ed25519", passphrase: str = "", pem: bool = False) -> str:
    """A fresh SSH private key's file content, made at run time (no key lives in the repository)."""
    with tempfile.TemporaryDirectory() as d:
        key = Path(d) / "key"
        form = ["-m", "PEM"] if pem else []
        subprocess.run(
            ["ssh-keygen", "-q", "-t", kind, "-N", passphrase, *form, "-f", str(key)], check=True
        )
        return key.read_text()


# Backups to an SFTP server with the stack's own key for it, its host key pinned (docs/backups.md).
BACKUP_SSH_KEY = new_private_key()
SFTP_HOST_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIsftpServerHostKey"
SFTP_BACKUP_CONFIG = {
    "backupRepository": "sftp:restic@10.0.5.20:/srv/restic/portsip-im",
    "backupPassword": BACKUP_PASSWORD,
    "backupSshKey": BACKUP_SSH_KEY,
    "backupSshHostKey": SFTP_HOST_KEY + " root@vault",
}

SECRET_KEYS = (
    "sshPrivateKey",
    "pbxPassword",
    "pbxAdminPassword",
    "imToken",
    "backupPassword",
    "backupEnv",
    "backupSshKey",
)


def run(
    config: dict[str, str],
    secret_keys: tuple[str, ...] = SECRET_KEYS,
    preview: bool = False,
    stack: str = "dev",
    step_stdout: dict[str, str] | None = None,
) -> Result:
    """Run __main__.py with `config` under mocks; raises what the program raises."""
    target = config.get("target")
    invokes = {**aws_invokes(), **hcloud_invokes()} if target else {}
    mocks = Recorder(invokes=invokes, step_stdout=dict(step_stdout or {}))
    pulumi.runtime.set_all_config(
        {f"{NS}:{k}": v for k, v in config.items()},
        [f"{NS}:{k}" for k in secret_keys if k in config],
    )
    pulumi.runtime.settings.reset_options(project="portsip-im", stack=stack)
    pulumi.runtime.set_mocks(
        mocks, project="portsip-im", stack=stack, preview=preview, monitor=RecordingMonitor(mocks)
    )

    exports: dict[str, pulumi.Output] = {}
    values: dict[str, Any] = {}
    secret: set[str] = set()

    def record(name: str, value: Any) -> None:
        exports[name] = pulumi.Output.from_input(value)

    @pulumi.runtime.test
    def program():
        # __main__.py sets its own SIGINT handler (for the engine's stop); pytest keeps its own.
        ours = signal.getsignal(signal.SIGINT)
        try:
            with mock.patch.object(pulumi, "export", record):
                runpy.run_path(str(MAIN), run_name="__main__")
        finally:
            signal.signal(signal.SIGINT, ours)

        async def collect():
            for name, out in exports.items():
                values[name] = await out.future()
                if await out.is_secret():
                    secret.add(name)

        return pulumi.Output.from_input(collect())

    program()
    return Result(mocks=mocks, exports=values, secret_exports=secret)
