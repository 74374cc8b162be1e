//! Shared harness of the end-to-end proxy tests: the real `baton` binary run on generated
//! configurations, blocking backends and clients on 127.0.0.1, all bounded in time.
//!
//! Every spawned process and thread is owned by a guard whose `Drop` ends it, so a failing
//! assertion cannot leave a proxy or a listener behind.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Upper bound for any single wait of the harness.
pub const WAIT: Duration = Duration::from_secs(10);
/// Read/write timeout on every test socket: a hung proxy fails the test instead of hanging it.
pub const IO_TIMEOUT: Duration = Duration::from_secs(10);

/// A port that was free a moment ago on 127.0.0.1.
pub fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// A port where nothing listens (connections are refused).
pub fn refused_port() -> u16 {
    free_port()
}

/// Polls `cond` every 10 ms until it holds or `limit` passes; returns whether it held.
pub fn wait_until(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    loop {
        if cond() {
            return true;
        }
        if start.elapsed() > limit {
            return false;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Whether something accepts connections on 127.0.0.1:`port`.
pub fn accepts(port: u16) -> bool {
    TcpStream::connect_timeout(
        &SocketAddr::from(([127, 0, 0, 1], port)),
        Duration::from_millis(200),
    )
    .is_ok()
}

// ---------------------------------------------------------------------------------------------
// The proxy process
// ---------------------------------------------------------------------------------------------

/// The path of the binary under test.
pub fn baton_bin() -> &'static str {
    env!("CARGO_BIN_EXE_baton")
}

/// A running `baton -f CFG`; killed (SIGKILL) and reaped on drop.
pub struct Baton {
    /// The child process (None once reaped).
    pub child: Option<Child>,
    /// Its pid.
    pub pid: u32,
    /// The directory holding the configuration and the log.
    pub dir: tempfile::TempDir,
    /// Where its stderr goes.
    pub log: PathBuf,
}

/// Spawns `bin ARGS -f CFG` with stderr into `log` and no stdin/stdout.
fn spawn_logged(bin: &str, args: &[&str], cfg: &Path, log: &Path) -> Child {
    Command::new(bin)
        .args(args)
        .arg("-f")
        .arg(cfg)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(log).unwrap())
        .spawn()
        .unwrap_or_else(|e| panic!("spawning {bin}: {e}"))
}

/// Writes `cfg` into a new temporary directory.
pub fn write_cfg(cfg: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("haproxy.cfg");
    std::fs::write(&path, cfg).unwrap();
    (dir, path)
}

impl Baton {
    /// Starts baton on `cfg` and waits (bounded) until `port` accepts connections.
    pub fn start(cfg: &str, port: u16) -> Baton {
        Self::start_with_args(cfg, port, &[])
    }

    /// Like [`Baton::start`] with extra command-line arguments.
    pub fn start_with_args(cfg: &str, port: u16, args: &[&str]) -> Baton {
        let (dir, path) = write_cfg(cfg);
        // The directory must be reachable after a privilege drop (tempdir is 0700 root).
        let _ = std::fs::set_permissions(
            dir.path(),
            std::os::unix::fs::PermissionsExt::from_mode(0o755),
        );
        let log = dir.path().join("stderr.log");
        let child = spawn_logged(baton_bin(), args, &path, &log);
        let pid = child.id();
        let mut baton = Baton {
            child: Some(child),
            pid,
            dir,
            log,
        };
        let start = Instant::now();
        loop {
            if let Some(status) = baton.try_wait() {
                panic!(
                    "baton exited early with {status}; stderr:\n{}",
                    baton.stderr()
                );
            }
            if accepts(port) {
                break;
            }
            assert!(
                start.elapsed() < WAIT,
                "baton did not listen on {port} in time; stderr:\n{}",
                baton.stderr()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        baton
    }

    /// What baton wrote to stderr so far.
    pub fn stderr(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The exit status, if it has exited.
    pub fn try_wait(&mut self) -> Option<std::process::ExitStatus> {
        self.child.as_mut()?.try_wait().ok().flatten()
    }

    /// Waits (bounded by `limit`) for the process to exit.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        let start = Instant::now();
        loop {
            if let Some(s) = self.try_wait() {
                return Some(s);
            }
            if start.elapsed() > limit {
                return None;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Sends a signal.
    pub fn signal(&self, sig: nix::sys::signal::Signal) {
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(self.pid as i32), sig).unwrap();
    }

    /// Whether the process is still running.
    pub fn alive(&mut self) -> bool {
        self.try_wait().is_none()
    }

    /// A field of /proc/PID/status (e.g. "VmHWM", "Uid"), its value trimmed.
    pub fn proc_status(&self, field: &str) -> Option<String> {
        proc_status(self.pid, field)
    }
}

/// A field of /proc/PID/status, its value trimmed.
pub fn proc_status(pid: u32, field: &str) -> Option<String> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    text.lines().find_map(|l| {
        l.strip_prefix(field)
            .and_then(|r| r.strip_prefix(':'))
            .map(|v| v.trim().to_string())
    })
}

impl Drop for Baton {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        if std::thread::panicking() {
            eprintln!("--- baton (pid {}) stderr ---\n{}", self.pid, self.stderr());
        }
    }
}

/// A configuration in HTTP mode: one frontend `fe` on `port` and one backend `be`.
/// `defaults`, `frontend` and `backend` are extra lines for each section.
pub fn http_cfg(port: u16, defaults: &str, frontend: &str, backend: &str) -> String {
    format!(
        "global\n    maxconn 1000\n    nbthread 2\n\n\
         defaults\n    mode http\n    timeout connect 1s\n    timeout client 10s\n    timeout server 10s\n{defaults}\n\
         frontend fe\n    bind 127.0.0.1:{port}\n    default_backend be\n{frontend}\n\
         backend be\n{backend}\n"
    )
}

/// Indents each line of `lines` for a section.
pub fn section(lines: &[String]) -> String {
    lines.iter().map(|l| format!("    {l}\n")).collect()
}

// ---------------------------------------------------------------------------------------------
// Backends
// ---------------------------------------------------------------------------------------------

/// A listener on 127.0.0.1 whose connections each run `handler` on their own thread. Stops
/// listening (the port then refuses) on `stop()` or drop.
pub struct Backend {
    /// Its port.
    pub port: u16,
    /// Connections accepted so far.
    pub accepts: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

/// What a connection handler receives.
pub type ConnHandler = Arc<dyn Fn(TcpStream) + Send + Sync + 'static>;

impl Backend {
    /// A backend running `handler` on each connection, on a new port.
    pub fn raw(handler: impl Fn(TcpStream) + Send + Sync + 'static) -> Backend {
        Self::raw_on(0, Arc::new(handler))
    }

    /// A backend on `port` (0: any).
    pub fn raw_on(port: u16, handler: ConnHandler) -> Backend {
        let listener = bind_retrying(port);
        let port = listener.local_addr().unwrap().port();
        listener.set_nonblocking(true).unwrap();
        let accepts = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let accepts = Arc::clone(&accepts);
            let stop = Arc::clone(&stop);
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    match listener.accept() {
                        Ok((s, _)) => {
                            s.set_nonblocking(false).unwrap();
                            let _ = s.set_read_timeout(Some(IO_TIMEOUT));
                            let _ = s.set_write_timeout(Some(IO_TIMEOUT));
                            let _ = s.set_nodelay(true);
                            accepts.fetch_add(1, Ordering::SeqCst);
                            let h = Arc::clone(&handler);
                            std::thread::spawn(move || h(s));
                        }
                        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                            std::thread::sleep(Duration::from_millis(2));
                        }
                        Err(_) => std::thread::sleep(Duration::from_millis(2)),
                    }
                }
            })
        };
        Backend {
            port,
            accepts,
            stop,
            thread: Some(thread),
        }
    }

    /// An HTTP/1.1 keep-alive server answering each request with `handler`.
    pub fn http(handler: impl Fn(&Request) -> Response + Send + Sync + 'static) -> Backend {
        Self::http_on(0, Arc::new(handler))
    }

    /// Like [`Backend::http`] on a given port.
    pub fn http_on(port: u16, handler: HttpHandler) -> Backend {
        Self::raw_on(port, Arc::new(move |s| serve_http(s, &handler)))
    }

    /// The standard named server: body is `name`; headers echo the path and the
    /// `X-Forwarded-For` it saw; `/sleep/N` waits N ms before answering.
    pub fn named(name: &str) -> Backend {
        Self::http_on(0, named_handler(name))
    }

    /// Stops listening; the port refuses new connections once this returns.
    pub fn stop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }

    /// Connections accepted so far.
    pub fn accepted(&self) -> usize {
        self.accepts.load(Ordering::SeqCst)
    }
}

impl Drop for Backend {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Binds 127.0.0.1:`port`, retrying briefly when the port is still in use (restarts).
fn bind_retrying(port: u16) -> TcpListener {
    let start = Instant::now();
    loop {
        match TcpListener::bind(("127.0.0.1", port)) {
            Ok(l) => return l,
            Err(e) if start.elapsed() > Duration::from_secs(3) => {
                panic!("cannot bind 127.0.0.1:{port}: {e}")
            }
            Err(_) => std::thread::sleep(Duration::from_millis(20)),
        }
    }
}

/// An HTTP request handler.
pub type HttpHandler = Arc<dyn Fn(&Request) -> Response + Send + Sync + 'static>;

/// The handler of [`Backend::named`].
pub fn named_handler(name: &str) -> HttpHandler {
    let name = name.to_string();
    Arc::new(move |req: &Request| {
        if let Some(ms) = req.path.strip_prefix("/sleep/") {
            let ms: u64 = ms.split('?').next().unwrap().parse().unwrap_or(0);
            std::thread::sleep(Duration::from_millis(ms.min(10_000)));
        }
        let mut resp = Response::ok(name.as_bytes());
        resp.headers.push(("X-Path".into(), req.path.clone()));
        if let Some(xff) = req.header("x-forwarded-for") {
            resp.headers.push(("X-Seen-XFF".into(), xff.to_string()));
        }
        if let Some(c) = req.header("x-client") {
            resp.headers.push(("X-Seen-Client".into(), c.to_string()));
        }
        resp
    })
}

/// A request as a backend saw it.
#[derive(Debug, Clone, Default)]
pub struct Request {
    pub method: String,
    pub path: String,
    pub version: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Request {
    /// The first header called `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        find_header(&self.headers, name)
    }

    /// All values of headers called `name`.
    pub fn headers_named(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }
}

/// A response: from a backend handler, or as a client parsed it.
#[derive(Debug, Clone, Default)]
pub struct Response {
    pub status: u16,
    /// The whole status line without CRLF (client side).
    pub status_line: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    /// 200 with `body`.
    pub fn ok(body: &[u8]) -> Response {
        Response {
            status: 200,
            status_line: String::new(),
            headers: Vec::new(),
            body: body.to_vec(),
        }
    }

    /// The first header called `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        find_header(&self.headers, name)
    }

    /// The body as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

fn find_header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// Reads a message head (through the blank line) from `r`; `None` on a clean EOF before any
/// byte. Panics on heads larger than 64 kB.
pub fn read_head<R: BufRead>(r: &mut R) -> std::io::Result<Option<String>> {
    let mut head = Vec::new();
    loop {
        let n = r.read_until(b'\n', &mut head)?;
        if n == 0 {
            if head.is_empty() {
                return Ok(None);
            }
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                format!("EOF inside a head: {:?}", String::from_utf8_lossy(&head)),
            ));
        }
        if head.ends_with(b"\r\n\r\n") || head == b"\r\n" {
            break;
        }
        assert!(head.len() < 65536, "head too large");
    }
    Ok(Some(String::from_utf8_lossy(&head).into_owned()))
}

/// Splits a head into its first line and headers.
pub fn parse_head(head: &str) -> (String, Vec<(String, String)>) {
    let mut lines = head.split("\r\n");
    let first = lines.next().unwrap_or_default().to_string();
    let headers = lines
        .filter(|l| !l.is_empty())
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_string(), v.trim().to_string()))
        .collect();
    (first, headers)
}

/// Reads a chunked body, decoded (trailers are discarded).
fn read_chunked<R: BufRead>(r: &mut R) -> std::io::Result<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let mut line = String::new();
        r.read_line(&mut line)?;
        let size = usize::from_str_radix(line.trim().split(';').next().unwrap_or(""), 16)
            .map_err(|_| std::io::Error::other(format!("bad chunk size {line:?}")))?;
        if size == 0 {
            loop {
                let mut t = String::new();
                if r.read_line(&mut t)? == 0 || t == "\r\n" {
                    return Ok(body);
                }
            }
        }
        let start = body.len();
        body.resize(start + size, 0);
        r.read_exact(&mut body[start..])?;
        let mut crlf = [0u8; 2];
        r.read_exact(&mut crlf)?;
    }
}

/// Serves HTTP/1.1 requests on `s` with `handler` until the peer closes or asks to close.
pub fn serve_http(s: TcpStream, handler: &HttpHandler) {
    let mut w = s.try_clone().unwrap();
    let mut r = BufReader::new(s);
    loop {
        let Ok(Some(head)) = read_head(&mut r) else {
            return;
        };
        let (line, headers) = parse_head(&head);
        let mut parts = line.split(' ');
        let mut req = Request {
            method: parts.next().unwrap_or_default().to_string(),
            path: parts.next().unwrap_or_default().to_string(),
            version: parts.next().unwrap_or_default().to_string(),
            headers,
            body: Vec::new(),
        };
        if req
            .header("transfer-encoding")
            .is_some_and(|v| v.to_ascii_lowercase().contains("chunked"))
        {
            match read_chunked(&mut r) {
                Ok(b) => req.body = b,
                Err(_) => return,
            }
        } else if let Some(n) = req.header("content-length").and_then(|v| v.parse().ok()) {
            let n: usize = n;
            req.body = vec![0; n];
            if r.read_exact(&mut req.body).is_err() {
                return;
            }
        }
        let close = req
            .header("connection")
            .is_some_and(|v| v.eq_ignore_ascii_case("close"))
            || req.version == "HTTP/1.0";
        let resp = handler(&req);
        let mut out = format!("HTTP/1.1 {} X\r\n", resp.status);
        for (n, v) in &resp.headers {
            out.push_str(&format!("{n}: {v}\r\n"));
        }
        out.push_str(&format!("Content-Length: {}\r\n", resp.body.len()));
        if close {
            out.push_str("Connection: close\r\n");
        }
        out.push_str("\r\n");
        let mut bytes = out.into_bytes();
        if req.method != "HEAD" {
            bytes.extend_from_slice(&resp.body);
        }
        if w.write_all(&bytes).is_err() {
            return;
        }
        if close {
            let _ = w.shutdown(Shutdown::Write);
            // Drain until the peer closes so the close is orderly.
            let mut sink = [0u8; 1024];
            while matches!(r.read(&mut sink), Ok(n) if n > 0) {}
            return;
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Clients
// ---------------------------------------------------------------------------------------------

/// A connection to 127.0.0.1:`port` with the harness's timeouts.
pub fn connect(port: u16) -> TcpStream {
    let s = TcpStream::connect(("127.0.0.1", port)).expect("connect to the proxy");
    s.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    s.set_write_timeout(Some(IO_TIMEOUT)).unwrap();
    let _ = s.set_nodelay(true);
    s
}

/// A connection from `source` (e.g. 127.0.0.7) to 127.0.0.1:`port`.
pub fn connect_from(source: std::net::Ipv4Addr, port: u16) -> TcpStream {
    let sock = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    sock.bind(&SocketAddr::from((source, 0)).into()).unwrap();
    sock.connect(&SocketAddr::from(([127, 0, 0, 1], port)).into())
        .unwrap();
    let s: TcpStream = sock.into();
    s.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    s.set_write_timeout(Some(IO_TIMEOUT)).unwrap();
    s
}

/// Reads one response (Content-Length, chunked — decoded — or until close) from `r`.
/// `head_request`: the response to a HEAD has no body.
pub fn read_response<R: BufRead>(r: &mut R) -> std::io::Result<Response> {
    let head = read_head(r)?.ok_or_else(|| {
        std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "EOF before a response")
    })?;
    let (status_line, headers) = parse_head(&head);
    let status = status_line
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let mut resp = Response {
        status,
        status_line,
        headers,
        body: Vec::new(),
    };
    if resp
        .header("transfer-encoding")
        .is_some_and(|v| v.to_ascii_lowercase().contains("chunked"))
    {
        resp.body = read_chunked(r)?;
    } else if let Some(n) = resp.header("content-length").and_then(|v| v.parse().ok()) {
        let n: usize = n;
        resp.body = vec![0; n];
        r.read_exact(&mut resp.body)?;
    } else if !(100..200).contains(&status) && status != 204 && status != 304 {
        r.read_to_end(&mut resp.body)?;
    }
    Ok(resp)
}

/// Sends `raw` on a new connection and reads one response.
pub fn exchange(port: u16, raw: &[u8]) -> std::io::Result<Response> {
    let mut s = connect(port);
    s.write_all(raw)?;
    read_response(&mut BufReader::new(s))
}

/// `GET path` with `Connection: close` on a new connection.
pub fn get(port: u16, path: &str) -> Response {
    exchange(
        port,
        format!("GET {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n").as_bytes(),
    )
    .unwrap_or_else(|e| panic!("GET {path}: {e}"))
}

/// Reads everything until EOF (bounded by the socket's read timeout); `Err` on a reset.
pub fn read_to_eof(s: &mut TcpStream) -> std::io::Result<Vec<u8>> {
    let mut all = Vec::new();
    s.read_to_end(&mut all)?;
    Ok(all)
}

/// Counts bodies of `GET path` over `n` fresh connections by server name.
pub fn tally(
    port: u16,
    paths: impl Iterator<Item = String>,
) -> std::collections::BTreeMap<String, usize> {
    let mut counts = std::collections::BTreeMap::new();
    for p in paths {
        let r = get(port, &p);
        assert_eq!(r.status, 200, "{p}: {}", r.status_line);
        *counts.entry(r.text()).or_insert(0) += 1;
    }
    counts
}

/// A pseudo-random pattern used to generate and check large bodies without storing them:
/// byte `i` of a stream is `PATTERN[i % len]`; the length is prime so that it never lines up
/// with buffer sizes.
pub fn pattern() -> Arc<Vec<u8>> {
    static P: Mutex<Option<Arc<Vec<u8>>>> = Mutex::new(None);
    let mut p = P.lock().unwrap();
    p.get_or_insert_with(|| {
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        let v = (0..1_000_003)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x >> 24) as u8
            })
            .collect();
        Arc::new(v)
    })
    .clone()
}

/// Writes `total` bytes of the pattern to `w`.
pub fn write_pattern<W: Write>(w: &mut W, total: u64) -> std::io::Result<()> {
    let p = pattern();
    let mut pos = 0u64;
    while pos < total {
        let off = (pos % p.len() as u64) as usize;
        let n = ((p.len() - off) as u64).min(total - pos).min(256 * 1024) as usize;
        w.write_all(&p[off..off + n])?;
        pos += n as u64;
    }
    Ok(())
}

/// Reads exactly `total` bytes from `r`, checking them against the pattern; returns the
/// offset of the first mismatch or the error.
pub fn check_pattern<R: Read>(r: &mut R, total: u64) -> Result<(), String> {
    let p = pattern();
    let mut buf = vec![0u8; 256 * 1024];
    let mut pos = 0u64;
    while pos < total {
        let want = (buf.len() as u64).min(total - pos) as usize;
        let n = r
            .read(&mut buf[..want])
            .map_err(|e| format!("read error at {pos}: {e}"))?;
        if n == 0 {
            return Err(format!("EOF at {pos} of {total}"));
        }
        let mut checked = 0;
        while checked < n {
            let off = ((pos + checked as u64) % p.len() as u64) as usize;
            let m = (p.len() - off).min(n - checked);
            if buf[checked..checked + m] != p[off..off + m] {
                return Err(format!("mismatch near byte {}", pos + checked as u64));
            }
            checked += m;
        }
        pos += n as u64;
    }
    Ok(())
}

/// The directory for temporary files of a test.
pub fn tmp() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

/// Reads a pid file.
pub fn read_pid(path: &Path) -> Option<u32> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

/// `GET path` with `Connection: close` from the local address `source`.
pub fn get_from(source: std::net::Ipv4Addr, port: u16, path: &str) -> Response {
    let mut s = connect_from(source, port);
    s.write_all(
        format!("GET {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n").as_bytes(),
    )
    .unwrap();
    read_response(&mut BufReader::new(s)).unwrap_or_else(|e| panic!("GET {path}: {e}"))
}

/// `server NAME 127.0.0.1:PORT OPTIONS` lines.
pub fn server_line(name: &str, port: u16, options: &str) -> String {
    format!("    server {name} 127.0.0.1:{port} {options}\n")
}

// ---------------------------------------------------------------------------------------------
// Load generator
// ---------------------------------------------------------------------------------------------

/// Starts `ab -r -c 20 -n REQUESTS -s 10 [-k]` against `addr`, output captured.
pub fn spawn_ab(addr: SocketAddr, requests: u64, keep_alive: bool) -> Child {
    let ab = ["/usr/bin/ab", "/usr/sbin/ab"]
        .into_iter()
        .find(|p| Path::new(p).exists())
        .expect("ab is needed for this test: apt-get install apache2-utils");
    let mut cmd = Command::new(ab);
    cmd.args(["-r", "-c", "20", "-s", "10", "-n"])
        .arg(requests.to_string());
    if keep_alive {
        cmd.arg("-k");
    }
    cmd.arg(format!("http://{addr}/"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd.spawn().expect("spawn ab")
}

/// ab's verdict on one run.
#[derive(Debug, Default)]
pub struct AbResult {
    /// Complete requests.
    pub complete: u64,
    /// Requests that failed: ab's Connect + Receive + Length + Exceptions, plus non-2xx.
    pub lost: u64,
    /// ab stopped early ("Test aborted after 10 failures").
    pub aborted: bool,
}

/// Parses ab's report.
pub fn parse_ab(out: &str) -> AbResult {
    let mut r = AbResult {
        aborted: out.contains("aborted"),
        ..Default::default()
    };
    for line in out.lines() {
        let num = |l: &str| {
            l.split_whitespace()
                .nth(2)
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(0)
        };
        if line.starts_with("Complete requests:") {
            r.complete = num(line);
        }
        if line.starts_with("Non-2xx responses:") {
            r.lost += num(line);
        }
        if let Some(detail) = line.trim().strip_prefix("(Connect:") {
            // "(Connect: 0, Receive: 1, Length: 1, Exceptions: 0)"
            let values: Vec<u64> = format!("Connect:{detail}")
                .split(',')
                .filter_map(|kv| kv.split(':').nth(1))
                .map(|v| v.trim().trim_end_matches(')').parse().unwrap_or(0))
                .collect();
            // One reset shows in Receive, Length and Exceptions alike (3 in the headline):
            // a lost request is counted once.
            if let [connect, receive, length, exceptions] = values[..] {
                r.lost += connect + receive.max(length).max(exceptions);
            }
        }
    }
    r
}

/// Whether process `pid` exists and is not a zombie (PID 1 here reaps orphans slowly, so
/// `kill -0` is not enough).
pub fn process_running(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
        s.rsplit_once(") ")
            .is_some_and(|(_, rest)| !rest.starts_with('Z') && !rest.starts_with('X'))
    })
}

/// Waits for ab and parses its report; when requests were lost, prints ab's detail.
pub fn finish_ab(client: Child) -> AbResult {
    let out = client.wait_with_output().unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    let result = parse_ab(&text);
    if result.lost > 0 {
        let detail: Vec<&str> = text
            .lines()
            .filter(|l| !l.starts_with("Completed"))
            .collect();
        eprintln!("ab said:\n{}", detail.join("\n"));
    }
    result
}

/// A count from the environment variable `var` (to shorten a run locally), else `default`.
pub fn env_count(var: &str, default: u64) -> u64 {
    std::env::var(var)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

// ---------------------------------------------------------------------------------------------
// Debian's haproxy, for differential tests
// ---------------------------------------------------------------------------------------------

/// A running Debian `haproxy -db -f CFG` (foreground); killed and reaped on drop.
pub struct Haproxy {
    /// The child process.
    pub child: Child,
    /// The directory holding the configuration and the log.
    pub dir: tempfile::TempDir,
}

impl Haproxy {
    /// Starts haproxy on `cfg` and waits (bounded) until `port` accepts connections.
    pub fn start(cfg: &str, port: u16) -> Haproxy {
        let bin = ["/usr/sbin/haproxy", "/usr/bin/haproxy"]
            .into_iter()
            .find(|p| Path::new(p).exists())
            .expect("Debian's haproxy is needed for this test: apt-get install haproxy");
        let (dir, path) = write_cfg(cfg);
        let log = dir.path().join("stderr.log");
        let child = spawn_logged(bin, &["-db"], &path, &log);
        let mut h = Haproxy { child, dir };
        let start = Instant::now();
        loop {
            if let Ok(Some(status)) = h.child.try_wait() {
                panic!(
                    "haproxy exited early with {status}:\n{}",
                    std::fs::read_to_string(&log).unwrap_or_default()
                );
            }
            if accepts(port) {
                return h;
            }
            assert!(
                start.elapsed() < WAIT,
                "haproxy did not listen on {port} in time"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Haproxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
