//! The placeholder binary is honest: it builds, parses its command line, and exits 2.

use assert_cmd::Command;

#[test]
fn check_says_not_implemented() {
    Command::cargo_bin("baton-migrate")
        .unwrap()
        .args(["check", "/etc/haproxy/haproxy.cfg"])
        .assert()
        .code(2)
        .stderr(predicates::str::contains("not implemented yet"));
}
