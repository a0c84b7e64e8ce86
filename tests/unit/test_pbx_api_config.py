"""The PBX API keys: pbxApiLogin, pbxApiLoginPath, imTokenRotation -- validated at preview, and
reaching the steps that need them (and only as plain parameters: no secret in a command)."""

import pytest

from portsip_im.remote import params_of
from stack_config import ConfigError, parse_config
from tests.unit import harness as h

SECRETS = {"sshPrivateKey", "pbxPassword", "pbxAdminPassword", "imToken"}


def parse(**overrides: str):
    raw = {**h.base_config("existing"), **overrides}
    return parse_config(raw, SECRETS & raw.keys())


def test_login_defaults_to_auto():
    c = parse()
    assert c.pbx_api_login == "auto" and c.pbx_api_login_path == "/login/oauth/token"
    assert c.im_token_rotation is None


@pytest.mark.parametrize(
    "overrides, message",
    [
        (
            {"pbxApiLogin": "basic"},
            "portsip-im:pbxApiLogin: 'basic' is not one of auto, json or oauth",
        ),
        ({"pbxApiLoginPath": "login/oauth"}, "portsip-im:pbxApiLoginPath: 'login/oauth': must be"),
        ({"pbxApiLoginPath": "/login?x=1"}, "portsip-im:pbxApiLoginPath: '/login?x=1': must be"),
    ],
)
def test_bad_login_settings_are_one_clear_error(overrides, message):
    with pytest.raises(ConfigError) as exc:
        parse(**overrides)
    assert message in str(exc.value)
    assert str(exc.value).count("portsip-im:") == 1


def params(r: h.Registered, phase: str = "create") -> dict[str, str]:
    return params_of(r.inputs[phase])


def steps(**config: str) -> dict[str, h.Registered]:
    result = h.run({**h.base_config("existing"), **config})
    return {r.name.removeprefix("im-"): r for r in result.mocks.of_type("command:remote:Command")}


def test_login_style_and_rotation_reach_the_steps():
    s = steps(pbxApiLogin="json", imTokenRotation="2026-12")
    for step in ("whitelist", "token", "deploy", "upgrade"):
        p = params(s[step])
        assert p["PBX_LOGIN"] == "json" and p["PBX_JSON_LOGIN_PATH"] == "/login", step
        assert p["PBX_LOGIN_PATH"] == "/login/oauth/token", step
    assert params(s["token"])["ROTATION"] == "2026-12"
    assert "TOKEN_ROTATION" not in params(s["deploy"])  # deploy follows the token itself
    # The admin password travels on stdin only.
    for r in s.values():
        assert h.base_config("existing")["pbxAdminPassword"] not in r.inputs["create"]


def changed_steps(before: dict[str, h.Registered], after: dict[str, h.Registered]) -> set[str]:
    return {n for n in before if before[n].inputs["create"] != after[n].inputs["create"]}


def test_a_new_rotation_value_changes_only_the_token_step():
    assert changed_steps(steps(), steps(imTokenRotation="2026-12")) == {"token"}


def test_deploy_follows_the_token_the_token_step_reports(monkeypatch):
    # A rotated (or newly given) token prints another fingerprint: deploy, and only it, re-runs.
    before = steps()
    monkeypatch.setitem(h.STEP_STDOUT, "token", "sha256:fedcba9876543210\n")
    assert changed_steps(before, steps()) == {"deploy"}
