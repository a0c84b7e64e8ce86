# shellcheck shell=bash
# needs: lib.sh pbx-api.sh vendor.sh
# upgrade: day 2, on pbx01. When RELEASE changes: check that the PBX cluster is healthy, get a fresh
# token (rest: generated now, only after the check passed; manual: the operator's new imToken, which
# the token step stored), then run `im.sh upgrade`. Between the two, a backup of the IM data on the
# IM host (its runner, over the pbx@IM trust with sudo): no backup, no upgrade, unless
# upgradeWithoutBackup (WITHOUT_BACKUP=1) says otherwise, loudly. The first RELEASE seen is only recorded: the
# deploy step installed that release.
: "${ACTION:=upgrade}" "${MODE:=rest}" "${RELEASE:=}" "${SKIP_CLUSTER_CHECK:=0}" "${IM_IP:?}"
: "${PBX_USER:=pbx}" "${BACKUP:=0}" "${WITHOUT_BACKUP:=0}"
read_secrets
release_file="$STATE_DIR/release"
token_file="$STATE_DIR/im-token"

if [ "$ACTION" = forget ]; then
  rm -f "$release_file"
  say "forgot the recorded release"
  exit 0
fi
if [ ! -f "$release_file" ]; then
  printf '%s' "$RELEASE" >"$release_file"
  say "release '${RELEASE}' recorded (installed by deploy); no upgrade"
  exit 0
fi
if [ "$(cat "$release_file")" = "$RELEASE" ]; then
  say "release '${RELEASE}' already installed; nothing to do"
  exit 0
fi

if [ "$SKIP_CLUSTER_CHECK" = 1 ]; then
  warn "PBX cluster health check skipped ({{im.skip_cluster_check}}=true)"
else
  # The guide: upgrade IM only after the PBX cluster itself is upgraded and healthy.
  if command -v pcs >/dev/null 2>&1; then
    status="$(sudo -n pcs status 2>&1)" || die "cluster check: 'sudo -n pcs status' failed on pbx01 ($(head -1 <<<"$status")); fix it or set {{im.skip_cluster_check}}=true"
    if grep -qE 'OFFLINE|Failed Resource Actions|FAILED' <<<"$status"; then
      die "cluster check: 'pcs status' shows offline nodes or failed resources; upgrade IM after the PBX cluster is healthy, or set {{im.skip_cluster_check}}=true"
    fi
    say "cluster check: pcs status shows no offline node and no failed resource"
  fi
  if [ "$MODE" = rest ]; then
    pbx_login
    say "cluster check: the PBX API answers at $PBX_API_URL"
  fi
fi

# The backup and im.sh both log in to the IM host from pbx01: when that cannot work, upgrading
# without the backup would not help, so stop here with ssh_im's reason.
ssh_im "$PBX_USER" "$IM_IP" true \
  || die "pbx01 cannot log in to $PBX_USER@$IM_IP, so no backup was taken and im.sh upgrade was not run (the line above says why)"

if [ "$BACKUP" != 1 ]; then
  warn "NO BACKUP before the upgrade: {{backup.repository}} is not set"
elif out="$(ssh_im "$PBX_USER" "$IM_IP" 'sudo -n /usr/local/sbin/portsip-im-backup backup pre-upgrade' 2>&1)"; then
  say "backup before the upgrade: $(grep -o 'snapshot [0-9a-f]* saved[^)]*)' <<<"$out" || echo 'done')"
elif [ "$WITHOUT_BACKUP" = 1 ]; then
  warn "THE BACKUP BEFORE THE UPGRADE FAILED; upgrading anyway ({{im.upgrade_without_backup}}=true): $(tail -n 1 <<<"$out")"
else
  die "the backup before the upgrade failed, so im.sh upgrade was not run: $(tail -n 1 <<<"$out") (fix the backup, or set {{im.upgrade_without_backup}}=true to upgrade without one)"
fi

# shellcheck disable=SC2034  # read by vendor.sh, prepended to this step
EXTRA_REDACT="$(cat "$token_file" 2>/dev/null || true)"  # im.sh may print the old token too
if [ "$MODE" = rest ]; then
  [ "$SKIP_CLUSTER_CHECK" != 1 ] || pbx_login
  pbx_generate_token "$token_file"
  say "token: generated a fresh IM token for the upgrade"
fi
im_verb upgrade
im_port_open "$WAIT" || die "after im.sh upgrade, $IM_IP:8887 refuses connections"
printf '%s' "$RELEASE" >"$release_file"
token_sha >"$STATE_DIR/deployed-token"  # the token the IM server now runs with
say "upgraded to release '${RELEASE}'; $IM_IP:8887 accepts connections"
