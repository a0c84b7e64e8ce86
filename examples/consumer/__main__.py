"""portsip-im-consumer: how another stack uses the IM server's outputs.

Reads `imEndpoint` ("<public ip>:8887") and `imPrivateIp` from the portsip-im stack named by the
config key `imStack`, through a StackReference, and exports what an IM client or a PBX-side tool
needs as one JSON document (`clientConfig`). Run it like any project:

    cd examples/consumer && pulumi stack init dev \
      && pulumi config set imStack organization/portsip-im/dev && pulumi up
"""

from __future__ import annotations

import json

import pulumi


def split_endpoint(endpoint: str) -> tuple[str, int]:
    """`"203.0.113.25:8887"` -> ("203.0.113.25", 8887); a clear error for anything else."""
    host, sep, port = endpoint.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise ValueError(f"imEndpoint {endpoint!r} is not HOST:PORT")
    return host, int(port)


def client_config(endpoint: str, private_ip: str) -> str:
    """The IM client's settings: the public endpoint, and the private one for PBX-side tools."""
    host, port = split_endpoint(endpoint)
    return json.dumps(
        {
            "imServer": {"host": host, "port": port},
            "imServerPrivate": {"host": private_ip, "port": port},
        },
        sort_keys=True,
    )


config = pulumi.Config()
im_stack = config.require("imStack")
im = pulumi.StackReference(im_stack)

endpoint = im.require_output("imEndpoint")
private_ip = im.require_output("imPrivateIp")

pulumi.export("imStack", im_stack)
pulumi.export("imEndpoint", endpoint)
pulumi.export("imPrivateIp", private_ip)
pulumi.export(
    "clientConfig",
    pulumi.Output.all(endpoint, private_ip).apply(lambda v: client_config(str(v[0]), str(v[1]))),
)
