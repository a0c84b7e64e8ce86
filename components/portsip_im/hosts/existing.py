"""An IM server the operator already has: nothing is provisioned, the host is only described.

Its size cannot be looked up in a catalogue; the prepare step measures it on the host.
"""

from __future__ import annotations

import pulumi

from ..resolved import Resolved
from . import ImHost


class ExistingImHost(pulumi.ComponentResource):
    """portsip:im:ExistingHost — a described server; it has no children."""

    host: ImHost

    def __init__(self, name: str, r: Resolved, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("portsip:im:ExistingHost", name, None, opts)
        assert r.public_ip is not None  # required of an existing host (checks/)
        private_ip = pulumi.Output.from_input(r.private_ip)
        self.host = ImHost(
            private_ip=private_ip,
            public_ip=pulumi.Output.from_input(r.public_ip),
            ssh_host=private_ip,
            admin_user=r.admin_user,
            host_id=pulumi.Output.concat("existing:", r.private_ip),
            data_disk_device=(
                pulumi.Output.from_input(r.data_disk_device) if r.data_disk_device else None
            ),
            data_volume_id=None,
        )
        self.register_outputs({"privateIp": private_ip})
