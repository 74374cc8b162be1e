//! The checks: config and units held against each other for seamless reload, and the config
//! against what baton supports. Each rule adds [`Finding`](crate::finding::Finding)s;
//! severities depend on the unit's [`Kind`] (see docs/migration.md).
//!
//! [`unit`] holds the rules about one unit (environment files, `-f`, `ExecReload=`), [`socket`]
//! the reload path's stats socket per kind, [`config`] the config alone (TCP `expose-fd`, the
//! socket directory, nbproc), [`support`] baton's verdict on each directive.

pub mod config;
pub mod socket;
pub mod support;
pub mod unit;

use crate::config::{ConfigFacts, Socket};
use crate::kind::Kind;
use crate::root::{normalise, Root};
use std::path::Path;

pub use config::config_rules;
pub use support::support_rules;
pub use unit::unit_rules;

/// Where a stats socket goes when `fix` must add one and nothing names a path.
pub fn default_socket(kind: Kind) -> &'static str {
    match kind {
        Kind::Baton => "/run/baton/admin.sock",
        _ => "/run/haproxy/admin.sock",
    }
}

/// Whether two in-root paths name the same file: equal once normalised, or equal once their
/// links are followed inside the root.
pub fn same_path(root: &Root, a: &str, b: &str) -> bool {
    let (na, nb) = (normalise(Path::new(a)), normalise(Path::new(b)));
    na == nb
        || matches!(
            (root.resolve(&na), root.resolve(&nb)),
            (Ok(x), Ok(y)) if x == y
        )
}

/// The stats socket of the config at `path`, if any.
pub fn socket_at<'c>(root: &Root, config: &'c ConfigFacts, path: &str) -> Option<&'c Socket> {
    config
        .unix_sockets()
        .find(|(p, _)| same_path(root, p, path))
        .map(|(_, s)| s)
}
