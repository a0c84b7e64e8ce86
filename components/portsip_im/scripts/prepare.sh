# shellcheck shell=bash
# needs: lib.sh
# prepare: guide step 1 on the IM host, as root. Checks what must not be there (and changes nothing
# when it is), then converges what must be: updates (on the first run), time sync, CPU performance
# mode, the `pbx` user, the data disk and the storage path. Safe to run again; says what it changed.
#
# The data disk holds everything the IM service keeps: it is mounted at DATA_MOUNT (im.sh's data
# path, /var/lib/portsip: database and IM data), and STORAGE_PATH (im.sh -f, files) is a directory
# on it, bind-mounted where the operator wants it. So a new VM gets all of it back.
: "${HOST_ID:=}" "${REQUIRED_OS:=ubuntu 24.04}" "${PBX_USER:=pbx}" "${DATA_DISK:=}"
: "${DATA_MOUNT:=/var/lib/portsip}" "${STORAGE_PATH:=}" "${APPLY_UPDATES:=1}"
: "${MEASURE_SPEC:=0}" "${ALLOW_UNDERSIZED:=0}" "${MIN_VCPUS:=20}" "${MIN_MEMORY_MIB:=16384}"
: "${MEMORY_FLOOR_MIB:=15564}" "${MIN_DISK_GB:=256}" "${WAIT:=600}" "${SUDO_NOPASSWD:=1}"
: "${SIZING_PROFILE:=large}"
PBX_PASSWORD=""
read_secrets

[ "$(id -u)" = 0 ] || die "prepare must run as root (through sudo)"
# The program refuses these at preview; checked again here, before anything changes, since this
# script sets PBX_USER's password and sudo. A line break would make chpasswd set a second
# account's password; an existing system account (uid < 1000), root or the account this step
# logs in as must never get the cluster's password and passwordless sudo.
[[ "$PBX_PASSWORD" != *[$'\n\r']* ]] || die "the pbx password holds a line break (config {{pbx.password}})"
[[ "$PBX_USER" =~ ^[a-z_][a-z0-9_-]{0,31}$ ]] || die "PBX_USER $PBX_USER is not a login name (config {{pbx.user}})"
pbx_uid="$(id -u "$PBX_USER" 2>/dev/null || true)"
if [ -n "$pbx_uid" ] && { [ "$pbx_uid" -lt 1000 ] || [ "$PBX_USER" = "${SUDO_USER:-root}" ]; }; then
  die "PBX_USER $PBX_USER is a system account or the one this step logs in as; use the PBX nodes' own user (config {{pbx.user}})"
fi

# fstab_line LINE KEY: make LINE the one fstab entry starting with KEY (say so when it changes).
fstab_line() {
  local line="$1" key="$2"
  if grep -qxF "$line" /etc/fstab; then return 0; fi
  grep -vF "$key" /etc/fstab >/etc/fstab.portsip-im || true
  printf '%s\n' "$line" >>/etc/fstab.portsip-im
  cat /etc/fstab.portsip-im >/etc/fstab
  rm -f /etc/fstab.portsip-im
  say "fstab: $line"
}
say "preparing the IM host ${HOST_ID}"

# Wait for the image's first boot to finish (cloud-init may still be writing users and apt config).
if command -v cloud-init >/dev/null 2>&1; then
  timeout "$WAIT" cloud-init status --wait >/dev/null 2>&1 || warn "cloud-init did not report done"
fi

# A host still booting (a fresh VM, an on-prem host just rebooted) refuses every login but root's
# (pam_nologin, "System is booting up"): pbx01's login as pbx later in this up would fail. So wait
# for boot to finish and logins to open, bounded, and say so when it waited.
if [ -e /run/nologin ] || [[ "$(systemctl is-system-running 2>/dev/null || true)" =~ ^(initializing|starting)$ ]]; then
  say "boot: the host is still booting (logins refused); waiting up to ${WAIT}s"
  timeout "$WAIT" systemctl is-system-running --wait >/dev/null 2>&1 || true
  until [ ! -e /run/nologin ]; do
    [ "$SECONDS" -lt "$WAIT" ] || die "boot: logins are still refused after ${WAIT}s (/run/nologin is there: a boot that did not finish, or a shutdown under way)"
    sleep 2
  done
  say "boot: finished ($(systemctl is-system-running 2>/dev/null || true)); logins open"
fi

# --- Checks: refuse, change nothing ------------------------------------------------------------
# shellcheck disable=SC1091
. /etc/os-release
os="${ID} ${VERSION_ID}"
[ "$os" = "$REQUIRED_OS" ] || die "the IM host runs $os; the guide requires $REQUIRED_OS (config {{prepare.required_os}})"

installed() {  # installed PATTERN...: names of installed packages matching the patterns
  { dpkg-query -W -f='${db:Status-Abbrev} ${Package}\n' "$@" 2>/dev/null || true; } | awk '$1 ~ /^ii/ {print $2}'
}
found="$(installed 'postgresql*' | tr '\n' ' ')"
[ -z "$found" ] || die "PostgreSQL is installed ($found); the guide forbids it on the IM host (the IM service brings its own database). Remove it first."
found="$(installed bind9 dnsmasq 'dnsmasq-base' unbound pdns-server knot-resolver named | grep -v '^dnsmasq-base$' | tr '\n' ' ' || true)"
[ -z "$found" ] || die "a DNS server is installed ($found); the IM host must not be a DNS server"
found="$(installed isc-dhcp-server kea-dhcp4-server kea-dhcp6-server udhcpd | tr '\n' ' ' || true)"
[ -z "$found" ] || die "a DHCP server is installed ($found); the IM host must not be a DHCP server"
found="$(installed 'teamviewer*' 'anydesk*' openvpn wireguard wireguard-tools strongswan 'strongswan-*' tailscale zerotier-one 'rustdesk*' | tr '\n' ' ' || true)"
[ -z "$found" ] || die "remote-access/VPN software is installed ($found); the guide forbids it on the IM host"
# A listener on 53 (DNS) or 67 (DHCP) other than systemd-resolved's stub on 127.0.0.53/54.
if command -v ss >/dev/null 2>&1; then
  # ss shows systemd-resolved's stub as 127.0.0.53%lo:53: drop the %interface before matching.
  listeners="$(ss -Hlntup 2>/dev/null | awk '{print $5}' | sed 's/%[^:]*:/:/' | grep -E ':(53|67)$' | grep -vE '^127\.0\.0\.5[34]:' || true)"
  [ -z "$listeners" ] || die "something serves DNS/DHCP on $(echo "$listeners" | tr '\n' ' '); the IM host must not be a DNS or DHCP server"
fi

if [ "$MEASURE_SPEC" = 1 ]; then
  vcpus="$(nproc)"
  mem_mib=$(( $(awk '/^MemTotal:/ {print $2}' /proc/meminfo) / 1024 ))
  if [ -n "$DATA_DISK" ] && [ -b "$DATA_DISK" ]; then
    disk_gb=$(( $(blockdev --getsize64 "$DATA_DISK") / 1000000000 ))
  else
    disk_gb=$(( $(df -B1 --output=size "$(dirname "$DATA_MOUNT")" | tail -1) / 1000000000 ))
  fi
  short=""
  [ "$vcpus" -ge "$MIN_VCPUS" ] || short+=" ${vcpus} vCPU (minimum ${MIN_VCPUS});"
  # MemTotal excludes the kernel's share: the floor (components/spec.py) sits a little below.
  [ "$mem_mib" -ge "$MEMORY_FLOOR_MIB" ] || short+=" ${mem_mib} MiB RAM (minimum ${MIN_MEMORY_MIB});"
  [ "$disk_gb" -ge "$MIN_DISK_GB" ] || short+=" ${disk_gb} GB disk (minimum ${MIN_DISK_GB});"
  if [ -n "$short" ]; then
    if [ "$ALLOW_UNDERSIZED" = 1 ]; then
      warn "UNDERSIZED HOST ACCEPTED ({{host.*.allow_undersized}}=true, {{host.*.sizing_profile}} ${SIZING_PROFILE}):${short} not for production"
    else
      die "the IM host has${short} PortSIP's guide asks for ${MIN_VCPUS} vCPU, $(( MIN_MEMORY_MIB / 1024 )) GiB RAM, ${MIN_DISK_GB} GB in {{host.*.sizing_profile}} ${SIZING_PROFILE} (set {{host.*.allow_undersized}} only for a lab)"
    fi
  else
    say "host meets the spec: ${vcpus} vCPU, ${mem_mib} MiB RAM, ${disk_gb} GB disk"
  fi
fi

# --- Converge ------------------------------------------------------------------------------------
# Time: on a VM, NTP must be on and synchronised. In a container the clock is the host kernel's and
# cannot be set from inside; the host's own time sync is what counts there.
virt="$(systemd-detect-virt --container 2>/dev/null || true)"
if [ -n "$virt" ] && [ "$virt" != none ]; then
  say "time: container ($virt) shares the host's kernel clock; time sync is the host's job"
elif [ "$(timedatectl show -p NTPSynchronized --value 2>/dev/null)" = yes ]; then
  say "time: synchronised"
else
  timedatectl set-ntp true 2>/dev/null || true
  deadline=$((SECONDS + 120))
  until [ "$(timedatectl show -p NTPSynchronized --value 2>/dev/null)" = yes ]; do
    [ "$SECONDS" -lt "$deadline" ] || die "time is not synchronised after enabling NTP for 120s (timedatectl); fix NTP reachability"
    sleep 5
  done
  say "time: enabled NTP; now synchronised"
fi

# Updates before the install only: once im.sh runs, it turns unattended upgrades off and OS
# updates are the operator's (an upgrade under a running IM service could restart its containers).
updated="/var/lib/portsip-im/updates-applied"
if [ "$APPLY_UPDATES" != 1 ]; then
  warn "updates: skipped ({{prepare.apply_os_updates}}=false)"
elif [ -f "$updated" ]; then
  say "updates: applied before the install ($(cat "$updated")); later ones are the operator's"
else
  apt_get "updates: apt-get update" update
  before="$(apt list --upgradable 2>/dev/null | grep -c upgradable || true)"
  apt_get "updates: apt-get dist-upgrade" \
    -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold dist-upgrade
  mkdir -p "$(dirname "$updated")"
  date -u +%Y-%m-%dT%H:%M:%SZ >"$updated"
  say "updates: applied ($before packages were upgradable)"
  [ ! -f /var/run/reboot-required ] || warn "updates: the host asks for a reboot (/var/run/reboot-required)"
fi

# CPU: performance governor where cpufreq exists, kept across reboots by a small unit.
if ls /sys/devices/system/cpu/cpu*/cpufreq/scaling_governor >/dev/null 2>&1; then
  unit=/etc/systemd/system/portsip-im-cpu-performance.service
  if [ ! -f "$unit" ]; then
    cat >"$unit" <<'UNIT'
[Unit]
Description=CPU performance governor for the PortSIP IM server (portsip-im)
[Service]
Type=oneshot
ExecStart=/bin/sh -c 'for g in /sys/devices/system/cpu/cpu*/cpufreq/scaling_governor; do echo performance > "$g"; done'
[Install]
WantedBy=multi-user.target
UNIT
    systemctl daemon-reload
    systemctl enable --now portsip-im-cpu-performance.service >/dev/null 2>&1
    say "cpu: performance governor set and kept across reboots"
  else
    say "cpu: performance governor already configured"
  fi
else
  say "cpu: no cpufreq on this host (hypervisor or container controls frequency); nothing to set"
fi

# The guide's user: same name and password as on the PBX nodes, with sudo.
[ -n "$PBX_PASSWORD" ] || die "no pbx password on stdin (config {{pbx.password}})"
if id "$PBX_USER" >/dev/null 2>&1; then
  say "user: $PBX_USER exists"
else
  useradd --create-home --shell /bin/bash "$PBX_USER"
  say "user: created $PBX_USER"
fi
if ! id -nG "$PBX_USER" | tr ' ' '\n' | grep -qx sudo; then
  usermod -aG sudo "$PBX_USER"
  say "user: added $PBX_USER to sudo"
fi
printf '%s:%s\n' "$PBX_USER" "$PBX_PASSWORD" | chpasswd
say "user: $PBX_USER password set (the PBX nodes' password)"
# im.sh drives this host from pbx01 over SSH, where nobody can type a sudo password.
sudoers="/etc/sudoers.d/portsip-im-$PBX_USER"
if [ "$SUDO_NOPASSWD" = 1 ]; then
  rule="$PBX_USER ALL=(ALL:ALL) NOPASSWD: ALL"
  if [ "$(cat "$sudoers" 2>/dev/null)" != "$rule" ]; then
    printf '%s\n' "$rule" >"$sudoers.tmp"
    chmod 440 "$sudoers.tmp"
    visudo -cqf "$sudoers.tmp" || die "sudoers rule for $PBX_USER does not validate"
    mv "$sudoers.tmp" "$sudoers"
    say "user: $PBX_USER may sudo without a password (for im.sh over SSH)"
  fi
elif [ -f "$sudoers" ]; then
  rm -f "$sudoers"
  say "user: removed passwordless sudo for $PBX_USER"
fi

# The data disk: formatted only when blank; an existing filesystem (IM data surviving a VM
# replacement) is mounted as it is.
if [ -n "$DATA_DISK" ]; then
  deadline=$((SECONDS + 120))
  until [ -b "$DATA_DISK" ]; do
    [ "$SECONDS" -lt "$deadline" ] || die "data disk $DATA_DISK did not appear within 120s"
    sleep 3
  done
  fstype="$(blkid -p -o value -s TYPE "$DATA_DISK" 2>/dev/null || true)"
  ptable="$(blkid -p -o value -s PTTYPE "$DATA_DISK" 2>/dev/null || true)"
  if [ -z "$fstype" ] && [ -z "$ptable" ]; then
    if [ "$(head -c 1048576 "$DATA_DISK" | tr -d '\0' | head -c 1 | wc -c)" != 0 ]; then
      die "data disk $DATA_DISK is not blank but has no filesystem; refusing to format it"
    fi
    mkfs.ext4 -q -L portsip-im "$DATA_DISK"
    say "disk: formatted blank $DATA_DISK as ext4"
  elif [ -n "$ptable" ]; then
    die "data disk $DATA_DISK holds a partition table ($ptable); refusing to touch it"
  else
    say "disk: $DATA_DISK already holds $fstype; kept as it is (not formatted)"
  fi
  uuid="$(blkid -p -o value -s UUID "$DATA_DISK")"
  fstype="$(blkid -p -o value -s TYPE "$DATA_DISK")"
  fstab_line "UUID=$uuid $DATA_MOUNT $fstype defaults,nofail 0 2" "UUID=$uuid "
  mkdir -p "$DATA_MOUNT"
  if ! mountpoint -q "$DATA_MOUNT"; then
    mount "$DATA_MOUNT"
    say "disk: mounted $DATA_DISK on $DATA_MOUNT"
  fi
fi

if [ -n "$STORAGE_PATH" ]; then
  case "$STORAGE_PATH/" in
    "$DATA_MOUNT"/*) files="$STORAGE_PATH" ;;
    *)
      # Files live on the data disk too; the operator's path is a bind mount of them.
      files="$DATA_MOUNT/storage"
      mkdir -p "$files" "$STORAGE_PATH"
      old="$(awk -v src="$files" '$1 == src {print $2}' /etc/fstab)"
      if [ -n "$old" ] && [ "$old" != "$STORAGE_PATH" ] && mountpoint -q "$old"; then
        umount "$old"
        say "storage: unmounted the old storage path $old"
      fi
      fstab_line "$files $STORAGE_PATH none bind,nofail 0 0" "$files "
      if ! mountpoint -q "$STORAGE_PATH"; then
        mount "$STORAGE_PATH"
        say "storage: $STORAGE_PATH is $files on the data disk (bind mount)"
      fi
      ;;
  esac
  if [ ! -d "$files" ]; then
    mkdir -p "$files"
    say "storage: created $files"
  fi
  if [ "$(stat -c %U "$files")" != "$PBX_USER" ]; then
    chown "$PBX_USER:$PBX_USER" "$files"
    say "storage: $STORAGE_PATH now owned by $PBX_USER"
  fi
fi
say "the IM host is prepared"
