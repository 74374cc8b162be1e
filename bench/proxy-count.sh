#!/usr/bin/env bash
# Noise-immune companion of proxy-speed.sh: user-space instructions (callgrind) and system
# calls (strace -c) per request of baton and Debian's haproxy serving the same N requests, with
# the same generated config in front of one nginx. Counts do not depend on what else the
# machine is doing, so this works while other jobs compile; wall-clock numbers need
# proxy-speed.sh on a quiet machine.
#
# Cases: http keep-alive (ab -k), http without keep-alive (ab, one connection per request),
# tcp (ab -k through the tcp proxy). Each proxy is started fresh per case and tool, warmed up
# with 500 requests; counters are then zeroed (callgrind_control -z) or strace attached, the
# measured `ab -n N -c 20` runs, and the counts are divided by N.
#
# Usage: bench/proxy-count.sh [N]        (default 20000)
# Environment: COUNT_TOOLS ("strace callgrind"), COUNT_CASES ("ka close tcp"),
#   COUNT_TARGETS ("baton haproxy"), BENCH_PORT_BASE (first of 6 ports, default 28180),
#   BENCH_NO_BUILD=1, COUNT_SYSCALLS=1 (print the per-system-call table too).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
# shellcheck source=bench/lib/setup.sh
source "$root/bench/lib/setup.sh"
n=${1:-20000}
tools=${COUNT_TOOLS:-strace callgrind}
cases=${COUNT_CASES:-ka close tcp}
targets=${COUNT_TARGETS:-baton haproxy}
port_base=${BENCH_PORT_BASE:-28180}

die() { echo "proxy-count: ERROR: $*" >&2; exit 1; }
for tool in haproxy nginx ab curl strace valgrind callgrind_control; do
    command -v "$tool" >/dev/null || die "'$tool' not found (apt-get install -y haproxy nginx-light apache2-utils curl strace valgrind)"
done
if [[ ${BENCH_NO_BUILD:-0} != 1 ]]; then cargo build -q --release -p baton; fi
baton=$root/target/release/baton

nginx_port=$port_base
declare -A http_port=([haproxy]=$((port_base + 2)) [baton]=$((port_base + 4)))
declare -A tcp_port=([haproxy]=$((port_base + 3)) [baton]=$((port_base + 5)))
work=$(mktemp -d /tmp/proxy-count.XXXXXX)
pids=()
alive() { bench_alive "$1"; }
stop_pid() { bench_stop "$1" || true; }
cleanup() { local p; for p in "${pids[@]}"; do stop_pid "$p"; done; rm -rf "$work"; }
trap cleanup EXIT

mkdir -p "$work/nginx"
bench_nginx_conf "$work/nginx" "$nginx_port" >"$work/nginx/nginx.conf"
nginx -p "$work/nginx" -c "$work/nginx/nginx.conf" &
pids+=($!)

for t in baton haproxy; do
    bench_proxy_cfg "${http_port[$t]}" "${tcp_port[$t]}" "$nginx_port" >"$work/$t.cfg"
done

wait_up() { # url pid
    local i
    for ((i = 0; i < 300; i++)); do
        alive "$2" || die "process $2 exited before answering $1"
        curl -sf --max-time 2 -o /dev/null "$1" && return 0
        sleep 0.1
    done
    die "no answer from $1"
}
wait_up "http://127.0.0.1:$nginx_port/" "${pids[0]}"

run_ab() { # case url count -> prints complete/failed, dies on failures
    local args=(-q -n "$3" -c 20) out
    [[ $1 != close ]] && args+=(-k)
    out=$(ab "${args[@]}" "$2" 2>&1) || die "ab failed: $out"
    local done failed
    done=$(awk '/^Complete requests:/{print $3}' <<<"$out")
    failed=$(awk '/^Failed requests:/{print $3}' <<<"$out")
    [[ $done == "$3" && $failed == 0 ]] || die "ab: $done complete, $failed failed against $2"
}

start_proxy() { # target prefix... -> pid in $proxy
    local t=$1
    shift
    if [[ $t == baton ]]; then
        "$@" "$baton" -q -f "$work/$t.cfg" >"$work/$t.log" 2>&1 &
    else
        "$@" haproxy -db -q -f "$work/$t.cfg" >"$work/$t.log" 2>&1 &
    fi
    proxy=$!
    pids+=("$proxy")
}

printf '%-8s %-6s %-9s %14s %s\n' target case tool per_request detail
for c in $cases; do
    for t in $targets; do
        if [[ $c == tcp ]]; then port=${tcp_port[$t]}; else port=${http_port[$t]}; fi
        url="http://127.0.0.1:$port/"
        for tool in $tools; do
            case $tool in
            strace)
                start_proxy "$t"
                wait_up "$url" "$proxy"
                run_ab "$c" "$url" 500
                strace -c -f -qq -o "$work/strace.txt" -p "$proxy" &
                st=$!
                sleep 1
                run_ab "$c" "$url" "$n"
                kill -INT "$st"
                wait "$st" 2>/dev/null || true
                # strace -c columns: % time, seconds, usecs/call, calls, [errors], syscall
                total=$(awk '$NF == "total" {print $4}' "$work/strace.txt")
                detail=$(awk -v n="$n" '/^ *[0-9.]+ +[0-9.]+ +[0-9]+ +[0-9]+/ && $NF != "total" {printf "%s=%.2f ", $NF, $4 / n}' "$work/strace.txt")
                printf '%-8s %-6s %-9s %14.2f %s\n' "$t" "$c" syscalls "$(awk -v a="$total" -v n="$n" 'BEGIN{print a / n}')" "$detail"
                [[ ${COUNT_SYSCALLS:-0} == 1 ]] && cat "$work/strace.txt"
                ;;
            callgrind)
                start_proxy "$t" valgrind -q --tool=callgrind --callgrind-out-file="$work/cg.%p"
                wait_up "$url" "$proxy"
                run_ab "$c" "$url" 500
                callgrind_control -z "$proxy" >/dev/null 2>&1
                run_ab "$c" "$url" "$n"
                rm -f "$work"/cg.*
                callgrind_control -d "$proxy" >/dev/null 2>&1
                ir=$(cat "$work"/cg.* | awk '/^(summary|totals):/{s += $2} END{print s}')
                printf '%-8s %-6s %-9s %14.0f %s\n' "$t" "$c" instr "$(awk -v a="$ir" -v n="$n" 'BEGIN{print a / n}')" "(user space, callgrind Ir)"
                ;;
            esac
            stop_pid "$proxy"
        done
    done
done
