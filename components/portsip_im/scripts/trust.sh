# shellcheck shell=bash
# needs: lib.sh
# trust: guide step 4, the IM host's side, as root. Authorizes pbx01's key for the pbx user (what
# ssh-copy-id does in the guide), or removes exactly that key again.
: "${ACTION:=add}" "${PBX_USER:=pbx}" "${PUBKEY:?}"
home="$(getent passwd "$PBX_USER" | cut -d: -f6)" || home=""
ak="$home/.ssh/authorized_keys"
# Present when this program authorized the key (destroy removes only that).
owned="/var/lib/portsip-im/authorized-$(printf '%s' "$PUBKEY" | sha256sum | cut -c1-16)"

if [ "$ACTION" = remove ]; then
  if [ -z "$home" ]; then
    # A lost IM host rebuilt blank: the key went with the old host (docs/backups.md).
    say "trust: no user $PBX_USER on the IM host (a rebuilt host?); nothing to remove"
  elif [ ! -f "$owned" ]; then
    say "trust: pbx01's key was not authorized by this program; kept"
  elif [ -f "$ak" ] && grep -qxF "$PUBKEY" "$ak"; then
    grep -vxF "$PUBKEY" "$ak" >"$ak.tmp" || true
    cat "$ak.tmp" >"$ak"
    rm -f "$ak.tmp" "$owned"
    say "trust: removed pbx01's key from $PBX_USER's authorized_keys"
  else
    rm -f "$owned"
    say "trust: pbx01's key not authorized; nothing to remove"
  fi
  exit 0
fi

[ -n "$home" ] || die "user $PBX_USER does not exist on the IM host (the prepare step creates it)"
install -d -m 700 -o "$PBX_USER" -g "$PBX_USER" "$home/.ssh"
if [ -f "$ak" ] && grep -qxF "$PUBKEY" "$ak"; then
  say "trust: pbx01's key already authorized for $PBX_USER"
else
  printf '%s\n' "$PUBKEY" >>"$ak"
  mkdir -p "$(dirname "$owned")"
  touch "$owned"
  say "trust: authorized pbx01's key for $PBX_USER"
fi
chown "$PBX_USER:$PBX_USER" "$ak"
chmod 600 "$ak"
