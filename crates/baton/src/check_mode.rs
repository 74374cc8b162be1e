//! `baton -c`: check a configuration the way `haproxy -c` does, with the same exit codes and
//! message shapes, plus the one check that needs the outside world: resolving server names.

use baton_config::model::{Config, Host};
use baton_config::{Diagnostic, Loaded, Severity, Verdict};
use std::io::Write;
use std::net::ToSocketAddrs;
use std::path::PathBuf;

/// Resolves every server and log target host name, as HAProxy does at start-up; failures are
/// alerts.
pub fn resolve_servers(config: &Config) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    for proxy in &config.proxies {
        for server in &proxy.servers {
            if let Host::Name(name) = &server.host {
                if (name.as_str(), 0)
                    .to_socket_addrs()
                    .map_or(true, |mut a| a.next().is_none())
                {
                    out.push(Diagnostic::alert(
                        Some(server.location.clone()),
                        format!(
                            "'server {}/{}' : could not resolve address '{name}'.",
                            proxy.name, server.name
                        ),
                    ));
                }
            }
        }
    }
    // `log global` copies the global lines into proxies: each line is checked once.
    let mut seen = std::collections::HashSet::new();
    let proxies = config.proxies.iter().flat_map(|p| &p.log.targets);
    for target in config.global.log.targets.iter().chain(proxies) {
        if !seen.insert(&target.location) {
            continue;
        }
        if let baton_config::log_model::LogAddress::Udp {
            host: Host::Name(name),
            ..
        } = &target.address
        {
            if (name.as_str(), 0)
                .to_socket_addrs()
                .map_or(true, |mut a| a.next().is_none())
            {
                out.push(Diagnostic::alert(
                    Some(target.location.clone()),
                    format!("log : invalid address: '{name}' in '{name}'"),
                ));
            }
        }
    }
    out
}

/// Loads `files`, prints the diagnostics like haproxy, and returns the exit code.
pub fn run(files: &[PathBuf], quiet: bool) -> i32 {
    let mut loaded: Loaded = baton_config::load_paths(files);
    if files.is_empty() {
        loaded.diagnostics.push(Diagnostic::alert(
            None,
            "No configuration file given: use -f CFGFILE.",
        ));
    }
    let resolution = resolve_servers(&loaded.config);
    loaded.diagnostics.extend(resolution);
    let verdict = loaded.verdict();
    let pid = std::process::id();
    let stderr = std::io::stderr();
    let mut err = stderr.lock();
    let shown: Vec<&Diagnostic> = loaded
        .diagnostics
        .iter()
        .filter(|d| d.severity != Severity::Diag)
        .filter(|d| !quiet || d.severity == Severity::Alert)
        .collect();
    // With -c -q, haproxy prints nothing at all; only the exit code speaks.
    if !quiet && !shown.is_empty() {
        let _ = writeln!(
            err,
            "{} ({pid}) : baton version is {}",
            Severity::Notice.tag(),
            crate::version()
        );
        if let Ok(exe) = std::env::current_exe() {
            let _ = writeln!(
                err,
                "{} ({pid}) : path to executable is {}",
                Severity::Notice.tag(),
                exe.display()
            );
        }
    }
    if !quiet {
        for d in &shown {
            let _ = writeln!(err, "{}", d.render(pid));
        }
    }
    let files_text: Vec<String> = files.iter().map(|f| f.display().to_string()).collect();
    match verdict {
        Verdict::Invalid if !quiet => {
            let _ = writeln!(
                err,
                "{} ({pid}) : config : Error(s) found in configuration file : {}",
                Severity::Alert.tag(),
                files_text.join(", ")
            );
            let _ = writeln!(
                err,
                "{} ({pid}) : config : Fatal errors found in configuration.",
                Severity::Alert.tag()
            );
        }
        Verdict::NoListener if !quiet => {
            println!(
                "Configuration file has no error but will not start (no listener) => exit(2)."
            );
        }
        Verdict::Valid if !quiet => {
            if loaded
                .diagnostics
                .iter()
                .any(|d| d.severity == Severity::Warning)
            {
                println!("Warnings were found.");
            }
            println!("Configuration file is valid");
        }
        _ => {}
    }
    verdict.exit_code()
}
