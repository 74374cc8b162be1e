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
    /// Runs `baton -q -f CFG`; `dir` (holding the config and sockets) lives as long as it.
    fn spawn(cfg: &Path, dir: tempfile::TempDir) -> Baton {
        let child = Command::new(env!("CARGO_BIN_EXE_baton"))
            .arg("-q")
            .arg("-f")
            .arg(cfg)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        Baton { child, dir }
    }

    fn start() -> Baton {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
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
        let b = Baton::spawn(&cfg, dir);
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

/// A port nobody listens on right now.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
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
    let (port, api) = (free_port(), free_port());
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
    let _guard = Baton::spawn(&cfg, dir);
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

/// `show stat`: the header is Debian haproxy 2.6's, byte for byte, and the counters are true.
#[test]
fn show_stat_has_haproxys_header_and_true_counters() {
    let dir = tempfile::tempdir().unwrap();
    let (port, server_port) = (free_port(), free_port());
    // A tiny backend answering every request on keep-alive connections.
    let server = std::net::TcpListener::bind(("127.0.0.1", server_port)).unwrap();
    std::thread::spawn(move || {
        for conn in server.incoming().flatten() {
            std::thread::spawn(move || {
                let mut r = std::io::BufReader::new(conn.try_clone().unwrap());
                let mut w = conn;
                let mut line = String::new();
                loop {
                    line.clear();
                    if std::io::BufRead::read_line(&mut r, &mut line).unwrap_or(0) == 0 {
                        return;
                    }
                    if line == "\r\n"
                        && w.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                            .is_err()
                    {
                        return;
                    }
                }
            });
        }
    });
    let cfg = dir.path().join("baton.cfg");
    let sock = dir.path().join("admin.sock");
    std::fs::write(
        &cfg,
        format!(
            "global\n    stats socket {} level admin\n\
             defaults\n    mode http\n    timeout connect 1s\n    timeout client 5s\n    timeout server 5s\n\
             frontend web\n    bind 127.0.0.1:{port}\n    use_backend other if {{ path_beg /o }}\n    default_backend app\n\
             backend app\n    server s1 127.0.0.1:{server_port}\n\
             backend other\n    server s1 127.0.0.1:{server_port}\n",
            sock.display()
        ),
    )
    .unwrap();
    // Debian's haproxy on the same file gives the reference header.
    let haproxy_header = {
        let mut h = Command::new("/usr/sbin/haproxy")
            .args(["-db", "-q", "-f"])
            .arg(&cfg)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("Debian's haproxy is needed for this test: apt-get install haproxy");
        let until = Instant::now() + Duration::from_secs(5);
        let mut answer = String::new();
        while answer.is_empty() && Instant::now() < until {
            std::thread::sleep(Duration::from_millis(50));
            if let Ok(mut s) = UnixStream::connect(&sock) {
                let _ = s.write_all(b"show stat\n");
                let _ = s.read_to_string(&mut answer);
            }
        }
        let _ = h.kill();
        let _ = h.wait();
        answer.lines().next().unwrap_or_default().to_string()
    };
    assert!(
        haproxy_header.starts_with("# pxname,svname,"),
        "{haproxy_header:?}"
    );
    let guard = Baton::spawn(&cfg, dir);
    let until = Instant::now() + Duration::from_secs(5);
    let mut client = loop {
        if let Ok(c) = std::net::TcpStream::connect(("127.0.0.1", port)) {
            break c;
        }
        assert!(Instant::now() < until);
        std::thread::sleep(Duration::from_millis(10));
    };
    // 5 requests on one keep-alive connection (the 2nd and 4th routed to `other`), then
    // close it.
    const TO_APP: &str = "GET / HTTP/1.1\r\nHost: t\r\n\r\n";
    const TO_OTHER: &str = "GET /o HTTP/1.1\r\nHost: t\r\n\r\n";
    client
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    for i in 0..5 {
        let request = if i % 2 == 1 { TO_OTHER } else { TO_APP };
        client.write_all(request.as_bytes()).unwrap();
        let mut buf = [0u8; 40];
        let mut got = 0;
        while !buf[..got].ends_with(b"ok") {
            got += client.read(&mut buf[got..]).unwrap();
        }
    }
    drop(client);
    std::thread::sleep(Duration::from_millis(200));
    let stat = ask(&guard.sock("admin"), "show stat\n");
    let mut lines = stat.lines();
    assert_eq!(
        lines.next().unwrap(),
        haproxy_header,
        "the header differs from haproxy's"
    );
    let columns: Vec<&str> = haproxy_header.trim_start_matches("# ").split(',').collect();
    let field = |row: &str, name: &str| -> String {
        let i = columns.iter().position(|c| *c == name).unwrap();
        row.split(',').nth(i).unwrap_or_default().to_string()
    };
    let rows: Vec<&str> = lines.filter(|l| !l.is_empty()).collect();
    let fe = rows
        .iter()
        .find(|r| r.starts_with("web,FRONTEND,"))
        .expect(&stat);
    assert_eq!(field(fe, "stot"), "1", "{fe}");
    assert_eq!(field(fe, "scur"), "0", "{fe}");
    assert_eq!(field(fe, "req_tot"), "5", "{fe}");
    assert_eq!(field(fe, "hrsp_2xx"), "5", "{fe}");
    assert_eq!(
        field(fe, "bin"),
        (3 * TO_APP.len() + 2 * TO_OTHER.len()).to_string(),
        "{fe}"
    );
    let fe_out: u64 = field(fe, "bout").parse().unwrap();
    assert!(fe_out >= 5 * 40, "{fe}");
    let srv = rows.iter().find(|r| r.starts_with("app,s1,")).expect(&stat);
    assert_eq!(field(srv, "status"), "UP");
    // As in HAProxy, a server's stot and lbtot count requests (streams) sent to it.
    assert_eq!(field(srv, "stot"), "3", "{srv}");
    assert_eq!(field(srv, "lbtot"), "3", "{srv}");
    let be = rows
        .iter()
        .find(|r| r.starts_with("app,BACKEND,"))
        .expect(&stat);
    assert_eq!(field(be, "req_tot"), "3", "{be}");
    assert_eq!(field(be, "hrsp_2xx"), "3", "{be}");
    assert_eq!(field(be, "stot"), "3", "{be}");
    assert_eq!(field(be, "status"), "UP");
    // Each request's bytes count on the backend it went to, and only there.
    let other = rows
        .iter()
        .find(|r| r.starts_with("other,BACKEND,"))
        .expect(&stat);
    assert_eq!(field(be, "bin"), (3 * TO_APP.len()).to_string(), "{be}");
    assert_eq!(
        field(other, "bin"),
        (2 * TO_OTHER.len()).to_string(),
        "{other}"
    );
    let be_out: u64 = field(be, "bout").parse().unwrap();
    let other_out: u64 = field(other, "bout").parse().unwrap();
    assert_eq!(be_out + other_out, fe_out, "{be}\n{other}");
    assert_eq!(be_out * 2, other_out * 3, "{be}\n{other}");
    for row in &rows {
        assert_eq!(
            row.split(',').count(),
            columns.len(),
            "every row has every column: {row}"
        );
    }
}

#[test]
fn show_servers_conn_lists_each_server() {
    let b = Baton::start();
    let out = b.ask("user", "show servers conn\n");
    let mut lines = out.lines();
    assert!(lines
        .next()
        .unwrap()
        .starts_with("# bkname/svname bkid/svid addr port - purge_delay used_cur"));
    let s1: Vec<&str> = lines.next().unwrap().split(' ').collect();
    assert_eq!(&s1[..4], ["be/s1", "1/1", "127.0.0.1", "1"]);
    assert_eq!(
        b.ask("user", "show servers conn nope\n"),
        "Can't find backend.\n\n"
    );
}

#[test]
fn show_stat_reports_health_checks() {
    let dir = tempfile::tempdir().unwrap();
    let (port, dead) = (free_port(), free_port());
    let cfg = dir.path().join("baton.cfg");
    let sock = dir.path().join("admin.sock");
    std::fs::write(
        &cfg,
        format!(
            "global\n    stats socket {} level admin\n\
             defaults\n    mode tcp\n    timeout connect 200ms\n    timeout client 5s\n    timeout server 5s\n\
             listen l\n    bind 127.0.0.1:{port}\n    server gone 127.0.0.1:{dead} check inter 50 fall 2 rise 2\n",
            sock.display()
        ),
    )
    .unwrap();
    let _guard = Baton::spawn(&cfg, dir);
    let until = Instant::now() + Duration::from_secs(10);
    let (header, row) = loop {
        std::thread::sleep(Duration::from_millis(100));
        let stat = UnixStream::connect(&sock)
            .ok()
            .map(|_| ask(&sock, "show stat\n"))
            .unwrap_or_default();
        if let Some(row) = stat
            .lines()
            .find(|l| l.starts_with("l,gone,") && l.contains(",DOWN,"))
        {
            let header = stat
                .lines()
                .next()
                .unwrap()
                .trim_start_matches("# ")
                .to_string();
            break (header, row.to_string());
        }
        assert!(Instant::now() < until, "the server never went DOWN");
    };
    let columns: Vec<&str> = header.split(',').collect();
    let field = |name: &str| {
        row.split(',')
            .nth(columns.iter().position(|c| *c == name).unwrap())
            .unwrap()
            .to_string()
    };
    assert!(field("chkfail").parse::<u64>().unwrap() >= 2, "{row}");
    assert_eq!(field("chkdown"), "1", "{row}");
    assert_eq!(field("check_status"), "L4CON", "{row}");
    assert_eq!(
        (field("check_rise").as_str(), field("check_fall").as_str()),
        ("2", "2")
    );
}
