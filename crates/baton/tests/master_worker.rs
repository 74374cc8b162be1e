//! Master-worker mode end to end: the real binary as `baton -W`/`-Ws` with a master CLI, its
//! sd_notify messages read from a datagram socket passed as `NOTIFY_SOCKET`, reloads by signal
//! and by the master CLI under `ab` load, a replaced binary, and 1000 reloads.
//!
//! The "0 lost" reload loops have their negative control in this file: the same loop with
//! `HAPROXY_STATS_SOCKET=/dev/null` (HAProxy's "take nothing" `-x`), so every new worker binds
//! its own socket and the old one closes its own, which loses the connections in its queue.

mod common;

use common::{process_running, spawn_ab, AbResult};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use std::io::{Read, Write};
use std::net::SocketAddr;
use std::os::unix::net::{UnixDatagram, UnixStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A master started by a test: SIGTERM, then SIGKILL, on drop (its workers stop by themselves
/// when the master's end of their socketpair closes).
struct Master {
    /// The master process.
    child: Child,
    /// Its directory: configuration, master socket, pid file, log.
    dir: tempfile::TempDir,
    /// The port of the test frontend.
    port: u16,
}

/// Options of a test master.
#[derive(Default)]
struct Setup {
    /// `-Ws` instead of `-W`.
    systemd: bool,
    /// `NOTIFY_SOCKET`.
    notify: Option<PathBuf>,
    /// `HAPROXY_STATS_SOCKET` (relative names are inside the test directory).
    stats_env: Option<String>,
    /// Extra global lines.
    global: String,
    /// Binary to run (default: the one under test).
    binary: Option<PathBuf>,
    /// One more `-S`.
    extra_cli: Option<String>,
}

/// The test configuration: a frontend answering by itself, a stats socket with `expose-fd`.
fn config(dir: &Path, port: u16, global: &str) -> String {
    format!(
        "global\n    maxconn 4000\n    nbthread 2\n{global}    stats socket {} mode 600 level admin expose-fd listeners\n\
         defaults\n    mode http\n    timeout connect 1s\n    timeout client 30s\n    timeout server 30s\n    timeout http-keep-alive 10s\n\
         frontend web\n    bind 127.0.0.1:{port} backlog 128\n    http-request return status 200 content-type text/plain string \"ok\\n\"\n",
        dir.join("admin.sock").display()
    )
}

impl Master {
    fn start(setup: Setup) -> Master {
        let dir = tempfile::tempdir().unwrap();
        let port = common::free_port();
        std::fs::write(
            dir.path().join("baton.cfg"),
            config(dir.path(), port, &setup.global),
        )
        .unwrap();
        let binary = setup
            .binary
            .clone()
            .unwrap_or_else(|| PathBuf::from(common::baton_bin()));
        let mut cmd = Command::new(binary);
        cmd.arg(if setup.systemd { "-Ws" } else { "-W" })
            .arg("-f")
            .arg(dir.path().join("baton.cfg"))
            .arg("-S")
            .arg(format!(
                "{},mode 600",
                dir.path().join("master.sock").display()
            ))
            .arg("-S")
            .arg(format!(
                "{},level user",
                dir.path().join("user.sock").display()
            ))
            .args(setup.extra_cli.iter().flat_map(|s| ["-S", s.as_str()]))
            .arg("-p")
            .arg(dir.path().join("baton.pid"))
            .env_remove("NOTIFY_SOCKET")
            .env_remove("HAPROXY_STATS_SOCKET")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.path().join("log")).unwrap());
        if let Some(n) = &setup.notify {
            cmd.env("NOTIFY_SOCKET", n);
        }
        if let Some(s) = &setup.stats_env {
            let value = if s.starts_with('/') {
                s.clone()
            } else {
                dir.path().join(s).display().to_string()
            };
            cmd.env("HAPROXY_STATS_SOCKET", value);
        }
        let child = cmd.spawn().expect("spawn baton -W");
        let mut m = Master { child, dir, port };
        let until = Instant::now() + Duration::from_secs(20);
        while !common::accepts(port) || !m.dir.path().join("master.sock").exists() {
            assert!(
                m.child.try_wait().unwrap().is_none(),
                "master died:\n{}",
                m.log()
            );
            assert!(Instant::now() < until, "master not serving:\n{}", m.log());
            std::thread::sleep(Duration::from_millis(20));
        }
        m
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.path("log")).unwrap_or_default()
    }

    fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    /// One command on the admin master CLI socket; the whole answer.
    fn cli(&self, command: &str) -> String {
        cli_on(&self.path("master.sock"), command)
    }

    /// `show proc`. A session that is open when the master re-executes (a reload by signal
    /// running meanwhile) is closed unanswered, as HAProxy's are: ask again then.
    fn show_proc(&self) -> String {
        for _ in 0..20 {
            let text = self.cli("show proc");
            if !text.is_empty() {
                return text;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("show proc never answered");
    }

    fn signal(&self, sig: Signal) {
        kill(Pid::from_raw(self.pid() as i32), sig).unwrap();
    }

    /// `show proc` parsed: (pid, section) of each worker; section is "workers" or "old workers".
    fn workers(&self) -> Vec<(u32, String)> {
        let text = self.show_proc();
        let mut section = String::new();
        let mut out = Vec::new();
        for line in text.lines() {
            if let Some(title) = line.strip_prefix("# ") {
                section = title.to_string();
                continue;
            }
            let words: Vec<&str> = line.split_whitespace().collect();
            if words.len() > 2 && words[1].starts_with("worker") {
                out.push((words[0].parse().unwrap(), section.clone()));
            }
        }
        out
    }

    /// The current worker's pid.
    fn current_worker(&self) -> u32 {
        let w = self.workers();
        w.iter()
            .find(|(_, s)| s == "workers")
            .unwrap_or_else(|| panic!("no current worker in {w:?}"))
            .0
    }

    /// The master's reload counters from `show proc`: (reloads, failed).
    fn reload_counts(&self) -> (u32, u32) {
        let text = self.show_proc();
        let line = text.lines().find(|l| l.contains(" master ")).unwrap();
        let words: Vec<&str> = line.split_whitespace().collect();
        // PID master 0 N [failed: F] ...
        (
            words[3].parse().unwrap(),
            words[5].trim_end_matches(']').parse().unwrap(),
        )
    }

    /// Waits until only the current worker is left (old ones finished draining).
    fn wait_one_worker(&self, limit: Duration) -> bool {
        common::wait_until(limit, || self.workers().len() == 1)
    }

    /// Waits for the master to exit; its exit code.
    fn wait_exit(&mut self, limit: Duration) -> Option<i32> {
        let until = Instant::now() + limit;
        while Instant::now() < until {
            if let Some(status) = self.child.try_wait().unwrap() {
                return Some(status.code().unwrap_or(-1));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }
}

impl Drop for Master {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("--- master log ---\n{}", self.log());
        }
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = kill(Pid::from_raw(self.pid() as i32), Signal::SIGTERM);
            if self.wait_exit(Duration::from_secs(10)).is_none() {
                let _ = self.child.kill();
                let _ = self.child.wait();
            }
        }
    }
}

/// One command on a master CLI socket; the whole answer.
fn cli_on(sock: &Path, command: &str) -> String {
    let mut s = UnixStream::connect(sock).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    s.write_all(format!("{command}\n").as_bytes()).unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

/// A GET that must succeed.
fn get_ok(port: u16) {
    let r = common::get(port, "/");
    assert_eq!(r.status, 200);
}

/// Datagrams from the master, each as its lines.
struct NotifyReader {
    socket: UnixDatagram,
    _dir: tempfile::TempDir,
    path: PathBuf,
}

impl NotifyReader {
    fn new() -> NotifyReader {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify");
        let socket = UnixDatagram::bind(&path).unwrap();
        socket
            .set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        NotifyReader {
            socket,
            _dir: dir,
            path,
        }
    }

    fn next(&self) -> Vec<String> {
        let mut buf = [0u8; 4096];
        let n = self.socket.recv(&mut buf).expect("a notification");
        String::from_utf8_lossy(&buf[..n])
            .lines()
            .map(String::from)
            .collect()
    }

    fn nothing_more(&self) {
        self.socket
            .set_read_timeout(Some(Duration::from_millis(300)))
            .unwrap();
        let mut buf = [0u8; 4096];
        if let Ok(n) = self.socket.recv(&mut buf) {
            panic!(
                "unexpected notification {:?}",
                String::from_utf8_lossy(&buf[..n])
            );
        }
        self.socket
            .set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
    }
}

/// CLOCK_MONOTONIC in µs, as the master reports it.
fn monotonic_usec() -> u64 {
    let t = nix::time::clock_gettime(nix::time::ClockId::CLOCK_MONOTONIC).unwrap();
    t.tv_sec() as u64 * 1_000_000 + t.tv_nsec() as u64 / 1000
}

/// Checks a `RELOADING=1` message, whose timestamp must lie between `before` and now.
fn assert_reloading(message: &[String], before: u64) {
    assert_eq!(message.len(), 3, "{message:?}");
    assert_eq!(message[0], "RELOADING=1");
    let usec: u64 = message[1]
        .strip_prefix("MONOTONIC_USEC=")
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("{message:?}"));
    assert!(
        (before..=monotonic_usec()).contains(&usec),
        "MONOTONIC_USEC out of range: {message:?}"
    );
    assert_eq!(message[2], "STATUS=Reloading configuration.");
}

#[test]
fn notifications_for_start_reload_failed_reload_and_stop() {
    let notify = NotifyReader::new();
    let mut m = Master::start(Setup {
        systemd: true,
        notify: Some(notify.path.clone()),
        ..Default::default()
    });
    assert_eq!(notify.next(), ["READY=1", "STATUS=Ready."]);
    // -p holds the master's pid.
    assert_eq!(common::read_pid(&m.path("baton.pid")), Some(m.pid()));

    let before = monotonic_usec();
    m.signal(Signal::SIGUSR2);
    assert_reloading(&notify.next(), before);
    assert_eq!(notify.next(), ["READY=1", "STATUS=Ready."]);

    let good = std::fs::read_to_string(m.path("baton.cfg")).unwrap();
    std::fs::write(m.path("baton.cfg"), format!("{good}    bogus-keyword\n")).unwrap();
    let before = monotonic_usec();
    m.signal(Signal::SIGHUP);
    assert_reloading(&notify.next(), before);
    assert_eq!(
        notify.next(),
        [
            "READY=1",
            "STATUS=Reload failed: the configuration has errors"
        ]
    );
    get_ok(m.port);

    m.signal(Signal::SIGTERM);
    assert_eq!(notify.next(), ["STOPPING=1", "STATUS=Stopping."]);
    assert_eq!(m.wait_exit(Duration::from_secs(20)), Some(143));
    notify.nothing_more();
}

#[test]
fn master_cli_show_proc_reload_routing_and_levels() {
    let m = Master::start(Setup::default());
    let worker = m.current_worker();
    let proc = m.cli("show proc");
    assert!(proc.starts_with("#<PID>"), "{proc}");
    assert!(proc.contains(&format!("{}", m.pid())), "{proc}");
    assert!(
        proc.contains("hard-stop-after none; mworker-max-reloads 50"),
        "{proc}"
    );
    // @1 is the current worker; @!PID names one; both reach the worker's runtime API.
    let info = m.cli("@1 show info");
    assert!(info.contains(&format!("Pid: {worker}")), "{info}");
    assert!(m
        .cli(&format!("@!{worker} show info"))
        .contains(&format!("Pid: {worker}")));
    assert!(m.cli("@7 show info").contains("Can't find the target"));
    assert!(m.cli("@!1 show info").contains("Can't find the target"));
    assert!(m.cli("@x show info").contains("Can't find the target"));
    assert!(m.cli("frobnicate").starts_with("Unknown command"));
    // The level of the master socket goes with the forwarded command.
    let user = m.path("user.sock");
    assert!(cli_on(&user, "reload").contains("Permission denied"));
    assert!(cli_on(&user, "@1 disable server web/x").contains("Permission denied"));
    assert!(cli_on(&user, "show proc").contains(&worker.to_string()));
    assert!(!cli_on(&user, "help").contains("reload"));

    // reload answers when done, with the messages.
    let answer = m.cli("reload");
    assert!(answer.starts_with("Success=1\n--\n"), "{answer}");
    assert!(answer.contains("Loading success."), "{answer}");
    assert_ne!(m.current_worker(), worker);
    assert_eq!(m.reload_counts(), (1, 0));
    assert!(
        m.wait_one_worker(Duration::from_secs(10)),
        "{:?}",
        m.workers()
    );
    get_ok(m.port);

    // Garbage: a line longer than the limit, binary bytes, an unterminated line. The master
    // answers or hangs up, and stays.
    for junk in [
        vec![b'a'; 20000],
        (0u8..=255).collect::<Vec<u8>>(),
        b"@".to_vec(),
        b"@!; ;;@1".to_vec(),
    ] {
        let mut s = UnixStream::connect(m.path("master.sock")).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let _ = s.write_all(&junk);
        let _ = s.write_all(b"\n");
        let mut out = Vec::new();
        let _ = s.read_to_end(&mut out);
    }
    assert!(m.cli("show proc").contains("master"));
    // prompt mode keeps the session.
    let mut s = UnixStream::connect(m.path("master.sock")).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(b"prompt\nshow proc\nquit\n").unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    assert!(
        out.contains("master> ") && out.contains("# workers"),
        "{out}"
    );
}

#[test]
fn cli_client_fails_the_reload_of_a_broken_configuration() {
    let m = Master::start(Setup::default());
    let sock = m.path("master.sock");
    let ok = Command::new(common::baton_bin())
        .args(["--cli", "reload", "-S"])
        .arg(&sock)
        .output()
        .unwrap();
    assert_eq!(ok.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&ok.stdout).starts_with("Success=1"));

    let good = std::fs::read_to_string(m.path("baton.cfg")).unwrap();
    let lines = good.lines().count();
    std::fs::write(m.path("baton.cfg"), format!("{good}    bogus-keyword\n")).unwrap();
    let worker = m.current_worker();
    let bad = Command::new(common::baton_bin())
        .args(["--cli", "reload", "-S"])
        .arg(&sock)
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&bad.stdout);
    assert_eq!(bad.status.code(), Some(1), "{out}");
    assert!(out.starts_with("Success=0\n--\n"), "{out}");
    assert!(
        out.contains(&format!("baton.cfg:{}]", lines + 1)),
        "the error names file:line: {out}"
    );
    assert_eq!(m.current_worker(), worker, "the running worker stays");
    assert_eq!(m.reload_counts(), (2, 1));
    get_ok(m.port);
    // No master to talk to: a clear error, non-zero.
    let none = Command::new(common::baton_bin())
        .args(["--cli", "reload", "-S"])
        .arg(m.path("nothing.sock"))
        .output()
        .unwrap();
    assert_eq!(none.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&none.stderr).contains("cannot talk to the master CLI"));
}

#[test]
fn a_tcp_master_cli_and_the_master_prefix() {
    let port = common::free_port();
    let address = format!("ipv4@127.0.0.1:{port},level operator");
    let m = Master::start(Setup {
        extra_cli: Some(address.clone()),
        ..Default::default()
    });
    let cli = |command: &str| {
        let out = Command::new(common::baton_bin())
            .args(["--cli", command, "-S", &address])
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    };
    let (code, proc) = cli("@master show proc");
    assert_eq!(code, Some(0));
    assert!(proc.contains(&m.current_worker().to_string()), "{proc}");
    let (code, answer) = cli("reload");
    assert_eq!(code, Some(0), "operator may reload: {answer}");
    assert!(answer.starts_with("Success=1"), "{answer}");
    let (_, denied) = cli("@1 disable server web/x");
    assert!(denied.contains("Permission denied"), "{denied}");
}

#[test]
fn soft_stop_of_everything_on_sigusr1() {
    let mut m = Master::start(Setup::default());
    let worker = m.current_worker();
    m.signal(Signal::SIGUSR1);
    assert_eq!(m.wait_exit(Duration::from_secs(20)), Some(0));
    assert!(common::wait_until(Duration::from_secs(10), || {
        !process_running(worker)
    }));
    assert!(!common::accepts(m.port));
}

#[test]
fn a_dead_worker_is_replaced() {
    let m = Master::start(Setup::default());
    let worker = m.current_worker();
    kill(Pid::from_raw(worker as i32), Signal::SIGKILL).unwrap();
    assert!(
        common::wait_until(Duration::from_secs(20), || {
            let w = m.workers();
            w.len() == 1 && w[0].0 != worker && w[0].1 == "workers" && common::accepts(m.port)
        }),
        "no replacement: {:?}",
        m.workers()
    );
    get_ok(m.port);
    assert!(m.log().contains("exited unexpectedly"), "{}", m.log());
}

#[test]
fn max_reloads_and_hard_stop_after_bound_old_workers() {
    let m = Master::start(Setup {
        global: "    mworker-max-reloads 1\n    hard-stop-after 60s\n".into(),
        ..Default::default()
    });
    let proc = m.cli("show proc");
    assert!(
        proc.contains("hard-stop-after 60000ms; mworker-max-reloads 1"),
        "{proc}"
    );
    let first = m.current_worker();
    // An unfinished request keeps the first worker draining (for up to hard-stop-after).
    let mut held = common::connect(m.port);
    held.write_all(b"GET / HTTP/1.1\r\nHost: t\r\n").unwrap();
    std::thread::sleep(Duration::from_millis(200));
    assert!(m.cli("reload").starts_with("Success=1"));
    assert!(m.workers().contains(&(first, "old workers".into())));
    assert!(m.cli("reload").starts_with("Success=1"));
    // Two reloads survived > 1: the master terminates it.
    assert!(
        common::wait_until(Duration::from_secs(10), || !process_running(first)),
        "{:?}",
        m.workers()
    );
    assert!(m.log().contains("mworker-max-reloads"), "{}", m.log());
}

#[test]
fn daemon_mode_detaches_the_master() {
    let dir = tempfile::tempdir().unwrap();
    let port = common::free_port();
    std::fs::write(dir.path().join("baton.cfg"), config(dir.path(), port, "")).unwrap();
    let pidfile = dir.path().join("baton.pid");
    let sock = dir.path().join("master.sock");
    let out = Command::new(common::baton_bin())
        .arg("-W")
        .arg("-D")
        .arg("-f")
        .arg(dir.path().join("baton.cfg"))
        .arg("-S")
        .arg(&sock)
        .arg("-p")
        .arg(&pidfile)
        .env_remove("NOTIFY_SOCKET")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let master = common::read_pid(&pidfile).expect("pid file");
    let stop = scopeguard(master);
    assert!(common::wait_until(Duration::from_secs(20), || {
        common::accepts(port)
    }));
    let proc = cli_on(&sock, "show proc");
    assert!(
        proc.lines()
            .any(|l| l.starts_with(&format!("{master} ")) && l.contains("master")),
        "{proc}"
    );
    drop(stop);
    assert!(common::wait_until(Duration::from_secs(20), || {
        !process_running(master)
    }));
}

/// Sends SIGTERM to `pid` when dropped.
struct TermOnDrop(u32);

impl Drop for TermOnDrop {
    fn drop(&mut self) {
        let _ = kill(Pid::from_raw(self.0 as i32), Signal::SIGTERM);
    }
}

fn scopeguard(pid: u32) -> TermOnDrop {
    TermOnDrop(pid)
}

/// ab against a master that gets SIGUSR2 every `interval`; returns ab's result and the
/// master's (reloads, failed reloads). `mid_loop` runs once, half-way.
fn reload_loop(
    m: &Master,
    requests: u64,
    keep_alive: bool,
    interval: Duration,
    mut mid_loop: impl FnMut(&Master),
) -> (AbResult, (u32, u32)) {
    let client = spawn_ab(m.addr(), requests, keep_alive);
    let ab = client.id();
    let started = Instant::now();
    let mut sent = 0u32;
    let mut mid_done = false;
    while process_running(ab) && started.elapsed() < Duration::from_secs(240) {
        std::thread::sleep(interval);
        m.signal(Signal::SIGUSR2);
        sent += 1;
        if !mid_done && sent == 5 {
            mid_done = true;
            mid_loop(m);
        }
    }
    let result = common::finish_ab(client);
    // Let the last reload finish before counting.
    std::thread::sleep(Duration::from_millis(500));
    let counts = m.reload_counts();
    eprintln!(
        "keep_alive={keep_alive}: {sent} SIGUSR2 sent, (reloads, failed) = {counts:?}, {result:?}"
    );
    (result, counts)
}

/// Requests per reload-loop run (`BATON_MW_REQUESTS` changes it).
fn requests() -> u64 {
    common::env_count("BATON_MW_REQUESTS", 30_000)
}

#[test]
fn reload_loop_through_the_master_loses_nothing() {
    let interval = Duration::from_millis(50);
    // Negative control first: "-x /dev/null" — new workers bind their own sockets and old ones
    // close theirs with connections in their queue. At this rate that loses requests.
    {
        let m = Master::start(Setup {
            stats_env: Some("/dev/null".into()),
            ..Default::default()
        });
        let (r, (reloads, _)) = reload_loop(&m, requests() * 2, false, interval, |_| {});
        assert!(
            r.lost > 0 || r.aborted,
            "reloading without handover lost nothing in {reloads} reloads: make the harness harder ({r:?})"
        );
    }
    for (stats_env, keep_alive) in [(false, false), (false, true), (true, false), (true, true)] {
        let m = Master::start(Setup {
            stats_env: stats_env.then(|| "admin.sock".to_string()),
            ..Default::default()
        });
        let good = std::fs::read_to_string(m.path("baton.cfg")).unwrap();
        let mut broken_answer = String::new();
        // Keep-alive clients are several times faster: give them as many reloads.
        let n = if keep_alive {
            requests() * 4
        } else {
            requests()
        };
        let (r, (reloads, failed)) = reload_loop(&m, n, keep_alive, interval, |m| {
            // A broken configuration pushed mid-loop: reported, and nothing is lost.
            std::fs::write(m.path("baton.cfg"), format!("{good}    bogus-keyword\n")).unwrap();
            broken_answer = m.cli("reload");
            std::fs::write(m.path("baton.cfg"), &good).unwrap();
        });
        assert!(
            broken_answer.starts_with("Success=0") && broken_answer.contains("bogus-keyword"),
            "{broken_answer}"
        );
        assert!(reloads >= 10, "too few reloads: {reloads}");
        assert!(failed >= 1, "the broken configuration was not counted");
        assert!(!r.aborted, "ab aborted: {r:?}");
        assert_eq!(r.complete, n, "{r:?}");
        assert_eq!(
            r.lost, 0,
            "lost with stats socket {stats_env}, keep-alive {keep_alive}: {r:?}"
        );
        assert!(
            m.wait_one_worker(Duration::from_secs(30)),
            "{:?}",
            m.workers()
        );
    }
}

/// The inode of the file a process runs.
fn exe_inode(pid: u32) -> u64 {
    std::os::unix::fs::MetadataExt::ino(&std::fs::metadata(format!("/proc/{pid}/exe")).unwrap())
}

#[test]
fn a_replaced_binary_takes_over_on_reload() {
    let bin_dir = tempfile::tempdir().unwrap();
    let binary = bin_dir.path().join("baton");
    std::fs::copy(common::baton_bin(), &binary).unwrap();
    let m = Master::start(Setup {
        binary: Some(binary.clone()),
        ..Default::default()
    });
    let before = exe_inode(m.pid());
    let worker_before = exe_inode(m.current_worker());
    assert_eq!(before, worker_before);
    let client = spawn_ab(m.addr(), 5000, true);
    std::thread::sleep(Duration::from_millis(200));
    // As a package upgrade does: a new file renamed over the old path.
    let tmp = bin_dir.path().join("baton.new");
    std::fs::copy(common::baton_bin(), &tmp).unwrap();
    std::fs::rename(&tmp, &binary).unwrap();
    let master = m.pid();
    m.signal(Signal::SIGUSR2);
    assert!(
        common::wait_until(Duration::from_secs(20), || exe_inode(master) != before
            && m.workers().len() == 1),
        "the master did not re-execute the new binary"
    );
    assert_eq!(m.pid(), master, "same pid");
    let after = exe_inode(master);
    assert_eq!(
        after,
        exe_inode(m.current_worker()),
        "the new worker runs it too"
    );
    let r = common::finish_ab(client);
    assert_eq!((r.complete, r.lost), (5000, 0), "{r:?}");
}

/// Open descriptors of a process.
fn fd_count(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| d.count())
        .unwrap_or(0)
}

/// Live children of `pid`.
fn children(pid: u32) -> Vec<u32> {
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&p| {
            std::fs::read_to_string(format!("/proc/{p}/stat")).is_ok_and(|s| {
                s.rsplit_once(") ").is_some_and(|(_, rest)| {
                    let f: Vec<&str> = rest.split_whitespace().collect();
                    f.first() != Some(&"Z") && f.get(1) == Some(&pid.to_string().as_str())
                })
            })
        })
        .collect()
}

#[test]
fn a_thousand_reloads_leave_one_master_one_worker_and_no_fd_growth() {
    let m = Master::start(Setup::default());
    let master = m.pid();
    let mut baseline = 0;
    for i in 0..1000 {
        let answer = m.cli("reload");
        assert!(answer.starts_with("Success=1"), "reload {i}: {answer}");
        if i == 9 {
            assert!(m.wait_one_worker(Duration::from_secs(20)));
            baseline = fd_count(master);
        }
    }
    assert_eq!(m.pid(), master);
    assert!(
        m.wait_one_worker(Duration::from_secs(20)),
        "{:?}",
        m.workers()
    );
    assert!(
        common::wait_until(Duration::from_secs(20), || children(master).len() == 1),
        "children of the master: {:?}",
        children(master)
    );
    assert_eq!(children(master), [m.current_worker()]);
    assert_eq!(fd_count(master), baseline, "the master's descriptors grew");
    assert_eq!(m.reload_counts(), (1000, 0));
    get_ok(m.port);
}
