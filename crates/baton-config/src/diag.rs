//! Diagnostics: every problem found in a configuration, with where it is and how bad it is.
//!
//! The loader never stops at the first problem; it collects [`Diagnostic`]s and the caller
//! decides what to print. [`Diagnostic::render`] writes them in HAProxy's shape
//! (`[ALERT]    (PID) : config : parsing [FILE:LINE] : text`) so that operators and their
//! tooling read baton's output as they read `haproxy -c`.

use std::fmt;
use std::path::Path;
use std::sync::Arc;

/// How bad a diagnostic is; HAProxy's four levels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    /// Developer-level detail (`.diag`); shown only on request.
    Diag,
    /// Information (`.notice`).
    Notice,
    /// Something that works but may not do what the author meant.
    Warning,
    /// An error: the configuration is refused.
    Alert,
}

impl Severity {
    /// The bracketed tag, padded as HAProxy pads it.
    pub fn tag(self) -> &'static str {
        match self {
            Severity::Alert => "[ALERT]   ",
            Severity::Warning => "[WARNING] ",
            Severity::Notice => "[NOTICE]  ",
            Severity::Diag => "[DIAG]    ",
        }
    }
}

/// A position in a configuration file.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Location {
    /// The file as named on the command line (or found in a directory).
    pub file: Arc<str>,
    /// 1-based line number.
    pub line: usize,
}

impl Location {
    /// A location in `file` at `line`.
    pub fn new(file: &Arc<str>, line: usize) -> Self {
        Location {
            file: Arc::clone(file),
            line,
        }
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.file, self.line)
    }
}

/// One problem or remark.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// How bad it is.
    pub severity: Severity,
    /// Where, when it concerns one line.
    pub location: Option<Location>,
    /// What is wrong, in one sentence, naming the keyword or object at fault.
    pub message: String,
    /// Extra lines printed under the message (a tokenizer error's line and caret).
    pub detail: Vec<String>,
}

impl Diagnostic {
    /// An alert at `location`.
    pub fn alert(location: Option<Location>, message: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Alert,
            location,
            message: message.into(),
            detail: Vec::new(),
        }
    }

    /// A warning at `location`.
    pub fn warning(location: Option<Location>, message: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Warning,
            location,
            message: message.into(),
            detail: Vec::new(),
        }
    }

    /// The text after `config : `, without the severity tag.
    pub fn text(&self) -> String {
        match &self.location {
            Some(at) => format!("parsing [{at}] : {}", self.message),
            None => self.message.clone(),
        }
    }

    /// The full HAProxy-shaped line(s) for process `pid`.
    pub fn render(&self, pid: u32) -> String {
        let mut out = format!("{} ({pid}) : config : {}", self.severity.tag(), self.text());
        for line in &self.detail {
            out.push('\n');
            out.push_str(line);
        }
        out
    }
}

/// The outcome of checking a configuration, as `haproxy -c` reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Valid (exit 0).
    Valid,
    /// Errors found (exit 1).
    Invalid,
    /// Valid but nothing to listen on (exit 2).
    NoListener,
}

impl Verdict {
    /// The process exit code HAProxy uses for this verdict.
    pub fn exit_code(self) -> i32 {
        match self {
            Verdict::Valid => 0,
            Verdict::Invalid => 1,
            Verdict::NoListener => 2,
        }
    }
}

/// Formats a path for messages the way it was given.
pub fn display_path(path: &Path) -> Arc<str> {
    Arc::from(path.to_string_lossy().as_ref())
}
