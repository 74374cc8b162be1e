//! Load-balancing algorithms observed through the real proxy: each backend answers with its
//! name, and the tests count who answered.

mod common;

use common::*;
use std::time::Duration;

/// Backends `a` and `b` behind one HTTP proxy on a free port: `lines` opens the backend
/// section (its `balance` and options), `a_opts` and `b_opts` end each server's line.
fn two_servers(lines: &str, a_opts: &str, b_opts: &str) -> (Backend, Backend, u16, Baton) {
    let (a, b) = (Backend::named("a"), Backend::named("b"));
    let port = free_port();
    let be = format!(
        "{lines}{}{}",
        server_line("a", a.port, a_opts),
        server_line("b", b.port, b_opts)
    );
    let baton = Baton::start(&http_cfg(port, "", "", &be), port);
    (a, b, port, baton)
}

#[test]
fn roundrobin_weights_3_to_1_exact_over_40() {
    let (_a, _b, port, _baton) = two_servers("    balance roundrobin\n", "weight 3", "weight 1");
    let counts = tally(port, (0..40).map(|i| format!("/r{i}")));
    assert_eq!(counts.get("a"), Some(&30), "{counts:?}");
    assert_eq!(counts.get("b"), Some(&10), "{counts:?}");
}

#[test]
fn static_rr_weights_3_to_1_exact_over_40() {
    let (_a, _b, port, _baton) = two_servers("    balance static-rr\n", "weight 3", "weight 1");
    let counts = tally(port, (0..40).map(|i| format!("/s{i}")));
    assert_eq!(counts.get("a"), Some(&30), "{counts:?}");
    assert_eq!(counts.get("b"), Some(&10), "{counts:?}");
    // Every window of 4 consecutive requests holds exactly one `b`.
    let seq: Vec<String> = (0..8)
        .map(|i| get(port, &format!("/w{i}")).text())
        .collect();
    for w in seq.chunks(4) {
        assert_eq!(w.iter().filter(|n| *n == "b").count(), 1, "{seq:?}");
    }
}

/// leastconn sends requests away from the server holding a long one. Back to back: a server's
/// slot frees as soon as its response has been read in full, not after the response has reached
/// the client, or a client that gets its answer and at once sends the next request can find the
/// finished request still counted — a tie with the busy server (this failed intermittently
/// under load before slots were freed that early).
#[test]
fn leastconn_avoids_the_server_holding_a_long_request() {
    let (a, b, port, _baton) = two_servers("    balance leastconn\n", "", "");
    let long = std::thread::spawn(move || get(port, "/sleep/4000"));
    assert!(
        wait_until(WAIT, || a.accepted() + b.accepted() == 1),
        "the long request never reached a server"
    );
    let holder = if a.accepted() == 1 { "a" } else { "b" };
    let other = if holder == "a" { "b" } else { "a" };
    let started = std::time::Instant::now();
    let mut sent = 0;
    // For as long as the long request surely lasts, bounded in count.
    while sent < 300 && started.elapsed() < Duration::from_millis(2500) {
        let r = get(port, &format!("/short{sent}"));
        assert_eq!(r.text(), other, "request {sent} went to the busy server");
        sent += 1;
    }
    assert!(sent >= 10, "only {sent} requests in 2.5 s");
    let long = long.join().unwrap();
    assert_eq!(long.status, 200);
    assert_eq!(long.text(), holder);
}

#[test]
fn first_fills_servers_in_order_up_to_maxconn() {
    let (a, b, port, _baton) = two_servers(
        "    balance first\n    timeout queue 5s\n",
        "maxconn 2",
        "maxconn 2",
    );
    let counts = tally(port, (0..5).map(|i| format!("/f{i}")));
    assert_eq!(counts.get("a"), Some(&5), "{counts:?}");
    let before = a.accepted();
    let slow: Vec<_> = (0..2)
        .map(|_| std::thread::spawn(move || get(port, "/sleep/1500")))
        .collect();
    assert!(
        wait_until(WAIT, || a.accepted() == before + 2),
        "the slow requests did not both reach a"
    );
    assert_eq!(b.accepted(), 0);
    assert_eq!(get(port, "/third").text(), "b", "a is full: b must take it");
    for t in slow {
        assert_eq!(t.join().unwrap().text(), "a");
    }
    // Once a has room again, it takes everything again.
    assert_eq!(get(port, "/after").text(), "a");
}

#[test]
fn source_hash_is_stable_per_client_address() {
    let servers: Vec<_> = ["a", "b", "c"].iter().map(|n| Backend::named(n)).collect();
    let port = free_port();
    let mut be = String::from("    balance source\n");
    for (n, s) in ["a", "b", "c"].iter().zip(&servers) {
        be.push_str(&server_line(n, s.port, ""));
    }
    let _baton = Baton::start(&http_cfg(port, "", "", &be), port);
    let mut seen = std::collections::BTreeSet::new();
    for host in 2..12u8 {
        let ip = std::net::Ipv4Addr::new(127, 0, 0, host);
        let first = get_from(ip, port, "/").text();
        for i in 0..4 {
            let r = get_from(ip, port, &format!("/x{i}"));
            assert_eq!(r.text(), first, "client {ip} moved from {first}");
        }
        seen.insert(first);
    }
    assert!(
        seen.len() >= 2,
        "10 client addresses all hashed to {seen:?}"
    );
}

#[test]
fn uri_hash_is_stable_per_path() {
    let servers: Vec<_> = ["a", "b", "c"].iter().map(|n| Backend::named(n)).collect();
    let port = free_port();
    let mut be = String::from("    balance uri\n");
    for (n, s) in ["a", "b", "c"].iter().zip(&servers) {
        be.push_str(&server_line(n, s.port, ""));
    }
    let _baton = Baton::start(&http_cfg(port, "", "", &be), port);
    let mut seen = std::collections::BTreeSet::new();
    for p in 0..15 {
        let path = format!("/item/{p}");
        let first = get(port, &path).text();
        for q in 0..3 {
            // The query string is not part of the hash.
            let r = get(port, &format!("{path}?q={q}"));
            assert_eq!(r.text(), first, "{path} moved from {first}");
        }
        seen.insert(first);
    }
    assert!(seen.len() >= 2, "15 paths all hashed to {seen:?}");
}

#[test]
fn server_maxconn_queues_the_second_request_until_the_first_ends() {
    let a = Backend::named("a");
    let port = free_port();
    let be = format!(
        "    timeout queue 5s\n{}",
        server_line("a", a.port, "maxconn 1")
    );
    let _baton = Baton::start(&http_cfg(port, "", "", &be), port);
    let started = std::time::Instant::now();
    let first = std::thread::spawn(move || get(port, "/sleep/800"));
    assert!(wait_until(WAIT, || a.accepted() == 1));
    let second = std::thread::spawn(move || {
        let r = get(port, "/sleep/10");
        (r, std::time::Instant::now())
    });
    // While the first is served, the second waits in baton's queue, not at the server.
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(a.accepted(), 1, "maxconn 1 let a second connection through");
    let first = first.join().unwrap();
    let first_done = std::time::Instant::now();
    let (second, second_done) = second.join().unwrap();
    assert_eq!(first.status, 200);
    assert_eq!(second.status, 200, "{}", second.status_line);
    assert!(second_done >= first_done - Duration::from_millis(50));
    assert!(started.elapsed() >= Duration::from_millis(800));
    assert_eq!(a.accepted(), 2);
}

#[test]
fn queue_timeout_gives_503() {
    let a = Backend::named("a");
    let port = free_port();
    let be = format!(
        "    timeout queue 200ms\n{}",
        server_line("a", a.port, "maxconn 1")
    );
    let _baton = Baton::start(&http_cfg(port, "", "", &be), port);
    let first = std::thread::spawn(move || get(port, "/sleep/1500"));
    assert!(wait_until(WAIT, || a.accepted() == 1));
    let t = std::time::Instant::now();
    let second = get(port, "/queued");
    let waited = t.elapsed();
    assert_eq!(second.status_line, "HTTP/1.1 503 Service Unavailable");
    assert!(
        waited >= Duration::from_millis(150) && waited < Duration::from_millis(1200),
        "queued for {waited:?}"
    );
    assert_eq!(first.join().unwrap().status, 200);
    assert_eq!(a.accepted(), 1);
}

/// One request on a keep-alive connection, read to the end of its response.
fn keep_alive_get(
    conn: &mut std::net::TcpStream,
    reader: &mut std::io::BufReader<std::net::TcpStream>,
    path: &str,
) -> Response {
    let req = format!("GET {path} HTTP/1.1\r\nHost: test\r\n\r\n");
    std::io::Write::write_all(conn, req.as_bytes()).unwrap();
    read_response(reader).unwrap_or_else(|e| panic!("GET {path}: {e}"))
}

/// A server's `maxconn` bounds requests in flight, not connections a keep-alive client keeps
/// idle between its requests: the client's next request must not queue behind its own idle
/// connection until `timeout queue` gives it a 503.
#[test]
fn server_maxconn_counts_requests_not_a_keep_alive_clients_idle_connection() {
    let a = Backend::named("a");
    let port = free_port();
    let be = format!(
        "    timeout queue 500ms\n{}",
        server_line("a", a.port, "maxconn 1")
    );
    let _baton = Baton::start(&http_cfg(port, "", "", &be), port);
    let mut conn = connect(port);
    let mut reader = std::io::BufReader::new(conn.try_clone().unwrap());
    for i in 0..3 {
        let r = keep_alive_get(&mut conn, &mut reader, &format!("/ka{i}"));
        assert_eq!(r.status, 200, "request {i}: {}", r.status_line);
    }
    // While that client sits idle, another client gets the slot at once.
    let r = get(port, "/other");
    assert_eq!(r.status, 200, "{}", r.status_line);
    // And the keep-alive client still reuses its server connection afterwards.
    let r = keep_alive_get(&mut conn, &mut reader, "/ka-last");
    assert_eq!(r.status, 200, "{}", r.status_line);
}

/// leastconn counts requests in flight: a keep-alive client idle on one server does not make
/// that server look busy, so requests avoid the server holding a long request.
#[test]
fn leastconn_ignores_idle_keep_alive_connections() {
    let (a, b, port, _baton) = two_servers("    balance leastconn\n", "", "");
    // An idle keep-alive client on one server…
    let mut conn = connect(port);
    let mut reader = std::io::BufReader::new(conn.try_clone().unwrap());
    let idle_on = keep_alive_get(&mut conn, &mut reader, "/idle").text();
    // …and a long request on the other one (the idle server is free, so either may take it;
    // wait until it is in flight and see where).
    let long = std::thread::spawn(move || get(port, "/sleep/1500"));
    assert!(wait_until(WAIT, || a.accepted() + b.accepted() == 2));
    let holder = if a.accepted() == 2 || (idle_on == "b" && a.accepted() == 1) {
        "a"
    } else {
        "b"
    };
    let free = if holder == "a" { "b" } else { "a" };
    for i in 0..10 {
        let r = get(port, &format!("/short{i}"));
        assert_eq!(
            r.text(),
            free,
            "request {i} went to the server busy with the long one"
        );
    }
    assert_eq!(long.join().unwrap().text(), holder);
    drop((conn, reader));
}
