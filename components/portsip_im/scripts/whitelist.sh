# shellcheck shell=bash
# needs: lib.sh pbx-api.sh
# whitelist: guide step 2, from pbx01. The IM server's IPs go on the PBX's IP whitelist (an ACCEPT
# rule with a long expiry), so the PBX does not rate-limit the IM service. Entries this stack creates
# carry MARK in their description: an entry of ours for an address no longer wanted is removed, and
# `ACTION=remove` deletes all of ours; never anyone else's entry and never a DENY (blacklist) rule.
: "${ACTION:=add}" "${MODE:=rest}" "${IPS:?}" "${DAYS:=3650}" "${MARK:?}" "${CONFIRMED:=0}"
read_secrets

if [ "$MODE" = manual ]; then
  if [ "$ACTION" = remove ]; then
    warn "manual mode: remove the whitelist entries for $IPS yourself (PBX portal > IP Blacklist)"
    exit 0
  fi
  [ "$CONFIRMED" = 1 ] || die "manual mode: whitelist the IM server on the PBX first: sign in to the PBX web portal as system administrator, open IP Blacklist, click Add, enter ${IPS// / and } with a long expiration date (e.g. $DAYS days) and Save; then set config {{pbx.api.whitelist_confirmed}}=true"
  say "manual mode: operator confirmed $IPS is whitelisted"
  exit 0
fi

pbx_login
entries="$(pbx_ip_filters)"

# Our entries (ACCEPT rules carrying MARK) and who else accepts each wanted address.
plan="$(printf '%s' "$entries" | python3 -c '
import json, sys
mark, action, wanted = sys.argv[1], sys.argv[2], [f"{ip}/32" for ip in sys.argv[3].split()]
items = [e for e in json.load(sys.stdin).get("items", []) if e.get("target") == "ACCEPT"]
for e in items:
    # Ours and no longer wanted (an old address), or everything of ours on remove.
    if e.get("description") == mark and (action == "remove" or e.get("cidr") not in wanted):
        print("delete", e["id"], e.get("cidr"))
if action == "add":
    for cidr in wanted:
        owners = ["ours" if e.get("description") == mark else "theirs"
                  for e in items if e.get("cidr") == cidr]
        print("keep" if owners else "add", owners[0] if owners else "-", cidr)
' "$MARK" "$ACTION" "$IPS")"

while read -r what id cidr; do
  case "$what" in
    keep) say "whitelist: $cidr already accepted ($id entry); nothing to add" ;;
    add)
      expire="$(date -u -d "+$DAYS days" +%Y-%m-%dT%H:%M:%SZ)"
      body="$(python3 -c 'import json,sys; print(json.dumps({"cidr": sys.argv[1], "target": "ACCEPT", "expire_at": sys.argv[2], "description": sys.argv[3]}))' "$cidr" "$expire" "$MARK")"
      pbx_request POST /ip_filters "$body"
      case "$PBX_STATUS" in 200|201) ;; *) pbx_expect 200 "whitelisting $cidr" ;; esac
      say "whitelist: added $cidr (ACCEPT until $expire, id $(printf '%s' "$PBX_BODY" | json_field 'j.get("id")'))"
      ;;
    delete)
      pbx_request POST "/ip_filters/$id/destroy"
      case "$PBX_STATUS" in 200|204) say "whitelist: removed our entry for $cidr (id $id)" ;;
        *) pbx_expect 204 "removing whitelist entry $id" ;; esac
      ;;
  esac
done <<<"$plan"
[ "$ACTION" != remove ] || grep -q '^delete' <<<"$plan" || say "whitelist: no entry of ours; nothing to remove"
