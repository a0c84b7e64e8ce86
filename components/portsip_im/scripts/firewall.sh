# shellcheck shell=bash
# needs: lib.sh
# firewall: an existing IM host's own nftables table (hostFirewall), the cloud targets' security
# group mirrored: SSH from pbx01 and ADMIN_CIDRS, the IM service (TCP 8887) from CLIENT_CIDRS,
# every other new inbound connection dropped. Runs on pbx01 as the pbx user and reaches the IM host
# through pbx01's trust (ssh_im, the pinned key) with sudo -n, so that a wrong address cannot lock
# the cluster out: the rules go in with a rollback already scheduled (a systemd timer that deletes
# the table after ROLLBACK s), and the rollback is cancelled, and the rules made to survive a
# reboot, only from a NEW login from pbx01 after they are in force. Only the table
# `inet portsip_im` is ever touched: no one else's rules are flushed. ACTION=remove deletes the
# table, the boot unit, the file and a pending rollback.
: "${ACTION:=add}" "${PBX_USER:=pbx}" "${IM_IP:?}" "${PBX01_IP:=}" "${CLIENT_CIDRS:=}" \
  "${ADMIN_CIDRS:=}" "${ROLLBACK:=60}"

FW_TABLE="inet portsip_im"
FW_FILE=/etc/portsip-im/firewall.nft
FW_UNIT=portsip-im-firewall.service
FW_ROLLBACK=portsip-im-firewall-rollback
IM_PORT=8887

# CIDR... → one `VERSION NETWORK` line each (canonical), or fails naming the first bad one. A
# bare address is a /32 or /128. Run on pbx01 and again on the IM host.
fw_networks() {
  python3 - "$@" <<'PY'
import ipaddress
import sys

for text in sys.argv[1:]:
    try:
        net = ipaddress.ip_network(text, strict=True)
    except ValueError as exc:
        sys.exit(f"{text!r} is not an IP network: {exc}")
    print(net.version, net)
PY
}

# NAME VERSION NETWORKS...: an interval set of the networks of that IP version (maybe none).
fw_set() {
  local name="$1" version="$2" type=ipv4_addr elements="" v net
  shift 2
  [ "$version" = 4 ] || type=ipv6_addr
  while read -r v net; do
    [ "$v" = "$version" ] && elements="${elements:+$elements, }$net"
  done < <(printf '%s\n' "$@" | sed '/^$/d')
  printf '  set %s {\n    type %s; flags interval; auto-merge;\n' "$name" "$type"
  [ -z "$elements" ] || printf '    elements = { %s }\n' "$elements"
  printf '  }\n'
}

# The table, as `nft -f` loads it atomically: created if missing, deleted, defined anew.
fw_rules() {
  local admin client
  admin="$(fw_networks ${PBX01_IP:+"$PBX01_IP"} "${ADMIN_LIST[@]}")" || return 1
  client="$(fw_networks "${CLIENT_LIST[@]}")" || return 1
  cat <<EOF
# portsip-im: the IM host's firewall (hostFirewall), written by the firewall step; pulumi destroy
# removes it. Only this table is the program's; the host's other rules are left as they are.
table $FW_TABLE {}
delete table $FW_TABLE
table $FW_TABLE {
$(fw_set admin4 4 "$admin")
$(fw_set admin6 6 "$admin")
$(fw_set client4 4 "$client")
$(fw_set client6 6 "$client")
  chain input {
    type filter hook input priority filter - 10; policy accept;
    iif lo accept
    ct state established,related accept
    ct state invalid drop
    # ICMP, and ICMPv6 (IPv6 neighbour discovery needs it)
    meta l4proto { icmp, icmpv6 } accept
    # DHCPv6 replies answer a multicast solicit: conntrack sees them as new
    ip6 saddr fe80::/10 udp sport 547 udp dport 546 accept
    tcp dport 22 ip saddr @admin4 accept
    tcp dport 22 ip6 saddr @admin6 accept
    tcp dport $IM_PORT ip saddr @client4 accept
    tcp dport $IM_PORT ip6 saddr @client6 accept
    tcp dport { 22, $IM_PORT } drop
    # as a security group: every other new inbound connection is refused
    drop
  }
  chain forward {
    type filter hook forward priority filter - 10; policy accept;
    # ports a container runtime publishes (DNAT) bypass the input chain: only the IM service's
    ct state new ct status dnat meta l4proto tcp ct original proto-dst $IM_PORT ip saddr @client4 accept
    ct state new ct status dnat meta l4proto tcp ct original proto-dst $IM_PORT ip6 saddr @client6 accept
    ct state new ct status dnat drop
  }
}
EOF
}

# ---- on the IM host, as root (sent by fw_on_im)

# The boot unit loads the file after nftables.service, and again whenever that restarts (PartOf):
# its /etc/nftables.conf usually begins with `flush ruleset`, which would take this table too.
fw_unit_text() {
  printf '%s\n' \
    "# portsip-im: loads the IM host's firewall (table $FW_TABLE) at boot; removed by pulumi destroy" \
    "[Unit]" \
    "Description=portsip-im firewall (table $FW_TABLE from $FW_FILE)" \
    "DefaultDependencies=no" \
    "Wants=network-pre.target" \
    "Before=network-pre.target shutdown.target" \
    "After=nftables.service" \
    "PartOf=nftables.service" \
    "Conflicts=shutdown.target" \
    "" \
    "[Service]" \
    "Type=oneshot" \
    "RemainAfterExit=yes" \
    "ExecStart=$(command -v nft) -f $FW_FILE" \
    "" \
    "[Install]" \
    "WantedBy=sysinit.target"
}

fw_loaded() { nft list table inet portsip_im >/dev/null 2>&1; }

fw_cancel_rollback() {
  local was=1
  if systemctl is-active -q "$FW_ROLLBACK.timer"; then
    systemctl stop "$FW_ROLLBACK.timer"
    was=0
  fi
  systemctl reset-failed "$FW_ROLLBACK.timer" "$FW_ROLLBACK.service" >/dev/null 2>&1 || true
  return "$was"
}

# Phase 1: the rules checked, the rollback scheduled, then the rules loaded.
fw_apply() {
  printf 'session: %s\n' "$FW_THIS_SESSION"  # for the caller (fw_on_im), not shown
  if ! command -v nft >/dev/null; then
    apt_get "installing nftables" install nftables
    say "firewall: installed nftables"
  fi
  # Defence in depth: the networks are checked here again, whatever pbx01 sent.
  fw_networks ${PBX01_IP:+"$PBX01_IP"} "${ADMIN_LIST[@]}" "${CLIENT_LIST[@]}" >/dev/null \
    || die "firewall: a network in the rules is not an IP network; nothing changed"
  mkdir -p "${FW_FILE%/*}"
  printf '%s\n' "$FW_RULES" >"$FW_FILE.new"
  chmod 644 "$FW_FILE.new"
  local out
  if ! out="$(nft -c -f "$FW_FILE.new" 2>&1)"; then
    rm -f "$FW_FILE.new"
    printf '%s\n' "$out" >&2
    die "firewall: nft refuses the rules (above); nothing changed"
  fi
  if [ -f "$FW_FILE" ] && cmp -s "$FW_FILE.new" "$FW_FILE" && fw_loaded \
    && systemctl is-enabled -q "$FW_UNIT" 2>/dev/null; then
    rm -f "$FW_FILE.new"
    say "firewall: table $FW_TABLE already in force as $FW_FILE has it"
    return 0
  fi
  # Not loaded at boot (nor by a restart of nftables.service) until a fresh login proves the
  # rules: a reboot meanwhile comes up open. (Stopping the unit leaves the table as it is.)
  systemctl disable -q --now "$FW_UNIT" >/dev/null 2>&1 || true
  fw_cancel_rollback || true
  # AccuracySec: a timer may otherwise fire up to a minute late (systemd's default accuracy).
  systemd-run --quiet --unit="$FW_ROLLBACK" --on-active="${ROLLBACK}s" \
    --timer-property=AccuracySec=1s \
    --description="portsip-im: undo the firewall unless pbx01 logs in anew" \
    "$(command -v nft)" delete table inet portsip_im
  mv -f "$FW_FILE.new" "$FW_FILE"
  nft -f "$FW_FILE" || die "firewall: nft could not load $FW_FILE (the rollback deletes the table within ${ROLLBACK} s)"
  say "firewall: table $FW_TABLE loaded from $FW_FILE; rolled back in ${ROLLBACK} s unless pbx01 logs in anew"
}

# Phase 2, in a new session: the rollback cancelled, the rules loaded at boot.
fw_confirm() {
  # A session multiplexed over the first one's connection (ControlMaster in pbx01's ssh config)
  # would prove nothing: this one must be a connection of its own.
  [ -n "$FW_THIS_SESSION" ] && [ "$FW_THIS_SESSION" != "$FW_FIRST_SESSION" ] \
    || die "firewall: this login rode the first one's connection ($FW_THIS_SESSION; SSH multiplexing in pbx01's ssh config?), so it proves nothing"
  if fw_cancel_rollback; then
    say "firewall: a fresh login from pbx01 works with the rules in force: rollback cancelled"
  fi
  fw_loaded || die "firewall: table $FW_TABLE is not loaded (did the rollback run before this login? ROLLBACK=${ROLLBACK} s)"
  local unit="/etc/systemd/system/$FW_UNIT"
  if [ ! -f "$unit" ] || [ "$(cat "$unit")" != "$(fw_unit_text)" ]; then
    fw_unit_text >"$unit"
    chmod 644 "$unit"
    systemctl daemon-reload
  fi
  if ! systemctl is-enabled -q "$FW_UNIT" 2>/dev/null || ! systemctl is-active -q "$FW_UNIT"; then
    systemctl enable -q --now "$FW_UNIT"
    say "firewall: $FW_UNIT enabled (loads $FW_FILE at boot)"
  fi
}

fw_remove() {
  local did=""
  if fw_cancel_rollback; then
    did=1
    say "firewall: cancelled a pending rollback"
  fi
  if [ -f "/etc/systemd/system/$FW_UNIT" ]; then
    systemctl disable -q --now "$FW_UNIT" >/dev/null 2>&1 || true
    rm -f "/etc/systemd/system/$FW_UNIT"
    systemctl daemon-reload
    did=1
    say "firewall: removed $FW_UNIT"
  fi
  if command -v nft >/dev/null && fw_loaded; then
    nft delete table inet portsip_im
    did=1
    say "firewall: deleted table $FW_TABLE (the host's inbound traffic as it was before)"
  fi
  if [ -e "$FW_FILE" ] || [ -e "$FW_FILE.new" ]; then
    rm -f "$FW_FILE" "$FW_FILE.new"
    did=1
    say "firewall: removed $FW_FILE"
  fi
  [ -n "$did" ] || say "firewall: nothing to remove"
}

# FUNCTION: run it on the IM host as root, in a login of its own, with this script's settings;
# what it says is shown. The login's SSH_CONNECTION (client address and port) reaches the root
# shell as FW_THIS_SESSION (sudo would drop it from the environment), and fw_apply's becomes
# FW_FIRST_SESSION here.
fw_on_im() {
  local out rc=0
  # shellcheck disable=SC2016  # expands on the IM host, in the login's shell
  out="$({
    printf 'set -euo pipefail\numask 022\n'
    declare -p STEP ACTION PBX01_IP ADMIN_LIST CLIENT_LIST ROLLBACK FW_TABLE FW_FILE FW_UNIT \
      FW_ROLLBACK FW_RULES FW_FIRST_SESSION
    declare -f say warn die apt_get fw_networks fw_unit_text fw_loaded fw_cancel_rollback \
      fw_apply fw_confirm fw_remove
    printf '%s\n' "$1"
  } | ssh_im "$PBX_USER" "$IM_IP" \
    '{ printf "FW_THIS_SESSION='"'"'%s'"'"'\n" "$SSH_CONNECTION"; cat; } | sudo -n bash -s')" || rc=$?
  if [ "$1" = fw_apply ]; then
    FW_FIRST_SESSION="$(sed -n 's/^session: //p' <<<"$out")"
  fi
  [ -z "$out" ] || sed '/^session: /d' <<<"$out"
  return "$rc"
}

[[ "$ROLLBACK" =~ ^[0-9]+$ ]] && [ "$ROLLBACK" -ge 20 ] && [ "$ROLLBACK" -le 3600 ] \
  || die "ROLLBACK=$ROLLBACK: a number of seconds from 20 to 3600"
FW_RULES=""
FW_FIRST_SESSION=""
read -r -a ADMIN_LIST <<<"$ADMIN_CIDRS"
read -r -a CLIENT_LIST <<<"$CLIENT_CIDRS"

if [ "$ACTION" = remove ]; then
  by_hand="by hand on the IM host: nft delete table $FW_TABLE; systemctl disable $FW_UNIT; rm /etc/systemd/system/$FW_UNIT $FW_FILE"
  rc=0
  fw_on_im fw_remove || rc=$?
  if [ "$rc" = 255 ] && [ -e "$STATE_DIR/im-host-lost-$IM_IP" ]; then
    # The operator's marker (docs/backups.md, "The IM host is lost"): no host to clean up.
    warn "pbx01 could not log in to $PBX_USER@$IM_IP (above) and the host is marked lost; its firewall, if any, went with it"
  elif [ "$rc" = 255 ]; then
    # Going on would leave the rules in force with pbx01's trust removed after this step.
    die "firewall: pbx01 could not log in to $PBX_USER@$IM_IP (above), so its firewall was not removed; bring the host back, or remove it $by_hand, or, if the host is lost, create the marker ~/.portsip-im/im-host-lost-$IM_IP on pbx01 as the pbx user (docs/backups.md) and destroy again"
  elif [ "$rc" != 0 ]; then
    die "firewall: removing the firewall on $IM_IP failed (above); $by_hand"
  fi
  exit 0
fi

[ -n "$PBX01_IP" ] || die "pbx01's private address is not known (set {{pbx.pbx01_private_ip}}): the firewall would shut pbx01 out"
# Each network checked before anything reaches the IM host (and again there).
fw_networks ${PBX01_IP:+"$PBX01_IP"} "${ADMIN_LIST[@]}" "${CLIENT_LIST[@]}" >/dev/null \
  || die "a network for the firewall is not an IP network ({{pbx.pbx01_private_ip}}, {{host.*.admin_cidrs}}, {{host.*.client_cidrs}}); nothing changed"
FW_RULES="$(fw_rules)" || die "could not build the firewall's rules"

fw_on_im fw_apply || die "firewall: applying the rules on $IM_IP failed (above)"
# That session has ended. Only a NEW login proves that pbx01 still gets in with the rules in force.
if ! fw_on_im fw_confirm; then
  die "firewall: pbx01 could not log in anew to $PBX_USER@$IM_IP with the rules in force (above): the firewall is being rolled back by itself within ${ROLLBACK} s (the timer $FW_ROLLBACK on the IM host deletes table $FW_TABLE). Check {{pbx.pbx01_private_ip}} (pbx01's private address, ${PBX01_IP}: the source of its logins) and {{host.*.admin_cidrs}}, then run pulumi up again"
fi
say "firewall: in force on $IM_IP: SSH from ${PBX01_IP}${ADMIN_CIDRS:+ $ADMIN_CIDRS}; TCP $IM_PORT from ${CLIENT_CIDRS:-no one}; other new inbound connections dropped"
