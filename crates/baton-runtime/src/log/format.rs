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
use super::sample::{self, Sample};
use std::fmt::Write;

/// A log-format variable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Var {
    ClientIp,
    ClientPort,
    FrontendIp,
    FrontendPort,
    ServerIp,
    ServerPort,
    BackendSourceIp,
    BackendSourcePort,
    Date,
    DateGmt,
    DateLocal,
    ReqDate,
    ReqDateGmt,
    ReqDateLocal,
    Millis,
    Timestamp,
    Frontend,
    FrontendTransport,
    Backend,
    Server,
    Th,
    Ti,
    TR,
    Tq,
    Tw,
    Tc,
    Tr,
    Ta,
    Tt,
    Td,
    Tu,
    Status,
    BytesOut,
    BytesIn,
    ReqCookie,
    RespCookie,
    TermState,
    TermStateCookie,
    ActConn,
    FeConn,
    BeConn,
    SrvConn,
    Retries,
    SrvQueue,
    BeQueue,
    ReqHeaders,
    RespHeaders,
    ReqHeadersList,
    RespHeadersList,
    Request,
    Method,
    Uri,
    Path,
    PathOnly,
    Query,
    Version,
    UniqueId,
    Pid,
    Hostname,
    RequestCounter,
    LogCounter,
}

/// Looks a variable name up.
fn var(name: &str) -> Option<Var> {
    use Var::*;
    Some(match name {
        "ci" => ClientIp,
        "cp" => ClientPort,
        "fi" => FrontendIp,
        "fp" => FrontendPort,
        "si" => ServerIp,
        "sp" => ServerPort,
        "bi" => BackendSourceIp,
        "bp" => BackendSourcePort,
        "t" => Date,
        "T" => DateGmt,
        "Tl" => DateLocal,
        "tr" => ReqDate,
        "trg" => ReqDateGmt,
        "trl" => ReqDateLocal,
        "ms" => Millis,
        "Ts" => Timestamp,
        "f" => Frontend,
        "ft" => FrontendTransport,
        "b" => Backend,
        "s" => Server,
        "Th" => Th,
        "Ti" => Ti,
        "TR" => TR,
        "Tq" => Tq,
        "Tw" => Tw,
        "Tc" => Tc,
        "Tr" => Tr,
        "Ta" => Ta,
        "Tt" => Tt,
        "Td" => Td,
        "Tu" => Tu,
        "ST" => Status,
        "B" => BytesOut,
        "U" => BytesIn,
        "CC" => ReqCookie,
        "CS" => RespCookie,
        "ts" => TermState,
        "tsc" => TermStateCookie,
        "ac" => ActConn,
        "fc" => FeConn,
        "bc" => BeConn,
        "sc" => SrvConn,
        "rc" => Retries,
        "sq" => SrvQueue,
        "bq" => BeQueue,
        "hr" => ReqHeaders,
        "hs" => RespHeaders,
        "hrl" => ReqHeadersList,
        "hsl" => RespHeadersList,
        "r" => Request,
        "HM" => Method,
        "HU" => Uri,
        "HP" => Path,
        "HPO" => PathOnly,
        "HQ" => Query,
        "HV" => Version,
        "ID" => UniqueId,
        "pid" => Pid,
        "H" => Hostname,
        "rt" => RequestCounter,
        "lc" => LogCounter,
        _ => return None,
    })
}

/// Output flags of a variable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
struct Flags {
    /// `Q`: quote strings.
    quote: bool,
    /// `X`: hexadecimal addresses and ports.
    hex: bool,
    /// `E`: backslash-escape `"`, `\` and `]`.
    escape: bool,
}

/// One compiled piece of a format.
#[derive(Debug, Clone)]
enum Node {
    /// Text printed as is.
    Literal(String),
    /// A run of spaces: one space, unless the previous output already ends with one.
    Separator,
    /// A variable.
    Var(Var, Flags),
    /// A `%[sample]` expression.
    Sample(Sample, Flags),
}

/// A compiled log-format string.
#[derive(Debug, Clone)]
pub struct LogFormat {
    /// The pieces in order.
    nodes: Vec<Node>,
    /// Whether rendering needs the frontend's local address (`%fi`, `%fp`, `dst` samples).
    pub needs_local_addr: bool,
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

/// Parses flags inside `{...}` onto `flags`.
fn parse_flags(text: &str, flags: &mut Flags) -> Result<(), String> {
    for item in text.split(',').filter(|s| !s.is_empty()) {
        let (on, name) = match item.as_bytes()[0] {
            b'+' => (true, &item[1..]),
            b'-' => (false, &item[1..]),
            _ => (true, item),
        };
        match name {
            "Q" => flags.quote = on,
            "X" => flags.hex = on,
            "E" => flags.escape = on,
            other => return Err(format!("unknown log-format flag '{other}'")),
        }
    }
    Ok(())
}

impl LogFormat {
    /// Compiles a log-format string.
    pub fn compile(text: &str) -> Result<Self, String> {
        let mut nodes = Vec::new();
        let mut defaults = Flags::default();
        let mut literal = String::new();
        let bytes = text.as_bytes();
        let mut i = 0;
        let flush = |literal: &mut String, nodes: &mut Vec<Node>| {
            if !literal.is_empty() {
                nodes.push(Node::Literal(std::mem::take(literal)));
            }
        };
        while i < bytes.len() {
            match bytes[i] {
                b' ' => {
                    flush(&mut literal, &mut nodes);
                    if !matches!(nodes.last(), Some(Node::Separator)) {
                        nodes.push(Node::Separator);
                    }
                    i += 1;
                }
                b'%' if bytes.get(i + 1) == Some(&b'%') => {
                    literal.push('%');
                    i += 2;
                }
                b'%' => {
                    flush(&mut literal, &mut nodes);
                    i += 1;
                    let mut flags = defaults;
                    let mut explicit = None;
                    if bytes.get(i) == Some(&b'{') {
                        let end = text[i..]
                            .find('}')
                            .ok_or("missing '}' after '%{' in log-format")?;
                        explicit = Some(&text[i + 1..i + end]);
                        parse_flags(&text[i + 1..i + end], &mut flags)?;
                        i += end + 1;
                    }
                    if bytes.get(i) == Some(&b'[') {
                        let end = text[i..]
                            .find(']')
                            .ok_or("missing ']' after '%[' in log-format")?;
                        let expr = sample::parse(&text[i + 1..i + end])?;
                        nodes.push(Node::Sample(expr, flags));
                        i += end + 1;
                        continue;
                    }
                    let start = i;
                    while i < bytes.len() && bytes[i].is_ascii_alphanumeric() {
                        i += 1;
                    }
                    let name = &text[start..i];
                    if name == "o" {
                        if let Some(e) = explicit {
                            parse_flags(e, &mut defaults)?;
                        }
                        continue;
                    }
                    if name.is_empty() {
                        return Err(format!("empty variable name after '%' at offset {start}"));
                    }
                    let v = var(name).ok_or_else(|| format!("no such format variable '{name}'"))?;
                    nodes.push(Node::Var(v, flags));
                }
                _ => {
                    let ch = text[i..].chars().next().unwrap_or(' ');
                    literal.push(ch);
                    i += ch.len_utf8();
                }
            }
        }
        flush(&mut literal, &mut nodes);
        let needs_local_addr = nodes.iter().any(|n| match n {
            Node::Var(v, _) => matches!(v, Var::FrontendIp | Var::FrontendPort),
            Node::Sample(s, _) => s.needs_local_addr(),
            _ => false,
        });
        Ok(LogFormat {
            nodes,
            needs_local_addr,
        })
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
                Node::Sample(s, flags) => {
                    let value = s.eval(rec, ctx);
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
fn render_var(v: Var, flags: Flags, rec: &Record, ctx: &Context<'_>, out: &mut String) {
    use Var::*;
    let req_date = rec.request_date.unwrap_or(rec.start);
    let req = rec.request.as_ref();
    match v {
        ClientIp => push_ip(out, Some(rec.client.ip()), flags),
        ClientPort => push_port(out, Some(rec.client.port()), flags),
        FrontendIp => push_ip(out, rec.local.map(|a| a.ip()), flags),
        FrontendPort => push_port(out, rec.local.map(|a| a.port()), flags),
        ServerIp => push_ip(out, rec.server_addr.map(|a| a.ip()), flags),
        ServerPort => push_port(out, rec.server_addr.map(|a| a.port()), flags),
        BackendSourceIp | BackendSourcePort => push_str(out, None, flags, Escape::None),
        Date => civil(rec.start, false).write_clf_millis(out),
        DateGmt => civil(rec.start, true).write_clf_zone(out),
        DateLocal => civil(rec.start, false).write_clf_zone(out),
        ReqDate => civil(req_date, false).write_clf_millis(out),
        ReqDateGmt => civil(req_date, true).write_clf_zone(out),
        ReqDateLocal => civil(req_date, false).write_clf_zone(out),
        Millis => {
            let _ = write!(out, "{:03}", civil(rec.start, true).micros / 1000);
        }
        Timestamp if flags.hex => {
            let _ = write!(out, "{:08X}", clock::epoch(rec.start));
        }
        Timestamp => push_num(out, clock::epoch(rec.start)),
        Frontend | FrontendTransport => push_str(out, Some(ctx.frontend), flags, Escape::None),
        Backend => push_str(
            out,
            Some(rec.backend.as_deref().unwrap_or(ctx.frontend)),
            flags,
            Escape::None,
        ),
        Server => push_str(
            out,
            Some(rec.server.as_deref().unwrap_or("<NOSRV>")),
            flags,
            Escape::None,
        ),
        Th => push_num(out, rec.th),
        Ti => push_num(out, rec.ti),
        TR => push_num(out, rec.treq),
        Tq => push_num(out, sum(&[rec.th, rec.ti, rec.treq])),
        Tw => push_num(out, rec.tw),
        Tc => push_num(out, rec.tc),
        Tr => push_num(out, rec.tresp),
        Ta => push_num(out, rec.ta),
        Tt => push_num(out, rec.tt),
        Td => {
            let known = sum(&[rec.th, rec.ti, rec.treq, rec.tw, rec.tc, rec.tresp]);
            push_num(out, if known < 0 { -1 } else { rec.tt - known })
        }
        Tu => push_num(
            out,
            sum(&[rec.tw, rec.tc, rec.tresp]).max(0) + rec.treq.max(0),
        ),
        Status => push_num(out, rec.status),
        BytesOut => push_num(out, rec.bytes_out),
        BytesIn => push_num(out, rec.bytes_in),
        ReqCookie | RespCookie | UniqueId => push_str(out, None, flags, Escape::None),
        TermState => {
            out.push(rec.cause.code());
            out.push(rec.stage.code());
        }
        TermStateCookie => {
            out.push(rec.cause.code());
            out.push(rec.stage.code());
            out.push_str("--");
        }
        ActConn => push_num(out, ctx.actconn),
        FeConn => push_num(out, ctx.feconn),
        BeConn => push_num(out, rec.beconn),
        SrvConn => push_num(out, rec.srv_conn),
        Retries => push_num(out, rec.retries),
        SrvQueue | BeQueue => push_num(out, 0),
        ReqHeaders => push_captures(out, &rec.req_captures, flags, false),
        RespHeaders => push_captures(out, &rec.resp_captures, flags, false),
        ReqHeadersList => push_captures(out, &rec.req_captures, flags, true),
        RespHeadersList => push_captures(out, &rec.resp_captures, flags, true),
        Request => match req {
            Some(r) => {
                let line = format!("{} {} {}", r.method, r.uri, r.version);
                push_str(out, Some(&line), flags, Escape::Request)
            }
            None => push_str(out, Some("<BADREQ>"), flags, Escape::None),
        },
        Method => push_str(out, req.map(|r| r.method.as_str()), flags, Escape::Request),
        Uri => push_str(out, req.map(|r| r.uri.as_str()), flags, Escape::Request),
        Path => {
            let p = req.map(|r| r.uri.split('?').next().unwrap_or(""));
            push_str(out, p, flags, Escape::Request)
        }
        PathOnly => {
            let p = req.map(|r| path_only(&r.uri));
            push_str(out, p, flags, Escape::Request)
        }
        Query => {
            let q = req.and_then(|r| r.uri.find('?').map(|i| &r.uri[i..]));
            push_str(out, q, flags, Escape::Request)
        }
        Version => push_str(out, req.map(|r| r.version.as_str()), flags, Escape::Request),
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
        assert!(LogFormat::compile("%nope").unwrap_err().contains("nope"));
        assert!(LogFormat::compile("%{+Z}r").is_err());
        assert!(LogFormat::compile("%[src").is_err());
    }
}
