//! baton-config: haproxy.cfg as baton reads it.
//!
//! The crate turns configuration files into a typed [`model::Config`] that the runtime consumes:
//! a pest grammar tokenizes each line exactly as HAProxy 2.6 does ([`tokenizer`]), conditional
//! blocks are evaluated ([`condition`]), each directive is classified by the one keyword table
//! ([`keywords`]) and parsed into the model ([`load`]), then whole-configuration checks run
//! ([`check`]). Every problem is a [`diag::Diagnostic`] with its file and line; nothing in this
//! crate panics on bad input, and it does no I/O beyond reading the configuration files.

pub mod keywords;
pub mod tokenizer;
