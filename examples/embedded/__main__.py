"""A platform team's program that embeds ImServer: its own resources' Outputs go straight in.

On aws and hcloud the program owns the PBX nodes' network (a VPC, subnet and security group, or a
Hetzner network) and pbx01 itself; the IM server lands on that network, pbx01's private address
comes from its instance. On existing hosts (an on-prem PBX; the lab in the tests) the program's own
resource is the PBX node inventory, read by a local command whose output describes pbx01 and the
IM host; the component gets its Outputs. Secrets come from this program's config as secrets.
"""

import json

import pulumi
import pulumi_command as command

from portsip_im import (
    AwsHostArgs,
    BackupArgs,
    ExistingHostArgs,
    HcloudHostArgs,
    HostArgs,
    ImServer,
    ImServerArgs,
    ImServiceArgs,
    PbxApiArgs,
    PbxArgs,
    PrepareArgs,
    SshArgs,
)

cfg = pulumi.Config()
target = cfg.require("target")
operator_key = cfg.require_secret("operatorPrivateKey")
pbx_password = cfg.require_secret("pbxPassword")
admin_password = cfg.require_secret("pbxAdminPassword")
pbx01_host_key = cfg.require("pbx01HostKey")  # checked out of band, as for any pinned key
operator_public_key = cfg.get("operatorPublicKey") or ""


def aws_network() -> tuple[HostArgs, pulumi.Output[str]]:
    import pulumi_aws as aws

    vpc = aws.ec2.Vpc("pbx-vpc", cidr_block="192.168.0.0/16")
    subnet = aws.ec2.Subnet("pbx-subnet", vpc_id=vpc.id, cidr_block="192.168.1.0/24")
    nodes = aws.ec2.SecurityGroup("pbx-nodes", vpc_id=vpc.id, description="PBX HA nodes")
    pbx01 = aws.ec2.Instance(
        "pbx01",
        ami="ami-0pbxnode",
        instance_type="c7i.2xlarge",
        subnet_id=subnet.id,
        private_ip="192.168.1.11",
        vpc_security_group_ids=[nodes.id],
    )
    host = HostArgs(
        aws=AwsHostArgs(
            private_ip="192.168.1.25",
            subnet_id=subnet.id,
            pbx_security_group_id=nodes.id,
            ssh_public_key=operator_public_key,
        )
    )
    return host, pbx01.private_ip


def hcloud_network() -> tuple[HostArgs, pulumi.Output[str]]:
    import pulumi_hcloud as hcloud

    network = hcloud.Network("pbx-network", ip_range="192.168.0.0/16")
    hcloud.NetworkSubnet(
        "pbx-subnet",
        network_id=network.id.apply(int),
        type="cloud",
        network_zone="eu-central",
        ip_range="192.168.1.0/24",
    )
    pbx01 = hcloud.Server(
        "pbx01",
        server_type="ccx33",
        image="ubuntu-24.04",
        networks=[hcloud.ServerNetworkArgs(network_id=network.id.apply(int), ip="192.168.1.11")],
    )
    host = HostArgs(
        hcloud=HcloudHostArgs(
            private_ip="192.168.1.25",
            network_id=network.id.apply(int),
            ssh_public_key=operator_public_key,
        )
    )
    private_ip = pbx01.networks.apply(lambda nets: (nets or [])[0].ip if nets else "")
    return host, private_ip  # type: ignore[return-value]


def existing_inventory() -> tuple[HostArgs, pulumi.Output[str]]:
    # The PBX node inventory the platform keeps (a JSON document), read by a command of its own.
    inventory = command.local.Command("pbx-inventory", create=cfg.require("inventoryCommand"))
    facts = inventory.stdout.apply(json.loads)
    host = HostArgs(
        existing=ExistingHostArgs(
            private_ip=facts.apply(lambda f: f["im"]["private_ip"]),
            public_ip=facts.apply(lambda f: f["im"]["public_ip"]),
            host_key=facts.apply(lambda f: f["im"]["host_key"]),
            data_disk_device=cfg.get("imDataDisk") or "/dev/sdb",
            allow_undersized=cfg.get_bool("allowUndersizedHost") or False,
        )
    )
    return host, facts.apply(lambda f: f["pbx01"]["private_ip"])


host, pbx01_ip = {"aws": aws_network, "hcloud": hcloud_network}.get(target, existing_inventory)()

im = ImServer(
    "im",
    ImServerArgs(
        host=host,
        pbx=PbxArgs(
            pbx01_host=pbx01_ip,
            pbx01_private_ip=pbx01_ip,
            pbx01_host_key=pbx01_host_key,
            password=pbx_password,
            api=PbxApiArgs(
                url=pbx01_ip.apply(lambda ip: f"https://{ip}:8887/api"),
                admin_user=cfg.get("pbxAdminUser") or "admin",
                admin_password=admin_password,
                tls_verify=cfg.get_bool("pbxApiTlsVerify") is not False,
            ),
        ),
        ssh=SshArgs(private_key=operator_key),
        prepare=PrepareArgs(
            required_os=cfg.get("requiredOs") or "ubuntu 24.04",
            apply_os_updates=cfg.get_bool("applyOsUpdates") is not False,
        ),
        im=ImServiceArgs(storage_path="/data/im"),
        **(
            {"backup": BackupArgs(repository=repo, password=cfg.require_secret("backupPassword"))}
            if (repo := cfg.get("backupRepository"))
            else {}
        ),
    ),
)

pulumi.export("imEndpoint", im.endpoint)
pulumi.export("imPrivateIp", im.private_ip)
pulumi.export("imHealth", im.health)
