# token: guide step 3, on pbx01. Puts the IM server token in a file only the pbx user can read
# (~/.portsip-im/im-token), where deploy and upgrade take it from; prints only its fingerprint.
# rest: generated through the PBX API (the portal's "Generate Token"), again when RELEASE changes,
# since an upgrade needs a fresh token. manual: the operator's imToken arrives on stdin.
: "${ACTION:=obtain}" "${MODE:=rest}" "${RELEASE:=}"
IM_TOKEN=""
read_secrets
token_file="$STATE_DIR/im-token"
release_file="$STATE_DIR/token-release"

fingerprint() { printf 'sha256:%s\n' "$(sha256sum <"$token_file" | cut -c1-16)"; }

if [ "$ACTION" = remove ]; then
  rm -f "$token_file" "$release_file"
  say "token: removed the local copy on pbx01"
  exit 0
fi

if [ "$MODE" = manual ]; then
  [ -n "$IM_TOKEN" ] || die "manual mode needs the IM token: pulumi config set --secret imToken (PBX portal > Servers > IM Servers > Generate Token)"
  if [ -f "$token_file" ] && [ "$(cat "$token_file")" = "$IM_TOKEN" ]; then
    say "token: unchanged" >&2
  else
    printf '%s' "$IM_TOKEN" >"$token_file"
    say "token: stored the operator's token" >&2
  fi
else
  if [ -s "$token_file" ] && [ -f "$release_file" ] && [ "$(cat "$release_file")" = "$RELEASE" ]; then
    say "token: current for release '${RELEASE}'" >&2
  else
    pbx_login
    pbx_request POST /im/token
    pbx_expect 200 "generating the IM token"
    printf '%s' "$PBX_BODY" | json_field 'j["token"]' | tr -d '\n' >"$token_file"
    [ -s "$token_file" ] || die "the PBX returned an empty IM token"
    printf '%s' "$RELEASE" >"$release_file"
    say "token: generated a new IM token on the PBX (release '${RELEASE}')" >&2
  fi
fi
chmod 600 "$token_file"
fingerprint
