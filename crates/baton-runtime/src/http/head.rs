//! HTTP/1.x message heads: parsing (with httparse), framing decisions and the rewrite that a
//! proxy must apply before forwarding (RFC 9112 hop-by-hop rules, `X-Forwarded-For`, the
//! `Connection` header each side needs).
//!
//! Each function parses a head out of a buffer and writes the rewritten head into `out` in one
//! pass, returning only the small facts the session needs; no header is copied twice and nothing
//! is allocated per header.

use std::fmt::Write as _;
use std::net::IpAddr;

/// HAProxy's `tune.http.maxhdr`: more headers than this is a bad request.
pub const MAX_HEADERS: usize = 101;

/// How a message's body is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// No body.
    Empty,
    /// Exactly this many bytes.
    Length(u64),
    /// Chunked transfer coding, forwarded as is.
    Chunked,
    /// Until the sender closes (responses only).
    UntilClose,
}

/// Why a head was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HeadError {
    /// httparse refused it.
    #[error("malformed message head: {0}")]
    Syntax(&'static str),
    /// Conflicting or invalid Content-Length.
    #[error("invalid Content-Length")]
    ContentLength,
    /// A Transfer-Encoding that does not end in chunked on a request, or is unknown.
    #[error("invalid Transfer-Encoding")]
    TransferEncoding,
    /// The head does not fit in the buffer.
    #[error("message head too large")]
    TooLarge,
    /// Two `Host` headers that disagree, or a `Host` header that disagrees with the authority
    /// of an absolute-form request target (RFC 9112 section 3.2.2; HAProxy answers 400).
    #[error("conflicting Host header")]
    Host,
}

impl From<httparse::Error> for HeadError {
    fn from(e: httparse::Error) -> Self {
        HeadError::Syntax(match e {
            httparse::Error::TooManyHeaders => "too many headers",
            httparse::Error::HeaderName => "invalid header name",
            httparse::Error::HeaderValue => "invalid header value",
            httparse::Error::NewLine => "invalid line ending",
            httparse::Error::Status => "invalid status",
            httparse::Error::Token => "invalid token",
            httparse::Error::Version => "invalid version",
        })
    }
}

/// The request method, as far as framing and balancing care.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// HEAD: the response has no body.
    Head,
    /// CONNECT: not proxied by baton (HAProxy needs `option http_proxy` for it).
    Connect,
    /// Anything else.
    Other,
}

/// What the session needs to know about a request it forwards.
#[derive(Debug, Clone)]
pub struct RequestInfo {
    /// Bytes of the head in the input buffer.
    pub head_len: usize,
    /// The method class.
    pub method: Method,
    /// 0 for HTTP/1.0, 1 for HTTP/1.1.
    pub minor: u8,
    /// How the request body is delimited.
    pub framing: Framing,
    /// Whether the client wants the connection kept open after the response.
    pub keep_alive: bool,
    /// `Expect: 100-continue`.
    pub expect_continue: bool,
    /// A protocol upgrade (WebSocket) was requested.
    pub upgrade: bool,
    /// Where the path starts and ends in `out` (for `balance uri`).
    pub path: std::ops::Range<usize>,
    /// The request already carries the forwarded-for header.
    pub has_forwarded_for: bool,
}

/// How to rewrite a request for the server.
#[derive(Debug, Clone, Default)]
pub struct RequestRewrite<'a> {
    /// Add this header with the client's address (`option forwardfor`), unless `if_none` and
    /// the request already has one.
    pub forwarded_for: Option<(&'a str, IpAddr, bool)>,
    /// Ask the server to close after the response (`option http-server-close`/`httpclose`).
    pub close_server: bool,
}

/// Comma-separated tokens of a `Connection` header we care about.
#[derive(Debug, Default, Clone, Copy)]
struct ConnectionTokens {
    /// `close`.
    close: bool,
    /// `keep-alive`.
    keep_alive: bool,
    /// `upgrade`.
    upgrade: bool,
}

/// Reads the tokens of one `Connection` header value.
fn connection_tokens(value: &[u8], tokens: &mut ConnectionTokens) {
    for token in value.split(|&b| b == b',') {
        let token = token.trim_ascii();
        if token.eq_ignore_ascii_case(b"close") {
            tokens.close = true;
        } else if token.eq_ignore_ascii_case(b"keep-alive") {
            tokens.keep_alive = true;
        } else if token.eq_ignore_ascii_case(b"upgrade") {
            tokens.upgrade = true;
        }
    }
}

/// Whether `name` is listed as a token in any of the `Connection` values.
fn named_by_connection(name: &str, connection_values: &[&[u8]]) -> bool {
    connection_values.iter().any(|v| {
        v.split(|&b| b == b',')
            .any(|t| t.trim_ascii().eq_ignore_ascii_case(name.as_bytes()))
    })
}

/// Headers that describe one hop only and are never forwarded as received.
fn is_hop_by_hop(name: &str) -> bool {
    name.eq_ignore_ascii_case("connection")
        || name.eq_ignore_ascii_case("keep-alive")
        || name.eq_ignore_ascii_case("proxy-connection")
        || name.eq_ignore_ascii_case("te")
        || name.eq_ignore_ascii_case("upgrade")
}

/// Parses one Content-Length value (digits only).
fn parse_length(value: &[u8]) -> Result<u64, HeadError> {
    let value = value.trim_ascii();
    if value.is_empty() || !value.iter().all(u8::is_ascii_digit) || value.len() > 19 {
        return Err(HeadError::ContentLength);
    }
    std::str::from_utf8(value)
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or(HeadError::ContentLength)
}

/// Facts gathered from a header list, shared by requests and responses.
#[derive(Debug, Default)]
struct HeaderFacts {
    /// Content-Length, checked for consistency across repeats and comma lists.
    length: Option<u64>,
    /// Transfer-Encoding present.
    transfer_encoding: bool,
    /// Its last coding is `chunked`.
    chunked_last: bool,
    /// Connection tokens.
    connection: ConnectionTokens,
    /// An `Upgrade` header is present.
    upgrade_header: bool,
    /// The request already carries the forwarded-for header.
    has_forwarded_for: bool,
}

/// Scans headers once for framing and connection facts.
fn scan(
    headers: &[httparse::Header<'_>],
    forwarded_for: Option<&str>,
) -> Result<HeaderFacts, HeadError> {
    let mut facts = HeaderFacts::default();
    for h in headers {
        if h.name.eq_ignore_ascii_case("content-length") {
            for part in h.value.split(|&b| b == b',') {
                let n = parse_length(part)?;
                if facts.length.is_some_and(|m| m != n) {
                    return Err(HeadError::ContentLength);
                }
                facts.length = Some(n);
            }
        } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
            facts.transfer_encoding = true;
            let last = h
                .value
                .rsplit(|&b| b == b',')
                .next()
                .unwrap_or_default()
                .trim_ascii();
            facts.chunked_last = last.eq_ignore_ascii_case(b"chunked");
        } else if h.name.eq_ignore_ascii_case("connection") {
            connection_tokens(h.value, &mut facts.connection);
        } else if h.name.eq_ignore_ascii_case("upgrade") {
            facts.upgrade_header = true;
        } else if forwarded_for.is_some_and(|f| h.name.eq_ignore_ascii_case(f)) {
            facts.has_forwarded_for = true;
        }
    }
    Ok(facts)
}

/// Copies the end-to-end headers to `out`, dropping hop-by-hop ones, those the `Connection`
/// header names, and Content-Length when Transfer-Encoding wins. `keep_upgrade` keeps `Upgrade`.
fn write_headers(
    out: &mut Vec<u8>,
    headers: &[httparse::Header<'_>],
    facts: &HeaderFacts,
    keep_upgrade: bool,
) {
    let mut connection_values: [&[u8]; 4] = [b""; 4];
    let mut n = 0;
    for h in headers {
        if h.name.eq_ignore_ascii_case("connection") && n < connection_values.len() {
            connection_values[n] = h.value;
            n += 1;
        }
    }
    for h in headers {
        // `Upgrade` survives an upgrade even though `Connection: upgrade` names it.
        let upgrade_kept = keep_upgrade && h.name.eq_ignore_ascii_case("upgrade");
        let dropped = is_hop_by_hop(h.name)
            || (facts.transfer_encoding && h.name.eq_ignore_ascii_case("content-length"))
            || (n > 0 && named_by_connection(h.name, &connection_values[..n]));
        if dropped && !upgrade_kept {
            continue;
        }
        out.extend_from_slice(h.name.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(h.value);
        out.extend_from_slice(b"\r\n");
    }
}

/// The scheme and authority of an absolute-form request target
/// (`scheme://[userinfo@]authority/...`), the authority without the user information and
/// ending at the first `/`; `None` for origin-form (`/path`) and `*`.
fn target_authority(target: &[u8]) -> Option<(&[u8], &[u8])> {
    if target.first() == Some(&b'/') {
        return None; // origin-form, nearly every request: no scan for "://"
    }
    let scheme_end = target.windows(3).position(|w| w == b"://")?;
    let scheme = &target[..scheme_end];
    if scheme.is_empty() || !scheme.iter().all(u8::is_ascii_alphanumeric) {
        return None;
    }
    let rest = &target[scheme_end + 3..];
    let authority = &rest[..rest.iter().position(|&b| b == b'/').unwrap_or(rest.len())];
    let host = match authority.iter().rposition(|&b| b == b'@') {
        Some(at) => &authority[at + 1..],
        None => authority,
    };
    Some((scheme, host))
}

/// `host[:port]` without an empty port or the scheme's default one (`:80` for http, `:443`
/// for https), so that `http://a:80/` and `Host: a` name the same authority, as HAProxy
/// compares them.
fn without_default_port<'a>(authority: &'a [u8], scheme: &[u8]) -> &'a [u8] {
    let default: Option<&[u8]> = if scheme.eq_ignore_ascii_case(b"http") {
        Some(b":80")
    } else if scheme.eq_ignore_ascii_case(b"https") {
        Some(b":443")
    } else {
        None
    };
    authority
        .strip_suffix(b":")
        .or_else(|| default.and_then(|d| authority.strip_suffix(d)))
        .unwrap_or(authority)
}

/// Refuses, as HAProxy does, a request whose `Host` headers differ from each other (compared
/// without case, as host names are), or whose `Host` differs from the authority of its
/// absolute-form target once the scheme's default port is left out.
fn check_host(target: &[u8], headers: &[httparse::Header<'_>]) -> Result<(), HeadError> {
    let mut first: Option<&[u8]> = None;
    for h in headers
        .iter()
        .filter(|h| h.name.eq_ignore_ascii_case("host"))
    {
        let value = h.value.trim_ascii();
        match first {
            Some(known) if !known.eq_ignore_ascii_case(value) => return Err(HeadError::Host),
            Some(_) => {}
            None => first = Some(value),
        }
    }
    if let (Some(host), Some((scheme, authority))) = (first, target_authority(target)) {
        let same = without_default_port(authority, scheme)
            .eq_ignore_ascii_case(without_default_port(host, scheme));
        if !authority.is_empty() && !same {
            return Err(HeadError::Host);
        }
    }
    Ok(())
}

/// Parses a request head at the start of `buf` and writes the rewritten head to `out`.
/// `Ok(None)`: incomplete, read more.
pub fn parse_request(
    buf: &[u8],
    out: &mut Vec<u8>,
    rw: &RequestRewrite<'_>,
) -> Result<Option<RequestInfo>, HeadError> {
    let info = parse_request_head(buf, out, rw)?;
    if let Some(info) = &info {
        finish_request(out, info, rw);
    }
    Ok(info)
}

/// Like [`parse_request`], but leaves `out` open after the last forwarded header (no
/// forwarded-for, `Connection` or blank line yet), so that rules can read and edit it;
/// [`finish_request`] completes it.
pub fn parse_request_head(
    buf: &[u8],
    out: &mut Vec<u8>,
    rw: &RequestRewrite<'_>,
) -> Result<Option<RequestInfo>, HeadError> {
    let mut storage = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut storage);
    let head_len = match req.parse(buf)? {
        httparse::Status::Complete(n) => n,
        httparse::Status::Partial => return Ok(None),
    };
    let (method_text, path, minor) = match (req.method, req.path, req.version) {
        (Some(m), Some(p), Some(v)) => (m, p, v),
        _ => return Err(HeadError::Syntax("incomplete request line")),
    };
    check_host(path.as_bytes(), req.headers)?;
    let forwarded_name = rw.forwarded_for.map(|(name, _, _)| name);
    let facts = scan(req.headers, forwarded_name)?;
    let framing = if facts.transfer_encoding {
        if !facts.chunked_last || minor == 0 {
            return Err(HeadError::TransferEncoding);
        }
        Framing::Chunked
    } else {
        match facts.length {
            Some(0) | None => Framing::Empty,
            Some(n) => Framing::Length(n),
        }
    };
    let method = if method_text.eq_ignore_ascii_case("HEAD") {
        Method::Head
    } else if method_text.eq_ignore_ascii_case("CONNECT") {
        Method::Connect
    } else {
        Method::Other
    };
    let keep_alive = if minor == 1 {
        !facts.connection.close
    } else {
        facts.connection.keep_alive && !facts.connection.close
    };
    let upgrade = facts.connection.upgrade && facts.upgrade_header && minor == 1;
    let expect_continue = req.headers.iter().any(|h| {
        h.name.eq_ignore_ascii_case("expect")
            && h.value.trim_ascii().eq_ignore_ascii_case(b"100-continue")
    });

    out.clear();
    out.extend_from_slice(method_text.as_bytes());
    out.push(b' ');
    let path_start = out.len();
    out.extend_from_slice(path.as_bytes());
    let path_end = out.len();
    out.extend_from_slice(if minor == 1 {
        b" HTTP/1.1\r\n"
    } else {
        b" HTTP/1.0\r\n"
    });
    write_headers(out, req.headers, &facts, upgrade);
    Ok(Some(RequestInfo {
        head_len,
        method,
        minor,
        framing,
        keep_alive,
        expect_continue,
        upgrade,
        path: path_start..path_end,
        has_forwarded_for: facts.has_forwarded_for,
    }))
}

/// Completes a head written by [`parse_request_head`]: the forwarded-for header, the
/// `Connection` header the server side needs, and the blank line.
pub fn finish_request(out: &mut Vec<u8>, info: &RequestInfo, rw: &RequestRewrite<'_>) {
    let (minor, upgrade) = (info.minor, info.upgrade);
    if let Some((name, ip, if_none)) = rw.forwarded_for {
        if !(if_none && info.has_forwarded_for) {
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(b": ");
            let mut text = String::with_capacity(40);
            let _ = write!(text, "{ip}");
            out.extend_from_slice(text.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
    }
    if upgrade {
        out.extend_from_slice(b"Connection: upgrade\r\n");
    } else if rw.close_server {
        out.extend_from_slice(b"Connection: close\r\n");
    } else if minor == 0 {
        out.extend_from_slice(b"Connection: keep-alive\r\n");
    }
    out.extend_from_slice(b"\r\n");
}

/// What the session needs to know about a response it forwards.
#[derive(Debug, Clone, Copy)]
pub struct ResponseInfo {
    /// Bytes of the head in the input buffer.
    pub head_len: usize,
    /// Status code.
    pub status: u16,
    /// How the body is delimited.
    pub framing: Framing,
    /// Whether the server connection can carry another request afterwards.
    pub server_keep_alive: bool,
    /// Whether the client connection must be closed after this response.
    pub close_client: bool,
    /// 101 Switching Protocols: both connections become a tunnel.
    pub switching: bool,
    /// A 1xx interim response (not 101): forward it and read the final one.
    pub interim: bool,
}

/// How to rewrite a response for the client.
#[derive(Debug, Clone, Copy)]
pub struct ResponseRewrite {
    /// The request's method (HEAD responses have no body).
    pub method: Method,
    /// The client's HTTP minor version.
    pub client_minor: u8,
    /// Whether the client connection will be closed after this response anyway.
    pub close_client: bool,
    /// Whether the request asked for an upgrade (a 101 is acceptable).
    pub upgrade_requested: bool,
}

/// Parses a response head at the start of `buf` and writes the rewritten head to `out`.
/// `Ok(None)`: incomplete, read more.
pub fn parse_response(
    buf: &[u8],
    out: &mut Vec<u8>,
    rw: &ResponseRewrite,
) -> Result<Option<ResponseInfo>, HeadError> {
    let info = parse_response_head(buf, out, rw)?;
    if let Some(info) = &info {
        finish_response(out, info, rw);
    }
    Ok(info)
}

/// Like [`parse_response`], but leaves `out` open after the last forwarded header so that
/// rules can edit it; [`finish_response`] completes it.
pub fn parse_response_head(
    buf: &[u8],
    out: &mut Vec<u8>,
    rw: &ResponseRewrite,
) -> Result<Option<ResponseInfo>, HeadError> {
    let mut storage = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut res = httparse::Response::new(&mut storage);
    let head_len = match res.parse(buf)? {
        httparse::Status::Complete(n) => n,
        httparse::Status::Partial => return Ok(None),
    };
    let (status, minor) = match (res.code, res.version) {
        (Some(c), Some(v)) => (c, v),
        _ => return Err(HeadError::Syntax("incomplete status line")),
    };
    let reason = res.reason.unwrap_or("");
    let facts = scan(res.headers, None)?;
    let switching = status == 101 && rw.upgrade_requested;
    let interim = (100..200).contains(&status) && status != 101;
    if status == 101 && !rw.upgrade_requested {
        return Err(HeadError::Syntax("101 without an upgrade request"));
    }
    let framing =
        if rw.method == Method::Head || interim || switching || status == 204 || status == 304 {
            Framing::Empty
        } else if facts.transfer_encoding {
            if facts.chunked_last {
                Framing::Chunked
            } else {
                Framing::UntilClose
            }
        } else {
            match facts.length {
                Some(0) => Framing::Empty,
                Some(n) => Framing::Length(n),
                None => Framing::UntilClose,
            }
        };
    let server_wants_close = if minor == 1 {
        facts.connection.close
    } else {
        !facts.connection.keep_alive
    };
    let server_keep_alive = !server_wants_close && framing != Framing::UntilClose && !switching;
    let close_client =
        !interim && !switching && (rw.close_client || framing == Framing::UntilClose);

    out.clear();
    out.extend_from_slice(if minor == 1 {
        b"HTTP/1.1 "
    } else {
        b"HTTP/1.0 "
    });
    let mut code = [b'0'; 3];
    code[0] += (status / 100 % 10) as u8;
    code[1] += (status / 10 % 10) as u8;
    code[2] += (status % 10) as u8;
    out.extend_from_slice(&code);
    out.push(b' ');
    out.extend_from_slice(reason.as_bytes());
    out.extend_from_slice(b"\r\n");
    write_headers(out, res.headers, &facts, switching);
    Ok(Some(ResponseInfo {
        head_len,
        status,
        framing,
        server_keep_alive,
        close_client,
        switching,
        interim,
    }))
}

/// Completes a head written by [`parse_response_head`]: the `Connection` header the client
/// side needs and the blank line.
pub fn finish_response(out: &mut Vec<u8>, info: &ResponseInfo, rw: &ResponseRewrite) {
    let (switching, interim, close_client) = (info.switching, info.interim, info.close_client);
    if switching {
        out.extend_from_slice(b"Connection: upgrade\r\n");
    } else if !interim {
        if close_client {
            out.extend_from_slice(b"Connection: close\r\n");
        } else if rw.client_minor == 0 {
            out.extend_from_slice(b"Connection: keep-alive\r\n");
        }
    }
    out.extend_from_slice(b"\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(
        text: &str,
        rw: &RequestRewrite<'_>,
    ) -> Result<Option<(RequestInfo, String)>, HeadError> {
        let mut out = Vec::new();
        parse_request(text.as_bytes(), &mut out, rw)
            .map(|o| o.map(|i| (i, String::from_utf8(out).unwrap())))
    }

    fn response(text: &str, rw: ResponseRewrite) -> (ResponseInfo, String) {
        let mut out = Vec::new();
        let info = parse_response(text.as_bytes(), &mut out, &rw)
            .unwrap()
            .unwrap();
        (info, String::from_utf8(out).unwrap())
    }

    /// Each request with the verdict Debian's haproxy 2.6 gave it (200 or 400).
    #[test]
    fn host_must_agree_with_itself_and_with_an_absolute_target() {
        let cases = [
            (
                "GET http://a.example/x HTTP/1.1\r\nHost: b.example\r\n\r\n",
                false,
            ),
            (
                "GET http://a.example/x HTTP/1.1\r\nHost: A.example\r\n\r\n",
                true,
            ),
            ("GET http://a.example/x HTTP/1.1\r\n\r\n", true),
            ("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", false),
            ("GET / HTTP/1.1\r\nHost: a\r\nHost: A\r\n\r\n", true),
            ("GET / HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n", false),
            ("GET / HTTP/1.1\r\nHost: a\r\nHost: a:80\r\n\r\n", false),
            (
                "GET http://u@a.example/x HTTP/1.1\r\nHost: a.example\r\n\r\n",
                true,
            ),
            (
                "GET http://u@a.example/x HTTP/1.1\r\nHost: u@a.example\r\n\r\n",
                false,
            ),
            (
                "GET http://a.example:80/x HTTP/1.1\r\nHost: a.example\r\n\r\n",
                true,
            ),
            (
                "GET http://a.example:80/x HTTP/1.1\r\nHost: a.example:\r\n\r\n",
                true,
            ),
            (
                "GET http://a.example/x HTTP/1.1\r\nHost: a.example:80\r\n\r\n",
                true,
            ),
            (
                "GET http://a.example:8080/x HTTP/1.1\r\nHost: a.example\r\n\r\n",
                false,
            ),
            (
                "GET http://a.example:0080/x HTTP/1.1\r\nHost: a.example\r\n\r\n",
                false,
            ),
            (
                "GET http://a.example:443/x HTTP/1.1\r\nHost: a.example\r\n\r\n",
                false,
            ),
            (
                "GET https://a.example:443/x HTTP/1.1\r\nHost: a.example\r\n\r\n",
                true,
            ),
            (
                "GET https://a.example:80/x HTTP/1.1\r\nHost: a.example\r\n\r\n",
                false,
            ),
            (
                "GET ftp://a.example/x HTTP/1.1\r\nHost: a.example\r\n\r\n",
                true,
            ),
            (
                "GET ftp://a.example:80/x HTTP/1.1\r\nHost: a.example\r\n\r\n",
                false,
            ),
            (
                "GET HTTP://a.example/x HTTP/1.1\r\nHost: a.example\r\n\r\n",
                true,
            ),
            (
                "GET http://a.example?q HTTP/1.1\r\nHost: a.example\r\n\r\n",
                false,
            ),
            (
                "GET http://[::1]:80/x HTTP/1.1\r\nHost: [::1]\r\n\r\n",
                true,
            ),
            ("GET http:///x HTTP/1.1\r\nHost: b\r\n\r\n", true),
            ("GET /x?u=http://a HTTP/1.1\r\nHost: b\r\n\r\n", true),
        ];
        for (text, accepted) in cases {
            let verdict = request(text, &RequestRewrite::default());
            match accepted {
                true => assert!(matches!(verdict, Ok(Some(_))), "{text:?}: {verdict:?}"),
                false => assert_eq!(verdict.unwrap_err(), HeadError::Host, "{text:?}"),
            }
        }
    }

    const KEEP: ResponseRewrite = ResponseRewrite {
        method: Method::Other,
        client_minor: 1,
        close_client: false,
        upgrade_requested: false,
    };

    #[test]
    fn simple_get_keeps_alive() {
        let (info, out) = request(
            "GET /a?b HTTP/1.1\r\nHost: x\r\n\r\nnext",
            &RequestRewrite::default(),
        )
        .unwrap()
        .unwrap();
        assert_eq!(info.head_len, 30);
        assert!(info.keep_alive);
        assert_eq!(info.framing, Framing::Empty);
        assert_eq!(out, "GET /a?b HTTP/1.1\r\nHost: x\r\n\r\n");
        assert_eq!(&out[info.path.clone()], "/a?b");
    }

    #[test]
    fn partial_heads_ask_for_more() {
        assert!(
            request("GET / HTTP/1.1\r\nHost: x\r\n", &RequestRewrite::default())
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn hop_by_hop_headers_are_removed() {
        let (info, out) = request(
            "GET / HTTP/1.1\r\nConnection: close, X-Private\r\nKeep-Alive: 5\r\nX-Private: 1\r\nTE: trailers\r\nProxy-Connection: x\r\nA: b\r\n\r\n",
            &RequestRewrite::default(),
        )
        .unwrap()
        .unwrap();
        assert!(!info.keep_alive);
        assert_eq!(out, "GET / HTTP/1.1\r\nA: b\r\n\r\n");
    }

    #[test]
    fn http10_keep_alive_and_server_close() {
        let (info, out) = request("GET / HTTP/1.0\r\n\r\n", &RequestRewrite::default())
            .unwrap()
            .unwrap();
        assert!(!info.keep_alive);
        assert_eq!(out, "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
        let (info, _) = request(
            "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
            &RequestRewrite::default(),
        )
        .unwrap()
        .unwrap();
        assert!(info.keep_alive);
        let rw = RequestRewrite {
            close_server: true,
            ..Default::default()
        };
        let (_, out) = request("GET / HTTP/1.1\r\n\r\n", &rw).unwrap().unwrap();
        assert_eq!(out, "GET / HTTP/1.1\r\nConnection: close\r\n\r\n");
    }

    #[test]
    fn forwarded_for() {
        let ip: IpAddr = "10.1.2.3".parse().unwrap();
        let rw = RequestRewrite {
            forwarded_for: Some(("X-Forwarded-For", ip, false)),
            close_server: false,
        };
        let (_, out) = request("GET / HTTP/1.1\r\nX-Forwarded-For: 1.1.1.1\r\n\r\n", &rw)
            .unwrap()
            .unwrap();
        assert_eq!(
            out,
            "GET / HTTP/1.1\r\nX-Forwarded-For: 1.1.1.1\r\nX-Forwarded-For: 10.1.2.3\r\n\r\n"
        );
        let rw = RequestRewrite {
            forwarded_for: Some(("X-Forwarded-For", ip, true)),
            close_server: false,
        };
        let (_, out) = request("GET / HTTP/1.1\r\nx-forwarded-for: 1.1.1.1\r\n\r\n", &rw)
            .unwrap()
            .unwrap();
        assert_eq!(out, "GET / HTTP/1.1\r\nx-forwarded-for: 1.1.1.1\r\n\r\n");
    }

    #[test]
    fn request_framing() {
        let rw = RequestRewrite::default();
        let (info, _) = request("POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\n", &rw)
            .unwrap()
            .unwrap();
        assert_eq!(info.framing, Framing::Length(5));
        let (info, out) = request(
            "POST / HTTP/1.1\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
            &rw,
        )
        .unwrap()
        .unwrap();
        assert_eq!(info.framing, Framing::Chunked);
        assert!(!out.contains("Content-Length"), "TE wins over CL: {out}");
        let (info, _) = request("POST / HTTP/1.1\r\nContent-Length: 5, 5\r\n\r\n", &rw)
            .unwrap()
            .unwrap();
        assert_eq!(info.framing, Framing::Length(5));
        assert_eq!(
            request(
                "POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
                &rw
            )
            .unwrap_err(),
            HeadError::ContentLength
        );
        assert_eq!(
            request("POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n", &rw).unwrap_err(),
            HeadError::ContentLength
        );
        assert_eq!(
            request("POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n", &rw).unwrap_err(),
            HeadError::TransferEncoding
        );
        assert!(request("GARBAGE\r\n\r\n", &rw).is_err());
        assert!(request("GET / HTTP/1.1\r\nBad Header: x\r\n\r\n", &rw).is_err());
    }

    #[test]
    fn expect_and_upgrade() {
        let rw = RequestRewrite::default();
        let (info, _) = request(
            "PUT / HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\n",
            &rw,
        )
        .unwrap()
        .unwrap();
        assert!(info.expect_continue);
        let (info, out) = request(
            "GET /ws HTTP/1.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n",
            &rw,
        )
        .unwrap()
        .unwrap();
        assert!(info.upgrade);
        assert_eq!(
            out,
            "GET /ws HTTP/1.1\r\nUpgrade: websocket\r\nConnection: upgrade\r\n\r\n"
        );
    }

    #[test]
    fn response_framing_and_connection() {
        let (info, out) = response("HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc", KEEP);
        assert_eq!(
            (info.framing, info.server_keep_alive, info.close_client),
            (Framing::Length(3), true, false)
        );
        assert_eq!(out, "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n");
        let (info, out) = response("HTTP/1.1 200 OK\r\n\r\n", KEEP);
        assert_eq!(
            (info.framing, info.server_keep_alive, info.close_client),
            (Framing::UntilClose, false, true)
        );
        assert_eq!(out, "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n");
        let head = ResponseRewrite {
            method: Method::Head,
            ..KEEP
        };
        assert_eq!(
            response("HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n", head)
                .0
                .framing,
            Framing::Empty
        );
        assert_eq!(
            response(
                "HTTP/1.1 304 Not Modified\r\nContent-Length: 3\r\n\r\n",
                KEEP
            )
            .0
            .framing,
            Framing::Empty
        );
        assert_eq!(
            response("HTTP/1.1 204 No Content\r\n\r\n", KEEP).0.framing,
            Framing::Empty
        );
        let (info, _) = response("HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\n", KEEP);
        assert!(!info.server_keep_alive);
        let old = ResponseRewrite {
            client_minor: 0,
            ..KEEP
        };
        let (_, out) = response(
            "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nConnection: keep-alive\r\n\r\n",
            old,
        );
        assert_eq!(
            out,
            "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nConnection: keep-alive\r\n\r\n"
        );
        let (info, _) = response("HTTP/1.1 100 Continue\r\n\r\n", KEEP);
        assert!(info.interim && !info.close_client);
        let up = ResponseRewrite {
            upgrade_requested: true,
            ..KEEP
        };
        let (info, out) = response(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
            up,
        );
        assert!(info.switching);
        assert_eq!(
            out,
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: upgrade\r\n\r\n"
        );
    }
}
