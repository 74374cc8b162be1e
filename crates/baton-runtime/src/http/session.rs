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
use crate::backend::balance::PickKey;
use crate::backend::server::ServerState;
use crate::backend::{Backend, ConnectError, ServerConnection};
use crate::drain::CloseAt;
use crate::frontend::Frontend;
use crate::lifecycle::{Phase, PhaseWatch};
use crate::tunnel::{self, TunnelTimeouts};
use baton_config::model::{ForwardFor, HttpConnectionMode};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

/// Why a session ended early; decides the error page, if one can still be sent.
#[derive(Debug)]
enum Failure {
    /// Send this page and close.
    Page(ErrorStatus),
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
}

/// Serves one HTTP client connection.
pub async fn serve(
    frontend: Arc<Frontend>,
    client: &mut TcpStream,
    peer: SocketAddr,
    phase: PhaseWatch,
) {
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
    };
    loop {
        match session.one_request(client).await {
            Ok(true) => session.served += 1,
            Ok(false) => break,
            Err(Failure::Page(status)) => {
                tracing::debug!(peer = %session.peer, status = status.code(), "error page");
                count_error_page(&session.frontend, status);
                let t = session.frontend.timeouts.client;
                let _ = within(t, client.write_all(status.response())).await;
                let _ = client.shutdown().await;
                break;
            }
            Err(Failure::Close) => break,
        }
    }
    tracing::debug!(peer = %session.peer, served = session.served, "client connection ends");
    if let Some(attached) = session.attached.take() {
        abort(&attached.stream);
    }
}

/// Counts a generated error page: on the frontend, and on the backend for server-side errors.
fn count_error_page(frontend: &Frontend, status: ErrorStatus) {
    use crate::counters::Counters;
    frontend.counters.response(status.code());
    match status {
        ErrorStatus::BadRequest | ErrorStatus::RequestTimeout => {
            Counters::bump(&frontend.counters.req_errors)
        }
        ErrorStatus::BadGateway | ErrorStatus::GatewayTimeout | ErrorStatus::ServiceUnavailable => {
            if let Some(backend) = &frontend.default_backend {
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

    /// Handles one request; `Ok(true)` to keep the connection for another.
    async fn one_request(&mut self, client: &mut TcpStream) -> Result<bool, Failure> {
        let fe = Arc::clone(&self.frontend);
        let backend = fe.default_backend.clone();
        let mode = combined_mode(
            fe.http_connection_mode,
            backend
                .as_ref()
                .map_or(HttpConnectionMode::KeepAlive, |b| b.http_connection_mode),
        );
        let forwardfor = fe
            .forwardfor
            .as_ref()
            .or(backend.as_ref().and_then(|b| b.forwardfor.as_ref()));
        let rw = RequestRewrite {
            forwarded_for: forwarded_for(forwardfor, self.peer),
            close_server: mode != HttpConnectionMode::KeepAlive,
        };
        let Some(req) = self.read_request(client, &rw).await? else {
            return Ok(false);
        };
        crate::counters::Counters::bump(&fe.counters.requests);
        let close_client =
            !req.keep_alive || mode == HttpConnectionMode::Close || self.drain_closes_response();

        if let Some(ret) = &fe.http_return {
            fe.counters.response(ret.status);
            return self.answer_directly(client, ret, &req, close_client).await;
        }
        let Some(backend) = backend else {
            return Err(Failure::Page(ErrorStatus::ServiceUnavailable));
        };
        if req.method == Method::Connect {
            return Err(Failure::Page(ErrorStatus::BadRequest));
        }
        let path = std::str::from_utf8(&self.out[req.path.clone()])
            .unwrap_or("/")
            .to_string();
        let key = PickKey {
            client: Some(self.peer.ip()),
            path: Some(path.split('?').next().unwrap_or("/")),
        };
        let mut conn = self.server_connection(client, &backend, &key).await?;
        let _live = backend.counters.enter();
        crate::counters::Counters::bump(&backend.counters.requests);

        let server_timeout = backend.timeouts.server;
        let mut request_body = BodyProgress::new(req.framing);
        if !req.expect_continue {
            append_buffered_body(&mut self.out, &mut self.client_buf, &mut request_body)
                .map_err(|_| Failure::Page(ErrorStatus::BadRequest))?;
        }
        if let Err(e) = within(server_timeout, conn.stream.write_all(&self.out)).await {
            tracing::debug!(error = %e, "write to server failed");
            return Err(Failure::Page(ErrorStatus::BadGateway));
        }
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
            .forward_response(client, &mut conn, &backend, &rewrite, &mut request_body)
            .await?;
        let server_reusable =
            keep.server_reusable && mode == HttpConnectionMode::KeepAlive && request_body.done();
        if keep.tunnelled {
            return Ok(false);
        }
        if !request_body.done() {
            // The server answered before the body was sent (e.g. no `100 Continue`): the rest
            // of the body may still arrive, so the connection cannot carry another request.
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
    async fn read_request(
        &mut self,
        client: &mut TcpStream,
        rw: &RequestRewrite<'_>,
    ) -> Result<Option<RequestInfo>, Failure> {
        let t = self.frontend.timeouts;
        let head_timeout = t.http_request.or(t.client);
        let idle_timeout = if self.served == 0 {
            head_timeout
        } else {
            t.http_keep_alive.or(head_timeout)
        };
        let mut started = !self.client_buf.is_empty();
        let mut deadline = (if started { head_timeout } else { idle_timeout })
            .map(|d| tokio::time::Instant::now() + d);
        loop {
            if !self.client_buf.is_empty() {
                match head::parse_request(self.client_buf.bytes(), &mut self.out, rw) {
                    Ok(Some(info)) => {
                        self.client_buf.consume(info.head_len);
                        return Ok(Some(info));
                    }
                    Ok(None) if self.client_buf.is_full() => {
                        return Err(Failure::Page(ErrorStatus::BadRequest))
                    }
                    Ok(None) => {}
                    Err(e) => {
                        tracing::debug!(peer = %self.peer, error = %e, "bad request");
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
                    return if started {
                        Err(Failure::Close)
                    } else {
                        Ok(None)
                    };
                }
                Ok(_) if !started => {
                    started = true;
                    deadline = head_timeout.map(|d| tokio::time::Instant::now() + d);
                }
                Ok(_) => {}
            }
        }
    }

    /// Sends the frontend's `http-request return` response.
    async fn answer_directly(
        &mut self,
        client: &mut TcpStream,
        ret: &crate::frontend::HttpReturn,
        req: &RequestInfo,
        close_client: bool,
    ) -> Result<bool, Failure> {
        // A request body would have to be drained first; closing after the answer is simpler
        // and always correct.
        let close = close_client || req.framing != Framing::Empty;
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
        within(self.frontend.timeouts.client, client.write_all(&self.out))
            .await
            .map_err(|_| Failure::Close)?;
        if close {
            let _ = client.shutdown().await;
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
        let slot = backend.acquire(key).await.map_err(|e| {
            tracing::debug!(backend = %backend.name, error = %e, "no server slot");
            Failure::Page(ErrorStatus::ServiceUnavailable)
        })?;
        if let Some(attached) = self.attached.take() {
            if Arc::ptr_eq(&attached.server, slot.server()) {
                return Ok(ServerConnection {
                    stream: attached.stream,
                    guard: slot,
                });
            }
            attached.server.park_idle(attached.stream);
        }
        if self.served > 0 {
            if let Some(stream) = slot.server().take_idle() {
                return Ok(ServerConnection {
                    stream,
                    guard: slot,
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
        backend.connect(slot, key, client_port).await.map_err(|e| {
            tracing::debug!(backend = %backend.name, error = %e, "connect failed");
            if matches!(e, ConnectError::Failed(_)) {
                crate::counters::Counters::bump(&backend.counters.conn_errors);
            }
            match e {
                ConnectError::NoServer | ConnectError::QueueTimeout | ConnectError::Failed(_) => {
                    Failure::Page(ErrorStatus::ServiceUnavailable)
                }
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
        body::forward(progress, &mut self.client_buf, client, &mut conn.stream, t)
            .await
            .map_err(|e| {
                tracing::debug!(peer = %self.peer, error = %e, "request body");
                match e {
                    body::BodyError::BadChunk => Failure::Page(ErrorStatus::BadRequest),
                    body::BodyError::ReadTimeout => Failure::Page(ErrorStatus::RequestTimeout),
                    body::BodyError::Write(_) => Failure::Page(ErrorStatus::BadGateway),
                    _ => Failure::Close,
                }
            })
    }

    /// Reads the response (after any 1xx) and streams it to the client.
    async fn forward_response(
        &mut self,
        client: &mut TcpStream,
        conn: &mut ServerConnection,
        backend: &Backend,
        rewrite: &ResponseRewrite,
        request_body: &mut BodyProgress,
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
            }
            // The head and whatever of the body is already buffered leave in one write.
            let mut progress = BodyProgress::new(info.framing);
            if !info.interim && !info.switching {
                append_buffered_body(&mut self.out, &mut self.server_buf, &mut progress)
                    .map_err(|_| Failure::Close)?;
                if progress.done() {
                    // Read in full: the server is done with this request (a small response
                    // usually is, before a byte of it reaches the client).
                    conn.guard.release();
                }
            }
            within(client_timeout, client.write_all(&self.out))
                .await
                .map_err(|_| Failure::Close)?;
            if info.interim {
                if info.status == 100 && !request_body.done() {
                    self.forward_request_body(client, conn, request_body)
                        .await?;
                }
                continue;
            }
            if info.switching {
                self.upgrade(client, conn, backend).await;
                return Ok(Kept {
                    server_reusable: false,
                    close_client: true,
                    tunnelled: true,
                });
            }
            let guard = &mut conn.guard;
            if let Err(e) = body::forward_then(
                &mut progress,
                &mut self.server_buf,
                &mut conn.stream,
                client,
                server_timeout,
                || guard.release(),
            )
            .await
            {
                tracing::debug!(backend = %backend.name, error = %e, "response body");
                return Err(Failure::Close); // the head is already sent: only closing tells the client
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
        loop {
            if !self.server_buf.is_empty() {
                // A soft stop that began while the request was in flight closes the client
                // connection after this response (never before it).
                let mut rewrite = *rewrite;
                rewrite.close_client |= self.drain_closes_response();
                match head::parse_response(self.server_buf.bytes(), &mut self.out, &rewrite) {
                    Ok(Some(info)) => {
                        self.server_buf.consume(info.head_len);
                        return Ok(info);
                    }
                    Ok(None) if self.server_buf.is_full() => {
                        return Err(Failure::Page(ErrorStatus::BadGateway))
                    }
                    Ok(None) => {}
                    Err(e) => {
                        tracing::debug!(error = %e, "bad response");
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
                Ok(0) => return Err(Failure::Page(ErrorStatus::BadGateway)),
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {
                    return Err(Failure::Page(ErrorStatus::GatewayTimeout))
                }
                Err(_) => return Err(Failure::Page(ErrorStatus::BadGateway)),
            }
        }
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
        if in_network(peer.ip(), net) {
            return None;
        }
    }
    Some((ff.header.as_str(), peer.ip(), ff.if_none))
}

/// Whether `ip` is inside `net`.
fn in_network(ip: std::net::IpAddr, net: &baton_config::model::Network) -> bool {
    use std::net::IpAddr::*;
    match (ip, net.addr) {
        (V4(a), V4(n)) => {
            let mask = u32::MAX
                .checked_shl(32 - u32::from(net.prefix))
                .unwrap_or(0);
            u32::from(a) & mask == u32::from(n) & mask
        }
        (V6(a), V6(n)) => {
            let mask = u128::MAX
                .checked_shl(128 - u32::from(net.prefix))
                .unwrap_or(0);
            u128::from(a) & mask == u128::from(n) & mask
        }
        (V6(a), V4(_)) => a.to_ipv4_mapped().is_some_and(|v4| in_network(V4(v4), net)),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use baton_config::model::Network;

    #[test]
    fn networks_match_by_prefix() {
        let net = Network {
            addr: "127.0.0.0".parse().unwrap(),
            prefix: 8,
        };
        assert!(in_network("127.9.9.9".parse().unwrap(), &net));
        assert!(!in_network("10.0.0.1".parse().unwrap(), &net));
        assert!(in_network("::ffff:127.0.0.1".parse().unwrap(), &net));
        let all = Network {
            addr: "0.0.0.0".parse().unwrap(),
            prefix: 0,
        };
        assert!(in_network("1.2.3.4".parse().unwrap(), &all));
        let v6 = Network {
            addr: "fd00::".parse().unwrap(),
            prefix: 8,
        };
        assert!(in_network("fd12::1".parse().unwrap(), &v6));
    }

    #[test]
    fn stricter_connection_mode_wins() {
        use HttpConnectionMode::*;
        assert_eq!(combined_mode(KeepAlive, KeepAlive), KeepAlive);
        assert_eq!(combined_mode(KeepAlive, ServerClose), ServerClose);
        assert_eq!(combined_mode(Close, ServerClose), Close);
    }
}
