"""portsip-im: the dedicated PortSIP IM server of a PBX v22 HA cluster, from this stack's config."""

import pulumi

from stack_config import load_settings, server_from_config

settings = load_settings()
im = server_from_config("im", settings)

pulumi.export("target", settings.target)
pulumi.export("imPrivateIp", im.private_ip)
pulumi.export("imPublicIp", im.public_ip)
pulumi.export("imEndpoint", im.endpoint)
pulumi.export("hostId", im.host_id)
pulumi.export("imHealth", im.health)
if im.data_volume_id is not None:
    pulumi.export("dataVolumeId", im.data_volume_id)
