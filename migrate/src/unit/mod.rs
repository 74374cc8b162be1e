//! Reading a service unit as systemd would: find the fragment on the unit search path, merge
//! its drop-ins, build the environment and substitute it into the `Exec*=` lines.
//!
//! Search path precedence (first wins): /etc/systemd/system, /run/systemd/system,
//! /lib/systemd/system, /usr/lib/systemd/system. Drop-ins (`NAME.d/*.conf`, and `service.d/`
//! for every service) are collected from all of those directories, a drop-in masking any
//! same-named one in a later directory, and applied after the fragment in file-name order.

pub mod env;
pub mod exec;
pub mod syntax;
pub mod words;

use crate::finding::Origin;
use crate::root::Root;
use env::{Env, Var};
use exec::Exec;
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

/// An `EnvironmentFile=` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvFile {
    /// The path, in the root.
    pub path: String,
    /// `-` prefix: a missing file is fine.
    pub optional: bool,
    /// Whether it was found and read.
    pub exists: bool,
    /// The `EnvironmentFile=` line.
    pub origin: Origin,
}

/// A service unit, merged and evaluated.
#[derive(Debug, Clone)]
pub struct Unit {
    /// `haproxy.service`.
    pub name: String,
    /// The fragment, in the root.
    pub fragment: String,
    /// Drop-ins applied, in order, in the root.
    pub dropins: Vec<String>,
    /// Every assignment of the `[Service]` section, fragment first, then drop-ins.
    pub service: Vec<Assignment>,
    /// The environment the Exec lines see.
    pub env: Env,
    /// `EnvironmentFile=` entries in effect, in order.
    pub env_files: Vec<EnvFile>,
    /// `UnsetEnvironment=` entries in effect.
    pub unset: Vec<String>,
    /// `ExecStartPre=` commands.
    pub exec_start_pre: Vec<Exec>,
    /// `ExecStart=` commands.
    pub exec_start: Vec<Exec>,
    /// `ExecReload=` commands.
    pub exec_reload: Vec<Exec>,
    /// `RuntimeDirectory=` entries, as directories under /run.
    pub runtime_dirs: Vec<String>,
    /// `Type=`.
    pub service_type: Option<String>,
    /// Words of `Environment=` lines that were not assignments, or Exec lines that did not
    /// parse: systemd ignores them, the report says so.
    pub ignored: Vec<(Origin, String)>,
}

impl Unit {
    /// The main command (the last `ExecStart=`).
    pub fn main(&self) -> Option<&Exec> {
        self.exec_start.last()
    }

    /// The configs the main command reads (`-f`), in the root.
    pub fn configs(&self) -> Vec<&str> {
        self.main()
            .map(|e| e.option_values("-f"))
            .unwrap_or_default()
    }

    /// The last assignment of `key` in `[Service]`.
    pub fn last(&self, key: &str) -> Option<&Assignment> {
        self.service.iter().rev().find(|a| a.key == key)
    }
}

/// Where setting a variable takes effect for a unit (see [`Unit::var_home`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VarHome {
    /// Replace this line of an environment file: it sets the value in effect now.
    Line(Origin),
    /// Append to this environment file: the last one the unit reads, so it wins.
    File(String),
    /// Write this drop-in: the unit reads no environment file; it sorts after the others.
    DropIn(String),
}

impl VarHome {
    /// The file it names.
    pub fn file(&self) -> &str {
        match self {
            VarHome::Line(o) => &o.file,
            VarHome::File(f) | VarHome::DropIn(f) => f,
        }
    }
}

impl Unit {
    /// Where `fix` sets variable `name`: the environment-file line that sets it now, else the
    /// last existing environment file (files override `Environment=`, later files earlier
    /// ones), else a drop-in named to sort last.
    pub fn var_home(&self, name: &str) -> VarHome {
        if let Some(v) = self.env.get(name) {
            if self.env_files.iter().any(|f| f.path == v.origin.file) {
                return VarHome::Line(v.origin.clone());
            }
        }
        match self.env_files.iter().rev().find(|f| f.exists) {
            Some(f) => VarHome::File(f.path.clone()),
            None => VarHome::DropIn(format!(
                "/etc/systemd/system/{}.d/zz-baton-migrate.conf",
                self.name
            )),
        }
    }
}

/// Reads a file under the root: `Ok(None)` when it does not exist.
fn read(root: &Root, path: &Path) -> Result<Option<(PathBuf, String)>, UnitError> {
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

/// Builds the environment and the commands from the merged assignments.
fn evaluate(
    root: &Root,
    name: String,
    fragment: String,
    dropins: Vec<String>,
    service: Vec<Assignment>,
) -> Result<Unit, UnitError> {
    let mut ignored = Vec::new();
    let mut env = Env::new();
    let mut files: Vec<EnvFile> = Vec::new();
    let mut unset: Vec<String> = Vec::new();
    let mut runtime_dirs = Vec::new();
    let mut service_type = None;
    for a in &service {
        match a.key.as_str() {
            "Environment" if a.value.is_empty() => env.clear(),
            "Environment" => match env::parse_assignments(&a.value) {
                Ok((good, bad)) => {
                    for (k, v) in good {
                        env.insert(
                            k,
                            Var {
                                value: v,
                                origin: a.origin.clone(),
                            },
                        );
                    }
                    for word in bad {
                        ignored.push((
                            a.origin.clone(),
                            format!("Environment= word '{word}' is not an assignment"),
                        ));
                    }
                }
                Err(e) => ignored.push((a.origin.clone(), format!("Environment=: {e}"))),
            },
            "EnvironmentFile" if a.value.is_empty() => files.clear(),
            "EnvironmentFile" => {
                let (optional, path) = match a.value.strip_prefix('-') {
                    Some(p) => (true, p.trim()),
                    None => (false, a.value.as_str()),
                };
                files.push(EnvFile {
                    path: path.to_string(),
                    optional,
                    exists: false,
                    origin: a.origin.clone(),
                });
            }
            "UnsetEnvironment" if a.value.is_empty() => unset.clear(),
            "UnsetEnvironment" => unset.extend(words::split(&a.value).unwrap_or_default()),
            "RuntimeDirectory" if a.value.is_empty() => runtime_dirs.clear(),
            "RuntimeDirectory" => runtime_dirs.extend(
                words::split(&a.value)
                    .unwrap_or_default()
                    .into_iter()
                    .map(|d| format!("/run/{d}")),
            ),
            "Type" => service_type = Some(a.value.clone()),
            _ => {}
        }
    }
    for file in &mut files {
        if let Some((_, text)) = read(root, Path::new(&file.path))? {
            file.exists = true;
            for (k, v, line) in env::parse_file(&text) {
                env.insert(
                    k,
                    Var {
                        value: v,
                        origin: Origin::new(file.path.clone(), line),
                    },
                );
            }
        }
    }
    for entry in &unset {
        match entry.split_once('=') {
            Some((k, v)) => {
                if env.get(k).is_some_and(|var| var.value == v) {
                    env.remove(k);
                }
            }
            None => {
                env.remove(entry);
            }
        }
    }
    // $MAINPID is systemd's at run time; keep it visible in the commands.
    let mut exec_env = env.clone();
    exec_env.entry("MAINPID".into()).or_insert(Var {
        value: "$MAINPID".into(),
        origin: Origin::new(fragment.clone(), 0),
    });
    let mut lists: BTreeMap<&str, Vec<Exec>> = BTreeMap::new();
    for a in &service {
        let key = a.key.as_str();
        if !matches!(key, "ExecStart" | "ExecStartPre" | "ExecReload") {
            continue;
        }
        let list = lists.entry(key).or_default();
        if a.value.is_empty() {
            list.clear();
            continue;
        }
        match exec::parse(&a.value, &exec_env, &a.origin) {
            Ok(cmds) => list.extend(cmds),
            Err(e) => ignored.push((a.origin.clone(), format!("{key}=: {e}"))),
        }
    }
    let mut take = |k: &str| lists.remove(k).unwrap_or_default();
    Ok(Unit {
        exec_start_pre: take("ExecStartPre"),
        exec_start: take("ExecStart"),
        exec_reload: take("ExecReload"),
        name,
        fragment,
        dropins,
        service,
        env,
        env_files: files,
        unset,
        runtime_dirs,
        service_type,
        ignored,
    })
}
