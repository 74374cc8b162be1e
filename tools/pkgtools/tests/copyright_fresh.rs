//! The committed `debian/copyright` is exactly what the generator writes for today's Cargo.lock:
//! a dependency added or bumped without regenerating it fails here.

use std::path::Path;
use std::process::Command;

#[test]
fn debian_copyright_is_up_to_date() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let out = Command::new(env!("CARGO_BIN_EXE_baton-pkgtools"))
        .arg("copyright")
        .current_dir(&root)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let committed = std::fs::read_to_string(root.join("debian/copyright")).unwrap();
    assert!(
        committed == String::from_utf8(out.stdout).unwrap(),
        "debian/copyright is stale: run `cargo run -p baton-pkgtools -- copyright > debian/copyright`"
    );
}

#[test]
fn man_pages_are_written() {
    let dir = tempfile_dir();
    let out = Command::new(env!("CARGO_BIN_EXE_baton-pkgtools"))
        .arg("man")
        .arg(&dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let page = std::fs::read_to_string(dir.join("baton.8")).unwrap();
    assert!(page.contains(".TH baton 8"), "{page}");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A fresh directory under the target dir (no tempfile dependency for one test).
fn tempfile_dir() -> std::path::PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("man-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}
