"""The IM server on AWS, as PortSIP's AWS twin of the guide lays it out.

One EC2 instance in the PBX nodes' subnet, with its primary private IP fixed on a network interface,
an Elastic IP associated with that interface, membership of the PBX nodes' security group, and a
separate gp3 volume for the IM data that outlives the instance.
"""

from __future__ import annotations

import ipaddress
import json
from dataclasses import dataclass
from typing import cast

import pulumi
import pulumi_aws as aws

from .. import naming
from ..checks import ArgsError
from ..resolved import Resolved
from ..spec import IM_PORT, HostFacts
from . import ImHost, inside, require_size, stack_labels

CANONICAL_OWNER = "099720109477"
UBUNTU_NOBLE_AMD64 = "ubuntu/images/hvm-ssd-gp3/ubuntu-noble-24.04-amd64-server-*"
# The device name AWS is asked for; Nitro instances expose it as NVMe, so the remote steps find the
# disk through its stable by-id link (the volume id without its dash) instead.
DATA_DEVICE_NAME = "/dev/sdf"
ROOT_DISK_GB = 40
_SIZE = "host.aws.size"


@dataclass(frozen=True)
class AwsPlan:
    """Everything looked up from AWS before a resource is registered."""

    ami: str
    instance_type: str
    vpc_id: pulumi.Input[str]
    availability_zone: pulumi.Input[str]
    private_ip: pulumi.Input[str]
    """The private IP, once checked to lie inside the subnet."""
    public_ip: str | None
    """The reused Elastic IP's address, when `host.aws.public_ip_id` is set."""


def plan(r: Resolved, invoke: pulumi.InvokeOptions | None = None) -> AwsPlan:
    """Look up and check the instance type, subnet, AMI and reused Elastic IP (preview time),
    with `invoke`'s provider (lookups.py)."""
    size = r.size
    assert size is not None and r.subnet_id is not None
    try:
        itype = aws.ec2.get_instance_type(instance_type=size, opts=invoke)
    except Exception as exc:  # the provider's error text says why (unknown type, no region…)
        raise ArgsError([(_SIZE, f"AWS has no instance type {size!r} ({exc})")]) from None
    facts = HostFacts(
        vcpus=itype.default_vcpus, memory_mib=itype.memory_size, disk_gb=r.data_disk_gb
    )
    require_size(_SIZE, f"instance type {size}", facts, r.profile)

    vpc_id: pulumi.Input[str]
    zone: pulumi.Input[str]
    private_ip: pulumi.Input[str]
    if isinstance(r.subnet_id, pulumi.Output):
        # Another resource's subnet: looked up, and the private IP checked, once it is known.
        found = aws.ec2.get_subnet_output(id=r.subnet_id, opts=invoke)
        where = pulumi.Output.concat("subnet ", r.subnet_id)
        private_ip = inside(r.private_ip, found.cidr_block, where, "host.aws.private_ip")
        vpc_id, zone = found.vpc_id, found.availability_zone
    else:
        try:
            subnet = aws.ec2.get_subnet(id=cast(str, r.subnet_id), opts=invoke)
        except Exception as exc:
            raise ArgsError(
                [("host.aws.subnet_id", f"no subnet {r.subnet_id!r} ({exc})")]
            ) from None
        where_text = f"subnet {r.subnet_id}"
        checked = inside(r.private_ip, subnet.cidr_block, where_text, "host.aws.private_ip")
        private_ip = checked if isinstance(r.private_ip, pulumi.Output) else r.private_ip
        vpc_id, zone = subnet.vpc_id, subnet.availability_zone

    ami = r.ami
    if ami is None:
        image = aws.ec2.get_ami(
            most_recent=True,
            owners=[CANONICAL_OWNER],
            filters=[
                aws.ec2.GetAmiFilterArgs(name="name", values=[UBUNTU_NOBLE_AMD64]),
                aws.ec2.GetAmiFilterArgs(name="architecture", values=["x86_64"]),
                aws.ec2.GetAmiFilterArgs(name="virtualization-type", values=["hvm"]),
            ],
            opts=invoke,
        )
        ami = image.id

    public_ip = None
    if r.public_ip_id:
        try:
            public_ip = aws.ec2.get_elastic_ip(id=r.public_ip_id, opts=invoke).public_ip
        except Exception as exc:
            raise ArgsError(
                [("host.aws.public_ip_id", f"no Elastic IP allocation {r.public_ip_id!r} ({exc})")]
            ) from None

    return AwsPlan(
        ami=ami,
        instance_type=size,
        vpc_id=vpc_id,
        availability_zone=zone,
        private_ip=private_ip,
        public_ip=public_ip,
    )


def _cidr_name(cidr: ipaddress.IPv4Network | ipaddress.IPv6Network) -> str:
    """A stable resource-name part per CIDR, so reordering the list replaces no rule."""
    if cidr.prefixlen == 0:
        return f"anywhere-v{cidr.version}"
    return str(cidr).replace("/", "_").replace(":", "-")


class AwsImHost(pulumi.ComponentResource):
    """portsip:im:AwsHost — the EC2 instance, its addresses, firewall and data volume."""

    host: ImHost

    def __init__(
        self,
        name: str,
        r: Resolved,
        aws_plan: AwsPlan,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("portsip:im:AwsHost", name, None, opts)
        assert r.pbx_security_group_id is not None and r.subnet_id is not None
        child = pulumi.ResourceOptions(parent=self)
        tags = stack_labels()

        sg = aws.ec2.SecurityGroup(
            f"{name}-sg",
            vpc_id=aws_plan.vpc_id,
            description="PortSIP IM server: clients on TCP 8887, SSH from pbx01 and admins",
            tags={**tags, "Name": f"{name}-sg"},
            opts=child,
        )
        rule_opts = pulumi.ResourceOptions(parent=sg)
        for cidr in r.client_cidrs:
            aws.vpc.SecurityGroupIngressRule(
                f"{name}-im-from-{_cidr_name(cidr)}",
                security_group_id=sg.id,
                ip_protocol="tcp",
                from_port=IM_PORT,
                to_port=IM_PORT,
                description="PortSIP IM clients",
                tags=tags,
                **_cidr_arg(cidr),
                opts=rule_opts,
            )
        aws.vpc.SecurityGroupIngressRule(
            f"{name}-ssh-from-pbx01",
            security_group_id=sg.id,
            ip_protocol="tcp",
            from_port=22,
            to_port=22,
            cidr_ipv4=r.pbx01_source_cidr,
            description="pbx01 deploys and manages the IM server (im.sh)",
            tags=tags,
            opts=rule_opts,
        )
        for cidr in r.admin_cidrs:
            aws.vpc.SecurityGroupIngressRule(
                f"{name}-ssh-from-{_cidr_name(cidr)}",
                security_group_id=sg.id,
                ip_protocol="tcp",
                from_port=22,
                to_port=22,
                description="operator SSH",
                tags=tags,
                **_cidr_arg(cidr),
                opts=rule_opts,
            )
        for family, v4, v6 in (("ipv4", "0.0.0.0/0", None), ("ipv6", None, "::/0")):
            aws.vpc.SecurityGroupEgressRule(
                f"{name}-egress-{family}",
                security_group_id=sg.id,
                ip_protocol="-1",
                description="updates, container images, the PBX",
                tags=tags,
                cidr_ipv4=v4,
                cidr_ipv6=v6,
                opts=rule_opts,
            )

        eni = aws.ec2.NetworkInterface(
            f"{name}-eni",
            subnet_id=r.subnet_id,
            private_ips=[aws_plan.private_ip],
            security_groups=[sg.id, r.pbx_security_group_id],
            description="PortSIP IM server: fixed private IP",
            tags={**tags, "Name": f"{name}-eni"},
            opts=child,
        )

        if r.public_ip_id:
            allocation_id: pulumi.Input[str] = r.public_ip_id
            assert aws_plan.public_ip is not None
            public_ip = pulumi.Output.from_input(aws_plan.public_ip)
        else:
            eip = aws.ec2.Eip(
                f"{name}-eip",
                domain="vpc",
                tags={**tags, "Name": f"{name}-eip"},
                opts=child,
            )
            allocation_id, public_ip = eip.allocation_id, eip.public_ip
        aws.ec2.EipAssociation(
            f"{name}-eip-association",
            allocation_id=allocation_id,
            network_interface_id=eni.id,
            private_ip_address=aws_plan.private_ip,
            opts=child,
        )

        key = aws.ec2.KeyPair(
            f"{name}-key",
            public_key=r.ssh_public_key,
            tags=tags,
            opts=child,
        )
        instance = aws.ec2.Instance(
            f"{name}-vm",
            ami=aws_plan.ami,
            instance_type=aws_plan.instance_type,
            key_name=key.key_name,
            primary_network_interface=aws.ec2.InstancePrimaryNetworkInterfaceArgs(
                network_interface_id=eni.id,
            ),
            root_block_device=aws.ec2.InstanceRootBlockDeviceArgs(
                volume_type="gp3",
                volume_size=ROOT_DISK_GB,
                encrypted=True,
                delete_on_termination=True,
                # Not `volume_tags`: that would also retag the data volume (its own ebs.Volume,
                # attached by a VolumeAttachment), which pulumi-aws warns cycles on every update.
                tags={**tags, "Name": f"{name}-root"},
            ),
            metadata_options=aws.ec2.InstanceMetadataOptionsArgs(
                http_tokens="required",
                http_endpoint="enabled",
            ),
            tags={**tags, "Name": f"{name}-vm"},
            # The network interface holds the fixed IP; it attaches to one instance at a time.
            # A newer AMI or a rotated login key must not replace a running IM server: roll one
            # deliberately with `pulumi up --replace <urn>`.
            opts=pulumi.ResourceOptions(
                parent=self, delete_before_replace=True, ignore_changes=["ami", "key_name"]
            ),
        )

        # DLM targets volumes carrying ANY of its target tags: this one tag, named after this
        # stack's data volume, is on nothing else (not the root volume, not another stack's).
        data_tag = {DATA_VOLUME_TAG: f"{pulumi.get_project()}/{pulumi.get_stack()}/{name}-data"}
        data = aws.ebs.Volume(
            f"{name}-data",
            availability_zone=aws_plan.availability_zone,
            size=r.data_disk_gb,
            type="gp3",
            encrypted=True,
            snapshot_id=r.data_snapshot_id,
            tags={**tags, "Name": f"{name}-data", "portsip-im-role": "im-data", **data_tag},
            # Chat history and files live here: no VM replacement or slip of the hand deletes them.
            # dataSnapshotId seeds a new volume only: set later, it must not replace the live one.
            opts=pulumi.ResourceOptions(
                parent=self, protect=r.protect_data, ignore_changes=["snapshotId"]
            ),
        )
        aws.ec2.VolumeAttachment(
            f"{name}-data-attachment",
            device_name=DATA_DEVICE_NAME,
            volume_id=data.id,
            instance_id=instance.id,
            stop_instance_before_detaching=True,
            opts=child,
        )

        if r.data_snapshot_id is not None:
            data.snapshot_id.apply(lambda was: _warn_snapshot_ignored(r.data_snapshot_id, was))
        if r.ebs_snapshot_keep is not None:
            scheduled_snapshots(name, r.ebs_snapshot_keep, tags, data_tag, child)

        # PortSIP's AWS guide: the PBX nodes' group admits the IM server's Elastic IP. This one rule
        # belongs to this stack; the group and its other rules are never touched.
        aws.vpc.SecurityGroupIngressRule(
            f"{name}-pbx-from-im",
            security_group_id=r.pbx_security_group_id,
            ip_protocol="-1",
            cidr_ipv4=public_ip.apply(lambda ip: f"{ip}/32"),
            description=f"PortSIP IM server ({pulumi.get_stack()})",
            tags=tags,
            opts=child,
        )

        private_ip = pulumi.Output.from_input(aws_plan.private_ip)
        self.host = ImHost(
            private_ip=private_ip,
            public_ip=public_ip,
            ssh_host=private_ip,
            admin_user=r.admin_user,
            host_id=instance.id,
            data_disk_device=data.id.apply(
                lambda vid: (
                    f"/dev/disk/by-id/nvme-Amazon_Elastic_Block_Store_{vid.replace('-', '')}"
                )
            ),
            data_volume_id=data.id,
        )
        self.register_outputs(
            {"instanceId": instance.id, "publicIp": public_ip, "dataVolumeId": data.id}
        )


def _warn_snapshot_ignored(wanted: str | None, was: str | None) -> None:
    """data_snapshot_id seeds a new volume only: on a volume that exists it changes nothing, which
    must not pass silently (the operator may believe the data was rolled back)."""
    if wanted and was != wanted:
        pulumi.log.warn(
            naming.text(
                f"`host.aws.data_snapshot_id` {wanted} is ignored: the data volume exists already "
                f"(made from {was or 'no snapshot'}), and a snapshot only seeds a new volume. To "
                "put the data back use `backup.restore_snapshot`, or follow docs/backups.md, 'A "
                "data volume from an EBS snapshot'; or unset it."
            )
        )


def _cidr_arg(cidr: object) -> dict[str, str]:
    text = str(cidr)
    return {"cidr_ipv6": text} if ":" in text else {"cidr_ipv4": text}


DLM_SERVICE_POLICY = "arn:aws:iam::aws:policy/service-role/AWSDataLifecycleManagerServiceRole"
# The tag that marks this stack's data volume, and nothing else, for Data Lifecycle Manager.
DATA_VOLUME_TAG = "portsip-im-data-volume"


def scheduled_snapshots(
    name: str,
    keep: int,
    tags: dict[str, str],
    target: dict[str, str],
    opts: pulumi.ResourceOptions,
) -> aws.dlm.LifecyclePolicy:
    """host.aws.ebs_snapshot_keep: a daily EBS snapshot of this stack's data volume (found by
    `target`, its one tag of its own), the newest `keep` kept, by Data Lifecycle Manager under its
    own role."""
    role = aws.iam.Role(
        f"{name}-dlm-role",
        assume_role_policy=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"Service": "dlm.amazonaws.com"},
                        "Action": "sts:AssumeRole",
                    }
                ],
            }
        ),
        tags=tags,
        opts=opts,
    )
    aws.iam.RolePolicyAttachment(
        f"{name}-dlm-role-policy", role=role.name, policy_arn=DLM_SERVICE_POLICY, opts=opts
    )
    return aws.dlm.LifecyclePolicy(
        f"{name}-data-snapshots",
        description=f"portsip-im data volume, daily ({pulumi.get_stack()})",
        execution_role_arn=role.arn,
        state="ENABLED",
        policy_details=aws.dlm.LifecyclePolicyPolicyDetailsArgs(
            resource_types=["VOLUME"],
            target_tags=target,
            schedules=[
                aws.dlm.LifecyclePolicyPolicyDetailsScheduleArgs(
                    name="daily",
                    create_rule=aws.dlm.LifecyclePolicyPolicyDetailsScheduleCreateRuleArgs(
                        interval=24, interval_unit="HOURS", times="03:00"
                    ),
                    retain_rule=aws.dlm.LifecyclePolicyPolicyDetailsScheduleRetainRuleArgs(
                        count=keep
                    ),
                    copy_tags=True,
                )
            ],
        ),
        tags=tags,
        opts=opts,
    )
