# Shared helpers of baton's autopkgtests (sourced, not run). The tests drive the installed
# package through systemd, as an operator would.

CFG=/etc/baton/baton.cfg
MASTER_SOCK=/run/baton-master.sock
STATS_SOCK=/run/baton/admin.sock

log() { echo "[$(date +%T)] $*" >&2; }
fail() {
    log "FAIL: $*"
    systemctl status baton.service --no-pager >&2 || true
    journalctl -u baton.service -n 40 --no-pager >&2 || true
    exit 1
}

# Waits up to $2 seconds (default 30) for a command to succeed.
wait_for() {
    local cmd=$1 limit=${2:-30} i=0
    while ! sh -c "$cmd" >/dev/null 2>&1; do
        i=$((i + 1))
        [ "$i" -le $((limit * 10)) ] || fail "timed out waiting for: $cmd"
        sleep 0.1
    done
}

# The unit's main pid (the master in master-worker mode).
main_pid() { systemctl show -p MainPID --value baton.service; }

# Starts a backend on 127.0.0.1:$1: a separate, unmanaged baton process answering every request
# by itself (fast, and already installed). Its pid is in $BACKEND_PID.
start_backend() {
    local port=$1 cfg
    cfg=$(mktemp /tmp/backend-XXXXXX.cfg)
    cat >"$cfg" <<CFG
defaults
    mode http
    timeout connect 5s
    timeout client 60s
    timeout server 60s
frontend backend
    bind 127.0.0.1:$port
    http-request return status 200 content-type text/plain string "backend ok"
CFG
    baton -db -f "$cfg" >/tmp/backend-$port.log 2>&1 &
    BACKEND_PID=$!
    wait_for "curl -fsS http://127.0.0.1:$port/"
}

# Adds a frontend on 127.0.0.1:$1 forwarding to a backend server on 127.0.0.1:$2 to the
# service's configuration, and reloads it in. restore_config puts the shipped file back.
use_test_config() {
    cp -a "$CFG" "$CFG.autopkgtest-orig"
    cat >>"$CFG" <<CFG

frontend web
    bind 127.0.0.1:$1 name web
    default_backend app

backend app
    server app1 127.0.0.1:$2
CFG
    systemctl reload baton.service
    wait_for "curl -fsS http://127.0.0.1:$1/"
}
restore_config() {
    if [ -f "$CFG.autopkgtest-orig" ]; then mv "$CFG.autopkgtest-orig" "$CFG"; fi
}

# ab, bounded by its -n and a timeout. ab_start runs it in the background (AB_PID); ab_finish
# waits and parses its report into AB_RC, AB_COMPLETE, AB_FAILED (failed + non-2xx + requests
# never completed, so an aborted run counts what it lost) and AB_RPS. run_ab does both.
AB_OUT=/tmp/ab.out
ab_start() {
    local prev=
    AB_N=0
    for a in "$@"; do [ "$prev" = -n ] && AB_N=$a; prev=$a; done
    (rc=0; timeout 900 ab -q -s 30 "$@" >"$AB_OUT" 2>&1 || rc=$?; echo "ab-exit-status: $rc" >>"$AB_OUT") &
    AB_PID=$!
}
ab_finish() {
    wait "$AB_PID" || true
    AB_RC=$(awk '/^ab-exit-status:/ {print $2}' "$AB_OUT")
    AB_COMPLETE=$(awk '/^Complete requests:/ {print $3}' "$AB_OUT")
    AB_COMPLETE=${AB_COMPLETE:-0}
    local failed non2xx
    failed=$(awk '/^Failed requests:/ {print $3}' "$AB_OUT")
    non2xx=$(awk '/^Non-2xx responses:/ {print $3}' "$AB_OUT")
    AB_FAILED=$((${failed:-0} + ${non2xx:-0} + AB_N - AB_COMPLETE))
    AB_RPS=$(awk '/^Requests per second:/ {print $4}' "$AB_OUT")
    grep -E '^(Complete|Failed|Non-2xx|Time taken|Requests per)|aborted|apr_|ab-exit' "$AB_OUT" >&2 || true
}
run_ab() { ab_start "$@"; ab_finish; }

# Number of reloads the master has done (its generation counter), from the master CLI.
master_reloads() {
    baton --cli "show proc" -S "$MASTER_SOCK" | awk '$2 == "master" {print $4; exit}'
}

# Stops a process this test started, by pid, and reaps it.
stop_pid() { kill "$1" 2>/dev/null || true; wait "$1" 2>/dev/null || true; }
