//! Finding a unit's files: the fragment on the search path (first directory wins, a link to
//! /dev/null masks it) and its drop-ins across all directories (a name in an earlier
//! directory hides the same name in a later one), read through the root.

use super::{evaluate::evaluate, syntax, Unit};
use crate::root::Root;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use syntax::Assignment;

/// The unit directories, highest precedence first.
pub const UNIT_DIRS: [&str; 4] = [
    "/etc/systemd/system",
    "/run/systemd/system",
    "/lib/systemd/system",
    "/usr/lib/systemd/system",
];

/// Why a unit could not be read.
#[derive(Debug, thiserror::Error)]
pub enum UnitError {
    /// No fragment on the search path.
    #[error("{0}: not found in {dirs}", dirs = UNIT_DIRS.join(", "))]
    NotFound(String),
    /// The fragment is a link to /dev/null.
    #[error("{0}: masked (linked to /dev/null)")]
    Masked(String),
    /// A file exists but cannot be read.
    #[error("{path}: cannot read: {error}")]
    Unreadable {
        /// The in-root path.
        path: String,
        /// Why.
        error: String,
    },
}

/// Reads a file under the root: `Ok(None)` when it does not exist.
pub(super) fn read(root: &Root, path: &Path) -> Result<Option<(PathBuf, String)>, UnitError> {
    let host = root.resolve(path).map_err(|e| UnitError::Unreadable {
        path: path.display().to_string(),
        error: e.to_string(),
    })?;
    match std::fs::read(&host) {
        Ok(bytes) => Ok(Some((host, String::from_utf8_lossy(&bytes).into_owned()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(UnitError::Unreadable {
            path: path.display().to_string(),
            error: e.to_string(),
        }),
    }
}

/// Whether an in-root path is a link to /dev/null (a masked unit or drop-in).
fn masked(root: &Root, path: &Path) -> bool {
    std::fs::read_link(root.host(path)).is_ok_and(|t| t == Path::new("/dev/null"))
}

/// Normalises a service name (`haproxy` → `haproxy.service`).
pub fn service_name(name: &str) -> String {
    if name.contains('.') {
        name.to_string()
    } else {
        format!("{name}.service")
    }
}

/// Finds and reads `name` under `root`.
pub fn load(root: &Root, name: &str) -> Result<Unit, UnitError> {
    let name = service_name(name);
    let mut fragment = None;
    for dir in UNIT_DIRS {
        let path = Path::new(dir).join(&name);
        if masked(root, &path) {
            return Err(UnitError::Masked(name));
        }
        if let Some((_, text)) = read(root, &path)? {
            fragment = Some((path.display().to_string(), text));
            break;
        }
    }
    let (fragment, text) = fragment.ok_or_else(|| UnitError::NotFound(name.clone()))?;
    let mut service: Vec<Assignment> = syntax::parse(&text, &fragment)
        .into_iter()
        .filter(|a| a.section == "Service")
        .collect();
    let mut dropins = Vec::new();
    for path in dropin_paths(root, &name) {
        if let Some((_, text)) = read(root, &path)? {
            let shown = path.display().to_string();
            service.extend(
                syntax::parse(&text, &shown)
                    .into_iter()
                    .filter(|a| a.section == "Service"),
            );
            dropins.push(shown);
        }
    }
    evaluate(root, name, fragment, dropins, service)
}

/// The drop-ins of `name`: by file name, the first directory holding a name wins; sorted by
/// file name. Links to /dev/null mask a name without being read.
fn dropin_paths(root: &Root, name: &str) -> Vec<PathBuf> {
    let mut by_name: BTreeMap<String, Option<PathBuf>> = BTreeMap::new();
    let suffix = name.rsplit('.').next().unwrap_or("service");
    for dir in UNIT_DIRS {
        for sub in [format!("{name}.d"), format!("{suffix}.d")] {
            let dir = Path::new(dir).join(sub);
            let Ok(entries) = std::fs::read_dir(root.host(&dir)) else {
                continue;
            };
            let mut names: Vec<String> = entries
                .filter_map(|e| e.ok())
                .filter_map(|e| e.file_name().into_string().ok())
                .filter(|n| n.ends_with(".conf"))
                .collect();
            names.sort();
            for file in names {
                let path = dir.join(&file);
                let entry = if masked(root, &path) {
                    None
                } else {
                    Some(path)
                };
                by_name.entry(file).or_insert(entry);
            }
        }
    }
    by_name.into_values().flatten().collect()
}
