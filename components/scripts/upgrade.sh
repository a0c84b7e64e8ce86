# upgrade: day 2, on pbx01. When RELEASE changes (and the token step has generated a fresh token),
# checks that the PBX cluster is healthy, then runs `im.sh upgrade`. The first RELEASE seen is only
# recorded: the deploy step installed that release.
: "${ACTION:=upgrade}" "${RELEASE:=}" "${SKIP_CLUSTER_CHECK:=0}" "${IM_IP:?}"
read_secrets
release_file="$STATE_DIR/release"

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
  warn "PBX cluster health check skipped (skipClusterCheck=true)"
else
  # The guide: upgrade IM only after the PBX cluster itself is upgraded and healthy.
  if command -v pcs >/dev/null 2>&1; then
    status="$(sudo -n pcs status 2>&1)" || die "cluster check: 'pcs status' failed on pbx01: $(head -3 <<<"$status")"
    if grep -qiE 'OFFLINE|Failed Resource Actions|FAILED|Stopped:' <<<"$status"; then
      die "cluster check: the PBX cluster is not healthy ('pcs status' shows offline/failed/stopped); upgrade IM after the cluster is healthy, or set skipClusterCheck=true"
    fi
    say "cluster check: pcs status healthy"
  fi
  pbx_login
  say "cluster check: the PBX API answers at $PBX_API_URL"
fi

im_verb upgrade
im_port_open "$WAIT" || die "after im.sh upgrade, $IM_IP:8887 refuses connections"
printf '%s' "$RELEASE" >"$release_file"
say "upgraded to release '${RELEASE}'; $IM_IP:8887 accepts connections"
