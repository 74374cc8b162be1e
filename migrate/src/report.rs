//! Printing a [`Report`]: for people (grouped by severity, then by finding id, each with its
//! fix) or as the JSON object documented in docs/migration.md.

use crate::check::Report;
use crate::finding::Severity;
use std::fmt::Write;

/// The JSON text (one object, pretty-printed, newline-terminated).
pub fn json(report: &Report) -> String {
    let mut text = serde_json::to_string_pretty(report)
        .unwrap_or_else(|e| format!("{{\"ok\": false, \"error\": \"{e}\"}}"));
    text.push('\n');
    text
}

/// The text for people.
pub fn text(report: &Report) -> String {
    let mut out = String::new();
    let config = if report.config.is_empty() {
        "(not determined)"
    } else {
        &report.config
    };
    let _ = writeln!(out, "config: {config}");
    for u in &report.units {
        let _ = write!(out, "unit:   {} ({}, {})", u.name, u.path, u.kind);
        if !u.dropins.is_empty() {
            let _ = write!(out, " + {}", u.dropins.join(", "));
        }
        if let Some(s) = &u.reload_socket {
            let _ = write!(out, "; reload -x {s}");
        }
        out.push('\n');
    }
    for severity in [Severity::Error, Severity::Warning, Severity::Info] {
        let mut group: Vec<_> = report
            .findings
            .iter()
            .filter(|f| f.severity == severity)
            .collect();
        if group.is_empty() {
            continue;
        }
        group.sort_by_key(|f| f.id);
        let _ = writeln!(out, "\n{} ({}):", severity.heading(), group.len());
        let mut last_id = "";
        for f in group {
            if f.id != last_id {
                let _ = writeln!(out, "  [{}]", f.id);
                last_id = f.id;
            }
            match f.place() {
                Some(p) => {
                    let _ = writeln!(out, "    {p}: {}", f.message);
                }
                None => {
                    let _ = writeln!(out, "    {}", f.message);
                }
            }
            let _ = writeln!(out, "      fix: {}", f.fix);
        }
    }
    let count = |s| report.findings.iter().filter(|f| f.severity == s).count();
    let (e, w) = (count(Severity::Error), count(Severity::Warning));
    let _ = writeln!(
        out,
        "\n{}: {e} error{}, {w} warning{}",
        if report.ok { "ok" } else { "FAILED" },
        if e == 1 { "" } else { "s" },
        if w == 1 { "" } else { "s" }
    );
    out
}
