# shellcheck shell=bash
# needs: lib.sh
# health: what pbx01 sees of the IM server after a change, as one JSON line on stdout (the stack
# output imHealth): TCP 8887 reachable, and the IM container's own status where it can be read.
: "${IM_IP:?}" "${PBX_USER:=pbx}" "${EXPECT:=running}"
port=closed
if wait_tcp "$IM_IP" 8887 "$([ "$EXPECT" = running ] && echo 60 || echo 0)"; then port=open; fi
im_err="$(mktemp)"
vendor="$(ssh_im "$PBX_USER" "$IM_IP" 'curl -fsS --max-time 5 http://127.0.0.1:8902/svr_stats' \
  2>"$im_err" | head -c 500 || true)"
# A login refused (no pinned host key, no trust) is for the operator to fix: say so, rather than
# let it read as "unavailable". A stopped service's curl error is not worth a warning.
if grep -qi 'host key\|permission denied' "$im_err"; then
  warn "pbx01 cannot read the IM host's status: $(sed 's/^\[[^]]*\] //' "$im_err" | head -n 1)"
fi
rm -f "$im_err"
# The last backup's result, kept on the IM host by its backup runner (no secret in it).
backup="$(ssh_im "$PBX_USER" "$IM_IP" 'cat /var/lib/portsip-im-backup/last.json 2>/dev/null' \
  2>/dev/null | head -c 1000 || true)"
say "IM port 8887 on $IM_IP: $port; vendor status: ${vendor:-unavailable}; last backup: ${backup:-none}" >&2
python3 -c '
import json, sys
try:
    backup = json.loads(sys.argv[4])
except ValueError:
    backup = "none"
print(json.dumps({"imPort8887": sys.argv[1], "expected": sys.argv[2], "vendorStatus": sys.argv[3] or "unavailable", "lastBackup": backup, "checkedFrom": "pbx01"}))' "$port" "$EXPECT" "$vendor" "$backup"
if [ "$EXPECT" = running ] && [ "$port" != open ]; then
  die "the IM service should be running but $IM_IP:8887 refuses connections"
fi
