# shellcheck shell=bash
# needs: lib.sh pbx-api.sh
# token: guide step 3, on pbx01. Puts the IM server token in a file only the pbx user can read
# (~/.portsip-im/im-token), where deploy and upgrade take it from; prints only its fingerprint.
# rest: the PBX's current token (GET /im/token) is read and kept; the PBX is asked to regenerate it
# (the portal's "Generate Token", which invalidates the old one) only when it has none, or when
# ROTATION (imTokenRotation) is set and changed since the last run; an upgrade regenerates it
# itself, after its cluster check. The first ROTATION seen is only recorded, and an unset one never
# rotates (a re-created stack meets the old stack's record). "Has none": a 200 without a token
# (then no IM server can be using pbx01's copy, if any, so it is replaced), or a 404 while pbx01
# holds no copy. A 404 may also be an older PBX without that path, so a copy on pbx01 is kept:
# regenerating could invalidate the token its IM server runs with. manual: the operator's imToken.
: "${ACTION:=obtain}" "${MODE:=rest}" "${ROTATION:=}"
IM_TOKEN=""
read_secrets
token_file="$STATE_DIR/im-token"
rotation_file="$STATE_DIR/im-token-rotation"

if [ "$ACTION" = remove ]; then
  rm -f "$token_file" "$rotation_file"
  say "token: removed the local copy on pbx01 (the PBX's token is left as it is)"
  exit 0
fi

if [ "$MODE" = manual ]; then
  [ -n "$IM_TOKEN" ] || die "manual mode needs the IM token: pulumi config set --secret {{pbx.api.im_token}} (PBX portal > Servers > IM Servers > Generate Token)"
  if [ -f "$token_file" ] && [ "$(cat "$token_file")" = "$IM_TOKEN" ]; then
    say "token: unchanged" >&2
  else
    printf '%s' "$IM_TOKEN" >"$token_file"
    say "token: stored the operator's token" >&2
  fi
else
  pbx_login
  if [ -n "$ROTATION" ] && [ -f "$rotation_file" ] && [ "$(cat "$rotation_file")" != "$ROTATION" ]; then
    pbx_generate_token "$token_file"
    say "token: {{im.token_rotation}} changed ('$(cat "$rotation_file")' -> '$ROTATION'): the PBX generated a new IM token; deploy runs im.sh with it" >&2
  else
    current=0
    pbx_current_token "$token_file.pbx" || current=$?
    if [ "$current" = 0 ] && [ -s "$token_file" ] && cmp -s "$token_file" "$token_file.pbx"; then
      rm -f "$token_file.pbx"
      say "token: pbx01's copy is the PBX's current IM token; kept" >&2
    elif [ "$current" = 0 ] && [ -s "$token_file" ]; then
      mv "$token_file.pbx" "$token_file"
      warn "token: the PBX's current IM token differs from pbx01's copy (changed in the portal?); pbx01's copy now holds the PBX's"
    elif [ "$current" = 0 ]; then
      mv "$token_file.pbx" "$token_file"
      say "token: read the PBX's current IM token (GET /im/token) and kept it on pbx01; the PBX's token is unchanged" >&2
    elif [ "$current" = 1 ]; then
      had_copy=""
      [ -s "$token_file" ] && had_copy=" (pbx01's copy was not the PBX's token any more: replaced)"
      pbx_generate_token "$token_file"
      say "token: the PBX has no IM token (GET /im/token answered 200 without one); it generated one$had_copy" >&2
    elif [ -s "$token_file" ]; then
      # 404: no token, or no such path on an older PBX. pbx01's copy may be what a running IM
      # server uses: never regenerate it unasked.
      warn "token: the PBX answered GET /im/token with HTTP 404 (no token, or no such path on this PBX); kept pbx01's copy of the IM token (set {{im.token_rotation}} to have a new one generated)"
    else
      pbx_generate_token "$token_file"
      say "token: the PBX answered GET /im/token with HTTP 404 and pbx01 has no copy: the PBX had no IM token; it generated one" >&2
    fi
  fi
  printf '%s' "$ROTATION" >"$rotation_file"
fi
chmod 600 "$token_file"
printf 'sha256:%s\n' "$(sha256sum <"$token_file" | cut -c1-16)"
