//! The log side of an HTTP session: when its frontend logs traffic, each request gets a
//! [`Record`] that the session loop stamps at HAProxy's timer points (first byte, complete
//! head, server slot, connection, request sent, response head, end) and hands to the
//! frontend's logger. Without a logger every method here returns at once: no clock is read
//! and nothing is allocated.

use super::{Cause, ErrorStatus, Record, RequestLine, Session, Stage};
use crate::log::record::{head_size, ms};
use std::time::{Instant, SystemTime};

impl Session {
    /// Now, when logging; `None` otherwise (no clock read).
    pub(super) fn stamp(&self) -> Option<Instant> {
        self.log.as_ref().map(|_| Instant::now())
    }

    /// Sets the termination state of the current request (the first cause found wins).
    pub(super) fn mark(&mut self, cause: Cause, stage: Stage) {
        if let Some(r) = self.rec.as_mut() {
            r.end(cause, stage);
        }
    }

    /// Opens the record of the next request on this connection.
    pub(super) fn begin_record(&mut self, client: &tokio::net::TcpStream) {
        let (Some(log), Some((wall, mono))) = (&self.log, self.stream_start) else {
            return;
        };
        let mut r = Record::start(self.peer, wall, mono);
        if log.needs_local_addr() {
            r.local = client.local_addr().ok();
        }
        self.rec = Some(r);
    }

    /// The request's first byte arrived.
    pub(super) fn first_byte(&mut self) {
        if let Some(r) = self.rec.as_mut() {
            if r.ti < 0 {
                r.ti = ms(r.start_instant, Instant::now());
                r.request_date = Some(r.start + std::time::Duration::from_millis(r.ti as u64));
            }
        }
    }

    /// The request head (`head_len` bytes at the front of the client buffer) is complete:
    /// `TR`, the request line and the request header captures.
    pub(super) fn request_logged(&mut self, head_len: usize) {
        let (Some(log), Some(r)) = (&self.log, self.rec.as_mut()) else {
            return;
        };
        let now = Instant::now();
        let first = r.start_instant + std::time::Duration::from_millis(r.ti.max(0) as u64);
        r.treq = ms(first, now);
        let head = &self.client_buf.bytes()[..head_len];
        r.request = request_line(head);
        r.bytes_in += head_size(head).0;
        if !log.request_captures.is_empty() {
            r.req_captures = crate::log::capture_headers(head, &log.request_captures);
        }
    }

    /// The response head (`head_len` bytes at the front of the server buffer) is complete:
    /// response header captures.
    pub(super) fn response_logged(&mut self, head_len: usize) {
        let (Some(log), Some(r)) = (&self.log, self.rec.as_mut()) else {
            return;
        };
        let head = &self.server_buf.bytes()[..head_len];
        r.bytes_out += head_size(head).0;
        if !log.response_captures.is_empty() {
            r.resp_captures = crate::log::capture_headers(head, &log.response_captures);
        }
    }

    /// A server connection is ready (`Tc`; 0 for a reused one).
    pub(super) fn connected(
        &mut self,
        since: Option<Instant>,
        retries: u32,
        server: &tokio::net::TcpStream,
    ) {
        if let (Some(r), Some(t)) = (self.rec.as_mut(), since) {
            r.tc = ms(t, Instant::now());
            r.retries = retries;
            if self.log.as_ref().is_some_and(|l| l.needs_backend_source()) {
                r.backend_source = server.local_addr().ok();
            }
        }
    }

    /// Ends the current request's record and logs it (`page`: the error page sent, if any).
    pub(super) fn finish_record(&mut self, page: Option<ErrorStatus>) {
        let (Some(log), Some(mut r)) = (self.log.clone(), self.rec.take()) else {
            return;
        };
        let now = Instant::now();
        self.stream_start = Some((SystemTime::now(), now));
        if r.ti < 0 {
            // Nothing arrived: a closed keep-alive connection is not a request; a first
            // connection that sent nothing is logged unless `option dontlognull`.
            if self.served > 0 || log.dont_log_null {
                return;
            }
            if r.status < 0 {
                r.status = if r.cause == Cause::ClientTimeout {
                    408
                } else {
                    400
                };
            }
        }
        if let Some(status) = page {
            r.status = i32::from(status.code());
            // Pages for unreadable requests leave from the connection layer in HAProxy
            // and are not counted in `%B`.
            if r.request.is_none() {
                r.bytes_out = 0;
            } else {
                let page = status.response();
                let (head, end) = head_size(page);
                r.bytes_out += head + (page.len() - end) as u64;
            }
            let (cause, stage) = match status {
                ErrorStatus::BadRequest => (Cause::Proxy, Stage::Request),
                ErrorStatus::RequestTimeout => (Cause::ClientTimeout, Stage::Request),
                ErrorStatus::GatewayTimeout => (Cause::ServerTimeout, Stage::Headers),
                ErrorStatus::ServiceUnavailable => (Cause::ServerAbort, Stage::Connect),
                _ => (Cause::ServerAbort, Stage::Headers),
            };
            r.end(cause, stage);
        }
        if r.request.is_none() && r.cause == Cause::ClientAbort && r.status < 0 {
            r.status = 400;
        }
        r.tt = ms(r.start_instant, now);
        r.ta = r.tt - r.ti.max(0);
        if let Some(backend) = &self.frontend.default_backend {
            if r.backend.is_some() {
                r.beconn = crate::counters::Counters::get(&backend.counters.cur);
            }
        }
        if let Some(server) = self.log_server.take() {
            // An idle attached connection holds no slot: `active` counts requests in flight.
            r.srv_conn = u64::from(server.active());
        }
        log.log(
            &r,
            crate::counters::Counters::get(&self.frontend.counters.cur),
        );
    }
}

/// Method, URI and version of a request head.
fn request_line(head: &[u8]) -> Option<RequestLine> {
    let end = head.iter().position(|&b| b == b'\n')?;
    let line = std::str::from_utf8(&head[..end])
        .ok()?
        .trim_end_matches('\r');
    let mut parts = line.splitn(3, ' ');
    Some(RequestLine {
        method: parts.next()?.to_string(),
        uri: parts.next()?.to_string(),
        version: parts.next().unwrap_or("").to_string(),
    })
}

impl Session {
    /// Ends the record of a request whose response a rule replaced (`http-response deny`):
    /// HAProxy's `PH--`.
    pub(super) fn finish_answer(&mut self, answer: &crate::http::rules::Answer) {
        if let Some(r) = self.rec.as_mut() {
            r.status = i32::from(answer.status);
            r.tresp = -1; // HAProxy: the server's response never counted as received
                          // HAProxy counts what it had received of the replaced response (its head is
                          // already counted, the body bytes buffered behind it are added) and the page.
            r.bytes_out +=
                self.server_buf.len() as u64 + head_size(&answer.head).0 + answer.body.len() as u64;
            r.end(Cause::Proxy, Stage::Headers);
        }
        self.finish_record(None);
    }
}
