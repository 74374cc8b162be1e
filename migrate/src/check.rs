//! `check`: finds the units and the config, runs the rules, and says whether the tool could
//! check at all (exit 2), found errors (exit 1) or not (exit 0).

use crate::cli::Common;
use crate::config::{self, ConfigFacts};
use crate::finding::{Finding, Severity};
use crate::kind::{reload_socket, Kind};
use crate::root::Root;
use crate::rules;
use crate::unit::{self, Unit, UnitError};
use serde::Serialize;
use std::path::{Path, PathBuf};

/// The units looked for when `--service` is not given, baton's first.
pub const DEFAULT_UNITS: [&str; 2] = ["baton.service", "haproxy.service"];

/// A bad command line that clap cannot see (exit 2).
#[derive(Debug, thiserror::Error)]
pub enum UsageError {
    /// `--root` is not a directory.
    #[error("--root {0}: not a directory")]
    BadRoot(PathBuf),
    /// No CONFIG and no unit to take it from.
    #[error("no CONFIG given and no baton.service or haproxy.service names one with -f; give the config's path")]
    NoConfig,
    /// A relative CONFIG outside the root.
    #[error("CONFIG {0}: give a path inside --root (absolute, as the units name it)")]
    ConfigOutsideRoot(PathBuf),
}

/// One unit in the report.
#[derive(Debug, Clone, Serialize)]
pub struct UnitSummary {
    /// `haproxy.service`.
    pub name: String,
    /// The fragment (in-root path).
    pub path: String,
    /// Drop-ins applied, in order.
    pub dropins: Vec<String>,
    /// See [`Kind::name`].
    pub kind: &'static str,
    /// The `-f` arguments of its main command.
    pub configs: Vec<String>,
    /// The socket its reload passes with `-x`, if any.
    pub reload_socket: Option<String>,
}

/// The result of `check`, serialised as the documented JSON object.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// No errors (and everything could be checked).
    pub ok: bool,
    /// The config checked (in-root path).
    pub config: String,
    /// The units held against it.
    pub units: Vec<UnitSummary>,
    /// Every finding, errors first.
    pub findings: Vec<Finding>,
}

/// Everything `check` learnt, which `fix` builds on.
#[derive(Debug)]
pub struct Checked {
    /// The root.
    pub root: Root,
    /// The config, when it could be read.
    pub config: Option<ConfigFacts>,
    /// The units and their kinds.
    pub units: Vec<(Unit, Kind)>,
    /// What to print.
    pub report: Report,
    /// Some input could not be read: exit 2.
    pub incomplete: bool,
}

impl Checked {
    /// 0 no errors, 1 errors, 2 could not check.
    pub fn exit_code(&self) -> i32 {
        if self.incomplete {
            2
        } else if self.report.ok {
            0
        } else {
            1
        }
    }
}

/// Runs every check.
pub fn run(common: &Common) -> Result<Checked, UsageError> {
    if !common.root.is_dir() {
        return Err(UsageError::BadRoot(common.root.clone()));
    }
    let root = Root::new(&common.root).map_err(|_| UsageError::BadRoot(common.root.clone()))?;
    let mut findings = Vec::new();
    let mut incomplete = false;
    let explicit = !common.services.is_empty();
    let names: Vec<String> = if explicit {
        common
            .services
            .iter()
            .map(|s| unit::service_name(s))
            .collect()
    } else {
        DEFAULT_UNITS.iter().map(|s| s.to_string()).collect()
    };
    let mut units = Vec::new();
    for name in &names {
        match unit::load(&root, name) {
            Ok(u) => {
                for (at, why) in &u.ignored {
                    findings.push(Finding::new(
                        "config-warning",
                        Severity::Warning,
                        Some(at),
                        format!("systemd ignores this: {why}"),
                        "correct the unit line",
                    ));
                }
                units.push(u);
            }
            Err(e @ (UnitError::NotFound(_) | UnitError::Masked(_))) => {
                if explicit {
                    findings.push(Finding::new(
                        "unit-not-found",
                        Severity::Error,
                        None,
                        e.to_string(),
                        "name an installed unit with --service",
                    ));
                }
            }
            Err(UnitError::Unreadable { path, error }) => {
                findings.push(Finding::about_file(
                    "unit-unreadable",
                    Severity::Error,
                    &path,
                    format!("{name}: cannot read {path}: {error}"),
                    "make it readable and run check again",
                ));
                incomplete = true;
            }
        }
    }
    let config_path = match &common.config {
        Some(c) => in_root(&root, c)?,
        None => match units
            .iter()
            .find_map(|u| u.configs().first().map(|c| c.to_string()))
        {
            Some(c) => c,
            // A unit that could not be read may be the one naming the config: say that.
            None if incomplete => {
                let report = Report {
                    ok: false,
                    config: String::new(),
                    units: Vec::new(),
                    findings,
                };
                return Ok(Checked {
                    root,
                    config: None,
                    units: Vec::new(),
                    report,
                    incomplete,
                });
            }
            None => return Err(UsageError::NoConfig),
        },
    };
    if !explicit {
        units.retain(|u| {
            u.configs()
                .iter()
                .any(|c| rules::same_path(&root, c, &config_path))
        });
    }
    let env_source = units.first().map(|u| u.env.clone());
    let env = move |name: &str| match &env_source {
        Some(env) => env.get(name).map(|v| v.value.clone()),
        None => std::env::var(name).ok(),
    };
    let config = match config::load(&root, Path::new(&config_path), &env) {
        Ok(c) => Some(c),
        Err(e) => {
            findings.push(Finding::about_file(
                "config-unreadable",
                Severity::Error,
                &config_path,
                format!("cannot read the config: {}", e.error),
                "give a readable config",
            ));
            incomplete = true;
            None
        }
    };
    let mut kinds = Vec::new();
    if let Some(config) = &config {
        for u in units {
            let kind = Kind::of(&u, config);
            rules::unit_rules(&root, config, &u, kind, &mut findings);
            kinds.push((u, kind));
        }
        if kinds.is_empty() && !explicit {
            findings.push(Finding::about_file(
                "no-unit",
                Severity::Warning,
                &config_path,
                format!(
                    "no {} runs {config_path}; only the config was checked",
                    DEFAULT_UNITS.join(" or ")
                ),
                "name the unit with --service",
            ));
        }
        rules::config_rules(&root, config, &kinds, &mut findings);
        let for_baton = kinds.is_empty() || kinds.iter().any(|(_, k)| *k == Kind::Baton);
        rules::support_rules(config, for_baton, &mut findings);
    }
    findings.sort_by(|a, b| (a.severity, &a.file, a.line).cmp(&(b.severity, &b.file, b.line)));
    let report = Report {
        ok: !incomplete && !findings.iter().any(|f| f.severity == Severity::Error),
        config: config_path,
        units: kinds.iter().map(|(u, k)| summary(u, *k)).collect(),
        findings,
    };
    Ok(Checked {
        root,
        config,
        units: kinds,
        report,
        incomplete,
    })
}

/// The report line of one unit.
fn summary(u: &Unit, kind: Kind) -> UnitSummary {
    UnitSummary {
        name: u.name.clone(),
        path: u.fragment.clone(),
        dropins: u.dropins.clone(),
        kind: kind.name(),
        configs: u.configs().iter().map(|c| c.to_string()).collect(),
        reload_socket: reload_socket(u, kind).map(|(p, _)| p),
    }
}

/// CONFIG as an in-root path: absolute paths are taken as they are; a relative one is made
/// absolute against the current directory and must then lie under the root.
fn in_root(root: &Root, config: &Path) -> Result<String, UsageError> {
    if config.is_absolute() {
        return Ok(config.display().to_string());
    }
    let abs = std::env::current_dir()
        .map(|d| d.join(config))
        .map_err(|_| UsageError::ConfigOutsideRoot(config.into()))?;
    let abs = crate::root::normalise(&abs);
    if root.is_host_root() {
        return Ok(abs.display().to_string());
    }
    match abs.strip_prefix(root.dir()) {
        Ok(rel) => Ok(Path::new("/").join(rel).display().to_string()),
        Err(_) => Err(UsageError::ConfigOutsideRoot(config.into())),
    }
}
