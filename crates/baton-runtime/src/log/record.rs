//! What a session measured about one HTTP request or TCP connection, for its log line: dates,
//! HAProxy's timers, byte counts, the termination state, the routing decision and the request.
//!
//! Sessions fill a [`Record`] only when their frontend logs: a frontend without `log` targets
//! never reads a clock or allocates for logging.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

/// Who or what ended a session (first character of the termination state).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Cause {
    /// Normal end.
    #[default]
    None,
    /// The client aborted (`C`).
    ClientAbort,
    /// The server aborted or refused (`S`).
    ServerAbort,
    /// The proxy refused or failed (`P`): deny, bad request.
    Proxy,
    /// The proxy answered by itself (`L`): `http-request return`.
    Local,
    /// A resource was exhausted (`R`).
    Resource,
    /// The client timed out (`c`).
    ClientTimeout,
    /// The server timed out (`s`).
    ServerTimeout,
}

impl Cause {
    /// The state's first character.
    pub fn code(self) -> char {
        match self {
            Cause::None => '-',
            Cause::ClientAbort => 'C',
            Cause::ServerAbort => 'S',
            Cause::Proxy => 'P',
            Cause::Local => 'L',
            Cause::Resource => 'R',
            Cause::ClientTimeout => 'c',
            Cause::ServerTimeout => 's',
        }
    }
}

/// Where the session was when it ended (second character of the termination state).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Stage {
    /// It ended normally (`-`).
    #[default]
    Done,
    /// Waiting for or reading the request (`R`).
    Request,
    /// Waiting in a queue (`Q`).
    Queue,
    /// Connecting to the server (`C`).
    Connect,
    /// Waiting for the response headers (`H`).
    Headers,
    /// Transferring data (`D`).
    Data,
    /// Sending the last data (`L`).
    Last,
}

impl Stage {
    /// The state's second character.
    pub fn code(self) -> char {
        match self {
            Stage::Done => '-',
            Stage::Request => 'R',
            Stage::Queue => 'Q',
            Stage::Connect => 'C',
            Stage::Headers => 'H',
            Stage::Data => 'D',
            Stage::Last => 'L',
        }
    }
}

/// The parts of a request line that log variables show.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestLine {
    /// Method (`%HM`).
    pub method: String,
    /// URI as received (`%HU`).
    pub uri: String,
    /// Version (`%HV`), e.g. `HTTP/1.1`.
    pub version: String,
}

/// Streams logged so far in the process (`%rt`).
static STREAMS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// The next stream number, from 0.
fn next_stream_id() -> u64 {
    STREAMS.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

/// Milliseconds between two instants, HAProxy's timer unit.
pub fn ms(from: Instant, to: Instant) -> i64 {
    to.saturating_duration_since(from).as_millis() as i64
}

/// One request's or connection's measurements. Timers are in milliseconds; -1 means the
/// stage was never reached, as in HAProxy's logs.
#[derive(Debug, Clone)]
pub struct Record {
    /// The client's address (`%ci:%cp`).
    pub client: SocketAddr,
    /// The address the client connected to (`%fi:%fp`), when the format needs it.
    pub local: Option<SocketAddr>,
    /// Start of this stream: the accept date, or the end of the previous request on a
    /// keep-alive connection (`%t`).
    pub start: SystemTime,
    /// The same moment on the monotonic clock, for the timers.
    pub start_instant: Instant,
    /// The first byte of the request (`%tr`); `None` in TCP mode or without a request.
    pub request_date: Option<SystemTime>,
    /// `Th`: handshake (always 0: no TLS, no PROXY protocol).
    pub th: i64,
    /// `Ti`: idle time before the request.
    pub ti: i64,
    /// `TR`: from the request's first byte to its complete head.
    pub treq: i64,
    /// `Tw`: time in queues.
    pub tw: i64,
    /// `Tc`: time to connect to the server.
    pub tc: i64,
    /// `Tr`: from the request sent to the response head received.
    pub tresp: i64,
    /// `Ta`: from the request's first byte to the last byte of the response.
    pub ta: i64,
    /// `Tt`: from the start of the stream to its end.
    pub tt: i64,
    /// Status code sent to the client (-1: none).
    pub status: i32,
    /// Bytes sent to the client (`%B`).
    pub bytes_out: u64,
    /// Bytes received from the client (`%U`).
    pub bytes_in: u64,
    /// What ended it.
    pub cause: Cause,
    /// Where it was then.
    pub stage: Stage,
    /// The backend that handled it (`None`: the frontend itself).
    pub backend: Option<Arc<str>>,
    /// The server that handled it (`None`: `<NOSRV>`).
    pub server: Option<Arc<str>>,
    /// The server's address (`%si:%sp`).
    pub server_addr: Option<SocketAddr>,
    /// The local end of the server connection (`%bi:%bp`), when the format needs it.
    pub backend_source: Option<SocketAddr>,
    /// Connection retries (`%rc`).
    pub retries: u32,
    /// Backend concurrent connections at log time (`%bc`).
    pub beconn: u64,
    /// Server concurrent connections at log time (`%sc`).
    pub srv_conn: u64,
    /// Requests that were waiting in the backend's queue ahead of this one (`%bq`).
    pub backend_queue: u64,
    /// The request line (`None`: `<BADREQ>`).
    pub request: Option<RequestLine>,
    /// `capture request header` values, in declaration order.
    pub req_captures: Vec<Option<String>>,
    /// `capture response header` values.
    pub resp_captures: Vec<Option<String>>,
    /// The stream's number in the process, from 0 (`%rt`; HAProxy counts every stream,
    /// baton those of the frontends that log).
    pub request_counter: u64,
}

impl Record {
    /// A record for a stream starting now.
    pub fn start(client: SocketAddr, start: SystemTime, start_instant: Instant) -> Self {
        Record {
            client,
            local: None,
            start,
            start_instant,
            request_date: None,
            th: 0,
            ti: -1,
            treq: -1,
            tw: -1,
            tc: -1,
            tresp: -1,
            ta: -1,
            tt: -1,
            status: -1,
            bytes_out: 0,
            bytes_in: 0,
            cause: Cause::None,
            stage: Stage::Done,
            backend: None,
            server: None,
            server_addr: None,
            backend_source: None,
            retries: 0,
            beconn: 0,
            srv_conn: 0,
            backend_queue: 0,
            request: None,
            req_captures: Vec::new(),
            resp_captures: Vec::new(),
            request_counter: next_stream_id(),
        }
    }

    /// Sets the termination state unless one is already set.
    pub fn end(&mut self, cause: Cause, stage: Stage) {
        if self.cause == Cause::None && self.stage == Stage::Done {
            self.cause = cause;
            self.stage = stage;
        }
    }
}

/// The size HAProxy 2.6 counts for a message head in `%B` and `%U`: not the bytes on the
/// wire but its internal (HTX) form — 20 bytes plus the three parts of the start line, each
/// header's name and trimmed value (but `Connection`), and 1 for the end of headers. Returns that size and the
/// offset where the head ends in `msg` (after the blank line, or the end of `msg`).
pub fn head_size(msg: &[u8]) -> (u64, usize) {
    let mut size = 0u64;
    let mut pos = 0;
    let mut first = true;
    while pos < msg.len() {
        let end = msg[pos..]
            .iter()
            .position(|&b| b == b'\n')
            .map_or(msg.len(), |i| pos + i);
        let line = msg[pos..end].strip_suffix(b"\r").unwrap_or(&msg[pos..end]);
        pos = (end + 1).min(msg.len());
        if line.is_empty() {
            break;
        }
        if first {
            // Version, code and reason (or method, URI and version), without the spaces.
            let spaces = line.iter().filter(|&&b| b == b' ').count().min(2);
            size += 20 + (line.len() - spaces) as u64;
            first = false;
        } else if let Some(colon) = line.iter().position(|&b| b == b':') {
            // HAProxy's connection layer consumes `Connection` before counting.
            if !line[..colon].eq_ignore_ascii_case(b"connection") {
                let value = line[colon + 1..].trim_ascii();
                size += (colon + value.len()) as u64;
            }
        }
    }
    (size + 1, pos)
}

#[cfg(test)]
mod tests {
    use super::head_size;

    #[test]
    fn head_sizes_as_haproxy_counts_them() {
        // Measured with HAProxy 2.6: 49, 66 (5 bytes of body), 56 for these responses.
        let a = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
        assert_eq!(head_size(a), (49, a.len()));
        let b = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-A: 1\r\nX-B: 2\r\nX-C: 3\r\n\r\nhello";
        assert_eq!(head_size(b).0 + 5, 66);
        assert_eq!(
            head_size(b"HTTP/1.1 200 Okay Fine\r\nContent-Length: 0\r\n\r\n").0,
            56
        );
        let req = b"GET /p/q?x=1 HTTP/1.1\r\nHost: ex\"am ple\r\nUser-Agent: curl/7.88.1\r\nAccept: */*\r\n\r\n";
        assert_eq!(head_size(req).0, 83);
        let close = b"GET /c/d?q=\"x\" HTTP/1.1\r\nHost: test.example\r\nUser-Agent: t\r\nConnection: close\r\n\r\n";
        assert_eq!(head_size(close).0, 69);
    }
}
