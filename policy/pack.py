"""The policies of the `portsip-im-guardrails` pack, importable without starting the pack.

`__main__.py` hands `POLICIES` to `PolicyPack` (which serves them to the Pulumi engine and never
returns); the tests call the policies' `validate` directly. One module per family:
  * sizing.py: the IM host and its data volume meet the stack's sizing profile; the lab switch;
  * network.py: SSH never open to the Internet, TCP 8887 open to the client CIDRs (the rules read
    through firewall.py);
  * data.py: the IM data volume exists and is protected;
  * no_secrets.py: no secret-looking value in user-data, tags or labels;
  * remote_commands.py: the remote steps pin host keys and carry no secret in their command text.
Resources are recognised by resources.py; properties unknown at preview are read by props.py.
"""

from __future__ import annotations

import sys
from pathlib import Path

# The pack runs from its own folder; the guide's figures and rules live in the component
# (components/portsip_im: spec.py, rules.py) and the config keys in stack_config/.
REPO_ROOT = Path(__file__).resolve().parents[1]
for path in (REPO_ROOT / "components", REPO_ROOT):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

from policy.data import DATA_PROTECTED  # noqa: E402
from policy.network import IM_PORT_OPEN, SSH_NOT_PUBLIC  # noqa: E402
from policy.no_secrets import NO_SECRETS  # noqa: E402
from policy.remote_commands import HOST_KEY_PINNED, NO_SECRETS_IN_COMMANDS  # noqa: E402
from policy.sizing import HOST_SIZE, HOST_TYPE_LISTED, NOT_UNDERSIZED  # noqa: E402

PACK_NAME = "portsip-im-guardrails"

POLICIES = [
    HOST_SIZE,
    HOST_TYPE_LISTED,
    NOT_UNDERSIZED,
    IM_PORT_OPEN,
    SSH_NOT_PUBLIC,
    DATA_PROTECTED,
    NO_SECRETS,
    # On every target: the remote steps (policy/remote_commands.py).
    HOST_KEY_PINNED,
    NO_SECRETS_IN_COMMANDS,
]
