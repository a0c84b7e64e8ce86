# shellcheck shell=bash
# needs: lib.sh vendor.sh
# manage: day 2, on pbx01. ACTION=state makes the IM service match STATE (running|stopped) with
# `im.sh start`/`im.sh stop`, and runs nothing when it already does. ACTION=restart runs
# `im.sh restart` when RESTART_TOKEN changes (the first value is only recorded).
: "${ACTION:=state}" "${STATE:=running}" "${RESTART_TOKEN:=}"
: "${IM_IP:?}"
restart_file="$STATE_DIR/restart-token"

case "$ACTION" in
  state)
    if [ "$STATE" = running ]; then
      if im_port_open 0; then
        say "the IM service is running; nothing to do"
      else
        im_verb start
        im_port_open "$WAIT" || die "after im.sh start, $IM_IP:8887 still refuses connections"
        say "started; $IM_IP:8887 accepts connections"
      fi
    elif [ "$STATE" = stopped ]; then
      if ! im_port_open 0; then
        say "the IM service is stopped; nothing to do"
      else
        im_verb stop
        im_port_closed_within 120 || die "after im.sh stop, $IM_IP:8887 still accepts connections"
        say "stopped; $IM_IP:8887 is closed"
      fi
    else
      die "{{im.state}} must be running or stopped, not '$STATE'"
    fi
    ;;
  restart)
    if [ ! -f "$restart_file" ]; then
      printf '%s' "$RESTART_TOKEN" >"$restart_file"
      say "restart token recorded; no restart on first deploy"
    elif [ "$(cat "$restart_file")" = "$RESTART_TOKEN" ]; then
      say "restart token unchanged; nothing to do"
    else
      im_verb restart
      im_port_open "$WAIT" || die "after im.sh restart, $IM_IP:8887 refuses connections"
      printf '%s' "$RESTART_TOKEN" >"$restart_file"
      say "restarted; $IM_IP:8887 accepts connections"
    fi
    ;;
  forget)
    rm -f "$restart_file"
    say "forgot the restart token"
    ;;
  *) die "unknown ACTION $ACTION" ;;
esac
