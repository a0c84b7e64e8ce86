# shellcheck shell=bash
# health: what pbx01 sees of the IM server after a change, as one JSON line on stdout (the stack
# output imHealth): TCP 8887 reachable, and the IM container's own status where it can be read.
: "${IM_IP:?}" "${PBX_USER:=pbx}" "${EXPECT:=running}"
port=closed
if wait_tcp "$IM_IP" 8887 "$([ "$EXPECT" = running ] && echo 60 || echo 0)"; then port=open; fi
vendor="$(ssh_im "$PBX_USER" "$IM_IP" 'curl -fsS --max-time 5 http://127.0.0.1:8902/svr_stats' \
  2>/dev/null | head -c 500 || true)"
say "IM port 8887 on $IM_IP: $port; vendor status: ${vendor:-unavailable}" >&2
python3 -c 'import json, sys; print(json.dumps({"imPort8887": sys.argv[1], "expected": sys.argv[2], "vendorStatus": sys.argv[3] or "unavailable", "checkedFrom": "pbx01"}))' "$port" "$EXPECT" "$vendor"
if [ "$EXPECT" = running ] && [ "$port" != open ]; then
  die "the IM service should be running but $IM_IP:8887 refuses connections"
fi
