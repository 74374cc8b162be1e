//! Every config of the shared corpus through `check` (as the only input, with no unit in an
//! empty root) and `fix --dry-run`: no panic, exit 0 or 1, valid JSON. The corpus is found
//! through BATON_CORPUS; a missing corpus fails the test.

mod common;
use common::Tree;
use std::path::PathBuf;

fn corpus() -> Vec<PathBuf> {
    let dir = std::env::var("BATON_CORPUS").expect(
        "set BATON_CORPUS to the corpus directory (../shared/corpus/haproxy-cfg); .ci/run does",
    );
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("BATON_CORPUS={dir}: {e}"))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "cfg"))
        .collect();
    files.sort();
    assert!(
        files.len() >= 30,
        "corpus at {dir} has {} configs",
        files.len()
    );
    files
}

#[test]
fn every_corpus_config_is_checked_without_panicking() {
    let mut failing = 0;
    for file in corpus() {
        let t = Tree::empty();
        let text = std::fs::read(&file).unwrap();
        std::fs::create_dir_all(t.host("/etc/haproxy")).unwrap();
        std::fs::write(t.host("/etc/haproxy/haproxy.cfg"), &text).unwrap();
        let (v, code) = t.json(&["/etc/haproxy/haproxy.cfg"]);
        assert!(code == 0 || code == 1, "{}: exit {code}", file.display());
        assert_eq!(v["ok"].as_bool(), Some(code == 0), "{}", file.display());
        let has_error = v["findings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["severity"] == "error");
        assert_eq!(has_error, code == 1, "{}", file.display());
        failing += code;
        let out = t
            .run(&["fix", "--dry-run", "/etc/haproxy/haproxy.cfg"])
            .get_output()
            .clone();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!stderr.contains("panicked"), "{}: {stderr}", file.display());
        assert!(
            matches!(out.status.code(), Some(0 | 1)),
            "{}: {stderr}",
            file.display()
        );
    }
    // Most corpus configs use something baton does not support: the check must say so.
    assert!(
        failing > 20,
        "only {failing} corpus configs reported errors"
    );
}
