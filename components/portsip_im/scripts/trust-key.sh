# shellcheck shell=bash
# needs: lib.sh
# trust-key: guide step 4, pbx01's side, as the pbx user. Makes sure pbx01 has ~/.ssh/id_rsa and
# pins the IM host's key in ~/.ssh/known_hosts (no blind "yes"); prints the public key on stdout
# for the IM side to authorize.
: "${ACTION:=add}" "${IM_IP:?}" "${IM_HOST_KEY:=}"
kh="$HOME/.ssh/known_hosts"
owned="$STATE_DIR/pinned-$IM_IP"  # present when this program added the entry (destroy removes only that)
mkdir -p "$HOME/.ssh"
chmod 700 "$HOME/.ssh"

if [ "$ACTION" = remove ]; then
  if [ ! -f "$owned" ]; then
    say "trust: pbx01's known_hosts entry for $IM_IP was not added by this program; kept"
  elif [ -f "$kh" ] && ssh-keygen -F "$IM_IP" -f "$kh" >/dev/null; then
    ssh-keygen -q -R "$IM_IP" -f "$kh" >/dev/null 2>&1
    rm -f "$kh.old" "$owned"
    say "trust: removed the IM host $IM_IP from pbx01's known_hosts"
  else
    rm -f "$owned"
    say "trust: $IM_IP not in pbx01's known_hosts; nothing to remove"
  fi
  exit 0
fi

[ -n "$IM_HOST_KEY" ] || die "no IM host key to pin (config {{host.*.host_key}})"
if [ ! -f "$HOME/.ssh/id_rsa" ]; then
  ssh-keygen -q -t rsa -b 4096 -N "" -C "$(id -un)@$(hostname) portsip-im" -f "$HOME/.ssh/id_rsa"
  say "trust: generated pbx01's ~/.ssh/id_rsa" >&2
fi
touch "$kh"
current="$({ ssh-keygen -F "$IM_IP" -f "$kh" 2>/dev/null || true; } | awk '!/^#/ {print $2" "$3}')"
# Exactly the pinned key and nothing beside it: an old VM's keys (a rebuild at the same address)
# would otherwise stay trusted for that address. Keys OpenSSH learnt at a login (UpdateHostKeys,
# e.g. by im.sh's own ssh) go too: the pinned one is all pbx01 needs.
others() { grep -vxF "$IM_HOST_KEY" <<<"$current" | awk '{print $1}' | paste -sd, -; }
if [ "$current" = "$IM_HOST_KEY" ]; then
  say "trust: IM host key for $IM_IP already pinned" >&2
elif grep -qxF "$IM_HOST_KEY" <<<"$current"; then
  removed="$(others)"
  ssh-keygen -q -R "$IM_IP" -f "$kh" >/dev/null 2>&1
  printf '%s %s\n' "$IM_IP" "$IM_HOST_KEY" >>"$kh"
  rm -f "$kh.old"
  say "trust: IM host key for $IM_IP already pinned; removed the other key(s) pbx01 held for it ($removed)" >&2
else
  if [ -n "$current" ]; then
    removed="$(others)"
    ssh-keygen -q -R "$IM_IP" -f "$kh" >/dev/null 2>&1
    say "trust: replaced the key(s) pbx01 trusted for $IM_IP ($removed) with the pinned one" >&2
  fi
  printf '%s %s\n' "$IM_IP" "$IM_HOST_KEY" >>"$kh"
  rm -f "$kh.old"
  touch "$owned"
  say "trust: pinned the IM host key for $IM_IP in pbx01's known_hosts" >&2
fi
chmod 600 "$kh"
cat "$HOME/.ssh/id_rsa.pub"
