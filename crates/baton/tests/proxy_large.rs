//! Large bodies stream through the proxy in bounded memory: 256 MiB each way, generated and
//! checked on the fly, with baton's peak RSS (VmHWM) well under the body size.

mod common;

use common::*;
use std::io::{BufReader, Write};

const SIZE: u64 = 256 * 1024 * 1024;
const RSS_LIMIT_KB: u64 = 64 * 1024;

fn vm_hwm_kb(baton: &Baton) -> u64 {
    let v = baton.proc_status("VmHWM").expect("VmHWM");
    v.trim_end_matches("kB").trim().parse().unwrap()
}

#[test]
fn large_upload_and_download_stream_in_bounded_memory() {
    let server = Backend::raw(|s| {
        let mut w = s.try_clone().unwrap();
        let mut r = BufReader::new(s);
        while let Ok(Some(head)) = read_head(&mut r) {
            let (line, headers) = parse_head(&head);
            if line.starts_with("POST") {
                let len: u64 = headers
                    .iter()
                    .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
                    .map(|(_, v)| v.parse().unwrap())
                    .unwrap();
                let verdict = match check_pattern(&mut r, len) {
                    Ok(()) => format!("intact {len}"),
                    Err(e) => e,
                };
                let _ = w.write_all(
                    format!(
                        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{verdict}",
                        verdict.len()
                    )
                    .as_bytes(),
                );
            } else {
                let _ = w.write_all(
                    format!("HTTP/1.1 200 OK\r\nContent-Length: {SIZE}\r\n\r\n").as_bytes(),
                );
                if write_pattern(&mut w, SIZE).is_err() {
                    return;
                }
            }
        }
    });
    let port = free_port();
    let baton = Baton::start(
        &http_cfg(port, "", "", &server_line("s", server.port, "")),
        port,
    );
    let before = vm_hwm_kb(&baton);

    // Upload.
    let s = connect(port);
    let mut w = s.try_clone().unwrap();
    let uploader = std::thread::spawn(move || {
        w.write_all(
            format!("POST /up HTTP/1.1\r\nHost: t\r\nContent-Length: {SIZE}\r\n\r\n").as_bytes(),
        )
        .unwrap();
        write_pattern(&mut w, SIZE).unwrap();
    });
    let mut r = BufReader::new(s.try_clone().unwrap());
    let resp = read_response(&mut r).unwrap();
    uploader.join().unwrap();
    assert_eq!(resp.status, 200);
    assert_eq!(resp.text(), format!("intact {SIZE}"));

    // Download on the same connection.
    let mut w = s.try_clone().unwrap();
    w.write_all(b"GET /down HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();
    let head = read_head(&mut r).unwrap().unwrap();
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(head.contains(&format!("Content-Length: {SIZE}")), "{head}");
    check_pattern(&mut r, SIZE).unwrap();

    let hwm = vm_hwm_kb(&baton);
    eprintln!("baton VmHWM: {before} kB before, {hwm} kB after");
    assert!(
        hwm < RSS_LIMIT_KB,
        "baton's peak RSS grew to {hwm} kB (from {before} kB) moving 2 x 256 MiB"
    );
}
