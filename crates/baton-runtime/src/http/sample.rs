//! Evaluating sample expressions and rendering log-format strings against one HTTP exchange.
//!
//! The configuration crate parses `fetch,converter` expressions ([`baton_config::sample`]) and
//! log-format strings ([`baton_config::logformat`]); this module gives them values. An
//! [`Exchange`] borrows what one request has: the client and local addresses, the request and
//! (for `http-response` rules) response heads as indexed spans ([`super::view`]), variables,
//! the proxy names and the userlists. Fetches return borrowed [`Value`]s; only converters that
//! change bytes (`lower`, `field` of a borrowed value stays borrowed) allocate.
//!
//! API for other renderers (log lines):
//! - implement [`LogSource`] (`var` for `%X` variables, `sample` for `%[...]`); an [`Exchange`]
//!   already implements it for everything a request knows, and a log line can wrap one and
//!   answer the timing and counter variables itself before delegating;
//! - call [`render`] with a parsed [`LogFormat`] and an output buffer; missing values are
//!   written `-`, `+Q` quotes, `+E` escapes, `%o` sets default flags;
//! - [`write_value`] writes one [`Value`] the way a log line shows it.

use super::view::HeadView;
use crate::auth::Userlists;
use baton_config::logformat::{Flags, LogFormat, LogVar, Node};
use baton_config::sample::{Converter, Fetch, Occurrence, SampleExpr, Side};
use std::borrow::Cow;
use std::io::Write as _;
use std::net::{IpAddr, SocketAddr};

/// One sample value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value<'a> {
    /// true/false.
    Bool(bool),
    /// An integer.
    Int(i64),
    /// An address.
    Ip(IpAddr),
    /// Bytes, borrowed from the exchange when possible.
    Str(Cow<'a, [u8]>),
}

impl Value<'_> {
    /// The value as bytes, when it is a string.
    pub fn bytes(&self) -> Option<&[u8]> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    /// The value as an integer: integers, booleans, and strings of digits.
    pub fn int(&self) -> Option<i64> {
        match self {
            Value::Int(i) => Some(*i),
            Value::Bool(b) => Some(i64::from(*b)),
            Value::Str(s) => std::str::from_utf8(s).ok()?.trim().parse().ok(),
            Value::Ip(_) => None,
        }
    }

    /// The value as a boolean (non-zero integers and non-empty strings are true).
    pub fn truth(&self) -> bool {
        match self {
            Value::Bool(b) => *b,
            Value::Int(i) => *i != 0,
            Value::Str(s) => !s.is_empty(),
            Value::Ip(_) => true,
        }
    }

    /// The value as an address: addresses and strings holding one.
    pub fn ip(&self) -> Option<IpAddr> {
        match self {
            Value::Ip(ip) => Some(*ip),
            Value::Str(s) => std::str::from_utf8(s).ok()?.trim().parse().ok(),
            _ => None,
        }
    }

    /// An owned copy.
    pub fn into_owned(self) -> Value<'static> {
        match self {
            Value::Bool(b) => Value::Bool(b),
            Value::Int(i) => Value::Int(i),
            Value::Ip(ip) => Value::Ip(ip),
            Value::Str(s) => Value::Str(Cow::Owned(s.into_owned())),
        }
    }
}

/// Variables set by `set-var` during one request (`txn.`, `req.`, `res.` scopes; `sess.` and
/// `proc.` are kept for the request too, which is all baton's rules can observe).
#[derive(Debug, Default)]
pub struct Vars {
    /// Name and value, in the order set.
    entries: Vec<(String, Value<'static>)>,
}

impl Vars {
    /// Forgets every variable (between requests); keeps the capacity.
    pub fn clear(&mut self) {
        self.entries.clear();
    }

    /// Sets a variable.
    pub fn set(&mut self, name: &str, value: Value<'static>) {
        match self.entries.iter_mut().find(|(n, _)| n == name) {
            Some(slot) => slot.1 = value,
            None => self.entries.push((name.to_string(), value)),
        }
    }

    /// Reads a variable.
    pub fn get(&self, name: &str) -> Option<&Value<'static>> {
        self.entries.iter().find(|(n, _)| n == name).map(|(_, v)| v)
    }
}

/// What one HTTP exchange offers to fetches.
#[derive(Debug, Clone, Copy)]
pub struct Exchange<'a> {
    /// The client's address.
    pub client: SocketAddr,
    /// The address the client connected to, when known.
    pub local: Option<SocketAddr>,
    /// The request head (absent once it has been forwarded, for response rules).
    pub request: Option<HeadView<'a>>,
    /// The response head (response rules only).
    pub response: Option<HeadView<'a>>,
    /// Variables.
    pub vars: &'a Vars,
    /// The frontend's name.
    pub frontend: &'a str,
    /// The backend's name, once chosen (empty before).
    pub backend: &'a str,
    /// Userlists for `http_auth`.
    pub userlists: Option<&'a Userlists>,
}

impl<'a> Exchange<'a> {
    /// The head a header fetch reads.
    fn head(&self, side: Side) -> Option<HeadView<'a>> {
        match side {
            Side::Request => self.request,
            Side::Response => self.response,
        }
    }

    /// The groups of the user whose Basic credentials the request carries, if valid in `list`.
    pub fn auth_groups(&self, list: &str) -> Option<&'a [String]> {
        let header = self.request?.values(b"authorization", true).next()?;
        self.userlists?.authenticate(list, header)
    }
}

/// Calls `each` with every value of `fetch` (every comma-separated header value for
/// [`Occurrence::All`]); stops and returns true as soon as `each` does.
pub fn fetch_each<'a>(
    fetch: &Fetch,
    ex: &Exchange<'a>,
    each: &mut dyn FnMut(Value<'a>) -> bool,
) -> bool {
    match fetch {
        Fetch::Header {
            side,
            name,
            occurrence: Occurrence::All,
            full,
        } => {
            let Some(head) = ex.head(*side) else {
                return false;
            };
            for v in head.values(name.as_bytes(), *full) {
                if each(Value::Str(Cow::Borrowed(v))) {
                    return true;
                }
            }
            false
        }
        Fetch::HttpAuthGroup(list) => {
            let Some(groups) = ex.auth_groups(list) else {
                return false;
            };
            groups
                .iter()
                .any(|g| each(Value::Str(Cow::Borrowed(g.as_bytes()))))
        }
        other => match fetch_one(other, ex) {
            Some(v) => each(v),
            None => false,
        },
    }
}

/// The n-th (1-based, negative from the end) value of a header.
fn nth_value<'a>(head: HeadView<'a>, name: &str, n: i32, full: bool) -> Option<&'a [u8]> {
    let name = name.as_bytes();
    if n > 0 {
        head.values(name, full).nth(n as usize - 1)
    } else {
        let count = head.values(name, full).count();
        let back = n.unsigned_abs() as usize;
        (back >= 1 && back <= count)
            .then(|| head.values(name, full).nth(count - back))
            .flatten()
    }
}

/// One value of `fetch` (a header's last occurrence unless one is named).
pub fn fetch_one<'a>(fetch: &Fetch, ex: &Exchange<'a>) -> Option<Value<'a>> {
    let borrowed = |b: &'a [u8]| Value::Str(Cow::Borrowed(b));
    let port = |p: u16| Value::Int(i64::from(p));
    Some(match fetch {
        Fetch::Src => Value::Ip(canonical(ex.client.ip())),
        Fetch::SrcPort => port(ex.client.port()),
        Fetch::Dst => Value::Ip(canonical(ex.local?.ip())),
        Fetch::DstPort => port(ex.local?.port()),
        Fetch::Method => borrowed(ex.request?.line_part(0)),
        Fetch::Path => borrowed(ex.request?.path()),
        Fetch::Url => borrowed(ex.request?.uri()),
        Fetch::Query => borrowed(ex.request?.query()?),
        Fetch::PathQ => {
            let req = ex.request?;
            let start = req.path_span().start;
            borrowed(&req.bytes[start..req.uri_span().end])
        }
        Fetch::Base => {
            let req = ex.request?;
            let host = req.values(b"host", true).last().unwrap_or_default();
            let mut out = host.to_vec();
            out.extend_from_slice(req.path());
            Value::Str(Cow::Owned(out))
        }
        Fetch::ReqVer => {
            let v = ex.request?.line_part(2);
            borrowed(v.strip_prefix(b"HTTP/").unwrap_or(v))
        }
        Fetch::UrlIp | Fetch::UrlPort => {
            let (host, port_num) = url_authority(ex.request?.uri())?;
            match fetch {
                Fetch::UrlIp => Value::Ip(std::str::from_utf8(host).ok()?.parse().ok()?),
                _ => port(port_num),
            }
        }
        Fetch::Header {
            side,
            name,
            occurrence,
            full,
        } => {
            let head = ex.head(*side)?;
            let n = match occurrence {
                Occurrence::All => -1,
                Occurrence::Nth(n) => *n,
            };
            borrowed(nth_value(head, name, n, *full)?)
        }
        Fetch::HeaderCount { side, name } => {
            let head = ex.head(*side)?;
            let n = if name.is_empty() {
                head.index.headers.len()
            } else {
                head.values(name.as_bytes(), false).count()
            };
            Value::Int(n as i64)
        }
        Fetch::Status => Value::Int(i64::from(ex.response?.status())),
        Fetch::SslFc => Value::Bool(false),
        Fetch::FeName => borrowed(ex.frontend.as_bytes()),
        Fetch::BeName => borrowed(ex.backend.as_bytes()),
        Fetch::Var(name) => match ex.vars.get(name)? {
            Value::Str(s) => borrowed(s),
            other => other.clone(),
        },
        Fetch::Str(s) => borrowed_static_str(s),
        Fetch::Int(i) => Value::Int(*i),
        Fetch::Always(b) => Value::Bool(*b),
        Fetch::HttpAuth(list) => Value::Bool(ex.auth_groups(list).is_some()),
        Fetch::HttpAuthGroup(list) => borrowed(ex.auth_groups(list)?.first()?.as_bytes()),
    })
}

/// A configured constant.
fn borrowed_static_str(s: &str) -> Value<'static> {
    Value::Str(Cow::Owned(s.as_bytes().to_vec()))
}

/// IPv4-mapped IPv6 addresses as IPv4, as HAProxy shows clients of a dual-stack listener.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// Host and port of an absolute URI's authority (`http://host[:port]/...`).
fn url_authority(uri: &[u8]) -> Option<(&[u8], u16)> {
    let start = super::view::find(uri, b"://")? + 3;
    let rest = &uri[start..];
    let end = rest
        .iter()
        .position(|&b| b == b'/' || b == b'?')
        .unwrap_or(rest.len());
    let authority = &rest[..end];
    let authority = match authority.iter().position(|&b| b == b'@') {
        Some(at) => &authority[at + 1..],
        None => authority,
    };
    match authority.iter().rposition(|&b| b == b':') {
        Some(colon) if !authority.starts_with(b"[") || authority[..colon].ends_with(b"]") => {
            let port = std::str::from_utf8(&authority[colon + 1..])
                .ok()?
                .parse()
                .ok()?;
            Some((trim_brackets(&authority[..colon]), port))
        }
        _ => Some((trim_brackets(authority), 80)),
    }
}

/// `[::1]` → `::1`.
fn trim_brackets(host: &[u8]) -> &[u8] {
    host.strip_prefix(b"[")
        .and_then(|h| h.strip_suffix(b"]"))
        .unwrap_or(host)
}

/// Applies one converter.
pub fn convert<'a>(conv: &Converter, value: Value<'a>) -> Option<Value<'a>> {
    let text = |v: &Value<'a>| -> Vec<u8> {
        let mut out = Vec::new();
        write_value(v, Flags::default(), &mut out);
        out
    };
    Some(match conv {
        Converter::Lower | Converter::Upper => {
            let mut bytes = match value {
                Value::Str(s) => s.into_owned(),
                other => text(&other),
            };
            if matches!(conv, Converter::Lower) {
                bytes.make_ascii_lowercase();
            } else {
                bytes.make_ascii_uppercase();
            }
            Value::Str(Cow::Owned(bytes))
        }
        Converter::Length => Value::Int(match &value {
            Value::Str(s) => s.len() as i64,
            other => text(other).len() as i64,
        }),
        Converter::Base64 => {
            use base64::Engine as _;
            let bytes = match &value {
                Value::Str(s) => s.to_vec(),
                other => text(other),
            };
            let encoded = base64::engine::general_purpose::STANDARD.encode(bytes);
            Value::Str(Cow::Owned(encoded.into_bytes()))
        }
        Converter::Hex => {
            let bytes = match &value {
                Value::Str(s) => s.to_vec(),
                other => text(other),
            };
            let mut out = Vec::with_capacity(bytes.len() * 2);
            for b in bytes {
                let _ = write!(out, "{b:02X}");
            }
            Value::Str(Cow::Owned(out))
        }
        Converter::Field {
            index,
            delimiters,
            count,
        }
        | Converter::Word {
            index,
            delimiters,
            count,
        } => {
            let words = matches!(conv, Converter::Word { .. });
            let select = |s: &[u8]| -> Option<std::ops::Range<usize>> {
                field_span(s, delimiters.as_bytes(), *index, *count, words)
            };
            match value {
                Value::Str(Cow::Borrowed(s)) => Value::Str(Cow::Borrowed(&s[select(s)?])),
                Value::Str(Cow::Owned(s)) => {
                    let r = select(&s)?;
                    Value::Str(Cow::Owned(s[r].to_vec()))
                }
                other => {
                    let s = text(&other);
                    let r = select(&s)?;
                    Value::Str(Cow::Owned(s[r].to_vec()))
                }
            }
        }
    })
}

/// The span of fields `index..index+count` of `s` (1-based; negative from the end; count 0 =
/// to the end). With `words`, empty fields are skipped.
fn field_span(
    s: &[u8],
    delims: &[u8],
    index: i32,
    count: u32,
    words: bool,
) -> Option<std::ops::Range<usize>> {
    let mut spans: Vec<std::ops::Range<usize>> = Vec::new();
    let mut start = 0;
    for (i, b) in s.iter().enumerate() {
        if delims.contains(b) {
            spans.push(start..i);
            start = i + 1;
        }
    }
    spans.push(start..s.len());
    if words {
        spans.retain(|r| !r.is_empty());
    }
    let n = spans.len() as i64;
    let first = if index > 0 {
        i64::from(index) - 1
    } else {
        n + i64::from(index)
    };
    if first < 0 || first >= n {
        return None;
    }
    let last = if count == 0 {
        n - 1
    } else {
        (first + i64::from(count) - 1).min(n - 1)
    };
    Some(spans[first as usize].start..spans[last as usize].end)
}

/// Evaluates a whole expression to one value.
pub fn eval<'a>(expr: &SampleExpr, ex: &Exchange<'a>) -> Option<Value<'a>> {
    let mut value = fetch_one(&expr.fetch, ex)?;
    for conv in &expr.converters {
        value = convert(conv, value)?;
    }
    Some(value)
}

/// Writes a value as text (`+X`: integers in upper-case hexadecimal).
pub fn write_value(value: &Value<'_>, flags: Flags, out: &mut Vec<u8>) {
    match value {
        Value::Bool(b) => out.push(if *b { b'1' } else { b'0' }),
        Value::Int(i) if flags.hex => {
            let _ = write!(out, "{i:X}");
        }
        Value::Int(i) => {
            let _ = write!(out, "{i}");
        }
        Value::Ip(ip) => {
            let _ = write!(out, "{ip}");
        }
        Value::Str(s) => out.extend_from_slice(s),
    }
}

/// The source of values for [`render`].
pub trait LogSource {
    /// Writes the value of a `%X` variable; `false` when it has none (written `-`).
    fn var(&self, var: LogVar, flags: Flags, out: &mut Vec<u8>) -> bool;
    /// Writes the value of a `%[...]` expression; `false` when it has none.
    fn sample(&self, expr: &SampleExpr, flags: Flags, out: &mut Vec<u8>) -> bool;
}

impl LogSource for Exchange<'_> {
    fn var(&self, var: LogVar, _flags: Flags, out: &mut Vec<u8>) -> bool {
        let req = self.request;
        match var {
            LogVar::ClientIp => {
                let _ = write!(out, "{}", canonical(self.client.ip()));
            }
            LogVar::ClientPort => {
                let _ = write!(out, "{}", self.client.port());
            }
            LogVar::FrontendIp | LogVar::FrontendPort => {
                let Some(local) = self.local else {
                    return false;
                };
                if var == LogVar::FrontendIp {
                    let _ = write!(out, "{}", canonical(local.ip()));
                } else {
                    let _ = write!(out, "{}", local.port());
                }
            }
            LogVar::FrontendName | LogVar::FrontendNameTransport => {
                out.extend_from_slice(self.frontend.as_bytes())
            }
            LogVar::BackendName if !self.backend.is_empty() => {
                out.extend_from_slice(self.backend.as_bytes())
            }
            LogVar::HttpMethod => {
                out.extend_from_slice(req.map(|r| r.line_part(0)).unwrap_or_default())
            }
            LogVar::HttpUri => out.extend_from_slice(req.map(|r| r.uri()).unwrap_or_default()),
            LogVar::HttpPath | LogVar::HttpPathOnly => {
                let Some(r) = req else { return false };
                if var == LogVar::HttpPath {
                    let uri = r.uri();
                    let end = uri.iter().position(|&b| b == b'?').unwrap_or(uri.len());
                    out.extend_from_slice(&uri[..end]);
                } else {
                    out.extend_from_slice(r.path());
                }
            }
            LogVar::HttpQuery => {
                let Some(q) = req.and_then(|r| r.query()) else {
                    return true; // empty, not missing
                };
                out.push(b'?');
                out.extend_from_slice(q);
            }
            LogVar::HttpVersion => {
                out.extend_from_slice(req.map(|r| r.line_part(2)).unwrap_or_default())
            }
            LogVar::RequestLine => {
                let Some(r) = req else { return false };
                out.extend_from_slice(r.line_part(0));
                out.push(b' ');
                out.extend_from_slice(r.uri());
                out.push(b' ');
                out.extend_from_slice(r.line_part(2));
            }
            LogVar::Status => {
                let Some(res) = self.response else {
                    return false;
                };
                let _ = write!(out, "{}", res.status());
            }
            LogVar::Pid => {
                let _ = write!(out, "{}", std::process::id());
            }
            _ => return false,
        }
        true
    }

    fn sample(&self, expr: &SampleExpr, flags: Flags, out: &mut Vec<u8>) -> bool {
        match eval(expr, self) {
            Some(v) => {
                write_value(&v, flags, out);
                true
            }
            None => false,
        }
    }
}

/// Renders a log-format string into `out` (appending).
pub fn render(format: &LogFormat, source: &dyn LogSource, out: &mut Vec<u8>) {
    let mut defaults = Flags::default();
    for node in &format.nodes {
        let (flags, start) = match node {
            Node::Literal(text) => {
                out.extend_from_slice(text.as_bytes());
                continue;
            }
            Node::Options(f) => {
                defaults = *f;
                continue;
            }
            Node::Var { flags, .. } | Node::Sample { flags, .. } => {
                (merge(defaults, *flags), out.len())
            }
        };
        if flags.quote {
            out.push(b'"');
        }
        let value_start = out.len();
        let written = match node {
            Node::Var { var, .. } => source.var(*var, flags, out),
            Node::Sample { expr, .. } => source.sample(expr, flags, out),
            _ => unreachable!("handled above"),
        };
        if !written {
            out.truncate(start);
            out.push(b'-');
            continue;
        }
        if flags.escape {
            escape_from(out, value_start);
        }
        if flags.quote {
            out.push(b'"');
        }
    }
}

/// A node's flags: the parser already started them from the `%o` defaults (so that a `-Q`
/// can turn one off).
fn merge(_defaults: Flags, own: Flags) -> Flags {
    own
}

/// Backslash-escapes `"`, `\` and `]` written since `from`.
fn escape_from(out: &mut Vec<u8>, from: usize) {
    if !out[from..].iter().any(|b| matches!(b, b'"' | b'\\' | b']')) {
        return;
    }
    let tail = out.split_off(from);
    for b in tail {
        if matches!(b, b'"' | b'\\' | b']') {
            out.push(b'\\');
        }
        out.push(b);
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::http::view::HeadIndex;
    use baton_config::logformat::parse_log_format;
    use baton_config::sample::parse_sample;

    /// Runs `f` on an exchange for the request head `text` from `client` (shared with the
    /// rules tests).
    pub(crate) fn with_request_from<R>(
        text: &str,
        client: &str,
        f: impl FnOnce(&Exchange<'_>) -> R,
    ) -> R {
        let buf = text.as_bytes().to_vec();
        let mut index = HeadIndex::default();
        index.index(&buf);
        let vars = Vars::default();
        let ex = Exchange {
            client: client.parse().unwrap(),
            local: Some("127.0.0.1:80".parse().unwrap()),
            request: Some(HeadView {
                bytes: &buf,
                index: &index,
            }),
            response: None,
            vars: &vars,
            frontend: "fe",
            backend: "",
            userlists: None,
        };
        f(&ex)
    }

    fn with_request<R>(text: &str, f: impl FnOnce(&Exchange<'_>) -> R) -> R {
        with_request_from(text, "10.0.0.1:4000", f)
    }

    fn value(text: &str, expr: &str) -> Option<Vec<u8>> {
        with_request(text, |ex| {
            eval(&parse_sample(expr).unwrap(), ex).map(|v| {
                let mut out = Vec::new();
                write_value(&v, Flags::default(), &mut out);
                out
            })
        })
    }

    const REQ: &str = "GET /a/b.c?x=1 HTTP/1.1\r\nHost: Example.com\r\nX-L: a, b\r\nX-L: c\r\n";

    #[test]
    fn fetches() {
        assert_eq!(value(REQ, "path").unwrap(), b"/a/b.c");
        assert_eq!(value(REQ, "query").unwrap(), b"x=1");
        assert_eq!(value(REQ, "url").unwrap(), b"/a/b.c?x=1");
        assert_eq!(value(REQ, "base").unwrap(), b"Example.com/a/b.c");
        assert_eq!(value(REQ, "hdr(x-l)").unwrap(), b"c");
        assert_eq!(value(REQ, "hdr(x-l,1)").unwrap(), b"a");
        assert_eq!(value(REQ, "req.fhdr(x-l,1)").unwrap(), b"a, b");
        assert_eq!(value(REQ, "hdr_cnt(x-l)").unwrap(), b"3");
        assert_eq!(value(REQ, "src").unwrap(), b"10.0.0.1");
        assert_eq!(value(REQ, "dst_port").unwrap(), b"80");
        assert_eq!(value(REQ, "req.ver").unwrap(), b"1.1");
        assert_eq!(value(REQ, "ssl_fc").unwrap(), b"0");
        assert_eq!(value(REQ, "hdr(nope)"), None);
        assert_eq!(
            value("GET http://1.2.3.4:81/x HTTP/1.1\r\n", "url_ip").unwrap(),
            b"1.2.3.4"
        );
        assert_eq!(
            value("GET http://1.2.3.4:81/x HTTP/1.1\r\n", "url_port").unwrap(),
            b"81"
        );
    }

    #[test]
    fn converters() {
        assert_eq!(value(REQ, "hdr(host),lower").unwrap(), b"example.com");
        assert_eq!(value(REQ, "path,field(2,/)").unwrap(), b"a");
        assert_eq!(value(REQ, "path,field(-1,.)").unwrap(), b"c");
        assert_eq!(value(REQ, "path,field(2,/,0)").unwrap(), b"a/b.c");
        assert_eq!(value(REQ, "path,word(1,/)").unwrap(), b"a");
        assert_eq!(value(REQ, "path,length").unwrap(), b"6");
        assert_eq!(value(REQ, "str(ab),hex").unwrap(), b"6162");
        assert_eq!(value(REQ, "str(ab),base64").unwrap(), b"YWI=");
        assert_eq!(value(REQ, "path,field(9,/)"), None);
    }

    #[test]
    fn rendering() {
        let fmt =
            parse_log_format("%ci:%cp %{+Q}r %[hdr(host)] %[hdr(none)] %HP%HQ %f %b").unwrap();
        let out = with_request(REQ, |ex| {
            let mut out = Vec::new();
            render(&fmt, ex, &mut out);
            out
        });
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "10.0.0.1:4000 \"GET /a/b.c?x=1 HTTP/1.1\" Example.com - /a/b.c?x=1 fe -"
        );
        let fmt = parse_log_format("%{+Q,+E}[str(a\\\\b)]").unwrap();
        let out = with_request(REQ, |ex| {
            let mut out = Vec::new();
            render(&fmt, ex, &mut out);
            out
        });
        assert_eq!(out, b"\"a\\\\b\"");
    }
}
