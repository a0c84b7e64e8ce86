# shellcheck shell=bash
# needs: lib.sh pbx-api.sh vendor.sh
# deploy: guide step 5, on pbx01 as the pbx user:
#   cd /opt/portsip-pbx-ha-guide/ && /bin/bash im.sh run -a PRIVATE_IP -A PUBLIC_IP [-f STORAGE_PATH]
# then verifies that the IM service answers on TCP 8887 and, with PBX API access, that the PBX lists
# the IM server's addresses (the guide's deployment verification). ACTION=rm runs `im.sh rm`.
#
# What was deployed where, and with which token (its fingerprint), is recorded on pbx01, so a re-run
# (a rotated key, a new version of this script) runs nothing, a new host (a replaced VM) gets
# `im.sh run`, and new addresses on the same host, or a new IM token (TOKEN_FP, a digest of the
# token step's output, changes so that this step re-runs), get `im.sh rm` and then `im.sh run`.
# Whether the service answers does not decide "deployed": starting and stopping it is the state
# step's job (imState), so a re-run with IM stopped runs no vendor verb, and a new token for a
# stopped IM leaves it stopped again.
: "${ACTION:=run}" "${HOST_ID:=}" "${PRIVATE_IP:?}" "${PUBLIC_IP:?}" "${STORAGE_PATH:=}"
: "${TOKEN_FP:=}"
: "${PBX_USER:=pbx}" "${VERIFY_API:=0}" "${API_WAIT:=120}"
# shellcheck disable=SC2034  # read by vendor.sh, prepended to this step
IM_IP="$PRIVATE_IP"
read_secrets
record="$STATE_DIR/deployed"
token_record="$STATE_DIR/deployed-token"
wanted="$HOST_ID $PRIVATE_IP $PUBLIC_IP $STORAGE_PATH"

if [ "$ACTION" = rm ]; then
  # A lost IM host (gone, or rebuilt blank) cannot run `im.sh rm`, and nothing here can tell it
  # from a live host that is unreachable for a while, has changed keys or is impersonated: only
  # the operator can. A marker on pbx01 says so (docs/backups.md, "The IM host is lost"); it
  # counts only while pbx01 cannot log in there, and is used once.
  lost="$STATE_DIR/im-host-lost-$PRIVATE_IP"
  if ! why="$(ssh_im "$PBX_USER" "$PRIVATE_IP" true 2>&1 </dev/null)"; then
    why="$(grep -m 1 -iE 'denied|host key|IDENTIFICATION|timed out|refused|unreachable|no route|pinned' <<<"$why" || head -n 1 <<<"$why")"
    if [ -e "$lost" ]; then
      rm -f "$record" "$token_record" "$lost"
      say "the IM host $PRIVATE_IP is marked lost and pbx01 cannot log in there ($why): im.sh rm skipped, the deployment forgotten"
      exit 0
    fi
    die "pbx01 cannot log in to $PBX_USER@$PRIVATE_IP ($why), so im.sh rm cannot run there. If the IM host is lost or was rebuilt blank, say so on pbx01 as $PBX_USER: touch $lost; then destroy again (docs/backups.md, \"The IM host is lost\")"
  fi
  rm -f "$lost"
  im_verb rm
  rm -f "$record" "$token_record"
  say "the IM service is removed from $PRIVATE_IP (its data on the data disk is kept)"
  exit 0
fi

previous="$(cat "$record" 2>/dev/null || true)"
given="$(cat "$token_record" 2>/dev/null || true)"
new_token=0 was_running=0
if im_port_open 0; then was_running=1; fi
if [ "$previous" = "$wanted" ]; then
  if [ -z "$given" ] || [ "$given" = "$(token_sha)" ]; then
    token_sha >"$token_record"
    if [ "$was_running" = 1 ]; then
      say "the IM service is already deployed at $PRIVATE_IP / $PUBLIC_IP and answers; nothing to do"
    else
      say "the IM service is already deployed at $PRIVATE_IP / $PUBLIC_IP (not answering on 8887 now: {{im.state}} and the health step say why); nothing to do"
    fi
    exit 0
  fi
  new_token=1
fi

[ -s "$STATE_DIR/im-token" ] || die "no IM token on pbx01 (the token step stores it)"
ssh_im "$PBX_USER" "$PRIVATE_IP" true \
  || die "pbx01 cannot log in to $PBX_USER@$PRIVATE_IP without a password (the trust step sets that up)"

if [ "$new_token" = 1 ]; then
  say "the IM token changed since the IM service was deployed: removing the installation to run it again with the new token"
  im_verb rm
elif [ -n "$previous" ] && [ "${previous%% *}" = "$HOST_ID" ] && [ "$previous" != "$wanted" ]; then
  say "the addresses changed on the same host ($previous -> $wanted): removing the old installation first"
  im_verb rm
fi

args=(run -a "$PRIVATE_IP" -A "$PUBLIC_IP")
[ -z "$STORAGE_PATH" ] || args+=(-f "$STORAGE_PATH")
im_verb "${args[@]}"

im_port_open "$WAIT" || die "the IM service does not accept connections on $PRIVATE_IP:8887 after ${WAIT}s"
say "verified: $PRIVATE_IP:8887 accepts connections from pbx01"
printf '%s' "$wanted" >"$record"
token_sha >"$token_record"
if [ "$new_token" = 1 ] && [ "$was_running" = 0 ]; then
  im_verb stop
  say "the IM service was stopped before the new token; left stopped again"
fi

if [ "$VERIFY_API" = 1 ]; then
  pbx_login
  deadline=$((SECONDS + API_WAIT))
  while :; do
    pbx_request GET /im
    pbx_expect 200 "reading the IM server record"
    listed="$(printf '%s' "$PBX_BODY" | json_field '(j.get("private_ipv4") or "") + " " + (j.get("public_ipv4") or "")')"
    [ "$listed" != "$PRIVATE_IP $PUBLIC_IP" ] || break
    [ "$SECONDS" -lt "$deadline" ] \
      || die "the PBX lists the IM server as '$listed', expected '$PRIVATE_IP $PUBLIC_IP' (Servers > IM Servers) after ${API_WAIT}s"
    sleep 5
  done
  say "verified: the PBX lists the IM server at $PRIVATE_IP / $PUBLIC_IP"
fi
