//! `fix`: the smallest change that makes `check` pass on the reload path — `expose-fd
//! listeners` added to a stats socket line (or a `stats socket` line added to `global`), and
//! `HAPROXY_STATS_SOCKET` set where it takes effect: the line that sets it now, else the last
//! environment file the unit reads (files override `Environment=`, later files earlier ones),
//! else a drop-in that sorts last. Other findings are left for the operator.

pub mod edit;
pub mod write;

use crate::check::Checked;
use crate::config::ConfigFacts;
use crate::finding::{Finding, Severity};
use crate::kind::{reload_socket, Kind, SocketSource};
use crate::root::RootError;
use crate::rules::{default_socket, socket_at};
use crate::unit::{Unit, VarHome};
use edit::Editor;
pub use write::{apply, FileChange, Stage, WriteError};

/// The variable the 1.7 wrapper and baton read.
const VAR: &str = "HAPROXY_STATS_SOCKET";

/// Findings `fix` addresses; every other error is left to the operator.
pub const FIXABLE: [&str; 3] = [
    "no-expose-fd",
    "stats-socket-var-unset",
    "stats-socket-mismatch",
];

/// Why no plan could be made.
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    /// The config could not be read.
    #[error("the config could not be read; nothing to fix")]
    NoConfig,
    /// A file to edit is not inside the root or cannot be read.
    #[error(transparent)]
    Root(#[from] RootError),
    /// A file to edit cannot be read.
    #[error("{path}: cannot read: {error}")]
    Unreadable {
        /// The file, in the root.
        path: String,
        /// Why.
        error: std::io::Error,
    },
}

/// What `fix` will do.
#[derive(Debug, Default)]
pub struct Plan {
    /// The files to write.
    pub changes: Vec<FileChange>,
    /// What to do after writing (daemon-reload, restart).
    pub notes: Vec<String>,
    /// Errors this plan does not fix.
    pub unfixed: Vec<Finding>,
}

/// Computes the plan from what `check` found.
pub fn plan(checked: &Checked) -> Result<Plan, PlanError> {
    let config = checked.config.as_ref().ok_or(PlanError::NoConfig)?;
    let mut ed = Editor::new(&checked.root);
    let mut unfixed: Vec<Finding> = checked
        .report
        .findings
        .iter()
        .filter(|f| f.severity == Severity::Error && !FIXABLE.contains(&f.id))
        .cloned()
        .collect();
    let mut notes = Vec::new();
    for (unit, kind) in &checked.units {
        let rs = reload_socket(unit, *kind);
        let var_driven =
            *kind == Kind::Wrapper || matches!(rs, Some((_, SocketSource::Variable(_))));
        if *kind != Kind::Wrapper && rs.is_none() {
            continue;
        }
        let target = target_socket(checked, config, rs.as_ref(), *kind);
        match socket_at(&checked.root, config, &target) {
            Some(s) if !s.expose_fd => ed.expose_fd(&s.origin)?,
            Some(_) => {}
            None => ed.add_socket(config, &target)?,
        }
        let current = rs
            .as_ref()
            .filter(|(_, s)| matches!(s, SocketSource::Variable(_)))
            .map(|(p, _)| p.as_str());
        if var_driven && current != Some(target.as_str()) {
            if unit
                .unset
                .iter()
                .any(|u| u == VAR || u.starts_with(&format!("{VAR}=")))
            {
                unfixed.push(Finding::new(
                    "stats-socket-var-unset",
                    Severity::Error,
                    None,
                    format!(
                        "{}: UnsetEnvironment= removes {VAR}; fix cannot set it",
                        unit.name
                    ),
                    format!("remove {VAR} from UnsetEnvironment="),
                ));
                continue;
            }
            set_var(&mut ed, unit, &target)?;
            if matches!(unit.var_home(VAR), VarHome::DropIn(_)) {
                notes.push("run `systemctl daemon-reload` (a drop-in was added)".into());
            }
            notes.push(match kind {
                Kind::Wrapper => format!("restart {} once (`systemctl restart {}`): the wrapper reads {VAR} only when it starts; every later reload is seamless", unit.name, unit.name),
                _ => format!("{}: the next reload passes -x {target}", unit.name),
            });
        }
    }
    let changes = ed.finish()?;
    if changes.iter().any(|c| config.files.contains_key(&c.shown)) {
        notes.push("reload the service to apply the config change (`systemctl reload ...`)".into());
    }
    Ok(Plan {
        changes,
        notes,
        unfixed,
    })
}

/// The socket path the fixed config and variable agree on.
fn target_socket(
    checked: &Checked,
    config: &ConfigFacts,
    rs: Option<&(String, SocketSource)>,
    kind: Kind,
) -> String {
    let exposed = config
        .unix_sockets()
        .find(|(_, s)| s.expose_fd)
        .map(|(p, _)| p.to_string());
    let any = config.unix_sockets().next().map(|(p, _)| p.to_string());
    match rs {
        Some((p, _)) if socket_at(&checked.root, config, p).is_some() => p.clone(),
        Some((p, SocketSource::Flag(_))) => p.clone(),
        Some((p, SocketSource::Variable(_))) => exposed.or(any).unwrap_or_else(|| p.clone()),
        None => exposed
            .or(any)
            .unwrap_or_else(|| default_socket(kind).to_string()),
    }
}

/// Sets the variable where it takes effect for `unit`.
fn set_var(ed: &mut Editor, unit: &Unit, value: &str) -> Result<(), PlanError> {
    let line = format!("{VAR}={}", edit::env_file_value(value));
    match unit.var_home(VAR) {
        VarHome::Line(at) => ed.replace_line(&at, &line),
        VarHome::File(file) => ed.append(&file, &format!("{line}\n")),
        VarHome::DropIn(file) => {
            let text = format!(
                "# Written by baton-migrate fix: the stats socket the reload passes with -x.\n[Service]\nEnvironment={}\n",
                edit::unit_quote(&format!("{VAR}={value}"))
            );
            ed.append(&file, &text)
        }
    }
}

/// The unified diff of every change.
pub fn diff(changes: &[FileChange]) -> String {
    let mut out = String::new();
    for c in changes {
        let old = String::from_utf8_lossy(c.original.as_deref().unwrap_or_default()).into_owned();
        let new = String::from_utf8_lossy(&c.new).into_owned();
        let from = if c.original.is_some() {
            format!("a{}", c.shown)
        } else {
            "/dev/null".into()
        };
        let text = similar::TextDiff::from_lines(&old, &new)
            .unified_diff()
            .context_radius(3)
            .header(&from, &format!("b{}", c.shown))
            .to_string();
        out.push_str(&text);
    }
    out
}
