# shellcheck shell=bash
# needs: lib.sh pbx-api.sh
# status: what is true right now, as pbx01 sees it (scripts/status sends this after lib.sh and
# pbx-api.sh, as the program's steps are sent). It only reads: a TCP probe of 8887, the IM host
# over pbx01's pinned SSH (as the guide's im.sh does), and two GETs on the PBX API. It prints one
# JSON document on stdout and judges nothing: scripts/status does. The admin password comes on
# stdin; nothing it prints carries a secret (no token, no bearer, no password is ever read back).
: "${IM_IP:?}" "${PBX_USER:=pbx}" "${MODE:=rest}" "${DATA_PATH:=/var/lib/portsip}"
: "${STORAGE_PATH:=}" "${BACKUP_STATUS:=/var/lib/portsip-im-backup/last.json}"
read_secrets
set +e  # every probe below may fail; each failure is a finding, not the end of the report

port=closed
tcp_probe "$IM_IP" 8887 && port=open

# On the IM host, as root through the pbx user's sudo (prepare grants it): the vendor container
# (docker, when the host has it), the process listening on 8887 and since when, the vendor's own
# health URL, the data disk's use, the backup status file and the backup timer's state.
# shellcheck disable=SC2016  # expanded on the IM host
im_probe='
set -u
data="$1" storage="$2" backup="$3"
c_state="" c_started="" c_health=""
if command -v docker >/dev/null 2>&1; then
  c_state="$(docker inspect -f "{{.State.Status}}" portsip.instantmessage 2>/dev/null || echo absent)"
  c_started="$(docker inspect -f "{{.State.StartedAt}}" portsip.instantmessage 2>/dev/null || true)"
  c_health="$(docker inspect -f "{{if .State.Health}}{{.State.Health.Status}}{{end}}" portsip.instantmessage 2>/dev/null || true)"
fi
pid="$(ss -Hltnp "sport = :8887" 2>/dev/null | grep -o "pid=[0-9]*" | head -1 | cut -d= -f2)"
l_name="" l_since=""
if [ -n "$pid" ]; then
  l_name="$(ps -o comm= -p "$pid" 2>/dev/null)"
  l_since="$(date -u -d "$(ps -o lstart= -p "$pid" 2>/dev/null)" +%Y-%m-%dT%H:%M:%SZ 2>/dev/null)"
fi
stats="$(curl -fsS --max-time 5 http://127.0.0.1:8902/svr_stats 2>/dev/null | head -c 300)"
disk="$(df -P -B1 "$data" 2>/dev/null | tail -n 1)"
sdisk=""
[ -z "$storage" ] || sdisk="$(df -P -B1 "$storage" 2>/dev/null | tail -n 1)"
bk=""
[ ! -f "$backup" ] || bk="$(head -c 4000 "$backup")"
timer="$(systemctl is-active portsip-im-backup.timer 2>/dev/null || true)"
python3 - "$c_state" "$c_started" "$c_health" "$l_name" "$l_since" "$stats" "$disk" "$sdisk" "$bk" "$data" "$storage" "$timer" <<"PY"
import json, sys
(c_state, c_started, c_health, l_name, l_since, stats, disk, sdisk, bk, data, storage, timer) = sys.argv[1:]
def df(line, path):
    f = line.split()
    if len(f) < 6:
        return None
    return {"path": path, "mount": f[5], "sizeBytes": int(f[1]), "usedBytes": int(f[2]),
            "availBytes": int(f[3]), "usePercent": int(f[4].rstrip("%"))}
try:
    backup = json.loads(bk) if bk else None
except ValueError:
    backup = {"unreadable": bk[:200]}
print(json.dumps({
    "container": {"state": c_state, "startedAt": c_started, "health": c_health} if c_state else None,
    "listener": {"process": l_name, "since": l_since} if l_name else None,
    "vendorStats": stats or None,
    "dataDisk": df(disk, data),
    "storage": df(sdisk, storage) if storage else None,
    "backup": backup,
    "backupTimer": timer or None,
}))
PY
'
im_json="$(printf '%s' "$im_probe" | ssh_im "$PBX_USER" "$IM_IP" \
  "sudo -n bash -s -- $(printf '%q ' "$DATA_PATH" "$STORAGE_PATH" "$BACKUP_STATUS")" \
  2>"$PBX_TMP/im.err")"
im_error=""
[ -n "$im_json" ] || im_error="$(head -c 300 "$PBX_TMP/im.err" | tr '\n' ' ')"

# The PBX's view, in a subshell: pbx_login and pbx_request stop their shell on an error, whose
# last line in pbx.err (a failed login names the config keys to check) becomes pbxError.
pbx_json="" pbx_error=""
if [ "$MODE" = rest ]; then
  pbx_json="$(
    set -e
    # Inside the substitution: a redirection on the assignment itself would not reach it.
    exec 2>"$PBX_TMP/pbx.err"
    pbx_login
    pbx_request GET /im
    pbx_expect 200 "reading the IM server record"
    im="$PBX_BODY"
    filters="$(pbx_ip_filters)"
    printf '%s\n%s' "$im" "$filters" | python3 -c '
import json, sys
im, filters = (json.loads(part) for part in sys.stdin.read().split("\n", 1))
keep = ("private_ipv4", "public_ipv4", "private_ipv6", "public_ipv6")
print(json.dumps({"im": {k: im.get(k) for k in keep},
                  "ipFilters": [{k: e.get(k) for k in ("cidr", "target", "expire_at", "description")}
                                for e in filters["items"]]}))'
  )" || pbx_error="$(grep -v '^\s*$' "$PBX_TMP/pbx.err" | tail -n 1 | head -c 400)"
fi

python3 -c '
import json, sys
port, im_json, im_error, mode, pbx_json, pbx_error = sys.argv[1:]
print(json.dumps({
    "imPort8887": port,
    "imHost": json.loads(im_json) if im_json else None,
    "imHostError": im_error or None,
    "pbxApi": mode,
    "pbx": json.loads(pbx_json) if pbx_json else None,
    "pbxError": pbx_error or None,
    "checkedFrom": "pbx01",
}))' "$port" "$im_json" "$im_error" "$MODE" "$pbx_json" "$pbx_error"
