//! The haproxy.cfg side: loaded with baton's own config crate (so "what baton supports" is
//! the loader's and the keyword table's answer, never a second opinion), plus a scan of the
//! `global` section for what the typed model does not keep (`nbproc`, `stats bind-process`,
//! where `global` starts), all with in-root file names.

use crate::finding::Origin;
use crate::root::Root;
use baton_config::diag::Diagnostic;
use baton_config::keywords::{Context, KeywordTable};
use baton_config::model::ListenAddress;
use baton_config::source::{lines, read_sources, SourceFile};
use baton_config::tokenizer::tokenize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Why the config could not be read at all.
#[derive(Debug, thiserror::Error)]
#[error("{path}: cannot read: {error}")]
pub struct ConfigUnreadable {
    /// The config, in the root.
    pub path: String,
    /// Why.
    pub error: String,
}

/// Where a stats socket listens, as far as seamless reload cares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SocketAddr {
    /// A UNIX socket path (in the root).
    Unix(String),
    /// A TCP address, as written.
    Tcp(String),
    /// An abstract UNIX socket name.
    Abstract(String),
}

/// A `stats socket` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Socket {
    /// Where it listens.
    pub address: SocketAddr,
    /// `expose-fd listeners`.
    pub expose_fd: bool,
    /// The line.
    pub origin: Origin,
}

/// What the checks need to know about the config.
#[derive(Debug)]
pub struct ConfigFacts {
    /// The config as named (in the root).
    pub path: String,
    /// In-root file name → host path of every file read.
    pub files: BTreeMap<String, PathBuf>,
    /// The stats sockets, in order.
    pub sockets: Vec<Socket>,
    /// The first `global` line, where a new `stats socket` line goes.
    pub global_line: Option<Origin>,
    /// `nbproc N` and its line.
    pub nbproc: Option<(String, Origin)>,
    /// `stats bind-process` lines.
    pub stats_bind_process: Vec<Origin>,
    /// Global `master-worker`.
    pub master_worker: bool,
    /// Every diagnostic of baton's loader, located in in-root names.
    pub diagnostics: Vec<(Diagnostic, Option<Origin>)>,
}

impl ConfigFacts {
    /// UNIX stats sockets.
    pub fn unix_sockets(&self) -> impl Iterator<Item = (&str, &Socket)> {
        self.sockets.iter().filter_map(|s| match &s.address {
            SocketAddr::Unix(p) => Some((p.as_str(), s)),
            _ => None,
        })
    }
}

/// Loads the config at in-root `path` with `env` for `"$VAR"` expansion.
pub fn load(
    root: &Root,
    path: &Path,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<ConfigFacts, ConfigUnreadable> {
    let shown = path.display().to_string();
    let unreadable = |error: String| ConfigUnreadable {
        path: shown.clone(),
        error,
    };
    let host = root.resolve(path).map_err(|e| unreadable(e.to_string()))?;
    let meta = std::fs::metadata(&host).map_err(|e| unreadable(e.to_string()))?;
    if !meta.is_dir() {
        std::fs::File::open(&host).map_err(|e| unreadable(e.to_string()))?;
    }
    let (sources, problems) = read_sources(std::slice::from_ref(&host));
    if let Some(p) = problems.first() {
        return Err(unreadable(p.message.clone()));
    }
    let name_of = |file: &str| root.display(Path::new(file));
    let loaded = baton_config::load::load_sources(&sources, env);
    let diagnostics = loaded
        .diagnostics
        .into_iter()
        .map(|d| {
            let at = d
                .location
                .as_ref()
                .map(|l| Origin::new(name_of(&l.file), l.line));
            (d, at)
        })
        .collect();
    let sockets = loaded
        .config
        .global
        .stats_sockets
        .iter()
        .map(|s| Socket {
            address: match &s.address {
                ListenAddress::Unix(p) => SocketAddr::Unix(p.display().to_string()),
                ListenAddress::Abstract(n) => SocketAddr::Abstract(n.clone()),
                ListenAddress::Inet { ip, port, .. } => SocketAddr::Tcp(match ip {
                    Some(ip) => format!("{ip}:{port}"),
                    None => format!("*:{port}"),
                }),
            },
            expose_fd: s.options.expose_fd_listeners,
            origin: Origin::new(name_of(&s.location.file), s.location.line),
        })
        .collect();
    let mut facts = ConfigFacts {
        path: shown,
        files: sources
            .iter()
            .map(|s| (name_of(&s.name), PathBuf::from(s.name.as_ref())))
            .collect(),
        sockets,
        global_line: None,
        nbproc: None,
        stats_bind_process: Vec::new(),
        master_worker: loaded.config.global.master_worker,
        diagnostics,
    };
    for source in &sources {
        scan_global(&mut facts, source, &name_of(&source.name), env);
    }
    Ok(facts)
}

/// Records what the model drops from the `global` section of one file.
fn scan_global(
    facts: &mut ConfigFacts,
    source: &SourceFile,
    name: &str,
    env: &dyn Fn(&str) -> Option<String>,
) {
    let table = KeywordTable::builtin();
    let mut in_global = false;
    for raw in lines(&source.bytes) {
        let text = String::from_utf8_lossy(raw.bytes);
        let Ok(line) = tokenize(&text, env) else {
            continue;
        };
        let words = line.words;
        let Some(first) = words.first() else {
            continue;
        };
        let at = Origin::new(name, raw.number);
        if table.get(Context::Section, first).is_some() {
            in_global = first == "global";
            if in_global && facts.global_line.is_none() {
                facts.global_line = Some(at);
            }
            continue;
        }
        if !in_global {
            continue;
        }
        match (first.as_str(), words.get(1).map(String::as_str)) {
            ("nbproc", Some(n)) => facts.nbproc = Some((n.to_string(), at)),
            ("stats", Some("bind-process")) => facts.stats_bind_process.push(at),
            _ => {}
        }
    }
}
