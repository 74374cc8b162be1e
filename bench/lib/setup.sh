# shellcheck shell=bash
# What bench/proxy-speed.sh and bench/proxy-count.sh share, so that both measure the same setup:
# the process helpers, the nginx backend's configuration and the proxy configuration that baton
# and haproxy both run. Sourced, not run.

# The 100-byte body nginx answers with: 99 characters and a newline.
bench_body="baton-bench-$(printf 'x%.0s' $(seq 87))"

# Alive = /proc/PID/stat exists and the state is not zombie or dead: `kill -0` succeeds on a
# zombie, and PID 1 on these machines reaps orphans slowly.
bench_alive() { # pid
    local st
    st=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1) || return 1
    [[ -n $st && $st != Z && $st != X ]]
}

# Stops PID (one we started): SIGTERM, up to 10 s, then SIGKILL; reaps it. Returns 1 when it
# took SIGKILL, so the caller can say so.
bench_stop() { # pid
    local pid=$1 i killed=0
    [[ -n $pid ]] || return 0
    if bench_alive "$pid"; then
        kill -TERM "$pid" 2>/dev/null || true
        for ((i = 0; i < 100; i++)); do bench_alive "$pid" || break; sleep 0.1; done
        if bench_alive "$pid"; then
            kill -KILL "$pid" 2>/dev/null || true
            killed=1
        fi
    fi
    wait "$pid" 2>/dev/null || true
    return $((killed))
}

# nginx.conf for one single-process nginx in the foreground, everything under DIR (logs/, tmp/,
# which this creates), answering $bench_body on PORT, and `stub_status` on STATUS_PORT if given.
bench_nginx_conf() { # dir port [status_port]
    local dir=$1 port=$2 status_port=${3:-}
    mkdir -p "$dir/logs" "$dir/tmp"
    cat <<CONF
worker_processes 1;
master_process off;
daemon off;
pid $dir/nginx.pid;
error_log $dir/logs/error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    client_body_temp_path $dir/tmp/body;
    proxy_temp_path $dir/tmp/proxy;
    fastcgi_temp_path $dir/tmp/fastcgi;
    uwsgi_temp_path $dir/tmp/uwsgi;
    scgi_temp_path $dir/tmp/scgi;
    keepalive_requests 10000000;
    keepalive_timeout 75s;
    server {
        listen 127.0.0.1:$port backlog=4096;
        location / { default_type text/plain; return 200 "$bench_body\n"; }
    }
CONF
    if [[ -n $status_port ]]; then
        cat <<CONF
    server {
        listen 127.0.0.1:$status_port;
        location / { stub_status; }
    }
CONF
    fi
    echo "}"
}

# The configuration both proxies run (only the ports differ): an http and a tcp
# frontend/backend pair in front of nginx, global maxconn 5000, nbthread left to its default.
bench_proxy_cfg() { # http_port tcp_port nginx_port
    cat <<CONF
global
    maxconn 5000

defaults
    timeout connect 5s
    timeout client 30s
    timeout server 30s

frontend fe_http
    mode http
    bind 127.0.0.1:$1
    default_backend be_http

backend be_http
    mode http
    balance roundrobin
    server nginx 127.0.0.1:$3

frontend fe_tcp
    mode tcp
    bind 127.0.0.1:$2
    default_backend be_tcp

backend be_tcp
    mode tcp
    balance roundrobin
    server nginx 127.0.0.1:$3
CONF
}
