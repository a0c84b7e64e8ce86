"""portsip-im: the dedicated PortSIP IM server of a PBX v22 HA cluster."""

import pulumi

from components.im_server import ImServer, ImServerArgs
from components.settings import load_settings

settings = load_settings()
im = ImServer("im", ImServerArgs(settings=settings))

pulumi.export("target", settings.target)
pulumi.export("imPrivateIp", im.host.private_ip)
pulumi.export("imPublicIp", im.host.public_ip)
pulumi.export("imEndpoint", im.endpoint)
pulumi.export("hostId", im.host.host_id)
pulumi.export("imHealth", im.health)
if im.host.data_volume_id is not None:
    pulumi.export("dataVolumeId", im.host.data_volume_id)
