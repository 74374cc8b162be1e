//! `baton -c` and friends, run as the real binary: exit codes, message shapes, quiet mode, and
//! the generated keyword documentation.

use assert_cmd::Command;
use predicates::prelude::*;
use std::path::Path;

fn baton() -> Command {
    Command::cargo_bin("baton").unwrap()
}

fn write(dir: &Path, name: &str, text: &str) -> std::path::PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn valid_config_exits_0() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    baton()
        .current_dir(&repo)
        .args(["-c", "-f", "examples/quickstart.cfg"])
        .assert()
        .code(0)
        .stdout("Configuration file is valid\n");
}

#[test]
fn errors_exit_1_with_haproxy_shaped_messages() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write(
        dir.path(),
        "bad.cfg",
        "global\n  maxconn x\nfrontend f\n  bind :80\n  deamon\n",
    );
    baton()
        .arg("-c")
        .arg("-f")
        .arg(&cfg)
        .assert()
        .code(1)
        .stderr(predicate::str::is_match(r"\[ALERT\]    \(\d+\) : config : parsing \[.*bad.cfg:2\] : 'maxconn' : expects an integer").unwrap())
        .stderr(predicate::str::contains("bad.cfg:5] : unknown keyword 'deamon' in 'frontend' section"))
        .stderr(predicate::str::contains("Fatal errors found in configuration."));
}

#[test]
fn quiet_prints_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write(dir.path(), "bad.cfg", "global\n  bogus\n");
    baton()
        .args(["-c", "-q", "-f"])
        .arg(&cfg)
        .assert()
        .code(1)
        .stdout("")
        .stderr("");
    let good = write(
        dir.path(),
        "good.cfg",
        "listen l\n  bind :80\n  timeout client 1s\n",
    );
    baton()
        .args(["-c", "-q", "-f"])
        .arg(&good)
        .assert()
        .code(0)
        .stdout("")
        .stderr("");
}

#[test]
fn no_listener_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write(dir.path(), "empty.cfg", "global\n  daemon\n");
    baton()
        .args(["-c", "-f"])
        .arg(&cfg)
        .assert()
        .code(2)
        .stdout(predicate::str::contains("will not start (no listener)"));
}

#[test]
fn several_files_and_directories() {
    let dir = tempfile::tempdir().unwrap();
    let conf_d = dir.path().join("conf.d");
    std::fs::create_dir(&conf_d).unwrap();
    write(
        &conf_d,
        "10-fe.cfg",
        "frontend f\n  bind :80\n  timeout client 1s\n  default_backend b\n",
    );
    write(
        &conf_d,
        "20-be.cfg",
        "backend b\n  timeout connect 1s\n  timeout server 1s\n  server s 127.0.0.1:1\n",
    );
    write(&conf_d, "ignored.txt", "garbage\n");
    let global = write(dir.path(), "global.cfg", "global\n  maxconn 10\n");
    baton()
        .arg("-c")
        .arg("-f")
        .arg(&global)
        .arg("-f")
        .arg(&conf_d)
        .assert()
        .code(0);
}

#[test]
fn unreadable_and_garbage_inputs_fail_cleanly() {
    baton()
        .args(["-c", "-f", "/nonexistent/x.cfg"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("Cannot open configuration file/directory /nonexistent/x.cfg : No such file or directory"));
    let dir = tempfile::tempdir().unwrap();
    let bytes: Vec<u8> = (0..100_000u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 11) as u8)
        .collect();
    let garbage = dir.path().join("garbage.cfg");
    std::fs::write(&garbage, bytes).unwrap();
    baton().args(["-c", "-f"]).arg(&garbage).assert().code(1);
    let huge = write(
        dir.path(),
        "huge.cfg",
        &format!("global\n  description {}\n", "x".repeat(4 << 20)),
    );
    baton().args(["-c", "-f"]).arg(&huge).assert().code(2);
}

#[test]
fn unresolvable_server_names_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write(
        dir.path(),
        "r.cfg",
        "backend b\n  server s no-such-host.invalid:80\nlisten l\n  bind :80\n  timeout client 1s\n",
    );
    baton()
        .args(["-c", "-f"])
        .arg(&cfg)
        .assert()
        .code(1)
        .stderr(predicate::str::contains(
            "r.cfg:2] : 'server b/s' : could not resolve address 'no-such-host.invalid'",
        ));
}

// A run whose configuration is broken must fail at once, in master-worker mode too (the master
// checks before starting anything), naming file and line. A run whose listener cannot be bound
// must fail at once instead of serving half a configuration.
#[test]
fn master_worker_refuses_a_broken_configuration() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("bad.cfg");
    std::fs::write(&cfg, "global\n    no-such-keyword\n").unwrap();
    baton()
        .args(["-W", "-f"])
        .arg(&cfg)
        .timeout(std::time::Duration::from_secs(10))
        .assert()
        .code(1)
        .stderr(predicate::str::contains("bad.cfg:2"));
}

#[test]
fn run_mode_fails_when_a_listener_cannot_be_bound() {
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = busy.local_addr().unwrap().port();
    let dir = tempfile::tempdir().unwrap();
    let cfg = write(
        dir.path(),
        "busy.cfg",
        &format!(
            "defaults\n  mode http\n  timeout client 1s\n  timeout server 1s\n  timeout connect 1s\n\
             frontend f\n  bind 127.0.0.1:{port}\n  http-request return status 200\n"
        ),
    );
    baton()
        .arg("-f")
        .arg(&cfg)
        .timeout(std::time::Duration::from_secs(10))
        .assert()
        .code(1)
        .stderr(predicate::str::contains("[ALERT]"));
}

#[test]
fn keyword_docs_are_generated_from_the_table() {
    let out = baton()
        .args(["--list-keywords", "--format", "markdown"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let docs = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/keywords.md");
    let on_disk = std::fs::read_to_string(&docs).unwrap();
    assert!(
        on_disk == String::from_utf8(out.stdout).unwrap(),
        "docs/keywords.md is stale: run `cargo run -q -p baton -- --list-keywords --format markdown > docs/keywords.md`"
    );
    baton()
        .arg("--list-keywords")
        .assert()
        .success()
        .stdout(predicate::str::contains("stats socket"));
}

#[test]
fn version() {
    baton()
        .arg("-v")
        .assert()
        .success()
        .stdout(predicate::str::starts_with("baton version "));
}
