//! Evaluating a merged unit: `Environment=`, `EnvironmentFile=` (files override
//! `Environment=`, later files earlier ones), `UnsetEnvironment=`, then the `Exec*=` lines with
//! the environment substituted; empty assignments reset their lists, as in systemd.

use super::env::{self, Env, Var};
use super::exec::{self, Exec};
use super::search::{read, UnitError};
use super::syntax::Assignment;
use super::{words, EnvFile, Unit};
use crate::finding::Origin;
use crate::root::Root;
use std::collections::BTreeMap;
use std::path::Path;

/// Builds the environment and the commands from the merged assignments.
pub(super) fn evaluate(
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
