//! `mode tcp` through the real binary: echo and half-close.

mod common;

use common::*;
use std::io::{Read, Write};
use std::net::Shutdown;

fn tcp_cfg(port: u16, server_port: u16) -> String {
    format!(
        "global\n    maxconn 100\n\ndefaults\n    mode tcp\n    timeout connect 1s\n    timeout client 10s\n    timeout server 10s\n\n\
         listen echo\n    bind 127.0.0.1:{port}\n    server s1 127.0.0.1:{server_port}\n"
    )
}

#[test]
fn tcp_echo_through_the_proxy() {
    let echo = Backend::raw(|mut s| {
        let mut buf = [0u8; 8192];
        loop {
            match s.read(&mut buf) {
                Ok(0) | Err(_) => return,
                Ok(n) => {
                    if s.write_all(&buf[..n]).is_err() {
                        return;
                    }
                }
            }
        }
    });
    let port = free_port();
    let _baton = Baton::start(&tcp_cfg(port, echo.port), port);
    let mut s = connect(port);
    for i in 0..20 {
        let msg = format!("message number {i}\n");
        s.write_all(msg.as_bytes()).unwrap();
        let mut back = vec![0u8; msg.len()];
        s.read_exact(&mut back).unwrap();
        assert_eq!(back, msg.as_bytes());
    }
    // A larger payload streamed both ways at once.
    let mut w = s.try_clone().unwrap();
    let writer = std::thread::spawn(move || {
        write_pattern(&mut w, 8_000_000).unwrap();
        w.shutdown(Shutdown::Write).unwrap();
    });
    check_pattern(&mut s, 8_000_000).unwrap();
    writer.join().unwrap();
    let mut rest = Vec::new();
    s.read_to_end(&mut rest).unwrap();
    assert!(rest.is_empty());
}

#[test]
fn tcp_half_close_lets_the_server_answer_after_the_client_fin() {
    // The server reads until the client's FIN, then answers and closes.
    let server = Backend::raw(|mut s| {
        let mut got = Vec::new();
        if s.read_to_end(&mut got).is_err() {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
        let _ = s.write_all(format!("received {} bytes after your FIN", got.len()).as_bytes());
    });
    let port = free_port();
    let _baton = Baton::start(&tcp_cfg(port, server.port), port);
    let mut s = connect(port);
    s.write_all(&[7u8; 12345]).unwrap();
    s.shutdown(Shutdown::Write).unwrap();
    let mut reply = String::new();
    s.read_to_string(&mut reply).unwrap();
    assert_eq!(reply, "received 12345 bytes after your FIN");
}
