//! The process around the proxy: privilege drop, daemon mode with a pid file, and soft stop.

mod common;

use common::*;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Kills a process that is not our child (a daemon) on drop.
struct PidGuard(u32);

impl Drop for PidGuard {
    fn drop(&mut self) {
        let _ = kill(Pid::from_raw(self.0 as i32), Signal::SIGKILL);
    }
}

/// Whether `pid` still runs (a zombie counts as gone).
fn running(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => {
            let state = stat.rsplit_once(')').map(|(_, rest)| rest.trim_start());
            !matches!(state.and_then(|s| s.chars().next()), Some('Z') | Some('X'))
        }
        Err(_) => false,
    }
}

#[test]
fn privileges_drop_to_nobody_nogroup_while_serving() {
    if !nix::unistd::Uid::effective().is_root() {
        eprintln!("not root: the privilege drop cannot be tested here");
        return;
    }
    let nobody = nix::unistd::User::from_name("nobody")
        .unwrap()
        .expect("user nobody");
    let nogroup = nix::unistd::Group::from_name("nogroup")
        .unwrap()
        .expect("group nogroup");
    let (uid, gid) = (nobody.uid.as_raw(), nogroup.gid.as_raw());
    let a = Backend::named("a");
    let port = free_port();
    let cfg = http_cfg(port, "", "", &server_line("a", a.port, ""))
        .replace("global\n", "global\n    user nobody\n    group nogroup\n");
    let baton = Baton::start(&cfg, port);
    let want_uid = format!("{uid}\t{uid}\t{uid}\t{uid}");
    let want_gid = format!("{gid}\t{gid}\t{gid}\t{gid}");
    assert!(
        wait_until(WAIT, || baton.proc_status("Uid").as_deref()
            == Some(want_uid.as_str())),
        "Uid: {:?}",
        baton.proc_status("Uid")
    );
    assert_eq!(baton.proc_status("Gid").as_deref(), Some(want_gid.as_str()));
    assert_eq!(
        baton.proc_status("Groups").as_deref(),
        Some(gid.to_string().as_str())
    );
    let r = get(port, "/as-nobody");
    assert_eq!(r.status, 200);
    assert_eq!(r.text(), "a");
}

#[test]
fn daemon_mode_writes_a_pid_file_of_a_serving_process() {
    let a = Backend::named("a");
    let port = free_port();
    let (dir, cfg) = write_cfg(&http_cfg(port, "", "", &server_line("a", a.port, "")));
    let pidfile = dir.path().join("baton.pid");
    let mut child = Command::new(baton_bin())
        .arg("-D")
        .arg("-q")
        .arg("-p")
        .arg(&pidfile)
        .arg("-f")
        .arg(&cfg)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let launcher = child.id();
    let _launcher_guard = PidGuard(launcher);
    let started = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(started.elapsed() < WAIT, "baton -D did not return");
        std::thread::sleep(Duration::from_millis(10));
    };
    assert!(status.success(), "baton -D exited with {status}");
    let pid = read_pid(&pidfile).expect("a pid in the pid file");
    let _guard = PidGuard(pid);
    assert_ne!(
        pid, launcher,
        "the pid file must name the daemon, not the launcher"
    );
    assert!(running(pid), "pid {pid} from the pid file is not running");
    assert!(wait_until(WAIT, || accepts(port)));
    let r = get(port, "/daemon");
    assert_eq!(r.status, 200);
    assert_eq!(r.text(), "a");
    // Detached: its own session.
    let sid = nix::unistd::getsid(Some(Pid::from_raw(pid as i32))).unwrap();
    assert_eq!(sid.as_raw(), pid as i32);
    kill(Pid::from_raw(pid as i32), Signal::SIGTERM).unwrap();
    assert!(
        wait_until(WAIT, || !running(pid)),
        "the daemon ignored SIGTERM"
    );
}

#[test]
fn sigusr1_soft_stop_finishes_in_flight_requests_then_exits_0() {
    let a = Backend::named("a");
    let port = free_port();
    let mut baton = Baton::start(&http_cfg(port, "", "", &server_line("a", a.port, "")), port);
    let slow = std::thread::spawn(move || get(port, "/sleep/1000"));
    assert!(wait_until(WAIT, || a.accepted() == 1));
    baton.signal(Signal::SIGUSR1);
    assert!(
        wait_until(Duration::from_secs(2), || !accepts(port)),
        "still accepting after SIGUSR1"
    );
    assert!(
        baton.alive(),
        "exited before the in-flight request finished"
    );
    let r = slow.join().unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(r.text(), "a");
    let status = baton
        .wait_exit(WAIT)
        .expect("baton did not exit after draining");
    assert_eq!(status.code(), Some(0), "{status}");
}

/// baton's soft stop never closes an idle keep-alive connection under a client that may be
/// sending on it (HAProxy 2.4+ does, and loses requests with keep-alive clients on reload): the
/// next response says `Connection: close`, and a connection that stays idle ends with
/// `timeout http-keep-alive`.
#[test]
fn sigusr1_keeps_idle_keep_alive_connections_until_their_next_response() {
    let a = Backend::named("a");
    let port = free_port();
    let cfg = http_cfg(
        port,
        "    timeout http-keep-alive 2s\n",
        "",
        &server_line("a", a.port, ""),
    )
    .replace("timeout client 10s", "timeout client 20s");
    let mut baton = Baton::start(&cfg, port);
    let request = |path: &str| format!("GET {path} HTTP/1.1\r\nHost: t\r\n\r\n").into_bytes();
    // One client idle between requests, one that will stay idle, one mid-request.
    let mut idle = connect(port);
    std::io::Write::write_all(&mut idle, &request("/first")).unwrap();
    let mut idle_r = std::io::BufReader::new(idle.try_clone().unwrap());
    assert_eq!(read_response(&mut idle_r).unwrap().status, 200);
    let mut silent = connect(port);
    std::io::Write::write_all(&mut silent, &request("/once")).unwrap();
    let mut silent_r = std::io::BufReader::new(silent.try_clone().unwrap());
    assert_eq!(read_response(&mut silent_r).unwrap().status, 200);
    let mut busy = connect(port);
    std::io::Write::write_all(&mut busy, &request("/sleep/700")).unwrap();
    assert!(wait_until(WAIT, || a.accepted() >= 3));
    let stopped_at = Instant::now();
    baton.signal(Signal::SIGUSR1);
    // The in-flight request completes, and its response closes the connection.
    let mut busy_r = std::io::BufReader::new(busy.try_clone().unwrap());
    let r = read_response(&mut busy_r).unwrap();
    assert_eq!(r.status, 200, "the in-flight request must complete");
    assert_eq!(
        r.header("connection")
            .map(str::to_ascii_lowercase)
            .as_deref(),
        Some("close")
    );
    // The idle client sends its next request after the stop began: it is served, with close.
    std::io::Write::write_all(&mut idle, &request("/second")).unwrap();
    let r =
        read_response(&mut idle_r).expect("an idle keep-alive connection was cut under its client");
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("connection")
            .map(str::to_ascii_lowercase)
            .as_deref(),
        Some("close")
    );
    // The silent one ends at `timeout http-keep-alive`, and then the process exits.
    let status = baton
        .wait_exit(Duration::from_secs(10))
        .expect("the soft stop never ended");
    assert_eq!(status.code(), Some(0));
    assert!(stopped_at.elapsed() < Duration::from_secs(8));
    drop((idle, silent));
}

/// Established client connections to `port` that each of `pid`'s pollers (one epoll instance
/// per worker thread) watches, from /proc: a connection is served by the worker whose poller
/// holds it. The last number counts established connections that no poller holds.
fn connections_per_worker(pid: u32, port: u16) -> Vec<usize> {
    // Inodes of established sockets whose local port is `port` (the proxy's side).
    let mut inodes = std::collections::HashSet::new();
    for line in std::fs::read_to_string("/proc/net/tcp")
        .unwrap()
        .lines()
        .skip(1)
    {
        let f: Vec<&str> = line.split_whitespace().collect();
        let local_port = f[1].rsplit(':').next().unwrap();
        if u16::from_str_radix(local_port, 16) == Ok(port) && f[3] == "01" {
            inodes.insert(f[9].parse::<u64>().unwrap());
        }
    }
    // Each epoll instance once (tokio keeps a duplicate descriptor of its poller, with the same
    // fdinfo); its `tfd:` lines name the watched files' inodes in hex.
    let mut pollers = std::collections::BTreeMap::new();
    for entry in std::fs::read_dir(format!("/proc/{pid}/fd")).unwrap() {
        let path = entry.unwrap().path();
        if std::fs::read_link(&path)
            .map_or(true, |t| t.to_string_lossy() != "anon_inode:[eventpoll]")
        {
            continue;
        }
        let fd = path.file_name().unwrap().to_string_lossy().into_owned();
        let Ok(info) = std::fs::read_to_string(format!("/proc/{pid}/fdinfo/{fd}")) else {
            continue;
        };
        let watched = info
            .lines()
            .filter(|l| l.starts_with("tfd:"))
            .filter_map(|l| l.split_whitespace().find_map(|w| w.strip_prefix("ino:")))
            .filter_map(|hex| u64::from_str_radix(hex, 16).ok())
            .filter(|ino| inodes.contains(ino))
            .count();
        pollers.insert(info, watched);
    }
    let mut counts: Vec<usize> = pollers.into_values().collect();
    counts.sort_unstable();
    // The connections no poller holds, last (0 once every accepted connection is registered).
    counts.push(inodes.len() - counts.iter().sum::<usize>().min(inodes.len()));
    counts
}

/// Opens `n` keep-alive connections at once (they wait together in the accept queue, as a
/// load generator's do), then has each answered once and leaves them open.
fn open_keep_alive(port: u16, n: usize) -> Vec<std::io::BufReader<std::net::TcpStream>> {
    use std::io::Write;
    let mut open: Vec<_> = (0..n).map(|_| connect(port)).collect();
    for s in &mut open {
        s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    }
    open.into_iter()
        .map(|s| {
            let mut r = std::io::BufReader::new(s);
            assert_eq!(read_response(&mut r).unwrap().status, 200);
            r
        })
        .collect()
}

#[test]
fn connections_spread_over_the_worker_threads() {
    let port = free_port();
    let cfg = |threads: u32| {
        format!(
            "global\n    nbthread {threads}\n\
             defaults\n    mode http\n    timeout client 60s\n\
             frontend f\n    bind 127.0.0.1:{port}\n    http-request return status 200\n"
        )
    };
    // Control: with one thread, one poller holds every connection (what an unbalanced
    // process looks like through this measurement).
    let baton = Baton::start(&cfg(1), port);
    let open = open_keep_alive(port, 20);
    assert!(
        wait_until(WAIT, || connections_per_worker(baton.pid, port) == [20, 0]),
        "{:?}",
        connections_per_worker(baton.pid, port)
    );
    drop((open, baton));

    // Two threads: connections that arrive together (whichever thread wakes first would accept
    // them all) end up on both, within the dispatch slack.
    let baton = Baton::start(&cfg(2), port);
    let open = open_keep_alive(port, 20);
    let mut seen = Vec::new();
    assert!(
        wait_until(WAIT, || {
            seen = connections_per_worker(baton.pid, port);
            seen.len() == 3 && seen[..2].iter().sum::<usize>() == 20 && seen[0] >= 8
        }),
        "connections per worker, then unregistered: {seen:?}"
    );
    drop(open);
}
