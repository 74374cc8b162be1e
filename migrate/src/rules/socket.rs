//! The stats socket a unit's reload hands the listeners over, per kind of unit: the socket
//! `HAPROXY_STATS_SOCKET` or `-x` names must exist with `expose-fd listeners`, and the 1.7
//! wrapper needs both the variable and the socket.

use super::{default_socket, socket_at};
use crate::config::ConfigFacts;
use crate::finding::{Finding, Origin, Severity};
use crate::kind::{reload_socket, transfer_disabled, Kind, SocketSource};
use crate::root::Root;
use crate::unit::Unit;

/// The stats socket the reload needs, per kind.
pub(super) fn socket_rules(
    root: &Root,
    config: &ConfigFacts,
    unit: &Unit,
    kind: Kind,
    out: &mut Vec<Finding>,
) {
    let exposed = config.unix_sockets().find(|(_, s)| s.expose_fd);
    match reload_socket(unit, kind) {
        Some((path, source)) => {
            let (at, what) = match &source {
                SocketSource::Variable(o) => (o, format!("HAPROXY_STATS_SOCKET={path}")),
                SocketSource::Flag(o) => (o, format!("-x {path}")),
            };
            match socket_at(root, config, &path) {
                None => {
                    let have: Vec<String> = config.unix_sockets().map(|(p, _)| p.to_string()).collect();
                    let fix = match (&source, exposed) {
                        (SocketSource::Variable(_), Some((p, _))) => format!("set HAPROXY_STATS_SOCKET={p} (the stats socket with expose-fd listeners) in {}", unit.var_home("HAPROXY_STATS_SOCKET").file()),
                        _ => format!("add 'stats socket {path} mode 660 level admin expose-fd listeners' to global"),
                    };
                    out.push(Finding::new(
                        "stats-socket-mismatch",
                        Severity::Error,
                        Some(at),
                        format!(
                            "{}: {what} names no stats socket of {} (it has: {}); the reload's -x would fail",
                            unit.name,
                            config.path,
                            if have.is_empty() { "none".into() } else { have.join(", ") }
                        ),
                        fix,
                    ));
                }
                Some(s) if !s.expose_fd => out.push(Finding::new(
                    "no-expose-fd",
                    Severity::Error,
                    Some(&s.origin),
                    format!("{}: the stats socket {path} ({what}) lacks 'expose-fd listeners', so it refuses to hand over the listeners", unit.name),
                    "append 'expose-fd listeners' to this stats socket line",
                )),
                Some(_) => {}
            }
        }
        None => match kind {
            Kind::Wrapper => {
                let at = unit
                    .env_files
                    .last()
                    .map_or(Origin::new(unit.fragment.clone(), 1), |f| f.origin.clone());
                let path = exposed.map_or(default_socket(kind), |(p, _)| p);
                out.push(Finding::new(
                    "stats-socket-var-unset",
                    Severity::Error,
                    Some(&at),
                    format!("{}: HAPROXY_STATS_SOCKET is unset, so the 1.7 wrapper reloads without -x and connections are reset (LP #1712925)", unit.name),
                    format!("set HAPROXY_STATS_SOCKET={path} in {}", unit.var_home("HAPROXY_STATS_SOCKET").file()),
                ));
                if exposed.is_none() {
                    no_socket(
                        config,
                        unit,
                        kind,
                        Severity::Error,
                        "the 1.7 wrapper's -x needs one",
                        out,
                    );
                }
            }
            Kind::MasterWorker if exposed.is_none() => {
                if let Some(at) = transfer_disabled(unit) {
                    out.push(Finding::new(
                        "reload-disables-fd-transfer",
                        Severity::Warning,
                        Some(at),
                        format!("{}: -x /dev/null turns off the master's listener transfer: reloads rebind and may reset connections", unit.name),
                        "remove -x /dev/null",
                    ));
                } else {
                    no_socket(config, unit, kind, Severity::Warning, "HAProxy 1.8-2.5's master needs one for -x; 2.6+ transfers over its internal socketpair, so this matters only before 2.6", out);
                }
            }
            _ => {}
        },
    }
}

/// The `no-expose-fd` finding when no UNIX stats socket has `expose-fd listeners`.
fn no_socket(
    config: &ConfigFacts,
    unit: &Unit,
    kind: Kind,
    severity: Severity,
    why: &str,
    out: &mut Vec<Finding>,
) {
    let (at, fix) = match config.unix_sockets().next() {
        Some((_, s)) => (
            Some(s.origin.clone()),
            "append 'expose-fd listeners' to this stats socket line".to_string(),
        ),
        None => (
            config.global_line.clone(),
            format!(
                "add 'stats socket {} mode 660 level admin expose-fd listeners' to global",
                default_socket(kind)
            ),
        ),
    };
    let mut f = Finding::new(
        "no-expose-fd",
        severity,
        at.as_ref(),
        format!(
            "{}: no stats socket with 'expose-fd listeners' ({why})",
            unit.name
        ),
        fix,
    );
    if f.file.is_none() {
        f.file = Some(config.path.clone());
    }
    out.push(f);
}
