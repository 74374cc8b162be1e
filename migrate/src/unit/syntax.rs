//! The unit file syntax: `[Section]` headers, `Key=Value` assignments, `#`/`;` comments and
//! backslash line continuation, as systemd.syntax(7) describes. Each assignment keeps the file
//! and line it came from so findings and fixes can point at it.

use crate::finding::Origin;

/// One `Key=Value` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assignment {
    /// The section it is in (`Service`), without brackets.
    pub section: String,
    /// The key, trimmed.
    pub key: String,
    /// The value, trimmed, continuation lines joined with a space.
    pub value: String,
    /// Where the assignment starts.
    pub origin: Origin,
}

/// Parses a unit file or drop-in. Lines that are neither headers, comments nor assignments are
/// ignored, as systemd ignores them (with a log message).
pub fn parse(text: &str, file: &str) -> Vec<Assignment> {
    let mut out = Vec::new();
    let mut section = String::new();
    let mut pending: Option<(String, usize)> = None;
    for (i, raw) in text.lines().enumerate() {
        let number = i + 1;
        let line = raw.trim();
        if let Some((mut text, start)) = pending.take() {
            // Comment lines inside a continuation are skipped.
            if line.starts_with('#') || line.starts_with(';') {
                pending = Some((text, start));
                continue;
            }
            match line.strip_suffix('\\') {
                Some(more) => {
                    text.push(' ');
                    text.push_str(more);
                    pending = Some((text, start));
                }
                None => {
                    text.push(' ');
                    text.push_str(line);
                    assign(&mut out, &section, &text, file, start);
                }
            }
            continue;
        }
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if line.starts_with('[') && line.ends_with(']') {
            section = line[1..line.len() - 1].to_string();
            continue;
        }
        match line.strip_suffix('\\') {
            Some(head) => pending = Some((head.to_string(), number)),
            None => assign(&mut out, &section, line, file, number),
        }
    }
    if let Some((text, start)) = pending {
        assign(&mut out, &section, &text, file, start);
    }
    out
}

/// Records `Key=Value` if the line is one.
fn assign(out: &mut Vec<Assignment>, section: &str, line: &str, file: &str, number: usize) {
    if let Some((key, value)) = line.split_once('=') {
        out.push(Assignment {
            section: section.to_string(),
            key: key.trim().to_string(),
            value: value.trim().to_string(),
            origin: Origin::new(file, number),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sections_comments_continuations() {
        let text = "[Unit]\nDescription=x\n# c\n[Service]\nExecStart=/bin/a \\\n  # inside\n  -b \\\n  c\n; semi\nEnvironment= A=1 \nbogus line\n";
        let a = parse(text, "/u");
        assert_eq!(a.len(), 3);
        assert_eq!(a[1].key, "ExecStart");
        assert_eq!(a[1].value, "/bin/a  -b  c");
        assert_eq!(a[1].origin.line, 5);
        assert_eq!(
            (a[2].section.as_str(), a[2].value.as_str()),
            ("Service", "A=1")
        );
    }
}
