//! baton-config: haproxy.cfg as baton reads it.
//!
//! The crate turns configuration files into a typed [`model::Config`] that the runtime consumes:
//! a pest grammar tokenizes each line exactly as HAProxy 2.6 does ([`tokenizer`]), conditional
//! blocks are evaluated ([`condition`]), each directive is classified by the one keyword table
//! ([`keywords`]) and parsed into the model ([`load`]), then whole-configuration checks run
//! ([`check`]). Every problem is a [`diag::Diagnostic`] with its file and line; nothing in this
//! crate panics on bad input, and it does no I/O beyond reading the configuration files.

pub mod acl;
pub mod check;
pub mod condition;
pub mod diag;
pub mod keywords;
pub mod load;
pub mod log_model;
pub mod logformat;
pub mod model;
pub mod rules;
pub mod sample;
pub mod source;
pub mod tokenizer;
pub mod values;

pub use diag::{Diagnostic, Severity, Verdict};
pub use load::{load_paths, load_paths_with_env, load_str, Loaded};
pub use model::Config;

/// Fuzzing entry points, shared by the `fuzz/` cargo-fuzz crate and the stable smoke test.
#[doc(hidden)]
pub mod fuzzing {
    use crate::tokenizer::{tokenize, TokenizeErrorKind, MAX_WORDS};

    /// Feeds one line (lossily decoded as UTF-8, cut at the first line break as the loader
    /// would) to the tokenizer and checks the invariants that hold for every input.
    pub fn fuzz_line(data: &[u8]) {
        let text = String::from_utf8_lossy(data);
        let line = text.split(['\n', '\r']).next().unwrap_or_default();
        let env = |name: &str| match name {
            "HOME" => Some("/root".to_string()),
            "SPL" => Some(" a  b ".to_string()),
            _ => None,
        };
        match tokenize(line, env) {
            Ok(l) => {
                assert!(
                    l.words.len() <= MAX_WORDS,
                    "{} words for {line:?}",
                    l.words.len()
                );
                assert!(
                    l.words.iter().all(|w| !w.contains('\0')),
                    "NUL in a word of {line:?}"
                );
            }
            Err(e) => {
                if e.kind != TokenizeErrorKind::TooManyWords {
                    assert!(
                        (1..=line.len() + 1).contains(&e.column),
                        "{e:?} for {line:?}"
                    );
                }
            }
        }
    }

    /// Feeds arbitrary bytes, as a whole configuration file, to the loader and checks that the
    /// verdict agrees with the diagnostics and that every located diagnostic points at a line
    /// of the input.
    pub fn fuzz_config(data: &[u8]) {
        use crate::diag::{Severity, Verdict};
        let file = crate::source::SourceFile {
            name: "fuzz.cfg".into(),
            bytes: data.to_vec(),
        };
        let loaded = crate::load::load_sources(&[file], &|name| match name {
            "HOME" => Some("/root".to_string()),
            _ => None,
        });
        let lines = data.split(|&b| b == b'\n').count();
        for d in &loaded.diagnostics {
            if let Some(at) = &d.location {
                assert!((1..=lines).contains(&at.line), "{d:?} outside 1..={lines}");
            }
        }
        let alerts = loaded
            .diagnostics
            .iter()
            .any(|d| d.severity == Severity::Alert);
        assert_eq!(alerts, loaded.verdict() == Verdict::Invalid);
    }
}
