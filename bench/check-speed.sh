#!/usr/bin/env bash
# Benchmark: `baton -c` against Debian's `haproxy -c` on a generated configuration of
# BACKENDS backends x 4 servers (default 10,000), interleaved runs, medians, ratio.
# Usage: bench/check-speed.sh [BACKENDS] [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/.."
backends=${1:-10000}
rounds=${2:-7}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cfg="$work/big.cfg"

{
    printf 'global\n    maxconn 10000\n    stats socket %s/admin.sock level admin expose-fd listeners\n\n' "$work"
    printf 'defaults\n    mode http\n    timeout connect 5s\n    timeout client 30s\n    timeout server 30s\n\n'
    printf 'frontend web\n    bind 127.0.0.1:18080\n    default_backend be0\n\n'
    for ((b = 0; b < backends; b++)); do
        printf 'backend be%d\n    balance roundrobin\n' "$b"
        for s in 1 2 3 4; do
            printf '    server s%d 127.0.%d.%d:%d check inter 2s weight 10\n' "$s" $((b % 250)) "$s" $((10000 + b % 50000))
        done
    done
} >"$cfg"

cargo build -q --release -p baton
baton=target/release/baton
haproxy=$(command -v haproxy)
"$baton" -c -q -f "$cfg" || { echo "baton rejects the generated config" >&2; exit 1; }
"$haproxy" -c -q -f "$cfg" || { echo "haproxy rejects the generated config" >&2; exit 1; }

# One timed run: wall seconds, then user+sys CPU seconds, from GNU time's format.
timed() { /usr/bin/time -f '%e %U %S %M' "$@" -c -q -f "$cfg" 2>&1 >/dev/null | tail -n 1; }

: >"$work/baton.txt"
: >"$work/haproxy.txt"
for ((r = 0; r < rounds; r++)); do
    timed "$baton" >>"$work/baton.txt"
    timed "$haproxy" >>"$work/haproxy.txt"
done

python3 - "$work" "$backends" "$rounds" <<'PY'
import statistics, sys
work, backends, rounds = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
def load(name):
    rows = [list(map(float, l.split())) for l in open(f"{work}/{name}.txt") if l.strip()]
    return {"wall": statistics.median(r[0] for r in rows),
            "cpu": statistics.median(r[1] + r[2] for r in rows),
            "rss": statistics.median(r[3] for r in rows) / 1024}
b, h = load("baton"), load("haproxy")
print(f"config: {backends} backends x 4 servers ({backends*4} servers), {rounds} interleaved rounds, medians")
print(f"| checker | wall s | CPU s | peak RSS MiB |")
print(f"|---|---|---|---|")
print(f"| haproxy -c | {h['wall']:.3f} | {h['cpu']:.3f} | {h['rss']:.1f} |")
print(f"| baton -c | {b['wall']:.3f} | {b['cpu']:.3f} | {b['rss']:.1f} |")
print(f"| ratio haproxy/baton (>1: baton faster) | {h['wall']/b['wall']:.2f} | {h['cpu']/b['cpu']:.2f} | {h['rss']/b['rss']:.2f} |")
PY
