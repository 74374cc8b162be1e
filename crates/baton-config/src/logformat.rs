//! Log-format strings: the `%ci:%cp [%t] %[hdr(host)]` templates that `log-format`,
//! `http-request set-header`, `return lf-string`, `redirect` and dynamic `use_backend` take.
//!
//! A string is parsed once, at load, into a [`LogFormat`]: literal runs, `%X` variables
//! ([`LogVar`], HAProxy 2.6's full list, so that every documented variable parses even where
//! the runtime has nothing to say and writes `-`), and `%[...]` sample expressions
//! ([`crate::sample`]), each with its `%{+Q}`-style [`Flags`].
//!
//! API for renderers (the runtime's `http::sample::render`, and log lines):
//! - [`parse_log_format`] turns the text into a [`LogFormat`] or a message for `file:line`.
//! - [`LogFormat::nodes`] are rendered in order: [`Node::Literal`] as is, [`Node::Var`] by the
//!   renderer's own knowledge of the variable, [`Node::Sample`] by evaluating the expression;
//!   a value that is missing is written `-`; [`Flags::quote`] wraps a value in `"`, `%o`
//!   ([`Node::Options`]) sets the default flags for the rest of the string.
//! - [`LogFormat::as_literal`] says whether a string is constant (no rendering needed).
//! - [`LogVar::name`] and [`LogVar::ALL`] list the variables (documentation, tests).

use crate::sample::{parse_sample, SampleExpr};

/// HAProxy 2.6's log-format variables (the `%X` names).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LogVar {
    /// `%B`: bytes read from the server.
    BytesRead,
    /// `%CC`: captured request cookie.
    CapturedRequestCookie,
    /// `%CS`: captured response cookie.
    CapturedResponseCookie,
    /// `%H`: host name of the machine.
    Hostname,
    /// `%HM`: HTTP method.
    HttpMethod,
    /// `%HP`: request URI without the query string (path-only for relative URIs).
    HttpPath,
    /// `%HPO`: path only, even for absolute URIs.
    HttpPathOnly,
    /// `%HQ`: query string, with its `?`.
    HttpQuery,
    /// `%HU`: request URI.
    HttpUri,
    /// `%HV`: HTTP version (`HTTP/1.1`).
    HttpVersion,
    /// `%ID`: unique id.
    UniqueId,
    /// `%ST`: status code.
    Status,
    /// `%T`: GMT date.
    GmtDate,
    /// `%Ta`: active time of the request (ms).
    ActiveTime,
    /// `%Tc`: time to connect to the server (ms).
    ConnectTime,
    /// `%Td`: data transfer time (ms).
    DataTime,
    /// `%Th`: handshake time (ms).
    HandshakeTime,
    /// `%Ti`: idle time before the request (ms).
    IdleTime,
    /// `%Tl`: local date.
    LocalDate,
    /// `%Tq`: time to receive the request head, handshake and idle included (ms).
    RequestTime,
    /// `%TR`: time to receive the request head from its first byte (ms).
    RequestHeadTime,
    /// `%Tr`: server response time (ms).
    ResponseTime,
    /// `%Ts`: timestamp (seconds since the epoch).
    Timestamp,
    /// `%Tt`: total session time (ms).
    TotalTime,
    /// `%Tu`: total time as seen by the user (ms).
    UserTime,
    /// `%Tw`: time waiting in queues (ms).
    WaitTime,
    /// `%U`: bytes uploaded by the client.
    BytesUploaded,
    /// `%ac`: active connections of the process.
    ActConn,
    /// `%b`: backend name.
    BackendName,
    /// `%bc`: active connections of the backend.
    BeConn,
    /// `%bi`: source address of the connection to the server.
    BackendSourceIp,
    /// `%bp`: source port of the connection to the server.
    BackendSourcePort,
    /// `%bq`: backend queue length.
    BackendQueue,
    /// `%ci`: client address.
    ClientIp,
    /// `%cp`: client port.
    ClientPort,
    /// `%f`: frontend name.
    FrontendName,
    /// `%fc`: active connections of the frontend.
    FeConn,
    /// `%fi`: address the client connected to.
    FrontendIp,
    /// `%fp`: port the client connected to.
    FrontendPort,
    /// `%ft`: frontend name with `~` for TLS.
    FrontendNameTransport,
    /// `%hr`: captured request headers.
    CapturedRequestHeaders,
    /// `%hrl`: captured request headers, as a list.
    CapturedRequestHeadersList,
    /// `%hs`: captured response headers.
    CapturedResponseHeaders,
    /// `%hsl`: captured response headers, as a list.
    CapturedResponseHeadersList,
    /// `%lc`: frontend log counter.
    LogCounter,
    /// `%ms`: milliseconds of the accept date.
    AcceptMillis,
    /// `%pid`: process id.
    Pid,
    /// `%r`: request line.
    RequestLine,
    /// `%rc`: retries.
    Retries,
    /// `%rt`: request counter.
    RequestCounter,
    /// `%s`: server name.
    ServerName,
    /// `%sc`: active connections of the server.
    SrvConn,
    /// `%si`: server address.
    ServerIp,
    /// `%sp`: server port.
    ServerPort,
    /// `%sq`: server queue length.
    ServerQueue,
    /// `%sslc`: TLS cipher.
    SslCipher,
    /// `%sslv`: TLS version.
    SslVersion,
    /// `%t`: accept date, `dd/Mon/yyyy:HH:MM:SS.mmm`.
    DateTime,
    /// `%tr`: request date.
    RequestDate,
    /// `%trg`: request date, GMT.
    RequestDateGmt,
    /// `%trl`: request date, local.
    RequestDateLocal,
    /// `%ts`: termination state.
    TerminationState,
    /// `%tsc`: termination state with cookie status.
    TerminationStateCookie,
}

impl LogVar {
    /// Every variable, with its name.
    pub const ALL: &'static [(&'static str, LogVar)] = &[
        ("B", LogVar::BytesRead),
        ("CC", LogVar::CapturedRequestCookie),
        ("CS", LogVar::CapturedResponseCookie),
        ("H", LogVar::Hostname),
        ("HM", LogVar::HttpMethod),
        ("HP", LogVar::HttpPath),
        ("HPO", LogVar::HttpPathOnly),
        ("HQ", LogVar::HttpQuery),
        ("HU", LogVar::HttpUri),
        ("HV", LogVar::HttpVersion),
        ("ID", LogVar::UniqueId),
        ("ST", LogVar::Status),
        ("T", LogVar::GmtDate),
        ("Ta", LogVar::ActiveTime),
        ("Tc", LogVar::ConnectTime),
        ("Td", LogVar::DataTime),
        ("Th", LogVar::HandshakeTime),
        ("Ti", LogVar::IdleTime),
        ("Tl", LogVar::LocalDate),
        ("Tq", LogVar::RequestTime),
        ("TR", LogVar::RequestHeadTime),
        ("Tr", LogVar::ResponseTime),
        ("Ts", LogVar::Timestamp),
        ("Tt", LogVar::TotalTime),
        ("Tu", LogVar::UserTime),
        ("Tw", LogVar::WaitTime),
        ("U", LogVar::BytesUploaded),
        ("ac", LogVar::ActConn),
        ("b", LogVar::BackendName),
        ("bc", LogVar::BeConn),
        ("bi", LogVar::BackendSourceIp),
        ("bp", LogVar::BackendSourcePort),
        ("bq", LogVar::BackendQueue),
        ("ci", LogVar::ClientIp),
        ("cp", LogVar::ClientPort),
        ("f", LogVar::FrontendName),
        ("fc", LogVar::FeConn),
        ("fi", LogVar::FrontendIp),
        ("fp", LogVar::FrontendPort),
        ("ft", LogVar::FrontendNameTransport),
        ("hr", LogVar::CapturedRequestHeaders),
        ("hrl", LogVar::CapturedRequestHeadersList),
        ("hs", LogVar::CapturedResponseHeaders),
        ("hsl", LogVar::CapturedResponseHeadersList),
        ("lc", LogVar::LogCounter),
        ("ms", LogVar::AcceptMillis),
        ("pid", LogVar::Pid),
        ("r", LogVar::RequestLine),
        ("rc", LogVar::Retries),
        ("rt", LogVar::RequestCounter),
        ("s", LogVar::ServerName),
        ("sc", LogVar::SrvConn),
        ("si", LogVar::ServerIp),
        ("sp", LogVar::ServerPort),
        ("sq", LogVar::ServerQueue),
        ("sslc", LogVar::SslCipher),
        ("sslv", LogVar::SslVersion),
        ("t", LogVar::DateTime),
        ("tr", LogVar::RequestDate),
        ("trg", LogVar::RequestDateGmt),
        ("trl", LogVar::RequestDateLocal),
        ("ts", LogVar::TerminationState),
        ("tsc", LogVar::TerminationStateCookie),
    ];

    /// The variable called `name` (without the `%`).
    pub fn from_name(name: &str) -> Option<LogVar> {
        LogVar::ALL
            .iter()
            .find(|(n, _)| *n == name)
            .map(|&(_, v)| v)
    }

    /// Its name (without the `%`).
    pub fn name(self) -> &'static str {
        LogVar::ALL
            .iter()
            .find(|(_, v)| *v == self)
            .map_or("?", |(n, _)| n)
    }
}

/// The `%{...}` options of one node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Flags {
    /// `+Q`: wrap the value in double quotes.
    pub quote: bool,
    /// `+X`: write numbers in hexadecimal.
    pub hex: bool,
    /// `+E`: escape `"`, `\` and `]` with a backslash.
    pub escape: bool,
}

/// One piece of a log-format string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Node {
    /// Text written as is.
    Literal(String),
    /// A `%X` variable.
    Var {
        /// Which.
        var: LogVar,
        /// Its options.
        flags: Flags,
    },
    /// A `%[...]` sample expression.
    Sample {
        /// The expression.
        expr: SampleExpr,
        /// Its options.
        flags: Flags,
    },
    /// `%{+Q}o`: these options become the default for the nodes that follow.
    Options(Flags),
}

/// A parsed log-format string.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LogFormat {
    /// The pieces, in order.
    pub nodes: Vec<Node>,
    /// The text as written.
    pub text: String,
}

impl LogFormat {
    /// The constant text, when the string has no variable or sample.
    pub fn as_literal(&self) -> Option<&str> {
        match self.nodes.as_slice() {
            [] => Some(""),
            [Node::Literal(s)] => Some(s),
            _ => None,
        }
    }

    /// Every sample expression in it.
    pub fn samples(&self) -> impl Iterator<Item = &SampleExpr> {
        self.nodes.iter().filter_map(|n| match n {
            Node::Sample { expr, .. } => Some(expr),
            _ => None,
        })
    }
}

/// Parses `%{+Q,-X}` option text (without the braces), starting from `base`.
fn parse_flags(text: &str, mut flags: Flags) -> Result<Flags, String> {
    let mut rest = text;
    while !rest.is_empty() {
        rest = rest.trim_start_matches(',');
        let (on, tail) = match rest.as_bytes().first() {
            Some(b'+') => (true, &rest[1..]),
            Some(b'-') => (false, &rest[1..]),
            _ => {
                return Err(format!(
                    "invalid log-format option '{text}' (expects +X or -X)"
                ))
            }
        };
        let end = tail.find([',', '+', '-']).unwrap_or(tail.len());
        match &tail[..end] {
            "Q" => flags.quote = on,
            "X" => flags.hex = on,
            "E" => flags.escape = on,
            other => return Err(format!("unknown log-format option '{other}'")),
        }
        rest = &tail[end..];
    }
    Ok(flags)
}

/// Parses a log-format string.
pub fn parse_log_format(text: &str) -> Result<LogFormat, String> {
    let mut nodes = Vec::new();
    let mut literal = String::new();
    let mut rest = text;
    // Each node's flags start from the `%o` defaults, so `%{-Q}ci` can turn one off.
    let mut defaults = Flags::default();
    while let Some(at) = rest.find('%') {
        literal.push_str(&rest[..at]);
        rest = &rest[at + 1..];
        if let Some(tail) = rest.strip_prefix('%') {
            literal.push('%');
            rest = tail;
            continue;
        }
        let mut flags = defaults;
        if let Some(tail) = rest.strip_prefix('{') {
            let close = tail
                .find('}')
                .ok_or_else(|| format!("missing '}}' after '%{{' in '{text}'"))?;
            flags = parse_flags(&tail[..close], flags)?;
            rest = &tail[close + 1..];
        }
        if !literal.is_empty() {
            nodes.push(Node::Literal(std::mem::take(&mut literal)));
        }
        if let Some(tail) = rest.strip_prefix('[') {
            // The expression ends at the matching ']' (brackets may nest in arguments).
            let mut depth = 1;
            let mut end = None;
            for (i, b) in tail.bytes().enumerate() {
                match b {
                    b'[' => depth += 1,
                    b']' => {
                        depth -= 1;
                        if depth == 0 {
                            end = Some(i);
                            break;
                        }
                    }
                    _ => {}
                }
            }
            let end = end.ok_or_else(|| format!("missing ']' after '%[' in '{text}'"))?;
            let expr = parse_sample(&tail[..end]).map_err(|e| {
                format!("failed to parse sample expression <{}> : {e}", &tail[..end])
            })?;
            nodes.push(Node::Sample { expr, flags });
            rest = &tail[end + 1..];
            continue;
        }
        let len = rest.bytes().take_while(u8::is_ascii_alphabetic).count();
        let name = &rest[..len];
        if name.is_empty() {
            return Err(format!(
                "unexpected end of variable name after '%' in '{text}'"
            ));
        }
        if name == "o" {
            defaults = flags;
            nodes.push(Node::Options(flags));
        } else {
            let var = LogVar::from_name(name)
                .ok_or_else(|| format!("no such format variable '{name}' in '{text}'"))?;
            nodes.push(Node::Var { var, flags });
        }
        rest = &rest[len..];
    }
    literal.push_str(rest);
    if !literal.is_empty() {
        nodes.push(Node::Literal(literal));
    }
    Ok(LogFormat {
        nodes,
        text: text.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sample::Fetch;

    #[test]
    fn literals_variables_and_samples() {
        let f = parse_log_format("%ci:%cp [%t] %{+Q}r %[src] 100%%").unwrap();
        assert_eq!(f.nodes.len(), 10, "{:?}", f.nodes);
        assert_eq!(
            f.nodes[0],
            Node::Var {
                var: LogVar::ClientIp,
                flags: Flags::default()
            }
        );
        assert_eq!(f.nodes[1], Node::Literal(":".into()));
        assert!(matches!(
            &f.nodes[6],
            Node::Var { var: LogVar::RequestLine, flags } if flags.quote
        ));
        assert!(matches!(&f.nodes[8], Node::Sample { expr, .. } if expr.fetch == Fetch::Src));
        assert_eq!(f.nodes[9], Node::Literal(" 100%".into()));
        assert_eq!(parse_log_format("abc").unwrap().as_literal(), Some("abc"));
        assert!(parse_log_format("%[src]").unwrap().as_literal().is_none());
        assert!(matches!(
            parse_log_format("%{+Q}o %t").unwrap().nodes[0],
            Node::Options(Flags { quote: true, .. })
        ));
    }

    #[test]
    fn every_variable_parses() {
        for (name, var) in LogVar::ALL {
            let f = parse_log_format(&format!("%{name} ")).unwrap();
            assert_eq!(
                f.nodes[0],
                Node::Var {
                    var: *var,
                    flags: Flags::default()
                }
            );
            assert_eq!(var.name(), *name);
        }
    }

    #[test]
    fn corpus_json_format_parses() {
        let text = r#"{"time":"%t", "client_ip": "%ci", "backend_source_ip": "%bi", "tw": "%Tw", "termination_state": "%ts", "srv_queue": "%sq" }"#;
        assert!(parse_log_format(text).is_ok());
    }

    #[test]
    fn errors() {
        assert!(parse_log_format("%zz")
            .unwrap_err()
            .contains("no such format variable"));
        assert!(parse_log_format("%[src")
            .unwrap_err()
            .contains("missing ']'"));
        assert!(parse_log_format("%[nope]")
            .unwrap_err()
            .contains("unknown fetch"));
        assert!(parse_log_format("%{+Z}r").is_err());
        assert!(parse_log_format("%").is_err());
    }
}
