"""The guide's steps 1–5 and its day-2 verbs, as remote commands in the guide's order.

host → prepare → whitelist → token → trust → deploy → state → restart → upgrade → health

Each step is a `.sh` file under `components/scripts/`, run by `remote.step`. What re-runs when:

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
  one or imTokenRotation is set to a new value.
- Destroy, in reverse: forget upgrade/restart records → `im.sh rm` → remove trust, token copy and
  whitelist entries. prepare leaves the host (and its data disk) as it is.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_command as command

from .. import remote
from ..backups import add_backups, pre_upgrade_snapshot
from ..checks import Resolved
from ..hosts import ImHost
from ..pbx import PbxAccess
from ..spec import MEASURED_MEMORY_SLACK

DEFAULT_DATA_PATH = "/var/lib/portsip"  # im_ctl.sh's default DATA_PATH


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
    pbx = PbxAccess.from_settings(r)
    key = r.ssh_private_key

    def child(*depends_on: pulumi.Resource, **extra: Any) -> pulumi.ResourceOptions:
        return pulumi.ResourceOptions(parent=parent, depends_on=list(depends_on), **extra)

    pbx01_conn = remote.connection(
        r.pbx01_host,
        r.pbx01_user,
        key,
        r.pbx01_host_key,
        per_dial_timeout=r.ssh_per_dial_timeout,
    )
    pbx01 = remote.Host(pbx01_conn, sudo=False)

    # pbx01 and the IM host are each held to requiredOs, so both run the same OS version.
    check = remote.step(
        f"{name}-pbx01-check",
        on=pbx01,
        script="pbx01-check",
        params={"GUIDE_DIR": r.guide_dir, "REQUIRED_OS": r.required_os},
        rerun_on_update=False,
        triggers=[r.guide_dir, r.required_os],
        opts=child(),
    )

    # The IM host's key: pinned from config (existing), or read once from pbx01 (a new VM).
    im_host_key: pulumi.Input[str]
    waits_on: list[pulumi.Resource] = [host_resource]
    if r.im_host_key:
        im_host_key = r.im_host_key
    else:
        scan = remote.step(
            f"{name}-host-key",
            on=pbx01,
            script="host-key",
            params={"IM_IP": host.private_ip},
            # Read once per VM: a new VM (a new host id) replaces the step and reads its key; a
            # connection change (a rotated key) must not, and an update would overwrite the key.
            triggers=[host.host_id],
            opts=child(host_resource, ignore_changes=["connection", "create", "update"]),
        )
        im_host_key = scan.stdout.apply(lambda out: (out or "").strip())
        waits_on.append(scan)

    im_conn = remote.connection(
        host.ssh_host,
        host.admin_user,
        key,
        im_host_key,
        via=pbx01_conn if r.jump_via_pbx01 else None,
        # A new VM may take minutes to boot: keep dialling.
        dial_error_limit=40,
        per_dial_timeout=r.ssh_per_dial_timeout,
    )
    im_admin = remote.Host(im_conn, sudo=host.admin_user != "root")

    # Guide step 1.
    profile = r.profile
    prepare_params: dict[str, pulumi.Input[str]] = {
        "HOST_ID": host.host_id,
        "REQUIRED_OS": r.required_os,
        "PBX_USER": r.pbx01_user,
        "DATA_DISK": host.data_disk_device or "",
        "DATA_MOUNT": DEFAULT_DATA_PATH,
        "STORAGE_PATH": r.storage_path or "",
        "APPLY_UPDATES": _flag(r.apply_os_updates),
        "SUDO_NOPASSWD": _flag(r.pbx_sudo_nopasswd),
        "MEASURE_SPEC": _flag(r.target == "existing"),
        "ALLOW_UNDERSIZED": _flag(r.allow_undersized_host),
        "MIN_VCPUS": str(profile.min_vcpus),
        "MIN_MEMORY_MIB": str(profile.min_memory_mib),
        "MEMORY_FLOOR_MIB": str(int(profile.min_memory_mib * MEASURED_MEMORY_SLACK)),
        "MIN_DISK_GB": str(profile.min_disk_gb),
    }
    # The profile's name is only for prepare.sh's message; its figures are in the triggers above,
    # so a stack made before profiles existed (large) does not re-run prepare for this parameter.
    prepare_args = {**prepare_params, "SIZING_PROFILE": profile.name}
    if r.allow_undersized_host:
        pulumi.log.warn(
            f"host.existing.allow_undersized (allowUndersizedHost) is true: the IM host may be below PortSIP's {profile.asks()} "
            f"(sizingProfile {profile.name}). Acceptable for a lab, never for production."
        )
    prepare = remote.step(
        f"{name}-prepare",
        on=im_admin,
        script="prepare",
        params=prepare_args,
        secrets={"PBX_PASSWORD": r.pbx_password},
        rerun_on_update=False,
        triggers=[pulumi.Output.all(**prepare_params), r.pbx_password],
        opts=child(check, *waits_on),
    )

    # Guide step 2: the IM server's addresses on the PBX whitelist.
    whitelist_ips = pulumi.Output.all(host.public_ip, host.private_ip).apply(
        lambda ips: " ".join(dict.fromkeys(ips))
    )
    whitelist = remote.step(
        f"{name}-whitelist",
        on=pbx01,
        script="pbx-api+whitelist",
        params={
            **pbx.params(),
            "IPS": whitelist_ips,
            "DAYS": str(r.whitelist_days),
            "MARK": f"portsip-im:{pulumi.get_project()}/{pulumi.get_stack()}",
            "CONFIRMED": _flag(r.whitelist_confirmed),
        },
        secrets=pbx.api_secrets(),
        delete_params={"ACTION": "remove"},
        opts=child(prepare),
    )

    # Guide step 3: the PBX's current IM token, kept on pbx01; regenerated only when the PBX has
    # none or imTokenRotation changes (then deploy re-runs im.sh); a new release gets a fresh one.
    rotation = r.im_token_rotation or ""
    token = remote.step(
        f"{name}-token",
        on=pbx01,
        script="pbx-api+token",
        params={**pbx.params(), "ROTATION": rotation},
        secrets=pbx.token_secrets(),
        delete_params={"ACTION": "remove"},
        quiet=True,
        opts=child(whitelist),
    )

    # Guide step 4: pbx01 logs in to pbx@IM with its key; the IM host key pinned on pbx01.
    trust_key = remote.step(
        f"{name}-trust-key",
        on=pbx01,
        script="trust-key",
        params={"IM_IP": host.private_ip, "IM_HOST_KEY": im_host_key},
        delete_params={"ACTION": "remove"},
        opts=child(prepare),
    )
    trust = remote.step(
        f"{name}-trust",
        on=im_admin,
        script="trust",
        params={
            "PBX_USER": r.pbx01_user,
            "PUBKEY": trust_key.stdout.apply(lambda out: (out or "").strip()),
        },
        delete_params={"ACTION": "remove"},
        opts=child(prepare),
    )

    # Guide step 5: im.sh run on pbx01, then verified.
    deploy_params: dict[str, pulumi.Input[str]] = {
        "HOST_ID": host.host_id,
        "PRIVATE_IP": host.private_ip,
        "PUBLIC_IP": host.public_ip,
        "STORAGE_PATH": r.storage_path or "",
        "GUIDE_DIR": r.guide_dir,
        "PBX_USER": r.pbx01_user,
        "VERIFY_API": _flag(pbx.rest),
        # Which token pbx01 holds (a digest of the token step's fingerprint line): a rotated or
        # newly given token re-runs deploy, which then re-deploys with it (im.sh rm, im.sh run).
        "TOKEN_FP": _digest(token.stdout),
        **pbx.params(),
    }
    deploy = remote.step(
        f"{name}-deploy",
        on=pbx01,
        script="pbx-api+vendor+deploy",
        params=deploy_params,
        secrets=pbx.api_secrets(),
        delete_params={"ACTION": "rm"},
        quiet=True,
        opts=child(whitelist, token, trust),
    )

    # Backups of the IM data (restic, on a timer on the IM host) and a restore on request.
    backups = add_backups(name, r, host, im_admin, child, deploy, DEFAULT_DATA_PATH)
    after_deploy = [deploy, *backups]

    # Day 2: running/stopped, restart, upgrade.
    vendor_params: dict[str, pulumi.Input[str]] = {
        "IM_IP": host.private_ip,
        "GUIDE_DIR": r.guide_dir,
        # pbx01's account on the IM host: each verb holds its backups over that trust (vendor.sh).
        "PBX_USER": r.pbx01_user,
    }
    state = remote.step(
        f"{name}-state",
        on=pbx01,
        script="vendor+manage",
        params={**vendor_params, "ACTION": "state", "STATE": r.im_state},
        quiet=True,
        opts=child(*after_deploy),
    )
    restart = remote.step(
        f"{name}-restart",
        on=pbx01,
        script="vendor+manage",
        params={**vendor_params, "ACTION": "restart", "RESTART_TOKEN": r.restart_token or ""},
        delete_params={"ACTION": "forget"},
        quiet=True,
        opts=child(state),
    )
    upgrade = remote.step(
        f"{name}-upgrade",
        on=pbx01,
        script="pbx-api+vendor+upgrade",
        params={
            **vendor_params,
            **pbx.params(),
            "RELEASE": r.im_release or "",
            "SKIP_CLUSTER_CHECK": _flag(r.skip_cluster_check),
            "PBX_USER": r.pbx01_user,
            "BACKUP": _flag(r.backup_repository is not None),
            "WITHOUT_BACKUP": _flag(r.upgrade_without_backup),
        },
        secrets=pbx.api_secrets(),
        delete_params={"ACTION": "forget"},
        quiet=True,
        # One vendor verb at a time: state → restart → upgrade (vendor.sh also takes a lock).
        opts=child(
            restart,
            token,
            *backups,
            *pre_upgrade_snapshot(name, r, host, child, after=[restart, *backups]),
        ),
    )

    health = remote.step(
        f"{name}-health",
        on=pbx01,
        script="health",
        params={"IM_IP": host.private_ip, "PBX_USER": r.pbx01_user, "EXPECT": r.im_state},
        # The quiet steps' stdout is secret and, at preview, unknown: the real provider refuses an
        # unknown secret in `triggers` ("malformed secret: missing value"). A digest of it is
        # neither secret nor telling, and still changes whenever one of them ran.
        triggers=[
            _digest(deploy.stdout),
            _digest(restart.stdout),
            _digest(upgrade.stdout),
            *(_digest(b.stdout) for b in backups),
        ],
        opts=child(state, restart, upgrade, *backups),
    )
    im_health = health.stdout.apply(_parse_health)
    return GuideSteps(deploy=deploy, health=health, im_health=im_health)


def _digest(output: pulumi.Output[str]) -> pulumi.Output[str]:
    digest = output.apply(lambda text: hashlib.sha256((text or "").encode()).hexdigest()[:16])
    return pulumi.Output.unsecret(digest)


def _flag(value: bool) -> str:
    return "1" if value else "0"


def _parse_health(stdout: str | None) -> Any:
    lines = [line for line in (stdout or "").splitlines() if line.startswith("{")]
    return json.loads(lines[-1]) if lines else {"imPort8887": "unknown"}
