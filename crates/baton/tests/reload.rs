//! Seamless reload, end to end (LP #1712925): the new process takes the old one's listening
//! sockets over the stats socket (`-x PATH -sf OLDPID`) and no connection is ever reset.
//!
//! Every "zero lost" test here has a negative control in this file: the same scenario reloaded
//! the legacy way (new process binds its own socket with SO_REUSEPORT, old one closes its
//! socket) and shown to lose connections, so the harness is known to be able to see a loss.

mod common;

use common::{parse_ab, spawn_ab, AbResult};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A spawned baton, killed (by PID) when dropped.
struct Baton {
    child: Child,
}

impl Baton {
    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Whether the process has exited (reaps it if so).
    fn exited(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(Some(_)))
    }

    /// Waits up to `limit` for the process to exit; returns whether it did.
    fn wait_exit(&mut self, limit: Duration) -> bool {
        let until = Instant::now() + limit;
        while Instant::now() < until {
            if self.exited() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }
}

impl Drop for Baton {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A port nobody listens on right now.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The test configuration: a frontend answering by itself, a stats socket with `expose-fd`.
fn write_config(dir: &Path, port: u16, maxconn: u32, keep_alive: &str) -> PathBuf {
    let cfg = dir.join("baton.cfg");
    let sock = dir.join("admin.sock");
    std::fs::write(
        &cfg,
        format!(
            "global\n    maxconn {maxconn}\n    stats socket {} mode 600 level admin expose-fd listeners\n\
             defaults\n    mode http\n    timeout connect 1s\n    timeout client 60s\n    timeout server 60s\n    timeout http-keep-alive {keep_alive}\n\
             frontend web\n    bind 127.0.0.1:{port} backlog 128\n    http-request return status 200 content-type text/plain string \"ok\\n\"\n",
            sock.display()
        ),
    )
    .unwrap();
    cfg
}

/// Starts baton; `take_from` adds `-x`, `stop` adds `-sf`.
fn start(cfg: &Path, take_from: Option<&Path>, stop: Option<u32>) -> Baton {
    start_args(cfg, take_from, stop, &[])
}

/// Starts baton with extra arguments.
fn start_args(
    cfg: &Path,
    take_from: Option<&Path>,
    stop: Option<u32>,
    extra: &[&std::ffi::OsStr],
) -> Baton {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_baton"));
    let quiet = if std::env::var_os("BATON_TEST_LOG").is_some() {
        "-db"
    } else {
        "-q"
    };
    cmd.arg(quiet)
        .arg("-f")
        .arg(cfg)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(match std::env::var_os("BATON_TEST_LOG") {
            // Debugging aid: append every generation's messages to this file.
            Some(path) => std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .map(Stdio::from)
                .unwrap_or(Stdio::null()),
            None => Stdio::null(),
        });
    if let Some(sock) = take_from {
        cmd.arg("-x").arg(sock);
    }
    cmd.args(extra);
    if let Some(pid) = stop {
        cmd.arg("-sf").arg(pid.to_string());
    }
    Baton {
        child: cmd.spawn().expect("spawn baton"),
    }
}

/// Starts a reload the way a script does: `-x` (if given), `-sf PID`, `-p PIDFILE`.
fn start_with_pidfile(cfg: &Path, take_from: Option<&Path>, stop: u32, pidfile: &Path) -> Baton {
    let mut b = start_args(
        cfg,
        take_from,
        Some(stop),
        &["-p".as_ref(), pidfile.as_os_str()],
    );
    // Reap a generation that failed at once, so the loop keeps the one in charge.
    let _ = b.child.try_wait();
    b
}

/// Waits until `addr` accepts connections.
fn wait_listening(addr: SocketAddr) {
    let until = Instant::now() + Duration::from_secs(5);
    while TcpStream::connect_timeout(&addr, Duration::from_millis(100)).is_err() {
        assert!(Instant::now() < until, "nothing listens on {addr}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Sends one request on `stream` and reads the whole response; `Err` if reset or empty.
fn request(stream: &mut TcpStream) -> std::io::Result<String> {
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    stream.write_all(b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")?;
    let mut out = String::new();
    stream.read_to_string(&mut out)?;
    if out.is_empty() {
        return Err(std::io::ErrorKind::UnexpectedEof.into());
    }
    Ok(out)
}

/// Connections waiting in the accept queue while the old process is full, then a reload.
/// Returns how many of the `queued` connections got their response.
fn queued_connections_survive(handover: bool) -> usize {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    // maxconn 1: while one connection is in use, the old process accepts nothing more.
    let cfg = write_config(dir.path(), port, 1, "10s");
    let mut old = start(&cfg, None, None);
    wait_listening(addr);
    std::thread::sleep(Duration::from_millis(100)); // let the probe's session end
                                                    // Hold the only slot with a request whose head is not complete yet.
    let mut holder = TcpStream::connect(addr).unwrap();
    holder.write_all(b"GET / HTTP/1.1\r\nHost: t\r\n").unwrap();
    // These complete the TCP handshake in the kernel and wait in the accept queue.
    let mut queued: Vec<TcpStream> = (0..5).map(|_| TcpStream::connect(addr).unwrap()).collect();
    std::thread::sleep(Duration::from_millis(100));
    let sock = dir.path().join("admin.sock");
    let mut new = start(&cfg, handover.then_some(sock.as_path()), Some(old.pid()));
    // The old process now drains (its listener is closed at once); give the reload time.
    std::thread::sleep(Duration::from_millis(500));
    assert!(!new.exited(), "the new process died");
    let served = queued
        .iter_mut()
        .map(|s| request(s).is_ok_and(|r| r.starts_with("HTTP/1.1 200")))
        .filter(|&ok| ok)
        .count();
    // The held request completes in the old process, which then exits.
    holder.write_all(b"\r\n").unwrap();
    let mut answer = String::new();
    holder
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let _ = holder.read_to_string(&mut answer);
    assert!(
        answer.starts_with("HTTP/1.1 200"),
        "in-flight request lost: {answer:?}"
    );
    assert!(
        answer.contains("connection: close"),
        "a draining process closes after responding"
    );
    assert!(
        old.wait_exit(Duration::from_secs(5)),
        "the old process did not finish draining"
    );
    served
}

#[test]
fn legacy_reload_resets_queued_connections() {
    // Negative control: the bug. Without -x, the queued connections die with the old socket.
    assert_eq!(queued_connections_survive(false), 0);
}

#[test]
fn handover_serves_queued_connections() {
    assert_eq!(queued_connections_survive(true), 5);
}

/// The listening socket's inode, from /proc/net/tcp (shared sockets keep theirs).
fn listening_inode(port: u16) -> Option<u64> {
    let table = std::fs::read_to_string("/proc/net/tcp").ok()?;
    let local = format!("0100007F:{port:04X}");
    table.lines().skip(1).find_map(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        (f.get(1) == Some(&local.as_str()) && f.get(3) == Some(&"0A"))
            .then(|| f[9].parse().ok())
            .flatten()
    })
}

#[test]
fn handover_keeps_the_same_socket_and_stats_path() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let cfg = write_config(dir.path(), port, 1000, "1s");
    let sock = dir.path().join("admin.sock");
    let mut current = start(&cfg, None, None);
    wait_listening(addr);
    let inode = listening_inode(port).expect("listening socket");
    let stats_inode = std::fs::metadata(&sock)
        .map(|m| std::os::unix::fs::MetadataExt::ino(&m))
        .unwrap();
    for _ in 0..5 {
        let mut next = start(&cfg, Some(&sock), Some(current.pid()));
        assert!(
            current.wait_exit(Duration::from_secs(5)),
            "old process still running"
        );
        assert!(!next.exited(), "new process died");
        assert_eq!(
            listening_inode(port),
            Some(inode),
            "the listening socket changed"
        );
        let now = std::fs::metadata(&sock)
            .map(|m| std::os::unix::fs::MetadataExt::ino(&m))
            .unwrap();
        assert_eq!(now, stats_inode, "the stats socket changed");
        let mut s = TcpStream::connect(addr).unwrap();
        assert!(request(&mut s).unwrap().starts_with("HTTP/1.1 200"));
        current = next;
    }
}

#[test]
fn handover_without_expose_fd_fails_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let cfg = write_config(dir.path(), port, 100, "1s");
    let text = std::fs::read_to_string(&cfg)
        .unwrap()
        .replace(" expose-fd listeners", "");
    std::fs::write(&cfg, text).unwrap();
    let _old = start(&cfg, None, None);
    wait_listening(format!("127.0.0.1:{port}").parse().unwrap());
    let out = Command::new(env!("CARGO_BIN_EXE_baton"))
        .arg("-f")
        .arg(&cfg)
        .arg("-x")
        .arg(dir.path().join("admin.sock"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("Failed to get the sockets from the old process!"),
        "{err}"
    );
}

/// Runs `ab -r -c 20 -n REQUESTS` against a baton reloaded every `interval`; returns ab's
/// result and the number of reloads that happened.
fn reload_loop(
    handover: bool,
    keep_alive: bool,
    requests: u64,
    interval: Duration,
) -> (AbResult, usize) {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let cfg = write_config(dir.path(), port, 4000, "10s");
    let sock = dir.path().join("admin.sock");
    let first = start(&cfg, None, None);
    wait_listening(addr);
    let client = spawn_ab(addr, requests, keep_alive);
    let started = Instant::now();
    let (mut reloads, mut attempts) = (0, 0);
    let ab_pid = client.id();
    let ab_running = || {
        Path::new(&format!("/proc/{ab_pid}")).exists()
            && std::fs::read_to_string(format!("/proc/{ab_pid}/stat"))
                .is_ok_and(|s| !s.contains(") Z"))
    };
    // As an operator's reload script does: each generation writes the pid file once it has its
    // sockets, and the next reload stops the pid found there; a reload that failed leaves the
    // pid file, and so the process in charge, unchanged.
    let pidfile = dir.path().join("baton.pid");
    std::fs::write(&pidfile, format!("{}\n", first.pid())).unwrap();
    let read_pid = || -> u32 {
        std::fs::read_to_string(&pidfile)
            .unwrap()
            .trim()
            .parse()
            .unwrap()
    };
    let mut generations = vec![first];
    let mut next_reload = Instant::now() + interval;
    while ab_running() && started.elapsed() < Duration::from_secs(120) {
        // One reload per `interval`, or back to back when a reload takes longer than that.
        std::thread::sleep(next_reload.saturating_duration_since(Instant::now()));
        next_reload = Instant::now().max(next_reload) + interval;
        let in_charge = read_pid();
        let take_from = handover.then_some(sock.as_path());
        let mut next = start_with_pidfile(&cfg, take_from, in_charge, &pidfile);
        attempts += 1;
        // Like `systemctl reload`, wait for this reload to take effect (or fail) before the
        // next one, so that every generation is told to stop by its successor.
        let until = Instant::now() + Duration::from_secs(5);
        while read_pid() == in_charge && !next.exited() && Instant::now() < until {
            std::thread::sleep(Duration::from_millis(1));
        }
        if read_pid() != in_charge {
            reloads += 1;
        }
        generations.push(next);
        generations.retain_mut(|b| !b.exited());
    }
    let in_charge = read_pid();
    let (current, mut old): (Vec<Baton>, Vec<Baton>) =
        generations.into_iter().partition(|b| b.pid() == in_charge);
    assert_eq!(current.len(), 1, "the process in charge is one of ours");
    let out = client.wait_with_output().unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    let result = parse_ab(&text);
    if result.lost > 0 && handover {
        eprintln!(
            "ab said:\n{}",
            text.lines()
                .filter(|l| !l.starts_with("Completed"))
                .collect::<Vec<_>>()
                .join("\n")
        );
    }
    eprintln!(
        "handover={handover} keep_alive={keep_alive}: {reloads} reloads of {attempts} attempted, {result:?}"
    );
    if handover {
        // A reload may only be "in flight" at the end, never failed.
        assert!(
            attempts - reloads <= 1,
            "{} reloads failed",
            attempts - reloads
        );
    }
    // Every old generation finishes once ab's connections are gone.
    for b in &mut old {
        if !b.wait_exit(Duration::from_secs(15)) {
            let pid = b.pid();
            let report = Command::new("sh")
                .arg("-c")
                .arg(format!(
                    "cat /proc/{pid}/stat; ls -l /proc/{pid}/fd; cat /proc/net/tcp | wc -l; \
                     for t in /proc/{pid}/task/*; do cat $t/comm $t/wchan; echo; done"
                ))
                .output()
                .map(|o| String::from_utf8_lossy(&o.stdout).to_string())
                .unwrap_or_default();
            panic!("old process {pid} never exited:\n{report}");
        }
    }
    (result, reloads)
}

/// Requests per reload-loop run (the bug report's 100k by default; `BATON_RELOAD_REQUESTS`
/// lowers it for a quick local run).
fn requests() -> u64 {
    std::env::var("BATON_RELOAD_REQUESTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000)
}

#[test]
fn reload_loop_loses_nothing() {
    let interval = Duration::from_millis(50);
    // The negative control first: reloading without -x at this rate loses requests.
    let (legacy, legacy_reloads) = reload_loop(false, false, requests(), interval);
    assert!(
        legacy.lost > 0 || legacy.aborted,
        "the legacy reload lost nothing in {legacy_reloads} reloads: make the harness harder ({legacy:?})"
    );
    for keep_alive in [false, true] {
        let (r, reloads) = reload_loop(true, keep_alive, requests(), interval);
        assert!(reloads >= 10, "too few reloads: {reloads}");
        assert!(!r.aborted, "ab aborted: {r:?}");
        assert_eq!(r.complete, requests(), "{r:?}");
        assert_eq!(
            r.lost, 0,
            "requests lost with -x (keep-alive {keep_alive}): {r:?}"
        );
    }
}

/// A Debian haproxy process, killed when dropped.
struct Haproxy {
    child: Child,
}

impl Drop for Haproxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One generation of the interop chain: baton or haproxy.
enum Generation {
    Baton(Baton),
    Haproxy(Haproxy),
}

impl Generation {
    fn pid(&self) -> u32 {
        match self {
            Generation::Baton(b) => b.pid(),
            Generation::Haproxy(h) => h.child.id(),
        }
    }

    fn child(&mut self) -> &mut Child {
        match self {
            Generation::Baton(b) => &mut b.child,
            Generation::Haproxy(h) => &mut h.child,
        }
    }
}

/// Starts Debian's haproxy in the foreground on the same configuration.
fn start_haproxy(cfg: &Path, take_from: Option<&Path>, stop: Option<u32>) -> Haproxy {
    let haproxy = ["/usr/sbin/haproxy", "/usr/bin/haproxy"]
        .into_iter()
        .find(|p| Path::new(p).exists())
        .expect("Debian's haproxy is needed for this test: apt-get install haproxy");
    let mut cmd = Command::new(haproxy);
    cmd.arg("-db").arg("-q").arg("-f").arg(cfg);
    cmd.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    if let Some(sock) = take_from {
        cmd.arg("-x").arg(sock);
    }
    if let Some(pid) = stop {
        cmd.arg("-sf").arg(pid.to_string());
    }
    Haproxy {
        child: cmd.spawn().expect("spawn haproxy"),
    }
}

/// The migration path: a live Debian haproxy hands its listening socket to baton, and baton
/// hands it back, several times, under load: the same socket throughout, no request lost.
#[test]
fn handover_to_and_from_debian_haproxy_under_load() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    // The same file is valid for both programs.
    let cfg = write_config(dir.path(), port, 2000, "1s");
    let sock = dir.path().join("admin.sock");
    let mut current = Generation::Haproxy(start_haproxy(&cfg, None, None));
    wait_listening(addr);
    let inode = listening_inode(port).expect("listening socket");
    let client = spawn_ab(addr, 30000, false);
    let mut finished = Vec::new();
    for i in 0..8 {
        std::thread::sleep(Duration::from_millis(150));
        let old_pid = current.pid();
        let next = if i % 2 == 0 {
            Generation::Baton(start(&cfg, Some(&sock), Some(old_pid)))
        } else {
            Generation::Haproxy(start_haproxy(&cfg, Some(&sock), Some(old_pid)))
        };
        let mut previous = std::mem::replace(&mut current, next);
        let until = Instant::now() + Duration::from_secs(10);
        while !matches!(previous.child().try_wait(), Ok(Some(_))) {
            assert!(
                Instant::now() < until,
                "generation {i}: the old process did not stop"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        assert!(
            !matches!(current.child().try_wait(), Ok(Some(_))),
            "generation {i}: the new process died"
        );
        assert_eq!(
            listening_inode(port),
            Some(inode),
            "generation {i}: the socket changed"
        );
        finished.push(previous);
    }
    let out = client.wait_with_output().unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    let result = parse_ab(&text);
    eprintln!("interop: {result:?}");
    assert!(!result.aborted, "{text}");
    assert_eq!(result.complete, 30000, "{text}");
    assert_eq!(result.lost, 0, "{text}");
}

/// Open descriptors of a process.
fn fd_count(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| d.count())
        .unwrap_or(0)
}

/// What a process's descriptors point at, for a failure message.
fn fd_targets(pid: u32) -> Vec<String> {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| {
            d.filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
                .map(|t| t.display().to_string())
                .collect()
        })
        .unwrap_or_default()
}

/// Resident memory of a process, in kB.
fn rss_kb(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

#[test]
fn a_thousand_reloads_leave_one_process_and_no_leak() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let cfg = write_config(dir.path(), port, 100, "1s");
    let sock = dir.path().join("admin.sock");
    let pidfile = dir.path().join("baton.pid");
    let mut current = start(&cfg, None, None);
    wait_listening(addr);
    let mut baseline = None;
    for i in 0..1000 {
        let mut next = start_with_pidfile(&cfg, Some(&sock), current.pid(), &pidfile);
        assert!(
            current.wait_exit(Duration::from_secs(10)),
            "reload {i}: the old process stayed"
        );
        assert!(!next.exited(), "reload {i}: the new process died");
        if i == 1 {
            // The second generation is the first one that inherited its sockets.
            baseline = Some((fd_count(next.pid()), rss_kb(next.pid())));
        }
        current = next;
    }
    let mut s = TcpStream::connect(addr).unwrap();
    assert!(request(&mut s).unwrap().starts_with("HTTP/1.1 200"));
    // The client's own connection holds a descriptor until it closes: count once it has gone.
    drop(s);
    let (fds, rss) = baseline.unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while fd_count(current.pid()) != fds && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(
        fd_count(current.pid()),
        fds,
        "descriptors grew over 1000 reloads: {:?}",
        fd_targets(current.pid())
    );
    assert!(
        rss_kb(current.pid()) < rss * 2 + 4096,
        "memory grew over 1000 reloads"
    );
}

#[test]
fn hard_stop_after_bounds_a_soft_stop() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let cfg = write_config(dir.path(), port, 100, "30s");
    let text = std::fs::read_to_string(&cfg)
        .unwrap()
        .replace("global\n", "global\n    hard-stop-after 500ms\n");
    std::fs::write(&cfg, text).unwrap();
    let mut b = start(&cfg, None, None);
    wait_listening(addr);
    // A connection mid-request would hold the soft stop for `timeout client` (60 s)...
    let mut held = TcpStream::connect(addr).unwrap();
    held.write_all(b"GET / HTTP/1.1\r\n").unwrap();
    std::thread::sleep(Duration::from_millis(100));
    let began = Instant::now();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(b.pid() as i32),
        nix::sys::signal::Signal::SIGUSR1,
    )
    .unwrap();
    // ...but hard-stop-after ends it.
    assert!(
        b.wait_exit(Duration::from_secs(5)),
        "hard-stop-after did not stop the process"
    );
    assert!(
        began.elapsed() >= Duration::from_millis(400),
        "stopped before hard-stop-after"
    );
}
