#!/usr/bin/env bash
# Benchmark: baton against Debian's haproxy as a reverse proxy in front of one nginx, same
# generated haproxy.cfg (only the ports differ), interleaved wrk runs, medians.
#
# Cases: http keep-alive, http with "Connection: close", tcp (keep-alive HTTP through the tcp
# proxy), http-rules (keep-alive through a frontend with 20 ACLs and 10 use_backend rules, the
# last of which routes the request); nginx directly as a reference for the first two. Per run: good responses/s (2xx/3xx),
# p99 latency, wrk errors, the proxy's CPU time per good response (utime+stime of the whole
# process from /proc/PID/stat), backend connections opened per request (nginx stub_status);
# per case: peak RSS (VmHWM; each proxy is restarted for every case).
#
# Usage: bench/proxy-speed.sh
# Environment: BENCH_DURATION (wrk -d, default 10s), ROUNDS (default 3), BENCH_CASES (default
#   "http-ka http-close tcp http-rules"), BENCH_PORT_BASE (first of 8 consecutive ports on
#   127.0.0.1, default 28080), WRK_THREADS (2), WRK_CONNS (50),
#   BENCH_OUT (results directory, default bench/results), BENCH_NO_BUILD=1 (skip cargo build),
#   BENCH_WAIT_QUIET=N (wait up to N s before each run while another load generator or compiler
#   runs; default 0). Runs that overlap such a process are flagged in the report and the JSON.
# Output: a Markdown table per case on stdout, bench/results/proxy-speed-<date>.json and
#   bench/results/proxy-speed.svg.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
# shellcheck source=bench/lib/setup.sh
source "$root/bench/lib/setup.sh"

duration=${BENCH_DURATION:-10s}
rounds=${ROUNDS:-3}
port_base=${BENCH_PORT_BASE:-28080}
wrk_threads=${WRK_THREADS:-2}
wrk_conns=${WRK_CONNS:-50}
out_dir=${BENCH_OUT:-$root/bench/results}
cases=${BENCH_CASES:-http-ka http-close tcp http-rules}
for c in $cases; do
    case $c in http-ka | http-close | tcp | http-rules) ;; *) echo "proxy-speed: ERROR: unknown case '$c' in BENCH_CASES (http-ka http-close tcp http-rules)" >&2; exit 1 ;; esac
done

die() { echo "proxy-speed: ERROR: $*" >&2; exit 1; }
log() { echo "proxy-speed: $*" >&2; }

case $duration in
    *s) dur_s=${duration%s} ;;
    *m) dur_s=$((${duration%m} * 60)) ;;
    *h) dur_s=$((${duration%h} * 3600)) ;;
    *) dur_s=$duration ;;
esac
[[ $dur_s =~ ^[0-9]+$ && $dur_s -gt 0 ]] || die "BENCH_DURATION must be like 10s, 2m (got '$duration')"
[[ $rounds =~ ^[0-9]+$ && $rounds -gt 0 ]] || die "ROUNDS must be a positive integer"

for tool in haproxy nginx wrk curl python3 ss timeout; do
    command -v "$tool" >/dev/null || die "'$tool' not found (apt-get install -y haproxy nginx-light wrk curl iproute2)"
done

nginx_port=$port_base
nginx_status_port=$((port_base + 1))
hap_http=$((port_base + 2))
hap_tcp=$((port_base + 3))
bat_http=$((port_base + 4))
bat_tcp=$((port_base + 5))
hap_rules=$((port_base + 6))
bat_rules=$((port_base + 7))

# Everything we start is a child of this shell; cleanup stops each by PID.
work=$(mktemp -d /tmp/proxy-speed.XXXXXX)
declare -A started=() # pid -> name
nginx_pid=""

alive() { bench_alive "$1"; }

stop_pid() {
    local pid=$1
    [[ -n $pid ]] || return 0
    bench_stop "$pid" || log "pid $pid (${started[$pid]:-?}) ignored SIGTERM, was sent SIGKILL"
    unset "started[$pid]"
}

cleanup() {
    local rc=$? pid
    trap - EXIT INT TERM
    for pid in "${!started[@]}"; do stop_pid "$pid"; done
    rm -rf "$work"
    exit "$rc"
}
trap cleanup EXIT
trap 'log "interrupted"; exit 130' INT TERM

# ---------------------------------------------------------------- preflight
for p in $nginx_port $nginx_status_port $hap_http $hap_tcp $bat_http $bat_tcp $hap_rules $bat_rules; do
    if [[ -n $(ss -Hltn "sport = :$p" 2>/dev/null) ]]; then
        ss -Hltnp "sport = :$p" >&2 || true
        die "port 127.0.0.1:$p is already in use (set BENCH_PORT_BASE to another range)"
    fi
done

# Other load generators or proxies on this 2-core machine skew every number: warn and record.
foreign_procs() {
    local pid comm mine
    for pid in $(ps -eo pid= ); do
        [[ -n ${started[$pid]:-} || $pid == "$$" ]] && continue
        comm=$(cat "/proc/$pid/comm" 2>/dev/null) || continue
        case $comm in wrk | haproxy | nginx | baton | ab | h2load | hey | oha | rustc | cargo | cc1 | cc1plus | ld | perf) ;; *) continue ;; esac
        alive "$pid" || continue
        # nginx workers we started are children of our nginx master (none with master_process off).
        mine=$(sed 's/.*) //' "/proc/$pid/stat" 2>/dev/null | cut -d' ' -f2)
        [[ -n $mine && -n ${started[$mine]:-} ]] && continue
        echo "$pid:$comm"
    done | paste -sd' ' -
}
foreign_start=$(foreign_procs)
[[ -n $foreign_start ]] && log "WARNING: other load/proxy processes are running (results will be skewed): $foreign_start"

if [[ ${BENCH_NO_BUILD:-0} != 1 ]]; then
    log "building baton (cargo build --release -p baton)"
    cargo build -q --release -p baton
fi
baton=$root/target/release/baton
[[ -x $baton ]] || die "$baton not built"
haproxy=$(command -v haproxy)
clk_tck=$(getconf CLK_TCK)

# ---------------------------------------------------------------- backend: nginx
body=$bench_body
mkdir -p "$work/nginx"
bench_nginx_conf "$work/nginx" "$nginx_port" "$nginx_status_port" >"$work/nginx/nginx.conf"
nginx -p "$work/nginx" -c "$work/nginx/nginx.conf" >"$work/nginx/logs/stdout.log" 2>&1 &
nginx_pid=$!
started[$nginx_pid]=nginx

# Wait until URL answers 200 with the expected body, or fail loudly.
expect_ok() {
    local name=$1 pid=$2 url=$3 i got
    for ((i = 0; i < 50; i++)); do
        alive "$pid" || { cat "$work"/*.log "$work/nginx/logs/"* 2>/dev/null | tail -n 20 >&2; die "$name (pid $pid) exited before answering $url"; }
        if got=$(curl -sS --max-time 2 -o - -w '%{http_code}' "$url" 2>/dev/null) && [[ $got == "$body"$'\n'200 ]]; then
            return 0
        fi
        sleep 0.1
    done
    die "$name (pid $pid) does not answer $url with 200 and the expected body (last: '${got:-}')"
}
expect_ok nginx "$nginx_pid" "http://127.0.0.1:$nginx_port/"
nginx_accepts() { curl -s --max-time 2 "http://127.0.0.1:$nginx_status_port/" | awk '/^ *[0-9]+ +[0-9]+ +[0-9]+/{print $1; exit}'; }

# ---------------------------------------------------------------- proxies: one config, two port sets
# The http-rules frontend: 20 ACLs over the usual criteria and 10 use_backend rules; wrk's
# "GET /" matches none of the first nine, so every request evaluates all of them.
gen_rules() { # port
    cat <<EOF

frontend fe_rules
    mode http
    bind 127.0.0.1:$1
    acl a01 path_beg /api /v1 /v2
    acl a02 path_end .css .js .png
    acl a03 path_reg ^/admin(/|\$)
    acl a04 hdr_beg(host) -i static. img. cdn.
    acl a05 hdr_end(host) -i .internal
    acl a06 hdr(x-route) -i blue green
    acl a07 hdr_sub(user-agent) -i bot crawler
    acl a08 url_sub -i secret token=
    acl a09 method POST PUT DELETE
    acl a10 src 10.0.0.0/8 192.168.0.0/16
    acl a11 hdr_cnt(x-forwarded-for) gt 3
    acl a12 path_dir docs wiki
    acl a13 hdr_dom(host) -i example
    acl a14 dst_port 1:1023
    acl a15 hdr(x-debug) -m found
    acl a16 path_len gt 200
    acl a17 url_beg /internal
    acl a18 hdr_val(content-length) gt 1000000
    acl a19 path /healthz /readyz
    acl a20 path_beg /
    use_backend be_rules if a01 a09
    use_backend be_rules if a02 || a04
    use_backend be_rules if a03 !a10
    use_backend be_rules if a05 a06
    use_backend be_rules if a07 || a08
    use_backend be_rules if a11 a12
    use_backend be_rules if a13 a14
    use_backend be_rules if a15 || a16
    use_backend be_rules if a17 || a18 || a19
    use_backend be_rules if a20 !a10
    default_backend be_http

backend be_rules
    mode http
    balance roundrobin
    server nginx 127.0.0.1:$nginx_port
EOF
}
gen_cfg() { # http_port tcp_port rules_port
    bench_proxy_cfg "$1" "$2" "$nginx_port"
    gen_rules "$3"
}
gen_cfg "$hap_http" "$hap_tcp" "$hap_rules" >"$work/haproxy.cfg"
gen_cfg "$bat_http" "$bat_tcp" "$bat_rules" >"$work/baton.cfg"
cmp -s <(sed 's/:[0-9]*$//' "$work/haproxy.cfg") <(sed 's/:[0-9]*$//' "$work/baton.cfg") || die "configs differ beyond ports"
"$haproxy" -c -q -f "$work/haproxy.cfg" || die "haproxy rejects the generated config"
"$baton" -c -q -f "$work/baton.cfg" || die "baton rejects the generated config"
cp "$work/baton.cfg" "$work/config-used.cfg"

declare -A proxy_pid=()
start_proxies() {
    "$baton" -q -f "$work/baton.cfg" >>"$work/baton.log" 2>&1 &
    proxy_pid[baton]=$!
    started[$!]=baton
    # Foreground, single process, nbthread left to its default (one thread per CPU).
    "$haproxy" -db -q -f "$work/haproxy.cfg" >>"$work/haproxy.log" 2>&1 &
    proxy_pid[haproxy]=$!
    started[$!]=haproxy
    local t
    for t in baton haproxy; do
        local hp tp rp
        if [[ $t == baton ]]; then hp=$bat_http tp=$bat_tcp rp=$bat_rules; else hp=$hap_http tp=$hap_tcp rp=$hap_rules; fi
        expect_ok "$t (http frontend)" "${proxy_pid[$t]}" "http://127.0.0.1:$hp/"
        expect_ok "$t (tcp frontend)" "${proxy_pid[$t]}" "http://127.0.0.1:$tp/"
        expect_ok "$t (rules frontend)" "${proxy_pid[$t]}" "http://127.0.0.1:$rp/"
    done
}
stop_proxies() {
    stop_pid "${proxy_pid[baton]}"
    stop_pid "${proxy_pid[haproxy]}"
}

# With BENCH_WAIT_QUIET=N, wait up to N seconds before each run for other CPU-heavy processes
# (load generators, compilers) to go away; runs that still overlap one are flagged in the report.
load_comm='^(wrk|ab|h2load|hey|oha|rustc|cargo|cc1|cc1plus|ld|perf)$'
wait_quiet() {
    local i
    for ((i = 0; i < ${BENCH_WAIT_QUIET:-0}; i++)); do
        foreign_procs | tr ' ' '\n' | cut -s -d: -f2 | grep -Eq "$load_comm" || return 0
        sleep 1
    done
}

cpu_ticks() { sed 's/.*) //' "/proc/$1/stat" | awk '{print $12 + $13}'; }
hwm_kb() { awk '/^VmHWM:/{print $2}' "/proc/$1/status"; }

target_url() { # case target
    local port
    case $2 in
        nginx) port=$nginx_port ;;
        baton) case $1 in tcp) port=$bat_tcp ;; http-rules) port=$bat_rules ;; *) port=$bat_http ;; esac ;;
        haproxy) case $1 in tcp) port=$hap_tcp ;; http-rules) port=$hap_rules ;; *) port=$hap_http ;; esac ;;
    esac
    echo "http://127.0.0.1:$port/"
}

wrk_run() { # case target duration outfile
    local args=(-t"$wrk_threads" -c"$wrk_conns" -d"$3" --latency --timeout 5s)
    [[ $1 == http-close ]] && args+=(-H "Connection: close")
    timeout --kill-after=5 $((dur_s + 60)) wrk "${args[@]}" "$(target_url "$1" "$2")" >"$4" 2>&1 \
        || die "wrk failed against $2 ($1): $(tail -n 5 "$4")"
}

# One record per measured run, TSV: case target round wrkfile proxy_ticks nginx_ticks backend_conns
runs=$work/runs.tsv
: >"$runs"
: >"$work/rss.tsv"
started_at=$(date -u +%Y-%m-%dT%H:%M:%SZ)
for c in $cases; do
    targets=(baton haproxy)
    [[ $c == http-ka || $c == http-close ]] && targets+=(nginx)
    log "case $c: starting fresh baton and haproxy"
    start_proxies
    for t in "${targets[@]}"; do wrk_run "$c" "$t" 1s "$work/warmup.txt"; done # not recorded
    for ((r = 1; r <= rounds; r++)); do
        for t in "${targets[@]}"; do
            if [[ $t == nginx ]]; then pid=$nginx_pid; else pid=${proxy_pid[$t]}; fi
            alive "$pid" || die "$t died during case $c (see its log)"
            f=$work/wrk-$c-$t-$r.txt
            wait_quiet
            fg=$(foreign_procs)
            a0=$(nginx_accepts)
            p0=$(cpu_ticks "$pid")
            n0=$(cpu_ticks "$nginx_pid")
            wrk_run "$c" "$t" "$duration" "$f"
            p1=$(cpu_ticks "$pid")
            n1=$(cpu_ticks "$nginx_pid")
            a1=$(nginx_accepts)
            fg="$fg $(foreign_procs)"
            alive "$pid" || die "$t died during a $c run: $(tail -n 5 "$work/$t.log" 2>/dev/null)"
            printf '%s\t%s\t%d\t%s\t%d\t%d\t%d\t%s\n' "$c" "$t" "$r" "$f" $((p1 - p0)) $((n1 - n0)) $((a1 - a0 - 1)) "$fg" >>"$runs"
            log "  round $r $t: $(awk '/Requests\/sec/{print $2}' "$f") req/s"
        done
    done
    for t in baton haproxy; do printf '%s\t%s\t%s\n' "$c" "$t" "$(hwm_kb "${proxy_pid[$t]}")" >>"$work/rss.tsv"; done
    printf '%s\t%s\t%s\n' "$c" nginx "$(hwm_kb "$nginx_pid")" >>"$work/rss.tsv"
    stop_proxies
done
foreign_end=$(foreign_procs)
[[ -n $foreign_end ]] && log "WARNING: other load/proxy processes were running at the end: $foreign_end"

# ---------------------------------------------------------------- report
mkdir -p "$out_dir"
day=$(date +%Y-%m-%d)
meta=$work/meta.json
python3 - "$meta" <<PY
import json, sys
json.dump({
    "started_at": "$started_at",
    "duration": "$duration", "rounds": $rounds,
    "wrk": {"threads": $wrk_threads, "connections": $wrk_conns, "version": """$(wrk -v 2>&1 | sed -n 1p | cut -d' ' -f1-2)"""},
    "cpus": $(nproc), "kernel": "$(uname -r)", "clk_tck": $clk_tck,
    "haproxy_version": "$("$haproxy" -v | sed -n 1p | awk '{print $3}')",
    "nginx_version": "$(nginx -v 2>&1 | sed 's/.*nginx\///')",
    "baton_commit": "$(git rev-parse --short HEAD)$(git diff --quiet HEAD -- crates 2>/dev/null || echo -dirty)",
    "response_bytes_body": 100,
    "foreign_processes": {"start": "$foreign_start", "end": "$foreign_end"},
    "config": open("$work/config-used.cfg").read(),
}, open(sys.argv[1], "w"), indent=1)
PY

python3 - "$runs" "$work/rss.tsv" "$meta" "$out_dir/proxy-speed-$day.json" "$out_dir/proxy-speed.svg" <<'PY'
import json, math, re, statistics, sys
runs_f, rss_f, meta_f, json_out, svg_out = sys.argv[1:]
meta = json.load(open(meta_f))
tck = meta["clk_tck"]
UNIT = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3}

def ms(v):
    m = re.fullmatch(r"([\d.]+)(us|ms|s|m)", v)
    return float(m.group(1)) * UNIT[m.group(2)]

def parse_wrk(path):
    t = open(path).read()
    m = re.search(r"(\d+) requests in ([\d.]+)(us|ms|s|m),", t)
    req, secs = int(m.group(1)), ms(m.group(2) + m.group(3)) / 1e3
    non2xx = int((re.search(r"Non-2xx or 3xx responses: (\d+)", t) or [0, 0])[1])
    se = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", t)
    sock = dict(zip(("connect", "read", "write", "timeout"), map(int, se.groups()))) if se else \
        {"connect": 0, "read": 0, "write": 0, "timeout": 0}
    p99 = re.search(r"^\s+99%\s+(\S+)", t, re.M)
    return {"requests": req, "seconds": secs, "non2xx": non2xx, "socket_errors": sock,
            "p99_ms": ms(p99.group(1)) if p99 else None,
            "wrk_rps": float(re.search(r"Requests/sec:\s+([\d.]+)", t).group(1))}

runs = []
for line in open(runs_f):
    case, target, rnd, path, pt, nt, conns, fg = line.rstrip("\n").split("\t")
    # Other processes seen just before or after the run; a load generator among them skews it.
    fg = sorted(set(fg.split()))
    w = parse_wrk(path)
    good = w["requests"] - w["non2xx"]
    w.update(case=case, target=target, round=int(rnd),
             good_rps=good / w["seconds"],
             errors=w["non2xx"] + sum(w["socket_errors"].values()),
             cpu_s=int(pt) / tck,
             cpu_us_per_req=int(pt) / tck * 1e6 / good if good else None,
             nginx_cpu_us_per_req=int(nt) / tck * 1e6 / good if good else None,
             backend_conns=int(conns), foreign_processes=fg,
             foreign_load=any(p.split(":")[1] in ("wrk", "ab", "h2load", "hey", "oha", "rustc", "cargo", "cc1", "cc1plus", "ld", "perf") for p in fg),
             backend_conns_per_req=int(conns) / good if good else None)
    runs.append(w)
rss = {}
for line in open(rss_f):
    case, target, kb = line.split()
    rss[(case, target)] = int(kb) / 1024

CASES = [("http-ka", "http keep-alive"), ("http-close", "http Connection: close"), ("tcp", "tcp (keep-alive through tcp proxy)"),
         ("http-rules", "http keep-alive, 20 ACLs + 10 use_backend rules")]
CASES = [c for c in CASES if any(r["case"] == c[0] for r in runs)]
summary = {}
for case, _ in CASES:
    for target in ("baton", "haproxy", "nginx"):
        rs = [r for r in runs if r["case"] == case and r["target"] == target]
        if not rs:
            continue
        med = lambda k: statistics.median(r[k] for r in rs if r[k] is not None) if any(r[k] is not None for r in rs) else None
        err = {"non2xx": sum(r["non2xx"] for r in rs)}
        for k in ("connect", "read", "write", "timeout"):
            err[k] = sum(r["socket_errors"][k] for r in rs)
        summary.setdefault(case, {})[target] = {
            "rps": med("good_rps"), "p99_ms": med("p99_ms"), "cpu_us_per_req": med("cpu_us_per_req"),
            "backend_conns_per_req": med("backend_conns_per_req"),
            "nginx_cpu_us_per_req": med("nginx_cpu_us_per_req"),
            "peak_rss_mib": rss.get((case, target)), "errors": err, "errors_total": sum(err.values()),
            "requests_total": sum(r["requests"] for r in rs), "rounds": len(rs)}

json.dump({"meta": meta, "summary": summary, "runs": runs}, open(json_out, "w"), indent=1)

def f(v, fmt):
    return "n/a" if v is None else format(v, fmt)

def errs(s):
    if not s["errors_total"]:
        return "0"
    return "**" + ", ".join(f"{k} {v}" for k, v in s["errors"].items() if v) + "**"

print(f"\n{meta['rounds']} interleaved rounds of `wrk -t{meta['wrk']['threads']} -c{meta['wrk']['connections']} "
      f"-d{meta['duration']} --latency`, medians; {meta['cpus']} CPUs; haproxy {meta['haproxy_version']}, "
      f"nginx {meta['nginx_version']}, baton {meta['baton_commit']}. req/s counts only 2xx/3xx responses; "
      f"CPU is the proxy process's utime+stime per such response; errors are summed over all rounds.")
for case, title in CASES:
    s = summary[case]
    b, h, n = s["baton"], s["haproxy"], s.get("nginx")
    ratio = lambda k: f(b[k] / h[k], ".2f") if b[k] and h[k] else "n/a"
    print(f"\n**{title}**\n")
    print("| metric | baton | haproxy | baton/haproxy |" + (" nginx direct |" if n else ""))
    print("|---|---|---|---|" + ("---|" if n else ""))
    rows = [("req/s (median)", "rps", ",.0f"), ("p99 latency ms", "p99_ms", ".2f"),
            ("proxy CPU µs/request", "cpu_us_per_req", ".1f"), ("peak RSS MiB", "peak_rss_mib", ".1f"),
            ("backend conns/request", "backend_conns_per_req", ".4f")]
    for label, k, fmt in rows:
        extra = ""
        if n:
            extra = " " + ("n/a (no proxy)" if k == "backend_conns_per_req" else
                           f(n[k], fmt) + (" (nginx itself)" if k in ("cpu_us_per_req", "peak_rss_mib") else "")) + " |"
        print(f"| {label} | {f(b[k], fmt)} | {f(h[k], fmt)} | {ratio(k)} |{extra}")
    print(f"| errors (non-2xx/3xx, socket) | {errs(b)} | {errs(h)} | |" + (f" {errs(n)} |" if n else ""))
skewed = [f"{r['case']}/{r['target']}/{r['round']}" for r in runs if r["foreign_load"]]
others = sorted({p for r in runs for p in r["foreign_processes"]})
if skewed:
    print(f"\nWARNING: another CPU-heavy process (load generator, compiler) was running around {len(skewed)} of {len(runs)} runs "
          f"({', '.join(skewed)}); those numbers are skewed. Other processes seen: {' '.join(others)}")
elif others:
    print(f"\nnote: other servers were present (no other load generator or compiler seen around any run): {' '.join(others)}")

# ---- SVG: two panels, grouped bars per case
COL = {"baton": "#d9534f", "haproxy": "#337ab7", "nginx": "#999999"}
W, H, PW, PH, TOP, LEFT = 980, 420, 400, 300, 60, 70
svg = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" font-family="sans-serif" font-size="12">',
       f'<rect width="{W}" height="{H}" fill="white"/>',
       f'<text x="{W/2}" y="22" text-anchor="middle" font-size="15">baton vs haproxy {meta["haproxy_version"]} in front of nginx '
       f'(wrk -c{meta["wrk"]["connections"]} -d{meta["duration"]}, {meta["rounds"]} round(s), medians, {meta["cpus"]} CPUs)</text>']

def panel(x0, title, key, fmt, targets):
    vals = [summary[c][t][key] or 0 for c, _ in CASES for t in targets if t in summary[c]]
    raw = max(vals) * 1.12 or 1
    step = 10 ** math.floor(math.log10(raw / 5))
    step = next(m * step for m in (1, 2, 2.5, 5, 10) if m * step * 5 >= raw)
    vmax = step * 5
    svg.append(f'<text x="{x0 + PW/2}" y="{TOP - 14}" text-anchor="middle" font-size="13" font-weight="bold">{title}</text>')
    for i in range(6):
        v = vmax * i / 5
        y = TOP + PH - PH * i / 5
        svg.append(f'<line x1="{x0}" x2="{x0+PW}" y1="{y:.1f}" y2="{y:.1f}" stroke="#ddd"/>')
        svg.append(f'<text x="{x0-6}" y="{y+4:.1f}" text-anchor="end">{v:{fmt}}</text>')
    gw = PW / len(CASES)
    for ci, (c, _) in enumerate(CASES):
        ts = [t for t in targets if t in summary[c]]
        bw = gw * 0.75 / len(ts)
        gx = x0 + ci * gw + gw * 0.125
        for ti, t in enumerate(ts):
            s = summary[c][t]
            v = s[key] or 0
            bh = PH * v / vmax
            x, y = gx + ti * bw, TOP + PH - bh
            svg.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="{bw-2:.1f}" height="{bh:.1f}" fill="{COL[t]}"/>')
            svg.append(f'<text x="{x + bw/2 - 1:.1f}" y="{y-4:.1f}" text-anchor="middle" font-size="10">{v:{fmt}}</text>')
            if s["errors_total"]:
                svg.append(f'<text x="{x + bw/2 - 1:.1f}" y="{y-16:.1f}" text-anchor="middle" font-size="10" fill="red">errors!</text>')
        svg.append(f'<text x="{x0 + ci*gw + gw/2:.1f}" y="{TOP+PH+18}" text-anchor="middle">{c}</text>')
    svg.append(f'<line x1="{x0}" x2="{x0}" y1="{TOP}" y2="{TOP+PH}" stroke="black"/>')
    svg.append(f'<line x1="{x0}" x2="{x0+PW}" y1="{TOP+PH}" y2="{TOP+PH}" stroke="black"/>')

panel(LEFT, "requests/s (2xx/3xx)", "rps", ",.0f", ("baton", "haproxy", "nginx"))
panel(LEFT + PW + 90, "proxy CPU µs per request (lower is better)", "cpu_us_per_req", ".1f", ("baton", "haproxy"))
lx = LEFT
for t, label in (("baton", "baton"), ("haproxy", "haproxy"), ("nginx", "nginx direct (reference)")):
    svg.append(f'<rect x="{lx}" y="{H-32}" width="12" height="12" fill="{COL[t]}"/>')
    svg.append(f'<text x="{lx+16}" y="{H-22}">{label}</text>')
    lx += 40 + 7 * len(label)
svg.append("</svg>")
open(svg_out, "w").write("\n".join(svg) + "\n")
print(f"\nresults: {json_out}\nchart:   {svg_out}")
PY
