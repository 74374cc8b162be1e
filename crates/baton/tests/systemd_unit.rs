//! `systemd/baton.service` and `systemd/baton.default`: what the issue asks of them, and
//! `systemd-analyze verify` clean once installed.
//!
//! systemd-analyze checks that the binaries a unit runs exist, so the unit is verified inside a
//! temporary root (`--root`) where it is installed as the package installs it: the binary at
//! /usr/sbin/baton, the unit in /etc/systemd/system, the defaults at /etc/default/baton, and the
//! host's own system units (targets the unit orders itself after). `--man=no`: the man page
//! comes with the package. The negative control verifies the same root without the binary.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn unit() -> String {
    std::fs::read_to_string(repo().join("systemd/baton.service")).unwrap()
}

fn systemd_analyze() -> &'static str {
    ["/usr/bin/systemd-analyze", "/bin/systemd-analyze"]
        .into_iter()
        .find(|p| Path::new(p).exists())
        .expect("systemd-analyze is needed for this test: apt-get install systemd")
}

/// A root with the unit installed as the package does; `with_binary: false` leaves
/// /usr/sbin/baton out.
fn installed_root(with_binary: bool) -> tempfile::TempDir {
    let root = tempfile::tempdir().unwrap();
    let r = root.path();
    for d in [
        "usr/sbin",
        "etc/systemd/system",
        "etc/default",
        "usr/lib/systemd",
    ] {
        std::fs::create_dir_all(r.join(d)).unwrap();
    }
    if with_binary {
        std::fs::copy(common::baton_bin(), r.join("usr/sbin/baton")).unwrap();
    }
    std::fs::copy(
        repo().join("systemd/baton.service"),
        r.join("etc/systemd/system/baton.service"),
    )
    .unwrap();
    std::fs::copy(
        repo().join("systemd/baton.default"),
        r.join("etc/default/baton"),
    )
    .unwrap();
    let units = ["/usr/lib/systemd/system", "/lib/systemd/system"]
        .into_iter()
        .find(|p| Path::new(p).join("sysinit.target").exists())
        .expect("the system's units (sysinit.target) are needed: apt-get install systemd");
    let status = Command::new("cp")
        .arg("-r")
        .arg(units)
        .arg(r.join("usr/lib/systemd/"))
        .status()
        .unwrap();
    assert!(status.success());
    root
}

/// `systemd-analyze verify` in `root`: (success, its output).
fn verify(root: &Path) -> (bool, String) {
    let out = Command::new(systemd_analyze())
        .args(["verify", "--man=no"])
        .arg(format!("--root={}", root.display()))
        .arg("baton.service")
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), text)
}

#[test]
fn systemd_analyze_verify_is_clean_once_installed() {
    let root = installed_root(true);
    let (ok, text) = verify(root.path());
    assert!(
        ok && text.trim().is_empty(),
        "systemd-analyze verify:\n{text}"
    );
    // Negative control: the same root without the binary is refused.
    let bare = installed_root(false);
    let (ok, text) = verify(bare.path());
    assert!(!ok && text.contains("/usr/sbin/baton"), "{text}");
}

#[test]
fn the_unit_has_what_the_issue_asks() {
    let unit = unit();
    for line in [
        "Type=notify",
        "EnvironmentFile=-/etc/default/baton",
        "Environment=\"CONFIG=/etc/baton/baton.cfg\" \"PIDFILE=/run/baton.pid\" \"EXTRAOPTS=-S /run/baton-master.sock\"",
        "ExecStartPre=/usr/sbin/baton -Ws -f $CONFIG -c -q $EXTRAOPTS",
        "ExecStart=/usr/sbin/baton -Ws -f $CONFIG -p $PIDFILE $EXTRAOPTS",
        "ExecReload=/usr/sbin/baton -Ws -f $CONFIG -c $EXTRAOPTS",
        "ExecReload=/usr/sbin/baton --cli reload -S /run/baton-master.sock",
        "KillMode=mixed",
        "Restart=always",
        "SuccessExitStatus=143",
        "RuntimeDirectory=baton",
    ] {
        assert!(unit.lines().any(|l| l == line), "missing: {line}");
    }
    assert!(!unit.contains("socat"), "the unit needs no socat");
    // Hardening must leave what binding low ports and dropping privileges need.
    let caps = unit
        .lines()
        .find_map(|l| l.strip_prefix("CapabilityBoundingSet="))
        .expect("a capability bounding set");
    for cap in [
        "CAP_NET_BIND_SERVICE",
        "CAP_SETUID",
        "CAP_SETGID",
        "CAP_KILL",
    ] {
        assert!(caps.contains(cap), "{cap} is needed");
    }
    assert!(!unit.contains("PrivateNetwork=true") && !unit.contains("User="));
    let defaults = std::fs::read_to_string(repo().join("systemd/baton.default")).unwrap();
    for word in [
        "CONFIG=",
        "EXTRAOPTS=",
        "HAPROXY_STATS_SOCKET=/run/baton/admin.sock",
    ] {
        assert!(defaults.contains(word), "baton.default documents {word}");
    }
}

/// The unit's command lines, with `$VARS` expanded as systemd does (unquoted: split on blanks).
fn command(unit: &str, key: &str, index: usize, vars: &[(&str, String)]) -> Vec<String> {
    let line = unit
        .lines()
        .filter_map(|l| l.strip_prefix(&format!("{key}=")))
        .nth(index)
        .unwrap_or_else(|| panic!("no {key} #{index}"));
    line.split_whitespace()
        .flat_map(|w| match w.strip_prefix('$') {
            Some(name) => vars
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.split_whitespace().map(String::from).collect())
                .unwrap_or_else(|| panic!("${name} has no value")),
            None => vec![w.to_string()],
        })
        .collect()
}

/// Runs a unit command line with the binary under test in place of /usr/sbin/baton.
fn run(argv: &[String]) -> std::process::Output {
    assert_eq!(argv[0], "/usr/sbin/baton");
    Command::new(common::baton_bin())
        .args(&argv[1..])
        .output()
        .unwrap()
}

#[test]
fn the_units_checks_accept_a_good_configuration_and_name_the_line_of_a_bad_one() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("baton.cfg");
    let port = common::free_port();
    std::fs::write(
        &cfg,
        common::http_cfg(port, "", "", "    server s1 127.0.0.1:9\n"),
    )
    .unwrap();
    let vars = [
        ("CONFIG", cfg.display().to_string()),
        (
            "PIDFILE",
            dir.path().join("baton.pid").display().to_string(),
        ),
        (
            "EXTRAOPTS",
            format!("-S {}", dir.path().join("m.sock").display()),
        ),
    ];
    let unit = unit();
    let pre = run(&command(&unit, "ExecStartPre", 0, &vars));
    assert_eq!(pre.status.code(), Some(0), "{pre:?}");
    assert!(
        pre.stderr.is_empty() && pre.stdout.is_empty(),
        "-q is quiet"
    );
    std::fs::write(
        &cfg,
        std::fs::read_to_string(&cfg).unwrap() + "    no-such-keyword\n",
    )
    .unwrap();
    let check = run(&command(&unit, "ExecReload", 0, &vars));
    assert_eq!(check.status.code(), Some(1));
    let err = String::from_utf8_lossy(&check.stderr);
    assert!(
        err.contains("baton.cfg:"),
        "the journal gets file:line: {err}"
    );
}
