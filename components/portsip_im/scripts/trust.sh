# shellcheck shell=bash
# needs: lib.sh
# trust: guide step 4, the IM host's side, as root. Authorizes pbx01's key for the pbx user (what
# ssh-copy-id does in the guide), restricted to logins from pbx01's private address with no
# forwarding, and turns password logins off for that user; or removes exactly both again.
: "${ACTION:=add}" "${PBX_USER:=pbx}" "${PUBKEY:?}" "${PBX01_IP:=}" "${VIA_PBX01:=0}"
home="$(getent passwd "$PBX_USER" | cut -d: -f6)" || home=""
ak="$home/.ssh/authorized_keys"
dropin="/etc/ssh/sshd_config.d/00-portsip-im-$PBX_USER.conf"

# The trust-key step's output, checked as exactly one public key line (type and base64, an
# optional comment): anything else (a second line, options) is refused before it is written.
key_re='^(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp256|ecdsa-sha2-nistp384|ecdsa-sha2-nistp521) ([A-Za-z0-9+/]+={0,3})( [^[:cntrl:]]*)?$'
[ "$(printf '%s\n' "$PUBKEY" | wc -l)" = 1 ] && [[ "$PUBKEY" =~ $key_re ]] \
  || die "pbx01's public key (the trust-key step's output) is not exactly one OpenSSH public key line"
key="${BASH_REMATCH[1]} ${BASH_REMATCH[2]}"
# Present when this program authorized the key (destroy removes only that).
owned="/var/lib/portsip-im/authorized-$(printf '%s' "$PUBKEY" | sha256sum | cut -c1-16)"
line="no-port-forwarding,no-agent-forwarding,no-X11-forwarding $key"
# from=: the address pbx01's logins really come from. Reached through pbx01 (the default), this
# session is pbx01's own connection to this host's private address, the one im.sh's will take:
# its client address is that source, as this host sees it (NAT, a second interface and all). It
# is read from the session's environment (sudo drops SSH_CONNECTION: the nearest ancestor that
# has it). pbx01PrivateIp, when set, must agree; never a guess from pbx01Host.
seen=""
if [ "$VIA_PBX01" = 1 ]; then
  pid=$$
  while [ -z "$seen" ] && [ "${pid:-1}" -gt 1 ]; do
    seen="$( { tr '\0' '\n' <"/proc/$pid/environ"; } 2>/dev/null | sed -n 's/^SSH_CONNECTION=\([^ ]*\) .*/\1/p' | head -n 1 || true)"
    # The parent's pid: the field after the command name, which may hold spaces and parentheses.
    pid="$( { sed 's/.*) [A-Za-z] //' "/proc/$pid/stat"; } 2>/dev/null | cut -d' ' -f1 || true)"
  done
fi
for ip in "$seen" "$PBX01_IP"; do
  [ -z "$ip" ] || [[ "$ip" =~ ^[0-9A-Fa-f.:]+$ ]] || die "pbx01's address $ip is not an IP address"
done
if [ -n "$seen" ] && [ -n "$PBX01_IP" ] && [ "$seen" != "$PBX01_IP" ]; then
  die "pbx01 reaches this host from $seen, not from {{pbx.pbx01_private_ip}} $PBX01_IP: set {{pbx.pbx01_private_ip}} to $seen (nothing changed)"
fi
from="${seen:-$PBX01_IP}"
[ -z "$from" ] || line="from=\"$from\",$line"

# Lines of authorized_keys that hold pbx01's key (type and base64 as whole fields), whatever
# options precede it: an older version of this program wrote the bare key.
ours() { awk -v k="$key" '{ n = split(k, f, " "); for (i = 1; i < NF; i++) if ($i == f[1] && $(i + 1) == f[2]) { print; next } }' "$ak"; }

sshd_check() { sshd -t && [ "$(sshd -T -C "user=$PBX_USER,host=pbx01,addr=${from:-127.0.0.1}" | awk '$1 == "passwordauthentication" || $1 == "kbdinteractiveauthentication" {print $2}' | sort -u)" = no ]; }
# The inodes of the TCP sockets sshd listens on itself, sorted; none where systemd holds them too
# (ssh.socket) or ss cannot tell.
sshd_listeners() {
  { ss -Hltnpe 2>/dev/null || true; } \
    | awk '/\("sshd",/ && !/\("systemd",/ { for (i = 1; i <= NF; i++) if ($i ~ /^ino:[0-9]+$/) print substr($i, 5) }' \
    | sort
}
sshd_reload() {
  # Where ssh.socket starts sshd on demand (Ubuntu 24.04) and it has not started yet, the first
  # login will read the files anyway.
  local unit old now i deadline
  for unit in ssh.service sshd.service; do
    systemctl is-active -q "$unit" 2>/dev/null || continue
    old="$(sshd_listeners)"
    systemctl reload "$unit"
    # sshd re-executes itself on SIGHUP and listens on nothing for a moment, while systemctl
    # returns at once: the next step's dial (never retried) would be refused. Its new self binds
    # new sockets, so it listens again once none of the old ones is left. Where systemd holds the
    # socket, a dial waits in its queue: nothing to wait for.
    if ! command -v ss >/dev/null; then
      say "trust: reloaded $unit (no ss on this host to see sshd listen again)"
      return 0
    elif [ -z "$old" ]; then
      say "trust: reloaded $unit (no listening socket of sshd's own: systemd's, or ss does not say)"
      return 0
    fi
    # 10 s at most (and 100 looks): what a re-exec takes is a fraction of one. As many new sockets
    # as old ones: sshd binds its addresses one by one.
    deadline=$((SECONDS + 10))
    for ((i = 0; i < 100 && SECONDS < deadline; i++)); do
      now="$(sshd_listeners)"
      if [ -n "$now" ] && [ "$(wc -l <<<"$now")" -ge "$(wc -l <<<"$old")" ] \
        && ! grep -qxF -f <(printf '%s\n' "$old") <<<"$now"; then
        say "trust: reloaded $unit; sshd listens again"
        return 0
      fi
      sleep 0.1
    done
    # The reload is done either way: a stuck sshd fails the next step's dial with its own reason,
    # and a check that cannot see sshd's new sockets here must not fail an up (or a destroy).
    warn "sshd did not listen again in about 10 s after reloading $unit (systemctl status $unit): a login to this host right now may be refused"
    return 0
  done
}

# ak_replace FILE: FILE becomes the pbx user's authorized_keys in one rename (a full disk or a
# cut session never leaves it half written).
ak_replace() {
  chown "$PBX_USER:$PBX_USER" "$1"
  chmod 600 "$1"
  mv -f "$1" "$ak"
}

if [ "$ACTION" = remove ]; then
  if [ -f "$dropin" ]; then
    rm -f "$dropin"
    sshd -t || warn "sshd -t fails without $dropin: check the host's sshd configuration"
    sshd_reload
    say "trust: removed $dropin (password logins for $PBX_USER as the host had them)"
  fi
  if [ -z "$home" ]; then
    # A lost IM host rebuilt blank: the key went with the old host (docs/backups.md).
    say "trust: no user $PBX_USER on the IM host (a rebuilt host?); nothing to remove"
  elif [ ! -f "$owned" ]; then
    say "trust: pbx01's key was not authorized by this program; kept"
  elif [ -f "$ak" ] && [ -n "$(ours)" ]; then
    grep -vxF -f <(ours) "$ak" >"$ak.tmp" || true
    ak_replace "$ak.tmp"
    rm -f "$owned"
    say "trust: removed pbx01's key from $PBX_USER's authorized_keys"
  else
    rm -f "$owned"
    say "trust: pbx01's key not authorized; nothing to remove"
  fi
  exit 0
fi

[ -n "$home" ] || die "user $PBX_USER does not exist on the IM host (the prepare step creates it)"
install -d -m 700 -o "$PBX_USER" -g "$PBX_USER" "$home/.ssh"
touch "$ak"
found="$(ours)"
if [ "$found" = "$line" ]; then
  say "trust: pbx01's key already authorized for $PBX_USER"
elif [ -n "$found" ] && [ ! -f "$owned" ]; then
  # Authorized by hand (the guide's ssh-copy-id) before this program: the operator's line, kept.
  say "trust: pbx01's key already authorized for $PBX_USER (by hand; kept as it is)"
  warn "pbx01's key is authorized for $PBX_USER without this program's restrictions (from=, no forwarding); remove that line from $ak and run pulumi up to have them"
else
  # Every line with pbx01's key goes (an unrestricted one from an older version, a copy), then
  # the one line this program wants.
  { [ -z "$found" ] || grep -vxF -f <(printf '%s\n' "$found") "$ak" || true; } >"$ak.tmp"
  printf '%s\n' "$line" >>"$ak.tmp"
  ak_replace "$ak.tmp"
  mkdir -p "$(dirname "$owned")"
  touch "$owned"
  if [ -n "$found" ]; then
    say "trust: pbx01's key for $PBX_USER now restricted (${from:+from $from only, }no forwarding)"
  else
    say "trust: authorized pbx01's key for $PBX_USER (${from:+from $from only, }no forwarding)"
  fi
  [ -n "$from" ] || warn "pbx01's address is not known (not reached through pbx01, and no {{pbx.pbx01_private_ip}}): its key is authorized from any address"
fi
chown "$PBX_USER:$PBX_USER" "$ak"
chmod 600 "$ak"

# pbx logs in with keys only: its password (the cluster's, as the guide asks) opens sudo, never
# an SSH session. The operator's own login is untouched (the block matches pbx alone).
want="$(printf '%s\n' \
  "# portsip-im: $PBX_USER logs in with its key only (pbx01's); removed by pulumi destroy" \
  "Match User $PBX_USER" \
  "	PasswordAuthentication no" \
  "	KbdInteractiveAuthentication no" \
  "Match all")"
if [ -f "$dropin" ] && [ "$(cat "$dropin")" = "$want" ] && sshd_check; then
  say "trust: password logins for $PBX_USER already off ($dropin)"
else
  printf '%s\n' "$want" >"$dropin.new"
  chmod 644 "$dropin.new"
  old=""
  [ ! -f "$dropin" ] || old="$(cat "$dropin")"
  mv -f "$dropin.new" "$dropin"
  if ! sshd_check; then
    if [ -n "$old" ]; then printf '%s\n' "$old" >"$dropin"; else rm -f "$dropin"; fi
    die "sshd refuses $dropin, or password logins for $PBX_USER stay on after it (sshd -T): nothing changed; check the host's sshd configuration"
  fi
  sshd_reload
  say "trust: password and keyboard-interactive logins off for $PBX_USER ($dropin)"
fi
