# shellcheck shell=bash
# needs: lib.sh
# pbx-api.sh — the PBX REST client, prepended after lib.sh to steps that talk to the PBX.
#
# It speaks the API as PortSIP's OpenAPI document describes it; every call it makes is listed in
# components/pbx.py (API_CALLS). Paths and auth come from there as parameters (PBX_API_URL,
# PBX_LOGIN, PBX_JSON_LOGIN_PATH, PBX_LOGIN_PATH, PBX_CLIENT_ID, PBX_TLS_VERIFY, PBX_ADMIN_USER,
# PBX_PINNED_PUBKEY); the admin password arrives as the secret PBX_ADMIN_PASSWORD, and the PBX's CA
# certificate, when given, beside it as PBX_CA_CERT (multi-line). Bodies reach curl on stdin, the
# bearer token from a private temp file and the session cookie from a cookie jar beside it (0600):
# no secret is ever in an argv.
: "${PBX_API_URL:=}" "${PBX_LOGIN:=auto}" "${PBX_JSON_LOGIN_PATH:=/login}"
: "${PBX_LOGIN_PATH:=/login/oauth/token}" "${PBX_TLS_VERIFY:=1}"
: "${PBX_CLIENT_ID:=}" "${PBX_ADMIN_USER:=admin}" "${PBX_ADMIN_PASSWORD:=}" "${PBX_API_MAX_TIME:=30}"
: "${PBX_PINNED_PUBKEY:=}"

PBX_TMP="$(mktemp -d)"
trap 'rm -rf "$PBX_TMP"' EXIT
# The document's POST /login answers 200 with no body schema; its session cookie is what GET /login
# (the session's login status, which carries access_token) needs. curl keeps the jar's mode.
install -m 600 /dev/null "$PBX_TMP/cookies"
PBX_STATUS=""
PBX_BODY=""
PBX_CURL_RC=0
PBX_LOGGED_IN=""

# pbx_send METHOD PATH [BODY [CONTENT-TYPE]]: one call; sets PBX_STATUS and PBX_BODY. Returns 1
# (with PBX_CURL_RC set) when no HTTP answer came back.
pbx_send() {
  local method="$1" path="$2" body="${3-}" ctype="${4:-application/json}" out
  # -q first: no ~/.curlrc; --globoff: the URL's [] and {} are characters, not patterns.
  local args=(-q --globoff --silent --show-error --connect-timeout 10 --max-time "$PBX_API_MAX_TIME"
    -X "$method" -o "$PBX_TMP/body" -w '%{http_code}' -b "$PBX_TMP/cookies" -c "$PBX_TMP/cookies")
  # The step's secrets are read after this file is loaded: the CA goes to a file at first use.
  if [ -n "${PBX_CA_CERT:-}" ] && [ ! -s "$PBX_TMP/ca.pem" ]; then
    printf '%s\n' "$PBX_CA_CERT" >"$PBX_TMP/ca.pem"
  fi
  [ ! -s "$PBX_TMP/ca.pem" ] || args+=(--cacert "$PBX_TMP/ca.pem")
  if [ -n "$PBX_PINNED_PUBKEY" ]; then
    # The pin is the trust: the certificate's chain is not checked without a CA, its key is.
    args+=(--pinnedpubkey "$PBX_PINNED_PUBKEY")
    [ -s "$PBX_TMP/ca.pem" ] || args+=(--insecure)
  elif [ "$PBX_TLS_VERIFY" != 1 ] && [ ! -s "$PBX_TMP/ca.pem" ]; then
    args+=(--insecure)
  fi
  [ -f "$PBX_TMP/auth" ] && args+=(-H "@$PBX_TMP/auth")
  if [ -n "$body" ]; then
    args+=(-H "Content-Type: $ctype" --data-binary @-)
  fi
  rm -f "$PBX_TMP/body"
  PBX_CURL_RC=0
  out="$(printf '%s' "$body" | curl "${args[@]}" "$PBX_API_URL$path" 2>"$PBX_TMP/err")" \
    || PBX_CURL_RC=$?
  [ "$PBX_CURL_RC" = 0 ] || return 1
  PBX_STATUS="$out"
  PBX_BODY="$(cat "$PBX_TMP/body" 2>/dev/null || true)"
}

# What went wrong when no HTTP answer came back, from curl's exit code.
pbx_transport_error() {
  local detail
  detail="$(head -c 300 "$PBX_TMP/err" | tr '\n' ' ')"
  case "$PBX_CURL_RC" in
    6) echo "unreachable: cannot resolve its host name ($detail); check {{pbx.api.url}}" ;;
    7) echo "unreachable: no connection ($detail); check {{pbx.api.url}} and that the PBX web service runs" ;;
    28) echo "timeout: no answer within ${PBX_API_MAX_TIME}s ($detail); check {{pbx.api.url}} (the PBX's API address and port, reachable from pbx01) and that the PBX web service answers" ;;
    90)
      echo "TLS: the PBX's public key is not the pinned one ($detail); check {{pbx.api.pinned_public_key}} against the PBX's certificate" ;;
    35 | 51 | 53 | 54 | 58 | 59 | 60 | 64 | 66 | 77 | 80 | 82 | 83 | 91 | 98)
      echo "TLS verification failed ($detail); trust the PBX's certificate with {{pbx.api.ca_certificate}} (its CA, PEM) or {{pbx.api.pinned_public_key}} (sha256//… of its public key); {{pbx.api.tls_verify}}=false turns the check off" ;;
    *) echo "failed (curl exit $PBX_CURL_RC: $detail); check {{pbx.api.url}} (https://HOST:8887/api) and {{pbx.api.tls_verify}}" ;;
  esac
}

# pbx_request METHOD PATH [BODY [CONTENT-TYPE]]: pbx_send, or stop with what went wrong.
pbx_request() {
  pbx_send "$@" || die "PBX API $1 $2 at $PBX_API_URL: $(pbx_transport_error)"
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

# pbx_login_try STYLE: one login (json: the OpenAPI document's POST /login with a JSON body; oauth:
# the REST guide's form-encoded password grant). 0 and the bearer token stored on success; 1 with
# PBX_STATUS set when the PBX answered something else. No answer at all stops the step.
pbx_login_try() {
  local style="$1" path body ctype token
  if [ "$style" = json ]; then
    path="$PBX_JSON_LOGIN_PATH" ctype=application/json
    body="$(printf '%s\n%s' "$PBX_ADMIN_USER" "$PBX_ADMIN_PASSWORD" | python3 -c '
import json, sys
user, password = sys.stdin.read().split("\n", 1)
print(json.dumps({"username": user, "password": password}))')"
  else
    path="$PBX_LOGIN_PATH" ctype=application/x-www-form-urlencoded
    body="$(printf '%s\n%s' "$PBX_ADMIN_USER" "$PBX_ADMIN_PASSWORD" | python3 -c '
import sys, urllib.parse
user, password = sys.stdin.read().split("\n", 1)
print(urllib.parse.urlencode({"grant_type": "password", "username": user, "password": password,
                              "scope": "all", "client_id": sys.argv[1]}))' "$PBX_CLIENT_ID")"
  fi
  pbx_send POST "$path" "$body" "$ctype" \
    || die "PBX API $style login (POST $PBX_API_URL$path): $(pbx_transport_error)"
  [ "$PBX_STATUS" = 200 ] || return 1
  PBX_LOGGED_IN="$style login, POST $path"
  token="$(pbx_access_token)"
  if [ -z "$token" ] && [ "$style" = json ]; then
    # The document gives POST /login's 200 no body; the access token is in the session's login
    # status (GET /login, no bearer), which the session cookie just set identifies.
    pbx_send GET "$path" \
      || die "PBX API json login (GET $PBX_API_URL$path, the session's login status): $(pbx_transport_error)"
    [ "$PBX_STATUS" != 200 ] || token="$(pbx_access_token)"
    [ -z "$token" ] || PBX_LOGGED_IN="json login, POST $path + GET $path with the session cookie"
  fi
  [ -n "$token" ] || die "PBX API $style login (POST $PBX_API_URL$path) answered 200, but neither its body$([ "$style" = json ] && printf ' nor GET %s (HTTP %s)' "$path" "$PBX_STATUS") gave an access_token; check {{pbx.api.url}} (the PBX REST API, ending in /api) and {{pbx.api.login}}"
  printf 'Authorization: Bearer %s\n' "$token" >"$PBX_TMP/auth"
}

# pbx_access_token: the answer's access_token, or nothing (an empty or non-JSON body included).
pbx_access_token() {
  printf '%s' "$PBX_BODY" \
    | json_field 'j.get("access_token") if isinstance(j, dict) else None' 2>/dev/null || true
}

# pbx_login_failed STYLE PATH [NOTE]: stop, saying what the failed login's answer means.
pbx_login_failed() {
  local what="the $1 login (POST $PBX_API_URL$2)${3:+ $3}" detail
  detail="$(pbx_error)"
  case "$PBX_STATUS" in
    404 | 405)
      die "PBX API: no such login path: $what answered HTTP $PBX_STATUS; this PBX does not serve that login there (check {{pbx.api.url}}, which ends in /api, and {{pbx.api.login}} / {{pbx.api.login_path}})" ;;
    401 | 403)
      die "PBX API: bad credentials: $what refused $PBX_ADMIN_USER (HTTP $PBX_STATUS: $detail); check {{pbx.api.admin_user}}/{{pbx.api.admin_password}}" ;;
    400)
      if [[ "$detail" == *UNAUTHORIZED* || "$detail" == *password* ]]; then
        die "PBX API: bad credentials: $what refused $PBX_ADMIN_USER (HTTP 400: $detail); check {{pbx.api.admin_user}}/{{pbx.api.admin_password}}"
      fi
      die "PBX API: $what was refused (HTTP 400: $detail); check {{pbx.api.admin_user}} and {{pbx.api.admin_password}}, and {{pbx.api.login}}/{{pbx.api.login_path}} for the login this PBX takes" ;;
    *) die "PBX API: $what failed (HTTP $PBX_STATUS: $detail); check {{pbx.api.url}} and {{pbx.api.login}}, then {{pbx.api.admin_user}}/{{pbx.api.admin_password}}" ;;
  esac
}

# pbx_login: log in as pbxApiLogin says (auto: json, and oauth only when /login is not there).
pbx_login() {
  [ -n "$PBX_API_URL" ] || die "{{pbx.api.url}} is not set (and {{pbx.virtual_ip}} is unknown)"
  [ -n "$PBX_ADMIN_PASSWORD" ] || die "no PBX admin password on stdin (config {{pbx.api.admin_password}})"
  rm -f "$PBX_TMP/auth"
  local first
  case "$PBX_LOGIN" in
    json) pbx_login_try json || pbx_login_failed json "$PBX_JSON_LOGIN_PATH" ;;
    oauth) pbx_login_try oauth || pbx_login_failed oauth "$PBX_LOGIN_PATH" ;;
    auto)
      if ! pbx_login_try json; then
        case "$PBX_STATUS" in
          404 | 405)
            first="$PBX_STATUS"
            pbx_login_try oauth || pbx_login_failed oauth "$PBX_LOGIN_PATH" \
              "(tried after the json login POST $PBX_API_URL$PBX_JSON_LOGIN_PATH answered HTTP $first)"
            ;;
          *) pbx_login_failed json "$PBX_JSON_LOGIN_PATH" ;;
        esac
      fi
      ;;
    *) die "{{pbx.api.login}}: unknown login style '$PBX_LOGIN' (auto, json or oauth)" ;;
  esac
  printf '[%s] PBX API: logged in as %s (%s, {{pbx.api.login}}=%s)\n' \
    "$STEP" "$PBX_ADMIN_USER" "$PBX_LOGGED_IN" "$PBX_LOGIN" >&2
}

# pbx_token_into FILE: the JSON answer's "token" into FILE (0600), through a pipe, never an argv.
pbx_token_into() {
  printf '%s' "$PBX_BODY" | json_field 'j.get("token")' | tr -d '\n' >"$1.new"
  chmod 600 "$1.new"
  if [ -s "$1.new" ]; then
    mv "$1.new" "$1"
  else
    rm -f "$1.new"
    return 1
  fi
}

# pbx_current_token FILE: the PBX's current IM token (GET /im/token) into FILE (0600). Returns 1
# when the PBX answers that it has none (200 without a token), 2 on 404; an answer that is not the
# document's JSON object stops the step: a guess here could regenerate a token in use.
pbx_current_token() {
  pbx_request GET /im/token
  case "$PBX_STATUS" in
    200)
      if ! printf '%s' "$PBX_BODY" | json_field 'j.get("token") if isinstance(j, dict) else 1/0' \
        | tr -d '\n' >"$1.new"; then
        rm -f "$1.new"
        die "PBX API: GET /im/token answered HTTP 200 with a body that is not a JSON object; the IM token is left as it is"
      fi
      chmod 600 "$1.new"
      if [ -s "$1.new" ]; then mv "$1.new" "$1"; else rm -f "$1.new" && return 1; fi
      ;;
    404) return 2 ;;
    *) pbx_expect 200 "reading the current IM token" ;;
  esac
}

pbx_generate_token() {  # pbx_generate_token FILE: the portal's "Generate Token", into FILE (0600)
  pbx_request POST /im/token
  pbx_expect 200 "generating the IM token"
  pbx_token_into "$1" || die "the PBX returned an empty IM token"
}

pbx_expect() {  # pbx_expect CODE WHAT
  [ "$PBX_STATUS" = "$1" ] || die "PBX API: $2 failed (HTTP $PBX_STATUS: $(pbx_error))"
}

# pbx_ip_filters: every IP filter, all pages (the API pages its lists, top <= 100), as one JSON
# object {"items": [...], "count": N} on stdout. Run it in `$(...)`: a failed call ends the step.
pbx_ip_filters() {
  local acc='{"items": []}' skip=0 got total
  while :; do
    pbx_request GET "/ip_filters?top=100&skip=$skip"
    pbx_expect 200 "listing IP filters"
    acc="$(printf '%s\n%s' "$acc" "$PBX_BODY" | python3 -c '
import json, sys
acc, page = (json.loads(part) for part in sys.stdin.read().split("\n", 1))
acc["items"] += page.get("items", [])
acc["count"] = page.get("count", len(acc["items"]))
print(json.dumps(acc))')"
    got="$(printf '%s' "$acc" | json_field 'len(j["items"])')"
    total="$(printf '%s' "$acc" | json_field 'j["count"]')"
    if [ "$got" -ge "$total" ] || [ "$got" -le "$skip" ]; then break; fi
    skip="$got"
  done
  printf '%s' "$acc"
}
