"""portsip_im: PortSIP's guide "Scaling IM Server On-Premise for High Availability" as a component.

from portsip_im import ImServer, ImServerArgs, HostArgs, AwsHostArgs, PbxArgs, SshArgs

ImServer("im", ImServerArgs(host=HostArgs(aws=AwsHostArgs(subnet_id=subnet.id, ...)),
                            pbx=PbxArgs(pbx01_host=pbx01.private_ip, ...), ssh=SshArgs(...)))
"""

from typing import TYPE_CHECKING, Any

from .args import (
    AwsHostArgs,
    BackupArgs,
    CloudHostArgs,
    ExistingHostArgs,
    HcloudHostArgs,
    HostArgs,
    ImServerArgs,
    ImServiceArgs,
    PbxApiArgs,
    PbxArgs,
    PrepareArgs,
    SshArgs,
)
from .checks import ArgsError

if TYPE_CHECKING:
    from .server import ImServer


def __getattr__(name: str) -> Any:
    # ImServer pulls in the providers' SDKs; the args and rules alone (the policy pack, the
    # program's config layer) must not need them.
    if name == "ImServer":
        from .server import ImServer

        return ImServer
    raise AttributeError(name)


__version__ = "0.7.0"

__all__ = [
    "ArgsError",
    "AwsHostArgs",
    "BackupArgs",
    "CloudHostArgs",
    "ExistingHostArgs",
    "HcloudHostArgs",
    "HostArgs",
    "ImServer",
    "ImServerArgs",
    "ImServiceArgs",
    "PbxApiArgs",
    "PbxArgs",
    "PrepareArgs",
    "SshArgs",
]
