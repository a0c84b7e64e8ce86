# shellcheck shell=bash
# token: guide step 3, on pbx01. Puts the IM server token in a file only the pbx user can read
# (~/.portsip-im/im-token), where deploy and upgrade take it from; prints only its fingerprint.
# rest: generated once through the PBX API (the portal's "Generate Token"); an upgrade generates a
# fresh one itself, after its cluster check. manual: the operator's imToken arrives on stdin.
: "${ACTION:=obtain}" "${MODE:=rest}"
IM_TOKEN=""
read_secrets
token_file="$STATE_DIR/im-token"

if [ "$ACTION" = remove ]; then
  rm -f "$token_file"
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
elif [ -s "$token_file" ]; then
  say "token: already on pbx01; kept" >&2
else
  pbx_login
  pbx_generate_token "$token_file"
  say "token: generated the IM token on the PBX" >&2
fi
chmod 600 "$token_file"
printf 'sha256:%s\n' "$(sha256sum <"$token_file" | cut -c1-16)"
