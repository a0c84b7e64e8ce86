# shellcheck shell=bash
# lib.sh — prepended to every remote step by components/remote.py; not run on its own.
#
# A step is invoked as:  bash -c COMMAND STEP DIGEST KEY=VALUE ...  with a loader line, then
# lib.sh + libraries + step.sh, first on standard input (components/portsip_im/wire.py). Plain
# parameters arrive as KEY=VALUE arguments (visible in `ps`, never secret). Secrets follow the script on standard input, one per
# line as NAME<TAB>base64(value), so they are in no argv, no environment of the SSH session and no
# log.
set -euo pipefail
umask 077

STEP="${0##*/}"

say()  { printf '[%s] %s\n' "$STEP" "$*"; }
warn() { printf '[%s] WARNING: %s\n' "$STEP" "$*" >&2; }
die()  { printf '[%s] ERROR: %s\n' "$STEP" "$*" >&2; exit 1; }

# Plain parameters: only UPPER_CASE names, so an argument can never set PATH-like variables.
for kv in "$@"; do
  name="${kv%%=*}"
  case "$name" in
    PATH|IFS|HOME|SHELL|BASH_ENV|ENV|LD_*|PS4) die "parameter $name is not allowed" ;;
  esac
  [[ "$name" =~ ^[A-Z][A-Z0-9_]*$ ]] || die "bad parameter: $name"
  printf -v "$name" '%s' "${kv#*=}"
done

# Secrets from stdin. An empty stdin is fine: a step without secrets gets none.
read_secrets() {
  local name b64
  if [ -t 0 ]; then return 0; fi
  while IFS=$'\t' read -r name b64; do
    [ -n "$name" ] || continue
    [[ "$name" =~ ^[A-Z][A-Z0-9_]*$ ]] || die "bad secret name on stdin"
    printf -v "$name" '%s' "$(printf '%s' "$b64" | base64 -d)"
  done
}

# Prints its input with every occurrence of the given secret values replaced by [redacted], and
# any vendor "token : …" line masked, so vendor output can be shown without leaking.
redact() {
  local line s
  while IFS= read -r line || [ -n "$line" ]; do
    for s in "$@"; do
      [ -n "$s" ] && line="${line//"$s"/[redacted]}"
    done
    if [[ "$line" =~ ^(.*[Tt]oken[[:space:]]*[:=][[:space:]]*).+$ ]]; then
      line="${BASH_REMATCH[1]}[redacted]"
    fi
    printf '%s\n' "$line"
  done
}

# True when something accepts a TCP connection at $1:$2 right now (3 s at most).
tcp_probe() {
  # shellcheck disable=SC2016  # $0/$1 expand in the child shell, on purpose
  timeout 3 bash -c 'exec 3<>"/dev/tcp/$0/$1"' "$1" "$2" 2>/dev/null
}

# True when something accepts TCP connections at $1:$2 within $3 seconds.
wait_tcp() {
  local host="$1" port="$2" deadline=$((SECONDS + ${3:-60}))
  while :; do
    if tcp_probe "$host" "$port"; then
      return 0
    fi
    [ "$SECONDS" -lt "$deadline" ] || return 1
    sleep 2
  done
}

# apt_get WHAT ARGS...: apt-get, quiet when it works; when it fails, its last lines and WHAT (what
# the step was doing). Every call waits up to 300 s for apt's locks: a fresh cloud VM's
# unattended-upgrades and apt-daily often hold them for a while after boot. DPkg::Lock::Timeout
# covers dpkg's lock only, not the package lists' lock of `apt-get update`: that one is waited for
# here.
apt_get() {
  local what="$1" out deadline=$((SECONDS + 300))
  shift
  until out="$(DEBIAN_FRONTEND=noninteractive apt-get -q -y -o DPkg::Lock::Timeout=300 "$@" 2>&1)"; do
    if grep -q 'Could not get lock /var/lib/apt/lists/lock' <<<"$out" && [ "$SECONDS" -lt "$deadline" ]; then
      sleep 2
      continue
    fi
    printf '%s\n' "$out" | tail -n 20 >&2
    die "$what failed (apt-get's output above; it waits up to 300 s for apt's locks)"
  done
}

# ssh_im USER HOST COMMAND...: pbx01 to the IM host with pbx01's own key and pinned host key only.
# Without a pinned key it does not even dial, and says what pins one (the callers quote its line).
# Keepalives end a session whose other side went away within a minute (a held lock goes with it).
ssh_im() {
  local user="$1" host="$2"
  shift 2
  if ! ssh-keygen -F "$host" -f "$HOME/.ssh/known_hosts" >/dev/null 2>&1; then
    printf '[%s] pbx01 has no pinned host key for the IM host %s in ~/.ssh/known_hosts, so it will not log in there: the trust-key step pins {{host.*.host_key}} (run pulumi up; see docs/steps.md, "trust")\n' \
      "$STEP" "$host" >&2
    return 255
  fi
  # Each login its own connection (no ControlMaster sharing): the firewall's fresh login must be.
  ssh -o BatchMode=yes -o StrictHostKeyChecking=yes -o ConnectTimeout=10 \
    -o ControlMaster=no -o ControlPath=none \
    -o ServerAliveInterval=15 -o ServerAliveCountMax=4 "$user@$host" "$@"
}

# The project's own state on a host: what it created, so destroy removes only that.
STATE_DIR="${HOME:-/root}/.portsip-im"
mkdir -p "$STATE_DIR"
