//! The committed `debian/copyright` is exactly what the generator writes for today's Cargo.lock
//! (a dependency added or bumped without regenerating it fails here), and the man pages render.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The workspace root, where the generator runs.
fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Runs baton-pkgtools with `args` at the workspace root; its stdout, after asserting success.
fn pkgtools(args: &[&std::ffi::OsStr]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_baton-pkgtools"))
        .args(args)
        .current_dir(root())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn debian_copyright_is_up_to_date() {
    let generated = pkgtools(&["copyright".as_ref()]);
    let committed = std::fs::read_to_string(root().join("debian/copyright")).unwrap();
    assert!(
        committed == generated,
        "debian/copyright is stale: run `cargo run -p baton-pkgtools -- copyright > debian/copyright`"
    );
}

#[test]
fn man_pages_are_written() {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("man-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let listed = pkgtools(&["man".as_ref(), dir.as_os_str()]);
    for name in [
        "baton.8",
        "baton-migrate.8",
        "baton-migrate-check.8",
        "baton-migrate-fix.8",
    ] {
        assert!(listed.contains(name), "{listed}");
        let page = std::fs::read_to_string(dir.join(name)).unwrap();
        assert!(page.contains(".TH "), "{page}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
