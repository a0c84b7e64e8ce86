# shellcheck shell=bash
# needs: nothing
# backup-lib.sh — the IM host's backup runner, /usr/local/sbin/portsip-im-backup, as functions.
# The backup step (backup.sh) writes them into that file with `declare -f`, so the systemd timer,
# the upgrade step (from pbx01, over the pbx@IM trust) and the restore step all run this same code:
#
#   portsip-im-backup backup [TAG]    stop IM, restic backup, start IM; forget --prune; check
#                                     (append-only: no forget, no prune; the repository's owner's)
#   portsip-im-backup restore [ID]    restore snapshot ID (default: latest) with IM stopped
#   portsip-im-backup snapshots       list the snapshots
#   portsip-im-backup hold            keep backups and restores waiting until stdin closes
#
# Configuration, root only (0700 directory, 0600 files), written by backup.sh from the step's
# stdin: /etc/portsip-im-backup/{repository,password,env,keep,data-path}, or append-only in place
# of keep (backupAppendOnly: the repository refuses deletes). The repository's
# credentials (env: NAME<TAB>base64 lines) reach restic in its environment, never in argv. Each
# run's result is /var/lib/portsip-im-backup/last.json (time, status, snapshot, size; no secret),
# readable by the pbx user, whose health check reads it from pbx01.

pib_init() {
  PIB_CONF=/etc/portsip-im-backup
  PIB_STATE=/var/lib/portsip-im-backup
  PIB_DATA="$(cat "$PIB_CONF/data-path" 2>/dev/null || echo /var/lib/portsip)"
  # Restores are staged inside the data path: the same file system, so moving them in is cheap.
  PIB_STAGE="$PIB_DATA/.portsip-im-restore"
  PIB_ASIDE=".portsip-im-before-restore-"
  PIB_STOPPED=""
  # How many pre-upgrade snapshots are kept (the newest), whatever backupKeep says.
  PIB_KEEP_PRE_UPGRADE=3
  [ "$(id -u)" = 0 ] || pib_die "must run as root"
  mkdir -p "$PIB_STATE"
  chmod 755 "$PIB_STATE"
  export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
}

pib_say() { printf '[portsip-im-backup] %s\n' "$*"; }
pib_die() {
  printf '[portsip-im-backup] ERROR: %s\n' "$*" >&2
  exit 1
}

# The repository's settings into this process's environment (restic reads them there).
pib_env() {
  local name b64 value
  [ -s "$PIB_CONF/repository" ] || pib_die "no repository configured ($PIB_CONF/repository)"
  RESTIC_REPOSITORY="$(cat "$PIB_CONF/repository")"
  export RESTIC_REPOSITORY RESTIC_PASSWORD_FILE="$PIB_CONF/password"
  export RESTIC_CACHE_DIR="$PIB_STATE/cache"
  if [ -s "$PIB_CONF/env" ]; then
    while IFS=$'\t' read -r name b64; do
      [[ "$name" =~ ^[A-Z_][A-Z0-9_]*$ ]] || continue
      value="$(printf '%s' "$b64" | base64 -d)"
      export "$name=$value"
    done <"$PIB_CONF/env"
  fi
}

# One backup or restore at a time, whoever asks (the timer, an upgrade, a restore).
pib_lock() {
  exec 8>"$PIB_STATE/lock"
  local why="another backup, restore or im.sh verb (its hold) has held the lock for an hour"
  flock -w 3600 8 && return 0
  # A scheduled backup that could not run is that run's result (scripts/status shows it).
  if [ "${PIB_RUN:-}" = backup ]; then pib_fail "" "$why"; fi
  pib_die "$why"
}

# Consistency: the IM service is stopped while its files are copied, so the database's files are
# those of a clean shutdown. What runs IM on this host: PortSIP's containers (im.sh's Docker
# Compose project), and any systemd units the host itself lists in $PIB_CONF/units (one a line;
# this program writes no such file: the lab's image lists its stand-in there). Only what was
# running is stopped, and only that is started again (imState=stopped stays stopped).
pib_stop_im() {
  local c u
  if command -v docker >/dev/null 2>&1; then
    for c in portsip.instantmessage portsip.webserver portsip.database; do
      if [ "$(docker inspect -f '{{.State.Running}}' "$c" 2>/dev/null)" = true ]; then
        # Noted before it is stopped: whatever fails next, the exit trap starts it again.
        PIB_STOPPED="docker:$c${PIB_STOPPED:+ $PIB_STOPPED}" # started in reverse: database first
        docker stop -t 120 "$c" >/dev/null
      fi
    done
  fi
  if [ -s "$PIB_CONF/units" ]; then
    while read -r u _; do
      case "$u" in "" | "#"*) continue ;; esac
      [[ "$u" =~ ^[A-Za-z0-9@._:-]+$ ]] || pib_die "bad unit name in $PIB_CONF/units: '$u'"
      if systemctl is-active -q "$u" 2>/dev/null; then
        PIB_STOPPED="${PIB_STOPPED:+$PIB_STOPPED }unit:$u"
        systemctl stop "$u"
      fi
    done <"$PIB_CONF/units"
  fi
  pib_say "IM service stopped for a consistent copy (${PIB_STOPPED:-nothing was running})"
}

pib_start_im() {
  local s
  for s in $PIB_STOPPED; do
    case "$s" in
      docker:*) docker start "${s#docker:}" >/dev/null || pib_say "WARNING: could not start ${s#docker:}" ;;
      unit:*) systemctl start "${s#unit:}" || pib_say "WARNING: could not start ${s#unit:}" ;;
    esac
  done
  [ -z "$PIB_STOPPED" ] || pib_say "IM service started again"
  PIB_STOPPED=""
}

# pib_record STATUS SNAPSHOT BYTES SECONDS MESSAGE: the result of this run, as JSON.
pib_record() {
  PIB_RECORDED=1
  local msg="${5//[$'\t\r\n"\\']/ }"
  printf '{"time": "%s", "status": "%s", "snapshot": "%s", "bytes": %s, "seconds": %s, "message": "%s"}\n' \
    "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$1" "$2" "${3:-0}" "${4:-0}" "$msg" >"$PIB_STATE/last.json.tmp"
  chmod 644 "$PIB_STATE/last.json.tmp"
  mv "$PIB_STATE/last.json.tmp" "$PIB_STATE/last.json"
  cat "$PIB_STATE/last.json" >>"$PIB_STATE/history.jsonl"
}

# The exit trap of a run that stops IM: IM is started again whatever happened, and a run that dies
# without recording its result records a failure.
pib_on_exit() {
  local rc=$?
  pib_start_im
  if [ "$rc" != 0 ] && [ -z "${PIB_RECORDED:-}" ]; then
    pib_record failed "" 0 "$((SECONDS - ${PIB_T0:-$SECONDS}))" "the ${PIB_RUN:-run} stopped (exit $rc)"
  fi
}

# The data path must be what the backup means: when /etc/fstab mounts something there (the data
# disk), it must be mounted, or restic would copy (or a restore fill) the empty directory beneath.
pib_require_data() {
  local why
  if awk -v d="$PIB_DATA" '$1 !~ /^#/ && $2 == d {found=1} END {exit !found}' /etc/fstab 2>/dev/null \
    && ! mountpoint -q "$PIB_DATA"; then
    why="$PIB_DATA is in /etc/fstab but not mounted (the data disk is missing): refusing to ${PIB_RUN:-run}"
    # A refused backup is the last backup's result; a refused restore is not.
    if [ "${PIB_RUN:-}" = backup ]; then pib_fail "" "$why"; else pib_die "$why"; fi
  fi
}

# pib_why FILE: restic's reason from its stderr (its Fatal line, else the first line).
pib_why() {
  grep -m 1 -E 'Fatal|[Ee]rror' "$1" || head -n 1 "$1"
}

# pib_fail SNAPSHOT MESSAGE: record a failed run and stop.
pib_fail() {
  pib_record failed "$1" 0 "$((SECONDS - PIB_T0))" "$2"
  pib_die "$2"
}

# pib_backup [TAG]: TAG (e.g. pre-upgrade) marks the snapshot; pre-upgrade ones are outside the
# retention rules, the newest PIB_KEEP_PRE_UPGRADE of them kept (`snapshots` lists the tags).
pib_backup() {
  local out err snap bytes keep tags=(--tag portsip-im)
  [ -z "${1:-}" ] || [[ "$1" =~ ^[A-Za-z0-9._:-]+$ ]] || pib_die "bad tag '$1'"
  [ -z "${1:-}" ] || tags+=(--tag "$1")
  pib_init
  pib_env
  PIB_T0=$SECONDS PIB_RUN=backup PIB_RECORDED=""
  pib_lock
  err="$PIB_STATE/restic.err"
  pib_require_data
  trap pib_on_exit EXIT
  pib_stop_im
  out="$(restic backup --json "${tags[@]}" --exclude "$PIB_STAGE" \
    --exclude "$PIB_DATA/$PIB_ASIDE*" --exclude "$PIB_DATA/lost+found" "$PIB_DATA" 2>"$err")" || {
    pib_start_im
    pib_fail "" "restic backup failed: $(pib_why "$err")"
  }
  pib_start_im
  snap="$(sed -n 's/.*"message_type":"summary".*"snapshot_id":"\([0-9a-f]*\)".*/\1/p' <<<"$out")"
  bytes="$(sed -n 's/.*"message_type":"summary".*"total_bytes_processed":\([0-9]*\).*/\1/p' <<<"$out")"
  [ -n "$snap" ] || pib_fail "" "restic backup printed no snapshot id"
  pib_say "snapshot $snap saved (${bytes:-0} bytes of $PIB_DATA, IM stopped $((SECONDS - PIB_T0)) s)"
  if [ -e "$PIB_CONF/append-only" ]; then
    # An append-only repository refuses deletes (rest-server --append-only, a bucket policy): a
    # forget would fail every run. Nothing is forgotten or pruned from here, whatever TAG says.
    pib_say "append-only repository: nothing forgotten or pruned from this host"
    restic check --read-data-subset=5% >/dev/null 2>"$err" ||
      pib_fail "$snap" "restic check failed: $(pib_why "$err")"
    pib_say "repository checked (structure and 5% of the data)"
    pib_record ok "$snap" "${bytes:-0}" "$((SECONDS - PIB_T0))" \
      "backup and check done; append-only: pruning is left to the repository's owner"
    trap - EXIT
    return 0
  fi
  read -r -a keep <"$PIB_CONF/keep"
  # Grouped by paths and tags, not by host: a rebuilt VM (a new hostname) continues the same
  # series, so the old host's snapshots are pruned too. The tags make two series: the scheduled
  # backups (backupKeep's rules) and the pre-upgrade ones (the newest few).
  restic forget --tag portsip-im --group-by paths,tags --keep-tag pre-upgrade "${keep[@]}" \
    >/dev/null 2>"$err" || pib_fail "$snap" "restic forget failed: $(pib_why "$err")"
  restic forget --tag portsip-im,pre-upgrade --group-by paths,tags \
    --keep-last "$PIB_KEEP_PRE_UPGRADE" --prune >/dev/null 2>"$err" ||
    pib_fail "$snap" "restic forget --prune failed: $(pib_why "$err")"
  pib_say "retention applied: ${keep[*]}; the newest $PIB_KEEP_PRE_UPGRADE pre-upgrade snapshots kept"
  restic check --read-data-subset=5% >/dev/null 2>"$err" ||
    pib_fail "$snap" "restic check failed: $(pib_why "$err")"
  pib_say "repository checked (structure and 5% of the data)"
  pib_record ok "$snap" "${bytes:-0}" "$((SECONDS - PIB_T0))" "backup, retention and check done"
  trap - EXIT
}

# Restore a snapshot into the data path. It is first restored beside the live data (so a snapshot
# that cannot be read changes nothing), then swapped in with IM stopped. Nothing live is deleted:
# what the snapshot replaces is moved aside on the same file system, into
# $PIB_DATA/.portsip-im-before-restore-<time>, for the operator to delete once satisfied.
# Top-level directories are emptied and refilled rather than replaced, so bind mounts of them
# (storagePath) keep working. A swap that fails halfway leaves IM stopped, never started on
# half-swapped data.
pib_restore() {
  local snap="${1:-latest}" err src live name staged aside stats need free
  pib_init
  pib_env
  pib_lock
  PIB_T0=$SECONDS PIB_RUN=restore PIB_RECORDED=1 PIB_SWAPPING=""
  err="$PIB_STATE/restic.err"
  pib_require_data
  rm -rf "$PIB_STAGE"
  # Whatever fails, the staged copy goes (it may be as large as the data); IM is started again
  # unless the swap had begun.
  trap pib_restore_exit EXIT
  # The snapshot is staged beside the live data, on the same file system: it must fit there next
  # to it (with a little room for the file system's own blocks), or the disk fills up under IM.
  stats="$(restic stats "$snap" --tag portsip-im --path "$PIB_DATA" --mode restore-size --json \
    2>"$err")" || pib_die "restic stats $snap failed: $(pib_why "$err")"
  [[ "$stats" == *'"snapshots_count":1'* ]] || pib_die "no snapshot $snap of $PIB_DATA in the repository"
  need="$(sed -n 's/.*"total_size":\([0-9]*\).*/\1/p' <<<"$stats")"
  need=$((${need:-0} + ${need:-0} / 50 + 16 * 1024 * 1024))
  free="$(df -B1 --output=avail "$PIB_DATA" | tail -n 1 | tr -d ' ')"
  [ "$need" -le "$free" ] || pib_die "snapshot $snap needs $((need / 1048576)) MiB free in $PIB_DATA to be staged, and $((free / 1048576)) MiB are: free some space or grow the data disk (nothing was changed)"
  restic restore "$snap" --tag portsip-im --path "$PIB_DATA" --target "$PIB_STAGE" >/dev/null \
    2>"$err" || pib_die "restic restore $snap failed: $(pib_why "$err")"
  src="$PIB_STAGE$PIB_DATA"
  [ -d "$src" ] || pib_die "snapshot $snap holds no $PIB_DATA"
  aside="$PIB_DATA/$PIB_ASIDE$(date -u +%Y%m%dT%H%M%SZ)"
  pib_stop_im
  PIB_SWAPPING="$aside"
  mkdir -m 700 "$aside"
  shopt -s dotglob nullglob
  for live in "$PIB_DATA"/*; do
    name="${live##*/}"
    # The restore's own staging area, earlier set-asides and ext4's lost+found stay as they are.
    case "$name" in "${PIB_STAGE##*/}" | "$PIB_ASIDE"* | lost+found) continue ;; esac
    if [ -d "$live" ] && [ ! -L "$live" ] && [ -d "$src/$name" ] && [ ! -L "$src/$name" ]; then
      mkdir -p "$aside/$name"
      for staged in "$live"/*; do mv "$staged" "$aside/$name/"; done
      for staged in "$src/$name"/*; do mv "$staged" "$live/"; done
      chown --reference="$src/$name" "$live"
      chmod --reference="$src/$name" "$live"
    else
      mv "$live" "$aside/"
    fi
  done
  for staged in "$src"/*; do
    [ -e "$PIB_DATA/${staged##*/}" ] || mv "$staged" "$PIB_DATA/"
  done
  shopt -u dotglob nullglob
  rm -rf "$PIB_STAGE"
  PIB_SWAPPING=""
  trap - EXIT
  pib_start_im
  pib_say "restored snapshot $snap into $PIB_DATA in $((SECONDS - PIB_T0)) s; what it replaced is in $aside (delete it once satisfied)"
}

# The exit trap of a restore that failed: the staging area is removed; IM is started again, unless
# the swap had begun (never started on half-swapped data).
pib_restore_exit() {
  local rc=$?
  rm -rf "$PIB_STAGE"
  if [ -n "${PIB_SWAPPING:-}" ]; then
    pib_say "the swap stopped halfway (exit $rc): IM is left stopped; what was moved aside is in $PIB_SWAPPING"
  else
    pib_start_im
  fi
}

# pib_hold: hold the backup lock until stdin closes. pbx01 holds it over SSH while an im.sh verb
# runs (vendor.sh), so the timer's backup never stops the containers under an upgrade, a run or a
# stop; a dropped connection ends the hold, so a lost pbx01 cannot block backups for ever.
pib_hold() {
  pib_init
  pib_lock
  pib_say "held: backups wait until this im.sh verb is done"
  cat >/dev/null || true
}

pib_main() {
  case "${1:-backup}" in
    backup) pib_backup "${2:-}" ;;
    hold) pib_hold ;;
    restore) pib_restore "${2:-latest}" ;;
    snapshots)
      pib_init
      pib_env
      restic snapshots --tag portsip-im --path "$PIB_DATA"
      ;;
    *) pib_die "usage: portsip-im-backup backup | restore [SNAPSHOT] | snapshots | hold" ;;
  esac
}
