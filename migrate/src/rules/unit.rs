//! Rules about one unit: its environment files, the config it runs, and an `ExecReload=` that
//! must reload rather than restart.

use super::same_path;
use crate::config::ConfigFacts;
use crate::finding::{Finding, Origin, Severity};
use crate::kind::Kind;
use crate::root::Root;
use crate::unit::Unit;

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
    super::socket::socket_rules(root, config, unit, kind, out);
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
