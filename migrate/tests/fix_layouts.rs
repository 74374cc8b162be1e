//! `fix`: the smallest change, as a diff; `check` passes afterwards; a second run changes
//! nothing; `--dry-run` writes nothing; nothing is ever written outside the root; and a
//! failure at any point of the write leaves the tree byte for byte as it was.

mod common;
use baton_migrate::cli::{Cli, Command};
use baton_migrate::fix::Stage;
use clap::Parser;
use common::Tree;

const U17: &str = "/lib/systemd/system/haproxy.service";

/// Runs fix, then checks it is idempotent and that check passes; returns fix's stdout.
fn fix_converges(t: &Tree) -> String {
    let out = t.run(&["fix"]).code(0).get_output().stdout.clone();
    let first = String::from_utf8(out).unwrap();
    let after = t.snapshot();
    t.run(&["check"]).code(0);
    t.run(&["fix"])
        .code(0)
        .stdout(predicates::str::contains("nothing to change"));
    assert_eq!(t.snapshot(), after, "the second fix changed something");
    first
}

#[test]
fn ubuntu_17_gets_expose_fd_and_the_variable_in_its_env_file() {
    let t = Tree::fixture("ubuntu-1.7");
    let cfg_before = t.read("/etc/haproxy/haproxy.cfg");
    let out = fix_converges(&t);
    assert!(out.contains("+\tstats socket /run/haproxy/admin.sock mode 660 level admin expose-fd listeners # runtime API"), "{out}");
    assert!(
        out.contains("+HAPROXY_STATS_SOCKET=/run/haproxy/admin.sock"),
        "{out}"
    );
    assert!(out.contains("--- a/etc/default/haproxy"), "{out}");
    assert!(out.contains("restart haproxy.service once"), "{out}");
    assert_eq!(t.read("/etc/haproxy/haproxy.cfg.bak"), cfg_before);
    // Exactly one line changed in the config.
    let changed = cfg_before
        .lines()
        .zip(t.read("/etc/haproxy/haproxy.cfg").lines())
        .filter(|(a, b)| a != b)
        .count();
    assert_eq!(changed, 1);
}

#[test]
fn without_an_env_file_a_dropin_sets_the_variable() {
    let t = Tree::fixture("ubuntu-1.7");
    t.remove("/etc/default/haproxy");
    let out = fix_converges(&t);
    assert!(
        out.contains("+++ b/etc/systemd/system/haproxy.service.d/zz-baton-migrate.conf"),
        "{out}"
    );
    assert!(out.contains("daemon-reload"), "{out}");
    assert!(t
        .read("/etc/systemd/system/haproxy.service.d/zz-baton-migrate.conf")
        .contains("Environment=\"HAPROXY_STATS_SOCKET=/run/haproxy/admin.sock\""));
    assert!(
        !t.host("/etc/systemd/system/haproxy.service.d/zz-baton-migrate.conf.bak")
            .exists(),
        "no backup of a new file"
    );
}

#[test]
fn the_winning_line_is_replaced() {
    let t = Tree::ubuntu_with_expose_fd();
    t.write("/etc/default/haproxy", "HAPROXY_STATS_SOCKET=/first.sock\n# later wins\nHAPROXY_STATS_SOCKET=/second.sock\nEXTRAOPTS=\n");
    fix_converges(&t);
    assert_eq!(
        t.read("/etc/default/haproxy"),
        "HAPROXY_STATS_SOCKET=/first.sock\n# later wins\nHAPROXY_STATS_SOCKET=/run/haproxy/admin.sock\nEXTRAOPTS=\n"
    );
    assert!(
        !t.host("/etc/haproxy/haproxy.cfg.bak").exists(),
        "the config needed no change"
    );
}

#[test]
fn a_missing_socket_line_is_added_at_the_variables_path() {
    let t = Tree::fixture("ubuntu-1.7");
    t.edit(
        "/etc/haproxy/haproxy.cfg",
        "\tstats socket /run/haproxy/admin.sock mode 660 level admin # runtime API\n",
        "",
    );
    t.write(
        "/etc/default/haproxy",
        "HAPROXY_STATS_SOCKET=/run/haproxy/reload.sock\n",
    );
    let out = fix_converges(&t);
    assert!(
        out.contains(
            "+    stats socket /run/haproxy/reload.sock mode 660 level admin expose-fd listeners"
        ),
        "{out}"
    );
    assert_eq!(
        t.read("/etc/default/haproxy"),
        "HAPROXY_STATS_SOCKET=/run/haproxy/reload.sock\n"
    );
}

#[test]
fn a_config_without_global_gets_one() {
    let t = Tree::fixture("ubuntu-1.7");
    let cfg = t.read("/etc/haproxy/haproxy.cfg");
    let rest = &cfg[cfg.find("defaults").unwrap()..];
    t.write("/etc/haproxy/haproxy.cfg", rest);
    fix_converges(&t);
    assert!(t.read("/etc/haproxy/haproxy.cfg").starts_with("global\n    stats socket /run/haproxy/admin.sock mode 660 level admin expose-fd listeners\ndefaults"));
}

#[test]
fn baton_variable_is_pointed_at_the_exposed_socket() {
    let t = Tree::fixture("baton");
    t.write(
        "/etc/default/baton",
        "HAPROXY_STATS_SOCKET=/run/baton/old.sock\n",
    );
    t.run(&["check"]).code(1);
    fix_converges(&t);
    assert_eq!(
        t.read("/etc/default/baton"),
        "HAPROXY_STATS_SOCKET=/run/baton/admin.sock\n"
    );
}

#[test]
fn debian_26_needs_nothing() {
    let t = Tree::fixture("debian-2.6");
    let before = t.snapshot();
    t.run(&["fix"])
        .code(0)
        .stdout(predicates::str::contains("nothing to change"));
    assert_eq!(t.snapshot(), before);
}

#[test]
fn dry_run_prints_and_writes_nothing() {
    let t = Tree::fixture("ubuntu-1.7");
    let before = t.snapshot();
    t.run(&["fix", "--dry-run"])
        .code(0)
        .stdout(predicates::str::contains("+HAPROXY_STATS_SOCKET="))
        .stdout(predicates::str::contains("dry run"));
    assert_eq!(t.snapshot(), before);
}

#[test]
fn what_fix_cannot_do_is_listed_and_exits_1() {
    let t = Tree::fixture("ubuntu-1.7");
    t.edit(
        U17,
        "ExecReload=/bin/kill -USR2 $MAINPID",
        "ExecReload=/bin/kill $MAINPID",
    );
    t.run(&["fix"])
        .code(1)
        .stdout(predicates::str::contains("[exec-reload-restarts]"));
    // The reload path itself was fixed.
    assert!(t
        .read("/etc/default/haproxy")
        .contains("HAPROXY_STATS_SOCKET=/run/haproxy/admin.sock"));
}

#[test]
fn links_never_lead_outside_the_root() {
    let outside = tempfile::tempdir().unwrap();
    let victim = outside.path().join("haproxy");
    std::fs::write(&victim, "# outside\n").unwrap();
    // An absolute link is re-rooted: it names ROOT/<outside>/haproxy, which does not exist.
    let t = Tree::fixture("ubuntu-1.7");
    t.remove("/etc/default/haproxy");
    std::os::unix::fs::symlink(&victim, t.host("/etc/default/haproxy")).unwrap();
    t.run(&["fix"]).code(0);
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "# outside\n");
    // A relative link climbing above the root is refused outright.
    let t = Tree::fixture("ubuntu-1.7");
    t.remove("/etc/default/haproxy");
    let up = "../".repeat(t.path().components().count() + 2);
    std::os::unix::fs::symlink(
        format!("{up}{}", victim.display()),
        t.host("/etc/default/haproxy"),
    )
    .unwrap();
    let before = t.snapshot();
    t.run(&["fix"]).code(2);
    assert_eq!(t.snapshot(), before);
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "# outside\n");
}

/// Runs fix in-process with a fault injected at (stage, index).
fn fix_with_fault(t: &Tree, stage: Stage, index: usize) -> i32 {
    let cli = Cli::parse_from(["baton-migrate", "fix", "--root", t.path().to_str().unwrap()]);
    let Command::Fix(args) = cli.command else {
        unreachable!()
    };
    baton_migrate::run_fix(&args, &mut |s, i| {
        if s == stage && i == index {
            Err(std::io::Error::other("injected fault"))
        } else {
            Ok(())
        }
    })
}

#[test]
fn a_failure_anywhere_leaves_the_tree_byte_identical() {
    for layout in ["ubuntu-1.7", "ubuntu-1.7-dropin"] {
        for stage in [Stage::Prepare, Stage::Commit] {
            for index in 0..2 {
                let t = Tree::fixture("ubuntu-1.7");
                if layout.ends_with("dropin") {
                    t.remove("/etc/default/haproxy");
                }
                // An older backup must survive a failed run too.
                t.write("/etc/haproxy/haproxy.cfg.bak", "old backup\n");
                let before = t.snapshot();
                assert_eq!(
                    fix_with_fault(&t, stage, index),
                    2,
                    "{layout} {stage:?} {index}"
                );
                assert_eq!(
                    t.snapshot(),
                    before,
                    "{layout} {stage:?} {index}: tree changed"
                );
            }
        }
    }
    // Negative control: without a fault the same run changes the tree.
    let t = Tree::fixture("ubuntu-1.7");
    let before = t.snapshot();
    assert_eq!(fix_with_fault(&t, Stage::Commit, 99), 0);
    assert_ne!(t.snapshot(), before);
}

#[test]
fn a_linked_config_is_edited_where_it_lives_and_keeps_its_mode() {
    use std::os::unix::fs::PermissionsExt;
    let t = Tree::fixture("ubuntu-1.7");
    std::fs::create_dir_all(t.host("/srv/conf")).unwrap();
    std::fs::rename(
        t.host("/etc/haproxy/haproxy.cfg"),
        t.host("/srv/conf/haproxy.cfg"),
    )
    .unwrap();
    // Absolute link: resolved inside the root, not on the host.
    std::os::unix::fs::symlink("/srv/conf/haproxy.cfg", t.host("/etc/haproxy/haproxy.cfg"))
        .unwrap();
    std::fs::set_permissions(
        t.host("/srv/conf/haproxy.cfg"),
        std::fs::Permissions::from_mode(0o640),
    )
    .unwrap();
    let out = fix_converges(&t);
    assert!(out.contains("+++ b/srv/conf/haproxy.cfg"), "{out}");
    assert!(
        std::fs::symlink_metadata(t.host("/etc/haproxy/haproxy.cfg"))
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert!(t
        .read("/srv/conf/haproxy.cfg")
        .contains("expose-fd listeners"));
    let mode = std::fs::metadata(t.host("/srv/conf/haproxy.cfg"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o640);
}
