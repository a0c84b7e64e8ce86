"""The guide's steps 1–5 and its day-2 verbs, as remote commands in the guide's order.

host → prepare → whitelist → token → trust → [firewall] → deploy → state → restart → upgrade →
health (firewall only with host.existing.firewall)

Each step is a `.sh` file under `scripts/`, run by `remote.step`; one module per step (or per
small family of steps) here, in the guide's order. What re-runs when:

- A second `pulumi up` with no change runs nothing: every input is built the same way each time.
- Steps whose output later steps read (pbx01-check, host-key, token, trust-key) and steps that
  converge cheaply (whitelist, trust, state, restart, upgrade) re-run their idempotent script on an
  update, e.g. a rotated SSH key; the scripts then find nothing to do and call no vendor verb.
- prepare re-runs only when its own inputs change (a new VM among them); an update runs `:`.
- deploy re-runs its script on any change, and when the token step reports another token; the
  script records what it deployed where, with which token, on pbx01 and runs no vendor verb when
  that still holds (running or stopped); new addresses on the same host or a new token run
  `im.sh rm` first.
- token re-reads the PBX's current token on each run and regenerates it only when neither side has
  one or im.token_rotation is set to a new value.
- Destroy, in reverse: forget upgrade/restart records → `im.sh rm` → remove the firewall (when
  managed) → remove trust, token copy and whitelist entries. prepare leaves the host (and its
  data disk) as it is.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_command as command

from .. import remote
from ..hosts import ImHost
from ..pbx import PbxAccess
from ..resolved import Resolved
from . import manage
from .backup import add_backups, pre_upgrade_snapshot
from .context import DEFAULT_DATA_PATH, Steps
from .deploy import deploy
from .firewall import firewall
from .health import health, parse_health
from .host import host_key_scan, pbx01_check
from .pbx_side import token, whitelist
from .prepare import prepare
from .trust import trust

__all__ = ["DEFAULT_DATA_PATH", "GuideSteps", "add_guide_steps"]


@dataclass(frozen=True)
class GuideSteps:
    """The steps' resources that the component exposes."""

    deploy: command.remote.Command
    health: command.remote.Command
    im_health: pulumi.Output[Any]


def add_guide_steps(
    name: str,
    r: Resolved,
    host: ImHost,
    host_resource: pulumi.Resource,
    parent: pulumi.Resource,
) -> GuideSteps:
    """host → pbx01-check → host-key → prepare → whitelist → token → trust → [firewall] → deploy →
    backup → state → restart → upgrade → health, each under `parent`."""
    pbx01_conn = remote.connection(
        r.pbx01_host,
        r.pbx01_user,
        r.ssh_private_key,
        r.pbx01_host_key,
        per_dial_timeout=r.ssh_per_dial_timeout,
    )
    pbx01 = remote.Host(pbx01_conn, sudo=False)

    # The IM host's key: pinned by the caller (existing), or read once from pbx01 (a new VM).
    im_host_key: pulumi.Input[str]
    waits_on: list[pulumi.Resource] = [host_resource]
    if r.im_host_key:
        im_host_key = r.im_host_key
    else:
        scan = host_key_scan(name, pbx01, host, host_resource, parent)
        im_host_key = scan.stdout.apply(lambda out: (out or "").strip())
        waits_on.append(scan)
    im_conn = remote.connection(
        host.ssh_host,
        host.admin_user,
        r.ssh_private_key,
        im_host_key,
        via=pbx01_conn if r.jump_via_pbx01 else None,
        per_dial_timeout=r.ssh_per_dial_timeout,
    )
    im_admin = remote.Host(im_conn, sudo=host.admin_user != "root")
    s = Steps(name, r, host, PbxAccess.from_settings(r), pbx01, im_admin, parent)

    check = pbx01_check(s)
    prepared = prepare(s, check, *waits_on)
    listed = whitelist(s, prepared)
    held = token(s, listed)
    _, trusted = trust(s, im_host_key, prepared)
    walled = firewall(s, trusted)
    deployed = deploy(s, held, listed, trusted, *([walled] if walled else []))
    backups = add_backups(s, deployed)
    state = manage.state(s, deployed, *backups)
    restart = manage.restart(s, state)
    snapshot = pre_upgrade_snapshot(s, after=[restart, *backups])
    upgrade = manage.upgrade(s, restart, held, *backups, *snapshot)
    checked = health(s, [deployed, restart, upgrade, *backups], state, restart, upgrade, *backups)
    return GuideSteps(deploy=deployed, health=checked, im_health=checked.stdout.apply(parse_health))
