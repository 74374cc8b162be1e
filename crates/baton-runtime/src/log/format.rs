//! HAProxy's log-format language: `%ci:%cp [%tr] %ft ...`, compiled once at start-up into
//! nodes, rendered per line from a [`Record`].
//!
//! Rules as HAProxy 2.6 applies them: `%%` is a literal `%`; `%{+Q,-E}var` sets flags on one
//! variable, `%{+Q}o` on every following one; `Q` quotes strings and addresses (never numbers,
//! dates or termination states), `X` prints addresses and ports in hexadecimal, `E` escapes
//! `"`, `\` and `]`; runs of spaces are separators that collapse when a variable printed
//! nothing (so `%hr %hs` vanish without captures); an empty string prints `-` (`""` quoted);
//! request lines and captures escape non-printable bytes, `"` and `#` as `#XX`.
//! `%[expr]` samples are evaluated by [`super::sample`].

use super::clock::{self, civil};
use super::record::Record;
use baton_config::logformat::{self as lf, Flags, LogVar};
use baton_config::sample::SampleExpr;
use std::fmt::Write;

/// One piece of a format, ready to render.
#[derive(Debug, Clone)]
enum Node {
    /// Text printed as is.
    Literal(String),
    /// A run of spaces: one space, unless the previous output already ends with one.
    Separator,
    /// A variable, with its effective flags.
    Var(LogVar, Flags),
    /// A `%[sample]` expression, with its effective flags.
    Sample(SampleExpr, Flags),
}

/// A log-format string prepared for log lines (the parsed form comes from
/// [`baton_config::logformat`], shared with the HTTP rules).
#[derive(Debug, Clone)]
pub struct LogFormat {
    /// The pieces in order.
    nodes: Vec<Node>,
    /// Whether rendering needs the frontend's local address (`%fi`, `%fp`, samples).
    pub needs_local_addr: bool,
    /// Whether rendering needs the server connection's local address (`%bi`, `%bp`).
    pub needs_backend_source: bool,
}

/// What the process knows at render time, beyond the record.
#[derive(Debug, Clone, Copy)]
pub struct Context<'a> {
    /// Frontend name.
    pub frontend: &'a str,
    /// Host name (`%H`).
    pub hostname: &'a str,
    /// Process id.
    pub pid: u32,
    /// Connections in the process (`%ac`).
    pub actconn: u64,
    /// Connections on the frontend (`%fc`).
    pub feconn: u64,
    /// Lines this frontend has logged before (`%lc`).
    pub log_counter: u64,
}

impl LogFormat {
    /// Prepares a parsed format: literal spaces become separators.
    pub fn new(parsed: &lf::LogFormat) -> Self {
        let mut nodes = Vec::new();
        for node in &parsed.nodes {
            match node {
                lf::Node::Literal(text) => {
                    for (i, piece) in text.split(' ').enumerate() {
                        if i > 0 && !matches!(nodes.last(), Some(Node::Separator)) {
                            nodes.push(Node::Separator);
                        }
                        if !piece.is_empty() {
                            nodes.push(Node::Literal(piece.to_string()));
                        }
                    }
                }
                lf::Node::Var { var, flags } => nodes.push(Node::Var(*var, *flags)),
                lf::Node::Sample { expr, flags } => nodes.push(Node::Sample(expr.clone(), *flags)),
                lf::Node::Options(_) => {} // already folded into each node's flags
            }
        }
        let needs_local_addr = nodes.iter().any(|n| match n {
            Node::Var(v, _) => matches!(v, LogVar::FrontendIp | LogVar::FrontendPort),
            Node::Sample(..) => true,
            _ => false,
        });
        let needs_backend_source = nodes.iter().any(|n| {
            matches!(
                n,
                Node::Var(LogVar::BackendSourceIp | LogVar::BackendSourcePort, _)
            )
        });
        LogFormat {
            nodes,
            needs_local_addr,
            needs_backend_source,
        }
    }

    /// Parses and prepares a log-format string.
    pub fn compile(text: &str) -> Result<Self, String> {
        lf::parse_log_format(text).map(|f| Self::new(&f))
    }

    /// Renders one line (without any syslog header or newline) into `out`.
    pub fn render(&self, rec: &Record, ctx: &Context<'_>, out: &mut String) {
        // A leading separator is dropped, as after a variable that printed nothing.
        let mut last_space = true;
        for node in &self.nodes {
            match node {
                Node::Literal(s) => {
                    out.push_str(s);
                    last_space = false;
                }
                Node::Separator => {
                    if !last_space {
                        out.push(' ');
                        last_space = true;
                    }
                }
                Node::Var(v, flags) => {
                    let before = out.len();
                    render_var(*v, *flags, rec, ctx, out);
                    if out.len() > before {
                        last_space = false;
                    }
                }
                Node::Sample(expr, flags) => {
                    let value = super::sample::eval(expr, rec, ctx, flags.hex);
                    push_str(out, value.as_deref(), *flags, Escape::None);
                    last_space = false;
                }
            }
        }
    }
}

/// How a string's bytes are escaped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Escape {
    /// Printed as is.
    None,
    /// Non-printable bytes, `"` and `#` as `#XX` (request line).
    Request,
    /// Also `{`, `|`, `}` (header captures).
    Header,
}

/// Writes a string value: `-` when absent or empty, quoted with `Q`.
fn push_str(out: &mut String, value: Option<&str>, flags: Flags, escape: Escape) {
    let value = value.filter(|v| !v.is_empty());
    if flags.quote {
        out.push('"');
    }
    match value {
        None if !flags.quote => out.push('-'),
        None => {}
        Some(v) => {
            for ch in v.chars() {
                let b = ch as u32;
                let special = match escape {
                    Escape::None => false,
                    Escape::Request => !(32..127).contains(&b) || ch == '"' || ch == '#',
                    Escape::Header => {
                        !(32..127).contains(&b) || matches!(ch, '"' | '#' | '{' | '|' | '}')
                    }
                };
                if special && b < 256 {
                    let _ = write!(out, "#{b:02X}");
                } else if flags.escape && matches!(ch, '"' | '\\' | ']') {
                    out.push('\\');
                    out.push(ch);
                } else {
                    out.push(ch);
                }
            }
        }
    }
    if flags.quote {
        out.push('"');
    }
}

/// Writes an address: quoted with `Q`, hexadecimal with `X`.
fn push_ip(out: &mut String, ip: Option<std::net::IpAddr>, flags: Flags) {
    match ip {
        Some(std::net::IpAddr::V4(v4)) if flags.hex => {
            for b in v4.octets() {
                let _ = write!(out, "{b:02X}");
            }
        }
        Some(std::net::IpAddr::V6(v6)) if flags.hex => {
            for b in v6.octets() {
                let _ = write!(out, "{b:02X}");
            }
        }
        Some(ip) => push_str(out, Some(&ip.to_string()), flags, Escape::None),
        None => push_str(out, None, flags, Escape::None),
    }
}

/// Writes a port: a number, or hexadecimal with `X`.
fn push_port(out: &mut String, port: Option<u16>, flags: Flags) {
    match port {
        Some(p) if flags.hex => {
            let _ = write!(out, "{p:04X}");
        }
        Some(p) => {
            let _ = write!(out, "{p}");
        }
        None => out.push('-'),
    }
}

/// Writes a number.
fn push_num(out: &mut String, n: impl std::fmt::Display) {
    let _ = write!(out, "{n}");
}

/// `{a|b}` of header captures, or nothing when none are configured.
fn push_captures(out: &mut String, values: &[Option<String>], flags: Flags, list: bool) {
    if values.is_empty() {
        return;
    }
    if list {
        for (i, v) in values.iter().enumerate() {
            if i > 0 {
                out.push(' ');
            }
            push_str(out, v.as_deref(), flags, Escape::Header);
        }
        return;
    }
    if flags.quote {
        out.push('"');
    }
    out.push('{');
    let inner = Flags {
        quote: false,
        ..flags
    };
    for (i, v) in values.iter().enumerate() {
        if i > 0 {
            out.push('|');
        }
        if let Some(v) = v.as_deref() {
            push_str(out, Some(v), inner, Escape::Header);
        }
    }
    out.push('}');
    if flags.quote {
        out.push('"');
    }
}

/// Sum of timers, -1 when any is -1.
fn sum(parts: &[i64]) -> i64 {
    if parts.iter().any(|&p| p < 0) {
        -1
    } else {
        parts.iter().sum()
    }
}

/// Renders one variable.
fn render_var(v: LogVar, flags: Flags, rec: &Record, ctx: &Context<'_>, out: &mut String) {
    use LogVar::*;
    let req_date = rec.request_date.unwrap_or(rec.start);
    let req = rec.request.as_ref();
    match v {
        ClientIp => push_ip(out, Some(rec.client.ip()), flags),
        ClientPort => push_port(out, Some(rec.client.port()), flags),
        FrontendIp => push_ip(out, rec.local.map(|a| a.ip()), flags),
        FrontendPort => push_port(out, rec.local.map(|a| a.port()), flags),
        ServerIp => push_ip(out, rec.server_addr.map(|a| a.ip()), flags),
        ServerPort => push_port(out, rec.server_addr.map(|a| a.port()), flags),
        BackendSourceIp => push_ip(out, rec.backend_source.map(|a| a.ip()), flags),
        BackendSourcePort => push_port(out, rec.backend_source.map(|a| a.port()), flags),
        DateTime => civil(rec.start, false).write_clf_millis(out),
        GmtDate => civil(rec.start, true).write_clf_zone(out),
        LocalDate => civil(rec.start, false).write_clf_zone(out),
        RequestDate => civil(req_date, false).write_clf_millis(out),
        RequestDateGmt => civil(req_date, true).write_clf_zone(out),
        RequestDateLocal => civil(req_date, false).write_clf_zone(out),
        AcceptMillis => {
            let _ = write!(out, "{:03}", civil(rec.start, true).micros / 1000);
        }
        Timestamp if flags.hex => {
            let _ = write!(out, "{:08X}", clock::epoch(rec.start));
        }
        Timestamp => push_num(out, clock::epoch(rec.start)),
        FrontendName | FrontendNameTransport => {
            push_str(out, Some(ctx.frontend), flags, Escape::None)
        }
        BackendName => push_str(
            out,
            Some(rec.backend.as_deref().unwrap_or(ctx.frontend)),
            flags,
            Escape::None,
        ),
        ServerName => push_str(
            out,
            Some(rec.server.as_deref().unwrap_or("<NOSRV>")),
            flags,
            Escape::None,
        ),
        HandshakeTime => push_num(out, rec.th),
        IdleTime => push_num(out, rec.ti),
        RequestHeadTime => push_num(out, rec.treq),

        RequestTime => push_num(out, sum(&[rec.th, rec.ti, rec.treq])),
        WaitTime => push_num(out, rec.tw),
        ConnectTime => push_num(out, rec.tc),
        ResponseTime => push_num(out, rec.tresp),
        ActiveTime => push_num(out, rec.ta),
        TotalTime => push_num(out, rec.tt),
        DataTime => {
            let known = sum(&[rec.th, rec.ti, rec.treq, rec.tw, rec.tc, rec.tresp]);
            push_num(out, if known < 0 { -1 } else { rec.tt - known })
        }
        UserTime => push_num(
            out,
            sum(&[rec.tw, rec.tc, rec.tresp]).max(0) + rec.treq.max(0),
        ),
        Status => push_num(out, rec.status),
        BytesRead => push_num(out, rec.bytes_out),
        BytesUploaded => push_num(out, rec.bytes_in),
        CapturedRequestCookie | CapturedResponseCookie | UniqueId | SslCipher | SslVersion => {
            push_str(out, None, flags, Escape::None)
        }
        TerminationState => {
            out.push(rec.cause.code());
            out.push(rec.stage.code());
        }
        TerminationStateCookie => {
            out.push(rec.cause.code());
            out.push(rec.stage.code());
            out.push_str("--");
        }
        ActConn => push_num(out, ctx.actconn),
        FeConn => push_num(out, ctx.feconn),
        BeConn => push_num(out, rec.beconn),
        SrvConn => push_num(out, rec.srv_conn),
        Retries => push_num(out, rec.retries),
        // baton queues per backend only: nothing ever waits in a server's own queue.
        ServerQueue => push_num(out, 0),
        BackendQueue => push_num(out, rec.backend_queue),
        CapturedRequestHeaders => push_captures(out, &rec.req_captures, flags, false),
        CapturedResponseHeaders => push_captures(out, &rec.resp_captures, flags, false),
        CapturedRequestHeadersList => push_captures(out, &rec.req_captures, flags, true),
        CapturedResponseHeadersList => push_captures(out, &rec.resp_captures, flags, true),
        RequestLine => match req {
            Some(r) => {
                let line = format!("{} {} {}", r.method, r.uri, r.version);
                push_str(out, Some(&line), flags, Escape::Request)
            }
            None => push_str(out, Some("<BADREQ>"), flags, Escape::None),
        },
        HttpMethod => push_str(out, req.map(|r| r.method.as_str()), flags, Escape::Request),
        HttpUri => push_str(out, req.map(|r| r.uri.as_str()), flags, Escape::Request),
        HttpPath => {
            let p = req.map(|r| r.uri.split('?').next().unwrap_or(""));
            push_str(out, p, flags, Escape::Request)
        }
        HttpPathOnly => {
            let p = req.map(|r| path_only(&r.uri));
            push_str(out, p, flags, Escape::Request)
        }
        HttpQuery => {
            let q = req.and_then(|r| r.uri.find('?').map(|i| &r.uri[i..]));
            push_str(out, q, flags, Escape::Request)
        }
        HttpVersion => push_str(out, req.map(|r| r.version.as_str()), flags, Escape::Request),
        Pid => push_num(out, ctx.pid),
        Hostname => push_str(out, Some(ctx.hostname), flags, Escape::None),
        RequestCounter => push_num(out, rec.request_counter),
        LogCounter => push_num(out, ctx.log_counter),
    }
}

/// The path of a URI without scheme, authority or query (`%HPO`).
fn path_only(uri: &str) -> &str {
    let no_query = uri.split('?').next().unwrap_or("");
    match no_query.find("://") {
        Some(i) => {
            let rest = &no_query[i + 3..];
            rest.find('/').map_or("/", |j| &rest[j..])
        }
        None => no_query,
    }
}

#[cfg(test)]
mod tests {
    use super::super::record::{Cause, RequestLine, Stage};
    use super::*;
    use std::sync::Arc;
    use std::time::{Duration, Instant, UNIX_EPOCH};

    fn record() -> Record {
        let start = UNIX_EPOCH + Duration::from_millis(1_796_228_264_580);
        let mut r = Record::start("127.0.0.1:37652".parse().unwrap(), start, Instant::now());
        r.request_date = Some(start);
        r.local = Some("127.0.0.1:25083".parse().unwrap());
        (r.ti, r.treq, r.tw, r.tc, r.tresp, r.ta, r.tt) = (0, 0, 0, 0, 1, 1, 1);
        r.status = 404;
        r.bytes_out = 133;
        r.bytes_in = 83;
        r.backend = Some(Arc::from("be"));
        r.server = Some(Arc::from("s1"));
        r.server_addr = Some("127.0.0.1:25081".parse().unwrap());
        r.request = Some(RequestLine {
            method: "GET".into(),
            uri: "/missing?x=1".into(),
            version: "HTTP/1.1".into(),
        });
        r
    }

    fn ctx() -> Context<'static> {
        Context {
            frontend: "fe",
            hostname: "vm",
            pid: 25211,
            actconn: 1,
            feconn: 1,
            log_counter: 0,
        }
    }

    fn render(format: &str, rec: &Record) -> String {
        let f = LogFormat::compile(format).unwrap();
        let mut s = String::new();
        f.render(rec, &ctx(), &mut s);
        s
    }

    #[test]
    fn httplog_as_haproxy_writes_it() {
        let mut r = record();
        assert_eq!(
            render(baton_config::log_model::HTTPLOG_FORMAT, &r),
            "127.0.0.1:37652 [02/Dec/2026:16:17:44.580] fe be/s1 0/0/0/1/1 404 133 - - ---- 1/1/0/0/0 0/0 \"GET /missing?x=1 HTTP/1.1\""
        );
        r.req_captures = vec![Some("127.0.0.1:25080".into()), Some("curl/".into())];
        r.resp_captures = vec![Some("a".into())];
        assert!(render(baton_config::log_model::HTTPLOG_FORMAT, &r)
            .ends_with(" 0/0 {127.0.0.1:25080|curl/} {a} \"GET /missing?x=1 HTTP/1.1\""));
    }

    #[test]
    fn denied_and_bad_requests() {
        let mut r = record();
        (r.tw, r.tc, r.tresp) = (-1, -1, -1);
        r.backend = None;
        r.server = None;
        r.status = 403;
        r.end(Cause::Proxy, Stage::Request);
        let line = render(baton_config::log_model::HTTPLOG_FORMAT, &r);
        assert!(line.contains(" fe fe/<NOSRV> 0/-1/-1/-1/1 403 "), "{line}");
        assert!(line.contains(" PR-- "), "{line}");
        r.request = None;
        assert!(render("%r", &r) == "<BADREQ>");
        assert_eq!(render("%ts", &r), "PR");
    }

    #[test]
    fn clf_quotes_strings_not_numbers() {
        let r = record();
        assert_eq!(
            render(baton_config::log_model::CLF_FORMAT, &r),
            "127.0.0.1 - - [02/Dec/2026:16:17:44 +0000] \"GET /missing?x=1 HTTP/1.1\" 404 133 \"\" \"\" 37652 580 \"fe\" \"be\" \"s1\" 0 0 0 1 1 ---- 1 1 0 0 0 0 0 \"\" \"\" "
        );
    }

    #[test]
    fn flags_escapes_and_literals() {
        let mut r = record();
        r.req_captures = vec![Some("ex\"am ple".into()), None];
        assert_eq!(
            render("%{+Q}o %ci %cp %hr %hrl 100%% %{+X}ci %{+X}cp %ID", &r),
            "\"127.0.0.1\" 37652 \"{ex#22am ple|}\" \"ex#22am ple\" \"\" 100% 7F000001 9314 \"\""
        );
        assert_eq!(render("%{+E}HU", &r), "/missing?x=1");
        assert_eq!(
            render("%HP %HQ %HM %HV %fi:%fp", &r),
            "/missing ?x=1 GET HTTP/1.1 127.0.0.1:25083"
        );
        assert_eq!(render("a  %CC  b", &r), "a - b");
        assert_eq!(
            render("%[src] %{+Q}[dst_port] %[be_name] %[req.hdr(host)]", &r),
            "127.0.0.1 \"25083\" be -"
        );
        assert!(LogFormat::compile("%nope").unwrap_err().contains("nope"));
        assert!(LogFormat::compile("%{+Z}r").is_err());
        assert!(LogFormat::compile("%[src").is_err());
    }
}
