"""The stand-in im.sh on pbx01: flag validation, token handling, and every verb observable on the
IM host (tests/lab/standin/im.sh, im-remote.py, im-server.py)."""

from __future__ import annotations

import json
import urllib.request

import pytest

pytestmark = pytest.mark.lab

GUIDE = "/opt/portsip-pbx-ha-guide"


@pytest.fixture(scope="module")
def trusted(lab):
    """A blank IM host with user pbx and pbx01 -> pbx@IM trust (done by hand for these tests)."""
    lab.clear_faults()
    lab.reset_im()
    lab.reset_pbx01()
    lab.trust_by_hand()
    lab.ssh("im", "mkdir -p /data/im && chown pbx:pbx /data/im", check=True)
    yield lab
    lab.clear_faults()


def status_json(lab, host="im"):
    with urllib.request.urlopen(f"http://{lab.addr(host)}:8887/", timeout=5) as r:
        return json.loads(r.read())


def errors(p):
    return [line for line in p.stdout.splitlines() if line.startswith("[error]:")]


# ---- validation (nothing reaches the IM host)


@pytest.mark.parametrize(
    "args,words",
    [
        ((), "at least one of -a"),
        (("-a", "10.213.7"), "invalid private IP"),
        (("-a", "10.213.7.12", "-A", "not-an-ip"), "invalid public IP"),
        (("-a", "10.213.7.12", "-f", "data/im"), "must be absolute"),
        (("-a", "10.213.7.12", "-x", "1"), "unknown option"),
        (("-a",), "needs a value"),
    ],
)
def test_run_rejects_bad_flags(trusted, args, words):
    lab = trusted
    before = len(lab.commands("im"))
    p = lab.imsh("run", *args, token=lab.im_token())
    assert p.returncode != 0
    assert errors(p) and words in errors(p)[0], p.stdout
    assert len(lab.commands("im")) == before


def test_unknown_verb_prints_error_and_exits_0(trusted):
    p = trusted.imsh("frobnicate")
    assert p.returncode == 0
    assert p.stdout.startswith('[error]: unknown command "frobnicate"')


def test_run_without_token_fails(trusted):
    p = trusted.imsh("run", "-a", trusted.im, input="")
    assert p.returncode != 0 and "token" in errors(p)[0]


def test_run_with_a_stale_token_fails(trusted):
    p = trusted.imsh("run", "-a", trusted.im, token="not-the-current-token")
    assert p.returncode != 0 and "not valid" in errors(p)[0]


def test_must_run_as_pbx(trusted):
    p = trusted.ssh("pbx01", f"cd {GUIDE} && IM_TOKEN=x /bin/bash im.sh run -a {trusted.im}")
    assert p.returncode != 0 and "user pbx" in p.stdout


def test_storage_path_must_exist_on_the_im_host(trusted):
    p = trusted.imsh("run", "-a", trusted.im, "-f", "/no/such/dir", token=trusted.im_token())
    assert p.returncode != 0 and any("/no/such/dir" in e for e in errors(p))
    assert not trusted.standin_state()["installed"]


def test_missing_id_rsa_is_a_clear_error(trusted):
    lab = trusted
    lab.ssh("pbx01", "mv ~/.ssh/id_rsa ~/.ssh/id_rsa.away", user="pbx", check=True)
    try:
        p = lab.imsh("run", "-a", lab.im, token=lab.im_token())
    finally:
        lab.ssh("pbx01", "mv ~/.ssh/id_rsa.away ~/.ssh/id_rsa", user="pbx", check=True)
    assert p.returncode != 0 and "id_rsa is missing" in errors(p)[0]


def test_verbs_before_run_fail(trusted):
    p = trusted.imsh("start")
    assert p.returncode != 0 and "run first" in errors(p)[0]


# ---- the lifecycle, in order


def test_run_deploys_and_port_8887_answers(trusted):
    lab = trusted
    assert not lab.tcp_open("im", 8887)
    token = lab.im_token()
    p = lab.imsh(
        "run", "-a", lab.im, "-A", lab.im_public, "-f", "/data/im", env={"IM_TOKEN": token}
    )
    assert p.returncode == 0, p.stdout + p.stderr
    assert f"token : {token}" in p.stdout  # like the vendor script: callers must redact
    assert lab.tcp_open("im", 8887) and lab.tcp_open("im_public", 8887)
    assert status_json(lab) == {
        "service": "portsip-im-standin",
        "state": "running",
        "release": "1",
        "private_ip": lab.im,
        "public_ip": lab.im_public,
        "storage_path": "/data/im",
    }
    st = lab.standin_state()
    assert st["installed"] and st["state"] == "running" and st["counters"]["run"] == 1
    assert token not in json.dumps(st)
    import hashlib

    assert st["token_sha256"] == hashlib.sha256(token.encode()).hexdigest()
    # the guide's verification: the PBX lists the IM server's addresses
    assert lab.api_state()["im"] == {
        "private_ipv4": lab.im,
        "private_ipv6": "",
        "public_ipv4": lab.im_public,
        "public_ipv6": "",
    }
    # the IM side ran as pbx via sudo, the token nowhere in the commands
    last = lab.command_log("im")[-1]
    assert last["user"] == "pbx" and last["cmd"].startswith("sudo -n /usr/bin/python3 - run -a")
    assert token not in lab.path("im", "/var/log/lab-commands.log").read_text()


def test_stop_start_restart_status(trusted):
    lab = trusted
    c0 = lab.standin_state()["counters"]
    assert lab.imsh("stop").returncode == 0
    assert not lab.tcp_open("im", 8887) and lab.standin_state()["state"] == "stopped"
    assert lab.imsh("start").returncode == 0
    assert lab.tcp_open("im", 8887) and lab.standin_state()["state"] == "running"
    assert lab.imsh("restart").returncode == 0
    assert lab.tcp_open("im", 8887)
    p = lab.imsh("status")
    assert p.returncode == 0 and "running" in p.stdout and "release 1" in p.stdout
    c1 = lab.standin_state()["counters"]
    for verb in ("stop", "start", "restart", "status"):
        assert c1[verb] == c0.get(verb, 0) + 1, verb
    assert c1["run"] == c0["run"]


def test_upgrade_needs_a_fresh_token(trusted):
    lab = trusted
    p = lab.imsh("upgrade", token=lab.im_token())
    assert p.returncode != 0 and "freshly generated token" in p.stdout
    assert lab.standin_state()["release"] == "1"


def test_upgrade_with_a_new_token_bumps_the_release(trusted):
    lab = trusted
    old_token = lab.im_token()
    status, body = lab.api("POST", "/im/token", token=lab.api_login())
    assert status == 200 and body["token"] != old_token
    p = lab.imsh("upgrade", token=old_token)  # the regenerated token invalidated the old one
    assert p.returncode != 0 and "not valid" in p.stdout
    p = lab.imsh("upgrade", token=body["token"])
    assert p.returncode == 0, p.stdout
    st = lab.standin_state()
    assert st["release"] == "2" and st["counters"]["upgrade"] == 1
    assert status_json(lab)["release"] == "2"
    # IM_RELEASE names the release
    _, body = lab.api("POST", "/im/token", token=lab.api_login())
    assert lab.imsh("upgrade", token=body["token"], env={"IM_RELEASE": "22.3.1"}).returncode == 0
    assert status_json(lab)["release"] == "22.3.1"


def test_fail_switch_fails_the_next_verb_once(trusted):
    lab = trusted
    lab.fail_next_imsh()
    before = lab.standin_state()["counters"]["restart"]
    p = lab.imsh("restart")
    assert p.returncode != 0 and ".fail-next" in errors(p)[0]
    assert not lab.path("pbx01", f"{GUIDE}/.fail-next").exists()  # consumed
    assert lab.standin_state()["counters"]["restart"] == before
    assert lab.imsh("restart").returncode == 0
    lab.plant("imsh-fail-always")
    assert lab.imsh("status").returncode != 0 and lab.imsh("status").returncode != 0
    lab.clear_faults()
    assert lab.imsh("status").returncode == 0


def test_error_exit0_switch_reports_an_error_and_exits_0_once(trusted):
    lab = trusted
    if not lab.standin_state()["installed"]:  # on its own (pytest -k), deploy first
        assert lab.imsh("run", "-a", lab.im, token=lab.im_token()).returncode == 0
    lab.plant("imsh-error-exit0")
    before = lab.standin_state()["counters"].get("restart", 0)
    p = lab.imsh("restart")
    assert p.returncode == 0  # like the vendor: an error line does not promise a non-zero exit
    assert len(errors(p)) == 1 and ".error-exit0-next, now consumed" in errors(p)[0]
    assert not lab.path("pbx01", f"{GUIDE}/.error-exit0-next").exists()  # consumed
    assert lab.standin_state()["counters"]["restart"] == before  # nothing was done
    p = lab.imsh("restart")
    assert p.returncode == 0 and errors(p) == []
    assert lab.standin_state()["counters"]["restart"] == before + 1


def test_rm_removes_the_installation_but_keeps_data(trusted):
    lab = trusted
    assert lab.imsh("rm").returncode == 0
    assert not lab.tcp_open("im", 8887)
    st = lab.standin_state()
    assert not st["installed"] and st["counters"]["rm"] == 1
    assert not lab.path("im", "/etc/systemd/system/portsip-im-standin.service").exists()
    assert lab.path("im", "/data/im/.portsip-im-standin").exists()
    assert lab.path("im", "/var/lib/portsip/im-data/standin-data.txt").exists()
    # and it can be deployed again
    assert lab.imsh("run", "-a", lab.im, token=lab.im_token()).returncode == 0
    assert lab.tcp_open("im", 8887)
