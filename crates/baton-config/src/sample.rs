//! Sample expressions: `fetch(args),converter(args),...` as ACLs, `%[...]` in log-format
//! strings, `set-var` and dynamic `use_backend` write them.
//!
//! A sample fetch reads one fact about the connection or the HTTP exchange (the client address,
//! the path, a header...); converters transform it. Parsing happens once, at load, into the
//! typed [`SampleExpr`]; the runtime evaluates it (crate `baton-runtime`, module
//! `http::sample`). Only the fetches and converters listed here exist: anything else is refused
//! with a message naming it, so a configuration never silently means something else.

use std::fmt;

/// What a fetch or converter produces (HAProxy's sample types, merged where baton needs no
/// distinction).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SampleType {
    /// true/false.
    Bool,
    /// A signed integer.
    Int,
    /// An IPv4 or IPv6 address.
    Ip,
    /// Bytes (strings, header values, paths).
    Str,
}

impl SampleType {
    /// The name HAProxy uses in messages.
    pub fn name(self) -> &'static str {
        match self {
            SampleType::Bool => "bool",
            SampleType::Int => "sint",
            SampleType::Ip => "ip",
            SampleType::Str => "str",
        }
    }
}

/// Which occurrence of a header a fetch returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Occurrence {
    /// Every value (ACL matching tries each; as a single sample: the last one).
    All,
    /// The n-th value (1-based; negative counts from the end, -1 = last).
    Nth(i32),
}

/// Which message a header fetch reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// The request (`hdr`, `req.hdr`, `req.fhdr`).
    Request,
    /// The response (`res.hdr`, `shdr`, `res.fhdr`).
    Response,
}

/// One sample fetch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fetch {
    /// `src`: the client's address.
    Src,
    /// `src_port`: the client's port.
    SrcPort,
    /// `dst`: the address the client connected to.
    Dst,
    /// `dst_port`: the port the client connected to.
    DstPort,
    /// `method`: the request method.
    Method,
    /// `path`: the URI's path (without the query string).
    Path,
    /// `url`: the URI as received.
    Url,
    /// `query`: the query string, without the `?`.
    Query,
    /// `pathq`: path and query string.
    PathQ,
    /// `base`: the Host header followed by the path.
    Base,
    /// `req.ver`: the request's HTTP version (`1.1`).
    ReqVer,
    /// `url_ip`: the IP address of an absolute URI's authority.
    UrlIp,
    /// `url_port`: the port of an absolute URI's authority (80 when absent).
    UrlPort,
    /// `hdr`, `req.hdr`, `req.fhdr`, `res.hdr`, `shdr`, `res.fhdr`.
    Header {
        /// Request or response.
        side: Side,
        /// Header name (matched without case).
        name: String,
        /// Which occurrence.
        occurrence: Occurrence,
        /// `fhdr`: values are not split at commas.
        full: bool,
    },
    /// `hdr_cnt`, `req.hdr_cnt`, `res.hdr_cnt`: how many values a header has.
    HeaderCount {
        /// Request or response.
        side: Side,
        /// Header name; empty counts every header.
        name: String,
    },
    /// `status`: the response status code.
    Status,
    /// `ssl_fc`: whether the client connection uses TLS (always false: baton has no TLS).
    SslFc,
    /// `fe_name`: the frontend's name.
    FeName,
    /// `be_name`: the backend's name (empty before one is chosen).
    BeName,
    /// `var(scope.name)`.
    Var(String),
    /// `str(text)`: a constant.
    Str(String),
    /// `int(n)`: a constant.
    Int(i64),
    /// `always_true` / `always_false`.
    Always(bool),
    /// `http_auth(userlist)`: the request's Basic credentials are valid in this userlist.
    HttpAuth(String),
    /// `http_auth_group(userlist)`: the groups of the authenticated user (for ACLs).
    HttpAuthGroup(String),
}

impl Fetch {
    /// The type of the value it produces.
    pub fn output(&self) -> SampleType {
        match self {
            Fetch::Src | Fetch::Dst | Fetch::UrlIp => SampleType::Ip,
            Fetch::SrcPort
            | Fetch::DstPort
            | Fetch::UrlPort
            | Fetch::HeaderCount { .. }
            | Fetch::Status
            | Fetch::Int(_) => SampleType::Int,
            Fetch::SslFc | Fetch::Always(_) | Fetch::HttpAuth(_) => SampleType::Bool,
            _ => SampleType::Str,
        }
    }

    /// Whether it reads the response (only usable in `http-response` rules).
    pub fn needs_response(&self) -> bool {
        matches!(
            self,
            Fetch::Status
                | Fetch::Header {
                    side: Side::Response,
                    ..
                }
                | Fetch::HeaderCount {
                    side: Side::Response,
                    ..
                }
        )
    }

    /// Whether it reads the request line or headers (not available to `http-response` rules,
    /// whose request has already been forwarded).
    pub fn needs_request(&self) -> bool {
        matches!(
            self,
            Fetch::Method
                | Fetch::Path
                | Fetch::Url
                | Fetch::Query
                | Fetch::PathQ
                | Fetch::Base
                | Fetch::ReqVer
                | Fetch::UrlIp
                | Fetch::UrlPort
                | Fetch::HttpAuth(_)
                | Fetch::HttpAuthGroup(_)
                | Fetch::Header {
                    side: Side::Request,
                    ..
                }
                | Fetch::HeaderCount {
                    side: Side::Request,
                    ..
                }
        )
    }
}

/// One converter applied to a sample.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Converter {
    /// `lower`: ASCII lower case.
    Lower,
    /// `upper`: ASCII upper case.
    Upper,
    /// `field(index,delimiters[,count])`: the index-th field (1-based; negative from the end).
    Field {
        /// Which field.
        index: i32,
        /// Any of these bytes separates fields.
        delimiters: String,
        /// How many fields from there (0 = all the rest).
        count: u32,
    },
    /// `word(index,delimiters[,count])`: like `field`, but runs of delimiters count as one.
    Word {
        /// Which word.
        index: i32,
        /// Any of these bytes separates words.
        delimiters: String,
        /// How many words from there (0 = all the rest).
        count: u32,
    },
    /// `length`: the string's length.
    Length,
    /// `base64`: Base64 encoding.
    Base64,
    /// `hex`: upper-case hexadecimal encoding.
    Hex,
}

impl Converter {
    /// The type it produces.
    pub fn output(&self) -> SampleType {
        match self {
            Converter::Length => SampleType::Int,
            _ => SampleType::Str,
        }
    }
}

/// A fetch and its converters: what `%[...]` and ACL criteria evaluate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SampleExpr {
    /// Where the value comes from.
    pub fetch: Fetch,
    /// Applied in order.
    pub converters: Vec<Converter>,
    /// The text as written, for messages and documentation.
    pub text: String,
}

impl SampleExpr {
    /// The type of the final value.
    pub fn output(&self) -> SampleType {
        self.converters
            .last()
            .map_or(self.fetch.output(), Converter::output)
    }
}

impl fmt::Display for SampleExpr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// A sample expression that could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct SampleError(pub String);

/// Splits `name(args)` into the name and its comma-separated arguments (`None`: no
/// parentheses). Arguments may be quoted with `"`/`'`; a backslash escapes the next byte.
fn split_call(text: &str) -> Result<(&str, Option<Vec<String>>), SampleError> {
    let Some(open) = text.find('(') else {
        return Ok((text, None));
    };
    let name = &text[..open];
    let Some(inner) = text[open + 1..].strip_suffix(')') else {
        return Err(SampleError(format!(
            "missing closing ')' after arguments to '{name}'"
        )));
    };
    let mut args = vec![String::new()];
    let mut quote = None;
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        match (c, quote) {
            ('\\', _) => args.last_mut().expect("never empty").extend(chars.next()),
            (q @ ('"' | '\''), None) => quote = Some(q),
            (q, Some(open)) if q == open => quote = None,
            (',', None) => args.push(String::new()),
            (c, _) => args.last_mut().expect("never empty").push(c),
        }
    }
    if inner.is_empty() {
        args.clear();
    }
    Ok((name, Some(args)))
}

/// Splits an expression at the commas that are outside parentheses and quotes.
fn split_top_level(text: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut depth, mut start, mut quote) = (0i32, 0, None);
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        match (b, quote) {
            (b'\\', _) => i += 1,
            (b'"' | b'\'', None) => quote = Some(b),
            (q, Some(open)) if q == open => quote = None,
            (b'(', None) => depth += 1,
            (b')', None) => depth -= 1,
            (b',', None) if depth == 0 => {
                parts.push(&text[start..i]);
                start = i + 1;
            }
            _ => {}
        }
        i += 1;
    }
    parts.push(&text[start..]);
    parts
}

/// Parses an integer argument.
fn int_arg(name: &str, arg: &str) -> Result<i64, SampleError> {
    arg.trim()
        .parse()
        .map_err(|_| SampleError(format!("'{name}': invalid integer argument '{arg}'")))
}

/// Parses a header occurrence argument.
fn occurrence(name: &str, args: &[String], at: usize) -> Result<Occurrence, SampleError> {
    match args.get(at) {
        None => Ok(Occurrence::All),
        Some(a) => {
            let n = int_arg(name, a)?;
            i32::try_from(n)
                .map(Occurrence::Nth)
                .map_err(|_| SampleError(format!("'{name}': occurrence '{a}' out of range")))
        }
    }
}

/// The fetch named `name` with `args` (`None`: written without parentheses).
pub fn parse_fetch(name: &str, args: Option<&[String]>) -> Result<Fetch, SampleError> {
    let none: &[String] = &[];
    let a = args.unwrap_or(none);
    let no_args = |f: Fetch| {
        if a.is_empty() {
            Ok(f)
        } else {
            Err(SampleError(format!(
                "fetch method '{name}' : no argument supported, but got '{}'",
                a[0]
            )))
        }
    };
    let one = |what: &str| -> Result<String, SampleError> {
        match a {
            [v] if !v.is_empty() => Ok(v.clone()),
            _ => Err(SampleError(format!(
                "fetch method '{name}' : expects {what} as its argument"
            ))),
        }
    };
    let header = |side, full| -> Result<Fetch, SampleError> {
        let hname = a.first().cloned().unwrap_or_default();
        if a.len() > 2 {
            return Err(SampleError(format!(
                "fetch method '{name}' : at most 2 arguments (name, occurrence)"
            )));
        }
        Ok(Fetch::Header {
            side,
            name: hname,
            occurrence: occurrence(name, a, 1)?,
            full,
        })
    };
    let count = |side| -> Result<Fetch, SampleError> {
        if a.len() > 1 {
            return Err(SampleError(format!(
                "fetch method '{name}' : at most 1 argument (name)"
            )));
        }
        Ok(Fetch::HeaderCount {
            side,
            name: a.first().cloned().unwrap_or_default(),
        })
    };
    match name {
        "src" => no_args(Fetch::Src),
        "src_port" => no_args(Fetch::SrcPort),
        "dst" => no_args(Fetch::Dst),
        "dst_port" => no_args(Fetch::DstPort),
        "method" => no_args(Fetch::Method),
        "path" => no_args(Fetch::Path),
        "url" => no_args(Fetch::Url),
        "query" => no_args(Fetch::Query),
        "pathq" => no_args(Fetch::PathQ),
        "base" => no_args(Fetch::Base),
        "req.ver" | "req_ver" => no_args(Fetch::ReqVer),
        "url_ip" => no_args(Fetch::UrlIp),
        "url_port" => no_args(Fetch::UrlPort),
        "status" => no_args(Fetch::Status),
        "ssl_fc" => no_args(Fetch::SslFc),
        "fe_name" => no_args(Fetch::FeName),
        "be_name" => no_args(Fetch::BeName),
        "always_true" => no_args(Fetch::Always(true)),
        "always_false" => no_args(Fetch::Always(false)),
        "hdr" | "req.hdr" => header(Side::Request, false),
        "req.fhdr" => header(Side::Request, true),
        "res.hdr" | "shdr" => header(Side::Response, false),
        "res.fhdr" => header(Side::Response, true),
        "hdr_cnt" | "req.hdr_cnt" => count(Side::Request),
        "res.hdr_cnt" | "shdr_cnt" => count(Side::Response),
        "var" => {
            let v = one("a variable name")?;
            check_var_name(&v)?;
            Ok(Fetch::Var(v))
        }
        "str" => Ok(Fetch::Str(one("a string")?)),
        "int" => Ok(Fetch::Int(int_arg(name, &one("an integer")?)?)),
        "http_auth" => Ok(Fetch::HttpAuth(one("a userlist name")?)),
        "http_auth_group" => Ok(Fetch::HttpAuthGroup(one("a userlist name")?)),
        other => Err(SampleError(format!(
            "unknown fetch method '{other}' (baton implements {})",
            FETCH_NAMES.join(", ")
        ))),
    }
}

/// Every fetch name [`parse_fetch`] knows, for messages and docs.
pub const FETCH_NAMES: &[&str] = &[
    "src",
    "src_port",
    "dst",
    "dst_port",
    "method",
    "path",
    "url",
    "query",
    "pathq",
    "base",
    "req.ver",
    "url_ip",
    "url_port",
    "hdr",
    "req.hdr",
    "req.fhdr",
    "hdr_cnt",
    "req.hdr_cnt",
    "res.hdr",
    "shdr",
    "res.fhdr",
    "res.hdr_cnt",
    "status",
    "ssl_fc",
    "fe_name",
    "be_name",
    "var",
    "str",
    "int",
    "always_true",
    "always_false",
    "http_auth",
    "http_auth_group",
];

/// Every converter name [`parse_converter`] knows.
pub const CONVERTER_NAMES: &[&str] =
    &["lower", "upper", "field", "word", "length", "base64", "hex"];

/// Checks a variable name: `scope.name` with scope proc, sess, txn, req or res.
pub fn check_var_name(name: &str) -> Result<(), SampleError> {
    let ok = name.split_once('.').is_some_and(|(scope, rest)| {
        matches!(scope, "proc" | "sess" | "txn" | "req" | "res")
            && !rest.is_empty()
            && rest
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.')
    });
    if ok {
        Ok(())
    } else {
        Err(SampleError(format!(
            "invalid variable name '{name}' (expects 'proc', 'sess', 'txn', 'req' or 'res', a dot, then letters, digits, '_' or '.')"
        )))
    }
}

/// One converter.
pub fn parse_converter(name: &str, args: Option<&[String]>) -> Result<Converter, SampleError> {
    let a = args.unwrap_or(&[]);
    let simple = |c: Converter| {
        if a.is_empty() {
            Ok(c)
        } else {
            Err(SampleError(format!(
                "converter '{name}' takes no argument, got '{}'",
                a[0]
            )))
        }
    };
    match name {
        "lower" => simple(Converter::Lower),
        "upper" => simple(Converter::Upper),
        "length" => simple(Converter::Length),
        "base64" => simple(Converter::Base64),
        "hex" => simple(Converter::Hex),
        "field" | "word" => {
            if !(2..=3).contains(&a.len()) {
                return Err(SampleError(format!(
                    "converter '{name}' expects <index>,<delimiters>[,<count>]"
                )));
            }
            let index = i32::try_from(int_arg(name, &a[0])?)
                .ok()
                .filter(|&i| i != 0)
                .ok_or_else(|| SampleError(format!("converter '{name}': index must not be 0")))?;
            if a[1].is_empty() {
                return Err(SampleError(format!(
                    "converter '{name}': delimiters must not be empty"
                )));
            }
            let count = match a.get(2) {
                Some(c) => u32::try_from(int_arg(name, c)?).map_err(|_| {
                    SampleError(format!("converter '{name}': count must not be negative"))
                })?,
                None => 1,
            };
            let delimiters = a[1].clone();
            Ok(if name == "field" {
                Converter::Field {
                    index,
                    delimiters,
                    count,
                }
            } else {
                Converter::Word {
                    index,
                    delimiters,
                    count,
                }
            })
        }
        other => Err(SampleError(format!(
            "unknown converter '{other}' (baton implements {})",
            CONVERTER_NAMES.join(", ")
        ))),
    }
}

/// Parses `fetch[(args)][,converter[(args)]]...`.
pub fn parse_sample(text: &str) -> Result<SampleExpr, SampleError> {
    let text = text.trim();
    if text.is_empty() {
        return Err(SampleError("missing fetch method".into()));
    }
    let mut parts = split_top_level(text).into_iter();
    let first = parts.next().unwrap_or_default();
    let (name, args) = split_call(first)?;
    let fetch = parse_fetch(name, args.as_deref())?;
    let mut converters = Vec::new();
    for part in parts {
        let (name, args) = split_call(part.trim())?;
        converters.push(parse_converter(name, args.as_deref())?);
    }
    Ok(SampleExpr {
        fetch,
        converters,
        text: text.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fetches_and_converters() {
        let e = parse_sample("req.hdr(host,-1),lower").unwrap();
        assert_eq!(
            e.fetch,
            Fetch::Header {
                side: Side::Request,
                name: "host".into(),
                occurrence: Occurrence::Nth(-1),
                full: false
            }
        );
        assert_eq!(e.converters, vec![Converter::Lower]);
        assert_eq!(e.output(), SampleType::Str);
        let e = parse_sample("var(txn.path_match),field(1,.)").unwrap();
        assert_eq!(e.fetch, Fetch::Var("txn.path_match".into()));
        assert_eq!(
            e.converters,
            vec![Converter::Field {
                index: 1,
                delimiters: ".".into(),
                count: 1
            }]
        );
        assert_eq!(parse_sample("src").unwrap().output(), SampleType::Ip);
        assert_eq!(
            parse_sample("path,length").unwrap().output(),
            SampleType::Int
        );
        assert_eq!(
            parse_sample("str(a\\,b)").unwrap().fetch,
            Fetch::Str("a,b".into())
        );
        assert!(parse_sample("status").unwrap().fetch.needs_response());
        assert!(parse_sample("path").unwrap().fetch.needs_request());
    }

    #[test]
    fn errors_name_the_problem() {
        assert!(parse_sample("wurfl-get-all()")
            .unwrap_err()
            .0
            .contains("unknown fetch"));
        assert!(parse_sample("path,nope")
            .unwrap_err()
            .0
            .contains("unknown converter"));
        assert!(parse_sample("hdr(host")
            .unwrap_err()
            .0
            .contains("missing closing"));
        assert!(parse_sample("var(foo)")
            .unwrap_err()
            .0
            .contains("invalid variable"));
        assert!(parse_sample("src(1)").is_err());
        assert!(parse_sample("field").is_err());
        assert!(parse_sample("path,field(0,.)").is_err());
        assert!(parse_sample("").is_err());
    }
}
