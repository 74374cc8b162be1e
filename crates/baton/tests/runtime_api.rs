//! The stats socket's runtime API, spoken to as HAProxy tooling speaks to it (one line of
//! `;`-separated commands per connection, or `prompt` mode), with levels enforced per command.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A baton with two stats sockets (admin and user level), killed on drop.
struct Baton {
    child: Child,
    dir: tempfile::TempDir,
}

impl Drop for Baton {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Baton {
    fn start() -> Baton {
        let dir = tempfile::tempdir().unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let cfg = dir.path().join("baton.cfg");
        std::fs::write(
            &cfg,
            format!(
                "global\n    stats socket {admin} level admin\n    stats socket {user} level user mode 600\n\
                 defaults\n    mode http\n    timeout connect 1s\n    timeout client 5s\n    timeout server 5s\n\
                 frontend f\n    bind 127.0.0.1:{port}\n    default_backend be\n\
                 backend be\n    server s1 127.0.0.1:1 weight 10\n    server s2 127.0.0.1:2\n",
                admin = dir.path().join("admin.sock").display(),
                user = dir.path().join("user.sock").display(),
            ),
        )
        .unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_baton"))
            .arg("-q")
            .arg("-f")
            .arg(&cfg)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let b = Baton { child, dir };
        let until = Instant::now() + Duration::from_secs(5);
        while UnixStream::connect(b.sock("user")).is_err() {
            assert!(Instant::now() < until, "stats socket never appeared");
            std::thread::sleep(Duration::from_millis(10));
        }
        b
    }

    fn sock(&self, name: &str) -> PathBuf {
        self.dir.path().join(format!("{name}.sock"))
    }

    /// Sends one line and reads until the connection closes.
    fn ask(&self, name: &str, line: &str) -> String {
        ask(&self.sock(name), line)
    }
}

fn ask(sock: &Path, line: &str) -> String {
    let mut s = UnixStream::connect(sock).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(line.as_bytes()).unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

#[test]
fn show_info_reports_the_process_and_its_phase() {
    let b = Baton::start();
    let info = b.ask("user", "show info\n");
    assert!(info.contains("Name: baton\n"), "{info}");
    assert!(info.contains(&format!("Pid: {}\n", b.child.id())), "{info}");
    assert!(info.contains("Phase: running\n"), "{info}");
    assert!(
        info.ends_with("\n\n"),
        "each command's output ends with an empty line"
    );
}

#[test]
fn levels_are_enforced_per_command() {
    let b = Baton::start();
    assert_eq!(
        b.ask("user", "set weight be/s1 5\n"),
        "Permission denied\n\n"
    );
    assert_eq!(b.ask("user", "get weight be/s1\n"), "10 (initial 10)\n\n");
    assert_eq!(b.ask("admin", "set weight be/s1 5\n"), "\n");
    assert_eq!(b.ask("user", "get weight be/s1\n"), "5 (initial 10)\n\n");
    assert_eq!(b.ask("admin", "set server be/s1 weight 50%\n"), "\n");
    assert_eq!(b.ask("admin", "get weight be/s1\n"), "5 (initial 10)\n\n");
    assert_eq!(
        b.ask("admin", "set weight be/s1 300\n"),
        "Absolute weight can only be between 0 and 256 inclusive.\n\n"
    );
    // help lists only what the level allows.
    assert!(!b.ask("user", "help\n").contains("set server"));
    assert!(b.ask("admin", "help\n").contains("set server"));
}

#[test]
fn server_state_changes_show_in_servers_state() {
    let b = Baton::start();
    assert_eq!(b.ask("admin", "disable server be/s2\n"), "\n");
    let state = b.ask("user", "show servers state be\n");
    let line = state
        .lines()
        .find(|l| l.split(' ').nth(3) == Some("s2"))
        .expect(&state);
    let fields: Vec<&str> = line.split(' ').collect();
    assert_eq!(
        (fields[5], fields[6]),
        ("0", "1"),
        "op state 0, admin state MAINT: {line}"
    );
    assert_eq!(b.ask("admin", "set server be/s2 state ready\n"), "\n");
    assert_eq!(
        b.ask("admin", "set server be/s2 state sleepy\n"),
        "'set server <srv> state' expects 'ready', 'drain' and 'maint'.\n\n"
    );
    assert_eq!(
        b.ask("admin", "disable server be/nope\n"),
        "No such server.\n\n"
    );
    assert_eq!(
        b.ask("admin", "disable server nope/s1\n"),
        "No such backend.\n\n"
    );
    assert_eq!(
        b.ask("admin", "disable server\n"),
        "Require 'backend/server'.\n\n"
    );
}

#[test]
fn several_commands_per_line_and_prompt_mode() {
    let b = Baton::start();
    let out = b.ask("user", "get weight be/s2; get weight be/s1\n");
    assert_eq!(out, "1 (initial 1)\n\n10 (initial 10)\n\n");
    let mut s = UnixStream::connect(b.sock("user")).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(b"prompt\n").unwrap();
    let mut buf = [0u8; 64];
    let n = s.read(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"\n> ");
    s.write_all(b"get weight be/s2\n").unwrap();
    let n = s.read(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"1 (initial 1)\n\n> ");
    s.write_all(b"quit\n").unwrap();
    assert_eq!(s.read(&mut buf).unwrap(), 0, "quit closes the connection");
}

#[test]
fn bad_input_gets_an_answer_not_a_crash() {
    let b = Baton::start();
    let out = b.ask("user", "frobnicate the widgets\n");
    assert!(
        out.starts_with(
            "Unknown command, but maybe one of the following ones is a better match:\n"
        ),
        "{out}"
    );
    // Garbage, a huge line, binary: the process survives and still answers.
    let _ = ask(&b.sock("user"), "\u{1}\u{2}\u{ff}\n");
    let mut s = UnixStream::connect(b.sock("user")).unwrap();
    let _ = s.write_all(&vec![b'x'; 100_000]);
    drop(s);
    assert!(b.ask("user", "show info\n").contains("Name: baton"));
}

#[test]
fn getsocks_without_expose_fd_sends_nothing() {
    let b = Baton::start();
    assert_eq!(b.ask("admin", "_getsocks\n"), "");
}

#[test]
fn tcp_stats_sockets_answer_and_never_send_descriptors() {
    let dir = tempfile::tempdir().unwrap();
    let free = || {
        std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port()
    };
    let (port, api) = (free(), free());
    let cfg = dir.path().join("baton.cfg");
    std::fs::write(
        &cfg,
        format!(
            "global\n    stats socket ipv4@127.0.0.1:{api} level admin expose-fd listeners\n\
             defaults\n    mode http\n    timeout client 5s\n\
             frontend f\n    bind 127.0.0.1:{port}\n    http-request return status 200\n"
        ),
    )
    .unwrap();
    // `-c` warns that expose-fd cannot work over TCP, but accepts the line.
    let check = Command::new(env!("CARGO_BIN_EXE_baton"))
        .arg("-c")
        .arg("-f")
        .arg(&cfg)
        .output()
        .unwrap();
    assert_eq!(check.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&check.stderr)
        .contains("descriptors only travel over UNIX sockets"));
    let child = Command::new(env!("CARGO_BIN_EXE_baton"))
        .arg("-q")
        .arg("-f")
        .arg(&cfg)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let _guard = Baton { child, dir };
    let connect = || {
        let until = Instant::now() + Duration::from_secs(5);
        loop {
            if let Ok(s) = std::net::TcpStream::connect(("127.0.0.1", api)) {
                return s;
            }
            assert!(Instant::now() < until, "TCP stats socket never appeared");
            std::thread::sleep(Duration::from_millis(10));
        }
    };
    let talk = |line: &[u8]| {
        let mut s = connect();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        s.write_all(line).unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        out
    };
    assert!(talk(b"show info\n").contains("Name: baton"));
    assert_eq!(talk(b"_getsocks\n"), "");
}
