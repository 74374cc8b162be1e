//! Findings: what `check` reports, each with a stable id, a severity, where it is, what is
//! wrong and what `fix` (or the operator) should do.
//!
//! The ids are part of the interface (scripts match on them; docs/migration.md lists them):
//! never rename one, add new ones instead.

use serde::Serialize;
use std::fmt;

/// A place in a file, shown as `file:line`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct Origin {
    /// The file as named inside the root (`/etc/default/haproxy`).
    pub file: String,
    /// 1-based line.
    pub line: usize,
}

impl Origin {
    /// `file` at `line`.
    pub fn new(file: impl Into<String>, line: usize) -> Self {
        Origin {
            file: file.into(),
            line,
        }
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.file, self.line)
    }
}

/// How bad a finding is; only errors make `check` exit 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Reload is not seamless, or the service would not run as configured.
    Error,
    /// Works, but not as the operator probably means.
    Warning,
    /// For information (baton support of a config only run by haproxy units).
    Info,
}

impl Severity {
    /// The plural heading used in text output.
    pub fn heading(self) -> &'static str {
        match self {
            Severity::Error => "errors",
            Severity::Warning => "warnings",
            Severity::Info => "notes",
        }
    }
}

/// Every finding id, with the one-line meaning docs/migration.md documents.
pub const IDS: &[(&str, &str)] = &[
    ("config-unreadable", "the config cannot be read (exit 2)"),
    (
        "unit-unreadable",
        "a unit file, drop-in or environment file cannot be read (exit 2)",
    ),
    (
        "unit-not-found",
        "a unit named with --service is not installed (or is masked)",
    ),
    (
        "no-unit",
        "no baton.service or haproxy.service runs this config; only the config was checked",
    ),
    (
        "env-file-missing",
        "an EnvironmentFile= without '-' does not exist: the unit will not start",
    ),
    (
        "config-mismatch",
        "the unit's -f is not the config being checked",
    ),
    (
        "no-expose-fd",
        "no stats socket with 'expose-fd listeners' where the reload path needs one",
    ),
    (
        "stats-socket-var-unset",
        "HAPROXY_STATS_SOCKET is unset where the reload depends on it",
    ),
    (
        "stats-socket-mismatch",
        "HAPROXY_STATS_SOCKET (or -x) names no stats socket of the config",
    ),
    (
        "stats-socket-dir-missing",
        "the stats socket's directory is missing and nothing creates it",
    ),
    (
        "expose-fd-on-tcp",
        "'expose-fd listeners' on a TCP socket: descriptors only travel over UNIX sockets",
    ),
    (
        "bind-process-needed",
        "nbproc > 1 without 'stats bind-process': one process's listeners only",
    ),
    (
        "bind-process-obsolete",
        "nbproc / stats bind-process: one process per generation since 2.5",
    ),
    (
        "reload-disables-fd-transfer",
        "-x /dev/null: the master's automatic transfer is turned off",
    ),
    (
        "exec-reload-restarts",
        "ExecReload restarts or kills instead of reloading",
    ),
    ("no-exec-reload", "no ExecReload: systemctl reload fails"),
    (
        "unsupported-directive",
        "a directive baton refuses (keyword table: unsupported)",
    ),
    (
        "ignored-directive",
        "a directive baton ignores with a warning (keyword table: warning)",
    ),
    (
        "config-error",
        "any other error baton's config loader reports",
    ),
    (
        "config-warning",
        "any other warning baton's config loader reports",
    ),
];

/// One finding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// Stable kebab-case id from [`IDS`].
    pub id: &'static str,
    /// How bad it is.
    pub severity: Severity,
    /// The file it is about (in-root path), if any.
    pub file: Option<String>,
    /// The line in `file`, if one line is at fault.
    pub line: Option<usize>,
    /// What is wrong, in one sentence.
    pub message: String,
    /// What `fix` does, or what to do by hand.
    pub fix: String,
}

impl Finding {
    /// A finding; `id` must be listed in [`IDS`] (a debug assertion, so every path the tests
    /// take is checked).
    pub fn new(
        id: &'static str,
        severity: Severity,
        at: Option<&Origin>,
        message: impl Into<String>,
        fix: impl Into<String>,
    ) -> Self {
        debug_assert!(IDS.iter().any(|(i, _)| *i == id), "unknown finding id {id}");
        Finding {
            id,
            severity,
            file: at.map(|o| o.file.clone()),
            line: at.map(|o| o.line),
            message: message.into(),
            fix: fix.into(),
        }
    }

    /// A finding about a whole file (no line).
    pub fn about_file(
        id: &'static str,
        severity: Severity,
        file: &str,
        message: impl Into<String>,
        fix: impl Into<String>,
    ) -> Self {
        let mut f = Finding::new(id, severity, None, message, fix);
        f.file = Some(file.to_string());
        f
    }

    /// `file:line`, `file`, or nothing.
    pub fn place(&self) -> Option<String> {
        match (&self.file, self.line) {
            (Some(f), Some(l)) => Some(format!("{f}:{l}")),
            (Some(f), None) => Some(f.clone()),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_kebab_case() {
        let mut seen = std::collections::HashSet::new();
        for (id, _) in IDS {
            assert!(seen.insert(id), "{id} twice");
            assert!(
                id.chars().all(|c| c.is_ascii_lowercase() || c == '-'),
                "{id}"
            );
        }
    }
}
