# shellcheck shell=bash
# needs: lib.sh
# restore: on the IM host, as root, when config restoreSnapshot is set (and each time it changes):
# the runner that the backup step installed stops the IM service, swaps the snapshot's data in
# (latest, or a snapshot id) and starts the service again; the health step then checks it.
# Empty SNAPSHOT: no restore asked, nothing done.
: "${SNAPSHOT:=}"
runner=/usr/local/sbin/portsip-im-backup
# The value last restored on this host: an up interrupted after the restore ran re-runs this step
# (its create is still pending), and must not put the data back a second time.
restored="$STATE_DIR/restored"
if [ -z "$SNAPSHOT" ]; then
  rm -f "$restored"
  say "restore: none asked ({{backup.restore_snapshot}} not set)"
  exit 0
fi
if [ "$(cat "$restored" 2>/dev/null)" = "$SNAPSHOT" ]; then
  say "restore: snapshot $SNAPSHOT was restored already (an interrupted up); not again"
  exit 0
fi
[[ "$SNAPSHOT" =~ ^(latest|[0-9a-f]{8,64})$ ]] || die "{{backup.restore_snapshot}} '$SNAPSHOT' is not 'latest' or a snapshot id"
[ -x "$runner" ] || die "restore: $runner missing (the backup step installs it; is {{backup.repository}} set?)"
say "restore: restoring snapshot $SNAPSHOT of the IM data"
"$runner" restore "$SNAPSHOT"
printf '%s' "$SNAPSHOT" >"$restored"
