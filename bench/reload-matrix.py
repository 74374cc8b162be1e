#!/usr/bin/env python3
"""Reload matrix: requests lost per reload method, baton and Debian's haproxy side by side.

For each (proxy, method, interval, keep-alive) cell: start the proxy on a generated config that
answers by itself (`http-request return`), run `ab -r -c 20 -n REQUESTS` against it, and reload
it every INTERVAL until ab ends, the way an operator's script does (`-p PIDFILE`, `-sf $(cat
PIDFILE)`, `-x SOCK` for the hand-over method; each reload waits for the pid file to change).
Lost requests are ab's Connect failures plus max(Receive, Length, Exceptions) — one reset shows
in all three — plus non-2xx answers; an ab run that aborts ("Test aborted after 10 failures")
is reported as such.

Also measures the reload latency: from starting the new process to the first response that the
new process serves (the old one is stopped and draining, so any answer after its pid file
changed and its predecessor stopped accepting comes from the new one), median of RUNS.

Usage: bench/reload-matrix.py [--requests N] [--intervals 1,0.2,0.05] [--out FILE.md]
Environment: BATON (default target/release/baton), HAPROXY (default /usr/sbin/haproxy).
Loopback only; every process it starts is stopped by pid at the end.
"""

import argparse
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

BATON = os.environ.get("BATON", "target/release/baton")
HAPROXY = os.environ.get("HAPROXY", "/usr/sbin/haproxy")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_config(directory, port):
    path = os.path.join(directory, "proxy.cfg")
    with open(path, "w") as f:
        f.write(
            "global\n"
            f"    stats socket {directory}/admin.sock mode 600 level admin expose-fd listeners\n"
            "    maxconn 4000\n"
            "defaults\n    mode http\n    timeout connect 1s\n    timeout client 30s\n"
            "    timeout server 30s\n    timeout http-keep-alive 10s\n"
            f"frontend web\n    bind 127.0.0.1:{port} backlog 1024\n"
            "    http-request return status 200 content-type text/plain string \"ok\\n\"\n"
        )
    return path


class Proxy:
    """One proxy program and how to start a generation of it."""

    def __init__(self, name, binary, directory, cfg):
        self.name, self.binary, self.directory, self.cfg = name, binary, directory, cfg
        self.pidfile = os.path.join(directory, "proxy.pid")
        self.pids = set()

    def start(self, take=False, stop_pid=None):
        """Starts a daemonised generation (`-D`: the command returns once it has its sockets);
        returns whether the command succeeded."""
        args = [self.binary, "-D", "-q", "-f", self.cfg, "-p", self.pidfile]
        if take:
            args += ["-x", os.path.join(self.directory, "admin.sock")]
        if stop_pid:
            args += ["-sf", str(stop_pid)]
        rc = subprocess.run(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, timeout=30).returncode
        pid = self.pid_in_charge()
        if pid:
            self.pids.add(pid)
        return rc == 0

    def pid_in_charge(self):
        try:
            with open(self.pidfile) as f:
                return int(f.read().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def stop_all(self):
        """Stops every generation this run started, by pid (SIGTERM, then SIGKILL)."""
        for sig in (signal.SIGTERM, signal.SIGKILL):
            for pid in list(self.pids):
                if alive(pid):
                    try:
                        os.kill(pid, sig)
                    except ProcessLookupError:
                        pass
            until = time.monotonic() + 3
            while any(alive(p) for p in self.pids) and time.monotonic() < until:
                time.sleep(0.05)
        self.pids.clear()


def alive(pid):
    """Whether a process runs (a zombie does not: PID 1 here reaps slowly)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except OSError:
        return False


def wait_listening(port, limit=5.0):
    until = time.monotonic() + limit
    while time.monotonic() < until:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return True
        except OSError:
            time.sleep(0.01)
    return False


def reload_once(proxy, take):
    """Starts the next generation, telling the one in charge to stop; returns success (the
    command succeeded and the pid file now names another process)."""
    before = proxy.pid_in_charge()
    ok = proxy.start(take=take, stop_pid=before)
    return ok and proxy.pid_in_charge() not in (None, before)


def parse_ab(text):
    aborted = "aborted" in text
    complete = int(m.group(1)) if (m := re.search(r"Complete requests:\s+(\d+)", text)) else 0
    lost = int(m.group(1)) if (m := re.search(r"Non-2xx responses:\s+(\d+)", text)) else 0
    m = re.search(r"\(Connect: (\d+), Receive: (\d+), Length: (\d+), Exceptions: (\d+)\)", text)
    if m:
        c, r, l, e = map(int, m.groups())
        lost += c + max(r, l, e)
    return complete, lost, aborted


def run_cell(proxy_name, binary, method, interval, keep_alive, requests):
    with tempfile.TemporaryDirectory() as d:
        port = free_port()
        cfg = write_config(d, port)
        proxy = Proxy(proxy_name, binary, d, cfg)
        try:
            proxy.start()
            if not wait_listening(port):
                return None
            ab = ["ab", "-r", "-c", "20", "-n", str(requests), "-s", "10"]
            if keep_alive:
                ab.append("-k")
            client = subprocess.Popen(ab + [f"http://127.0.0.1:{port}/"],
                                      stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            reloads = failed = 0
            started = time.monotonic()
            while client.poll() is None and time.monotonic() - started < 300:
                time.sleep(interval)
                if client.poll() is not None:
                    break
                if reload_once(proxy, take=(method == "-x")):
                    reloads += 1
                else:
                    failed += 1
            out, _ = client.communicate(timeout=120)
            complete, lost, aborted = parse_ab(out)
            return {"reloads": reloads, "failed_reloads": failed, "complete": complete,
                    "lost": lost, "aborted": aborted}
        finally:
            proxy.stop_all()


def reload_latency(proxy_name, binary, runs=15):
    """Median ms from starting the next generation (`-D -x -sf`) to the first answer after the
    command returned, i.e. once the new process has its sockets and serves."""
    samples = []
    with tempfile.TemporaryDirectory() as d:
        port = free_port()
        proxy = Proxy(proxy_name, binary, d, write_config(d, port))
        try:
            proxy.start()
            wait_listening(port)
            for _ in range(runs):
                time.sleep(0.1)
                before = proxy.pid_in_charge()
                t0 = time.monotonic()
                proxy.start(take=True, stop_pid=before)
                with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
                    s.sendall(b"GET / HTTP/1.0\r\n\r\n")
                    s.recv(100)
                samples.append((time.monotonic() - t0) * 1000)
        finally:
            proxy.stop_all()
    return statistics.median(samples)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--requests", type=int, default=100000)
    ap.add_argument("--intervals", default="1,0.2,0.05")
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    intervals = [float(x) for x in args.intervals.split(",")]
    proxies = [("baton", BATON), ("haproxy", HAPROXY)]
    lines = [f"`ab -r -c 20 -n {args.requests}`, one reload every INTERVAL (each waits for the "
             "new pid file); lost = Connect + max(Receive, Length, Exceptions) + non-2xx.", "",
             "| proxy | method | interval | keep-alive | reloads | lost | note |",
             "|---|---|---|---|---|---|---|"]
    for interval in intervals:
        for keep_alive in (False, True):
            for name, binary in proxies:
                for method in ("-x", "legacy"):
                    r = run_cell(name, binary, method, interval, keep_alive, args.requests)
                    if r is None:
                        note, lost, reloads = "did not start", "-", "-"
                    else:
                        note = "ab aborted" if r["aborted"] else ""
                        if r["failed_reloads"]:
                            note += f" {r['failed_reloads']} reloads failed"
                        lost, reloads = r["lost"], r["reloads"]
                    line = (f"| {name} | {method} | {interval:g} s | {'ab -k' if keep_alive else 'no'} "
                            f"| {reloads} | {lost} | {note.strip()} |")
                    print(line, flush=True)
                    lines.append(line)
    lines += ["", "| proxy | reload latency (median of 15, ms: start of the new process → it has "
              "its sockets and answers) |", "|---|---|"]
    for name, binary in proxies:
        ms = reload_latency(name, binary)
        line = f"| {name} | {ms:.1f} |"
        print(line, flush=True)
        lines.append(line)
    if args.out:
        with open(args.out, "w") as f:
            f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    sys.exit(main())
