//! The service environment as systemd builds it: `Environment=` assignments, then the
//! `EnvironmentFile=` files in order (a file overrides `Environment=`, a later file an earlier
//! one), then `UnsetEnvironment=`. Each variable remembers where its value came from, so that
//! findings point at the winning line and `fix` edits the place that takes effect.

use super::words;
use crate::finding::Origin;
use std::collections::BTreeMap;

/// One variable's value and the line that set it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Var {
    /// The value.
    pub value: String,
    /// Where it was set: an `Environment=` line or a line of an environment file.
    pub origin: Origin,
}

/// Variables by name.
pub type Env = BTreeMap<String, Var>;

/// Whether `name` is a valid environment variable name for systemd.
pub fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// What one `Environment=` value holds: its assignments, and the words that are not ones.
pub type Assignments = (Vec<(String, String)>, Vec<String>);

/// The `NAME=value` pairs of one `Environment=` value (several, quoted, escaped); words that
/// are not assignments are returned apart, as systemd ignores them.
pub fn parse_assignments(value: &str) -> Result<Assignments, String> {
    let mut good = Vec::new();
    let mut bad = Vec::new();
    for word in words::split(value)? {
        match word.split_once('=') {
            Some((k, v)) if valid_name(k) => good.push((k.to_string(), v.to_string())),
            _ => bad.push(word),
        }
    }
    Ok((good, bad))
}

/// Parses an environment file: `KEY=VALUE` lines, `#`/`;` comments, single or double quoted
/// values (backslash escapes the next character inside double quotes and outside quotes),
/// unquoted values trimmed, backslash-newline continuing a line. Returns (key, value, line).
pub fn parse_file(text: &str) -> Vec<(String, String, usize)> {
    let mut out = Vec::new();
    let lines: Vec<&str> = text.split('\n').collect();
    let mut i = 0;
    while i < lines.len() {
        let start = i + 1;
        let mut line = lines[i].trim_start().to_string();
        i += 1;
        if line.starts_with('#') || line.starts_with(';') || line.trim().is_empty() {
            continue;
        }
        // Continuations: an odd number of trailing backslashes.
        while line.ends_with('\\') && !line.ends_with("\\\\") && i < lines.len() {
            line.pop();
            line.push_str(lines[i]);
            i += 1;
        }
        let line = line.strip_prefix("export ").unwrap_or(&line);
        let Some((key, raw)) = line.split_once('=') else {
            continue;
        };
        let key = key.trim();
        if !valid_name(key) {
            continue;
        }
        out.push((key.to_string(), file_value(raw.trim_start()), start));
    }
    out
}

/// The value part of an environment file line: quotes removed, escapes applied, unquoted
/// trailing blanks trimmed. A `#` after the `=` is part of the value, as systemd reads it.
fn file_value(raw: &str) -> String {
    let mut out = String::new();
    // Bytes of `out` that came from quotes or escapes and must survive trimming.
    let mut keep = 0;
    let mut chars = raw.chars();
    let mut quote: Option<char> = None;
    while let Some(c) = chars.next() {
        match (quote, c) {
            (None, '"' | '\'') => quote = Some(c),
            (Some(q), c) if c == q => {
                quote = None;
                keep = out.len();
            }
            (Some('\''), c) => {
                out.push(c);
                keep = out.len();
            }
            (_, '\\') => {
                if let Some(n) = chars.next() {
                    out.push(n);
                }
                keep = out.len();
            }
            (Some(_), c) => {
                out.push(c);
                keep = out.len();
            }
            (None, c) => out.push(c),
        }
    }
    let len = out.trim_end().len().max(keep);
    out.truncate(len);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn assignments() {
        let (good, bad) =
            parse_assignments(r#""CONFIG=/etc/haproxy/haproxy.cfg" "PIDFILE=/run/haproxy.pid" "EXTRAOPTS=-S /run/m.sock" junk 1X=2"#)
                .unwrap();
        assert_eq!(good[2], ("EXTRAOPTS".into(), "-S /run/m.sock".into()));
        assert_eq!(bad, vec!["junk", "1X=2"]);
    }

    #[test]
    fn files() {
        let text = "# c\n; c\nA=1\n  B = \"two words \" \nC='x\\y'\nD=a\\\nb\nexport E=e # not a comment\nF=\"q\\\"\"\nbad line\nG=\n";
        let v = parse_file(text);
        let get = |k: &str| {
            v.iter()
                .find(|(n, _, _)| n == k)
                .map(|(_, v, l)| (v.as_str(), *l))
        };
        assert_eq!(get("A"), Some(("1", 3)));
        assert_eq!(get("B"), Some(("two words ", 4)));
        assert_eq!(get("C"), Some(("x\\y", 5)));
        assert_eq!(get("D"), Some(("ab", 6)));
        assert_eq!(get("E"), Some(("e # not a comment", 8)));
        assert_eq!(get("F"), Some(("q\"", 9)));
        assert_eq!(get("G"), Some(("", 11)));
    }
}
