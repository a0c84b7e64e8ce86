# shellcheck shell=bash
# needs: lib.sh
# vendor.sh — runs PortSIP's HA helper (im.sh) on pbx01; prepended after lib.sh to the steps that
# call it. The token goes to im.sh on stdin and in its environment, never in argv. Vendor output
# (which prints the token) is redacted before it is written to a log only the pbx user can read;
# what is shown is the tail of that log. EXTRA_REDACT names one more value to mask (an old token).
#
# PortSIP's scripts report failures as `[error]: ...` lines and do not promise a non-zero exit status
# (an unknown verb prints an error and exits 0), so a verb fails when it exits non-zero OR prints an
# `[error]` line, whatever its exit status; `[warn]` lines are shown on stderr either way.
: "${GUIDE_DIR:=/opt/portsip-pbx-ha-guide}" "${IM_IP:=}" "${WAIT:=600}"
LOG_DIR="$STATE_DIR/logs"
mkdir -p "$LOG_DIR"

im_verb() {  # im_verb VERB [ARGS...]: run `im.sh VERB ARGS` as the guide does; fail with its tail
  local verb="$1" log token="" rc=0
  log="$LOG_DIR/$(date -u +%Y%m%dT%H%M%SZ)-$verb.log"
  [ -s "$STATE_DIR/im-token" ] && token="$(cat "$STATE_DIR/im-token")"
  # One vendor verb at a time on this cluster, whichever step or stack asks.
  exec 9>"$STATE_DIR/im.lock"
  flock -w 1800 9 || die "another im.sh verb has held the lock for 30 minutes"
  backups_hold
  say "running: cd $GUIDE_DIR && /bin/bash im.sh $*"
  # The vendor prints the token: the log only ever holds the redacted text.
  # (pipefail: rc is im.sh's exit status)
  (cd "$GUIDE_DIR" && IM_TOKEN="$token" /bin/bash im.sh "$@" <<<"$token" 2>&1) \
    | redact "$token" "${EXTRA_REDACT:-}" >"$log" || rc=$?
  backups_release
  flock -u 9
  vendor_verdict "$verb" "$rc" "$log"
}

# The IM host's backup timer stops the IM containers while it copies their data; im.sh must not
# run, upgrade or remove them meanwhile. So a verb holds the host's backup lock for its whole run
# (portsip-im-backup hold, over the pbx@IM trust): it waits for a running backup to finish, and a
# backup due meanwhile waits for the verb. No backup runner there (backups off): nothing to hold.
HOLD_PID="" HOLD_IN=""
backups_hold() {
  local line="" out=""
  [ -n "${IM_IP:-}" ] && [ -n "${PBX_USER:-}" ] || return 0
  coproc BACKUPS_HOLD {
    ssh_im "$PBX_USER" "$IM_IP" 'if [ -e /usr/local/sbin/portsip-im-backup ]; then
      exec sudo -n /usr/local/sbin/portsip-im-backup hold; else echo "[portsip-im-backup] none"; fi' 2>&1
  }
  # Copied at once: bash unsets a coproc's variables as soon as it has reaped it.
  HOLD_PID="${BACKUPS_HOLD_PID:-}" HOLD_IN="${BACKUPS_HOLD[1]:-}" out="${BACKUPS_HOLD[0]:-}"
  [ -z "$out" ] || IFS= read -r -t 3700 line <&"$out" || true
  case "$line" in
    "[portsip-im-backup] held:"*) say "backups on the IM host wait for this im.sh verb" ;;
    "[portsip-im-backup] none") backups_release ;;
    "[portsip-im-backup] "*)
      # The runner's own refusal: a backup or restore has held the lock for an hour.
      backups_release
      die "the IM host's backups: ${line#\[portsip-im-backup\] }" ;;
    *)
      # No SSH, no sudo: im.sh reaches the host its own way and will say what is wrong, if anything.
      backups_release
      say "WARNING: could not hold the IM host's backups during im.sh (${line:-no answer})" ;;
  esac
}

backups_release() {
  local fd="$HOLD_IN" pid="$HOLD_PID" deadline=$((SECONDS + 5))
  HOLD_PID="" HOLD_IN=""
  # Closing its stdin ends the hold on the IM host (the lock goes with that process); should a
  # copy of the pipe live on somewhere, ending the SSH session ends it just the same.
  if [ -n "$fd" ]; then exec {fd}>&- || true; fi
  [ -n "$pid" ] || return 0
  while kill -0 "$pid" 2>/dev/null && [ "$SECONDS" -lt "$deadline" ]; do sleep 0.5; done
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}

# The vendor's message lines: `[error]: ...` / `[warn]: ...` at the start of a line, after any
# whitespace or terminal colour codes.
VENDOR_ESC=$'\e'
VENDOR_ERROR_LINE="^(${VENDOR_ESC}\[[0-9;]*m|[[:space:]])*\[error\]"
VENDOR_WARN_LINE="^(${VENDOR_ESC}\[[0-9;]*m|[[:space:]])*\[warn(ing)?\]"

# vendor_verdict VERB RC LOG: show the (redacted) log's warnings; fail with its first error line and
# its tail when im.sh exited non-zero or printed an [error] line; else show its last lines.
vendor_verdict() {
  local verb="$1" rc="$2" log="$3" errors why
  errors="$(grep -E "$VENDOR_ERROR_LINE" "$log" || true)"
  if grep -qE "$VENDOR_WARN_LINE" "$log"; then
    printf '[%s] im.sh %s warned (token redacted):\n' "$STEP" "$verb" >&2
    grep -E "$VENDOR_WARN_LINE" "$log" | sed 's/^/    /' >&2
  fi
  if [ "$rc" != 0 ] || [ -n "$errors" ]; then
    why="exit $rc"
    [ "$rc" != 0 ] || why="exit 0, but it printed an error"
    printf '[%s] im.sh %s failed (%s)%s\n' "$STEP" "$verb" "$why" "${errors:+: ${errors%%$'\n'*}}" >&2
    printf '[%s] last lines (token redacted), full log on pbx01 in %s:\n' "$STEP" "$log" >&2
    tail -n 20 "$log" | sed 's/^/    /' >&2
    exit 1
  fi
  tail -n 5 "$log" | sed 's/^/    /'
  say "im.sh $verb done (log: $log)"
}

# The fingerprint of pbx01's copy of the IM token (empty without one); deploy and upgrade record the
# one the IM server was last given in $STATE_DIR/deployed-token, so a new token re-deploys.
token_sha() {
  if [ -s "$STATE_DIR/im-token" ]; then sha256sum <"$STATE_DIR/im-token" | cut -c1-64; fi
}

im_port_open() { wait_tcp "$IM_IP" 8887 "${1:-0}"; }

im_port_closed_within() {  # im_port_closed_within SECONDS
  local deadline=$((SECONDS + $1))
  while tcp_probe "$IM_IP" 8887; do
    [ "$SECONDS" -lt "$deadline" ] || return 1
    sleep 2
  done
}
