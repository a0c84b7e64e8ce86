# shellcheck shell=bash
# pbx-api.sh — the PBX REST client, prepended after lib.sh to steps that talk to the PBX.
#
# Endpoint paths and auth come from components/pbx.py as parameters (PBX_API_URL, PBX_LOGIN_PATH,
# PBX_CLIENT_ID, PBX_TLS_VERIFY, PBX_ADMIN_USER); the admin password arrives as the secret
# PBX_ADMIN_PASSWORD. The bearer token lives in a private temp file, never in argv.
: "${PBX_API_URL:=}" "${PBX_LOGIN_PATH:=/login/oauth/token}" "${PBX_TLS_VERIFY:=1}"
: "${PBX_CLIENT_ID:=}" "${PBX_ADMIN_USER:=admin}" "${PBX_ADMIN_PASSWORD:=}"

PBX_TMP="$(mktemp -d)"
trap 'rm -rf "$PBX_TMP"' EXIT
PBX_STATUS=""
PBX_BODY=""

# pbx_request METHOD PATH [BODY [CONTENT-TYPE]]: sets PBX_STATUS and PBX_BODY.
pbx_request() {
  local method="$1" path="$2" body="${3-}" ctype="${4:-application/json}" out
  local args=(--silent --show-error --max-time 30 -X "$method" -o "$PBX_TMP/body" -w '%{http_code}')
  [ "$PBX_TLS_VERIFY" = 1 ] || args+=(--insecure)
  [ -f "$PBX_TMP/auth" ] && args+=(-H "@$PBX_TMP/auth")
  if [ -n "$body" ]; then
    args+=(-H "Content-Type: $ctype" --data-binary @-)
  fi
  if ! out="$(printf '%s' "$body" | curl "${args[@]}" "$PBX_API_URL$path" 2>"$PBX_TMP/err")"; then
    die "PBX API $method $path at $PBX_API_URL unreachable: $(head -c 300 "$PBX_TMP/err")"
  fi
  PBX_STATUS="$out"
  PBX_BODY="$(cat "$PBX_TMP/body" 2>/dev/null || true)"
}

# json_field EXPR: reads JSON on stdin, prints the Python expression EXPR of it (j is the document).
json_field() {
  python3 -c 'import json,sys; j=json.load(sys.stdin); v=eval(sys.argv[1]); print("" if v is None else v)' "$1"
}

pbx_error() {
  printf '%s' "$PBX_BODY" | python3 -c '
import json, sys
try:
    errs = json.load(sys.stdin).get("errors") or []
    print("; ".join("%s: %s" % (e.get("code"), e.get("message")) for e in errs) or "no detail")
except Exception:
    print("no detail")'
}

pbx_login() {
  [ -n "$PBX_API_URL" ] || die "pbxApiUrl is not set (and pbxVirtualIp is unknown)"
  [ -n "$PBX_ADMIN_PASSWORD" ] || die "no PBX admin password on stdin (config pbxAdminPassword)"
  local form
  form="$(printf '%s\n%s' "$PBX_ADMIN_USER" "$PBX_ADMIN_PASSWORD" | python3 -c '
import sys, urllib.parse
user, password = sys.stdin.read().split("\n", 1)
print(urllib.parse.urlencode({"grant_type": "password", "username": user, "password": password,
                              "scope": "all", "client_id": sys.argv[1]}))' "$PBX_CLIENT_ID")"
  pbx_request POST "$PBX_LOGIN_PATH" "$form" application/x-www-form-urlencoded
  case "$PBX_STATUS" in
    200) ;;
    *) die "PBX API login as $PBX_ADMIN_USER failed (HTTP $PBX_STATUS: $(pbx_error)); check pbxAdminUser/pbxAdminPassword" ;;
  esac
  local token
  token="$(printf '%s' "$PBX_BODY" | json_field 'j["access_token"]')"
  printf 'Authorization: Bearer %s\n' "$token" >"$PBX_TMP/auth"
}

pbx_generate_token() {  # pbx_generate_token FILE: the portal's "Generate Token", into FILE (0600)
  pbx_request POST /im/token
  pbx_expect 200 "generating the IM token"
  printf '%s' "$PBX_BODY" | json_field 'j["token"]' | tr -d '\n' >"$1.new"
  [ -s "$1.new" ] || die "the PBX returned an empty IM token"
  chmod 600 "$1.new"
  mv "$1.new" "$1"
}

pbx_expect() {  # pbx_expect CODE WHAT
  [ "$PBX_STATUS" = "$1" ] || die "PBX API: $2 failed (HTTP $PBX_STATUS: $(pbx_error))"
}
