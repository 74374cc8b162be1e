//! The header each `log` target's `format` puts before a line, as HAProxy 2.6 writes them:
//!
//! | format | line |
//! |---|---|
//! | local (default) | `<PRI>Mmm dd hh:mm:ss TAG[PID]: text` |
//! | rfc3164 | `<PRI>Mmm dd hh:mm:ss HOST TAG[PID]: text` |
//! | rfc5424 | `<PRI>1 ISO-TIME HOST TAG PID - - text` (HOST `-` without `log-send-hostname`) |
//! | priority | `<PRI>text` |
//! | short | `<LEVEL>text` |
//! | timed | `<LEVEL>ISO-TIME text` |
//! | iso | `ISO-TIME text` |
//! | raw | `text` |
//!
//! Every line ends with a newline; a line longer than the target's `len` is cut to fit.

use super::clock::civil;
use baton_config::log_model::SyslogFormat;
use std::fmt::Write;
use std::time::SystemTime;

/// What every header may need besides the line itself.
#[derive(Debug, Clone)]
pub struct Identity {
    /// Process id.
    pub pid: u32,
    /// The host name rfc3164 lines carry (`localhost` unless `log-send-hostname`).
    pub hostname: String,
    /// The host name rfc5424 lines carry (`-` unless `log-send-hostname`).
    pub hostname_5424: String,
}

/// Writes `text` framed for `format` into `out` (cleared first), at most `max_len` bytes
/// including the final newline.
#[allow(clippy::too_many_arguments)]
pub fn frame(
    out: &mut String,
    format: SyslogFormat,
    facility: u8,
    level: u8,
    time: SystemTime,
    tag: &str,
    id: &Identity,
    text: &str,
    max_len: usize,
) {
    out.clear();
    let pri = u32::from(facility) * 8 + u32::from(level);
    match format {
        SyslogFormat::Local | SyslogFormat::Rfc3164 => {
            let _ = write!(out, "<{pri}>");
            civil(time, false).write_rfc3164(out);
            out.push(' ');
            if format == SyslogFormat::Rfc3164 {
                out.push_str(&id.hostname);
                out.push(' ');
            }
            let _ = write!(out, "{tag}[{}]: ", id.pid);
        }
        SyslogFormat::Rfc5424 => {
            let _ = write!(out, "<{pri}>1 ");
            civil(time, false).write_iso(out);
            let _ = write!(out, " {} {tag} {} - - ", id.hostname_5424, id.pid);
        }
        SyslogFormat::Priority => {
            let _ = write!(out, "<{pri}>");
        }
        SyslogFormat::Short => {
            let _ = write!(out, "<{level}>");
        }
        SyslogFormat::Timed => {
            let _ = write!(out, "<{level}>");
            civil(time, false).write_iso(out);
            out.push(' ');
        }
        SyslogFormat::Iso => {
            civil(time, false).write_iso(out);
            out.push(' ');
        }
        SyslogFormat::Raw => {}
    }
    out.push_str(text);
    let limit = max_len.saturating_sub(1);
    if out.len() > limit {
        let mut cut = limit;
        while cut > 0 && !out.is_char_boundary(cut) {
            cut -= 1;
        }
        out.truncate(cut);
    }
    out.push('\n');
}

/// The system's host name.
pub fn system_hostname() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer and its length are valid; the result is NUL-terminated on success.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len() - 1) };
    let len = buf.iter().position(|&b| b == 0).unwrap_or(0);
    match std::str::from_utf8(&buf[..len]) {
        Ok(h) if rc == 0 && !h.is_empty() => h.to_string(),
        _ => "localhost".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn headers_per_format() {
        std::env::set_var("TZ", "UTC");
        let t = UNIX_EPOCH + Duration::from_micros(1_796_228_264_582_216);
        let id = Identity {
            pid: 14794,
            hostname: "vm".into(),
            hostname_5424: "-".into(),
        };
        let mut s = String::new();
        let iso = "2026-12-02T16:17:44.582216+00:00";
        let cases = [
            (
                SyslogFormat::Local,
                16,
                "<134>Dec  2 16:17:44 haproxy[14794]: msg\n".to_string(),
            ),
            (
                SyslogFormat::Rfc3164,
                17,
                "<142>Dec  2 16:17:44 vm haproxy[14794]: msg\n".into(),
            ),
            (
                SyslogFormat::Rfc5424,
                18,
                format!("<150>1 {iso} - haproxy 14794 - - msg\n"),
            ),
            (SyslogFormat::Raw, 19, "msg\n".into()),
            (SyslogFormat::Short, 20, "<6>msg\n".into()),
            (SyslogFormat::Priority, 21, "<174>msg\n".into()),
            (SyslogFormat::Timed, 22, format!("<6>{iso} msg\n")),
            (SyslogFormat::Iso, 23, format!("{iso} msg\n")),
        ];
        for (format, facility, expected) in cases {
            frame(&mut s, format, facility, 6, t, "haproxy", &id, "msg", 1024);
            assert_eq!(s, expected, "{format:?}");
        }
        frame(
            &mut s,
            SyslogFormat::Raw,
            0,
            6,
            t,
            "h",
            &id,
            &"x".repeat(200),
            80,
        );
        assert_eq!(s.len(), 80);
        assert!(s.ends_with("x\n"));
    }
}
