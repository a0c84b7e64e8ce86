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
  # im.sh gets no copy of the hold's pipe: a daemon it leaves behind must not keep the hold open.
  (if [ -n "$HOLD_IN" ]; then exec {HOLD_IN}>&-; fi
   cd "$GUIDE_DIR" && IM_TOKEN="$token" /bin/bash im.sh "$@" <<<"$token" 2>&1) \
    | redact "$token" "${EXTRA_REDACT:-}" >"$log" || rc=$?
  backups_release
  flock -u 9
  vendor_verdict "$verb" "$rc" "$log"
}

# The IM host's backup timer stops the IM containers while it copies their data; im.sh must not
# run, upgrade or remove them meanwhile. So a verb holds the host's backup lock for its whole run
# (portsip-im-backup hold, over the pbx@IM trust): it waits up to an hour for a running backup to
# finish, and a backup due meanwhile waits for the verb. No backup runner there (backups off), or
# one from before holds existed: nothing to hold. No SSH or sudo: a warning, and im.sh runs.
HOLD_PID="" HOLD_IN="" HOLD_DIR=""
backups_hold() {
  local line="" deadline=$((SECONDS + 3700))
  : "${IM_IP:?vendor.sh needs IM_IP}" "${PBX_USER:?vendor.sh needs PBX_USER}"
  HOLD_DIR="$(mktemp -d)"
  mkfifo "$HOLD_DIR/in"
  # ssh's stdin is a pipe only this shell writes to: closing it ends the hold. ssh_im's keepalives
  # end a hold whose pbx01 went away within a minute; the IM host ends any hold after 4 h regardless.
  ssh_im "$PBX_USER" "$IM_IP" \
    'if [ -e /usr/local/sbin/portsip-im-backup ]; then
      exec timeout 4h sudo -n /usr/local/sbin/portsip-im-backup hold; else echo "[portsip-im-backup] none"; fi' \
    <"$HOLD_DIR/in" >"$HOLD_DIR/out" 2>&1 &
  HOLD_PID=$!
  exec {HOLD_IN}>"$HOLD_DIR/in"
  # The runner's answer is its first "[portsip-im-backup] " line (a login banner may come first).
  while :; do
    line="$(grep -m 1 '^\[portsip-im-backup\] ' "$HOLD_DIR/out" || true)"
    [ -z "$line" ] || break
    if ! kill -0 "$HOLD_PID" 2>/dev/null; then
      line="$(grep -m 1 '^\[portsip-im-backup\] ' "$HOLD_DIR/out" || head -n 1 "$HOLD_DIR/out")"
      break
    fi
    [ "$SECONDS" -lt "$deadline" ] || break
    sleep 0.2
  done
  case "$line" in
    "[portsip-im-backup] held:"*) say "backups on the IM host wait for this im.sh verb" ;;
    "[portsip-im-backup] none") backups_release ;;
    *"has held the lock for an hour"*)
      backups_release
      die "the IM host's backups: ${line#\[portsip-im-backup\] }" ;;
    "[portsip-im-backup] "*)
      # A runner from before holds existed (the backup step replaces it later in this up).
      backups_release
      warn "the IM host's backup runner cannot hold backups during im.sh yet (${line#\[portsip-im-backup\] })" ;;
    *)
      # No SSH, no sudo: im.sh reaches the host its own way and will say what is wrong, if anything.
      backups_release
      warn "could not hold the IM host's backups during im.sh (${line:-no answer})" ;;
  esac
}

backups_release() {
  local fd="$HOLD_IN" pid="$HOLD_PID" deadline=$((SECONDS + 5))
  HOLD_PID="" HOLD_IN=""
  # Closing ssh's stdin ends the hold on the IM host (the lock goes with that process); should
  # the session linger, ending ssh ends it just the same.
  if [ -n "$fd" ]; then exec {fd}>&- || true; fi
  if [ -n "$pid" ]; then
    while kill -0 "$pid" 2>/dev/null && [ "$SECONDS" -lt "$deadline" ]; do sleep 0.2; done
    # $! is the subshell running ssh_im: end its ssh too.
    pkill -P "$pid" 2>/dev/null || true
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  fi
  [ -z "$HOLD_DIR" ] || rm -rf "$HOLD_DIR"
  HOLD_DIR=""
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
    printf '[%s] ERROR: im.sh %s failed (%s)%s\n' "$STEP" "$verb" "$why" "${errors:+: ${errors%%$'\n'*}}" >&2
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
