//! Paths under `--root`: every absolute path the tool reads or writes is resolved inside one
//! directory, as `systemctl --root` does, and nothing ever leaves it.
//!
//! A path "in the root" is what units and configs name (`/etc/haproxy/haproxy.cfg`); its
//! "host" path is where the file really is (`ROOT/etc/haproxy/haproxy.cfg`). Symbolic links
//! are followed inside the root: an absolute target is re-rooted, and a relative one that
//! climbs above the root is refused, so a hostile tree cannot point a write outside it.

use std::path::{Component, Path, PathBuf};

/// How many symbolic links one resolution may follow (the kernel's limit).
const MAX_LINKS: usize = 40;

/// Why a path could not be resolved inside the root.
#[derive(Debug, thiserror::Error)]
pub enum RootError {
    /// A symbolic link points above the root.
    #[error("{path}: symbolic link leads outside the root")]
    Escapes {
        /// The in-root path being resolved.
        path: String,
    },
    /// Too many links (a loop).
    #[error("{path}: too many levels of symbolic links")]
    Loop {
        /// The in-root path being resolved.
        path: String,
    },
}

/// The directory every absolute path is taken relative to.
#[derive(Debug, Clone)]
pub struct Root {
    /// The root on the host, absolute and lexically normalised.
    dir: PathBuf,
}

impl Root {
    /// A root at `dir` (made absolute against the current directory).
    pub fn new(dir: &Path) -> std::io::Result<Self> {
        let abs = if dir.is_absolute() {
            dir.to_path_buf()
        } else {
            std::env::current_dir()?.join(dir)
        };
        Ok(Root {
            dir: normalise(&abs),
        })
    }

    /// The root itself, on the host.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Whether this is the real root (`/`).
    pub fn is_host_root(&self) -> bool {
        self.dir == Path::new("/")
    }

    /// The host path of an in-root path, without following links.
    pub fn host(&self, path: &Path) -> PathBuf {
        let rel = normalise(&Path::new("/").join(path));
        self.dir.join(rel.strip_prefix("/").unwrap_or(&rel))
    }

    /// The in-root path of a host path (the reverse of [`Root::host`]); a host path outside
    /// the root is returned as is.
    pub fn inside(&self, host: &Path) -> PathBuf {
        match host.strip_prefix(&self.dir) {
            Ok(rel) => Path::new("/").join(rel),
            Err(_) => host.to_path_buf(),
        }
    }

    /// How an in-root path or a host path under the root is shown in messages.
    pub fn display(&self, host: &Path) -> String {
        self.inside(host).display().to_string()
    }

    /// The host path of an in-root path with every symbolic link followed inside the root.
    /// Components that do not exist are appended as they are.
    pub fn resolve(&self, path: &Path) -> Result<PathBuf, RootError> {
        let shown = || path.display().to_string();
        let mut pending: Vec<std::ffi::OsString> = components(path);
        pending.reverse();
        let mut current: Vec<std::ffi::OsString> = Vec::new();
        let mut links = 0;
        while let Some(part) = pending.pop() {
            if part == ".." {
                current.pop();
                continue;
            }
            current.push(part);
            let host = self.dir.join(current.iter().collect::<PathBuf>());
            let Ok(target) = std::fs::read_link(&host) else {
                continue;
            };
            links += 1;
            if links > MAX_LINKS {
                return Err(RootError::Loop { path: shown() });
            }
            current.pop();
            if target.is_absolute() {
                current.clear();
            } else {
                // A relative target may not climb above the root.
                let mut depth = current.len() as isize;
                for c in target.components() {
                    match c {
                        Component::ParentDir => depth -= 1,
                        Component::Normal(_) => depth += 1,
                        _ => {}
                    }
                    if depth < 0 {
                        return Err(RootError::Escapes { path: shown() });
                    }
                }
            }
            let mut more = components(&target);
            more.reverse();
            pending.extend(more);
        }
        Ok(self.dir.join(current.iter().collect::<PathBuf>()))
    }
}

/// The normal components of a path, `..` kept, `.` and empty ones dropped.
fn components(path: &Path) -> Vec<std::ffi::OsString> {
    path.components()
        .filter_map(|c| match c {
            Component::Normal(n) => Some(n.to_os_string()),
            Component::ParentDir => Some("..".into()),
            _ => None,
        })
        .collect()
}

/// Lexical normalisation: `//` and `.` removed, `..` applied (never above `/`).
pub fn normalise(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::RootDir => out.push("/"),
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() && !path.is_absolute() {
                    out.push("..");
                }
                if path.is_absolute() && out.as_os_str().is_empty() {
                    out.push("/");
                }
            }
            Component::Normal(n) => out.push(n),
            Component::Prefix(_) => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalise_is_lexical() {
        assert_eq!(
            normalise(Path::new("/run//haproxy/./x/../admin.sock")),
            Path::new("/run/haproxy/admin.sock")
        );
        assert_eq!(normalise(Path::new("/../a")), Path::new("/a"));
    }

    #[test]
    fn links_stay_inside_the_root() {
        let tmp = tempfile::tempdir().unwrap();
        let root = Root::new(tmp.path()).unwrap();
        std::fs::create_dir_all(tmp.path().join("srv/conf")).unwrap();
        std::fs::create_dir_all(tmp.path().join("etc")).unwrap();
        std::os::unix::fs::symlink("/srv/conf", tmp.path().join("etc/haproxy")).unwrap();
        assert_eq!(
            root.resolve(Path::new("/etc/haproxy/haproxy.cfg")).unwrap(),
            tmp.path().join("srv/conf/haproxy.cfg")
        );
        std::os::unix::fs::symlink("../../../../outside", tmp.path().join("etc/bad")).unwrap();
        assert!(matches!(
            root.resolve(Path::new("/etc/bad/x")),
            Err(RootError::Escapes { .. })
        ));
        std::os::unix::fs::symlink("loop", tmp.path().join("etc/loop")).unwrap();
        assert!(matches!(
            root.resolve(Path::new("/etc/loop")),
            Err(RootError::Loop { .. })
        ));
        assert_eq!(root.display(&root.host(Path::new("etc/x"))), "/etc/x");
    }
}
