//! One HTTP/1.x client connection, from its first request to its close.
//!
//! For each request: read and check the head (`timeout http-request`, then
//! `timeout http-keep-alive` between requests), answer by itself (`http-request return`) or pick
//! a server and get a connection (the one this client used last, an idle one from the server's
//! pool for later requests — HAProxy's `http-reuse safe` — or a new one), forward the head and
//! body, then the response, and decide whether each side stays open. Errors get HAProxy's pages;
//! nothing the client or server sends can make it panic.

use super::body::{self, BodyProgress};
use super::buf::Buf;
use super::errors::ErrorStatus;
use super::head::{self, Framing, Method, RequestInfo, RequestRewrite, ResponseRewrite};
use super::rules::{self, Answer, RequestState, ResponseVerdict};
use super::sample::Vars;
use super::view::{HeadIndex, HeadView};
use crate::backend::balance::PickKey;
use crate::backend::server::ServerState;
use crate::backend::{Backend, ConnectError, ServerConnection};
use crate::drain::CloseAt;
use crate::frontend::Frontend;
use crate::lifecycle::{Phase, PhaseWatch};
use crate::log::record::{ms, Cause, Record, RequestLine, Stage};
use crate::log::Logger;
use crate::sockio;
use crate::tunnel::{self, TunnelTimeouts};
use baton_config::model::{ForwardFor, HttpConnectionMode};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};
use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

#[path = "session_log.rs"]
mod session_log;

/// Why a session ended early; decides the error page, if one can still be sent.
#[derive(Debug)]
enum Failure {
    /// Send this page (or the `errorfile` that replaces it) and close.
    Page(ErrorStatus),
    /// Send this generated response and close (`http-response deny`).
    Answer(Answer),
    /// Just close (the client went away, or a response was already under way).
    Close,
}

/// Runs an I/O future under an optional timeout; a timeout becomes `TimedOut`.
async fn within<T>(
    limit: Option<Duration>,
    f: impl std::future::Future<Output = std::io::Result<T>>,
) -> std::io::Result<T> {
    match limit {
        Some(t) => tokio::time::timeout(t, f)
            .await
            .unwrap_or_else(|_| Err(std::io::ErrorKind::TimedOut.into())),
        None => f.await,
    }
}

/// The effective connection mode of a frontend/backend pair: the stricter one wins.
fn combined_mode(a: HttpConnectionMode, b: HttpConnectionMode) -> HttpConnectionMode {
    use HttpConnectionMode::*;
    match (a, b) {
        (Close, _) | (_, Close) => Close,
        (ServerClose, _) | (_, ServerClose) => ServerClose,
        _ => KeepAlive,
    }
}

/// A server connection kept for this client's next request. It is idle at the server, so it
/// holds no slot there: `maxconn` and leastconn count requests in flight, not connections
/// a keep-alive client leaves idle between its requests.
struct Attached {
    /// The connection.
    stream: TcpStream,
    /// The server it goes to.
    server: Arc<ServerState>,
}

/// Per-connection state that survives from one request to the next.
struct Session {
    /// The frontend serving it.
    frontend: Arc<Frontend>,
    /// The client's address.
    peer: SocketAddr,
    /// The port the client connected to (for servers configured without a port), looked up
    /// only when such a server is chosen.
    local_port: Option<u16>,
    /// Bytes from the client not yet consumed (may hold a pipelined request).
    client_buf: Buf,
    /// Bytes from the server not yet consumed.
    server_buf: Buf,
    /// The rewritten head being sent.
    out: Vec<u8>,
    /// The server connection kept from the previous request, if reusable.
    attached: Option<Attached>,
    /// Requests served so far on this connection.
    served: u64,
    /// The lifecycle, to close keep-alive connections once draining.
    phase: PhaseWatch,
    /// When this connection stops being kept alive, drawn once draining is seen.
    close_at: Option<CloseAt>,
    /// Bytes sent to the client (with `client_buf.filled()`, the traffic counters: no
    /// `TCP_INFO` system call per connection).
    sent: u64,
    /// The connection became a tunnel, whose bytes only the kernel counted.
    tunnelled: bool,
    /// Bytes received and sent already charged to the backends the requests went to
    /// ([`Session::settle_bytes`]).
    settled: (u64, u64),
    /// The last response was sent with `MSG_MORE`, waiting for the FIN to leave with it: the
    /// caller must send that FIN ([`crate::sockio::send_fin`]) as soon as its bookkeeping is
    /// done.
    fin_pending: bool,
    /// The frontend's logger, when it logs traffic (otherwise nothing below is filled).
    log: Option<Arc<Logger>>,
    /// The current request's log record.
    rec: Option<Record>,
    /// Start of the current stream: the accept, then the end of each request.
    stream_start: Option<(SystemTime, Instant)>,
    /// The server of the current request, for `%sc` at log time.
    log_server: Option<Arc<crate::backend::server::ServerState>>,
    /// The backend the current request was routed to (error pages, counters).
    routed: Option<Arc<Backend>>,
    /// Index of the head in `out`, for rules.
    index: HeadIndex,
    /// Variables of the current request.
    vars: Vars,
    /// Scratch space for rule values.
    scratch: Vec<u8>,
    /// The address the client connected to, looked up once when rules need it.
    local_addr: Option<SocketAddr>,
}

/// How an HTTP client connection ended, for its caller.
#[derive(Debug, Clone, Copy)]
pub struct Ended {
    /// The bytes received from and sent to the client, for the frontend's counters (the
    /// backends' are already charged, request by request); `None` if the kernel could not say
    /// how many a tunnel moved.
    pub counted: Option<(u64, u64)>,
    /// The last response is waiting in the kernel for the FIN: send it
    /// ([`crate::sockio::send_fin`]) right after leaving the connection counts.
    pub fin_pending: bool,
}

/// Serves one HTTP client connection.
pub async fn serve(
    frontend: Arc<Frontend>,
    client: &mut TcpStream,
    peer: SocketAddr,
    phase: PhaseWatch,
) -> Ended {
    let mut session = Session {
        frontend,
        peer,
        local_port: None,
        client_buf: Buf::default(),
        server_buf: Buf::default(),
        out: Vec::with_capacity(1024),
        attached: None,
        served: 0,
        phase,
        close_at: None,
        sent: 0,
        tunnelled: false,
        settled: (0, 0),
        fin_pending: false,
        log: None,
        rec: None,
        stream_start: None,
        log_server: None,
        routed: None,
        index: HeadIndex::default(),
        vars: Vars::default(),
        scratch: Vec::new(),
        local_addr: None,
    };
    if let Some(log) = session.frontend.log.as_ref().filter(|l| l.logs_traffic()) {
        session.log = Some(Arc::clone(log));
        session.stream_start = Some((SystemTime::now(), Instant::now()));
    }
    // A new connection usually holds its first request already: read it now rather than
    // after a trip through the poller. Whatever this finds (nothing, an error, the end of the
    // stream) the first request read finds again.
    let _ = session.client_buf.fill_now(client);
    loop {
        session.begin_record(client);
        let outcome = session.one_request(client).await;
        session.settle_bytes(None);
        match outcome {
            Ok(true) => {
                session.served += 1;
                session.finish_record(None);
            }
            Ok(false) => {
                session.finish_record(None);
                break;
            }
            Err(Failure::Page(status)) => {
                tracing::debug!(peer = %session.peer, status = status.code(), "error page");
                count_error_page(&session.frontend, session.routed.as_deref(), status);
                let t = session.frontend.timeouts.client;
                let page = error_file(&session.frontend, session.routed.as_deref(), status.code());
                let page = match page {
                    Some(answer) => std::borrow::Cow::Owned(closing_answer(answer)),
                    None => std::borrow::Cow::Borrowed(status.response()),
                };
                if within(t, sockio::send_all_before_fin(client, &page))
                    .await
                    .is_ok()
                {
                    session.sent += page.len() as u64;
                }
                // Logged before the close, as HAProxy does: the client sees the close after.
                session.finish_record(Some(status));
                sockio::send_fin(client);
                break;
            }
            Err(Failure::Answer(answer)) => {
                session.frontend.counters.response(answer.status);
                let t = session.frontend.timeouts.client;
                let bytes = closing_answer(&answer);
                if within(t, sockio::send_all_before_fin(client, &bytes))
                    .await
                    .is_ok()
                {
                    session.sent += bytes.len() as u64;
                }
                session.finish_answer(&answer);
                sockio::send_fin(client);
                break;
            }
            Err(Failure::Close) => {
                session.finish_record(None);
                break;
            }
        }
    }
    tracing::debug!(peer = %session.peer, served = session.served, "client connection ends");
    if let Some(attached) = session.attached.take() {
        abort(&attached.stream);
    }
    // A tunnel's bytes went by without us: the kernel counted the whole connection.
    let counted = match session.tunnelled {
        true => crate::counters::tcp_bytes(&*client),
        false => Some((session.client_buf.filled(), session.sent)),
    };
    session.settle_bytes(counted);
    Ended {
        counted,
        fin_pending: session.fin_pending,
    }
}

/// The `errorfile` page for `code`: the routed backend's, else the frontend's.
fn error_file<'a>(
    frontend: &'a Frontend,
    routed: Option<&'a Backend>,
    code: u16,
) -> Option<&'a Answer> {
    routed
        .and_then(|b| b.rules.as_ref())
        .and_then(|r| r.error_file(code))
        .or_else(|| frontend.rules.as_ref().and_then(|r| r.error_file(code)))
}

/// A generated response followed by `connection: close`.
fn closing_answer(answer: &Answer) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(answer.head.len() + answer.body.len() + 24);
    bytes.extend_from_slice(&answer.head);
    bytes.extend_from_slice(b"connection: close\r\n\r\n");
    bytes.extend_from_slice(&answer.body);
    bytes
}

/// Counts a generated error page: on the frontend, and on the backend for server-side errors.
fn count_error_page(frontend: &Frontend, routed: Option<&Backend>, status: ErrorStatus) {
    use crate::counters::Counters;
    frontend.counters.response(status.code());
    match status {
        ErrorStatus::BadRequest | ErrorStatus::RequestTimeout => {
            Counters::bump(&frontend.counters.req_errors)
        }
        ErrorStatus::BadGateway | ErrorStatus::GatewayTimeout | ErrorStatus::ServiceUnavailable => {
            if let Some(backend) = routed.or(frontend.default_backend.as_deref()) {
                backend.counters.response(status.code());
                if status != ErrorStatus::ServiceUnavailable {
                    Counters::bump(&backend.counters.resp_errors);
                }
            }
        }
        _ => {}
    }
}

/// Makes the closing of a server connection whose exchange is complete a reset (`SO_LINGER`
/// 0); it closes when dropped.
fn abort(stream: &TcpStream) {
    let _ = socket2::SockRef::from(stream).set_linger(Some(Duration::ZERO));
}

impl Session {
    /// Charges the bytes received and sent since the last call (up to `totals`, by default
    /// the session's own counts) to the backend the request went to, as HAProxy counts a
    /// stream's bytes on its backend; a request answered by the frontend itself counts on the
    /// frontend only.
    fn settle_bytes(&mut self, totals: Option<(u64, u64)>) {
        let (received, sent) = totals.unwrap_or((self.client_buf.filled(), self.sent));
        if let Some(backend) = &self.routed {
            backend.counters.add_bytes(
                received.saturating_sub(self.settled.0),
                sent.saturating_sub(self.settled.1),
            );
        }
        self.settled = (received.max(self.settled.0), sent.max(self.settled.1));
    }

    /// This connection's closing point, if draining has begun.
    fn drain_close_at(&mut self) -> Option<CloseAt> {
        if self.close_at.is_none() && *self.phase.borrow() >= Phase::Draining {
            self.close_at = Some(self.frontend.drain.draw());
        }
        self.close_at
    }

    /// Whether a soft stop wants the response sent now to close the connection.
    fn drain_closes_response(&mut self) -> bool {
        self.drain_close_at().is_some_and(CloseAt::close_response)
    }

    /// How the head is rewritten for the server, for a request going to `backend`.
    fn rewrite<'b>(&self, fe: &'b Frontend, backend: Option<&'b Backend>) -> RequestRewrite<'b> {
        let mode = combined_mode(
            fe.http_connection_mode,
            backend.map_or(HttpConnectionMode::KeepAlive, |b| b.http_connection_mode),
        );
        let forwardfor = fe
            .forwardfor
            .as_ref()
            .or(backend.and_then(|b| b.forwardfor.as_ref()));
        RequestRewrite {
            forwarded_for: forwarded_for(forwardfor, self.peer),
            close_server: mode != HttpConnectionMode::KeepAlive,
        }
    }

    /// Handles one request; `Ok(true)` to keep the connection for another.
    async fn one_request(&mut self, client: &mut TcpStream) -> Result<bool, Failure> {
        let fe = Arc::clone(&self.frontend);
        self.routed = None;
        let mut backend = fe.default_backend.clone();
        let rw = self.rewrite(&fe, backend.as_deref());
        let Some(mut req) = self.read_request(client, &rw, fe.request_rules).await? else {
            return Ok(false);
        };
        crate::counters::Counters::bump(&fe.counters.requests);
        let mut answer = None;
        if fe.request_rules {
            if self.local_addr.is_none() {
                self.local_addr = client.local_addr().ok();
            }
            let (routed, generated) = self.request_rules(&fe, backend);
            backend = routed;
            answer = generated;
            req.path = self.index.line[1].clone();
            if answer.is_none() {
                let rw = self.rewrite(&fe, backend.as_deref());
                if let Some((name, _, true)) = rw.forwarded_for {
                    let view = HeadView {
                        bytes: &self.out,
                        index: &self.index,
                    };
                    req.has_forwarded_for = view.values(name.as_bytes(), true).next().is_some();
                }
                head::finish_request(&mut self.out, &req, &rw);
            }
        }
        self.routed = backend.clone();
        let mode = combined_mode(
            fe.http_connection_mode,
            backend
                .as_ref()
                .map_or(HttpConnectionMode::KeepAlive, |b| b.http_connection_mode),
        );
        let close_client =
            !req.keep_alive || mode == HttpConnectionMode::Close || self.drain_closes_response();

        if let Some(answer) = answer {
            fe.counters.response(answer.status);
            self.mark(
                if answer.local {
                    Cause::Local
                } else {
                    Cause::Proxy
                },
                Stage::Request,
            );
            if let Some(r) = self.rec.as_mut() {
                r.status = i32::from(answer.status);
            }
            return self
                .answer_directly(client, &answer, &req, close_client)
                .await;
        }
        let Some(backend) = backend else {
            return Err(Failure::Page(ErrorStatus::ServiceUnavailable));
        };
        if req.method == Method::Connect {
            self.mark(Cause::Proxy, Stage::Request);
            return Err(Failure::Page(ErrorStatus::BadRequest));
        }
        if let Some(r) = self.rec.as_mut() {
            r.backend = Some(Arc::from(backend.name.as_str()));
        }
        let path = std::str::from_utf8(&self.out[req.path.clone()])
            .unwrap_or("/")
            .to_string();
        let key = PickKey {
            client: Some(self.peer.ip()),
            path: Some(path.split('?').next().unwrap_or("/")),
        };
        let mut request_body = BodyProgress::new(req.framing);
        if !req.expect_continue {
            append_buffered_body(&mut self.out, &mut self.client_buf, &mut request_body)
                .map_err(|_| Failure::Page(ErrorStatus::BadRequest))?;
        }
        let mut conn = self.server_connection(client, &backend, &key).await?;
        let _live = backend.counters.enter();
        crate::counters::Counters::bump(&backend.counters.requests);

        let server_timeout = backend.timeouts.server;
        let unsent = &self.out[conn.sent_early..];
        if !unsent.is_empty() {
            if let Err(e) = within(server_timeout, conn.stream.write_all(unsent)).await {
                tracing::debug!(error = %e, "write to server failed");
                return Err(Failure::Page(ErrorStatus::BadGateway));
            }
        }
        let request_sent = self.stamp();
        if !request_body.done() && !req.expect_continue {
            self.forward_request_body(client, &mut conn, &mut request_body)
                .await?;
        }
        let rewrite = ResponseRewrite {
            method: req.method,
            client_minor: req.minor,
            close_client,
            upgrade_requested: req.upgrade,
        };
        let keep = self
            .forward_response(
                client,
                &mut conn,
                &backend,
                &rewrite,
                &mut request_body,
                request_sent,
            )
            .await?;
        let server_reusable =
            keep.server_reusable && mode == HttpConnectionMode::KeepAlive && request_body.done();
        if keep.tunnelled {
            return Ok(false);
        }
        if !request_body.done() {
            // The server answered before the body was sent (e.g. no `100 Continue`): the rest
            // of the body may still arrive, so the connection cannot carry another request.
            self.finish_record(None);
            let _ = client.shutdown().await;
            return Ok(false);
        }
        if server_reusable && !keep.close_client {
            self.attached = Some(Attached {
                server: Arc::clone(conn.guard.server()),
                stream: conn.stream,
            });
        } else if server_reusable {
            // The exchange is complete and nobody will reuse this connection: close it the way
            // HAProxy does, with a reset, which spares both ends the TIME_WAIT state.
            abort(&conn.stream);
        }
        if keep.close_client {
            return Ok(false); // dropping the stream closes it
        }
        Ok(true)
    }

    /// Reads a request head into `self.out` (rewritten). `Ok(None)`: the client closed cleanly
    /// between requests, or stayed idle past the keep-alive timeout.
    /// With `open`, the head is left open for rules ([`head::parse_request_head`]).
    async fn read_request(
        &mut self,
        client: &mut TcpStream,
        rw: &RequestRewrite<'_>,
        open: bool,
    ) -> Result<Option<RequestInfo>, Failure> {
        let t = self.frontend.timeouts;
        let head_timeout = t.http_request.or(t.client);
        let idle_timeout = if self.served == 0 {
            head_timeout
        } else {
            t.http_keep_alive.or(head_timeout)
        };
        let mut started = !self.client_buf.is_empty();
        if started {
            self.first_byte();
        }
        let mut deadline = (if started { head_timeout } else { idle_timeout })
            .map(|d| tokio::time::Instant::now() + d);
        loop {
            if !self.client_buf.is_empty() {
                let parsed = if open {
                    head::parse_request_head(self.client_buf.bytes(), &mut self.out, rw)
                } else {
                    head::parse_request(self.client_buf.bytes(), &mut self.out, rw)
                };
                match parsed {
                    Ok(Some(info)) => {
                        self.request_logged(info.head_len);
                        self.client_buf.consume(info.head_len);
                        return Ok(Some(info));
                    }
                    Ok(None) if self.client_buf.is_full() => {
                        self.mark(Cause::Proxy, Stage::Request);
                        return Err(Failure::Page(ErrorStatus::BadRequest));
                    }
                    Ok(None) => {}
                    Err(e) => {
                        tracing::debug!(peer = %self.peer, error = %e, "bad request");
                        self.mark(Cause::Proxy, Stage::Request);
                        return Err(Failure::Page(ErrorStatus::BadRequest));
                    }
                }
            }
            // Idle under a soft stop with `close-spread-time`: closed at its drawn instant.
            let mut limit = deadline;
            let mut watch_drain = None;
            if !started && self.frontend.drain.closes_idle() {
                match self.drain_close_at() {
                    Some(CloseAt::Instant(at)) => limit = Some(limit.map_or(at, |d| d.min(at))),
                    Some(_) => {}
                    None => watch_drain = Some(self.phase.clone()),
                }
            }
            let read = self.client_buf.fill(client);
            let timed = async {
                match limit {
                    Some(d) => tokio::time::timeout_at(d, read).await.ok(),
                    None => Some(read.await),
                }
            };
            let outcome = match watch_drain.as_mut() {
                None => timed.await,
                Some(phase) => tokio::select! {
                    r = timed => r,
                    // Draining began: draw this connection's closing point and wait again.
                    _ = phase.wait_for(|p| *p >= Phase::Draining) => continue,
                },
            };
            let n = match outcome {
                Some(r) => r,
                None if started => return Err(Failure::Page(ErrorStatus::RequestTimeout)),
                None => return Ok(None), // idle keep-alive connection: close silently
            };
            match n {
                Ok(0) | Err(_) => {
                    // Closed between requests: normal. Closed mid-head: nothing to answer.
                    self.mark(Cause::ClientAbort, Stage::Request);
                    return if started {
                        Err(Failure::Close)
                    } else {
                        Ok(None)
                    };
                }
                Ok(_) if !started => {
                    started = true;
                    self.first_byte();
                    deadline = head_timeout.map(|d| tokio::time::Instant::now() + d);
                }
                Ok(_) => {}
            }
        }
    }

    /// Runs the frontend's request rules, chooses the backend, then runs the backend's rules.
    /// Returns the backend and, when a rule answers by itself, the answer.
    fn request_rules(
        &mut self,
        fe: &Frontend,
        default: Option<Arc<Backend>>,
    ) -> (Option<Arc<Backend>>, Option<Answer>) {
        self.index.index(&self.out);
        self.vars.clear();
        let mut st = RequestState {
            head: &mut self.out,
            index: &mut self.index,
            vars: &mut self.vars,
            scratch: &mut self.scratch,
            client: self.peer,
            local: self.local_addr,
            frontend: &fe.name,
            backend: "",
        };
        let mut backend = default;
        if let Some(rules) = &fe.rules {
            if let Some(answer) = rules::run_request(rules, &mut st) {
                return (backend, Some(answer));
            }
            if let Some(chosen) = rules::choose_backend(rules, &st.exchange(rules)) {
                backend = Some(chosen);
            }
        }
        if let Some(b) = &backend {
            let itself = fe.listen && b.name == fe.name;
            if let (Some(rules), false) = (&b.rules, itself) {
                st.backend = &b.name;
                if let Some(answer) = rules::run_request(rules, &mut st) {
                    return (backend.clone(), Some(answer));
                }
            }
        }
        (backend, None)
    }

    /// Sends a response generated by a rule (`return`, `deny`, `redirect`, `auth`).
    async fn answer_directly(
        &mut self,
        client: &mut TcpStream,
        ret: &Answer,
        req: &RequestInfo,
        close_client: bool,
    ) -> Result<bool, Failure> {
        // A request body would have to be drained first; closing after the answer is simpler
        // and always correct.
        let close = close_client || req.framing != Framing::Empty || ret.close;
        self.out.clear();
        self.out.extend_from_slice(&ret.head);
        if close {
            self.out.extend_from_slice(b"connection: close\r\n");
        } else if req.minor == 0 {
            self.out.extend_from_slice(b"connection: keep-alive\r\n");
        }
        self.out.extend_from_slice(b"\r\n");
        if req.method != Method::Head {
            self.out.extend_from_slice(&ret.body);
        }
        let t = self.frontend.timeouts.client;
        if close {
            within(t, sockio::send_all_before_fin(client, &self.out)).await
        } else {
            within(t, client.write_all(&self.out)).await
        }
        .map_err(|_| Failure::Close)?;
        self.sent += self.out.len() as u64;
        if let Some(r) = self.rec.as_mut() {
            let (head, end) = crate::log::record::head_size(&self.out);
            r.bytes_out += head + (self.out.len() - end) as u64;
        }
        if close {
            self.finish_record(None); // logged before the client sees the close
            sockio::send_fin(client);
        }
        Ok(!close)
    }

    /// Gets a connection to a server chosen for this request.
    async fn server_connection(
        &mut self,
        client: &TcpStream,
        backend: &Arc<Backend>,
        key: &PickKey<'_>,
    ) -> Result<ServerConnection, Failure> {
        let queued = self.stamp();
        let slot = match backend.acquire(key).await {
            Ok(slot) => slot,
            Err(e) => {
                tracing::debug!(backend = %backend.name, error = %e, "no server slot");
                match e {
                    ConnectError::QueueTimeout { ahead } => {
                        if let Some(r) = self.rec.as_mut() {
                            r.backend_queue = ahead;
                        }
                        self.mark(Cause::ServerTimeout, Stage::Queue)
                    }
                    _ => self.mark(Cause::ServerAbort, Stage::Connect),
                }
                return Err(Failure::Page(ErrorStatus::ServiceUnavailable));
            }
        };
        let connecting = self.stamp();
        if let (Some(r), Some(q), Some(c)) = (self.rec.as_mut(), queued, connecting) {
            r.tw = ms(q, c);
            r.backend_queue = slot.queued_ahead;
            let server = slot.server();
            r.server = Some(Arc::from(server.name.as_str()));
            r.server_addr = Some(server.addr);
            self.log_server = Some(Arc::clone(server));
        }
        if let Some(attached) = self.attached.take() {
            if Arc::ptr_eq(&attached.server, slot.server()) {
                self.connected(connecting, 0, &attached.stream);
                return Ok(ServerConnection {
                    stream: attached.stream,
                    guard: slot,
                    retries: 0,
                    sent_early: 0,
                });
            }
            attached.server.park_idle(attached.stream);
        }
        if self.served > 0 {
            if let Some(stream) = slot.server().take_idle() {
                self.connected(connecting, 0, &stream);
                return Ok(ServerConnection {
                    stream,
                    guard: slot,
                    retries: 0,
                    sent_early: 0,
                });
            }
        }
        let client_port = match (slot.server().port_from_client, self.local_port) {
            (false, _) => 0,
            (true, Some(port)) => port,
            (true, None) => {
                let port = client.local_addr().map_or(0, |a| a.port());
                self.local_port = Some(port);
                port
            }
        };
        // A new connection carries the request head (and any body bytes already read) at once.
        let result = backend.connect(slot, key, client_port, &self.out).await;
        match &result {
            Ok(conn) => self.connected(connecting, conn.retries, &conn.stream),
            Err(ConnectError::QueueTimeout { .. }) => self.mark(Cause::ServerTimeout, Stage::Queue),
            Err(ConnectError::Failed(_)) => {
                if let Some(r) = self.rec.as_mut() {
                    r.retries = backend.retries;
                }
                self.mark(Cause::ServerAbort, Stage::Connect);
            }
            Err(ConnectError::NoServer) => self.mark(Cause::ServerAbort, Stage::Connect),
        }
        result.map_err(|e| {
            tracing::debug!(backend = %backend.name, error = %e, "connect failed");
            if matches!(e, ConnectError::Failed(_)) {
                crate::counters::Counters::bump(&backend.counters.conn_errors);
            }
            match e {
                ConnectError::NoServer
                | ConnectError::QueueTimeout { .. }
                | ConnectError::Failed(_) => Failure::Page(ErrorStatus::ServiceUnavailable),
            }
        })
    }

    /// Streams the request body from the client to the server.
    async fn forward_request_body(
        &mut self,
        client: &mut TcpStream,
        conn: &mut ServerConnection,
        progress: &mut BodyProgress,
    ) -> Result<(), Failure> {
        let t = self.frontend.timeouts.client;
        match body::forward(progress, &mut self.client_buf, client, &mut conn.stream, t).await {
            Ok(n) => {
                if let Some(r) = self.rec.as_mut() {
                    r.bytes_in += n;
                }
                Ok(())
            }
            Err(e) => {
                tracing::debug!(peer = %self.peer, error = %e, "request body");
                Err(match e {
                    body::BodyError::BadChunk => {
                        self.mark(Cause::Proxy, Stage::Request);
                        Failure::Page(ErrorStatus::BadRequest)
                    }
                    body::BodyError::ReadTimeout => {
                        self.mark(Cause::ClientTimeout, Stage::Data);
                        Failure::Page(ErrorStatus::RequestTimeout)
                    }
                    body::BodyError::Write(_) => {
                        self.mark(Cause::ServerAbort, Stage::Data);
                        Failure::Page(ErrorStatus::BadGateway)
                    }
                    _ => {
                        self.mark(Cause::ClientAbort, Stage::Data);
                        Failure::Close
                    }
                })
            }
        }
    }

    /// Reads the response (after any 1xx) and streams it to the client.
    async fn forward_response(
        &mut self,
        client: &mut TcpStream,
        conn: &mut ServerConnection,
        backend: &Backend,
        rewrite: &ResponseRewrite,
        request_body: &mut BodyProgress,
        request_sent: Option<Instant>,
    ) -> Result<Kept, Failure> {
        let server_timeout = backend.timeouts.server;
        let client_timeout = self.frontend.timeouts.client;
        loop {
            let info = self
                .read_response_head(conn, server_timeout, rewrite, client, request_body)
                .await?;
            if !info.interim {
                self.frontend.counters.response(info.status);
                backend.counters.response(info.status);
                if let (Some(r), Some(sent)) = (self.rec.as_mut(), request_sent) {
                    r.tresp = ms(sent, Instant::now());
                    r.status = i32::from(info.status);
                }
            }
            // The head and whatever of the body is already buffered leave in one write.
            let mut progress = BodyProgress::new(info.framing);
            let head_out = self.out.len();
            if !info.interim && !info.switching {
                append_buffered_body(&mut self.out, &mut self.server_buf, &mut progress)
                    .map_err(|_| Failure::Close)?;
                if progress.done() {
                    // Read in full: the server is done with this request (a small response
                    // usually is, before a byte of it reaches the client).
                    conn.guard.release();
                }
            }
            // A complete response after which the client connection closes leaves with its FIN.
            let last = !info.interim && !info.switching && progress.done() && info.close_client;
            let written = if last {
                self.fin_pending = true;
                within(
                    client_timeout,
                    sockio::send_all_before_fin(client, &self.out),
                )
                .await
            } else {
                within(client_timeout, client.write_all(&self.out)).await
            };
            if written.is_err() {
                self.mark(Cause::ClientAbort, Stage::Data);
                return Err(Failure::Close);
            }
            if let Some(r) = self.rec.as_mut() {
                r.bytes_out += (self.out.len() - head_out) as u64;
            }
            self.sent += self.out.len() as u64;
            if info.interim {
                if info.status == 100 && !request_body.done() {
                    self.forward_request_body(client, conn, request_body)
                        .await?;
                }
                continue;
            }
            if info.switching {
                self.tunnelled = true;
                self.upgrade(client, conn, backend).await;
                return Ok(Kept {
                    server_reusable: false,
                    close_client: true,
                    tunnelled: true,
                });
            }
            let guard = &mut conn.guard;
            let mut to_client = body::Counting {
                inner: client,
                count: &mut self.sent,
            };
            match body::forward_then(
                &mut progress,
                &mut self.server_buf,
                &mut conn.stream,
                &mut to_client,
                server_timeout,
                || guard.release(),
            )
            .await
            {
                Ok(n) => {
                    if let Some(r) = self.rec.as_mut() {
                        r.bytes_out += n;
                    }
                }
                Err(e) => {
                    tracing::debug!(backend = %backend.name, error = %e, "response body");
                    match e {
                        body::BodyError::Write(_) => self.mark(Cause::ClientAbort, Stage::Data),
                        body::BodyError::ReadTimeout => {
                            self.mark(Cause::ServerTimeout, Stage::Data)
                        }
                        _ => self.mark(Cause::ServerAbort, Stage::Data),
                    }
                    return Err(Failure::Close); // the head is already sent: only closing tells the client
                }
            }
            let server_reusable = info.server_keep_alive && self.server_buf.is_empty();
            if !server_reusable {
                self.server_buf = Buf::default();
            }
            return Ok(Kept {
                server_reusable,
                close_client: info.close_client,
                tunnelled: false,
            });
        }
    }

    /// Reads a response head from the server into `self.out`. While a request body waits for
    /// `100 Continue`, client bytes arriving first start the body upload instead.
    async fn read_response_head(
        &mut self,
        conn: &mut ServerConnection,
        server_timeout: Option<Duration>,
        rewrite: &ResponseRewrite,
        client: &mut TcpStream,
        request_body: &mut BodyProgress,
    ) -> Result<head::ResponseInfo, Failure> {
        let with_rules = self.response_rule_sets().iter().any(Option::is_some);
        loop {
            if !self.server_buf.is_empty() {
                // A soft stop that began while the request was in flight closes the client
                // connection after this response (never before it).
                let mut rewrite = *rewrite;
                rewrite.close_client |= self.drain_closes_response();
                let parsed = if with_rules {
                    head::parse_response_head(self.server_buf.bytes(), &mut self.out, &rewrite)
                } else {
                    head::parse_response(self.server_buf.bytes(), &mut self.out, &rewrite)
                };
                match parsed {
                    Ok(Some(info)) => {
                        if !info.interim {
                            self.response_logged(info.head_len);
                        }
                        self.server_buf.consume(info.head_len);
                        if with_rules {
                            if !info.interim && !info.switching {
                                self.response_rules()?;
                            }
                            head::finish_response(&mut self.out, &info, &rewrite);
                        }
                        return Ok(info);
                    }
                    Ok(None) if self.server_buf.is_full() => {
                        self.mark(Cause::Proxy, Stage::Headers);
                        return Err(Failure::Page(ErrorStatus::BadGateway));
                    }
                    Ok(None) => {}
                    Err(e) => {
                        tracing::debug!(error = %e, "bad response");
                        self.mark(Cause::Proxy, Stage::Headers);
                        return Err(Failure::Page(ErrorStatus::BadGateway));
                    }
                }
            }
            let waiting_for_continue = !request_body.done();
            let n = if waiting_for_continue && !self.client_buf.is_full() {
                // Either the server answers (100 or final), or the client starts its body.
                let server_read = self.server_buf.fill(&mut conn.stream);
                let client_read = self.client_buf.fill(client);
                tokio::select! {
                    r = within(server_timeout, server_read) => r,
                    r = client_read => {
                        match r {
                            Ok(n) if n > 0 => {
                                self.forward_request_body(client, conn, request_body).await?;
                                continue;
                            }
                            _ => return Err(Failure::Close),
                        }
                    }
                }
            } else {
                within(server_timeout, self.server_buf.fill(&mut conn.stream)).await
            };
            match n {
                Ok(0) => {
                    self.mark(Cause::ServerAbort, Stage::Headers);
                    return Err(Failure::Page(ErrorStatus::BadGateway));
                }
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {
                    self.mark(Cause::ServerTimeout, Stage::Headers);
                    return Err(Failure::Page(ErrorStatus::GatewayTimeout));
                }
                Err(_) => {
                    self.mark(Cause::ServerAbort, Stage::Headers);
                    return Err(Failure::Page(ErrorStatus::BadGateway));
                }
            }
        }
    }

    /// The rule sets that see the response, in order: the routed backend's, then the
    /// frontend's (a `listen` section's once).
    fn response_rule_sets(&self) -> [Option<Arc<rules::ProxyRules>>; 2] {
        let fe = &self.frontend;
        let with = |r: &Option<Arc<rules::ProxyRules>>| {
            r.as_ref().filter(|r| r.has_response_rules()).cloned()
        };
        let backend = self
            .routed
            .as_ref()
            .filter(|b| !(fe.listen && b.name == fe.name))
            .and_then(|b| with(&b.rules));
        [backend, with(&fe.rules)]
    }

    /// Runs `http-response` rules on the head in `self.out`.
    fn response_rules(&mut self) -> Result<(), Failure> {
        self.index.index(&self.out);
        let fe = Arc::clone(&self.frontend);
        let routed = self.routed.clone();
        let backend_name = routed.as_deref().map_or("", |b| b.name.as_str());
        for rules in self.response_rule_sets().into_iter().flatten() {
            let verdict = rules::run_response(
                &rules,
                &mut self.out,
                &mut self.index,
                &mut self.scratch,
                &mut self.vars,
                self.peer,
                self.local_addr,
                (&fe.name, backend_name),
            );
            if let ResponseVerdict::Replace(answer) = verdict {
                return Err(Failure::Answer(answer));
            }
        }
        Ok(())
    }

    /// After `101 Switching Protocols`: both connections become a tunnel.
    async fn upgrade(
        &mut self,
        client: &mut TcpStream,
        conn: &mut ServerConnection,
        backend: &Backend,
    ) {
        // Bytes already read past the heads belong to the new protocol.
        if !self.client_buf.is_empty()
            && write_rest(&mut conn.stream, &mut self.client_buf)
                .await
                .is_err()
        {
            return;
        }
        if !self.server_buf.is_empty() && write_rest(client, &mut self.server_buf).await.is_err() {
            return;
        }
        let timeouts = TunnelTimeouts {
            client: self.frontend.timeouts.client,
            server: backend.timeouts.server,
            tunnel: backend.timeouts.tunnel,
            client_fin: self.frontend.timeouts.client_fin,
            server_fin: backend.timeouts.server_fin,
        };
        let _ = tunnel::run(client, &mut conn.stream, timeouts).await;
    }
}

/// Moves the part of a body that is already buffered behind its head into `out`, so that head
/// and body leave in one write (one system call for a typical small message).
fn append_buffered_body(
    out: &mut Vec<u8>,
    buf: &mut Buf,
    progress: &mut BodyProgress,
) -> Result<(), body::BodyError> {
    if buf.is_empty() || progress.done() {
        return Ok(());
    }
    let n = progress.take(buf.bytes())?;
    out.extend_from_slice(&buf.bytes()[..n]);
    buf.consume(n);
    Ok(())
}

/// Writes everything buffered to `dst`.
async fn write_rest<W: AsyncWrite + Unpin>(dst: &mut W, buf: &mut Buf) -> std::io::Result<()> {
    let n = buf.len();
    dst.write_all(buf.bytes()).await?;
    buf.consume(n);
    Ok(())
}

/// What survives a response.
#[derive(Debug, Clone, Copy)]
struct Kept {
    /// The server connection can carry another request.
    server_reusable: bool,
    /// The client connection must close now.
    close_client: bool,
    /// The connection became a tunnel and has ended.
    tunnelled: bool,
}

/// The `X-Forwarded-For` to add for this client, honouring `except`.
fn forwarded_for(
    ff: Option<&ForwardFor>,
    peer: SocketAddr,
) -> Option<(&str, std::net::IpAddr, bool)> {
    let ff = ff?;
    if let Some(net) = &ff.except {
        if net.contains(peer.ip()) {
            return None;
        }
    }
    Some((ff.header.as_str(), peer.ip(), ff.if_none))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stricter_connection_mode_wins() {
        use HttpConnectionMode::*;
        assert_eq!(combined_mode(KeepAlive, KeepAlive), KeepAlive);
        assert_eq!(combined_mode(KeepAlive, ServerClose), ServerClose);
        assert_eq!(combined_mode(Close, ServerClose), Close);
    }
}
