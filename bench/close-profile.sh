#!/usr/bin/env bash
# Per-request cost of `Connection: close` HTTP proxying, baton against Debian's haproxy, counted
# rather than timed (the machine is shared): user-space instructions per request (callgrind,
# one thread each) and system calls per request (strace -c -f), over N requests from `ab`
# (HTTP/1.0, a new connection per request) to one nginx backend.
#
#   bench/close-profile.sh [N]          # default 3000 requests; needs valgrind strace ab nginx
#
# Prints one table; the callgrind output files stay in $BENCH_KEEP (if set) for
# `callgrind_annotate`.
set -euo pipefail
n=${1:-3000}
root=$(cd "$(dirname "$0")/.." && pwd)
base=${BENCH_PORT_BASE:-28180}
work=$(mktemp -d)
declare -a pids=()
cleanup() {
    local p
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    rm -rf "$work"
}
trap cleanup EXIT
for tool in valgrind strace ab nginx haproxy; do
    command -v "$tool" >/dev/null || { echo "'$tool' missing (apt-get install -y valgrind strace apache2-utils nginx-light haproxy)" >&2; exit 1; }
done
[[ ${BENCH_NO_BUILD:-0} == 1 ]] || cargo build -q --release -p baton
baton=$root/target/release/baton

mkdir -p "$work/nginx/tmp"
cat >"$work/nginx.conf" <<EOF
worker_processes 1; master_process off; daemon off; pid $work/nginx.pid;
error_log $work/nginx-error.log warn;
events { worker_connections 4096; }
http { access_log off; client_body_temp_path $work/nginx/tmp;
  server { listen 127.0.0.1:$base backlog=4096;
    location / { default_type text/plain; return 200 "baton-bench-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\n"; } } }
EOF
nginx -p "$work" -c "$work/nginx.conf" &
pids+=($!)

cfg() { # port
    printf 'global\n    maxconn 5000\n    nbthread 1\ndefaults\n    mode http\n    timeout connect 5s\n    timeout client 30s\n    timeout server 30s\nfrontend fe\n    bind 127.0.0.1:%s\n    default_backend be\nbackend be\n    server nginx 127.0.0.1:%s\n' "$1" "$base"
}
cfg $((base + 1)) >"$work/baton.cfg"
cfg $((base + 2)) >"$work/haproxy.cfg"

wait_port() { for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$1/" && return 0; sleep 0.1; done; echo "port $1 never answered" >&2; exit 1; }
wait_port "$base"

# run NAME PORT WRAPPER...: starts the proxy under WRAPPER, sends N requests, stops it.
run() {
    local name=$1 port=$2; shift 2
    local wrapper=$1 bin=$baton
    [[ $name == haproxy ]] && bin=$(command -v haproxy)
    "$@" "$bin" -db -f "$work/$name.cfg" 2>"$work/$name.err" &
    local pid=$!
    wait_port "$port"
    ab -q -n "$n" -c 10 "http://127.0.0.1:$port/" >"$work/$name.ab" 2>&1
    grep -q "^Failed requests: *0" "$work/$name.ab" || { cat "$work/$name.ab" >&2; exit 1; }
    # Under strace, the proxy is strace's child: signal the proxy itself.
    local target=$pid
    [[ $wrapper == strace ]] && target=$(cat "/proc/$pid/task/$pid/children")
    kill -TERM $target; wait "$pid" 2>/dev/null || true
}

out=${BENCH_KEEP:-$work}
mkdir -p "$out"
printf '%-8s %14s %12s   %s\n' proxy "instr/request" "syscalls/req" "top system calls per request"
for name in baton haproxy; do
    port=$((base + 1)); [[ $name == haproxy ]] && port=$((base + 2))
    # Warm-up requests (the first few allocate) are part of N: N is large enough to drown them.
    run "$name" "$port" valgrind --tool=callgrind --callgrind-out-file="$out/callgrind.$name" -q
    ir=$(grep -m1 '^summary:' "$out/callgrind.$name" | awk '{print $2}')
    run "$name" "$port" strace -c -f -o "$work/$name.strace"
    # strace -c columns: % time, seconds, usecs/call, calls, [errors], syscall.
    calls=$(awk '$NF=="total"{print $4}' "$work/$name.strace")
    top=$(awk -v n="$n" '$1 ~ /^[0-9.]+$/ && $NF!="total" {printf "%s=%.2f\n", $NF, $4/n}' "$work/$name.strace" | sort -t= -k2 -rn | head -9 | tr '\n' ' ')
    printf '%-8s %14.0f %12.2f   %s\n' "$name" "$(echo "$ir / $n" | bc -l)" "$(echo "$calls / $n" | bc -l)" "$top"
done
