"""Every step of the guide, run over real SSH in the lab exactly as the component builds it
(same command, stdin and connection through pbx01), from a blank IM host to a running IM
service, through day-2 changes, to destroy; and the faults the guide cares about."""

from __future__ import annotations

import hashlib
import threading
import time

import pytest

from tests.lab.guide import Guide, lab_config

pytestmark = pytest.mark.lab

VENDOR_VERBS = ("run", "start", "stop", "restart", "rm", "upgrade")


def counters(lab) -> dict[str, int]:
    c = lab.standin_state().get("counters", {})
    return {verb: int(c.get(verb, 0)) for verb in VENDOR_VERBS}


def ours(lab, mark="portsip-im:portsip-im/dev"):
    return sorted(e["cidr"] for e in lab.api_state()["ip_filters"] if e.get("description") == mark)


def fresh(lab) -> None:
    lab.clear_faults()
    lab.reset_pbx01()
    lab.reset_im()


@pytest.fixture(scope="module")
def deployed(lab):
    """A blank IM host taken through every step once."""
    fresh(lab)
    guide = Guide(lab, lab_config(lab))
    guide.up()
    return guide


class TestTheGuide:
    def test_fresh_host_to_listening_im(self, lab, deployed):
        assert lab.tcp_open("im", 8887)
        st = lab.standin_state()
        assert st["installed"] and st["private_ip"] == lab.im and st["public_ip"] == lab.im_public
        assert counters(lab)["run"] == 1
        assert ours(lab) == sorted([f"{lab.im}/32", f"{lab.im_public}/32"])
        im = lab.api_state()["im"]
        assert (im["private_ipv4"], im["public_ipv4"]) == (lab.im, lab.im_public)
        # Step 1 left the pbx user, its sudo, the data disk on /data/im through fstab by UUID.
        lab.ssh("im", "id -nG pbx | grep -qw sudo", check=True)
        # The data disk holds im.sh's whole data path; the storage path is a directory on it.
        mount = lab.ssh(
            "im", "findmnt -no SOURCE,TARGET /var/lib/portsip", check=True
        ).stdout.split()
        assert mount == [lab.im_data_disk, "/var/lib/portsip"]
        files = lab.ssh("im", "findmnt -no SOURCE /data/im", check=True).stdout.strip()
        assert files == f"{lab.im_data_disk}[/storage]"
        fstab = lab.ssh("im", "cat /etc/fstab", check=True).stdout
        assert " /var/lib/portsip ext4 " in fstab and "UUID=" in fstab
        assert "/var/lib/portsip/storage /data/im none bind" in fstab
        assert lab.ssh("im", "stat -c %U /data/im", check=True).stdout.strip() == "pbx"
        # Step 4: pbx01 logs in to pbx@IM with its key and a pinned host key.
        lab.ssh(
            "pbx01",
            f"ssh -o BatchMode=yes -o StrictHostKeyChecking=yes pbx@{lab.im} true",
            user="pbx",
            check=True,
        )
        assert '"imPort8887": "open"' in deployed.printed["health"]

    def test_second_run_changes_nothing(self, lab, deployed):
        before = (counters(lab), ours(lab), lab.im_token())
        deployed.outputs.clear()
        deployed.up()
        assert (counters(lab), ours(lab), lab.im_token()) == before
        said = deployed.transcript()
        for phrase in (
            "already deployed",
            "already accepted",
            "already authorized",
            "already pinned",
            "nothing to do",
        ):
            assert phrase in said, phrase
        for change in ("formatted blank", "user: created", "added", "generated", "running: cd"):
            assert change not in said, change

    def test_stopped_runs_only_stop_then_running_only_start(self, lab, deployed):
        before = counters(lab)
        deployed.config = lab_config(lab, imState="stopped")
        deployed.run("state", "update")
        assert counters(lab) == {**before, "stop": before["stop"] + 1}
        assert not lab.tcp_open("im", 8887)
        deployed.config = lab_config(lab)
        deployed.run("state", "update")
        assert counters(lab) == {**before, "stop": before["stop"] + 1, "start": before["start"] + 1}
        assert lab.tcp_open("im", 8887)

    def test_restart_token_runs_only_restart(self, lab, deployed):
        before = counters(lab)
        deployed.config = lab_config(lab, restartToken="2026-11-25")
        deployed.run("restart", "update")
        assert counters(lab) == {**before, "restart": before["restart"] + 1}
        deployed.run("restart", "update")  # same token again: nothing
        assert counters(lab) == {**before, "restart": before["restart"] + 1}

    def test_release_bump_runs_only_upgrade_with_a_fresh_token(self, lab, deployed):
        before, old_token = counters(lab), lab.im_token()
        deployed.config = lab_config(lab, restartToken="2026-11-25", imRelease="22.1")
        deployed.run("token", "update")
        assert lab.im_token() == old_token  # not before the cluster check has passed
        done = deployed.run("upgrade", "update")
        assert counters(lab) == {**before, "upgrade": before["upgrade"] + 1}
        assert lab.im_token() != old_token
        assert lab.tcp_open("im", 8887)
        assert lab.im_token() not in done.stdout + done.stderr
        # The IM server runs with the upgrade's token: deploy finds nothing to re-deploy.
        before = counters(lab)
        assert "nothing to do" in deployed.run("deploy", "update").stdout
        assert counters(lab) == before

    def test_token_rotation_regenerates_once_and_redeploys(self, lab, deployed):
        before, old_token = counters(lab), lab.im_token()
        deployed.config = lab_config(
            lab, restartToken="2026-11-25", imRelease="22.1", imTokenRotation="2026-12"
        )
        done = deployed.run("token", "update")
        new_token = lab.im_token()
        assert new_token != old_token and "imTokenRotation changed ('' -> '2026-12')" in done.stderr
        done = deployed.run("deploy", "update")
        assert "the IM token changed since the IM service was deployed" in done.stdout
        assert counters(lab) == {**before, "rm": before["rm"] + 1, "run": before["run"] + 1}
        assert lab.standin_state()["token_sha256"] == hashlib.sha256(new_token.encode()).hexdigest()
        assert lab.tcp_open("im", 8887)
        # The same value again changes nothing, on the PBX or the IM server.
        deployed.run("token", "update")
        deployed.run("deploy", "update")
        assert lab.im_token() == new_token
        assert counters(lab) == {**before, "rm": before["rm"] + 1, "run": before["run"] + 1}
        assert new_token not in deployed.transcript()

    def test_an_old_address_leaves_the_whitelist(self, lab, deployed):
        moved = "10.213.7.113"  # only an API record: nothing is sent to it
        deployed.config = lab_config(
            lab, restartToken="2026-11-25", imRelease="22.1", publicIp=moved
        )
        deployed.run("whitelist", "update")
        assert ours(lab) == sorted([f"{lab.im}/32", f"{moved}/32"])
        deployed.config = lab_config(lab, restartToken="2026-11-25", imRelease="22.1")
        deployed.run("whitelist", "update")
        assert ours(lab) == sorted([f"{lab.im}/32", f"{lab.im_public}/32"])

    def test_destroy_removes_im_whitelist_and_trust_but_keeps_data(self, lab, deployed):
        # Someone else's whitelist entry, which destroy must leave alone.
        token = lab.api_login()
        status, _ = lab.api(
            "POST",
            "/ip_filters",
            token=token,
            json_body={
                "cidr": f"{lab.im}/32",
                "target": "ACCEPT",
                "expire_at": "2036-01-01T00:00:00Z",
                "description": "added by hand",
            },
        )
        assert status in (200, 201)
        lab.ssh("im", "echo chat-history > /data/im/keep.txt", check=True)
        before = counters(lab)
        deployed.destroy()
        assert counters(lab)["rm"] == before["rm"] + 1
        assert not lab.standin_state()["installed"]
        assert ours(lab) == []
        assert [e["description"] for e in lab.api_state()["ip_filters"]] == ["added by hand"]
        known = lab.ssh("pbx01", "cat ~/.ssh/known_hosts 2>/dev/null || true", user="pbx").stdout
        assert lab.im not in known
        pub = lab.ssh("pbx01", "cat ~/.ssh/id_rsa.pub", user="pbx", check=True).stdout.strip()
        keys = lab.ssh("im", "cat ~pbx/.ssh/authorized_keys 2>/dev/null || true").stdout
        assert pub not in keys
        assert lab.ssh("im", "cat /data/im/keep.txt", check=True).stdout.strip() == "chat-history"


class TestOwnership:
    def test_trust_set_up_by_hand_survives_destroy(self, lab):
        fresh(lab)
        lab.trust_by_hand()  # the guide's step 4 done by an operator before this program
        guide = Guide(lab, lab_config(lab))
        guide.up()
        said = guide.transcript()
        assert "already pinned" in said and "already authorized" in said
        guide.destroy()
        lab.ssh(
            "pbx01",
            f"ssh -o BatchMode=yes -o StrictHostKeyChecking=yes pbx@{lab.im} true",
            user="pbx",
            check=True,
        )


class TestManualMode:
    def test_manual_whitelist_and_token_then_upgrade(self, lab):
        fresh(lab)
        token = lab.api_login()
        status, body = lab.api("POST", "/im/token", token=token)
        assert status == 200
        config = dict(pbxApi="manual", imToken=body["token"], pbxAdminPassword=None)
        guide = Guide(lab, lab_config(lab, **config))
        guide.run("pbx01-check")
        guide.run("prepare")
        done = guide.run("whitelist", check=False)
        assert done.returncode != 0
        assert "open IP Blacklist, click Add, enter" in done.stderr
        assert "whitelistConfirmed=true" in done.stderr
        guide.config = lab_config(lab, whitelistConfirmed="true", **config)
        guide.up()
        assert lab.tcp_open("im", 8887) and counters(lab)["run"] == 1
        assert ours(lab) == []  # the operator whitelists by hand in manual mode
        # An upgrade: the operator generates a new token in the portal and bumps the release.
        status, body = lab.api("POST", "/im/token", token=token)
        config["imToken"] = body["token"]
        guide.config = lab_config(lab, whitelistConfirmed="true", imRelease="22.1", **config)
        guide.run("token", "update")
        guide.run("upgrade", "update")
        assert counters(lab)["upgrade"] == 1
        assert lab.tcp_open("im", 8887)


class TestFaults:
    """Each fault: a clear error, nothing lost, and a re-run converges once it is removed."""

    def test_wrong_os_is_refused_and_nothing_changes(self, lab):
        fresh(lab)
        lab.plant("os")
        guide = Guide(lab, lab_config(lab))
        guide.run("pbx01-check")
        done = guide.run("prepare", check=False)
        assert done.returncode != 0
        assert "the IM host runs debian 11; the guide requires debian 12" in done.stderr
        assert lab.ssh("im", "id pbx").returncode != 0  # refused before changing anything
        lab.clear_faults()
        guide.run("prepare")

    @pytest.mark.parametrize(
        "fault, message",
        [
            ("postgresql", "PostgreSQL is installed"),
            ("dns", "a DNS server is installed (bind9"),
            ("dhcp", "a DHCP server is installed (isc-dhcp-server"),
            ("vpn", "remote-access/VPN software is installed (openvpn"),
            ("teamviewer", "remote-access/VPN software is installed (teamviewer"),
        ],
    )
    def test_forbidden_software_is_refused(self, lab, fault, message):
        fresh(lab)
        lab.plant(fault)
        guide = Guide(lab, lab_config(lab))
        done = guide.run("prepare", check=False)
        assert done.returncode != 0 and message in done.stderr
        assert lab.ssh("im", "id pbx").returncode != 0

    def test_non_blank_data_disk_is_kept_not_formatted(self, lab):
        fresh(lab)
        lab.plant("disk")
        guide = Guide(lab, lab_config(lab))
        done = guide.run("prepare")
        assert "already holds ext4; kept as it is (not formatted)" in done.stdout
        assert lab.ssh("im", "cat /var/lib/portsip/LAB-FAULT-NOT-BLANK").returncode == 0

    def test_failing_im_sh_shows_its_tail_and_a_rerun_converges(self, lab):
        fresh(lab)
        guide = Guide(lab, lab_config(lab))
        guide.up(only=["pbx01-check", "prepare", "whitelist", "token", "trust-key", "trust"])
        lab.fail_next_imsh()
        done = guide.run("deploy", check=False)
        assert done.returncode != 0
        assert "im.sh run failed (exit 255)" in done.stderr
        assert "[error]: im.sh run failed (simulated" in done.stderr
        assert not lab.tcp_open("im", 8887)
        guide.run("deploy")
        assert lab.tcp_open("im", 8887)

    def test_vendor_error_with_exit_0_fails_the_step_and_a_rerun_converges(self, lab):
        fresh(lab)
        guide = Guide(lab, lab_config(lab))
        guide.up(only=["pbx01-check", "prepare", "whitelist", "token", "trust-key", "trust"])
        lab.plant("imsh-error-exit0")  # the next im.sh verb prints [error] and exits 0
        done = guide.run("deploy", check=False)
        assert done.returncode != 0
        assert (
            "[deploy] ERROR: im.sh run failed (exit 0, but it printed an error): [error]: "
            "im.sh run failed (simulated by the lab switch" in done.stderr
        )
        assert "full log on pbx01 in" in done.stderr
        assert lab.im_token() not in done.stdout + done.stderr
        assert not lab.tcp_open("im", 8887) and counters(lab)["run"] == 0
        # The switch is consumed: the fault is gone, and the same step now converges.
        assert not lab.path("pbx01", "/opt/portsip-pbx-ha-guide/.error-exit0-next").exists()
        guide.run("deploy")
        assert lab.tcp_open("im", 8887) and counters(lab)["run"] == 1
        # A day-2 verb is judged the same way, and its change is not recorded until it worked.
        guide.run("restart")  # the first restartToken is only recorded
        guide.config["restartToken"] = "r1"
        lab.plant("imsh-error-exit0")
        done = guide.run("restart", check=False)
        assert done.returncode != 0 and "im.sh restart failed (exit 0, but" in done.stderr
        assert counters(lab)["restart"] == 0
        lab.clear_faults()
        assert "restarted" in guide.run("restart").stdout
        assert counters(lab)["restart"] == 1
        assert "restart token unchanged; nothing to do" in guide.run("restart").stdout

    def test_missing_token_is_a_clear_error(self, lab):
        fresh(lab)
        guide = Guide(lab, lab_config(lab))
        guide.up(only=["pbx01-check", "prepare", "whitelist", "token", "trust-key", "trust"])
        lab.ssh("pbx01", "rm -f ~/.portsip-im/im-token", user="pbx", check=True)
        done = guide.run("deploy", check=False)
        assert done.returncode != 0 and "no IM token on pbx01" in done.stderr
        guide.run("token")
        guide.run("deploy")

    def test_wrong_pbx_admin_password_is_named(self, lab):
        fresh(lab)
        guide = Guide(lab, lab_config(lab, pbxAdminPassword="not-the-password"))
        done = guide.run("whitelist", check=False)
        assert done.returncode != 0
        assert "PBX API: bad credentials: the json login (POST " in done.stderr
        assert "refused admin (HTTP 401" in done.stderr
        assert "check pbxAdminUser/pbxAdminPassword" in done.stderr
        assert "not-the-password" not in done.stderr + done.stdout

    def test_tls_verification_failure_is_named(self, lab):
        guide = Guide(lab, lab_config(lab, pbxApiTlsVerify="true"))  # the lab CA is not trusted
        done = guide.run("whitelist", check=False)
        assert done.returncode != 0 and "TLS verification failed" in done.stderr
        assert "bad credentials" not in done.stderr

    @pytest.mark.parametrize("fault, step", [("pbx01-down", "pbx01-check"), ("im-down", "prepare")])
    def test_unreachable_host_fails_then_converges(self, lab, fault, step):
        fresh(lab)
        guide = Guide(lab, lab_config(lab))
        lab.plant(fault)
        started = time.monotonic()
        done = guide.run(step, check=False)
        assert done.returncode == 255  # ssh: could not connect
        assert time.monotonic() - started < 120
        lab.clear_faults()
        guide.run(step)


class TestPbxApi:
    def test_recreated_stack_keeps_the_pbx_token(self, lab):
        """A new stack (fresh pbx01 state) against a PBX that has a token reads it, and does not
        regenerate it: an IM server already running with it keeps working."""
        fresh(lab)
        token = lab.im_token()
        assert token
        guide = Guide(lab, lab_config(lab))
        done = guide.run("token")
        assert "read the PBX's current IM token" in done.stderr
        assert lab.im_token() == token
        lab.ssh("pbx01", "rm -rf ~/.portsip-im", user="pbx", check=True)  # pbx01's state, gone
        again = Guide(lab, lab_config(lab))
        done = again.run("token")
        assert lab.im_token() == token and "generated" not in done.stdout + done.stderr
        copy = lab.ssh("pbx01", "cat ~/.portsip-im/im-token", user="pbx", check=True).stdout
        assert copy == token
        assert token not in guide.transcript() + again.transcript()

    def test_auto_login_falls_back_to_oauth_on_a_pbx_without_login(self, lab):
        fresh(lab)
        lab.api_login_styles("oauth")
        try:
            guide = Guide(lab, lab_config(lab))
            done = guide.run("whitelist")
            assert "(oauth login, POST /login/oauth/token, pbxApiLogin=auto)" in done.stderr
            done = Guide(lab, lab_config(lab, pbxApiLogin="json")).run("whitelist", check=False)
            assert done.returncode != 0
            assert f"no such login path: the json login (POST {lab.pbx_api}/login)" in done.stderr
        finally:
            lab.api_login_styles("json", "oauth")
        done = Guide(lab, lab_config(lab, pbxApiLogin="json")).run("whitelist")
        assert "(json login, POST /login, pbxApiLogin=json)" in done.stderr


class TestSecrets:
    def test_no_secret_in_argv_logs_or_output(self, lab):
        fresh(lab)
        guide = Guide(lab, lab_config(lab))
        secrets = {lab.pbx_password, lab.pbx_admin.password}
        seen: list[str] = []
        stop = threading.Event()

        def sample(host):
            while not stop.is_set():
                seen.append(lab.ssh(host, "ps -eo args", timeout=30).stdout)
                time.sleep(0.2)

        samplers = [threading.Thread(target=sample, args=(h,)) for h in ("pbx01", "im")]
        for t in samplers:
            t.start()
        try:
            guide.up()
        finally:
            stop.set()
            for t in samplers:
                t.join()
        token = lab.im_token()
        assert token
        secrets.add(token)
        assert len(seen) > 4
        haystacks = {
            "argv (ps on the hosts during the run)": "\n".join(seen),
            "pbx01's command log": "\n".join(lab.commands("pbx01")),
            "the IM host's command log": "\n".join(lab.commands("im")),
            "what the steps printed": guide.transcript(),
        }
        for where, text in haystacks.items():
            for s in secrets:
                assert s not in text, f"a secret appears in {where}"
