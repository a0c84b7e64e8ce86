"""The invoke options of the hosts' cloud lookups: the caller's provider and parent, as the
component's own resources get them.

The lookups (instance type, subnet, AMI, Elastic IP; server type, network, Primary IP) run before
ImServer registers, so that bad input creates nothing. They cannot take `parent=self` then; they
take the provider the caller passed in `opts` (`provider=` or `providers=`) and the caller's
parent, whose providers they inherit. Without either, the default provider, as before.
"""

from __future__ import annotations

from collections.abc import Mapping

import pulumi


def invoke_options(opts: pulumi.ResourceOptions | None, package: str) -> pulumi.InvokeOptions:
    """InvokeOptions for a lookup of `package` (`aws`, `hcloud`) under the component's `opts`."""
    if opts is None:
        return pulumi.InvokeOptions()
    candidates: list[pulumi.ProviderResource] = []
    if opts.provider is not None:
        candidates.append(opts.provider)
    providers = opts.providers
    if isinstance(providers, Mapping):
        candidates.extend(providers.values())
    elif providers:
        candidates.extend(providers)
    provider = next((p for p in candidates if getattr(p, "package", None) == package), None)
    return pulumi.InvokeOptions(parent=opts.parent, provider=provider)
