//! Writing a fix: all or nothing, atomically, with a `.bak` of each file changed, never
//! outside the root.
//!
//! Two phases. *Prepare* checks every target (inside the root, unchanged since it was read),
//! creates missing directories and writes each new content and each backup to a temporary
//! file in the target's own directory. *Commit* renames the backups to `FILE.bak` and the new
//! contents over `FILE`. A failure in either phase undoes everything done so far, so the
//! tree is left byte for byte as it was. Tests inject failures through the `fault` hook.

use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use tempfile::NamedTempFile;

/// One file to write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileChange {
    /// The file as named in the root (for messages and the diff).
    pub shown: String,
    /// Where it is on the host (links already followed inside the root).
    pub host: PathBuf,
    /// Its content when read; `None` when it is created.
    pub original: Option<Vec<u8>>,
    /// The content to write.
    pub new: Vec<u8>,
}

/// The phase a fault is injected in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// Before preparing file number N.
    Prepare,
    /// Before committing file number N.
    Commit,
}

/// Why nothing was written.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    /// The target is not inside the root.
    #[error("{0}: outside the root, refusing to write")]
    OutsideRoot(String),
    /// The file changed since it was read.
    #[error("{0}: changed while fixing, refusing to overwrite")]
    Changed(String),
    /// An I/O error.
    #[error("{path}: {error}")]
    Io {
        /// The file (in the root).
        path: String,
        /// What failed.
        error: std::io::Error,
    },
}

/// What was done to one path, so it can be undone.
#[derive(Debug)]
enum Done {
    /// A directory was created.
    CreatedDir(PathBuf),
    /// A file was replaced or created; it held `previous` (`None`: did not exist).
    Wrote {
        /// The path.
        path: PathBuf,
        /// Its earlier content.
        previous: Option<Vec<u8>>,
    },
}

/// A prepared file: the temporary files waiting to be renamed.
struct Prepared {
    /// New content.
    new: NamedTempFile,
    /// Backup of the original, if there was one.
    backup: Option<NamedTempFile>,
}

/// Writes every change or none; `fault(stage, index)` may fail to simulate an error.
pub fn apply(
    root: &Path,
    changes: &[FileChange],
    fault: &mut dyn FnMut(Stage, usize) -> std::io::Result<()>,
) -> Result<(), WriteError> {
    let mut done = Vec::new();
    let result = prepare_and_commit(root, changes, fault, &mut done);
    if result.is_err() {
        undo(done);
    }
    result
}

/// Both phases; everything done is recorded in `done`.
fn prepare_and_commit(
    root: &Path,
    changes: &[FileChange],
    fault: &mut dyn FnMut(Stage, usize) -> std::io::Result<()>,
    done: &mut Vec<Done>,
) -> Result<(), WriteError> {
    let root = root.canonicalize().map_err(|error| WriteError::Io {
        path: root.display().to_string(),
        error,
    })?;
    let mut prepared = Vec::new();
    for (i, change) in changes.iter().enumerate() {
        let io = |error| WriteError::Io {
            path: change.shown.clone(),
            error,
        };
        fault(Stage::Prepare, i).map_err(io)?;
        prepared.push(prepare(&root, change, done)?);
    }
    for (i, (change, p)) in changes.iter().zip(prepared).enumerate() {
        let io = |error| WriteError::Io {
            path: change.shown.clone(),
            error,
        };
        fault(Stage::Commit, i).map_err(io)?;
        if let Some(backup) = p.backup {
            let bak = backup_path(&change.host);
            let previous = std::fs::read(&bak).ok();
            backup.persist(&bak).map_err(|e| io(e.error))?;
            done.push(Done::Wrote {
                path: bak,
                previous,
            });
        }
        p.new.persist(&change.host).map_err(|e| io(e.error))?;
        done.push(Done::Wrote {
            path: change.host.clone(),
            previous: change.original.clone(),
        });
        // Make the renames durable; a failure here changes nothing on disk.
        if let Some(dir) = change.host.parent() {
            let _ = std::fs::File::open(dir).and_then(|d| d.sync_all());
        }
    }
    Ok(())
}

/// `FILE.bak`.
pub fn backup_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".bak");
    PathBuf::from(name)
}

/// Checks one target and writes its temporary files.
fn prepare(root: &Path, change: &FileChange, done: &mut Vec<Done>) -> Result<Prepared, WriteError> {
    let io = |error| WriteError::Io {
        path: change.shown.clone(),
        error,
    };
    let parent = change
        .host
        .parent()
        .ok_or_else(|| WriteError::OutsideRoot(change.shown.clone()))?;
    // Create missing directories, each checked to be inside the root.
    let mut missing = Vec::new();
    let mut dir = parent;
    while !dir.exists() {
        missing.push(dir.to_path_buf());
        dir = dir
            .parent()
            .ok_or_else(|| WriteError::OutsideRoot(change.shown.clone()))?;
    }
    inside(root, dir, &change.shown)?;
    for d in missing.into_iter().rev() {
        std::fs::create_dir(&d).map_err(io)?;
        done.push(Done::CreatedDir(d));
    }
    inside(root, parent, &change.shown)?;
    if std::fs::symlink_metadata(&change.host).is_ok_and(|m| m.file_type().is_symlink()) {
        return Err(WriteError::OutsideRoot(change.shown.clone()));
    }
    let current = std::fs::read(&change.host).ok();
    if current != change.original {
        return Err(WriteError::Changed(change.shown.clone()));
    }
    let meta = std::fs::metadata(&change.host).ok();
    let temp = |content: &[u8]| -> std::io::Result<NamedTempFile> {
        let mut t = tempfile::Builder::new()
            .prefix(".baton-migrate.")
            .tempfile_in(parent)?;
        t.write_all(content)?;
        if let Some(m) = &meta {
            // Same mode and owner as the file it replaces (haproxy.cfg is often root:haproxy).
            std::fs::set_permissions(t.path(), m.permissions())?;
            std::os::unix::fs::fchown(t.as_file(), Some(m.uid()), Some(m.gid()))?;
        }
        t.as_file().sync_all()?;
        Ok(t)
    };
    let new = temp(&change.new).map_err(io)?;
    let backup = match &change.original {
        Some(original) => Some(temp(original).map_err(io)?),
        None => None,
    };
    Ok(Prepared { new, backup })
}

/// Refuses a directory whose real path is not under the (canonical) root.
fn inside(root: &Path, dir: &Path, shown: &str) -> Result<(), WriteError> {
    match dir.canonicalize() {
        Ok(real) if real.starts_with(root) => Ok(()),
        _ => Err(WriteError::OutsideRoot(shown.to_string())),
    }
}

/// Restores every path in `done`, last first. Best effort: an undo step that fails leaves
/// the others to run.
fn undo(done: Vec<Done>) {
    for step in done.into_iter().rev() {
        match step {
            Done::CreatedDir(d) => {
                let _ = std::fs::remove_dir(d);
            }
            Done::Wrote {
                path,
                previous: None,
            } => {
                let _ = std::fs::remove_file(path);
            }
            Done::Wrote {
                path,
                previous: Some(bytes),
            } => {
                let restore = || -> std::io::Result<()> {
                    let dir = path.parent().unwrap_or(Path::new("/"));
                    let mut t = tempfile::Builder::new()
                        .prefix(".baton-migrate.")
                        .tempfile_in(dir)?;
                    t.write_all(&bytes)?;
                    if let Ok(m) = std::fs::metadata(&path) {
                        std::fs::set_permissions(t.path(), m.permissions())?;
                    }
                    t.persist(&path).map_err(|e| e.error)?;
                    Ok(())
                };
                let _ = restore();
            }
        }
    }
}
