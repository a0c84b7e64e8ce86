#!/bin/bash
# Stand-in for PortSIP's HA helper /opt/portsip-pbx-ha-guide/im.sh -- portsip-im lab only.
# Written from ../shared/portsip/FACTS.md, not from vendor code. Run on pbx01 as user pbx:
#
#   cd /opt/portsip-pbx-ha-guide/ && /bin/bash im.sh run -a PRIVATE_IP -A PUBLIC_IP [-f STORAGE_DIR]
#   ... im.sh start | stop | restart | rm | upgrade | status
#
# The IM token (run, upgrade): environment variable IM_TOKEN, else one line on standard input
# (a prompt when stdin is a terminal). Never a command-line argument. Like the vendor script this
# one PRINTS the token ("token : ..."), so callers must not log its output unredacted.
# It checks the token against the PBX's current one (the stand-in PBX API, locally).
#
# It reaches the IM host as pbx@IM over SSH with ~/.ssh/id_rsa, BatchMode and strict host key
# checking (the guide's step 4 sets that up), and runs the IM-host half there with `sudo -n`.
# Lab switches in this folder: .fail-next (next verb fails, file consumed), .fail-always,
# .error-exit0-next (next verb prints an [error] line and exits 0, doing nothing; file consumed),
# .pause-VERB (below).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
CONF="$HERE/.configure_im"
LAST_TOKEN="$HERE/.standin-last-token"  # the token of the last run/upgrade (0600)
STANDIN="$HERE/lab-standin"
INTERNAL_API="http://127.0.0.1:8886/internal"
SSH_KEY="$HOME/.ssh/id_rsa"

info() { echo "[info]: $*"; }
warn() { echo "[warn]: $*"; }
die() { echo "[error]: $*"; exit 255; }

usage() {
    cat <<'EOF'
Usage: im.sh run -a PRIVATE_IP -A PUBLIC_IP [-f STORAGE_DIR]   deploy the IM server
       im.sh start | stop | restart                          control it
       im.sh rm                                              stop it and delete the installation
       im.sh upgrade                                         upgrade it (needs a new IM token)
       im.sh status                                          show it
The IM token is read from IM_TOKEN or standard input.
EOF
}

valid_ip() { python3 -c 'import ipaddress, sys; ipaddress.ip_address(sys.argv[1])' "$1" 2>/dev/null; }

verb=${1:-}
[[ $# -gt 0 ]] && shift
case "$verb" in
    run | start | stop | restart | rm | upgrade | status) ;;
    *)
        echo "[error]: unknown command \"$verb\""
        usage
        exit 0
        ;;
esac

# ---- lab switches (fault tests)
# .pause-VERB: this verb waits (at most 5 minutes) while the file exists, having made .paused-VERB,
# so a test can interrupt `pulumi up` while im.sh runs (tests/e2e/test_interrupted_up.py).
if [[ -e "$HERE/.pause-$verb" ]]; then
    : >"$HERE/.paused-$verb"
    for _ in $(seq 3000); do
        [[ -e "$HERE/.pause-$verb" ]] || break
        sleep 0.1
    done
fi
if [[ -e "$HERE/.fail-always" ]]; then
    die "im.sh $verb failed (simulated by the lab switch $HERE/.fail-always)"
fi
if [[ -e "$HERE/.fail-next" ]]; then
    rm -f "$HERE/.fail-next"
    die "im.sh $verb failed (simulated by the lab switch $HERE/.fail-next, now consumed)"
fi
if [[ -e "$HERE/.error-exit0-next" ]]; then
    # PortSIP's scripts do not promise a non-zero exit with an [error] line (FACTS.md): this one
    # reports the failure and exits 0.
    rm -f "$HERE/.error-exit0-next"
    echo "[error]: im.sh $verb failed (simulated by the lab switch $HERE/.error-exit0-next, now consumed; exit status 0)"
    exit 0
fi
if [[ -r "$HERE/.delay" ]]; then
    sleep "$(cat "$HERE/.delay")"
fi

[[ $(id -un) == pbx ]] || die "im.sh must be run as user pbx on pbx01 (not $(id -un))"

# ---- flags
private="" public="" storage=""
while [[ $# -gt 0 ]]; do
    case "$1" in
        -a | -A | -f)
            [[ $verb == run ]] || die "option $1 is only valid with run"
            [[ $# -ge 2 && -n $2 ]] || die "option $1 needs a value"
            case "$1" in -a) private=$2 ;; -A) public=$2 ;; -f) storage=$2 ;; esac
            shift 2
            ;;
        *) die "unknown option \"$1\" for $verb" ;;
    esac
done

if [[ $verb == run ]]; then
    [[ -n $private || -n $public ]] || die "at least one of -a PRIVATE_IP and -A PUBLIC_IP is required"
    if [[ -n $private ]] && ! valid_ip "$private"; then die "invalid private IP address: \"$private\""; fi
    if [[ -n $public ]] && ! valid_ip "$public"; then die "invalid public IP address: \"$public\""; fi
    if [[ -n $storage && $storage != /* ]]; then die "the storage path must be absolute: \"$storage\""; fi
    host=${private:-$public}
else
    [[ -r $CONF ]] || die "no IM server deployed from this node yet ($CONF missing): run im.sh run first"
    host=$(sed -n 's/^IM_HOST=//p' "$CONF")
    [[ -n $host ]] || die "$CONF has no IM_HOST"
fi

# ---- token
token=""
token_sha=""
if [[ $verb == run || $verb == upgrade ]]; then
    if [[ -n ${IM_TOKEN:-} ]]; then
        token=$IM_TOKEN
    elif [[ -t 0 ]]; then
        printf 'Please enter the IM server token: ' >&2
        IFS= read -rs token || true
        echo >&2
    else
        IFS= read -r -t 30 token || true
    fi
    token=${token//[$'\r\n\t ']/}
    [[ -n $token ]] || die "no IM token given: set IM_TOKEN or give the token on standard input (portal: Servers > IM Servers > Generate Token)"
    info "token : $token"
    # PortSIP's scripts may print the token they replace too, and not only as `token : …`: on
    # upgrade the stand-in prints the previous one three ways (the program must mask them all).
    if [[ $verb == upgrade && -s $LAST_TOKEN ]]; then
        old=$(<"$LAST_TOKEN")
        info "replacing the previous IM token $old"
        printf '%s\n' "$old"
        printf 'previous=%s;\n' "$old"
    fi
    token_sha=$(printf '%s' "$token" | sha256sum | cut -d' ' -f1)
    current=$(curl -fsS --max-time 10 "$INTERNAL_API/im/token_sha256" 2>/dev/null) ||
        die "cannot reach the PBX service on this node to check the IM token"
    [[ $current == *"\"$token_sha\""* ]] ||
        die "the IM token is not valid on this PBX (generate a new one: Servers > IM Servers > Generate Token)"
fi

release=${IM_RELEASE:-}
[[ -z $release || $release =~ ^[A-Za-z0-9._-]+$ ]] || die "invalid IM_RELEASE \"$release\""

# ---- the IM host half, over SSH as pbx@IM
[[ -f $SSH_KEY ]] || die "$SSH_KEY is missing: set up SSH trust from pbx01 to pbx@$host first (guide step 4)"

args=("$verb")
[[ -n $private ]] && args+=(-a "$private")
[[ -n $public ]] && args+=(-A "$public")
[[ -n $storage ]] && args+=(-f "$storage")

info "im.sh $verb: IM server $host"
set +e
{
    printf 'TOKEN_SHA256 = "%s"\nRELEASE = "%s"\n' "$token_sha" "$release"
    if [[ $verb == run || $verb == upgrade ]]; then
        printf 'SERVER_PY_B64 = "%s"\n' "$(base64 -w0 "$STANDIN/im-server.py")"
    fi
    cat "$STANDIN/im-remote.py"
} | ssh -i "$SSH_KEY" -o BatchMode=yes -o StrictHostKeyChecking=yes -o IdentitiesOnly=yes \
    -o ConnectTimeout=10 "pbx@$host" "sudo -n /usr/bin/python3 - ${args[*]}"
rc=$?
set -e
if [[ $rc -eq 255 ]]; then
    die "cannot run commands on pbx@$host over SSH (host key in ~/.ssh/known_hosts? ~/.ssh/id_rsa.pub authorized there?)"
elif [[ $rc -ne 0 ]]; then
    die "im.sh $verb failed on the IM server $host (exit $rc)"
fi

if [[ $verb == run || $verb == upgrade ]]; then
    (umask 077 && printf '%s' "$token" >"$LAST_TOKEN")
fi
if [[ $verb == run ]]; then
    printf 'IM_HOST=%s\nPRIVATE_IP=%s\nPUBLIC_IP=%s\nSTORAGE=%s\n' "$host" "$private" "$public" "$storage" >"$CONF"
    v4() { if [[ $1 == *.* ]]; then echo "$1"; fi; }
    v6() { if [[ $1 == *:* ]]; then echo "$1"; fi; }
    body=$(printf '{"private_ipv4":"%s","private_ipv6":"%s","public_ipv4":"%s","public_ipv6":"%s"}' \
        "$(v4 "$private")" "$(v6 "$private")" "$(v4 "$public")" "$(v6 "$public")")
    curl -fsS --max-time 10 -X POST -H 'Content-Type: application/json' -d "$body" \
        "$INTERNAL_API/im" >/dev/null || die "the IM server runs but the PBX did not record its addresses"
    info "the PBX lists the IM server: private ${private:--}, public ${public:--}"
fi
info "done: im.sh $verb"
