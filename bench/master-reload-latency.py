#!/usr/bin/env python3
"""Reload latency through the master CLI: `reload` sent → `Success=1` received.

`reload` on baton's master CLI answers only when the new worker serves (it has taken the
listeners and said READY), so this round trip is the time from asking for a reload to the new
worker being in charge: configuration check, re-execution of the master, new worker start,
`_getsocks` over the socketpair. Also timed: the first response served after the answer.

Usage: bench/master-reload-latency.py [--runs 60]
Environment: BATON (default target/release/baton). Loopback only; the master it starts is
stopped by pid (SIGTERM) at the end.
"""

import argparse
import os
import signal
import socket
import statistics
import subprocess
import tempfile
import time

CONFIG = """global
    maxconn 1000
defaults
    mode http
    timeout connect 1s
    timeout client 10s
    timeout server 10s
frontend web
    bind 127.0.0.1:{port}
    http-request return status 200 content-type text/plain string "ok\\n"
"""


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cli(path, command):
    with socket.socket(socket.AF_UNIX) as s:
        s.settimeout(30)
        s.connect(path)
        s.sendall(command.encode() + b"\n")
        out = b""
        while chunk := s.recv(65536):
            out += chunk
    return out.decode(errors="replace")


def get(port):
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        return s.recv(4096).startswith(b"HTTP/1.1 200")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=60)
    args = ap.parse_args()
    baton = os.environ.get("BATON", "target/release/baton")
    with tempfile.TemporaryDirectory() as d:
        port = free_port()
        cfg = os.path.join(d, "baton.cfg")
        sock = os.path.join(d, "master.sock")
        with open(cfg, "w") as f:
            f.write(CONFIG.format(port=port))
        master = subprocess.Popen([baton, "-W", "-q", "-f", cfg, "-S", sock],
                                  stdin=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            deadline = time.time() + 20
            while not os.path.exists(sock) or not get_ok(port):
                assert time.time() < deadline, "baton -W did not start"
                time.sleep(0.05)
            reload_ms, served_ms = [], []
            for _ in range(args.runs):
                t0 = time.perf_counter()
                answer = cli(sock, "reload")
                t1 = time.perf_counter()
                assert answer.startswith("Success=1"), answer
                assert get(port)
                t2 = time.perf_counter()
                reload_ms.append((t1 - t0) * 1000)
                served_ms.append((t2 - t0) * 1000)
                time.sleep(0.05)
            print(f"runs: {args.runs}")
            print(f"reload → Success=1: median {statistics.median(reload_ms):.1f} ms, "
                  f"min {min(reload_ms):.1f}, max {max(reload_ms):.1f}")
            print(f"reload → first response after it: median {statistics.median(served_ms):.1f} ms")
        finally:
            master.send_signal(signal.SIGTERM)
            master.wait(timeout=20)


def get_ok(port):
    try:
        return get(port)
    except OSError:
        return False


if __name__ == "__main__":
    main()
