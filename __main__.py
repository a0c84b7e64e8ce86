"""portsip-im: the dedicated PortSIP IM server of a PBX v22 HA cluster, from this stack's config."""

import os
import signal
import sys

import pulumi

from stack_config import load_settings, server_from_config


def _stopped_by_the_engine(signum: int, frame: object) -> None:
    # Once a step fails (or on ^C) the engine stops the program with SIGINT. The failure is
    # reported already; without this the interpreter adds a page of tracebacks (KeyboardInterrupt
    # inside the SDK's RPC threads). 32 tells the language host the program has said its piece.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(32)


signal.signal(signal.SIGINT, _stopped_by_the_engine)

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
