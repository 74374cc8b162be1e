//! `check` over real-shaped layouts: the three unit kinds, drop-ins, several environment
//! files, quoting, missing and unreadable files. Each test asserts the finding ids (with their
//! severities) and the exit status.

mod common;
use common::Tree;

fn ids(list: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = list.iter().map(|s| s.to_string()).collect();
    v.sort();
    v
}

const U17: &str = "/lib/systemd/system/haproxy.service";

#[test]
fn ubuntu_17_wrapper_needs_the_socket_and_the_variable() {
    let t = Tree::fixture("ubuntu-1.7");
    let (found, code) = t.ids(&[]);
    assert_eq!(
        found,
        ids(&["error:no-expose-fd", "error:stats-socket-var-unset"])
    );
    assert_eq!(code, 1);
    let (v, _) = t.json(&[]);
    assert_eq!(v["units"][0]["kind"], "haproxy-systemd-wrapper");
    assert_eq!(v["config"], "/etc/haproxy/haproxy.cfg");
    // The line of the stats socket, and the fix naming the env file that wins.
    let f = v["findings"].as_array().unwrap();
    let expose = f.iter().find(|f| f["id"] == "no-expose-fd").unwrap();
    assert_eq!(
        (expose["file"].as_str(), expose["line"].as_u64()),
        (Some("/etc/haproxy/haproxy.cfg"), Some(3))
    );
    let var = f
        .iter()
        .find(|f| f["id"] == "stats-socket-var-unset")
        .unwrap();
    assert!(
        var["fix"]
            .as_str()
            .unwrap()
            .contains("/etc/default/haproxy"),
        "{var}"
    );
}

#[test]
fn ubuntu_17_passes_once_both_agree() {
    let t = Tree::ubuntu_with_expose_fd();
    t.write(
        "/etc/default/haproxy",
        "HAPROXY_STATS_SOCKET=/run//haproxy/./admin.sock\n",
    );
    let (found, code) = t.ids(&[]);
    assert_eq!(
        (found, code),
        (vec![], 0),
        "paths are compared after normalising"
    );
    // A variable naming another path is a mismatch.
    t.write(
        "/etc/default/haproxy",
        "HAPROXY_STATS_SOCKET=/run/haproxy/other.sock\n",
    );
    let (found, code) = t.ids(&[]);
    assert_eq!((found, code), (ids(&["error:stats-socket-mismatch"]), 1));
}

#[test]
fn debian_26_master_worker_only_warns_without_expose_fd() {
    let t = Tree::fixture("debian-2.6");
    let (found, code) = t.ids(&[]);
    assert_eq!((found, code), (ids(&["warning:no-expose-fd"]), 0));
    let (v, _) = t.json(&[]);
    assert_eq!(v["units"][0]["kind"], "haproxy-master-worker");
    // An explicit -x with the variable is still honoured, and then must match.
    t.write("/etc/default/haproxy", "HAPROXY_STATS_SOCKET=/run/haproxy/admin.sock\nEXTRAOPTS=\"-S /run/haproxy-master.sock -x /run/haproxy/admin.sock\"\n");
    let (found, code) = t.ids(&[]);
    assert_eq!((found, code), (ids(&["error:no-expose-fd"]), 1));
    // -x /dev/null turns the sockpair transfer off.
    t.write("/etc/default/haproxy", "EXTRAOPTS=\"-x /dev/null\"\n");
    let (found, _) = t.ids(&[]);
    assert_eq!(found, ids(&["warning:reload-disables-fd-transfer"]));
}

#[test]
fn baton_unit_is_clean_and_checks_its_variable() {
    let t = Tree::fixture("baton");
    let (found, code) = t.ids(&[]);
    assert_eq!((found, code), (vec![], 0));
    let (v, _) = t.json(&[]);
    assert_eq!(v["units"][0]["kind"], "baton");
    assert_eq!(v["units"][0]["reload_socket"], "/run/baton/admin.sock");
    // Without the variable baton uses its socketpair: still fine.
    t.write("/etc/default/baton", "#nothing\n");
    assert_eq!(t.ids(&[]).1, 0);
    // A variable naming a socket without expose-fd is an error.
    t.write(
        "/etc/default/baton",
        "HAPROXY_STATS_SOCKET=/run/baton/admin.sock\n",
    );
    t.edit("/etc/baton/baton.cfg", " expose-fd listeners", "");
    assert_eq!(t.ids(&[]), (ids(&["error:no-expose-fd"]), 1));
}

#[test]
fn baton_unsupported_directives_are_errors_for_baton_notes_for_haproxy() {
    let extra = "\nbackend other\n\terrorloc 503 http://example.invalid/\n\toption logasap\n";
    let t = Tree::fixture("baton");
    t.append("/etc/baton/baton.cfg", extra);
    let (found, code) = t.ids(&[]);
    assert!(
        found.contains(&"error:unsupported-directive".to_string()),
        "{found:?}"
    );
    assert_eq!(code, 1);
    let t = Tree::fixture("debian-2.6");
    t.append("/etc/haproxy/haproxy.cfg", extra);
    let (found, code) = t.ids(&[]);
    assert!(
        found.contains(&"info:unsupported-directive".to_string()),
        "{found:?}"
    );
    assert_eq!(code, 0, "haproxy runs it; baton's support is information");
}

#[test]
fn dropins_override_merge_and_mask() {
    let t = Tree::ubuntu_with_expose_fd();
    // A vendor drop-in sets the variable wrongly; the admin's same-named drop-in masks it.
    t.write(
        "/lib/systemd/system/haproxy.service.d/10-socket.conf",
        "[Service]\nEnvironment=HAPROXY_STATS_SOCKET=/wrong.sock\n",
    );
    assert_eq!(t.ids(&[]).0, ids(&["error:stats-socket-mismatch"]));
    t.write(
        "/etc/systemd/system/haproxy.service.d/10-socket.conf",
        "[Service]\nEnvironment=\"HAPROXY_STATS_SOCKET=/run/haproxy/admin.sock\"\n",
    );
    assert_eq!(t.ids(&[]), (vec![], 0));
    // Drop-ins apply in file-name order across directories: 20- from /run wins over 10-.
    t.write(
        "/run/systemd/system/haproxy.service.d/20-late.conf",
        "[Service]\nEnvironment=HAPROXY_STATS_SOCKET=/late.sock\n",
    );
    let (v, _) = t.json(&[]);
    assert_eq!(v["units"][0]["reload_socket"], "/late.sock");
    assert_eq!(v["units"][0]["dropins"].as_array().unwrap().len(), 2);
    // A drop-in linked to /dev/null masks its name.
    std::os::unix::fs::symlink(
        "/dev/null",
        t.host("/etc/systemd/system/haproxy.service.d/20-late.conf"),
    )
    .unwrap();
    assert_eq!(t.ids(&[]), (vec![], 0));
}

#[test]
fn empty_execstart_resets_and_a_dropin_replaces_the_command() {
    let t = Tree::fixture("ubuntu-1.7");
    t.write(
        "/etc/systemd/system/haproxy.service.d/override.conf",
        "[Service]\nExecStart=\nExecStart=/usr/sbin/haproxy -Ws -f $CONFIG -p $PIDFILE\nExecReload=\nExecReload=/bin/kill -USR2 $MAINPID\n",
    );
    let (v, code) = t.json(&[]);
    assert_eq!(v["units"][0]["kind"], "haproxy-master-worker");
    assert_eq!(code, 0);
}

#[test]
fn fragment_precedence_etc_over_lib() {
    let t = Tree::fixture("ubuntu-1.7");
    t.write(
        "/etc/systemd/system/haproxy.service",
        &t.read(U17)
            .replace("haproxy-systemd-wrapper", "haproxy -Ws"),
    );
    let (v, _) = t.json(&[]);
    assert_eq!(v["units"][0]["path"], "/etc/systemd/system/haproxy.service");
    assert_eq!(v["units"][0]["kind"], "haproxy-master-worker");
    // A unit masked in /etc is not found.
    std::fs::remove_file(t.host("/etc/systemd/system/haproxy.service")).unwrap();
    std::os::unix::fs::symlink("/dev/null", t.host("/etc/systemd/system/haproxy.service")).unwrap();
    let (found, code) = t.ids(&["--service", "haproxy", "/etc/haproxy/haproxy.cfg"]);
    assert_eq!((found, code), (ids(&["error:unit-not-found"]), 1));
}

#[test]
fn environment_files_override_in_order() {
    let t = Tree::ubuntu_with_expose_fd();
    t.edit(U17, "EnvironmentFile=-/etc/default/haproxy", "Environment=HAPROXY_STATS_SOCKET=/from/environment.sock\nEnvironmentFile=-/etc/default/haproxy\nEnvironmentFile=-/etc/default/haproxy-local\nEnvironmentFile=-/etc/default/absent");
    // Environment= alone: used (and wrong).
    let (v, _) = t.json(&[]);
    assert_eq!(v["units"][0]["reload_socket"], "/from/environment.sock");
    // A file overrides Environment=, a later file an earlier one.
    t.write(
        "/etc/default/haproxy",
        "HAPROXY_STATS_SOCKET=/from/first-file.sock\n",
    );
    t.write(
        "/etc/default/haproxy-local",
        "HAPROXY_STATS_SOCKET='/run/haproxy/admin.sock'\n",
    );
    assert_eq!(t.ids(&[]), (vec![], 0));
    let (v, _) = t.json(&[]);
    assert_eq!(v["units"][0]["reload_socket"], "/run/haproxy/admin.sock");
    // UnsetEnvironment= wins over everything.
    t.write(
        "/etc/systemd/system/haproxy.service.d/unset.conf",
        "[Service]\nUnsetEnvironment=HAPROXY_STATS_SOCKET\n",
    );
    assert_eq!(t.ids(&[]).0, ids(&["error:stats-socket-var-unset"]));
}

#[test]
fn quoting_and_escapes_in_environment_lines() {
    let t = Tree::fixture("ubuntu-1.7");
    let cfg = t.read("/etc/haproxy/haproxy.cfg").replace(
        "/run/haproxy/admin.sock mode 660 level admin",
        "\"/run/haproxy/my admin.sock\" mode 660 level admin expose-fd listeners",
    );
    t.write("/etc/haproxy/my haproxy.cfg", &cfg);
    t.write(
        U17,
        &t.read(U17).replace(
            "Environment=\"CONFIG=/etc/haproxy/haproxy.cfg\" \"PIDFILE=/run/haproxy.pid\"",
            "Environment=\"CONFIG=/etc/haproxy/my haproxy.cfg\" PIDFILE=/run/haproxy.pid 'HAPROXY_STATS_SOCKET=/run/haproxy/my\\x20admin.sock'",
        ).replace("-f $CONFIG -p", "-f ${CONFIG} -p"),
    );
    let (found, code) = t.ids(&["/etc/haproxy/my haproxy.cfg"]);
    assert_eq!((found, code), (vec![], 0));
}

#[test]
fn missing_and_unreadable_inputs() {
    // A required environment file that is missing: the unit would not start.
    let t = Tree::fixture("ubuntu-1.7");
    t.edit(
        U17,
        "EnvironmentFile=-/etc/default/haproxy",
        "EnvironmentFile=/etc/default/haproxy-required",
    );
    assert!(t.ids(&[]).0.contains(&"error:env-file-missing".to_string()));
    // An unreadable environment file (a directory): could not check.
    std::fs::create_dir_all(t.host("/etc/default/haproxy-required")).unwrap();
    let (found, code) = t.ids(&[]);
    assert_eq!((found, code), (ids(&["error:unit-unreadable"]), 2));
    // Unreadable unit file.
    let t = Tree::fixture("ubuntu-1.7");
    std::fs::remove_file(t.host(U17)).unwrap();
    std::fs::create_dir_all(t.host(U17)).unwrap();
    assert_eq!(t.ids(&["/etc/haproxy/haproxy.cfg"]).1, 2);
    // Missing config, config that is a directory without .cfg files is fine, unreadable one.
    let t = Tree::fixture("ubuntu-1.7");
    assert_eq!(
        t.ids(&["/etc/haproxy/nope.cfg"]),
        (ids(&["error:config-unreadable"]), 2)
    );
    t.remove("/etc/haproxy/haproxy.cfg");
    let (found, code) = t.ids(&[]);
    assert_eq!((found, code), (ids(&["error:config-unreadable"]), 2));
    // No config and no unit: usage error.
    let t = Tree::empty();
    t.run(&["check"])
        .code(2)
        .stderr(predicates::str::contains("no CONFIG given"));
    t.run(&["check", "--format", "yaml"]).code(2);
    t.run(&["frobnicate"]).code(2);
}

#[test]
fn no_unit_checks_the_config_alone_for_baton() {
    let t = Tree::fixture("baton");
    std::fs::remove_file(t.host("/lib/systemd/system/baton.service")).unwrap();
    let (found, code) = t.ids(&["/etc/baton/baton.cfg"]);
    // /run/baton exists nowhere once RuntimeDirectory= is gone.
    assert_eq!(
        found,
        ids(&["error:stats-socket-dir-missing", "warning:no-unit"])
    );
    assert_eq!(code, 1);
    std::fs::create_dir_all(t.host("/run/baton")).unwrap();
    assert_eq!(
        t.ids(&["/etc/baton/baton.cfg"]),
        (ids(&["warning:no-unit"]), 0)
    );
}

#[test]
fn explicit_service_with_another_config_is_a_mismatch() {
    let t = Tree::fixture("ubuntu-1.7");
    t.write(
        "/etc/haproxy/other.cfg",
        &t.read("/etc/haproxy/haproxy.cfg"),
    );
    let (found, _) = t.ids(&["--service", "haproxy", "/etc/haproxy/other.cfg"]);
    assert!(
        found.contains(&"error:config-mismatch".to_string()),
        "{found:?}"
    );
    // Without --service the unit is not held against a config it does not run.
    let (found, _) = t.ids(&["/etc/haproxy/other.cfg"]);
    assert!(found.contains(&"warning:no-unit".to_string()), "{found:?}");
    // A link inside the root to the same file is the same config.
    std::os::unix::fs::symlink("haproxy.cfg", t.host("/etc/haproxy/link.cfg")).unwrap();
    let (found, _) = t.ids(&["--service", "haproxy.service", "/etc/haproxy/link.cfg"]);
    assert!(
        !found.contains(&"error:config-mismatch".to_string()),
        "{found:?}"
    );
}

#[test]
fn reload_that_restarts_tcp_expose_fd_and_nbproc() {
    let t = Tree::fixture("debian-2.6");
    let unit = "/lib/systemd/system/haproxy.service";
    t.edit(
        unit,
        "ExecReload=/bin/kill -USR2 $MAINPID",
        "ExecReload=/bin/systemctl restart haproxy",
    );
    t.edit("/etc/haproxy/haproxy.cfg", "\tstats timeout 30s\n", "\tstats socket ipv4@127.0.0.1:9999 level admin expose-fd listeners\n\tnbproc 1\n\tstats bind-process 1\n");
    let (found, code) = t.ids(&[]);
    for id in [
        "error:exec-reload-restarts",
        "warning:expose-fd-on-tcp",
        "warning:bind-process-obsolete",
    ] {
        assert!(found.contains(&id.to_string()), "{id} not in {found:?}");
    }
    assert_eq!(code, 1);
    t.edit(
        "/etc/haproxy/haproxy.cfg",
        "\tnbproc 1\n\tstats bind-process 1\n",
        "\tnbproc 4\n",
    );
    assert!(t
        .ids(&[])
        .0
        .contains(&"error:bind-process-needed".to_string()));
    // No ExecReload at all.
    t.edit(
        unit,
        "ExecReload=/usr/sbin/haproxy -Ws -f $CONFIG -c -q $EXTRAOPTS\n",
        "",
    );
    t.edit(unit, "ExecReload=/bin/systemctl restart haproxy\n", "");
    assert!(t.ids(&[]).0.contains(&"warning:no-exec-reload".to_string()));
}

#[test]
fn text_output_groups_by_severity_with_fixes() {
    let t = Tree::fixture("ubuntu-1.7");
    let out = t.run(&["check"]).code(1).get_output().stdout.clone();
    let text = String::from_utf8(out).unwrap();
    assert!(text.contains("errors (2):"), "{text}");
    assert!(text.contains("[stats-socket-var-unset]"), "{text}");
    assert!(text.contains("/etc/haproxy/haproxy.cfg:3:"), "{text}");
    assert!(text.contains("fix: append 'expose-fd listeners'"), "{text}");
    assert!(
        text.trim_end().ends_with("FAILED: 2 errors, 0 warnings"),
        "{text}"
    );
}

#[test]
fn config_defaults_to_the_baton_unit_then_haproxy() {
    let t = Tree::fixture("baton");
    // Add an haproxy unit running another config: baton's wins.
    t.write("/lib/systemd/system/haproxy.service", "[Service]\nExecStart=/usr/sbin/haproxy -Ws -f /etc/haproxy/haproxy.cfg\nExecReload=/bin/kill -USR2 $MAINPID\n");
    let (v, _) = t.json(&[]);
    assert_eq!(v["config"], "/etc/baton/baton.cfg");
    assert_eq!(v["units"].as_array().unwrap().len(), 1);
}

#[test]
fn var_run_link_makes_the_paths_agree() {
    // Debian's /var/run -> /run: the config says /var/run/..., the variable /run/...
    let t = Tree::ubuntu_with_expose_fd();
    t.edit(
        "/etc/haproxy/haproxy.cfg",
        "/run/haproxy/admin.sock",
        "/var/run/haproxy/admin.sock",
    );
    t.write(
        "/etc/default/haproxy",
        "HAPROXY_STATS_SOCKET=/run/haproxy/admin.sock\n",
    );
    std::fs::create_dir_all(t.host("/var")).unwrap();
    std::fs::create_dir_all(t.host("/run/haproxy")).unwrap();
    // Negative control first: without the link they differ.
    assert_eq!(
        t.ids(&[]).0,
        ids(&[
            "error:stats-socket-dir-missing",
            "error:stats-socket-mismatch"
        ])
    );
    std::os::unix::fs::symlink("/run", t.host("/var/run")).unwrap();
    assert_eq!(t.ids(&[]), (vec![], 0));
}

#[test]
fn a_config_link_loop_or_dangling_link_cannot_be_checked() {
    let t = Tree::fixture("ubuntu-1.7");
    t.remove("/etc/haproxy/haproxy.cfg");
    std::os::unix::fs::symlink("haproxy.cfg", t.host("/etc/haproxy/haproxy.cfg")).unwrap();
    assert_eq!(t.ids(&[]), (ids(&["error:config-unreadable"]), 2));
    t.run(&["fix"]).code(2);
    t.remove("/etc/haproxy/haproxy.cfg");
    std::os::unix::fs::symlink("/nowhere.cfg", t.host("/etc/haproxy/haproxy.cfg")).unwrap();
    assert_eq!(t.ids(&[]), (ids(&["error:config-unreadable"]), 2));
}

/// Copies a file of the real system into the test root.
fn install(t: &Tree, path: &str) {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{path}: {e}; install Debian's haproxy package (.ci/run does)"));
    t.write(path, &text);
}

#[test]
fn the_installed_debian_haproxy_package() {
    // Debian's own unit, default file, tmpfiles entry and config, as the package installs them.
    let t = Tree::empty();
    for path in [
        "/lib/systemd/system/haproxy.service",
        "/etc/default/haproxy",
        "/usr/lib/tmpfiles.d/haproxy.conf",
        "/etc/haproxy/haproxy.cfg",
    ] {
        install(&t, path);
    }
    let (v, code) = t.json(&[]);
    assert_eq!(v["units"][0]["kind"], "haproxy-master-worker", "{v}");
    assert_eq!(v["config"], "/etc/haproxy/haproxy.cfg");
    assert_eq!(code, 0, "{v}");
    let (found, _) = t.ids(&[]);
    assert!(
        found.contains(&"warning:no-expose-fd".to_string()),
        "{found:?}"
    );
    // fix has nothing to do for 2.6's sockpair.
    t.run(&["fix"])
        .code(0)
        .stdout(predicates::str::contains("nothing to change"));
}

#[test]
fn debian_18_unit_with_the_183_default_socket_is_clean() {
    // 1.8's unit has an ExecStartPre check and no EXTRAOPTS default; Debian 1.8.3 put
    // expose-fd listeners on the default socket, which the 1.8 master passes with -x.
    let t = Tree::fixture("debian-2.6");
    let unit = "/lib/systemd/system/haproxy.service";
    t.edit(unit, " \"EXTRAOPTS=-S /run/haproxy-master.sock\"", "");
    t.edit(
        unit,
        "ExecStart=",
        "ExecStartPre=/usr/sbin/haproxy -f $CONFIG -c -q $EXTRAOPTS\nExecStart=",
    );
    t.edit(
        "/etc/haproxy/haproxy.cfg",
        "level admin",
        "level admin expose-fd listeners",
    );
    assert_eq!(t.ids(&[]), (vec![], 0));
    // service.d/ drop-ins apply to every service.
    t.write(
        "/etc/systemd/system/service.d/50-all.conf",
        "[Service]\nExecReload=\nExecReload=/bin/kill -TERM $MAINPID\n",
    );
    assert_eq!(t.ids(&[]), (ids(&["error:exec-reload-restarts"]), 1));
}
