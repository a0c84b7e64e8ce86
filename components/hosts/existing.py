"""An IM server the operator already has: nothing is provisioned, the host is only described.

Its size cannot be looked up in a catalogue; the prepare step measures it on the host.
"""

from __future__ import annotations

import pulumi

from ..settings import Settings
from . import ImHost


class ExistingImHost(pulumi.ComponentResource):
    """portsip:im:ExistingHost — a described server; it has no children."""

    host: ImHost

    def __init__(
        self, name: str, settings: Settings, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("portsip:im:ExistingHost", name, None, opts)
        c = settings.config
        assert c.public_ip is not None  # enforced by the settings' cross checks
        private_ip = pulumi.Output.from_input(str(c.private_ip))
        self.host = ImHost(
            private_ip=private_ip,
            public_ip=pulumi.Output.from_input(str(c.public_ip)),
            ssh_host=private_ip,
            admin_user=settings.admin_user,
            host_id=pulumi.Output.from_input(f"existing:{c.private_ip}"),
            data_disk_device=(
                pulumi.Output.from_input(c.data_disk_device) if c.data_disk_device else None
            ),
            data_volume_id=None,
        )
        self.register_outputs({"privateIp": private_ip})
