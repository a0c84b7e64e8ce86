"""Guide step 4: pbx01 logs in to pbx@IM with its key, the IM host's key pinned on pbx01."""

from __future__ import annotations

import ipaddress

import pulumi
import pulumi_command as command

from .. import remote, rules
from ..resolved import Resolved
from .context import Steps


def one_public_key(output: str | None) -> str:
    """The trust-key step's stdout as the one public key line it must be: anything else (a
    second line, options before the key, a second key) is refused before it reaches the IM host."""
    text = (output or "").strip()
    try:
        rules.ssh_key(text)  # one line, one key: a line break or a second key is refused
    except ValueError as exc:
        raise pulumi.RunError(
            f"trust-key: pbx01's public key (the step's output) is not exactly one OpenSSH public "
            f"key line ({exc}); nothing was authorized on the IM host"
        ) from None
    return text


def pbx01_given_address(r: Resolved) -> pulumi.Input[str]:
    """pbx01's private IP as the caller gave it (pbx.pbx01_private_ip; on aws/hcloud, pbx01_host
    held to a private address, as the security group uses it); empty otherwise."""
    return pulumi.Output.from_input(r.pbx01_source_cidr).apply(
        lambda cidr: str(cidr).split("/")[0] if cidr else ""
    )


def pbx01_address(r: Resolved) -> pulumi.Input[str]:
    """Where pbx01's logins to the IM host come from, for authorized_keys' `from=`: pbx01's private
    IP (pbx.pbx01_private_ip, else pbx.pbx01_host when it is an address); empty when unknown."""

    def pick(cidr: str | None, host: str | None) -> str:
        if cidr:
            return cidr.split("/")[0]
        try:
            return str(ipaddress.ip_address(str(host)))
        except ValueError:
            return ""

    return pulumi.Output.all(r.pbx01_source_cidr, r.pbx01_host).apply(lambda v: pick(*v))


def trust(
    s: Steps, im_host_key: pulumi.Input[str], prepare: pulumi.Resource
) -> tuple[command.remote.Command, command.remote.Command]:
    """trust-key on pbx01 (its key, made if missing; the IM host key pinned in known_hosts), then
    trust on the IM host (that key authorized for the pbx user)."""
    trust_key = remote.step(
        f"{s.name}-trust-key",
        on=s.pbx01,
        script="trust-key",
        params={"IM_IP": s.host.private_ip, "IM_HOST_KEY": im_host_key},
        delete_params={"ACTION": "remove"},
        data_stdout=True,  # pbx01's public key: read by the trust step, not progress
        opts=s.child(prepare),
    )
    authorized = remote.step(
        f"{s.name}-trust",
        on=s.im_admin,
        script="trust",
        params={
            "PBX_USER": s.r.pbx01_user,
            "PUBKEY": trust_key.stdout.apply(one_public_key),
            # from=: what this session's client address shows when it comes through pbx01,
            # checked against pbx01's address where the caller gave it (never pbx01_host's).
            "PBX01_IP": pbx01_given_address(s.r),
            "VIA_PBX01": "1" if s.r.jump_via_pbx01 else "0",
        },
        delete_params={"ACTION": "remove"},
        opts=s.child(prepare),
    )
    return trust_key, authorized
