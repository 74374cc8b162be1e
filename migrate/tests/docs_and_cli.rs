//! The documented interface: the JSON keys and the finding ids in docs/migration.md match
//! what the tool does, the clap definition renders a man page, and cli.rs stays
//! self-contained (clap and std only) so packaging can build the man page from it.

mod common;
use common::Tree;
use std::collections::BTreeSet;
use std::path::Path;

fn doc() -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/migration.md"))
        .unwrap()
}

/// Every key path (`findings[].id`) of a JSON value.
fn keys(v: &serde_json::Value, prefix: &str, out: &mut BTreeSet<String>) {
    match v {
        serde_json::Value::Object(m) => {
            for (k, v) in m {
                let path = format!("{prefix}{k}");
                out.insert(path.clone());
                keys(v, &format!("{path}."), out);
            }
        }
        serde_json::Value::Array(a) => {
            if let Some(first) = a.first() {
                keys(first, &format!("{}[].", prefix.trim_end_matches('.')), out);
            }
        }
        _ => {}
    }
}

#[test]
fn json_keys_match_the_documented_schema() {
    let doc = doc();
    let start = doc.find("## JSON output").unwrap();
    let block = &doc[start..];
    let block = &block[block.find("```json").unwrap() + 7..];
    let block = &block[..block.find("```").unwrap()];
    let documented: serde_json::Value = serde_json::from_str(block).unwrap();
    let mut want = BTreeSet::new();
    keys(&documented, "", &mut want);

    let t = Tree::fixture("ubuntu-1.7");
    t.write(
        "/etc/systemd/system/haproxy.service.d/override.conf",
        "[Service]\nKillMode=mixed\n",
    );
    let (actual, code) = t.json(&[]);
    assert_eq!(code, 1);
    let mut got = BTreeSet::new();
    keys(&actual, "", &mut got);
    assert_eq!(got, want);
    let top: Vec<&String> = actual.as_object().unwrap().keys().collect();
    assert_eq!(top, ["config", "findings", "ok", "units"]);
    // Negative control: a key missing from the output is noticed.
    let mut less = actual.clone();
    less["findings"][0].as_object_mut().unwrap().remove("fix");
    let mut fewer = BTreeSet::new();
    keys(&less, "", &mut fewer);
    assert_ne!(fewer, want);
}

#[test]
fn every_finding_id_is_documented() {
    let doc = doc();
    let documented: BTreeSet<&str> = doc
        .lines()
        .filter_map(|l| l.strip_prefix("| `"))
        .filter_map(|l| l.split('`').next())
        .filter(|id| baton_migrate::finding::IDS.iter().any(|(i, _)| i == id) || id.contains('-'))
        .collect();
    let ids: BTreeSet<&str> = baton_migrate::finding::IDS
        .iter()
        .map(|(i, _)| *i)
        .collect();
    assert_eq!(documented, ids);
}

#[test]
fn man_page_renders_from_the_clap_definition() {
    let mut out = Vec::new();
    clap_mangen::Man::new(baton_migrate::command())
        .render(&mut out)
        .unwrap();
    let man = String::from_utf8(out).unwrap();
    for needle in [
        "baton\\-migrate",
        "check",
        "fix",
        "\\-\\-root",
        "Exit status",
    ] {
        assert!(man.contains(needle), "{needle} missing from the man page");
    }
}

#[test]
fn cli_module_depends_only_on_clap_and_std() {
    let src =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("src/cli.rs")).unwrap();
    for line in src.lines().filter(|l| l.trim_start().starts_with("use ")) {
        let path = line.trim_start().trim_start_matches("use ");
        assert!(
            path.starts_with("clap") || path.starts_with("std"),
            "cli.rs: {line}"
        );
    }
    assert!(
        !src.contains("crate::"),
        "cli.rs must not reach into the crate"
    );
}

#[test]
fn help_and_version_exit_0() {
    let t = Tree::empty();
    assert_cmd::Command::cargo_bin("baton-migrate")
        .unwrap()
        .arg("--help")
        .assert()
        .code(0);
    assert_cmd::Command::cargo_bin("baton-migrate")
        .unwrap()
        .arg("--version")
        .assert()
        .code(0);
    t.run(&["check", "--help"])
        .code(0)
        .stdout(predicates::str::contains("--format"));
}
