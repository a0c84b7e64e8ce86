"""pytest plugin: the local lab (scripts/lab) as a session fixture `lab`.

Registered from tests/conftest.py. The fixture runs `scripts/lab up` once per session (a cold `up`
builds the cached root image first), fails loudly if the lab cannot start, and ALWAYS runs
`scripts/lab down` at the end of the session -- also when tests fail or `up` itself crashed.

Tests marked `lab_cycle` (they run `scripts/lab up`/`down` themselves) are moved to the front of
the session so they finish before the session lab starts. See docs/lab.md.
"""

from __future__ import annotations

import json
import os
import shlex
import socket
import ssl
import subprocess
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import pytest

from portsip_im.remote import pinned_ssh_options

REPO = Path(__file__).resolve().parents[2]
LAB = REPO / "scripts" / "lab"
GUIDE_DIR = "/opt/portsip-pbx-ha-guide"
OAUTH_CLIENT_ID = "9d806019-75b2-4b3d-bb8b-f5a3a412cc0a"
API_STATE = "/var/lib/portsip-pbx-api/state.json"
API_TRAFFIC = "/var/lib/portsip-pbx-api/traffic.jsonl"
UP_TIMEOUT = 900  # a cold `up` runs debootstrap
# Under pytest-xdist each worker's session lab is a cluster of its own: gw0 on 3, gw1 on 4, ...
# (1 is the lab_cycle tests', 2 the fleet's second cluster, 9 the late-traffic probe's: skipped).
WORKER_CLUSTER_BASE = 3
_session_lab_active = False


class PbxAdmin(NamedTuple):
    user: str
    password: str


def run_lab(
    *args: str, timeout: float = 300, env: dict | None = None
) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(LAB), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )


def parse_up(stdout: str) -> dict[str, str]:
    facts = {}
    for line in stdout.splitlines():
        if ": " in line:
            k, v = line.split(": ", 1)
            facts[k.strip()] = v.strip()
    return facts


@dataclass
class Lab:
    """What `scripts/lab up` printed, plus helpers. Host names: "pbx01", "im", "vault" (or an
    address)."""

    pbx01: str
    im: str
    im_public: str
    key: str
    pbx_api: str
    pbx_admin: PbxAdmin
    pbx_password: str
    known_hosts: str
    pbx01_host_key: str
    im_host_key: str
    im_data_disk: str
    pbx_api_ca: str
    pbx_admin_file: str
    pbx_password_file: str
    run_dir: str
    vault: str
    vault_host_key: str
    backup_ssh_key: str  # restic@vault's key, on the machine: a test copies it to the IM host
    vault_rest: str  # the vault's append-only rest-server: `rest:http://VAULT:8000/` + a name
    roots: dict[str, Path] = field(default_factory=dict)
    traffic_problems: list[str] = field(default_factory=list)
    _traffic_seen: int = 0

    @classmethod
    def from_up(cls, stdout: str) -> Lab:
        f = parse_up(stdout)
        admin = Path(f["pbx_admin"]).read_text().splitlines()
        return cls(
            pbx01=f["pbx01"],
            im=f["im"],
            im_public=f["im_public"],
            key=f["key"],
            pbx_api=f["pbx_api"],
            pbx_admin=PbxAdmin(admin[0], admin[1]),
            pbx_password=Path(f["pbx_password"]).read_text().strip(),
            known_hosts=f["known_hosts"],
            pbx01_host_key=f["pbx01_host_key"],
            im_host_key=f["im_host_key"],
            im_data_disk=f["im_data_disk"],
            pbx_api_ca=f["pbx_api_ca"],
            pbx_admin_file=f["pbx_admin"],
            pbx_password_file=f["pbx_password"],
            run_dir=f["run_dir"],
            vault=f["vault"],
            vault_host_key=f["vault_host_key"],
            backup_ssh_key=f["backup_ssh_key"],
            vault_rest=f["vault_rest"],
            roots={
                "pbx01": Path(f["pbx01_root"]),
                "im": Path(f["im_root"]),
                "vault": Path(f["vault_root"]),
            },
        )

    # ---- addressing and SSH
    @property
    def net(self) -> str:
        """The first three octets of this lab cluster's /24 ("10.213.7" for cluster 1)."""
        return self.pbx01.rsplit(".", 1)[0]

    def addr(self, host: str) -> str:
        return {
            "pbx01": self.pbx01,
            "im": self.im,
            "im_public": self.im_public,
            "vault": self.vault,
        }.get(host, host)

    def name(self, host: str) -> str:
        names = {self.pbx01: "pbx01", self.im: "im", self.im_public: "im", self.vault: "vault"}
        return names.get(host, host)

    def ssh_args(self, host: str, user: str = "root") -> list[str]:
        """ssh command line (without the remote command) pinned to the lab's known_hosts."""
        return ["ssh", *pinned_ssh_options(self.key, self.known_hosts), f"{user}@{self.addr(host)}"]

    def ssh(
        self,
        host: str,
        cmd: str,
        user: str = "root",
        input: str | None = None,
        check: bool = False,
        timeout: float = 120,
    ) -> subprocess.CompletedProcess:
        """Run `cmd` on a lab host over SSH (logged in its command log). Text mode."""
        p = subprocess.run(
            [*self.ssh_args(host, user), cmd],
            input=input if input is not None else "",
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if check and p.returncode != 0:
            raise AssertionError(
                f"ssh {user}@{host} {cmd!r} -> {p.returncode}\n{p.stdout}\n{p.stderr}"
            )
        return p

    def imsh(
        self,
        verb: str,
        *args: str,
        token: str | None = None,
        env: dict | None = None,
        input: str | None = None,
        timeout: float = 120,
    ) -> subprocess.CompletedProcess:
        """`cd /opt/portsip-pbx-ha-guide/ && /bin/bash im.sh VERB ARGS` as pbx on pbx01.
        `token` goes on stdin (never argv); `env` entries are exported inside the remote shell."""
        exports = "".join(f"export {k}={shlex.quote(v)}; " for k, v in (env or {}).items())
        cmd = f"{exports}cd {GUIDE_DIR}/ && /bin/bash im.sh {shlex.join([verb, *args])}"
        stdin = input if input is not None else (token + "\n" if token is not None else "")
        return self.ssh("pbx01", cmd, user="pbx", input=stdin, timeout=timeout)

    def host_key_now(self, host: str) -> str:
        """The ed25519 host key `host` has now (`ssh-ed25519 AAAA...`), read from its file system:
        the lab's (`im_host_key`, `pbx01_host_key`) unless the fault im-new-host-key replaced it."""
        pub = self.path(host, "/etc/ssh/ssh_host_ed25519_key.pub").read_text().split()
        return f"{pub[0]} {pub[1]}"

    def tcp_open(self, host: str, port: int, timeout: float = 3) -> bool:
        try:
            with socket.create_connection((self.addr(host), port), timeout=timeout):
                return True
        except OSError:
            return False

    def inside(self, host: str, script: str) -> subprocess.CompletedProcess:
        """Run a shell script inside a lab host through nsenter: works while its sshd is down,
        and stays out of its command log."""
        state = json.loads((Path(self.run_dir) / "state.json").read_text())
        init = str(state["hosts"][self.name(host)]["init_pid"])
        return subprocess.run(
            ["nsenter", "-t", init, "-m", "-u", "-i", "-n", "-p", "--", "/bin/sh", "-c", script],
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        )

    # ---- files on the hosts, read from the machine (no SSH, so not in the command log)
    def root(self, host: str) -> Path:
        return self.roots[self.name(host)]

    def path(self, host: str, p: str) -> Path:
        return self.root(host) / p.lstrip("/")

    def command_log(self, host: str) -> list[dict[str, Any]]:
        """Entries of /var/log/lab-commands.log: {"ts", "user", "client", "cmd"}; cmd None:
        an interactive login."""
        f = self.path(host, "/var/log/lab-commands.log")
        if not f.exists():
            return []
        return [json.loads(line) for line in f.read_text().splitlines() if line.strip()]

    def argv_log(self, host: str) -> list[str]:
        """Calls of curl, ssh, python3, chpasswd... on `host` with their arguments, one a line
        (/var/log/lab-argv.log, written by the lab's PATH shims: what `ps` could have shown)."""
        f = self.path(host, "/var/log/lab-argv.log")
        return f.read_text().splitlines() if f.exists() else []

    def commands(self, host: str, user: str | None = None) -> list[str]:
        """Commands run over SSH on `host` (only `user`'s if given); "" = interactive login."""
        return [e["cmd"] or "" for e in self.command_log(host) if user is None or e["user"] == user]

    def api_state(self) -> dict:
        """The PBX API state file on pbx01: ip_filters, im_token, im, sessions, requests."""
        return json.loads(self.path("pbx01", API_STATE).read_text())

    def standin_state(self) -> dict:
        """The stand-in IM installation on the IM host: state.json fields (state, release,
        token_sha256, storage_path, private_ip, public_ip ...) plus "installed" and "counters"."""
        d = self.path("im", "/var/lib/portsip-im-standin")
        st = json.loads((d / "state.json").read_text()) if (d / "state.json").exists() else {}
        st["installed"] = (d / "state.json").exists()
        st["counters"] = (
            json.loads((d / "counters.json").read_text()) if (d / "counters.json").exists() else {}
        )
        return st

    # ---- the stand-in PBX API over HTTPS
    def api(
        self,
        method: str,
        path: str,
        token: str | None = None,
        json_body: Any = None,
        form: dict | None = None,
        headers: dict | None = None,
    ) -> tuple[int, Any]:
        """Call the PBX API (path relative to .../api). Returns (status, parsed JSON or None)."""
        data, hdrs = None, dict(headers or {})
        if json_body is not None:
            data, hdrs["Content-Type"] = json.dumps(json_body).encode(), "application/json"
        if form is not None:
            data = urllib.parse.urlencode(form).encode()
            hdrs["Content-Type"] = "application/x-www-form-urlencoded"
        if token:
            hdrs["Authorization"] = f"Bearer {token}"
        req = urllib.request.Request(self.pbx_api + path, data=data, method=method, headers=hdrs)
        ctx = ssl.create_default_context(cafile=self.pbx_api_ca)
        try:
            with urllib.request.urlopen(req, context=ctx, timeout=15) as r:
                status, raw = r.status, r.read()
        except urllib.error.HTTPError as e:
            status, raw = e.code, e.read()
        return status, (json.loads(raw) if raw else None)

    def api_login(self) -> str:
        """A bearer token from the document's login, `POST /login` with a JSON body."""
        status, body = self.api(
            "POST",
            "/login",
            json_body={"username": self.pbx_admin.user, "password": self.pbx_admin.password},
        )
        assert status == 200, body
        return body["access_token"]

    def api_login_styles(self, *styles: str) -> None:
        """Which logins the stand-in serves: "json" (`POST /login`), "oauth" (the REST guide's)."""
        self._api_state_set(login_styles=list(styles))

    def api_json_login(self, answer: str) -> None:
        """How the stand-in answers `POST /login`: "body" (200 with the access_token) or "cookie"
        (exactly the document: an empty 200 and a session cookie; `GET /login` gives the token)."""
        assert answer in ("body", "cookie"), answer
        self._api_state_set(json_login=answer)

    def _api_state_set(self, **changes: Any) -> None:
        f = self.path("pbx01", API_STATE)
        st = json.loads(f.read_text())
        st.update(changes)
        tmp = f.with_name(f.name + ".test-tmp")
        tmp.write_text(json.dumps(st))
        os.chmod(tmp, f.stat().st_mode)
        tmp.replace(f)

    def api_traffic(self) -> list[dict[str, Any]]:
        """The PBX API requests and answers recorded since the last call (tests/spec_judge.py)."""
        f = self.path("pbx01", API_TRAFFIC)
        size = f.stat().st_size if f.exists() else 0
        if size < self._traffic_seen:  # a new pbx01 (reset): a new file
            self._traffic_seen = 0
        if size == self._traffic_seen:
            return []
        with open(f, "rb") as fh:
            fh.seek(self._traffic_seen)
            data = fh.read()
        data = data[: data.rfind(b"\n") + 1]  # whole lines only
        self._traffic_seen += len(data)
        return [json.loads(line) for line in data.decode().splitlines() if line.strip()]

    def judge_traffic(self) -> None:
        """Validate the traffic since the last check against the OpenAPI document; findings are
        kept for the test's teardown (see `api_traffic_conforms`)."""
        from tests import spec_judge

        self.traffic_problems += spec_judge.problems(self.api_traffic())

    def im_token(self) -> str | None:
        return self.api_state()["im_token"]

    # ---- faults and resets (scripts/lab)
    def _lab(self, *args: str) -> str:
        p = run_lab(*args)
        if p.returncode != 0:
            raise AssertionError(f"scripts/lab {' '.join(args)} failed:\n{p.stdout}{p.stderr}")
        return p.stdout

    def plant(self, *faults: str) -> None:
        """Plant faults (see `scripts/lab fault list` / docs/lab.md), e.g. plant("postgresql")."""
        self._lab("fault", *faults)

    def clear_faults(self) -> None:
        self._lab("fault", "clear")

    def fail_next_imsh(self) -> None:
        self.plant("imsh-fail")

    def reset_im(self) -> None:
        """Return the IM host to blank (fresh root copy, same host key, blank data disk)."""
        self._lab("reset", "im")

    def reset_pbx01(self) -> None:
        """Return pbx01 to fresh (new root copy and API state; same keys and credentials)."""
        self.judge_traffic()  # what the old pbx01 recorded is judged before it goes
        self._lab("reset", "pbx01")
        self._traffic_seen = 0

    def reset_vault(self) -> None:
        """Return the vault to fresh (an empty /srv/restic; same keys)."""
        self._lab("reset", "vault")

    def status(self) -> str:
        return run_lab("status").stdout

    # ---- test convenience, NOT the project's implementation of the guide's steps
    def trust_by_hand(self) -> None:
        """Crude guide step 1 (user pbx with NOPASSWD sudo on the IM host) and step 4 (pbx01's
        id_rsa authorized for pbx@IM, IM host key pinned in pbx01's known_hosts), so the stand-in
        im.sh can be exercised on its own."""
        self.ssh(
            "im",
            "id pbx >/dev/null 2>&1 || useradd -m -s /bin/bash -G sudo pbx; chpasswd; "
            "echo 'pbx ALL=(ALL:ALL) NOPASSWD: ALL' >/etc/sudoers.d/pbx; "
            "chmod 440 /etc/sudoers.d/pbx",
            input=f"pbx:{self.pbx_password}\n",
            check=True,
        )
        pub = self.ssh(
            "pbx01",
            "test -f ~/.ssh/id_rsa || ssh-keygen -q -t rsa -N '' -f ~/.ssh/id_rsa; "
            "cat ~/.ssh/id_rsa.pub",
            user="pbx",
            check=True,
        ).stdout
        self.ssh(
            "im",
            "install -d -m 700 -o pbx -g pbx ~pbx/.ssh && cat >~pbx/.ssh/authorized_keys && "
            "chown pbx:pbx ~pbx/.ssh/authorized_keys && chmod 600 ~pbx/.ssh/authorized_keys",
            input=pub,
            check=True,
        )
        self.ssh(
            "pbx01",
            f"grep -qs '^{self.im} ' ~/.ssh/known_hosts || "
            f"echo '{self.im} {self.im_host_key}' >>~/.ssh/known_hosts",
            user="pbx",
            check=True,
        )


def pytest_configure(config):
    config.addinivalue_line(
        "markers",
        "lab_cycle: runs scripts/lab up/down itself; ordered before the session lab starts",
    )
    worker = getattr(config, "workerinput", None)
    if worker is not None:  # an xdist worker: its lab, and every scripts/lab* it runs, its own
        n = WORKER_CLUSTER_BASE + int(worker["workerid"].removeprefix("gw"))
        os.environ["PORTSIP_LAB_CLUSTER"] = str(n if n < 9 else n + 1)  # 9 is the probe's
        # ...and its lab stack keeps cluster 1's name, `lab`, which the tests read back.
        os.environ.setdefault("PORTSIP_LAB_STACK", "lab")


def pytest_collection_modifyitems(session, config, items):
    """lab_cycle tests first; then whole modules, the slow kinds first (end-to-end, lab, the
    rest), so that pytest-xdist's workers (`--dist loadfile`, in this order) start the long
    modules early and finish together."""
    first: dict[str, int] = {}
    kind: dict[str, int] = {}
    for i, item in enumerate(items):
        module = item.nodeid.split("::", 1)[0]
        first.setdefault(module, i)
        rank = 0 if item.get_closest_marker("e2e") else 1 if item.get_closest_marker("lab") else 2
        kind[module] = min(kind.get(module, 2), rank)

    def order(item) -> tuple[int, int, int]:
        module = item.nodeid.split("::", 1)[0]
        cycle = 0 if item.get_closest_marker("lab_cycle") else 1
        return (cycle, kind[module], first[module])

    items.sort(key=order)


def session_lab_active() -> bool:
    return _session_lab_active


def session_lab_on(cluster: int) -> bool:
    """The session lab runs (or is starting) on lab cluster `cluster`."""
    return _session_lab_active and (os.environ.get("PORTSIP_LAB_CLUSTER") or "1") == str(cluster)


@pytest.fixture(scope="session")
def lab(request) -> Lab:
    """The running lab. Started once per session; always stopped at its end."""
    global _session_lab_active
    started: list[Lab] = []

    def stop():
        global _session_lab_active
        # Traffic after the last test's check (module-scoped teardowns run after it) is judged
        # here, before `down` takes pbx01's traffic file away; findings fail the session.
        found: list[str] = []
        if started:
            try:
                started[0].judge_traffic()
                found = started[0].traffic_problems
            except Exception as e:  # noqa: BLE001 -- the lab must still come down
                found = [f"the final PBX API traffic could not be judged: {e!r}"]
        p = run_lab("down", timeout=300)
        _session_lab_active = False
        if p.returncode != 0:
            raise RuntimeError(f"scripts/lab down failed (the lab may still run):\n{p.stderr}")
        if found:
            raise AssertionError(
                "PBX API traffic (after the last test) that disagrees with the OpenAPI "
                "document:\n  " + "\n  ".join(found)
            )

    request.addfinalizer(stop)  # registered first: a crashed `up` is cleaned up too
    _session_lab_active = True
    try:
        p = run_lab("up", timeout=UP_TIMEOUT)
    except subprocess.TimeoutExpired as e:
        pytest.fail(
            f"scripts/lab up did not finish within {UP_TIMEOUT}s: {e.stderr}", pytrace=False
        )
    if p.returncode != 0:
        pytest.fail(
            f"the lab could not start (scripts/lab up -> {p.returncode}):\n{p.stderr}{p.stdout}",
            pytrace=False,
        )
    started.append(Lab.from_up(p.stdout))
    return started[0]


@pytest.fixture(autouse=True)
def api_traffic_conforms(request):
    """Every test that uses the lab: each PBX API request the test caused, and each answer the
    stand-in gave, must validate against PortSIP's OpenAPI document (openapi-core). Module-scoped
    set-up and teardown traffic is judged with the first test after it, the last teardown's when
    the session's lab stops."""
    yield
    if "lab" not in request.fixturenames or not _session_lab_active:
        return
    lab = request.getfixturevalue("lab")
    lab.judge_traffic()
    found, lab.traffic_problems = lab.traffic_problems, []
    if found:
        pytest.fail(
            "PBX API traffic that disagrees with the OpenAPI document:\n  " + "\n  ".join(found),
            pytrace=False,
        )
