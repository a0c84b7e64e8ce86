# shellcheck shell=bash
# needs: lib.sh
# host-key: read the new IM host's SSH host key from pbx01, over the private network, once. Every
# later connection to the IM host pins this key.
: "${IM_IP:?}" "${WAIT:=600}"

wait_tcp "$IM_IP" 22 "$WAIT" || die "the IM host $IM_IP does not answer on SSH (22) after ${WAIT}s"
key=""
deadline=$((SECONDS + 60))
while [ -z "$key" ] && [ "$SECONDS" -lt "$deadline" ]; do
  # ssh-keyscan exits 1 when it gets no key yet: keep trying until the deadline.
  key="$({ ssh-keyscan -T 10 -t ed25519 "$IM_IP" 2>/dev/null || true; } | awk '$2 == "ssh-ed25519" {print $2" "$3; exit}')"
  [ -n "$key" ] || sleep 3
done
[ -n "$key" ] || die "no ed25519 host key from $IM_IP"
say "pinned the IM host key of $IM_IP (${key:0:30}...)" >&2
printf '%s\n' "$key"
