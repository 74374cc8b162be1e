//! Server health through the real proxy: checks taking servers out and back, the 503 page when
//! nothing is left, and retries with redispatch.

mod common;

use common::*;
use std::time::Duration;

/// HAProxy 2.6's built-in 503 page, byte for byte.
const PAGE_503: &str = "HTTP/1.1 503 Service Unavailable\r\nContent-length: 107\r\nCache-Control: no-cache\r\nConnection: close\r\nContent-Type: text/html\r\n\r\n<html><body><h1>503 Service Unavailable</h1>\nNo server is available to handle this request.\n</body></html>\n";

#[test]
fn failing_checks_take_a_server_out_and_passing_checks_bring_it_back() {
    let mut a = Backend::named("a");
    let b = Backend::named("b");
    let a_port = a.port;
    let port = free_port();
    let be = format!(
        "    balance roundrobin\n    retries 0\n{}{}",
        server_line("a", a.port, "check inter 100 fall 2 rise 2"),
        server_line("b", b.port, "check inter 100 fall 2 rise 2")
    );
    let _baton = Baton::start(&http_cfg(port, "", "", &be), port);
    let counts = tally(port, (0..10).map(|i| format!("/{i}")));
    assert_eq!(counts.len(), 2, "both servers serve at first: {counts:?}");

    a.stop(); // a's port now refuses: its checks fail
    let only_b = || {
        (0..6).all(|i| {
            let r = get(port, &format!("/down{i}"));
            r.status == 200 && r.text() == "b"
        })
    };
    assert!(
        wait_until(Duration::from_secs(5), only_b),
        "a was never taken out"
    );
    let counts = tally(port, (0..20).map(|i| format!("/b{i}")));
    assert_eq!(counts.get("b"), Some(&20), "{counts:?}");

    let a = Backend::http_on(a_port, named_handler("a"));
    let a_again = || (0..4).any(|i| get(port, &format!("/up{i}")).text() == "a");
    assert!(
        wait_until(Duration::from_secs(5), a_again),
        "a never came back after its port reopened"
    );
    let counts = tally(port, (0..10).map(|i| format!("/both{i}")));
    assert_eq!(counts.get("a"), Some(&5), "{counts:?}");
    assert!(a.accepted() > 0);
}

#[test]
fn all_servers_down_gives_haproxy_503_page() {
    let port = free_port();
    let be = format!(
        "{}{}",
        server_line("a", refused_port(), "check inter 100 fall 1"),
        server_line("b", refused_port(), "check inter 100 fall 1")
    );
    let _baton = Baton::start(&http_cfg(port, "", "", &be), port);
    let raw = b"GET / HTTP/1.1\r\nHost: test\r\n\r\n";
    let mut last = String::new();
    let got = wait_until(Duration::from_secs(5), || {
        let mut s = connect(port);
        std::io::Write::write_all(&mut s, raw).unwrap();
        last = String::from_utf8_lossy(&read_to_eof(&mut s).unwrap_or_default()).into_owned();
        last == PAGE_503
    });
    assert!(got, "expected HAProxy's 503 page, got {last:?}");
}

#[test]
fn unchecked_refusing_servers_also_end_in_503() {
    let port = free_port();
    let be = format!(
        "    retries 1\n    timeout connect 100ms\n{}",
        server_line("a", refused_port(), "")
    );
    let _baton = Baton::start(&http_cfg(port, "", "", &be), port);
    let r = get(port, "/");
    assert_eq!(r.status_line, "HTTP/1.1 503 Service Unavailable");
}

#[test]
fn redispatch_sends_a_refused_request_to_the_other_server() {
    let b = Backend::named("b");
    let port = free_port();
    let be = format!(
        "    balance roundrobin\n    retries 1\n    option redispatch\n    timeout connect 200ms\n{}{}",
        server_line("a", refused_port(), ""),
        server_line("b", b.port, "")
    );
    let _baton = Baton::start(&http_cfg(port, "", "", &be), port);
    for i in 0..8 {
        let r = get(port, &format!("/{i}"));
        assert_eq!(r.status, 200, "request {i}: {}", r.status_line);
        assert_eq!(r.text(), "b");
    }
    assert_eq!(b.accepted(), 8);
}

#[test]
fn httpchk_judges_the_status_and_backup_takes_over() {
    let sick = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let sick2 = std::sync::Arc::clone(&sick);
    let named = named_handler("a");
    let a = Backend::http(move |req| {
        if req.path == "/health" {
            assert_eq!(req.method, "GET");
            let mut r = Response::ok(b"");
            if sick2.load(std::sync::atomic::Ordering::Relaxed) {
                r.status = 500;
            }
            return r;
        }
        named(req)
    });
    let backup = Backend::named("spare");
    let port = free_port();
    let be = format!(
        "    option httpchk GET /health\n    http-check expect status 200\n    retries 0\n{}{}",
        server_line("a", a.port, "check inter 100 fall 2 rise 2"),
        server_line("spare", backup.port, "backup")
    );
    let _baton = Baton::start(&http_cfg(port, "", "", &be), port);
    let counts = tally(port, (0..5).map(|i| format!("/{i}")));
    assert_eq!(
        counts.get("a"),
        Some(&5),
        "the backup serves only when a is down"
    );
    sick.store(true, std::sync::atomic::Ordering::Relaxed);
    assert!(
        wait_until(Duration::from_secs(5), || get(port, "/x").text() == "spare"),
        "a answering 500 to its check was never taken out"
    );
    let counts = tally(port, (0..5).map(|i| format!("/s{i}")));
    assert_eq!(counts.get("spare"), Some(&5), "{counts:?}");
    sick.store(false, std::sync::atomic::Ordering::Relaxed);
    assert!(
        wait_until(Duration::from_secs(5), || get(port, "/y").text() == "a"),
        "a never came back"
    );
}
