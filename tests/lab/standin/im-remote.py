# The IM-host half of the stand-in im.sh (portsip-im lab only). Not run from a file: im.sh sends it
# over SSH to pbx@IM and runs it there as
#   sudo -n /usr/bin/python3 - VERB [-a IP] [-A IP] [-f DIR]
# after a header that sets TOKEN_SHA256, RELEASE and SERVER_PY_B64 (never the token itself).
#
# State under /var/lib/portsip-im-standin/:
#   state.json     installation state: state (running|stopped), release, token_sha256, storage_path,
#                  data_path, private_ip, public_ip, installed_at, updated_at  (removed by `rm`)
#   counters.json  successful runs per verb {"run": n, "start": n, ...}     (kept by `rm`)
# Data: /var/lib/portsip/im-data/ and, with -f, DIR/.portsip-im-standin -- `rm` keeps both.
import base64
import json
import os
import socket
import subprocess
import sys
import time

TOKEN_SHA256 = globals().get("TOKEN_SHA256", "")
RELEASE = globals().get("RELEASE", "")
SERVER_PY_B64 = globals().get("SERVER_PY_B64", "")

STATE_DIR = "/var/lib/portsip-im-standin"
STATE = f"{STATE_DIR}/state.json"
COUNTERS = f"{STATE_DIR}/counters.json"
LIB = "/usr/local/lib/portsip-im-standin"
UNIT = "portsip-im-standin.service"
UNIT_FILE = f"/etc/systemd/system/{UNIT}"
DATA_PATH = "/var/lib/portsip"
VERBS = ("run", "start", "stop", "restart", "rm", "upgrade", "status")


def info(m):
    print(f"[info]: {m}", flush=True)


def warn(m):
    print(f"[warn]: {m}", flush=True)


def error(m):
    print(f"[error]: {m}", flush=True)
    sys.exit(1)


def now():
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def load(path, default):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return default


def save(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path + ".tmp", "w") as f:
        json.dump(data, f, indent=1)
    os.replace(path + ".tmp", path)


def systemctl(*args, check=True):
    p = subprocess.run(
        ["systemctl", *args], stdin=subprocess.DEVNULL, capture_output=True, text=True
    )
    if check and p.returncode != 0:
        error(f"systemctl {' '.join(args)} failed: {p.stderr.strip()}")
    return p


def wait_port(up=True, timeout=15):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", 8887), timeout=1).close()
            if up:
                return
        except OSError:
            if not up:
                return
        time.sleep(0.1)
    error(f"the IM service did not {'open' if up else 'close'} TCP 8887 within {timeout}s")


def bump(release):
    parts = str(release).split(".")
    if parts[-1].isdigit():
        parts[-1] = str(int(parts[-1]) + 1)
        return ".".join(parts)
    return f"{release}.1"


def install_service():
    if not SERVER_PY_B64:
        error("internal: no service code received from pbx01")
    os.makedirs(LIB, exist_ok=True)
    with open(f"{LIB}/server.py", "wb") as f:
        f.write(base64.b64decode(SERVER_PY_B64))
    with open(UNIT_FILE, "w") as f:
        f.write(
            "[Unit]\nDescription=PortSIP IM server (portsip-im lab stand-in)\n"
            "After=network.target\n\n"
            "[Service]\nExecStart=/usr/bin/python3 /usr/local/lib/portsip-im-standin/server.py\n"
            "Restart=on-failure\nRestartSec=1\n\n[Install]\nWantedBy=multi-user.target\n"
        )
    systemctl("daemon-reload")
    systemctl("enable", UNIT)


def main(argv):
    verb, opts = argv[0], {}
    rest = argv[1:]
    while rest:
        if rest[0] in ("-a", "-A", "-f") and len(rest) > 1:
            opts[rest[0]] = rest[1]
            rest = rest[2:]
        else:
            error(f"unexpected argument {rest[0]!r}")
    if verb not in VERBS:
        error(f"unknown command {verb}")
    st = load(STATE, None)
    counters = load(COUNTERS, {v: 0 for v in VERBS})
    if verb not in ("run", "rm", "status") and not st:
        error("the IM server is not installed on this host (im.sh run first)")

    if verb == "run":
        storage = opts.get("-f", "")
        if storage and not os.path.isdir(storage):
            error(f"the storage path {storage} does not exist on the IM server; create it first")
        if not TOKEN_SHA256:
            error("internal: no token received from pbx01")
        os.makedirs(f"{DATA_PATH}/im-data", exist_ok=True)
        marker = f"{DATA_PATH}/im-data/standin-data.txt"
        if not os.path.exists(marker):
            with open(marker, "w") as f:
                f.write(f"IM data created by the lab stand-in at {now()}\n")
        if storage:
            with open(f"{storage}/.portsip-im-standin", "w") as f:
                f.write(f"IM file storage in use since {now()}\n")
        info(
            f"private IP: {opts.get('-a', '')}  public IP: {opts.get('-A', '')}  "
            f"storage: {storage or '-'}"
        )
        install_service()
        release = RELEASE or (st or {}).get("release") or "1"
        st = {
            "installed": True,
            "state": "running",
            "release": release,
            "token_sha256": TOKEN_SHA256,
            "storage_path": storage,
            "data_path": DATA_PATH,
            "private_ip": opts.get("-a", ""),
            "public_ip": opts.get("-A", ""),
            "installed_at": now(),
            "updated_at": now(),
        }
        save(STATE, st)
        systemctl("restart", UNIT)
        wait_port(True)
        info(f"the IM server is running, release {release}, TCP 8887")
    elif verb == "start":
        systemctl("start", UNIT)
        wait_port(True)
        st.update(state="running", updated_at=now())
        save(STATE, st)
        info("the IM server is started")
    elif verb == "stop":
        systemctl("stop", UNIT)
        wait_port(False)
        st.update(state="stopped", updated_at=now())
        save(STATE, st)
        info("the IM server is stopped")
    elif verb == "restart":
        systemctl("restart", UNIT)
        wait_port(True)
        st.update(state="running", updated_at=now())
        save(STATE, st)
        info("the IM server is restarted")
    elif verb == "rm":
        if not st and not os.path.exists(UNIT_FILE):
            warn("the IM server is not installed; nothing to remove")
        systemctl("disable", "--now", UNIT, check=False)
        for f in (UNIT_FILE, STATE, f"{LIB}/server.py"):
            if os.path.exists(f):
                os.remove(f)
        if os.path.isdir(LIB):
            os.rmdir(LIB)
        systemctl("daemon-reload")
        info(f"the IM server is removed (data under {DATA_PATH}/im-data and the storage path kept)")
    elif verb == "upgrade":
        if not TOKEN_SHA256:
            error("internal: no token received from pbx01")
        if TOKEN_SHA256 == st.get("token_sha256"):
            error(
                "upgrade needs a freshly generated token: this is the token already in use "
                "(portal: Servers > IM Servers > Generate Token)"
            )
        old = st.get("release")
        release = RELEASE or bump(old or "1")
        install_service()
        st.update(
            release=release,
            token_sha256=TOKEN_SHA256,
            state="running",
            updated_at=now(),
            upgraded_at=now(),
        )
        save(STATE, st)
        systemctl("restart", UNIT)
        wait_port(True)
        info(f"the IM server is upgraded: release {old} -> {release}")
    elif verb == "status":
        if not st:
            warn("the IM server is not installed on this host")
        else:
            active = systemctl("is-active", UNIT, check=False).stdout.strip()
            info(
                f"IM server: {st['state']} (service {active}), release {st['release']}, "
                f"private {st['private_ip'] or '-'}, public {st['public_ip'] or '-'}"
            )
            print("NAME                      STATUS")
            print(f"portsip.instantmessage    {active}")
    counters[verb] = counters.get(verb, 0) + 1
    save(COUNTERS, counters)


main(sys.argv[1:])
