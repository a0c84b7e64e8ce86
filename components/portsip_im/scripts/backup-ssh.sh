# shellcheck shell=bash
# needs: lib.sh
# backup-ssh: on the IM host, as root, before the backup step, for an `sftp:` repository with
# backupSshKey set. restic reaches an SFTP server through root's `ssh`; this gives that ssh the
# stack's key and pins the server's host key, for that server and for root only:
#   /etc/portsip-im-backup/ssh/id           the private key (from stdin, 0600)
#   /etc/portsip-im-backup/ssh/known_hosts  the pinned host key (and no global known_hosts)
#   /etc/ssh/ssh_config.d/portsip-im-backup.conf
#                                            `Match localuser root host SFTP_HOST`: that key,
#                                            that known_hosts, no password prompt
# A file drop-in rather than restic's `-o sftp.command`: the runner, the timer and the restore
# then reach the server exactly as before, and `ssh -G HOST` shows what applies. A new key or pin
# is staged and proven by one SFTP login before it replaces the one in use, so a refused key or a
# wrong host key fails here, naming the config key, and changes nothing.
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

[ -n "$BACKUP_SSH_KEY" ] || die "no SSH key on stdin (config {{backup.ssh_key}})"
[[ "$HOST_KEY" =~ ^[a-z0-9@.-]+\ [A-Za-z0-9+/=]+$ ]] ||
  die "{{backup.ssh_host_key}} '$HOST_KEY' is not 'TYPE BASE64' (ssh-keyscan -t ed25519 $SFTP_HOST)"
grep -qsE '^[[:space:]]*Include[[:space:]]+/etc/ssh/ssh_config\.d/\*\.conf' /etc/ssh/ssh_config ||
  die "/etc/ssh/ssh_config does not include /etc/ssh/ssh_config.d/*.conf (Debian's and Ubuntu's default): restic's ssh would not see the backup key"

# bssh_put FILE MODE: stdin into FILE when it differs, saying which file changed (never its content).
# (backup.sh's `put`, copied: shared through lib.sh it would change every step every stack sends.)
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

# The new key and pin are staged and proven first: a wrong key, host key or server fails this step
# and leaves the settings in use as they were (the timer keeps backing up with them).
stage="$dir/.staged"
rm -rf "$stage"
install -d -m 700 /etc/portsip-im-backup "$dir" "$stage"
trap 'rm -rf "$stage"' EXIT
printf '%s\n' "$BACKUP_SSH_KEY" >"$stage/id"
chmod 600 "$stage/id"
# A key that needs a passphrase would make every timer run fail (BatchMode: no prompt).
ssh-keygen -y -P '' -f "$stage/id" >/dev/null 2>&1 ||
  die "{{backup.ssh_key}} is not an SSH private key usable without a passphrase"
entry="$SFTP_HOST"
[ "$SFTP_PORT" = 22 ] || entry="[$SFTP_HOST]:$SFTP_PORT"
printf '%s %s\n' "$entry" "$HOST_KEY" >"$stage/known_hosts"

# The proof reads no config file (-F /dev/null): neither root's ~/.ssh/config nor the drop-in with
# the key in use now, which would be offered too and could pass for a wrong new one.
pinned=(-F /dev/null -o IdentityFile="$stage/id" -o IdentitiesOnly=yes -o UserKnownHostsFile="$stage/known_hosts"
  -o GlobalKnownHostsFile=/dev/null -o StrictHostKeyChecking=yes -o BatchMode=yes
  -o ConnectTimeout=30 -p "$SFTP_PORT")
[ -z "$SFTP_USER" ] || pinned+=(-l "$SFTP_USER")
# One SFTP session, as restic opens it: proves the key and the pinned host key before any backup.
if ! err="$(ssh "${pinned[@]}" -s "$SFTP_HOST" sftp </dev/null 2>&1 >/dev/null)"; then
  why="$(grep -m 1 -E 'Host key verification failed|No [A-Z0-9-]+ host key is known|IDENTIFICATION HAS CHANGED' <<<"$err" ||
    grep -m 1 -iE 'denied|refused|timed out|resolve|unreachable|no route' <<<"$err" || head -n 1 <<<"$err")"
  if [[ "$why" == *"ost key"* || "$why" == *"IDENTIFICATION HAS CHANGED"* ]]; then
    die "the SFTP server $SFTP_HOST:$SFTP_PORT does not show the pinned key ({{=backup.ssh_host_key}}): $why"
  elif [[ "$why" == *denied* ]]; then
    die "the SFTP server $SFTP_HOST:$SFTP_PORT refused the key ({{=backup.ssh_key}}) for ${SFTP_USER:-root}: $why"
  fi
  die "cannot reach the SFTP server $SFTP_HOST:$SFTP_PORT ({{=backup.repository}}): $why"
fi

bssh_put "$dir/id" 600 <"$stage/id"
bssh_put "$dir/known_hosts" 600 <"$stage/known_hosts"
rm -rf "$stage"
trap - EXIT
bssh_put "$dropin" 644 <<CONF
# Written by portsip-im (the backup-ssh step); do not edit. restic's SFTP logins as root.
Match localuser root host $SFTP_HOST
  IdentityFile $dir/id
  IdentitiesOnly yes
  UserKnownHostsFile $dir/known_hosts
  GlobalKnownHostsFile /dev/null
  StrictHostKeyChecking yes
  BatchMode yes
  ConnectTimeout 30
  ServerAliveInterval 30
CONF
say "backup-ssh: root logs in to ${SFTP_USER:+$SFTP_USER@}$SFTP_HOST:$SFTP_PORT over SFTP with the stack's key; its host key is pinned"
