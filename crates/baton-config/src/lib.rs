//! baton-config: haproxy.cfg as baton reads it.
//!
//! The crate turns configuration files into a typed [`model::Config`] that the runtime consumes:
//! a pest grammar tokenizes each line exactly as HAProxy 2.6 does ([`tokenizer`]), conditional
//! blocks are evaluated ([`condition`]), each directive is classified by the one keyword table
//! ([`keywords`]) and parsed into the model ([`load`]), then whole-configuration checks run
//! ([`check`]). Every problem is a [`diag::Diagnostic`] with its file and line; nothing in this
//! crate panics on bad input, and it does no I/O beyond reading the configuration files.

pub mod check;
pub mod condition;
pub mod diag;
pub mod keywords;
pub mod load;
pub mod model;
pub mod source;
pub mod tokenizer;
pub mod values;

pub use diag::{Diagnostic, Severity, Verdict};
pub use load::{load_paths, load_paths_with_env, load_str, Loaded};
pub use model::Config;
