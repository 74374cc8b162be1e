//! HTTP/1.1 proxying through the real binary: timeouts and errors with HAProxy's pages,
//! pipelining, chunked bodies, aborts on either side, upgrades, connection reuse and
//! `X-Forwarded-For`.

mod common;

use common::*;
use std::io::{BufReader, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::time::{Duration, Instant};

const PAGE_400: &str = "HTTP/1.1 400 Bad request\r\nContent-length: 90\r\nCache-Control: no-cache\r\nConnection: close\r\nContent-Type: text/html\r\n\r\n<html><body><h1>400 Bad request</h1>\nYour browser sent an invalid request.\n</body></html>\n";
const PAGE_408: &str = "HTTP/1.1 408 Request Time-out\r\nContent-length: 110\r\nCache-Control: no-cache\r\nConnection: close\r\nContent-Type: text/html\r\n\r\n<html><body><h1>408 Request Time-out</h1>\nYour browser didn't send a complete request in time.\n</body></html>\n";
const PAGE_502: &str = "HTTP/1.1 502 Bad Gateway\r\nContent-length: 107\r\nCache-Control: no-cache\r\nConnection: close\r\nContent-Type: text/html\r\n\r\n<html><body><h1>502 Bad Gateway</h1>\nThe server returned an invalid or incomplete response.\n</body></html>\n";

/// One named backend `a` behind a fresh baton; extra lines for defaults and frontend.
fn simple(defaults: &str, frontend: &str) -> (Backend, Baton, u16) {
    let a = Backend::named("a");
    let port = free_port();
    let cfg = http_cfg(port, defaults, frontend, &server_line("a", a.port, ""));
    let baton = Baton::start(&cfg, port);
    (a, baton, port)
}

fn text_until_eof(s: &mut TcpStream) -> String {
    String::from_utf8_lossy(&read_to_eof(s).unwrap_or_default()).into_owned()
}

#[test]
fn slowloris_gets_408_within_timeout_http_request_and_frees_its_slot() {
    let (a, _baton, port) = simple("    timeout http-request 300ms\n", "    maxconn 1\n");
    // A client that trickles its head one byte every 50 ms never completes it in time.
    let mut s = connect(port);
    let started = Instant::now();
    let mut w = s.try_clone().unwrap();
    let trickler = std::thread::spawn(move || {
        for b in b"GET / HTTP/1.1\r\nHost: slow\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaa" {
            if w.write_all(&[*b]).is_err() {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    });
    let got = text_until_eof(&mut s);
    let took = started.elapsed();
    assert_eq!(got, PAGE_408);
    assert!(
        took >= Duration::from_millis(250) && took < Duration::from_millis(2000),
        "408 after {took:?}"
    );
    trickler.join().unwrap();
    assert_eq!(a.accepted(), 0);
    // The frontend's only slot is free again.
    let r = get(port, "/after");
    assert_eq!(r.status, 200);
    assert_eq!(r.text(), "a");
}

#[test]
fn malformed_requests_get_400_and_the_connection_closes() {
    let (a, _baton, port) = simple("", "");
    for raw in [
        &b"GET / HTTP/1.1\r\nHost: t\r\nBad Header Line\r\n\r\n"[..],
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03garbage\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
        b"GET / HTTP/1.1\r\nHost: t\r\nContent-Length: abc\r\n\r\n",
        // Host headers that disagree, with each other or with an absolute-form target.
        b"GET / HTTP/1.1\r\nHost: t\r\nHost: u\r\n\r\n",
        b"GET http://t/ HTTP/1.1\r\nHost: u\r\n\r\n",
        b"GET http://t:8080/ HTTP/1.1\r\nHost: t\r\n\r\n",
    ] {
        let mut s = connect(port);
        s.write_all(raw).unwrap();
        let got = text_until_eof(&mut s); // EOF: the connection was closed
        assert_eq!(got, PAGE_400, "for {:?}", String::from_utf8_lossy(raw));
    }
    assert_eq!(a.accepted(), 0);
    assert_eq!(get(port, "/ok").status, 200);
    // The same target with a Host that names it (default port left out) goes through.
    let mut s = connect(port);
    s.write_all(b"GET http://t:80/abs HTTP/1.1\r\nHost: T\r\nConnection: close\r\n\r\n")
        .unwrap();
    let got = text_until_eof(&mut s);
    assert!(got.starts_with("HTTP/1.1 200"), "{got}");
}

#[test]
fn pipelined_requests_are_answered_in_order() {
    let (a, _baton, port) = simple("", "");
    let mut s = connect(port);
    // The first is the slowest: answers must still come back in request order.
    s.write_all(
        b"GET /sleep/200 HTTP/1.1\r\nHost: t\r\n\r\n\
          GET /two HTTP/1.1\r\nHost: t\r\n\r\n\
          GET /three HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
    )
    .unwrap();
    let mut r = BufReader::new(s);
    for path in ["/sleep/200", "/two", "/three"] {
        let resp = read_response(&mut r).unwrap();
        assert_eq!(resp.status, 200);
        assert_eq!(resp.header("x-path"), Some(path));
    }
    let mut rest = Vec::new();
    r.read_to_end(&mut rest).unwrap();
    assert!(rest.is_empty(), "unexpected bytes after the last response");
    assert_eq!(a.accepted(), 1);
}

#[test]
fn chunked_bodies_and_trailers_pass_through_byte_exact() {
    const REQ_BODY: &[u8] = b"5\r\nhello\r\n1a;ext=value\r\nabcdefghijklmnopqrstuvwxyz\r\n0\r\nX-Trailer: yes\r\nX-Sum: 42\r\n\r\n";
    const RESP_BODY: &[u8] =
        b"7\r\nchunked\r\n10\r\n0123456789ABCDEF\r\n1\r\n!\r\n0\r\nX-Resp-Trailer: done\r\n\r\n";
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen2 = std::sync::Arc::clone(&seen);
    let b = Backend::raw(move |s| {
        let mut w = s.try_clone().unwrap();
        let mut r = BufReader::new(s);
        let head = read_head(&mut r).unwrap().unwrap();
        assert!(head
            .to_ascii_lowercase()
            .contains("transfer-encoding: chunked"));
        let mut body = vec![0; REQ_BODY.len()];
        r.read_exact(&mut body).unwrap();
        *seen2.lock().unwrap() = body;
        w.write_all(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-Resp-Trailer\r\n\r\n",
        )
        .unwrap();
        // The response body leaves in pieces.
        for piece in RESP_BODY.chunks(9) {
            w.write_all(piece).unwrap();
            std::thread::sleep(Duration::from_millis(5));
        }
        // The connection stays usable for a second request.
        if let Ok(Some(_)) = read_head(&mut r) {
            w.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nsecond")
                .unwrap();
        }
    });
    let port = free_port();
    let _baton = Baton::start(&http_cfg(port, "", "", &server_line("b", b.port, "")), port);
    let mut s = connect(port);
    s.write_all(b"POST /up HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n")
        .unwrap();
    for piece in REQ_BODY.chunks(7) {
        s.write_all(piece).unwrap();
        std::thread::sleep(Duration::from_millis(5));
    }
    let mut r = BufReader::new(s.try_clone().unwrap());
    let head = read_head(&mut r).unwrap().unwrap();
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(
        head.to_ascii_lowercase()
            .contains("transfer-encoding: chunked"),
        "{head}"
    );
    let mut body = vec![0; RESP_BODY.len()];
    r.read_exact(&mut body).unwrap();
    assert_eq!(
        String::from_utf8_lossy(&body),
        String::from_utf8_lossy(RESP_BODY)
    );
    assert_eq!(
        String::from_utf8_lossy(&seen.lock().unwrap()),
        String::from_utf8_lossy(REQ_BODY)
    );
    s.write_all(b"GET /next HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();
    let second = read_response(&mut r).unwrap();
    assert_eq!(second.text(), "second");
}

#[test]
fn client_aborts_mid_body_do_not_hurt_the_proxy() {
    // Uploads go to a server that reads them; downloads come from one that streams forever.
    let up = Backend::named("up");
    let down = Backend::raw(|mut s| {
        let mut buf = [0u8; 4096];
        let _ = s.read(&mut buf);
        let _ = s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 1000000000\r\n\r\n");
        let _ = write_pattern(&mut s, 1_000_000_000);
    });
    let port = free_port();
    let cfg = format!(
        "global\n    maxconn 100\n\ndefaults\n    mode http\n    timeout connect 1s\n    timeout client 5s\n    timeout server 5s\n\n\
         frontend fe\n    bind 127.0.0.1:{port}\n    default_backend be\n\n\
         backend be\n    balance uri\n{}",
        server_line("up", up.port, "")
    );
    let down_port = free_port();
    let cfg = format!(
        "{cfg}\nlisten dl\n    bind 127.0.0.1:{down_port}\n    mode http\n{}",
        server_line("down", down.port, "")
    );
    let mut baton = Baton::start(&cfg, port);
    assert!(accepts(down_port));
    for round in 0..3 {
        // Upload cut after 1 MB of 10 MB, with a FIN.
        let mut s = connect(port);
        s.write_all(b"POST /u HTTP/1.1\r\nHost: t\r\nContent-Length: 10000000\r\n\r\n")
            .unwrap();
        write_pattern(&mut s, 1_000_000).unwrap();
        drop(s);
        // The same with a reset.
        let s = connect(port);
        let mut w = s.try_clone().unwrap();
        w.write_all(b"POST /u HTTP/1.1\r\nHost: t\r\nContent-Length: 10000000\r\n\r\n")
            .unwrap();
        write_pattern(&mut w, 500_000).unwrap();
        socket2::SockRef::from(&s)
            .set_linger(Some(Duration::ZERO))
            .unwrap();
        drop(w);
        drop(s);
        // A download abandoned after 100 kB.
        let mut s = connect(down_port);
        s.write_all(b"GET /big HTTP/1.1\r\nHost: t\r\n\r\n")
            .unwrap();
        let mut buf = vec![0u8; 100_000];
        s.read_exact(&mut buf).unwrap();
        drop(s);
        assert!(baton.alive(), "baton died in round {round}");
        let r = get(port, &format!("/after{round}"));
        assert_eq!(r.status, 200);
        assert_eq!(r.text(), "up");
    }
}

#[test]
fn broken_backends_give_502_or_a_closed_connection() {
    let b = Backend::raw(|s| {
        let mut w = s.try_clone().unwrap();
        let mut r = BufReader::new(s);
        let Ok(Some(head)) = read_head(&mut r) else {
            return;
        };
        let path = head.split(' ').nth(1).unwrap_or("").to_string();
        match path.as_str() {
            "/close" => {} // closes without a byte
            "/reset" => {
                socket2::SockRef::from(&w)
                    .set_linger(Some(Duration::ZERO))
                    .unwrap();
            }
            "/garbage" => {
                let _ = w.write_all(b"THIS IS NOT HTTP\r\n\r\n");
                std::thread::sleep(Duration::from_millis(100));
            }
            "/partial" => {
                let _ = w.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n0123456789");
                std::thread::sleep(Duration::from_millis(100));
                socket2::SockRef::from(&w)
                    .set_linger(Some(Duration::ZERO))
                    .unwrap();
            }
            _ => {
                let _ = w.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
            }
        }
    });
    let port = free_port();
    let be = format!("    retries 0\n{}", server_line("b", b.port, ""));
    let mut baton = Baton::start(&http_cfg(port, "", "", &be), port);
    for path in ["/close", "/reset", "/garbage"] {
        let mut s = connect(port);
        s.write_all(format!("GET {path} HTTP/1.1\r\nHost: t\r\n\r\n").as_bytes())
            .unwrap();
        assert_eq!(text_until_eof(&mut s), PAGE_502, "for {path}");
    }
    // Once the head has gone out, only closing the connection can tell the client.
    let mut s = connect(port);
    s.write_all(b"GET /partial HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let started = Instant::now();
    loop {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
        }
        assert!(started.elapsed() < WAIT);
    }
    let text = String::from_utf8_lossy(&got);
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    let body = text.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    assert!(body.len() < 1000, "a truncated body cannot be complete");
    assert!(baton.alive());
    assert_eq!(get(port, "/fine").text(), "ok");
}

#[test]
fn websocket_upgrade_becomes_a_bidirectional_tunnel() {
    let b = Backend::raw(|s| {
        let mut w = s.try_clone().unwrap();
        let mut r = BufReader::new(s);
        let head = read_head(&mut r).unwrap().unwrap().to_ascii_lowercase();
        assert!(head.contains("upgrade: websocket"), "{head}");
        assert!(head.contains("connection: upgrade"), "{head}");
        w.write_all(
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\nserver-hello",
        )
        .unwrap();
        // Echo in upper case until the client's FIN, then say goodbye and close.
        let mut buf = [0u8; 8192];
        loop {
            match r.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if w.write_all(&buf[..n].to_ascii_uppercase()).is_err() {
                        return;
                    }
                }
            }
        }
        let _ = w.write_all(b"bye");
    });
    let port = free_port();
    let _baton = Baton::start(&http_cfg(port, "", "", &server_line("b", b.port, "")), port);
    let mut s = connect(port);
    s.write_all(
        b"GET /ws HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
          Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
    )
    .unwrap();
    let mut r = BufReader::new(s.try_clone().unwrap());
    let head = read_head(&mut r).unwrap().unwrap();
    assert!(head.starts_with("HTTP/1.1 101 "), "{head}");
    let mut hello = [0u8; 12];
    r.read_exact(&mut hello).unwrap();
    assert_eq!(&hello, b"server-hello");
    s.write_all(b"ping-1").unwrap();
    let mut pong = [0u8; 6];
    r.read_exact(&mut pong).unwrap();
    assert_eq!(&pong, b"PING-1");
    let big: Vec<u8> = (0..200_000).map(|i| b'a' + (i % 26) as u8).collect();
    let mut w = s.try_clone().unwrap();
    let big2 = big.clone();
    let writer = std::thread::spawn(move || w.write_all(&big2).unwrap());
    let mut back = vec![0u8; big.len()];
    r.read_exact(&mut back).unwrap();
    writer.join().unwrap();
    assert!(back == big.to_ascii_uppercase());
    s.shutdown(Shutdown::Write).unwrap();
    let mut rest = Vec::new();
    r.read_to_end(&mut rest).unwrap();
    assert_eq!(rest, b"bye");
}

#[test]
fn keep_alive_requests_share_one_server_connection() {
    let (a, _baton, port) = simple("", "");
    let mut s = connect(port);
    let mut r = BufReader::new(s.try_clone().unwrap());
    for i in 0..5 {
        s.write_all(format!("GET /ka{i} HTTP/1.1\r\nHost: t\r\n\r\n").as_bytes())
            .unwrap();
        let resp = read_response(&mut r).unwrap();
        assert_eq!(resp.status, 200);
        assert_eq!(resp.header("x-path"), Some(format!("/ka{i}").as_str()));
    }
    assert_eq!(
        a.accepted(),
        1,
        "5 requests used more than one server connection"
    );
}

#[test]
fn forwardfor_adds_the_client_address() {
    let (_a, _baton, port) = simple("", "    option forwardfor\n");
    let ip = std::net::Ipv4Addr::new(127, 0, 0, 9);
    let r = get_from(ip, port, "/xff");
    assert_eq!(r.header("x-seen-xff"), Some("127.0.0.9"));
    let r = get(port, "/xff");
    assert_eq!(r.header("x-seen-xff"), Some("127.0.0.1"));
}

#[test]
fn forwardfor_except_and_custom_header() {
    let (_a, _baton, port) = simple("", "    option forwardfor except 127.0.0.0/8\n");
    let r = get(port, "/xff");
    assert_eq!(r.header("x-seen-xff"), None, "127.0.0.1 is excepted");
    let r = get_from(std::net::Ipv4Addr::new(127, 0, 0, 3), port, "/xff");
    assert_eq!(r.header("x-seen-xff"), None, "all of 127/8 is excepted");

    let (_b, _baton2, port2) = simple("", "    option forwardfor header X-Client\n");
    let r = get(port2, "/xff");
    assert_eq!(r.header("x-seen-client"), Some("127.0.0.1"));
    assert_eq!(r.header("x-seen-xff"), None);
}

#[test]
fn server_timeout_gives_504() {
    let (_a, _baton, port) = simple("    timeout server 300ms\n", "");
    let started = Instant::now();
    let r = get(port, "/sleep/2000");
    assert_eq!(r.status_line, "HTTP/1.1 504 Gateway Time-out");
    assert!(started.elapsed() < Duration::from_millis(1500));
}

#[test]
fn http_server_close_uses_a_new_server_connection_per_request() {
    let (a, _baton, port) = simple("    option http-server-close\n", "");
    let mut s = connect(port);
    let mut r = BufReader::new(s.try_clone().unwrap());
    for i in 0..3 {
        s.write_all(format!("GET /sc{i} HTTP/1.1\r\nHost: t\r\n\r\n").as_bytes())
            .unwrap();
        let resp = read_response(&mut r).unwrap();
        assert_eq!(resp.status, 200);
    }
    assert!(wait_until(WAIT, || a.accepted() == 3), "{}", a.accepted());
}

#[test]
fn pipelined_bodies_and_head_requests_keep_framing() {
    let (a, _baton, port) = simple("", "");
    let mut s = connect(port);
    s.write_all(
        b"POST /p1 HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello\
          HEAD /h2 HTTP/1.1\r\nHost: t\r\n\r\n\
          POST /p3 HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n\
          GET /g4 HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
    )
    .unwrap();
    let mut r = BufReader::new(s);
    let p1 = read_response(&mut r).unwrap();
    assert_eq!(p1.header("x-path"), Some("/p1"));
    // A HEAD response carries Content-Length but no body.
    let head = read_head(&mut r).unwrap().unwrap();
    assert!(head.contains("X-Path: /h2"), "{head}");
    for path in ["/p3", "/g4"] {
        let resp = read_response(&mut r).unwrap();
        assert_eq!(resp.header("x-path"), Some(path));
        assert_eq!(resp.text(), "a");
    }
    assert_eq!(a.accepted(), 1);
}
