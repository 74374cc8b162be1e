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

// ---------------------------------------------------------------------------------------------
// Signals and exit status (HAProxy 2.6 standalone mode)
// ---------------------------------------------------------------------------------------------

/// How a process reacted to a signal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reaction {
    /// Exited with this status.
    Exit(i32),
    /// Died by this signal.
    Killed(i32),
    /// Still running a while later.
    Running,
}

/// A configuration that answers by itself on `port`, with nothing else to reach.
fn self_answering_cfg(port: u16, global: &str) -> String {
    format!(
        "global\n{global}\
         defaults\n    mode http\n    timeout connect 1s\n    timeout client 5s\n    timeout server 5s\n\n\
         frontend fe\n    bind 127.0.0.1:{port}\n    http-request return status 200 content-type text/plain string ok\n"
    )
}

/// Starts `program -db -f CFG`, waits until it listens, sends `sig`, and reports what it did:
/// exit or death within `limit`, or still running then (it is killed).
fn react(program: &str, sig: Signal, limit: Duration) -> Reaction {
    use std::os::unix::process::ExitStatusExt;
    let port = free_port();
    let (_dir, cfg) = write_cfg(&self_answering_cfg(port, ""));
    let mut child = Command::new(program)
        .arg("-db")
        .arg("-f")
        .arg(&cfg)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {program} (install haproxy): {e}"));
    let pid = child.id();
    let _guard = PidGuard(pid);
    assert!(
        wait_until(WAIT, || accepts(port)),
        "{program} never listened"
    );
    kill(Pid::from_raw(pid as i32), sig).unwrap();
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return match status.signal() {
                Some(s) => Reaction::Killed(s),
                None => Reaction::Exit(status.code().unwrap()),
            };
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            return Reaction::Running;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Each signal ends (or not) baton the way it ends Debian's haproxy 2.6 in standalone mode,
/// measured side by side: SIGTERM and SIGINT kill the process by that very signal, SIGUSR1's
/// soft stop exits 0, SIGQUIT, SIGHUP and SIGUSR2 leave it running.
#[test]
fn exit_status_per_signal_is_haproxys() {
    let expected = [
        (Signal::SIGTERM, Reaction::Killed(Signal::SIGTERM as i32)),
        (Signal::SIGINT, Reaction::Killed(Signal::SIGINT as i32)),
        (Signal::SIGUSR1, Reaction::Exit(0)),
        (Signal::SIGQUIT, Reaction::Running),
        (Signal::SIGHUP, Reaction::Running),
        (Signal::SIGUSR2, Reaction::Running),
    ];
    for (sig, want) in expected {
        // Signals that end the process get the harness's long wait; the others one second.
        let limit = if want == Reaction::Running {
            Duration::from_secs(1)
        } else {
            WAIT
        };
        let haproxy = react("/usr/sbin/haproxy", sig, limit);
        let baton = react(baton_bin(), sig, limit);
        assert_eq!(haproxy, want, "haproxy's reaction to {sig}");
        assert_eq!(
            baton, haproxy,
            "baton's reaction to {sig} differs from haproxy's"
        );
    }
}

/// SIGTERM during a soft stop still ends the process by SIGTERM at once (the in-flight request
/// is cut); `hard-stop-after` ending a soft stop exits 0, as haproxy does.
#[test]
fn sigterm_during_a_soft_stop_and_hard_stop_after() {
    use std::os::unix::process::ExitStatusExt;
    let a = Backend::named("a");
    let port = free_port();
    let mut baton = Baton::start(&http_cfg(port, "", "", &server_line("a", a.port, "")), port);
    let slow = std::thread::spawn(move || exchange(port, b"GET /sleep/5000 HTTP/1.0\r\n\r\n"));
    assert!(wait_until(WAIT, || a.accepted() == 1));
    baton.signal(Signal::SIGUSR1);
    assert!(wait_until(WAIT, || !accepts(port)));
    assert!(baton.alive(), "the soft stop did not wait for the request");
    baton.signal(Signal::SIGTERM);
    let status = baton
        .wait_exit(WAIT)
        .expect("SIGTERM ignored during a soft stop");
    assert_eq!(status.signal(), Some(Signal::SIGTERM as i32), "{status}");
    assert!(
        slow.join().unwrap().is_err(),
        "the request survived a hard stop"
    );

    let port = free_port();
    let cfg = http_cfg(port, "", "", &server_line("a", a.port, ""))
        .replace("global\n", "global\n    hard-stop-after 500ms\n");
    let mut baton = Baton::start(&cfg, port);
    let slow = std::thread::spawn(move || exchange(port, b"GET /sleep/5000 HTTP/1.0\r\n\r\n"));
    assert!(wait_until(WAIT, || a.accepted() == 2));
    baton.signal(Signal::SIGUSR1);
    let status = baton
        .wait_exit(WAIT)
        .expect("hard-stop-after never ended the soft stop");
    assert_eq!(status.code(), Some(0), "{status}");
    assert!(slow.join().unwrap().is_err());
}

/// A configuration like [`self_answering_cfg`] with a stats socket that hands the listeners
/// over, at `sock`.
fn handover_cfg(port: u16, sock: &std::path::Path) -> String {
    self_answering_cfg(
        port,
        &format!(
            "    stats socket {} mode 600 level admin expose-fd listeners\n",
            sock.display()
        ),
    )
}

/// `-st` ends the old process by SIGTERM, `-sf` lets it exit 0 after its soft stop.
#[test]
fn st_kills_the_old_process_by_sigterm_and_sf_exits_it_0() {
    use std::os::unix::process::ExitStatusExt;
    let dir = tmp();
    let sock = dir.path().join("admin.sock");
    let port = free_port();
    let cfg = handover_cfg(port, &sock);
    let mut first = Baton::start(&cfg, port);
    let sock_arg = sock.to_str().unwrap().to_string();
    let first_pid = first.pid.to_string();
    let mut second = Baton::start_with_args(&cfg, port, &["-x", &sock_arg, "-st", &first_pid]);
    let status = first
        .wait_exit(WAIT)
        .expect("-st did not stop the old process");
    assert_eq!(status.signal(), Some(Signal::SIGTERM as i32), "{status}");
    let second_pid = second.pid.to_string();
    let third = Baton::start_with_args(&cfg, port, &["-x", &sock_arg, "-sf", &second_pid]);
    let status = second
        .wait_exit(WAIT)
        .expect("-sf did not stop the old process");
    assert_eq!(status.code(), Some(0), "{status}");
    assert_eq!(get(port, "/").status, 200);
    drop(third);
}

// ---------------------------------------------------------------------------------------------
// SIGTTOU / SIGTTIN
// ---------------------------------------------------------------------------------------------

/// CPU time (user + system, in clock ticks) the process has used so far.
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .unwrap()
        .1
        .split_whitespace()
        .collect();
    // After the command: state is field 3, utime 14 and stime 15 (1-based).
    fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
}

/// The negative control of the refusal below: pausing a listener nobody else holds resets the
/// connections waiting in its accept queue and refuses new ones; SIGTTIN listens again, and the
/// resumed accept loops do not spin (a poller registration kept through the pause would report
/// the pause's hang-up forever).
#[test]
fn sigttou_pauses_an_unshared_listener_and_sigttin_resumes_it() {
    let a = Backend::named("a");
    let port = free_port();
    let cfg = http_cfg(port, "", "    maxconn 1\n", &server_line("a", a.port, "")).replace(
        &format!("bind 127.0.0.1:{port}"),
        &format!("bind 127.0.0.1:{port} backlog 16"),
    );
    let baton = Baton::start(&cfg, port);
    // One request holds the frontend's only slot; three more wait in the accept queue.
    let slow = std::thread::spawn(move || exchange(port, b"GET /sleep/1500 HTTP/1.0\r\n\r\n"));
    assert!(wait_until(WAIT, || a.accepted() == 1));
    let mut queued: Vec<_> = (0..3)
        .map(|_| {
            let mut s = connect(port);
            std::io::Write::write_all(&mut s, b"GET /queued HTTP/1.0\r\n\r\n").unwrap();
            s
        })
        .collect();
    baton.signal(Signal::SIGTTOU);
    assert!(
        wait_until(WAIT, || baton.stderr().contains("Paused listener fe/")),
        "no pause logged:\n{}",
        baton.stderr()
    );
    for (i, s) in queued.iter_mut().enumerate() {
        let got = read_to_eof(s);
        assert!(
            !matches!(&got, Ok(bytes) if !bytes.is_empty()),
            "queued connection {i} was served through a pause: {got:?}"
        );
    }
    assert!(!accepts(port), "a paused listener accepted a connection");
    assert_eq!(
        slow.join().unwrap().unwrap().status,
        200,
        "in-flight requests finish"
    );
    baton.signal(Signal::SIGTTIN);
    assert!(wait_until(WAIT, || accepts(port)), "SIGTTIN did not resume");
    for i in 0..5 {
        assert_eq!(get(port, &format!("/after{i}")).status, 200);
    }
    // Idle after the resume: the process must sleep, not spin (generous bound: 0.2 s of CPU
    // in 1 s; a spinning accept loop takes what a core it gets: 0.5 s on a loaded machine).
    let before = cpu_ticks(baton.pid);
    std::thread::sleep(Duration::from_secs(1));
    let used = cpu_ticks(baton.pid) - before;
    assert!(
        used <= 20,
        "{used} ticks of CPU in 1 s while idle after a resume"
    );
}

/// Pausing a socket acts on the socket, not on one process's descriptor: a listener shared with
/// another process (received with `-x`, or handed over by `_getsocks`) is never paused — the
/// pause is refused and logged, and both processes keep serving.
#[test]
fn sigttou_is_refused_on_a_listener_shared_with_another_process() {
    let dir = tmp();
    let sock = dir.path().join("admin.sock");
    let port = free_port();
    let cfg = handover_cfg(port, &sock);
    let old = Baton::start(&cfg, port);
    // A second process takes the listener and both keep running (no -sf).
    let new = Baton::start_with_args(&cfg, port, &["-x", sock.to_str().unwrap()]);
    assert!(
        wait_until(WAIT, || old.stderr().contains("handed 2 listening sockets")),
        "no hand-over:\n{}",
        old.stderr()
    );
    for (who, baton) in [("sender", &old), ("receiver", &new)] {
        baton.signal(Signal::SIGTTOU);
        assert!(
            wait_until(WAIT, || baton.stderr().contains("Not pausing listener fe/")),
            "the {who} did not refuse the pause:\n{}",
            baton.stderr()
        );
        assert!(
            !baton.stderr().contains("Paused listener"),
            "the {who} paused"
        );
        for i in 0..10 {
            let r = get(port, &format!("/{who}{i}"));
            assert_eq!(r.status, 200, "request {i} after pausing the {who}");
        }
    }
}

// ---------------------------------------------------------------------------------------------
// grace and close-spread-time
// ---------------------------------------------------------------------------------------------

/// Global `grace`: after SIGUSR1 the process keeps accepting for that long (`show info` says
/// Stopping), then soft-stops and exits 0. A frontend's own `grace` (HAProxy up to 2.4) keeps
/// its listeners a while longer than the others: the frontend without one is the control
/// that stops accepting at once.
#[test]
fn grace_keeps_accepting_after_sigusr1() {
    let a = Backend::named("a");
    let port = free_port();
    let mut baton = Baton::start(
        &http_cfg(port, "", "", &server_line("a", a.port, ""))
            .replace("global\n", "global\n    grace 1500ms\n"),
        port,
    );
    baton.signal(Signal::SIGUSR1);
    assert!(wait_until(WAIT, || baton
        .stderr()
        .contains("phase=\"grace\"")));
    for i in 0..5 {
        assert_eq!(get(port, &format!("/grace{i}")).status, 200, "during grace");
    }
    assert!(
        wait_until(WAIT, || !accepts(port)),
        "still accepting long after the grace"
    );
    let status = baton.wait_exit(WAIT).expect("no exit after the grace");
    assert_eq!(status.code(), Some(0));

    // Per frontend: `late` has a grace of its own, `prompt` has none.
    let (late, prompt) = (free_port(), free_port());
    let cfg = http_cfg(late, "", "    grace 3s\n", &server_line("a", a.port, ""))
        + &format!("frontend prompt\n    bind 127.0.0.1:{prompt}\n    default_backend be\n");
    let mut baton = Baton::start(&cfg, late);
    assert!(accepts(prompt));
    baton.signal(Signal::SIGUSR1);
    assert!(
        wait_until(WAIT, || !accepts(prompt)),
        "the frontend without grace kept accepting"
    );
    assert_eq!(
        get(late, "/late").status,
        200,
        "the frontend with grace stopped"
    );
    assert!(wait_until(WAIT, || !accepts(late)), "its grace never ended");
    let status = baton.wait_exit(WAIT).expect("no exit after the grace");
    assert_eq!(status.code(), Some(0));
}

/// `close-spread-time`: once the soft stop begins, idle keep-alive connections are closed at
/// instants spread over the window, long before their `timeout http-keep-alive`. (Without it,
/// baton closes none of them: `sigusr1_keeps_idle_keep_alive_connections_until_their_next_response`.)
#[test]
fn close_spread_time_closes_idle_connections_spread_over_the_window() {
    let a = Backend::named("a");
    let port = free_port();
    let cfg = http_cfg(
        port,
        "    timeout http-keep-alive 30s\n",
        "",
        &server_line("a", a.port, ""),
    )
    .replace("timeout client 10s", "timeout client 30s")
    .replace("global\n", "global\n    close-spread-time 2s\n");
    let mut baton = Baton::start(&cfg, port);
    let clients: Vec<_> = (0..12)
        .map(|i| {
            let mut s = connect(port);
            let req = format!("GET /c{i} HTTP/1.1\r\nHost: t\r\n\r\n");
            std::io::Write::write_all(&mut s, req.as_bytes()).unwrap();
            let mut r = std::io::BufReader::new(s.try_clone().unwrap());
            assert_eq!(read_response(&mut r).unwrap().status, 200);
            s
        })
        .collect();
    let stopped = Instant::now();
    baton.signal(Signal::SIGUSR1);
    // Every reader starts before any is joined, so each one times its own connection's close.
    let readers: Vec<_> = clients
        .into_iter()
        .map(|mut s| std::thread::spawn(move || (read_to_eof(&mut s), stopped.elapsed())))
        .collect();
    let closes: Vec<_> = readers.into_iter().map(|t| t.join().unwrap()).collect();
    let mut times: Vec<Duration> = closes
        .iter()
        .map(|(got, at)| {
            assert!(matches!(got, Ok(b) if b.is_empty()), "{got:?}");
            *at
        })
        .collect();
    times.sort();
    let (first, last) = (times[0], times[times.len() - 1]);
    assert!(
        last < Duration::from_secs(8),
        "idle connections lived {last:?}: not closed by the spread"
    );
    assert!(
        last - first >= Duration::from_millis(300),
        "12 closes not spread over 2 s: {times:?}"
    );
    let status = baton.wait_exit(WAIT).expect("no exit after the spread");
    assert_eq!(status.code(), Some(0));
}

/// `close-spread-time infinite`: a soft stop adds no `Connection: close` and closes no idle
/// connection (the default's `Connection: close` is the control, in
/// `sigusr1_keeps_idle_keep_alive_connections_until_their_next_response`).
#[test]
fn close_spread_time_infinite_keeps_connections_alive() {
    let a = Backend::named("a");
    let port = free_port();
    let cfg = http_cfg(
        port,
        "    timeout http-keep-alive 1s\n",
        "",
        &server_line("a", a.port, ""),
    )
    .replace("global\n", "global\n    close-spread-time infinite\n");
    let mut baton = Baton::start(&cfg, port);
    let mut conn = connect(port);
    let mut reader = std::io::BufReader::new(conn.try_clone().unwrap());
    let request = |path: &str| format!("GET {path} HTTP/1.1\r\nHost: t\r\n\r\n").into_bytes();
    std::io::Write::write_all(&mut conn, &request("/one")).unwrap();
    assert_eq!(read_response(&mut reader).unwrap().status, 200);
    baton.signal(Signal::SIGUSR1);
    assert!(wait_until(WAIT, || !accepts(port)));
    std::io::Write::write_all(&mut conn, &request("/two")).unwrap();
    let r = read_response(&mut reader).unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(r.header("connection"), None, "infinite added a close");
    // The connection then ends with its keep-alive timeout, and the process with it.
    let status = baton.wait_exit(WAIT).expect("no exit");
    assert_eq!(status.code(), Some(0));
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
