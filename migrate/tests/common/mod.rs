//! Test trees: a fixture layout (tests/fixtures/NAME) copied into a temporary root, files
//! written into it, `baton-migrate` run against it, and byte-for-byte snapshots of it.

#![allow(dead_code)]

use assert_cmd::Command;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// A temporary root directory.
pub struct Tree {
    /// Removed when the test ends.
    pub dir: tempfile::TempDir,
}

impl Tree {
    /// An empty root.
    pub fn empty() -> Tree {
        Tree {
            dir: tempfile::tempdir().expect("tempdir"),
        }
    }

    /// A copy of `tests/fixtures/NAME`.
    pub fn fixture(name: &str) -> Tree {
        let tree = Tree::empty();
        let src = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures")
            .join(name);
        copy_dir(&src, tree.path());
        tree
    }

    /// The Ubuntu 1.7 layout with `expose-fd listeners` already on its stats socket.
    pub fn ubuntu_with_expose_fd() -> Tree {
        let t = Tree::fixture("ubuntu-1.7");
        t.edit(
            "/etc/haproxy/haproxy.cfg",
            "level admin",
            "level admin expose-fd listeners",
        );
        t
    }

    /// The root on the host.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// The host path of in-root `path`.
    pub fn host(&self, path: &str) -> PathBuf {
        self.path().join(path.trim_start_matches('/'))
    }

    /// Writes in-root `path` (creating directories).
    pub fn write(&self, path: &str, text: &str) -> &Self {
        let host = self.host(path);
        std::fs::create_dir_all(host.parent().unwrap()).unwrap();
        std::fs::write(host, text).unwrap();
        self
    }

    /// Reads in-root `path`.
    pub fn read(&self, path: &str) -> String {
        std::fs::read_to_string(self.host(path)).unwrap()
    }

    /// Replaces `from` by `to` in in-root `path`; `from` must be there, so that a test never
    /// silently checks an unchanged file.
    pub fn edit(&self, path: &str, from: &str, to: &str) -> &Self {
        let text = self.read(path);
        assert!(text.contains(from), "{path} has no {from:?}");
        self.write(path, &text.replace(from, to))
    }

    /// Appends `text` to in-root `path`.
    pub fn append(&self, path: &str, text: &str) -> &Self {
        self.write(path, &(self.read(path) + text))
    }

    /// Removes in-root `path`.
    pub fn remove(&self, path: &str) -> &Self {
        std::fs::remove_file(self.host(path)).unwrap();
        self
    }

    /// `baton-migrate ARGS --root ROOT` (the root goes after the subcommand).
    pub fn run(&self, args: &[&str]) -> assert_cmd::assert::Assert {
        let mut cmd = Command::cargo_bin("baton-migrate").unwrap();
        cmd.arg(args[0])
            .arg("--root")
            .arg(self.path())
            .args(&args[1..]);
        cmd.assert()
    }

    /// `check --format json`, parsed, with the exit code.
    pub fn json(&self, extra: &[&str]) -> (serde_json::Value, i32) {
        let mut args = vec!["check", "--format", "json"];
        args.extend_from_slice(extra);
        let out = self.run(&args).get_output().clone();
        let value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&out.stdout)));
        (value, out.status.code().unwrap_or(-1))
    }

    /// The finding ids of `check`, sorted, with the exit code.
    pub fn ids(&self, extra: &[&str]) -> (Vec<String>, i32) {
        let (v, code) = self.json(extra);
        let mut ids: Vec<String> = v["findings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| {
                format!(
                    "{}:{}",
                    f["severity"].as_str().unwrap(),
                    f["id"].as_str().unwrap()
                )
            })
            .collect();
        ids.sort();
        ids.dedup();
        (ids, code)
    }

    /// Every file and link under the root with its content, for byte-for-byte comparison.
    pub fn snapshot(&self) -> BTreeMap<PathBuf, Vec<u8>> {
        let mut out = BTreeMap::new();
        walk(self.path(), self.path(), &mut out);
        out
    }
}

/// Recursive snapshot.
fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<PathBuf, Vec<u8>>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let rel = path.strip_prefix(root).unwrap().to_path_buf();
        let meta = std::fs::symlink_metadata(&path).unwrap();
        if meta.file_type().is_symlink() {
            out.insert(
                rel,
                std::fs::read_link(&path)
                    .unwrap()
                    .into_os_string()
                    .into_encoded_bytes(),
            );
        } else if meta.is_dir() {
            out.insert(rel, b"<dir>".to_vec());
            walk(root, &path, out);
        } else {
            out.insert(rel, std::fs::read(&path).unwrap());
        }
    }
}

/// Copies a directory tree.
fn copy_dir(src: &Path, dst: &Path) {
    std::fs::create_dir_all(dst).unwrap();
    for entry in std::fs::read_dir(src).unwrap() {
        let entry = entry.unwrap();
        let to = dst.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &to);
        } else {
            std::fs::copy(entry.path(), to).unwrap();
        }
    }
}
