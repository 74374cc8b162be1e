//! Health checks: one task per checked server, marking it down and up again.
//!
//! Behaviour follows HAProxy 2.6's documentation of `check`, `inter`, `fastinter`, `downinter`,
//! `rise`, `fall`, `port`, `addr`, `option httpchk`, `http-check expect status` and
//! `timeout check` (no HAProxy code is reused):
//!
//! - a check is a TCP connection to the server (or to its `addr`/`port` overrides); with
//!   `option httpchk` it also sends `METHOD URI VERSION` and judges the status line: exactly the
//!   expected status if one is configured, else any 2xx or 3xx;
//! - an up server goes down after `fall` consecutive failed checks, a down server comes back
//!   after `rise` consecutive passed checks;
//! - checks run every `inter`, every `fastinter` while results are heading towards a change of
//!   state, and every `downinter` while the server is down;
//! - with `timeout check`, the connection gets min(`timeout connect`, `inter`) and the response
//!   `timeout check`; without it the whole check must finish within `inter`.
//!
//! Transitions are logged with `tracing::warn!` in the shape of HAProxy's own messages, so that
//! operators' log searches keep working.

use crate::backend::balance::stable_hash;
use crate::backend::server::{CheckReport, ServerState, Status};
use baton_config::model::{HttpCheck, ServerOptions, Timeouts};
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio::time::{sleep, timeout, timeout_at, Instant};

/// Longest status line read from a server; HAProxy's checks read into a bounded buffer too.
const MAX_STATUS_LINE: usize = 1024;

/// Shortest interval between checks, so that a zero interval cannot spin a CPU.
const MIN_INTERVAL: Duration = Duration::from_millis(1);

/// How one server is checked, resolved from its options and its backend's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckSpec {
    /// `addr`: check this address instead of the server's.
    pub addr: Option<IpAddr>,
    /// `port`: check this port instead of the server's.
    pub port: Option<u16>,
    /// `inter`: interval between checks of a server in a stable state.
    pub inter: Duration,
    /// `fastinter` (default `inter`): interval while a change of state is under way.
    pub fastinter: Duration,
    /// `downinter` (default `inter`): interval while the server is down.
    pub downinter: Duration,
    /// `rise`: consecutive passed checks that bring a down server up (at least 1).
    pub rise: u32,
    /// `fall`: consecutive failed checks that take an up server down (at least 1).
    pub fall: u32,
    /// Bound on establishing the connection.
    pub connect_timeout: Duration,
    /// `timeout check`: bound on the response once connected; `None` means the whole check is
    /// bounded by `inter` instead.
    pub check_timeout: Option<Duration>,
    /// `option httpchk`: the request to send and the status to expect; `None` is a TCP check.
    pub http: Option<HttpCheck>,
}

impl CheckSpec {
    /// The spec of a server with `options`, in a backend with these `http_check` and `timeouts`.
    pub fn new(
        options: &ServerOptions,
        http_check: Option<&HttpCheck>,
        timeouts: &Timeouts,
    ) -> Self {
        let inter = options.inter.max(MIN_INTERVAL);
        let connect_timeout = match timeouts.check {
            Some(_) => timeouts.connect.map_or(inter, |c| c.min(inter)),
            None => inter,
        };
        CheckSpec {
            addr: options.check_addr,
            port: options.check_port,
            inter,
            fastinter: options.fastinter.unwrap_or(inter).max(MIN_INTERVAL),
            downinter: options.downinter.unwrap_or(inter).max(MIN_INTERVAL),
            rise: options.rise.max(1),
            fall: options.fall.max(1),
            connect_timeout,
            check_timeout: timeouts.check,
            http: http_check.cloned(),
        }
    }

    /// Where to connect for a server at `server`: the overrides, else the server's address.
    pub fn target(&self, server: SocketAddr) -> SocketAddr {
        SocketAddr::new(
            self.addr.unwrap_or(server.ip()),
            self.port.unwrap_or(server.port()),
        )
    }
}

/// Why a check passed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Passed {
    /// A TCP check connected.
    Layer4,
    /// An HTTP check got an acceptable status.
    Layer7 {
        /// The status received.
        code: u16,
    },
}

impl fmt::Display for Passed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Passed::Layer4 => write!(f, "Layer4 check passed"),
            Passed::Layer7 { code } => write!(f, "Layer7 check passed, code: {code}"),
        }
    }
}

/// Why a check failed; the messages are HAProxy's `reason` (and `code`/`info`) wording.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CheckFailure {
    /// The connection was refused, reset or could not be made.
    #[error("Layer4 connection problem, info: \"{0}\"")]
    Connection(String),
    /// The connection was not established in time.
    #[error("Layer4 timeout")]
    ConnectTimeout,
    /// Connected, but no complete status line arrived in time.
    #[error("Layer7 timeout")]
    ResponseTimeout,
    /// The server did not answer with an HTTP status line.
    #[error("Layer7 invalid response, info: \"{0}\"")]
    InvalidResponse(String),
    /// The status was not the expected one.
    #[error("Layer7 wrong status, code: {code}, info: \"{reason}\"")]
    WrongStatus {
        /// The status received.
        code: u16,
        /// Its reason phrase.
        reason: String,
    },
}

/// The outcome of one check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckResult {
    /// Passed or failed, and why.
    pub outcome: Result<Passed, CheckFailure>,
    /// How long the check took (HAProxy's `check duration`).
    pub duration: Duration,
}

impl CheckResult {
    /// Whether the check passed.
    pub fn passed(&self) -> bool {
        self.outcome.is_ok()
    }

    /// `reason: ..., check duration: Nms`, as HAProxy writes it after a transition.
    pub fn describe(&self) -> String {
        let reason = match &self.outcome {
            Ok(passed) => passed.to_string(),
            Err(failure) => failure.to_string(),
        };
        format!(
            "reason: {reason}, check duration: {}ms",
            self.duration.as_millis()
        )
    }
}

/// The rise/fall bookkeeping of one server, apart from any I/O so it can be tested exactly.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tracker {
    /// What the checks currently say: up or down.
    up: bool,
    /// Consecutive results contradicting `up` (failures while up, passes while down).
    streak: u32,
}

impl Tracker {
    /// A tracker for a server that starts up or down.
    pub fn new(up: bool) -> Self {
        Tracker { up, streak: 0 }
    }

    /// What the checks currently say.
    pub fn is_up(&self) -> bool {
        self.up
    }

    /// Counts a result; returns the new state when it changes (`Some(false)`: now down).
    pub fn record(&mut self, passed: bool, spec: &CheckSpec) -> Option<bool> {
        if passed == self.up {
            self.streak = 0;
            return None;
        }
        self.streak += 1;
        let needed = if self.up { spec.fall } else { spec.rise };
        if self.streak < needed.max(1) {
            return None;
        }
        self.up = passed;
        self.streak = 0;
        Some(passed)
    }

    /// Adopts a state set from elsewhere (the runtime API), forgetting any streak.
    pub fn sync(&mut self, up: bool) {
        if self.up != up {
            *self = Tracker::new(up);
        }
    }

    /// Forgets any streak (the server went into maintenance).
    pub fn reset(&mut self) {
        self.streak = 0;
    }

    /// The wait before the next check.
    pub fn interval(&self, spec: &CheckSpec) -> Duration {
        if self.streak > 0 {
            spec.fastinter
        } else if self.up {
            spec.inter
        } else {
            spec.downinter
        }
    }
}

/// Delay before a server's first check, in `[0, inter)`, from a hash of its name: checks of
/// many servers do not all start at once, yet a restart spreads them the same way.
pub fn initial_delay(server: &ServerState, inter: Duration) -> Duration {
    let span = u64::try_from(inter.as_nanos()).unwrap_or(u64::MAX);
    if span == 0 {
        return Duration::ZERO;
    }
    let name = format!("{}/{}", server.backend, server.name);
    Duration::from_nanos(stable_hash(name.as_bytes()) % span)
}

/// Checks `server` until `stop` becomes true (or its sender is dropped), updating its status.
///
/// Returns at once for a server without `check`. A server in `Maint` is not checked but the
/// task keeps running; a `Drain` server is checked and its transitions logged, but its status
/// stays as the operator set it.
pub async fn run(server: Arc<ServerState>, spec: CheckSpec, mut stop: watch::Receiver<bool>) {
    if !server.options.check {
        return;
    }
    if server.port_from_client && spec.port.is_none() {
        tracing::warn!(
            "Server {}/{} has no port to check (its address has none and `port` is not set); not checking it.",
            server.backend,
            server.name
        );
        return;
    }
    let target = spec.target(server.addr);
    let mut tracker = Tracker::new(server.status() != Status::Down);
    let mut wait = initial_delay(&server, spec.inter);
    loop {
        tokio::select! {
            _ = sleep(wait) => {}
            _ = stopped(&mut stop) => return,
        }
        match server.status() {
            Status::Maint => {
                tracker.reset();
                wait = spec.inter;
                continue;
            }
            Status::Up => tracker.sync(true),
            Status::Down => tracker.sync(false),
            Status::Drain => {}
        }
        let result = tokio::select! {
            result = check_once(target, &spec) => result,
            _ = stopped(&mut stop) => return,
        };
        server.record_check(report(&result), result.passed());
        if let Some(up) = tracker.record(result.passed(), &spec) {
            apply(&server, up, &result);
        }
        wait = tracker.interval(&spec);
    }
}

/// A check's outcome in `show stat`'s words.
fn report(result: &CheckResult) -> CheckReport {
    let (status, code) = match &result.outcome {
        Ok(Passed::Layer4) => ("L4OK", None),
        Ok(Passed::Layer7 { code }) => ("L7OK", Some(*code)),
        Err(CheckFailure::Connection(_)) => ("L4CON", None),
        Err(CheckFailure::ConnectTimeout) => ("L4TOUT", None),
        Err(CheckFailure::ResponseTimeout) => ("L7TOUT", None),
        Err(CheckFailure::InvalidResponse(_)) => ("L7RSP", None),
        Err(CheckFailure::WrongStatus { code, .. }) => ("L7STS", Some(*code)),
    };
    CheckReport {
        status,
        code,
        duration_ms: result.duration.as_millis() as u64,
    }
}

/// Resolves when `stop` is (or becomes) true, or when its sender is gone.
async fn stopped(stop: &mut watch::Receiver<bool>) {
    loop {
        if *stop.borrow_and_update() {
            return;
        }
        if stop.changed().await.is_err() {
            return;
        }
    }
}

/// Sets the status after a transition (unless an operator's state overrides it) and logs it.
fn apply(server: &ServerState, up: bool, result: &CheckResult) {
    let current = server.status();
    let overridden = matches!(current, Status::Maint | Status::Drain);
    if !overridden {
        server.set_status(if up { Status::Up } else { Status::Down });
    }
    let note = if overridden {
        " (status kept: an operator set it)"
    } else {
        ""
    };
    let message = transition_message(server, up, result);
    tracing::warn!("{message}{note}");
    // As HAProxy: a server coming up is a notice, going down an alert, on the log targets.
    if up {
        crate::log::event(baton_config::log_model::level::NOTICE, message);
    } else {
        crate::log::server_down(server, &message);
    }
}

/// HAProxy's wording of a transition: `Server be/s1 is DOWN, reason: ..., check duration: 0ms.`
pub fn transition_message(server: &ServerState, up: bool, result: &CheckResult) -> String {
    let word = if up { "UP" } else { "DOWN" };
    format!(
        "Server {}/{} is {word}, {}.",
        server.backend,
        server.name,
        result.describe()
    )
}

/// Runs one check against `addr`.
pub async fn check_once(addr: SocketAddr, spec: &CheckSpec) -> CheckResult {
    let start = Instant::now();
    let outcome = attempt(addr, spec, start).await;
    CheckResult {
        outcome,
        duration: start.elapsed(),
    }
}

/// Connects and, for an HTTP check, exchanges request and status line, within the bounds.
async fn attempt(
    addr: SocketAddr,
    spec: &CheckSpec,
    start: Instant,
) -> Result<Passed, CheckFailure> {
    let stream = match timeout(spec.connect_timeout, TcpStream::connect(addr)).await {
        Err(_) => return Err(CheckFailure::ConnectTimeout),
        Ok(Err(e)) => return Err(CheckFailure::Connection(os_message(&e))),
        Ok(Ok(stream)) => stream,
    };
    let Some(http) = &spec.http else {
        return Ok(Passed::Layer4);
    };
    let deadline = match spec.check_timeout {
        Some(t) => Instant::now() + t,
        None => start + spec.inter,
    };
    timeout_at(deadline, http_exchange(stream, http))
        .await
        .unwrap_or(Err(CheckFailure::ResponseTimeout))
}

/// Sends the check request and judges the status line of the answer.
async fn http_exchange(mut stream: TcpStream, check: &HttpCheck) -> Result<Passed, CheckFailure> {
    let request = format!(
        "{} {} {}\r\nConnection: close\r\n\r\n",
        check.method, check.uri, check.version
    );
    stream
        .write_all(request.as_bytes())
        .await
        .map_err(|e| CheckFailure::Connection(os_message(&e)))?;
    let line = read_status_line(&mut stream).await?;
    let (code, reason) = parse_status_line(&line)?;
    let healthy = match check.expect_status {
        Some(expected) => code == expected,
        None => (200..400).contains(&code),
    };
    if healthy {
        Ok(Passed::Layer7 { code })
    } else {
        Err(CheckFailure::WrongStatus {
            code,
            reason: reason.to_string(),
        })
    }
}

/// Reads up to the end of the first line (or of the stream), at most [`MAX_STATUS_LINE`] bytes.
async fn read_status_line(stream: &mut TcpStream) -> Result<String, CheckFailure> {
    let mut line = Vec::with_capacity(256);
    let mut chunk = [0u8; 512];
    loop {
        let n = stream
            .read(&mut chunk)
            .await
            .map_err(|e| CheckFailure::Connection(os_message(&e)))?;
        line.extend_from_slice(&chunk[..n]);
        if let Some(end) = line.iter().position(|&b| b == b'\n') {
            line.truncate(end);
            break;
        }
        if n == 0 {
            break;
        }
        if line.len() > MAX_STATUS_LINE {
            return Err(CheckFailure::InvalidResponse("status line too long".into()));
        }
    }
    if line.is_empty() {
        return Err(CheckFailure::InvalidResponse("empty response".into()));
    }
    Ok(String::from_utf8_lossy(&line)
        .trim_end_matches('\r')
        .to_string())
}

/// Splits `HTTP/1.x NNN reason` into the status code and the reason phrase.
fn parse_status_line(line: &str) -> Result<(u16, &str), CheckFailure> {
    let invalid = || CheckFailure::InvalidResponse(format!("not an HTTP status line: {line:.64}"));
    let mut parts = line.splitn(3, ' ');
    let version = parts.next().unwrap_or_default();
    let code = parts.next().unwrap_or_default();
    if !version.starts_with("HTTP/") || code.len() != 3 || !code.bytes().all(|b| b.is_ascii_digit())
    {
        return Err(invalid());
    }
    let code = code.parse().map_err(|_| invalid())?;
    Ok((code, parts.next().unwrap_or_default().trim()))
}

/// An I/O error as the system words it ("Connection refused"), without Rust's "(os error N)".
fn os_message(e: &std::io::Error) -> String {
    let text = e.to_string();
    match text.split_once(" (os error") {
        Some((message, _)) => message.to_string(),
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;
    use std::sync::atomic::{AtomicU32, AtomicU8, Ordering};
    use tokio::net::TcpListener;

    const MS: Duration = Duration::from_millis(1);

    fn http(expect_status: Option<u16>) -> HttpCheck {
        HttpCheck {
            method: "OPTIONS".into(),
            uri: "/".into(),
            version: "HTTP/1.0".into(),
            expect_status,
        }
    }

    fn options(inter: u32, fastinter: u32, downinter: u32) -> ServerOptions {
        ServerOptions {
            check: true,
            inter: inter * MS,
            fastinter: Some(fastinter * MS),
            downinter: Some(downinter * MS),
            rise: 2,
            fall: 3,
            ..ServerOptions::default()
        }
    }

    fn state(addr: SocketAddr, options: ServerOptions) -> Arc<ServerState> {
        Arc::new(ServerState::new("be", "s1", addr, false, options))
    }

    /// A local port with nothing listening on it.
    async fn refusing_port() -> SocketAddr {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .await
            .expect("bind");
        listener.local_addr().expect("addr")
    }

    /// Mode of [`http_server`]: which status it answers with.
    const ANSWER_503: u8 = 0;
    const ANSWER_200: u8 = 1;

    /// A tiny HTTP server answering every connection per `mode`, counting what it answered.
    async fn http_server(mode: Arc<AtomicU8>, count: Arc<[AtomicU32; 2]>) -> SocketAddr {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move {
            while let Ok((mut conn, _)) = listener.accept().await {
                let mut buf = [0u8; 256];
                let mut got = Vec::new();
                while !got.ends_with(b"\r\n\r\n") {
                    match conn.read(&mut buf).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => got.extend_from_slice(&buf[..n]),
                    }
                }
                assert_eq!(got, b"OPTIONS / HTTP/1.0\r\nConnection: close\r\n\r\n");
                let m = mode.load(Ordering::SeqCst);
                count[usize::from(m)].fetch_add(1, Ordering::SeqCst);
                let answer: &[u8] = match m {
                    ANSWER_503 => b"HTTP/1.0 503 Service Unavailable\r\n\r\n",
                    _ => b"HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n",
                };
                let _ = conn.write_all(answer).await;
            }
        });
        addr
    }

    /// A server that accepts and holds connections without ever answering.
    async fn silent_server() -> SocketAddr {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((conn, _)) = listener.accept().await {
                held.push(conn);
            }
        });
        addr
    }

    /// Accepts (and closes) connections on `listener`, counting them.
    fn count_accepts(listener: TcpListener) -> Arc<AtomicU32> {
        let accepted = Arc::new(AtomicU32::new(0));
        let counter = accepted.clone();
        tokio::spawn(async move {
            while let Ok((_conn, _)) = listener.accept().await {
                counter.fetch_add(1, Ordering::SeqCst);
            }
        });
        accepted
    }

    /// Polls until `server` has `status`, failing after `limit`.
    async fn wait_status(server: &ServerState, status: Status, limit: Duration) {
        let deadline = Instant::now() + limit;
        while server.status() != status {
            assert!(
                Instant::now() < deadline,
                "still {:?}, wanted {status:?}",
                server.status()
            );
            sleep(MS).await;
        }
    }

    #[test]
    fn spec_defaults_and_overrides() {
        let opts = ServerOptions {
            check_addr: Some("192.0.2.1".parse().expect("ip")),
            check_port: Some(9000),
            rise: 0,
            ..ServerOptions::default()
        };
        let spec = CheckSpec::new(&opts, None, &Timeouts::default());
        assert_eq!((spec.fastinter, spec.downinter), (spec.inter, spec.inter));
        assert_eq!(spec.inter, Duration::from_secs(2));
        assert_eq!((spec.rise, spec.fall), (1, 3));
        assert_eq!(spec.connect_timeout, spec.inter);
        assert_eq!(spec.check_timeout, None);
        let server: SocketAddr = "10.0.0.1:80".parse().expect("addr");
        assert_eq!(spec.target(server), "192.0.2.1:9000".parse().expect("addr"));
        let plain = CheckSpec::new(&ServerOptions::default(), None, &Timeouts::default());
        assert_eq!(plain.target(server), server);
    }

    #[test]
    fn spec_timeouts_follow_timeout_check() {
        let opts = ServerOptions::default();
        let mut timeouts = Timeouts {
            connect: Some(Duration::from_secs(5)),
            ..Timeouts::default()
        };
        // Without `timeout check`, `inter` bounds everything, whatever `timeout connect` says.
        assert_eq!(
            CheckSpec::new(&opts, None, &timeouts).connect_timeout,
            opts.inter
        );
        timeouts.check = Some(Duration::from_millis(500));
        let spec = CheckSpec::new(&opts, None, &timeouts);
        assert_eq!(
            spec.connect_timeout, opts.inter,
            "min(connect 5s, inter 2s)"
        );
        assert_eq!(spec.check_timeout, Some(Duration::from_millis(500)));
        timeouts.connect = Some(Duration::from_secs(1));
        assert_eq!(
            CheckSpec::new(&opts, None, &timeouts).connect_timeout,
            Duration::from_secs(1)
        );
    }

    #[test]
    fn tracker_goes_down_after_exactly_fall_failures() {
        let spec = CheckSpec::new(&options(20, 5, 50), None, &Timeouts::default());
        let mut t = Tracker::new(true);
        assert_eq!(t.interval(&spec), spec.inter);
        assert_eq!(t.record(false, &spec), None);
        assert_eq!(t.interval(&spec), spec.fastinter);
        assert_eq!(t.record(false, &spec), None);
        assert_eq!(t.record(false, &spec), Some(false));
        assert_eq!(t.interval(&spec), spec.downinter);
        assert!(!t.is_up());
    }

    #[test]
    fn tracker_goes_up_after_exactly_rise_passes_and_streaks_reset() {
        let spec = CheckSpec::new(&options(20, 5, 50), None, &Timeouts::default());
        let mut t = Tracker::new(false);
        assert_eq!(t.record(true, &spec), None);
        assert_eq!(t.interval(&spec), spec.fastinter);
        assert_eq!(t.record(false, &spec), None, "a failure breaks the streak");
        assert_eq!(t.interval(&spec), spec.downinter);
        assert_eq!(t.record(true, &spec), None);
        assert_eq!(t.record(true, &spec), Some(true));
        // Up again: two failures, a pass, then it takes three more failures.
        for passed in [false, false, true, false, false] {
            assert_eq!(t.record(passed, &spec), None);
        }
        assert_eq!(t.record(false, &spec), Some(false));
    }

    #[test]
    fn initial_delay_is_deterministic_and_below_inter() {
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, 1));
        let inter = Duration::from_millis(2000);
        let mut delays = Vec::new();
        for name in ["a", "b", "c", "d"] {
            let s = ServerState::new("be", name, addr, false, ServerOptions::default());
            let d = initial_delay(&s, inter);
            assert!(d < inter);
            assert_eq!(d, initial_delay(&s, inter));
            delays.push(d);
        }
        delays.dedup();
        assert!(delays.len() > 1, "all servers start together: {delays:?}");
        let s = ServerState::new("be", "a", addr, false, ServerOptions::default());
        assert_eq!(initial_delay(&s, Duration::ZERO), Duration::ZERO);
    }

    #[test]
    fn transition_messages_have_haproxy_shape() {
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, 1));
        let s = ServerState::new("be", "s1", addr, false, ServerOptions::default());
        let down = CheckResult {
            outcome: Err(CheckFailure::Connection("Connection refused".into())),
            duration: Duration::from_micros(300),
        };
        assert_eq!(
            transition_message(&s, false, &down),
            "Server be/s1 is DOWN, reason: Layer4 connection problem, info: \"Connection refused\", check duration: 0ms."
        );
        let up = CheckResult {
            outcome: Ok(Passed::Layer7 { code: 200 }),
            duration: Duration::from_millis(1),
        };
        assert_eq!(
            transition_message(&s, true, &up),
            "Server be/s1 is UP, reason: Layer7 check passed, code: 200, check duration: 1ms."
        );
    }

    #[test]
    fn status_lines_parse() {
        assert_eq!(parse_status_line("HTTP/1.1 200 OK"), Ok((200, "OK")));
        assert_eq!(parse_status_line("HTTP/1.0 204"), Ok((204, "")));
        assert!(parse_status_line("SSH-2.0-OpenSSH_9.0").is_err());
        assert!(parse_status_line("HTTP/1.1 20x OK").is_err());
        assert!(parse_status_line("HTTP/1.1 2000 OK").is_err());
    }

    #[tokio::test]
    async fn tcp_check_passes_and_refused_fails() {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let spec = CheckSpec::new(&options(500, 500, 500), None, &Timeouts::default());
        let ok = check_once(addr, &spec).await;
        assert_eq!(ok.outcome, Ok(Passed::Layer4));
        drop(listener);
        let refused = check_once(addr, &spec).await;
        assert_eq!(
            refused.outcome,
            Err(CheckFailure::Connection("Connection refused".into()))
        );
        assert!(refused.describe().starts_with(
            "reason: Layer4 connection problem, info: \"Connection refused\", check duration: "
        ));
    }

    #[tokio::test]
    async fn http_check_judges_status() {
        let mode = Arc::new(AtomicU8::new(ANSWER_503));
        let count = Arc::new([AtomicU32::new(0), AtomicU32::new(0)]);
        let addr = http_server(mode.clone(), count.clone()).await;
        let any = CheckSpec::new(
            &options(500, 500, 500),
            Some(&http(None)),
            &Timeouts::default(),
        );
        let wrong = check_once(addr, &any).await;
        assert_eq!(
            wrong.outcome,
            Err(CheckFailure::WrongStatus {
                code: 503,
                reason: "Service Unavailable".into()
            })
        );
        assert!(wrong
            .describe()
            .starts_with("reason: Layer7 wrong status, code: 503, info: \"Service Unavailable\""));
        let only_503 = CheckSpec {
            http: Some(http(Some(503))),
            ..any.clone()
        };
        assert_eq!(
            check_once(addr, &only_503).await.outcome,
            Ok(Passed::Layer7 { code: 503 })
        );
        mode.store(ANSWER_200, Ordering::SeqCst);
        let ok = check_once(addr, &any).await;
        assert_eq!(ok.outcome, Ok(Passed::Layer7 { code: 200 }));
        assert!(ok
            .describe()
            .starts_with("reason: Layer7 check passed, code: 200, check duration: "));
        assert!(!check_once(addr, &only_503).await.passed());
    }

    #[tokio::test]
    async fn silent_server_times_out() {
        let addr = silent_server().await;
        // Without `timeout check`: `inter` bounds the whole check.
        let spec = CheckSpec::new(
            &options(100, 100, 100),
            Some(&http(None)),
            &Timeouts::default(),
        );
        let r = timeout(Duration::from_secs(2), check_once(addr, &spec))
            .await
            .expect("bounded");
        assert_eq!(r.outcome, Err(CheckFailure::ResponseTimeout));
        assert!(
            r.duration >= 90 * MS && r.duration < Duration::from_secs(1),
            "{r:?}"
        );
        // With `timeout check`: it bounds the response.
        let timeouts = Timeouts {
            check: Some(30 * MS),
            ..Timeouts::default()
        };
        let spec = CheckSpec::new(&options(5000, 5000, 5000), Some(&http(None)), &timeouts);
        let r = timeout(Duration::from_secs(2), check_once(addr, &spec))
            .await
            .expect("bounded");
        assert_eq!(r.outcome, Err(CheckFailure::ResponseTimeout));
        assert!(r.duration < Duration::from_secs(1), "{r:?}");
    }

    #[tokio::test]
    async fn non_http_answer_is_invalid() {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move {
            while let Ok((mut conn, _)) = listener.accept().await {
                let _ = conn.write_all(b"SSH-2.0-OpenSSH_9.0\r\n").await;
            }
        });
        let spec = CheckSpec::new(
            &options(500, 500, 500),
            Some(&http(None)),
            &Timeouts::default(),
        );
        let r = check_once(addr, &spec).await;
        assert!(
            matches!(r.outcome, Err(CheckFailure::InvalidResponse(_))),
            "{r:?}"
        );
    }

    #[tokio::test]
    async fn refused_port_goes_down_then_up_when_a_listener_appears() {
        let addr = refusing_port().await;
        let server = state(addr, options(20, 10, 20));
        let spec = CheckSpec::new(&server.options, None, &Timeouts::default());
        let (stop_tx, stop) = watch::channel(false);
        let task = tokio::spawn(run(server.clone(), spec, stop));
        // 3 failures: first within inter, then 2 × fastinter.
        wait_status(&server, Status::Down, Duration::from_secs(2)).await;
        let listener = TcpListener::bind(addr).await.expect("rebind the same port");
        let accepted = count_accepts(listener);
        wait_status(&server, Status::Up, Duration::from_secs(2)).await;
        sleep(5 * MS).await;
        assert_eq!(
            accepted.load(Ordering::SeqCst),
            2,
            "up after exactly rise checks"
        );
        stop_tx.send(true).expect("task listening");
        timeout(Duration::from_secs(1), task)
            .await
            .expect("stops")
            .expect("no panic");
    }

    #[tokio::test]
    async fn http_checks_fall_and_rise_after_exact_counts() {
        let mode = Arc::new(AtomicU8::new(ANSWER_503));
        let count = Arc::new([AtomicU32::new(0), AtomicU32::new(0)]);
        let addr = http_server(mode.clone(), count.clone()).await;
        // Fast while changing, slow once stable: the counts at a transition are exact.
        let server = state(addr, options(60, 10, 300));
        let spec = CheckSpec::new(&server.options, Some(&http(None)), &Timeouts::default());
        let (stop_tx, stop) = watch::channel(false);
        let task = tokio::spawn(run(server.clone(), spec, stop));
        wait_status(&server, Status::Down, Duration::from_secs(2)).await;
        assert_eq!(
            count[0].load(Ordering::SeqCst),
            3,
            "down after exactly fall checks"
        );
        mode.store(ANSWER_200, Ordering::SeqCst);
        wait_status(&server, Status::Up, Duration::from_secs(2)).await;
        assert_eq!(
            count[1].load(Ordering::SeqCst),
            2,
            "up after exactly rise checks"
        );
        assert_eq!(count[0].load(Ordering::SeqCst), 3);
        drop(stop_tx);
        timeout(Duration::from_secs(1), task)
            .await
            .expect("stops")
            .expect("no panic");
    }

    #[tokio::test]
    async fn maint_servers_are_not_checked() {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let accepted = count_accepts(listener);
        let server = state(addr, options(10, 10, 10));
        server.set_status(Status::Maint);
        let spec = CheckSpec::new(&server.options, None, &Timeouts::default());
        let (stop_tx, stop) = watch::channel(false);
        let task = tokio::spawn(run(server.clone(), spec, stop));
        sleep(150 * MS).await;
        assert_eq!(server.status(), Status::Maint);
        assert_eq!(
            accepted.load(Ordering::SeqCst),
            0,
            "checked while in maintenance"
        );
        // Back from maintenance, it is checked again.
        server.set_status(Status::Up);
        let deadline = Instant::now() + Duration::from_secs(2);
        while accepted.load(Ordering::SeqCst) == 0 {
            assert!(Instant::now() < deadline, "not checked after maintenance");
            sleep(MS).await;
        }
        assert_eq!(server.status(), Status::Up);
        stop_tx.send(true).expect("task listening");
        timeout(Duration::from_secs(1), task)
            .await
            .expect("stops")
            .expect("no panic");
    }

    #[tokio::test]
    async fn stop_ends_the_task_promptly() {
        let addr = silent_server().await;
        let server = state(addr, options(10_000, 10_000, 10_000));
        let spec = CheckSpec::new(&server.options, Some(&http(None)), &Timeouts::default());
        let (stop_tx, stop) = watch::channel(false);
        let task = tokio::spawn(run(server.clone(), spec, stop));
        sleep(20 * MS).await;
        let asked = Instant::now();
        stop_tx.send(true).expect("task listening");
        timeout(Duration::from_millis(500), task)
            .await
            .expect("stops")
            .expect("no panic");
        assert!(asked.elapsed() < Duration::from_millis(500));
        // Already stopped: returns at once.
        let (_tx, stop) = watch::channel(true);
        let spec = CheckSpec::new(&server.options, None, &Timeouts::default());
        timeout(Duration::from_millis(500), run(server, spec, stop))
            .await
            .expect("returns");
    }

    #[tokio::test]
    async fn unchecked_servers_return_at_once() {
        let addr = refusing_port().await;
        let server = state(
            addr,
            ServerOptions {
                check: false,
                ..ServerOptions::default()
            },
        );
        let spec = CheckSpec::new(&server.options, None, &Timeouts::default());
        let (_tx, stop) = watch::channel(false);
        timeout(Duration::from_millis(500), run(server.clone(), spec, stop))
            .await
            .expect("returns");
        assert_eq!(server.status(), Status::Up);
    }
}
