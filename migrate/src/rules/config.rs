//! Rules about the config alone: `expose-fd` on TCP sockets, stats socket directories that
//! nothing creates, and the multi-process directives.

use crate::config::{ConfigFacts, SocketAddr};
use crate::finding::{Finding, Severity};
use crate::kind::Kind;
use crate::root::{normalise, Root};
use crate::unit::Unit;
use std::path::Path;

/// Rules about the config alone; `units` creating directories count for the socket directory.
pub fn config_rules(
    root: &Root,
    config: &ConfigFacts,
    units: &[(Unit, Kind)],
    out: &mut Vec<Finding>,
) {
    for s in &config.sockets {
        if let (SocketAddr::Tcp(addr), true) = (&s.address, s.expose_fd) {
            out.push(Finding::new(
                "expose-fd-on-tcp",
                Severity::Warning,
                Some(&s.origin),
                format!("'expose-fd listeners' on the TCP stats socket {addr} has no effect: descriptors only travel over UNIX sockets"),
                "put expose-fd listeners on a UNIX stats socket (e.g. /run/haproxy/admin.sock) and remove it here",
            ));
        }
    }
    let created = created_dirs(root, units);
    for (path, s) in config.unix_sockets() {
        let Some(dir) = Path::new(path).parent() else {
            continue;
        };
        let dir = normalise(dir);
        let exists = root.resolve(&dir).is_ok_and(|h| h.is_dir());
        if exists || created.iter().any(|c| normalise(Path::new(c)) == dir) {
            continue;
        }
        out.push(Finding::new(
            "stats-socket-dir-missing",
            Severity::Error,
            Some(&s.origin),
            format!("the stats socket's directory {} does not exist and no RuntimeDirectory= or tmpfiles.d entry creates it: binding {path} fails", dir.display()),
            format!("add RuntimeDirectory={} to the unit (or a tmpfiles.d 'd' line)", dir.strip_prefix("/run").map_or(dir.display().to_string(), |d| d.display().to_string())),
        ));
    }
    let nbproc = config
        .nbproc
        .as_ref()
        .map(|(n, at)| (n.parse::<u32>().unwrap_or(1), at));
    match nbproc {
        Some((n, at)) if n > 1 && config.stats_bind_process.is_empty() => out.push(Finding::new(
            "bind-process-needed",
            Severity::Error,
            Some(at),
            format!("nbproc {n} without 'stats bind-process': each process binds the stats socket and -x only gets the listeners of the one that answers"),
            "add 'stats bind-process 1' to global (HAProxy 1.8-2.4), or better drop nbproc for nbthread",
        )),
        _ => {
            let lines = config.stats_bind_process.iter().chain(nbproc.filter(|(n, _)| *n <= 1).map(|(_, at)| at));
            for at in lines {
                out.push(Finding::new(
                    "bind-process-obsolete",
                    Severity::Warning,
                    Some(at),
                    "nbproc / stats bind-process belong to the multi-process era: removed in HAProxy 2.5 / 2.7, ignored by baton".to_string(),
                    "remove this line (use nbthread for parallelism)",
                ));
            }
        }
    }
}

/// Directories created for the service: `RuntimeDirectory=` of the units, `d`/`D` lines of
/// tmpfiles.d under the root.
fn created_dirs(root: &Root, units: &[(Unit, Kind)]) -> Vec<String> {
    let mut dirs: Vec<String> = units
        .iter()
        .flat_map(|(u, _)| u.runtime_dirs.iter().cloned())
        .collect();
    for base in [
        "/etc/tmpfiles.d",
        "/run/tmpfiles.d",
        "/usr/lib/tmpfiles.d",
        "/lib/tmpfiles.d",
    ] {
        let Ok(entries) = std::fs::read_dir(root.host(Path::new(base))) else {
            continue;
        };
        for entry in entries.flatten() {
            let Ok(text) = std::fs::read_to_string(entry.path()) else {
                continue;
            };
            for line in text.lines() {
                let mut w = line.split_whitespace();
                if let (Some(t), Some(p)) = (w.next(), w.next()) {
                    if matches!(t.trim_end_matches(['!', '-', '=', '+', '^']), "d" | "D") {
                        dirs.push(p.to_string());
                    }
                }
            }
        }
    }
    dirs
}
