# shellcheck shell=bash
# needs: lib.sh
# backup-ssh: on the IM host, as root, before the backup step, for an `sftp:` repository with
# backupSshKey set. restic reaches an SFTP server through root's `ssh`; this gives that ssh the
# stack's key and pins the server's host key, for that server and for root only:
#   /etc/portsip-im-backup/ssh/id           the private key (from stdin, 0600)
#   /etc/portsip-im-backup/ssh/known_hosts  the pinned host key (nothing else is trusted)
#   /etc/ssh/ssh_config.d/portsip-im-backup.conf
#                                            `Match localuser root host SFTP_HOST`: that key,
#                                            that known_hosts, no password prompt
# A file drop-in rather than restic's `-o sftp.command`: the runner, the timer and the restore
# then reach the server exactly as before, and `ssh -G HOST` shows what applies. Then it logs in
# once over SFTP, so a refused key or a wrong host key fails here, naming the config key.
# ACTION=remove (destroy, or backupSshKey unset) removes all three.
: "${ACTION:=install}" "${SFTP_HOST:?}" "${SFTP_PORT:=22}" "${SFTP_USER:=}" "${HOST_KEY:=}"
BACKUP_SSH_KEY=""
read_secrets

[ "$(id -u)" = 0 ] || die "backup-ssh must run as root (through sudo)"
dir=/etc/portsip-im-backup/ssh
dropin=/etc/ssh/ssh_config.d/portsip-im-backup.conf

if [ "$ACTION" = remove ]; then
  if [ -e "$dropin" ] || [ -e "$dir" ]; then
    rm -rf "$dropin" "$dir"
    say "backup-ssh: removed the SFTP key, its pinned host key and $dropin"
  else
    say "backup-ssh: no SFTP key installed; nothing to remove"
  fi
  exit 0
fi

[ -n "$BACKUP_SSH_KEY" ] || die "no SSH key on stdin (config backupSshKey)"
[[ "$HOST_KEY" =~ ^[a-z0-9@.-]+\ [A-Za-z0-9+/=]+$ ]] ||
  die "backupSshHostKey '$HOST_KEY' is not 'TYPE BASE64' (ssh-keyscan -t ed25519 $SFTP_HOST)"
grep -qsE '^[[:space:]]*Include[[:space:]]+/etc/ssh/ssh_config\.d/\*\.conf' /etc/ssh/ssh_config ||
  die "/etc/ssh/ssh_config does not include /etc/ssh/ssh_config.d/*.conf (Debian's and Ubuntu's default): restic's ssh would not see the backup key"

# bssh_put FILE MODE: stdin into FILE when it differs, saying which file changed (never its content).
bssh_put() {
  local file="$1" mode="$2" tmp="$1.tmp"
  cat >"$tmp"
  chmod "$mode" "$tmp"
  if cmp -s "$tmp" "$file"; then
    rm -f "$tmp"
  else
    mv "$tmp" "$file"
    say "backup-ssh: wrote $file"
  fi
}

install -d -m 700 /etc/portsip-im-backup "$dir"
printf '%s\n' "$BACKUP_SSH_KEY" | bssh_put "$dir/id" 600
# A key that needs a passphrase would make every timer run hang on a prompt (or fail in BatchMode).
ssh-keygen -y -P '' -f "$dir/id" >/dev/null 2>&1 ||
  die "backupSshKey is not an SSH private key usable without a passphrase"
entry="$SFTP_HOST"
[ "$SFTP_PORT" = 22 ] || entry="[$SFTP_HOST]:$SFTP_PORT"
printf '%s %s\n' "$entry" "$HOST_KEY" | bssh_put "$dir/known_hosts" 600
bssh_put "$dropin" 644 <<CONF
# Written by portsip-im (the backup-ssh step); do not edit. restic's SFTP logins as root.
Match localuser root host $SFTP_HOST
  IdentityFile $dir/id
  IdentitiesOnly yes
  UserKnownHostsFile $dir/known_hosts
  StrictHostKeyChecking yes
  BatchMode yes
  ConnectTimeout 30
  ServerAliveInterval 30
CONF

# One SFTP session, as restic opens it: proves the key and the pinned host key before any backup.
target=(-p "$SFTP_PORT")
[ -z "$SFTP_USER" ] || target+=(-l "$SFTP_USER")
if ! err="$(ssh "${target[@]}" -s "$SFTP_HOST" sftp </dev/null 2>&1 >/dev/null)"; then
  why="$(grep -m 1 -iE 'host key|denied|refused|timed out|resolve|unreachable' <<<"$err" || head -n 1 <<<"$err")"
  if [[ "$why" == *"ost key"* || "$why" == *"IDENTIFICATION HAS CHANGED"* ]]; then
    die "the SFTP server $SFTP_HOST:$SFTP_PORT does not show the pinned key (portsip-im:backupSshHostKey): $why"
  elif [[ "$why" == *denied* ]]; then
    die "the SFTP server $SFTP_HOST:$SFTP_PORT refused the key (portsip-im:backupSshKey) for ${SFTP_USER:-root}: $why"
  fi
  die "cannot reach the SFTP server $SFTP_HOST:$SFTP_PORT (portsip-im:backupRepository): $why"
fi
say "backup-ssh: root logs in to ${SFTP_USER:+$SFTP_USER@}$SFTP_HOST:$SFTP_PORT over SFTP with the stack's key; its host key is pinned"
