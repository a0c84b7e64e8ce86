# shellcheck shell=bash
# needs: lib.sh backup-lib.sh
# backup: on the IM host, as root. Installs restic (the distribution's package), writes the
# repository's settings root-only from stdin, initialises the repository when it has none, and
# installs the runner (backup-lib.sh) with a systemd service and timer that back up the IM data
# on SCHEDULE. It takes no backup itself: on a rebuilt host that would put an empty snapshot
# first, before a restore of "latest". ACTION=remove (destroy) stops the timer; the repository,
# its snapshots and the settings stay (the data is the one thing never deleted here).
# APPEND_ONLY=1 (backupAppendOnly): the repository refuses deletes, so the runner never forgets or
# prunes (no KEEP); retention is the repository owner's, from a trusted machine.
: "${ACTION:=install}" "${REPOSITORY:?}" "${SCHEDULE:=daily}" "${APPEND_ONLY:=0}"
: "${DATA_PATH:=/var/lib/portsip}"
case "$APPEND_ONLY" in
  0) : "${KEEP:?}" ;;
  1) KEEP="" ;;
  *) die "APPEND_ONLY must be 0 or 1, not '$APPEND_ONLY'" ;;
esac
BACKUP_PASSWORD="" BACKUP_ENV=""
read_secrets

[ "$(id -u)" = 0 ] || die "backup must run as root (through sudo)"
conf=/etc/portsip-im-backup
runner=/usr/local/sbin/portsip-im-backup
unit=/etc/systemd/system/portsip-im-backup

if [ "$ACTION" = remove ]; then
  if systemctl is-enabled -q portsip-im-backup.timer 2>/dev/null; then
    systemctl disable --now portsip-im-backup.timer >/dev/null 2>&1
    say "backup: timer stopped; the repository, its snapshots and $conf are kept"
  else
    say "backup: no timer enabled; nothing to remove"
  fi
  exit 0
fi

[ -n "$BACKUP_PASSWORD" ] || die "no repository password on stdin (config {{backup.password}})"
if command -v systemd-analyze >/dev/null 2>&1; then
  systemd-analyze calendar "$SCHEDULE" >/dev/null 2>&1 ||
    die "{{backup.schedule}} '$SCHEDULE' is not a calendar expression systemd accepts (systemd-analyze calendar)"
fi

if command -v restic >/dev/null 2>&1; then
  say "restic: $(restic version | cut -d' ' -f1-2) present"
else
  # The package lists of an image can be stale (or absent): install from fresh ones.
  apt_get "restic: apt-get update" update
  apt_get "restic: apt-get install" install restic
  say "restic: installed $(restic version | cut -d' ' -f1-2)"
fi

# put FILE MODE: stdin into FILE when it differs; says which settings changed, never their values.
put() {
  local file="$1" mode="$2" tmp="$1.tmp"
  cat >"$tmp"
  chmod "$mode" "$tmp"
  if cmp -s "$tmp" "$file"; then
    rm -f "$tmp"
  else
    mv "$tmp" "$file"
    say "backup: wrote $file"
  fi
}
install -d -m 700 "$conf"
if [ "$APPEND_ONLY" = 1 ]; then
  # The runner reads this marker: no forget, no prune from this host.
  printf 'append-only\n' | put "$conf/append-only" 600
  if [ -e "$conf/keep" ]; then
    rm -f "$conf/keep"
    say "backup: removed $conf/keep (append-only: this host applies no retention)"
  fi
else
  if [ -e "$conf/append-only" ]; then
    rm -f "$conf/append-only"
    say "backup: removed $conf/append-only (retention $KEEP applies from this host again)"
  fi
  printf '%s\n' "$KEEP" | put "$conf/keep" 600
fi
printf '%s\n' "$DATA_PATH" | put "$conf/data-path" 600

{
  printf '#!/bin/bash\n# Written by portsip-im (components/portsip_im/scripts/backup-lib.sh); do not edit.\n'
  printf 'set -euo pipefail\numask 077\n'
  declare -f pib_init pib_say pib_die pib_env pib_lock pib_stop_im pib_start_im pib_record \
    pib_on_exit pib_require_data pib_why pib_fail pib_backup pib_restore pib_restore_exit pib_hold \
    pib_main
  printf 'pib_main "$@"\n'
} | put "$runner" 700

# The repository's settings are staged and tried before they replace the ones in use: a wrong new
# password, repository or credential fails this step and leaves the timer with settings that work.
stage="$conf/.staged"
rm -rf "$stage"
install -d -m 700 "$stage"
trap 'rm -rf "$stage"' EXIT
printf '%s\n' "$REPOSITORY" >"$stage/repository"
printf '%s' "$BACKUP_PASSWORD" >"$stage/password"
printf '%s' "$BACKUP_ENV" >"$stage/env"
changed=()
if [ -e "$conf/repository" ]; then
  for pair in "repository:{{=backup.repository}}" "password:{{=backup.password}}" \
    "env:{{=backup.env}}"; do
    cmp -s "$stage/${pair%%:*}" "$conf/${pair%%:*}" || changed+=("${pair#*:}")
  done
fi

pib_init
PIB_CONF="$stage" pib_env
# Only a repository that is not there is initialised: any other failure (a repository path not
# mounted, wrong credentials, no network) stops here with restic's reason, rather than creating an
# empty repository somewhere else. `restic cat config` needs the password: it proves all three.
if err="$(restic cat config 2>&1 >/dev/null)"; then
  say "backup: repository already initialised"
elif grep -qiE 'Is there a repository at the following location|repository does not exist|config file.*(not exist|no such file)' <<<"$err"; then
  err="$(restic init 2>&1 >/dev/null)" || die "restic init failed: $(tail -n 1 <<<"$err")"
  say "backup: repository initialised"
else
  why="$(grep -m 1 -E 'Fatal|[Ee]rror' <<<"$err" || head -n 1 <<<"$err")"
  if [ "${#changed[@]}" = 0 ]; then
    # A first install, or settings that worked before: the repository itself is the problem.
    die "cannot open the backup repository ({{=backup.repository}}): $why"
  fi
  hint=""
  if [[ "$why" == *"wrong password"* && " ${changed[*]} " == *" {{=backup.password}} "* ]]; then
    hint="; to change the password, add the new one to the repository first (restic key add)"
  fi
  die "cannot open the backup repository with the new ${changed[*]}: $why$hint. The IM host keeps its previous backup settings"
fi
# Swapped under the runner's lock: a timer run never pairs the new repository with the old password.
install -d -m 755 /var/lib/portsip-im-backup
exec 8>/var/lib/portsip-im-backup/lock
flock -w 3600 8 || die "a backup, restore or im.sh verb has held the backup lock for an hour; try again"
for f in repository password env; do
  if cmp -s "$stage/$f" "$conf/$f"; then
    rm -f "$stage/$f"
  else
    mv "$stage/$f" "$conf/$f"
    say "backup: wrote $conf/$f"
  fi
done
rm -rf "$stage"
flock -u 8
trap - EXIT

put "$unit.service" 644 <<UNIT
[Unit]
Description=Back up the PortSIP IM data with restic (portsip-im)
After=network-online.target local-fs.target
Wants=network-online.target
RequiresMountsFor=$DATA_PATH
[Service]
Type=oneshot
ExecStart=$runner backup
UNIT
put "$unit.timer" 644 <<UNIT
[Unit]
Description=Back up the PortSIP IM data on schedule (portsip-im)
[Timer]
OnCalendar=$SCHEDULE
Persistent=true
[Install]
WantedBy=timers.target
UNIT
systemctl daemon-reload
if systemctl is-enabled -q portsip-im-backup.timer 2>/dev/null; then
  systemctl restart portsip-im-backup.timer
else
  systemctl enable --now portsip-im-backup.timer >/dev/null 2>&1
  say "backup: timer enabled"
fi
if [ "$APPEND_ONLY" = 1 ]; then
  kept="append-only: nothing is forgotten or pruned from this host, retention is the repository owner's"
else
  kept="kept $KEEP"
fi
say "backup: $DATA_PATH is backed up on '$SCHEDULE', $kept; next: $(systemctl show -p NextElapseUSecRealtime --value portsip-im-backup.timer 2>/dev/null || echo unknown)"
