"""portsip-im-guardrails: CrossGuard policies for the portsip-im program.

Run with the program: `pulumi preview --policy-pack policy` (from the repository root). The
policies are listed in pack.py; `PolicyPack` serves them to the engine and does not return.
"""

import sys
from pathlib import Path

# Run as a script from this folder: make the repository root importable (policy.pack and the
# component's portsip_im/spec.py, the one source of the guide's figures).
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pulumi_policy import EnforcementLevel, PolicyPack  # noqa: E402

from policy.pack import PACK_NAME, POLICIES  # noqa: E402

PolicyPack(
    name=PACK_NAME,
    enforcement_level=EnforcementLevel.MANDATORY,
    policies=POLICIES,
)
