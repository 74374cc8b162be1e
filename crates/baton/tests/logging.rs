//! Logging end to end: Debian's haproxy and baton run the same configuration in turn, the same
//! requests go through each, and the log lines they send to UDP and UNIX datagram sockets are
//! compared field by field (timers masked to "reached or not"), a custom log-format byte for
//! byte. Then: log targets that nobody reads, that do not exist, or a stdout pipe that is
//! never drained do not slow traffic down, and the lines they lose are counted.

mod common;

use common::*;
use std::io::{Read, Write};
use std::net::UdpSocket;
use std::os::unix::net::{UnixDatagram, UnixStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A datagram receiver (UDP or UNIX) that lines are read from.
enum Receiver {
    /// UDP on 127.0.0.1.
    Udp(UdpSocket),
    /// A bound UNIX datagram socket.
    Unix(UnixDatagram),
}

impl Receiver {
    /// Waits (bounded) for the next line; `None` after `limit`.
    fn next(&self, limit: Duration) -> Option<String> {
        let mut buf = vec![0u8; 65536];
        let n = match self {
            Receiver::Udp(s) => {
                s.set_read_timeout(Some(limit)).unwrap();
                s.recv(&mut buf).ok()?
            }
            Receiver::Unix(s) => {
                s.set_read_timeout(Some(limit)).unwrap();
                s.recv(&mut buf).ok()?
            }
        };
        Some(String::from_utf8_lossy(&buf[..n]).into_owned())
    }

    /// Drops whatever is queued.
    fn drain(&self) {
        while self.next(Duration::from_millis(50)).is_some() {}
    }
}

/// A proxy process run on the shared configuration; killed on drop.
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `program` on `cfg` and waits until `port` accepts.
fn start(program: &str, cfg: &Path, port: u16) -> Proc {
    let mut cmd = Command::new(program);
    if program.ends_with("haproxy") {
        cmd.arg("-db");
    }
    let err = cfg.with_extension("stderr");
    let child = cmd
        .arg("-f")
        .arg(cfg)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&err).unwrap())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {program} ({e}); apt-get install haproxy"));
    let p = Proc(child);
    assert!(
        wait_until(WAIT, || accepts(port)),
        "{program} did not listen on {port}: {}",
        std::fs::read_to_string(&err).unwrap_or_default()
    );
    p
}

/// Debian's haproxy.
fn haproxy() -> &'static str {
    let path = "/usr/sbin/haproxy";
    assert!(
        Path::new(path).exists(),
        "Debian's haproxy is needed: apt-get install haproxy"
    );
    path
}

/// Ports and sockets of the comparison scenario.
struct Setup {
    /// Receivers: raw, local (default format), rfc3164, rfc5424, UNIX datagram (short).
    receivers: Vec<Receiver>,
    /// The configuration file.
    cfg: std::path::PathBuf,
    /// `fe`: httplog with captures.
    fe: u16,
    /// `ret`: `http-request deny`, `redirect` and `return`.
    ret: u16,
    /// `dead`: backend refuses connections.
    dead: u16,
    /// `slow`: backend slower than `timeout server`.
    slow: u16,
    /// `tcp`: tcplog.
    tcp: u16,
    /// `tcpnull`: tcplog with dontlognull and a short `timeout client`.
    tcpnull: u16,
    /// `custom`: a log-format with captures and samples.
    custom: u16,
    /// `plain`: no log option (the `Connect from` line).
    plain: u16,
    /// Keeps the directory alive.
    _dir: tempfile::TempDir,
}

/// The custom format compared byte for byte (no dates, timers or client ports; the port of
/// `%bi:%bp`, the server connection's local end, is masked).
const CUSTOM: &str = "%{+Q}o %ci %ft %b %s %ST %B %U %hr %hs %r %HM %HP %HQ %HV %ts %tsc %rc %[src] %[dst_port] %bi:%bp %{-Q}f 100%%";

fn setup(server: u16) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let udp = |_| UdpSocket::bind("127.0.0.1:0").unwrap();
    let raw = udp(0);
    let local = udp(1);
    let r3164 = udp(2);
    let r5424 = udp(3);
    let unix_path = dir.path().join("log.sock");
    let unix = UnixDatagram::bind(&unix_path).unwrap();
    let p = |s: &UdpSocket| s.local_addr().unwrap().port();
    let (fe, ret, dead, slow, tcp, tcpnull, custom, plain) = (
        free_port(),
        free_port(),
        free_port(),
        free_port(),
        free_port(),
        free_port(),
        free_port(),
        free_port(),
    );
    let refused = refused_port();
    let cfg = format!(
        "global\n\
         \x20   log 127.0.0.1:{raw} format raw local0\n\
         \x20   log 127.0.0.1:{local} local1 info\n\
         \x20   log 127.0.0.1:{r3164} format rfc3164 local2\n\
         \x20   log 127.0.0.1:{r5424} format rfc5424 local3 debug\n\
         \x20   log {unix} format short daemon\n\
         defaults\n    mode http\n    log global\n    retries 1\n\
         \x20   timeout connect 1s\n    timeout client 5s\n    timeout server 5s\n    timeout http-request 2s\n\
         frontend fe\n    option httplog\n    bind 127.0.0.1:{fe}\n    default_backend be\n\
         \x20   capture request header Host len 20\n    capture request header X-Long len 4\n\
         \x20   capture response header X-Path len 30\n\
         \x20   http-response deny if {{ res.hdr(X-Path) -m beg /rd }}\n\
         frontend ret\n    option httplog\n    bind 127.0.0.1:{ret}\n\
         \x20   http-request deny if {{ path /deny }}\n\
         \x20   http-request redirect location /elsewhere if {{ path /redirect }}\n\
         \x20   http-request auth realm r if {{ path /auth }}\n\
         \x20   http-request return status 200 content-type text/plain string ok\n\
         frontend dead\n    option httplog\n    bind 127.0.0.1:{dead}\n    default_backend dead\n\
         frontend slow\n    option httplog\n    bind 127.0.0.1:{slow}\n    default_backend slow\n\
         frontend tcp\n    mode tcp\n    option tcplog\n    bind 127.0.0.1:{tcp}\n    default_backend tcpbe\n\
         frontend tcpnull\n    mode tcp\n    option tcplog\n    option dontlognull\n    timeout client 300ms\n\
         \x20   bind 127.0.0.1:{tcpnull}\n    default_backend tcpbe\n\
         frontend custom\n    bind 127.0.0.1:{custom}\n    default_backend be\n\
         \x20   log-format \"{CUSTOM}\"\n\
         \x20   capture request header Host len 20\n    capture response header X-Path len 30\n\
         frontend plain\n    bind 127.0.0.1:{plain}\n    default_backend be\n\
         backend be\n    server s1 127.0.0.1:{server}\n\
         backend dead\n    server s1 127.0.0.1:{refused}\n\
         backend slow\n    timeout server 300ms\n    server s1 127.0.0.1:{server}\n\
         backend tcpbe\n    mode tcp\n    server s1 127.0.0.1:{server}\n",
        raw = p(&raw),
        local = p(&local),
        r3164 = p(&r3164),
        r5424 = p(&r5424),
        unix = unix_path.display(),
    );
    let path = dir.path().join("haproxy.cfg");
    std::fs::write(&path, cfg).unwrap();
    Setup {
        receivers: vec![
            Receiver::Udp(raw),
            Receiver::Udp(local),
            Receiver::Udp(r3164),
            Receiver::Udp(r5424),
            Receiver::Unix(unix),
        ],
        cfg: path,
        fe,
        ret,
        dead,
        slow,
        tcp,
        tcpnull,
        custom,
        plain,
        _dir: dir,
    }
}

/// Sends raw bytes, half-closes if `close`, and reads until the proxy closes.
fn raw_exchange(port: u16, bytes: &[u8], close: bool) -> Vec<u8> {
    let mut s = connect(port);
    s.write_all(bytes).unwrap();
    if close {
        let _ = s.shutdown(std::net::Shutdown::Write);
    }
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    out
}

/// Runs the scenario through the proxy now listening; returns, per receiver, the lines in
/// order (each action waits for its line on the raw receiver, so the order is fixed).
fn scenario(s: &Setup) -> Vec<Vec<String>> {
    // Every receiver is read in step: an unread datagram socket drops lines (HAProxy's too).
    let mut all: Vec<Vec<String>> = vec![Vec::new(); s.receivers.len()];
    let mut expect_line = |what: &str| {
        for (r, lines) in s.receivers.iter().zip(all.iter_mut()) {
            let line = r
                .next(WAIT)
                .unwrap_or_else(|| panic!("no log line for {what}"));
            lines.push(line);
        }
    };
    let get_with = |port: u16, path: &str, extra: &str| {
        exchange(
            port,
            format!(
                "GET {path} HTTP/1.1\r\nHost: test.example\r\n{extra}Connection: close\r\n\r\n"
            )
            .as_bytes(),
        )
        .unwrap()
    };
    assert_eq!(
        get_with(s.fe, "/ok?a=1", "X-Long: abcdefgh\r\n").status,
        200
    );
    expect_line("200");
    assert_eq!(get_with(s.fe, "/missing", "").status, 404);
    expect_line("404 from the server");
    // Two requests on one keep-alive connection: two lines.
    {
        let mut c = connect(s.fe);
        c.write_all(b"GET /ka1 HTTP/1.1\r\nHost: a\r\n\r\nGET /ka2 HTTP/1.1\r\nHost: b\r\nConnection: close\r\n\r\n")
            .unwrap();
        let mut all = Vec::new();
        let _ = c.read_to_end(&mut all);
        assert_eq!(
            String::from_utf8_lossy(&all)
                .matches("HTTP/1.1 200")
                .count(),
            2
        );
    }
    expect_line("keep-alive 1");
    expect_line("keep-alive 2");
    assert_eq!(get_with(s.ret, "/ret", "").status, 200);
    expect_line("http-request return");
    assert_eq!(get_with(s.ret, "/deny", "").status, 403);
    expect_line("http-request deny");
    assert_eq!(get_with(s.ret, "/redirect", "").status, 302);
    expect_line("http-request redirect");
    assert_eq!(get_with(s.ret, "/auth", "").status, 401);
    expect_line("http-request auth");
    assert_eq!(get_with(s.fe, "/rd", "").status, 502);
    expect_line("http-response deny");
    assert_eq!(get_with(s.dead, "/", "").status, 503);
    expect_line("503");
    assert_eq!(get_with(s.slow, "/sleep/1500", "").status, 504);
    expect_line("504");
    let bad = raw_exchange(s.fe, b"GARBAGE\r\n\r\n", false);
    assert!(String::from_utf8_lossy(&bad).starts_with("HTTP/1.1 400"));
    expect_line("bad request");
    raw_exchange(s.fe, b"GET /half HTTP/1.1\r\nHost: x\r\n", true);
    expect_line("aborted request");
    // A connection that sends nothing: logged on an HTTP frontend...
    drop(connect(s.fe));
    expect_line("null http connection");
    // ...and not on a TCP frontend with dontlognull (checked by the next line being tcp's).
    drop(connect(s.tcpnull));
    std::thread::sleep(Duration::from_millis(200));
    let out = raw_exchange(s.tcp, b"GET /tcp HTTP/1.0\r\n\r\n", true);
    assert!(String::from_utf8_lossy(&out).starts_with("HTTP/1.1 200"));
    expect_line("tcp");
    drop(connect(s.tcp));
    expect_line("null tcp connection without dontlognull");
    // A client that sends a little, then nothing: `timeout client` ends it (cD).
    let mut idle = connect(s.tcpnull);
    idle.write_all(b"GET").unwrap();
    let mut rest = Vec::new();
    let _ = idle.read_to_end(&mut rest);
    expect_line("client timeout during data");
    assert_eq!(
        get_with(s.custom, "/c/d?q=\"x\"", "User-Agent: t\r\n").status,
        200
    );
    expect_line("custom");
    assert_eq!(get_with(s.plain, "/", "").status, 200);
    expect_line("plain");
    all
}

/// Replaces the port of the custom line's `%bi:%bp` (an ephemeral port, different in every
/// run) by `PORT`; a line without one (`-:-`) is left as it is, so the comparison catches it.
fn mask_backend_port(line: &str) -> String {
    line.split(' ')
        .map(|w| match w.split_once(':') {
            Some((ip, port)) if ip.contains("127.0.0.1") && port.parse::<u16>().is_ok() => {
                format!("{ip}:PORT")
            }
            _ => w.to_string(),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Masks what legitimately differs between two runs: the client's port, the date, and the
/// timer values (kept: whether each timer was reached, -1 or not).
///
/// A null tcp connection (tcplog, 0 bytes) races its client's close against the server connect,
/// in HAProxy as in baton: either `Tw/Tc/Tt ... --` (connected first) or `Tw/-1/Tt ... CC`
/// (closed first), run to run; its connect timer and termination state are masked.
fn mask(line: &str) -> String {
    let traffic = line.starts_with("127.0.0.1:");
    let words: Vec<&str> = line.trim_end_matches('\n').split(' ').collect();
    let null_tcp = traffic
        && words.len() > 6
        && words[4].split('/').count() == 3
        && words[5] == "0"
        && matches!(words[6], "--" | "CC");
    let fields: Vec<String> = words
        .iter()
        .copied()
        .enumerate()
        .map(|(i, f)| match i {
            4 if null_tcp => "T/?/T".to_string(),
            6 if null_tcp => "--|CC".to_string(),
            0 | 2 if f.starts_with("127.0.0.1:") && !(i == 2 && traffic) => {
                "127.0.0.1:PORT".to_string()
            }
            1 if traffic => "[DATE]".to_string(),
            4 if traffic => f
                .split('/')
                .map(|t| if t == "-1" { "-1" } else { "T" })
                .collect::<Vec<_>>()
                .join("/"),
            // actconn and feconn may still count the previous connection while it closes, in
            // HAProxy too: masked; beconn, srv_conn and retries are compared.
            _ if traffic
                && f.split('/').count() == 5
                && f.split('/').all(|n| n.parse::<u32>().is_ok()) =>
            {
                let rest: Vec<&str> = f.split('/').skip(2).collect();
                format!("A/F/{}", rest.join("/"))
            }
            _ => f.to_string(),
        })
        .collect();
    fields.join(" ")
}

#[test]
fn log_lines_match_debian_haproxy() {
    // The standard server, but `/missing` is a 404.
    let named = named_handler("s1");
    let server = Backend::http(move |req| {
        let mut resp = named(req);
        if req.path.starts_with("/missing") {
            resp.status = 404;
        }
        resp
    });
    let s = setup(server.port);

    let reference = {
        let _p = start(haproxy(), &s.cfg, s.fe);
        for r in &s.receivers {
            r.drain(); // haproxy's start-up notices
        }
        scenario(&s)
    };
    // Let haproxy release the ports.
    std::thread::sleep(Duration::from_millis(300));
    let ours = {
        let _p = start(env!("CARGO_BIN_EXE_baton"), &s.cfg, s.fe);
        for r in &s.receivers {
            r.drain();
        }
        scenario(&s)
    };

    let raw_ref = &reference[0];
    let raw_ours = &ours[0];
    assert_eq!(raw_ref.len(), raw_ours.len());
    for (h, b) in raw_ref.iter().zip(raw_ours) {
        eprintln!("haproxy: {}baton:   {}", h, b);
    }
    // The custom log-format (no dates, timers or client ports): byte for byte.
    let custom_ref = raw_ref.iter().find(|l| l.contains("\"custom\"")).unwrap();
    let custom_ours = raw_ours.iter().find(|l| l.contains("\"custom\"")).unwrap();
    assert_eq!(
        mask_backend_port(custom_ours),
        mask_backend_port(custom_ref)
    );
    // Every other line: field by field, timers masked.
    for (h, b) in raw_ref.iter().zip(raw_ours) {
        if h.contains("\"custom\"") {
            continue;
        }
        assert_eq!(mask(b), mask(h), "\nhaproxy: {h}baton:   {b}");
    }
    // The other targets carry the same lines behind their own headers.
    for (i, name) in ["local", "rfc3164", "rfc5424", "short (unix)"]
        .iter()
        .enumerate()
    {
        let (h, b) = (&reference[i + 1], &ours[i + 1]);
        for (x, y) in h.iter().zip(b) {
            eprintln!("{name} haproxy: {x}{name} baton:   {y}");
        }
        assert_eq!(h.len(), raw_ref.len(), "{name}: haproxy sent {h:?}");
        assert_eq!(b.len(), raw_ref.len(), "{name}: baton sent {b:?}");
        for (h, b) in h.iter().zip(b) {
            assert_eq!(
                header_shape(b),
                header_shape(h),
                "{name}:\nhaproxy: {h}baton:   {b}"
            );
        }
    }
}

/// A syslog header with its variable parts (date, host name, pid) replaced.
fn header_shape(line: &str) -> String {
    let (head, _) = line
        .split_once("127.0.0.1")
        .or_else(|| line.split_once("Connect from"))
        .unwrap_or((line, ""));
    let mut shape = String::new();
    let mut last_digit = false;
    for ch in head.chars() {
        if ch.is_ascii_digit() {
            if !last_digit {
                shape.push('9');
            }
            last_digit = true;
        } else {
            shape.push(ch);
            last_digit = false;
        }
    }
    shape
}

/// `show info` through a stats socket.
fn show_info(sock: &Path) -> String {
    let mut s = UnixStream::connect(sock).unwrap();
    s.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    s.write_all(b"show info\n").unwrap();
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out
}

/// The `DroppedLogs` value of `show info`.
fn dropped_logs(sock: &Path) -> u64 {
    show_info(sock)
        .lines()
        .find_map(|l| l.strip_prefix("DroppedLogs: "))
        .and_then(|v| v.trim().parse().ok())
        .expect("show info has DroppedLogs")
}

/// Sends `n` keep-alive requests on a few connections; returns how many got a 200.
fn load(port: u16, n: usize, limit: Duration) -> usize {
    let start = Instant::now();
    let mut ok = 0;
    'outer: while ok < n && start.elapsed() < limit {
        let mut c = connect(port);
        let mut r = std::io::BufReader::new(c.try_clone().unwrap());
        for _ in 0..500 {
            if ok >= n || start.elapsed() >= limit {
                break 'outer;
            }
            if c.write_all(b"GET /x HTTP/1.1\r\nHost: t\r\n\r\n").is_err() {
                break;
            }
            match read_response(&mut r) {
                Ok(resp) if resp.status == 200 => ok += 1,
                _ => break,
            }
        }
    }
    ok
}

/// A configuration with `global` lines, an httplog frontend `fe` on `port` (with `defaults`
/// lines added) and a backend `be` with one server.
fn one_frontend(global: &str, defaults: &str, port: u16, server: u16) -> String {
    format!(
        "global\n    {global}\n\
         defaults\n    mode http\n    log global\n    option httplog\n{defaults}\
         \x20   timeout connect 1s\n    timeout client 5s\n    timeout server 5s\n\
         frontend fe\n    bind 127.0.0.1:{port}\n    default_backend be\n\
         backend be\n    server s1 127.0.0.1:{server}\n"
    )
}

/// Starts baton with its stdout on a pipe, returned unread; waits until `port` accepts.
fn baton_with_stdout_pipe(cfg: &Path, port: u16) -> (Proc, std::process::ChildStdout) {
    let child = Command::new(env!("CARGO_BIN_EXE_baton"))
        .arg("-q")
        .arg("-f")
        .arg(cfg)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut p = Proc(child);
    let stdout = p.0.stdout.take().unwrap();
    assert!(wait_until(WAIT, || accepts(port)));
    (p, stdout)
}

#[test]
fn unread_missing_and_blocked_targets_never_stall_traffic() {
    let server = Backend::named("s1");
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let unread = dir.path().join("unread.sock");
    let _unread = UnixDatagram::bind(&unread).unwrap(); // bound, never read
    let missing = dir.path().join("missing.sock");
    let stats = dir.path().join("stats.sock");
    let cfg = dir.path().join("baton.cfg");
    let global = format!(
        "stats socket {stats} level admin\n    log {unread} local0\n    log {missing} local0\n    \
         log stdout format raw local0",
        stats = stats.display(),
        unread = unread.display(),
        missing = missing.display(),
    );
    std::fs::write(&cfg, one_frontend(&global, "", port, server.port)).unwrap();
    // stdout is a pipe that this test never reads: it fills after ~64 kB of lines.
    let (_p, _stdout_kept_open) = baton_with_stdout_pipe(&cfg, port);
    // The readiness probe above was a logged (null) connection.
    std::thread::sleep(Duration::from_millis(200));
    let before = dropped_logs(&stats);

    let n = 6000;
    let served = load(port, n, Duration::from_secs(120));
    assert_eq!(served, n, "requests stalled behind the log targets");

    // Negative control: the lines did not go anywhere, and were counted. The missing socket
    // alone loses one per request; the unread socket and the full pipe lose more.
    assert!(
        wait_until(WAIT, || dropped_logs(&stats) - before >= n as u64),
        "DroppedLogs: {}",
        dropped_logs(&stats)
    );
    let dropped = dropped_logs(&stats) - before;
    assert!(
        dropped > n as u64,
        "the unread socket and the blocked pipe should drop lines too: {dropped}"
    );
}

#[test]
fn lines_reach_a_unix_socket_and_stdout_when_read() {
    let server = Backend::named("s1");
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let sock = dir.path().join("log.sock");
    let rx = UnixDatagram::bind(&sock).unwrap();
    let cfg = dir.path().join("baton.cfg");
    let global = format!(
        "log {} len 100 format rfc5424 local0 notice\n    log stdout format raw daemon",
        sock.display()
    );
    let cfg_text = one_frontend(&global, "    option dontlognull\n", port, server.port);
    std::fs::write(&cfg, cfg_text).unwrap();
    let (_p, stdout) = baton_with_stdout_pipe(&cfg, port);
    assert_eq!(get(port, "/hello").status, 200);
    let mut line = String::new();
    std::io::BufRead::read_line(&mut std::io::BufReader::new(stdout), &mut line).unwrap();
    assert!(line.contains(" fe be/s1 "), "{line}");
    assert!(line.ends_with("\"GET /hello HTTP/1.1\"\n"), "{line}");
    // Traffic lines are `info`: the `notice` target gets none (a server event would pass).
    rx.set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    let mut buf = [0u8; 512];
    assert!(
        rx.recv(&mut buf).is_err(),
        "an info line passed a notice filter"
    );
}

/// Runs `program` on `cfg` until a server goes down, then soft-stops it; returns the event
/// lines its global log target received.
fn events(program: &str, cfg: &Path, port: u16, rx: &UdpSocket) -> Vec<String> {
    let p = start(program, cfg, port);
    let receiver = Receiver::Udp(rx.try_clone().unwrap());
    let mut lines = Vec::new();
    let until = Instant::now() + WAIT;
    let down = |l: &String| l.contains(" is DOWN");
    while lines.iter().filter(|l| down(l)).count() < 2 && Instant::now() < until {
        if let Some(l) = receiver.next(Duration::from_millis(200)) {
            lines.push(l);
        }
    }
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(p.0.id() as i32),
        nix::sys::signal::Signal::SIGUSR1,
    )
    .unwrap();
    while let Some(l) = receiver.next(Duration::from_millis(1500)) {
        lines.push(l);
    }
    drop(p);
    lines
        .into_iter()
        .filter(|l| {
            l.contains("Server ")
                || l.contains("backend ")
                || l.contains("Proxy ") && !l.contains("<HTTPCLIENT>")
        })
        .collect()
}

#[test]
fn server_transitions_and_soft_stop_are_logged_as_by_haproxy() {
    let server = Backend::named("s1");
    let dir = tempfile::tempdir().unwrap();
    let rx = UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = free_port();
    let cfg = dir.path().join("haproxy.cfg");
    std::fs::write(
        &cfg,
        format!(
            "global\n    log 127.0.0.1:{log} format priority local0\n\
             defaults\n    mode http\n    log global\n\
             \x20   timeout connect 1s\n    timeout client 5s\n    timeout server 5s\n\
             frontend fe\n    bind 127.0.0.1:{port}\n    default_backend be\n\
             backend be\n    server s1 127.0.0.1:{up} check inter 300\n\
             \x20   server s2 127.0.0.1:{down} check inter 300\n\
             backend gone\n    server g1 127.0.0.1:{down} check inter 300\n",
            log = rx.local_addr().unwrap().port(),
            up = server.port,
            down = refused_port(),
        ),
    )
    .unwrap();
    let reference = events(haproxy(), &cfg, port, &rx);
    std::thread::sleep(Duration::from_millis(300));
    let ours = events(env!("CARGO_BIN_EXE_baton"), &cfg, port, &rx);
    eprintln!("haproxy: {reference:#?}\nbaton: {ours:#?}");
    // A server going down: an alert (<129> = local0 + 1) with HAProxy's wording, the check
    // duration masked.
    let down = |lines: &[String]| {
        lines
            .iter()
            .find(|l| l.contains("Server be/s2 is DOWN"))
            .map(|l| {
                let (head, tail) = l.split_once("check duration: ").unwrap();
                format!("{head}{}", tail.split_once("ms.").unwrap().1)
            })
    };
    assert!(down(&reference).is_some());
    assert_eq!(down(&ours), down(&reference));
    // The last server of a backend: an emergency line.
    let empty = |lines: &[String]| -> Vec<String> {
        lines
            .iter()
            .filter(|l| l.contains("has no server"))
            .cloned()
            .collect()
    };
    assert_eq!(
        empty(&reference),
        ["<128>backend gone has no server available!\n"]
    );
    assert_eq!(empty(&ours), empty(&reference));
    // Soft stop: one warning (<132>) per proxy, with its cumulated sessions.
    let stopped = |lines: &[String]| -> Vec<String> {
        lines
            .iter()
            .filter(|l| l.contains(" stopped (cumulated"))
            .cloned()
            .collect()
    };
    assert_eq!(
        stopped(&reference),
        [
            "<132>Proxy fe stopped (cumulated conns: FE: 1, BE: 0).\n",
            "<132>Proxy be stopped (cumulated conns: FE: 0, BE: 0).\n",
            "<132>Proxy gone stopped (cumulated conns: FE: 0, BE: 0).\n"
        ]
    );
    assert_eq!(stopped(&ours), stopped(&reference));
}
