//! Reading a service unit as systemd would: find the fragment on the unit search path, merge
//! its drop-ins ([`search`]), build the environment and substitute it into the `Exec*=` lines
//! ([`evaluate`]).
//!
//! Search path precedence (first wins): /etc/systemd/system, /run/systemd/system,
//! /lib/systemd/system, /usr/lib/systemd/system. Drop-ins (`NAME.d/*.conf`, and `service.d/`
//! for every service) are collected from all of those directories, a drop-in masking any
//! same-named one in a later directory, and applied after the fragment in file-name order.

pub mod env;
pub mod evaluate;
pub mod exec;
pub mod search;
pub mod syntax;
pub mod words;

use crate::finding::Origin;
use env::Env;
use exec::Exec;
use syntax::Assignment;

pub use search::{load, service_name, UnitError, UNIT_DIRS};

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
