"""The pack's remote-step policies on the real engine: `pulumi preview --policy-pack policy` of a
small project that registers `pulumi_command.remote.Command`s through the real command provider.

Stack `bad` breaks each rule once (no host key, no proxy host key, a stdin secret in `create`, a
secret stack config value in `delete`, one value of the backupEnv JSON object in `create`): the
preview fails with each policy's message and never shows a secret. Stack `good` follows
portsip_im/remote.py's way (pinned keys, secrets on stdin): the preview passes. Preview runs no
remote command, so 127.0.0.1 stands for every host.
"""

from __future__ import annotations

import base64
import json
import secrets
import time

import pytest

from tests.policy.engine import preview_with_pack, project
from tests.policy.support import fresh_private_key

pytestmark = pytest.mark.e2e

PROGRAM = """\
    import base64
    import json

    import pulumi
    from pulumi_command import remote

    cfg = pulumi.Config()
    key = cfg.require_secret("privateKey")
    token = cfg.require_secret("token")
    host_key = cfg.require("hostKey")


    def conn(pin=True, proxy_pin=True):
        proxy = remote.ProxyConnectionArgs(
            host="127.0.0.1", user="pbx", private_key=key, host_key=host_key if proxy_pin else None
        )
        return remote.ConnectionArgs(
            host="127.0.0.1", user="ubuntu", private_key=key,
            host_key=host_key if pin else None, proxy=proxy,
        )


    def encode(value):  # portsip_im/remote.py's encode_secrets
        return f"TOKEN\\t{base64.b64encode(value.encode()).decode()}\\n"


    stdin = pulumi.Output.secret(token.apply(encode))

    if cfg.require("case") == "good":
        remote.Command("pinned", connection=conn(), create="read -r name value", stdin=stdin)
    else:
        remote.Command("no-host-key", connection=conn(pin=False), create="true")
        remote.Command("no-proxy-host-key", connection=conn(proxy_pin=False), create="true")
        remote.Command(
            "secret-in-create", connection=conn(), create=token.apply(lambda t: f"echo {t}"),
            stdin=stdin,
        )
        im_token = pulumi.Config("portsip-im").require_secret("imToken")
        remote.Command(
            "config-secret-in-delete", connection=conn(), create="true",
            delete=im_token.apply(lambda t: f"revoke --token {t}"),
        )
        # One credential out of the backupEnv JSON object, not the object itself.
        backup_env = pulumi.Config("portsip-im").require_secret("backupEnv")
        remote.Command(
            "backup-env-value-in-create", connection=conn(),
            create=backup_env.apply(
                lambda e: f"AWS_SECRET_ACCESS_KEY={json.loads(e)['AWS_SECRET_ACCESS_KEY']} restic"
            ),
        )
"""

FIX = "stdin (components/portsip_im/remote.py step(secrets=...))"
EXPECTED = {
    "remote-host-key-pinned": [
        "no-host-key: its SSH connection pins no host key (connection.hostKey)",
        "no-proxy-host-key: the jump host of its SSH connection pins no host key "
        "(connection.proxy.hostKey)",
        "ssh-keyscan -t ed25519 HOST",
    ],
    "no-secrets-in-remote-commands": [
        "secret-in-create: `create` carries the secret value of stdin's TOKEN;",
        "config-secret-in-delete: `delete` carries the secret value of config portsip-im:imToken;",
        "backup-env-value-in-create: `create` carries the secret value of config "
        "portsip-im:backupEnv['AWS_SECRET_ACCESS_KEY'];",
        FIX,
    ],
}


STACKS = ("bad", "good", "medium", "undersized")


@pytest.fixture(scope="module")
def previews(tmp_path_factory):
    """(the stacks' preview results, the secret values, seconds taken)."""
    started = time.monotonic()
    proj = project(tmp_path_factory.mktemp("policy-engine"), "policy-e2e", PROGRAM)
    # Made per run (preview never dials with it).
    values = {
        "privateKey": fresh_private_key(tmp_path_factory.mktemp("key")),
        "token": secrets.token_urlsafe(18),
        "portsip-im:imToken": secrets.token_urlsafe(18),
        "portsip-im:backupEnv": json.dumps(
            {
                "AWS_ACCESS_KEY_ID": secrets.token_hex(10),
                "AWS_SECRET_ACCESS_KEY": secrets.token_urlsafe(30),
            }
        ),
    }
    host_key = "ssh-ed25519 " + base64.b64encode(secrets.token_bytes(51)).decode()
    for stack in ("bad", "good"):
        proj.init(stack, config={"case": stack, "hostKey": host_key}, secret=values)
    # Compliant steps in stacks whose portsip-im config the engine hands to the pack: a medium
    # profile on an existing host, and the same with the lab switch allowUndersizedHost.
    medium = {"portsip-im:target": "existing", "portsip-im:sizingProfile": "medium"}
    for stack, extra in (
        ("medium", {}),
        ("undersized", {"portsip-im:allowUndersizedHost": "true"}),
    ):
        config = {"case": "good", "hostKey": host_key, **medium, **extra}
        proj.init(stack, config=config, secret=values)
    results = {stack: preview_with_pack(proj, stack) for stack in STACKS}
    return results, values, time.monotonic() - started


def test_breaking_stack_fails_the_preview_with_each_policys_message(previews):
    results, _, _ = previews
    bad = results["bad"]
    output = bad.stdout + bad.stderr
    assert bad.returncode != 0, output
    for policy, fragments in EXPECTED.items():
        assert policy in output, output
        for fragment in fragments:
            assert fragment in output, f"{fragment!r} not in:\n{output}"
    # Only these resources, each for its own reason.
    assert output.count("pins no host key") == 2, output
    assert output.count("carries the secret value") == 3, output


def test_no_secret_value_in_the_engines_output(previews):
    results, values, _ = previews
    for result in results.values():
        for value in values.values():
            parts = [value, *value.splitlines()[1:-1]]
            if value.startswith("{"):
                parts += json.loads(value).values()
            for part in filter(None, parts):
                assert part not in result.stdout + result.stderr


def test_compliant_stack_passes(previews):
    results, _, seconds = previews
    good = results["good"]
    assert good.returncode == 0, good.stdout + good.stderr
    assert "mandatory" not in good.stdout, good.stdout
    assert "pinned" in good.stdout  # the resource was previewed, with the pack loaded
    assert "portsip-im-guardrails" in good.stdout, good.stdout
    print(f"real engine: two stacks set up and previewed in {seconds:.1f} s")


def test_medium_profile_stack_passes(previews):
    results, _, _ = previews
    medium = results["medium"]
    out = medium.stdout + medium.stderr
    assert medium.returncode == 0, out
    assert "portsip-im-guardrails" in out and "pinned" in out, out
    assert "mandatory" not in out and "advisory" not in out, out


def test_undersized_switch_is_reported_with_the_stacks_profile(previews):
    """Advisory: the preview goes through, and says so naming the profile the stack's config set
    (the engine hands the pack the stack's config; the pack reads sizingProfile medium from it)."""
    results, _, _ = previews
    undersized = results["undersized"]
    out = undersized.stdout + undersized.stderr
    assert undersized.returncode == 0, out
    assert "im-host-not-undersized" in out and "advisory" in out, out
    assert "portsip-im:allowUndersizedHost is true" in out, out
    assert "(sizingProfile medium)" in out, out
    assert "mandatory" not in out, out
