//! The checks: config and units held against each other for seamless reload, and the config
//! against what baton supports. Each rule adds [`Finding`]s; severities depend on the unit's
//! [`Kind`] (see docs/migration.md).

use crate::config::{ConfigFacts, Socket, SocketAddr};
use crate::finding::{Finding, Origin, Severity};
use crate::kind::{reload_socket, transfer_disabled, Kind, SocketSource};
use crate::root::{normalise, Root};
use crate::unit::Unit;
use baton_config::Severity as DiagSeverity;
use std::collections::HashSet;
use std::path::Path;

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

/// Every rule for one unit.
pub fn unit_rules(
    root: &Root,
    config: &ConfigFacts,
    unit: &Unit,
    kind: Kind,
    out: &mut Vec<Finding>,
) {
    let frag = Origin::new(unit.fragment.clone(), 1);
    for file in unit.env_files.iter().filter(|f| !f.exists && !f.optional) {
        out.push(Finding::new(
            "env-file-missing",
            Severity::Error,
            Some(&file.origin),
            format!(
                "{}: EnvironmentFile={} does not exist, so systemd will not start the unit",
                unit.name, file.path
            ),
            format!(
                "create {} or write EnvironmentFile=-{} (the '-' makes it optional)",
                file.path, file.path
            ),
        ));
    }
    let configs = unit.configs();
    if !configs.iter().any(|c| same_path(root, c, &config.path)) {
        let at = unit.main().map_or(&frag, |m| &m.origin);
        let what = if configs.is_empty() {
            "no -f".to_string()
        } else {
            format!("-f {}", configs.join(" -f "))
        };
        out.push(Finding::new(
            "config-mismatch",
            Severity::Error,
            Some(at),
            format!("{} runs with {what}, not {}", unit.name, config.path),
            format!(
                "check the config {} uses, or set CONFIG={} for it",
                unit.name, config.path
            ),
        ));
    }
    reload_rules(unit, out);
    socket_rules(root, config, unit, kind, out);
}

/// `ExecReload=` must reload, not restart.
fn reload_rules(unit: &Unit, out: &mut Vec<Finding>) {
    if unit.exec_reload.is_empty() {
        if unit.service_type.as_deref() != Some("notify-reload") {
            let at = Origin::new(unit.fragment.clone(), 1);
            out.push(Finding::new(
                "no-exec-reload",
                Severity::Warning,
                Some(&at),
                format!("{} has no ExecReload=, so `systemctl reload` fails", unit.name),
                "add ExecReload=/bin/kill -USR2 $MAINPID (master-worker and the 1.7 wrapper reload on SIGUSR2)",
            ));
        }
        return;
    }
    for e in &unit.exec_reload {
        let args: Vec<&str> = e.args.iter().map(String::as_str).collect();
        let restarts = match e.program_name() {
            "systemctl" | "service" => args
                .iter()
                .any(|a| matches!(*a, "restart" | "stop" | "try-restart" | "force-reload")),
            "kill" => kill_stops(&args),
            "haproxy" | "baton" => args.contains(&"-st"),
            _ => false,
        };
        if restarts {
            out.push(Finding::new(
                "exec-reload-restarts",
                Severity::Error,
                Some(&e.origin),
                format!("{}: ExecReload= stops the running process instead of reloading it: every open connection is cut", unit.name),
                "use ExecReload=/bin/kill -USR2 $MAINPID (a soft reload)",
            ));
        }
    }
}

/// Whether `kill ARGS` sends a signal that stops haproxy or baton (TERM when none is given).
fn kill_stops(args: &[&str]) -> bool {
    let mut signals = Vec::new();
    let mut words = args.iter();
    while let Some(a) = words.next() {
        match *a {
            "-s" | "--signal" => signals.extend(words.next().copied()),
            a if a.starts_with('-') => signals.push(&a[1..]),
            _ => {}
        }
    }
    signals.is_empty()
        || signals.iter().any(|s| {
            let s = s.trim_start_matches("SIG");
            matches!(s, "TERM" | "KILL" | "INT" | "QUIT" | "9" | "15" | "2" | "3")
        })
}

/// The stats socket the reload needs, per kind.
fn socket_rules(
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

/// baton's verdict on each directive, from its config loader and keyword table. `info`
/// instead of errors and warnings when only haproxy units run the config.
pub fn support_rules(config: &ConfigFacts, for_baton: bool, out: &mut Vec<Finding>) {
    let covered: HashSet<Origin> = out
        .iter()
        .filter(|f| {
            matches!(
                f.id,
                "expose-fd-on-tcp" | "bind-process-obsolete" | "bind-process-needed"
            )
        })
        .filter_map(|f| Some(Origin::new(f.file.clone()?, f.line?)))
        .collect();
    for (d, at) in &config.diagnostics {
        let (id, severity) = match d.severity {
            DiagSeverity::Alert if d.message.contains("is not supported by baton") => {
                ("unsupported-directive", Severity::Error)
            }
            DiagSeverity::Alert => ("config-error", Severity::Error),
            DiagSeverity::Warning if d.message.contains("is ignored by baton") => {
                ("ignored-directive", Severity::Warning)
            }
            DiagSeverity::Warning => ("config-warning", Severity::Warning),
            _ => continue,
        };
        if at.as_ref().is_some_and(|a| covered.contains(a)) && d.severity == DiagSeverity::Warning {
            continue;
        }
        let severity = if for_baton { severity } else { Severity::Info };
        let fix = match id {
            "unsupported-directive" => "baton refuses this directive: remove it or keep this service on haproxy (docs/keywords.md)",
            "ignored-directive" => "baton runs without it; remove it to silence the warning",
            "config-error" => "correct the line: `baton -c -f CONFIG` refuses the config",
            _ => "see the message; `baton -c -f CONFIG` prints the same",
        };
        let mut f = Finding::new(id, severity, at.as_ref(), d.message.clone(), fix);
        if f.file.is_none() {
            f.file = Some(config.path.clone());
        }
        out.push(f);
    }
}

#[cfg(test)]
mod tests {
    use super::kill_stops;

    #[test]
    fn kill_signals() {
        assert!(!kill_stops(&["-USR2", "$MAINPID"]));
        assert!(!kill_stops(&["-s", "HUP", "$MAINPID"]));
        assert!(!kill_stops(&["-SIGUSR2", "1"]));
        assert!(kill_stops(&["$MAINPID"]));
        assert!(kill_stops(&["-s", "TERM", "1"]));
        assert!(kill_stops(&["-9", "1"]));
        assert!(kill_stops(&["-SIGKILL", "1"]));
    }
}
