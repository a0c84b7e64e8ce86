"""The IM data volume: how it is recognised, and policy `im-data-protected`.

The program marks the data volume `portsip-im-role=im-data` (portsip_im/hosts/aws.py, hcloud.py)
besides the stack's tag. Its size is held to the sizing profile by `im-host-meets-spec` (sizing.py).
"""

from __future__ import annotations

from typing import Any

from pulumi_policy import ReportViolation, StackValidationArgs, StackValidationPolicy

from policy.resources import im_hosts, marks

ROLE_TAG = "portsip-im-role"
DATA_ROLE = "im-data"


def is_data_volume(props: Any) -> bool:
    return marks(props).get(ROLE_TAG) == DATA_ROLE


# A stack policy: resource options (`protect`) are visible there.
def validate_data_protected(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    volumes = [r for r in args.resources if is_data_volume(r.props)]
    hosts = im_hosts(args.resources)
    if not volumes and not hosts:
        args.not_applicable("no IM data volume and no IM host in this stack")
        return
    if hosts and not volumes:
        report_violation(
            f"the IM host has no separate data volume ({ROLE_TAG}={DATA_ROLE}): chat history "
            "and files would die with the VM",
            hosts[0].urn,
        )
    for vol in volumes:
        if not vol.opts.protect:
            report_violation(
                f"the IM data volume {vol.name} is not protected: set portsip-im:protectData to "
                "true, so no replacement or destroy deletes chat history and files",
                vol.urn,
            )


DATA_PROTECTED = StackValidationPolicy(
    name="im-data-protected",
    description="The IM data volume exists and is `protect`ed.",
    validate=validate_data_protected,
)
