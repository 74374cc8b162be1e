//! Parsing ACL criteria (`acl NAME CRITERION [FLAGS] [VALUES...]`) and rule conditions
//! (`if|unless A !B || { path_beg /x }`) into the typed [`crate::rules`] model.
//!
//! A criterion is a sample fetch (see [`crate::sample`]) with a match method, either implied by
//! the ACL keyword (`path_beg` = `path -m beg`, `hdr_cnt` = `hdr_cnt -m int`) or given with
//! `-m`. Flags are HAProxy's `-i`, `-m METHOD`, `-f FILE` (one pattern per line; `#` comments
//! and blank lines skipped) and `--`; `-n` is accepted and changes nothing here. Patterns are
//! compiled at once: regular expressions with the `regex` crate, networks, integer ranges; a bad
//! pattern in a file is reported with that file's name and line.

use crate::diag::Location;
use crate::model::Network;
use crate::rules::{Acl, Condition, Criterion, IntRange, MatchMethod, Patterns, Regex, Term};
use crate::sample::{parse_fetch, parse_sample, Fetch, SampleExpr, SampleType};
use crate::values::parse_network;

/// Reads a pattern file (`-f`); the loader supplies it (relative names are relative to the
/// working directory, as in HAProxy).
pub type ReadFile<'a> = &'a dyn Fn(&str) -> Result<String, String>;

/// The ACL keywords that imply a match method: `base_suffix` → (fetch name, method).
fn derived(name: &str) -> Option<(&str, MatchMethod)> {
    const BASES: &[&str] = &[
        "path", "url", "base", "hdr", "req.hdr", "req.fhdr", "shdr", "res.hdr", "res.fhdr",
    ];
    let (base, suffix) = name.rsplit_once('_')?;
    if !BASES.contains(&base) {
        return None;
    }
    let method = match suffix {
        "beg" => MatchMethod::Beg,
        "end" => MatchMethod::End,
        "sub" => MatchMethod::Sub,
        "reg" => MatchMethod::Reg,
        "dir" => MatchMethod::Dir,
        "dom" => MatchMethod::Dom,
        "len" => MatchMethod::Len,
        "val" => MatchMethod::Int,
        "ip" => MatchMethod::Ip,
        _ => return None,
    };
    Some((base, method))
}

/// The match method a fetch implies when none is given (`None`: `-m` is required, as for
/// `var()`, whose type is only known at run time).
fn default_method(expr: &SampleExpr) -> Option<MatchMethod> {
    if expr.converters.is_empty() && matches!(expr.fetch, Fetch::Var(_)) {
        return None;
    }
    Some(match expr.output() {
        SampleType::Bool => MatchMethod::Bool,
        SampleType::Int => MatchMethod::Int,
        SampleType::Ip => MatchMethod::Ip,
        SampleType::Str => MatchMethod::Str,
    })
}

/// Splits `name(args)` for [`parse_fetch`].
fn fetch_with_args(text: &str) -> Result<(String, Option<Vec<String>>), String> {
    match text.find('(') {
        None => Ok((text.to_string(), None)),
        Some(open) => {
            let inner = text[open + 1..]
                .strip_suffix(')')
                .ok_or_else(|| format!("missing closing ')' in '{text}'"))?;
            let args = if inner.is_empty() {
                Vec::new()
            } else {
                inner.split(',').map(|a| a.trim().to_string()).collect()
            };
            Ok((text[..open].to_string(), Some(args)))
        }
    }
}

/// Parses the criterion of an `acl` line (or of a `{ ... }` block): `words[0]` is the
/// criterion, then flags, then patterns.
pub fn parse_criterion(
    words: &[String],
    location: &Location,
    read_file: ReadFile<'_>,
) -> Result<Criterion, String> {
    let Some(first) = words.first() else {
        return Err("missing ACL criterion".into());
    };
    // The criterion: a derived keyword (path_beg, hdr_cnt(host)...) or a sample expression.
    let (mut sample, implied) = {
        let head = first.split(',').next().unwrap_or_default();
        let (name, args) = fetch_with_args(head)?;
        let direct = crate::sample::FETCH_NAMES.contains(&name.as_str());
        match derived(&name).filter(|_| !direct) {
            Some((base, method)) if head.len() == first.len() => {
                let fetch = parse_fetch(base, args.as_deref()).map_err(|e| e.0)?;
                let expr = SampleExpr {
                    fetch,
                    converters: Vec::new(),
                    text: first.clone(),
                };
                (expr, Some(method))
            }
            _ => {
                let expr = parse_sample(first).map_err(|e| e.0)?;
                (expr, None)
            }
        }
    };
    sample.text = first.clone();
    let mut ignore_case = false;
    let mut method = implied;
    let mut files: Vec<String> = Vec::new();
    let mut i = 1;
    while i < words.len() {
        let w = words[i].as_str();
        if !w.starts_with('-') || w == "-" {
            break;
        }
        match w {
            "--" => {
                i += 1;
                break;
            }
            "-i" => ignore_case = true,
            "-n" => {}
            "-m" => {
                let m = words.get(i + 1).ok_or("'-m' expects a matching method")?;
                method = Some(MatchMethod::from_name(m).ok_or_else(|| {
                    format!("unknown matching method '{m}' for '-m' (baton implements found, bool, int, ip, str, beg, end, sub, reg, dom, dir, len)")
                })?);
                i += 1;
            }
            "-f" => {
                let f = words.get(i + 1).ok_or("'-f' expects a file name")?;
                files.push(f.clone());
                i += 1;
            }
            "-M" | "-u" => {
                return Err(format!(
                    "ACL flag '{w}' is not supported by baton (-i, -m, -f, -n and -- are)"
                ))
            }
            // HAProxy reads an integer criterion's negative pattern (`lt -1`) after flags end.
            other if other[1..].starts_with(|c: char| c.is_ascii_digit()) => break,
            other => return Err(format!("unknown ACL flag '{other}'")),
        }
        i += 1;
    }
    let method = method.or_else(|| default_method(&sample)).ok_or(
        "matching method must be specified first (using '-m') when using a sample fetch of this type ('var')",
    )?;
    let inline = &words[i..];
    let mut patterns = Patterns::None;
    for word in inline {
        add_pattern(&mut patterns, method, ignore_case, word, None)?;
    }
    fix_int_operators(&mut patterns, method, inline)?;
    for file in &files {
        let text = read_file(file)?;
        for (n, line) in text.lines().enumerate() {
            let line = line.trim_start_matches([' ', '\t']).trim_end();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            add_pattern(
                &mut patterns,
                method,
                ignore_case,
                line,
                Some((file, n + 1)),
            )?;
        }
    }
    if matches!(method, MatchMethod::Found | MatchMethod::Bool) && patterns != Patterns::None {
        return Err(format!(
            "'-m {}' takes no pattern",
            if method == MatchMethod::Found {
                "found"
            } else {
                "bool"
            }
        ));
    }
    Ok(Criterion {
        sample,
        method,
        ignore_case,
        patterns,
        location: location.clone(),
    })
}

/// Integer patterns may be written `gt 0`: the operator and its value are two words, which
/// [`add_pattern`] cannot see together. Re-parses the inline words as a whole.
fn fix_int_operators(
    patterns: &mut Patterns,
    method: MatchMethod,
    inline: &[String],
) -> Result<(), String> {
    if !matches!(method, MatchMethod::Int | MatchMethod::Len) || inline.is_empty() {
        return Ok(());
    }
    let mut ranges = Vec::new();
    let mut i = 0;
    while i < inline.len() {
        let w = inline[i].as_str();
        let op = matches!(w, "eq" | "ne" | "lt" | "le" | "gt" | "ge");
        if op {
            let v = inline
                .get(i + 1)
                .ok_or_else(|| format!("'{w}' expects an integer"))?;
            let n: i64 = v
                .parse()
                .map_err(|_| format!("'{v}' is not a valid integer"))?;
            let (min, max, not) = match w {
                "eq" => (n, n, false),
                "ne" => (n, n, true),
                "lt" => (i64::MIN, n.saturating_sub(1), false),
                "le" => (i64::MIN, n, false),
                "gt" => (n.saturating_add(1), i64::MAX, false),
                _ => (n, i64::MAX, false),
            };
            ranges.push(IntRange { min, max, not });
            i += 2;
        } else {
            ranges.push(parse_int_range(w)?);
            i += 1;
        }
    }
    *patterns = Patterns::Ints(ranges);
    Ok(())
}

/// `N`, `N:M`, `N:`, `:M`.
fn parse_int_range(w: &str) -> Result<IntRange, String> {
    let bad = || format!("'{w}' is not a valid integer or range");
    let num = |s: &str| s.parse::<i64>().map_err(|_| bad());
    let (min, max) = match w.split_once(':') {
        Some((a, b)) => (
            if a.is_empty() { i64::MIN } else { num(a)? },
            if b.is_empty() { i64::MAX } else { num(b)? },
        ),
        None => {
            let n = num(w)?;
            (n, n)
        }
    };
    Ok(IntRange {
        min,
        max,
        not: false,
    })
}

/// Adds one pattern; `from` names the pattern file and line for errors.
fn add_pattern(
    patterns: &mut Patterns,
    method: MatchMethod,
    ignore_case: bool,
    text: &str,
    from: Option<(&str, usize)>,
) -> Result<(), String> {
    let wrap = |e: String| match from {
        Some((file, line)) => format!("{file}:{line}: {e}"),
        None => e,
    };
    match method {
        MatchMethod::Found | MatchMethod::Bool => {
            return Err(wrap(format!(
                "unexpected pattern '{text}': this match takes none"
            )))
        }
        MatchMethod::Int | MatchMethod::Len => {
            if from.is_none() {
                // Inline words (`gt 0` is two of them) are parsed by fix_int_operators.
                return Ok(());
            }
            let range = parse_int_range(text).map_err(wrap)?;
            push(
                patterns,
                |p| match p {
                    Patterns::Ints(v) => Some(v),
                    _ => None,
                },
                Patterns::Ints(Vec::new()),
            )
            .push(range);
        }
        MatchMethod::Ip => {
            let net: Network = parse_network(text).map_err(|e| wrap(e.to_string()))?;
            push(
                patterns,
                |p| match p {
                    Patterns::Networks(v) => Some(v),
                    _ => None,
                },
                Patterns::Networks(Vec::new()),
            )
            .push(net);
        }
        MatchMethod::Reg => {
            let re = regex::bytes::RegexBuilder::new(text)
                .case_insensitive(ignore_case)
                .build()
                .map_err(|e| wrap(format!("regex '{text}' is invalid: {e}")))?;
            push(
                patterns,
                |p| match p {
                    Patterns::Regexes(v) => Some(v),
                    _ => None,
                },
                Patterns::Regexes(Vec::new()),
            )
            .push(Regex(re));
        }
        _ => {
            let mut bytes = text.as_bytes().to_vec();
            if ignore_case {
                bytes.make_ascii_lowercase();
            }
            push(
                patterns,
                |p| match p {
                    Patterns::Strings(v) => Some(v),
                    _ => None,
                },
                Patterns::Strings(Vec::new()),
            )
            .push(bytes);
        }
    }
    Ok(())
}

/// The vector inside `patterns`, creating it (as `empty`) on first use.
fn push<T>(
    patterns: &mut Patterns,
    get: fn(&mut Patterns) -> Option<&mut Vec<T>>,
    empty: Patterns,
) -> &mut Vec<T> {
    if get(patterns).is_none() {
        *patterns = empty;
    }
    get(patterns).expect("just created")
}

/// HAProxy's predefined ACLs, as criteria.
fn predefined(name: &str) -> Option<&'static [&'static str]> {
    Some(match name {
        "TRUE" => &["always_true"],
        "FALSE" => &["always_false"],
        "HTTP" => &["always_true"],
        "HTTP_1.0" => &["req.ver", "1.0"],
        "HTTP_1.1" => &["req.ver", "1.1"],
        "HTTP_CONTENT" => &["hdr_val(content-length)", "gt", "0"],
        "HTTP_URL_ABS" => &["url_reg", "^[^/:]*://"],
        "HTTP_URL_SLASH" => &["url_beg", "/"],
        "HTTP_URL_STAR" => &["url", "*"],
        "LOCALHOST" => &["src", "127.0.0.1/8", "::1"],
        "METH_CONNECT" => &["method", "CONNECT"],
        "METH_DELETE" => &["method", "DELETE"],
        "METH_GET" => &["method", "GET", "HEAD"],
        "METH_HEAD" => &["method", "HEAD"],
        "METH_OPTIONS" => &["method", "OPTIONS"],
        "METH_POST" => &["method", "POST"],
        "METH_PUT" => &["method", "PUT"],
        "METH_TRACE" => &["method", "TRACE"],
        _ => return None,
    })
}

/// The prefix of generated ACL names (a space cannot appear in a configured name).
pub const ANONYMOUS: &str = "anonymous acl ";

/// The prefix given to ACLs inherited from a defaults section: their rules still use them,
/// but conditions written in the proxy cannot name them (as in HAProxy).
pub const INHERITED: &str = "defaults acl ";

/// Parses `if|unless ...` (`words[0]` is `if` or `unless`), adding anonymous and predefined
/// ACLs to `acls`.
pub fn parse_condition(
    words: &[String],
    acls: &mut Vec<Acl>,
    location: &Location,
    read_file: ReadFile<'_>,
) -> Result<Condition, String> {
    let unless = match words.first().map(String::as_str) {
        Some("if") => false,
        Some("unless") => true,
        _ => return Err("expects 'if' or 'unless'".into()),
    };
    let mut any_of: Vec<Vec<Term>> = vec![Vec::new()];
    let mut negate = false;
    let mut i = 1;
    while i < words.len() {
        let mut word = words[i].as_str();
        while let Some(rest) = word.strip_prefix('!') {
            negate = !negate;
            word = rest;
        }
        i += 1;
        if word.is_empty() {
            continue;
        }
        if word == "||" || word.eq_ignore_ascii_case("or") {
            if any_of.last().is_some_and(Vec::is_empty) {
                return Err(format!("missing ACL before '{word}'"));
            }
            any_of.push(Vec::new());
            negate = false;
            continue;
        }
        let acl = if word == "{" {
            let close = words[i..]
                .iter()
                .position(|w| w == "}")
                .ok_or("missing closing '}' in condition")?;
            let inner = &words[i..i + close];
            i += close + 1;
            let criterion = parse_criterion(inner, location, read_file)
                .map_err(|e| format!("in anonymous ACL: {e}"))?;
            acls.push(Acl {
                name: format!("{ANONYMOUS}{}", acls.len()),
                criteria: vec![criterion],
            });
            acls.len() - 1
        } else if word == "}" {
            return Err("unexpected '}' in condition".into());
        } else if let Some(at) = acls.iter().position(|a| a.name == word) {
            at
        } else if let Some(def) = predefined(word) {
            let def: Vec<String> = def.iter().map(|s| s.to_string()).collect();
            let criterion = parse_criterion(&def, location, read_file)?;
            acls.push(Acl {
                name: word.to_string(),
                criteria: vec![criterion],
            });
            acls.len() - 1
        } else {
            return Err(format!("no such ACL : '{word}'"));
        };
        any_of
            .last_mut()
            .expect("never empty")
            .push(Term { negate, acl });
        negate = false;
    }
    if any_of.iter().any(Vec::is_empty) {
        return Err(format!(
            "missing ACL after '{}'",
            if unless { "unless" } else { "if" }
        ));
    }
    Ok(Condition { unless, any_of })
}

/// Checks an `acl` name: letters, digits, `-`, `_`, `.` and `:`.
pub fn check_acl_name(name: &str) -> Result<(), String> {
    match name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':')))
    {
        Some(bad) => Err(format!(
            "ACL name '{name}' contains invalid character '{bad}'"
        )),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sample::{Occurrence, Side};

    fn loc() -> Location {
        let f: std::sync::Arc<str> = "t.cfg".into();
        Location::new(&f, 7)
    }

    fn words(s: &str) -> Vec<String> {
        s.split(' ').map(String::from).collect()
    }

    fn no_files(name: &str) -> Result<String, String> {
        Err(format!("cannot open '{name}'"))
    }

    fn crit(s: &str) -> Result<Criterion, String> {
        parse_criterion(&words(s), &loc(), &no_files)
    }

    #[test]
    fn derived_keywords_imply_methods() {
        let c = crit("path_beg /a /b").unwrap();
        assert_eq!(c.method, MatchMethod::Beg);
        assert_eq!(
            c.patterns,
            Patterns::Strings(vec![b"/a".to_vec(), b"/b".to_vec()])
        );
        let c = crit("hdr_beg(host) -i WWW.").unwrap();
        assert!(c.ignore_case);
        assert_eq!(c.patterns, Patterns::Strings(vec![b"www.".to_vec()]));
        assert_eq!(
            c.sample.fetch,
            Fetch::Header {
                side: Side::Request,
                name: "host".into(),
                occurrence: Occurrence::All,
                full: false
            }
        );
        for (text, method) in [
            ("path /x", MatchMethod::Str),
            ("path_end .css", MatchMethod::End),
            ("path_sub x", MatchMethod::Sub),
            ("path_dir x", MatchMethod::Dir),
            ("hdr_dom(host) x", MatchMethod::Dom),
            ("url_len 3", MatchMethod::Len),
            ("hdr_val(content-length) lt 0", MatchMethod::Int),
            ("hdr_cnt(host) gt 1", MatchMethod::Int),
            ("src 10.0.0.0/8", MatchMethod::Ip),
            ("dst_port 80", MatchMethod::Int),
            ("src_port 0:1023", MatchMethod::Int),
            ("ssl_fc", MatchMethod::Bool),
            ("always_true", MatchMethod::Bool),
            ("method GET", MatchMethod::Str),
            ("hdr(host) -m found", MatchMethod::Found),
            ("req.hdr(host),lower -m str a", MatchMethod::Str),
            ("status 200", MatchMethod::Int),
            ("http_auth(L)", MatchMethod::Bool),
            ("http_auth_group(L) adm", MatchMethod::Str),
            ("url_reg -i ^/A", MatchMethod::Reg),
        ] {
            assert_eq!(crit(text).unwrap().method, method, "{text}");
        }
    }

    #[test]
    fn integer_patterns() {
        let c = crit("hdr_cnt(host) gt 1").unwrap();
        assert_eq!(
            c.patterns,
            Patterns::Ints(vec![IntRange {
                min: 2,
                max: i64::MAX,
                not: false
            }])
        );
        let c = crit("src_port 0:1023 8080").unwrap();
        assert_eq!(
            c.patterns,
            Patterns::Ints(vec![
                IntRange {
                    min: 0,
                    max: 1023,
                    not: false
                },
                IntRange {
                    min: 8080,
                    max: 8080,
                    not: false
                }
            ])
        );
        assert!(crit("dst_port abc").is_err());
        assert!(crit("dst_port gt").is_err());
    }

    #[test]
    fn flag_and_pattern_errors() {
        assert!(crit("var(txn.x) a")
            .unwrap_err()
            .contains("matching method must be specified"));
        assert!(crit("path -m nope x")
            .unwrap_err()
            .contains("unknown matching method"));
        assert!(crit("path -z x").unwrap_err().contains("unknown ACL flag"));
        assert!(crit("path_reg (").unwrap_err().contains("invalid"));
        assert!(crit("src 10.0.0.300").is_err());
        assert!(crit("path -f /nonexistent")
            .unwrap_err()
            .contains("cannot open"));
        assert!(crit("ssl_fc x").is_err());
        assert!(crit("nope_fetch x").unwrap_err().contains("unknown fetch"));
        assert_eq!(
            crit("path -- -i").unwrap().patterns,
            Patterns::Strings(vec![b"-i".to_vec()])
        );
    }

    #[test]
    fn pattern_files_report_their_own_lines() {
        let read = |name: &str| -> Result<String, String> {
            assert_eq!(name, "pats.lst");
            Ok("# comment\n\n  /ok\n(bad\n".into())
        };
        let err = parse_criterion(&words("path_reg -f pats.lst"), &loc(), &read).unwrap_err();
        assert!(
            err.starts_with("pats.lst:4: regex '(bad' is invalid"),
            "{err}"
        );
        let read = |_: &str| -> Result<String, String> { Ok("/a\n  /b \n#x\n".into()) };
        let c = parse_criterion(&words("path -f p /c"), &loc(), &read).unwrap();
        assert_eq!(
            c.patterns,
            Patterns::Strings(vec![b"/c".to_vec(), b"/a".to_vec(), b"/b".to_vec()])
        );
    }

    #[test]
    fn conditions() {
        let mut acls = vec![Acl {
            name: "a".into(),
            criteria: vec![crit("path /a").unwrap()],
        }];
        let c = parse_condition(
            &words("if a !{ path /b } || !a"),
            &mut acls,
            &loc(),
            &no_files,
        )
        .unwrap();
        assert!(!c.unless);
        assert_eq!(c.any_of.len(), 2);
        assert_eq!(
            c.any_of[0],
            vec![
                Term {
                    negate: false,
                    acl: 0
                },
                Term {
                    negate: true,
                    acl: 1
                }
            ]
        );
        assert_eq!(
            c.any_of[1],
            vec![Term {
                negate: true,
                acl: 0
            }]
        );
        let c =
            parse_condition(&words("unless METH_GET or a"), &mut acls, &loc(), &no_files).unwrap();
        assert!(c.unless);
        assert!(
            parse_condition(&words("if nope"), &mut acls, &loc(), &no_files)
                .unwrap_err()
                .contains("no such ACL : 'nope'")
        );
        assert!(parse_condition(&words("if"), &mut acls, &loc(), &no_files).is_err());
        assert!(parse_condition(&words("if { path"), &mut acls, &loc(), &no_files).is_err());
        assert!(parse_condition(&words("if a ||"), &mut acls, &loc(), &no_files).is_err());
        assert!(check_acl_name("invalid!name").is_err());
        assert!(check_acl_name("host_www.valid-frontend.net:80").is_ok());
    }
}
