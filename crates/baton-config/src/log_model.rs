//! The typed model of logging: `log` targets (global and per proxy), the traffic log format
//! (`option httplog|tcplog`, `log-format`), `option dontlognull` and header captures.
//!
//! Kept apart from [`crate::model`] so that one field on `Global` and one on `Proxy` carry all
//! of it; the runtime's `log` module is its only consumer.

use crate::diag::Location;
use crate::model::Host;
use std::path::PathBuf;

/// Where a `log` line sends its lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogAddress {
    /// `stdout` (`fd@1`).
    Stdout,
    /// `stderr` (`fd@2`).
    Stderr,
    /// `fd@N`: an inherited descriptor (pipe, terminal, socket).
    Fd(i32),
    /// A UNIX datagram socket such as `/dev/log`.
    Unix(PathBuf),
    /// UDP syslog (`IP[:PORT]`, `udp@`, `udp4@`, `udp6@`); port 514 when none is given.
    Udp {
        /// The address or a host name resolved at start-up.
        host: Host,
        /// The port.
        port: u16,
    },
}

/// How a line is framed for its target (`format` of a `log` line).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SyslogFormat {
    /// `<PRI>Mmm dd hh:mm:ss TAG[PID]: ` (HAProxy's default: rfc3164 without the host name).
    #[default]
    Local,
    /// `<PRI>Mmm dd hh:mm:ss HOST TAG[PID]: `.
    Rfc3164,
    /// `<PRI>1 ISO-TIME HOST TAG PID - - `.
    Rfc5424,
    /// `<PRI>` then the text.
    Priority,
    /// `<LEVEL>` then the text.
    Short,
    /// `<LEVEL>ISO-TIME ` then the text.
    Timed,
    /// `ISO-TIME ` then the text.
    Iso,
    /// The text alone.
    Raw,
}

impl SyslogFormat {
    /// Parses a `format` value.
    pub fn parse(word: &str) -> Option<Self> {
        Some(match word {
            "local" => SyslogFormat::Local,
            "rfc3164" => SyslogFormat::Rfc3164,
            "rfc5424" => SyslogFormat::Rfc5424,
            "priority" => SyslogFormat::Priority,
            "short" => SyslogFormat::Short,
            "timed" => SyslogFormat::Timed,
            "iso" => SyslogFormat::Iso,
            "raw" => SyslogFormat::Raw,
            _ => return None,
        })
    }
}

/// `sample RANGES:SIZE`: of every SIZE lines, only those whose 1-based rank is in a range go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogSample {
    /// Inclusive ranges of ranks, each within `1..=size`.
    pub ranges: Vec<(u32, u32)>,
    /// The period.
    pub size: u32,
}

/// One `log` target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogTarget {
    /// Where lines go.
    pub address: LogAddress,
    /// `len`: lines longer than this are truncated (HAProxy's default 1024).
    pub max_len: usize,
    /// `format`.
    pub format: SyslogFormat,
    /// `sample`, if any.
    pub sample: Option<LogSample>,
    /// Facility number (0 kern .. 23 local7).
    pub facility: u8,
    /// Lines less important than this level are not sent (7 debug: everything).
    pub max_level: u8,
    /// Lines more important than this level are capped to it (0 emerg: no capping).
    pub min_level: u8,
    /// The line that declared it.
    pub location: Location,
}

/// Which traffic log line a frontend writes.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum TrafficFormat {
    /// No option: HAProxy's `Connect from` line at accept time.
    #[default]
    Connect,
    /// `option tcplog`.
    Tcp,
    /// `option httplog`.
    Http,
    /// `option httplog clf`.
    HttpClf,
    /// `log-format STRING`, parsed.
    Custom(crate::logformat::LogFormat),
}

/// A `capture request header` or `capture response header` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeaderCapture {
    /// The header name (matched case-insensitively).
    pub name: String,
    /// At most this many bytes of its value are kept.
    pub len: usize,
}

/// `global` logging settings.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct GlobalLog {
    /// `log` lines of `global`, copied into proxies by `log global`.
    pub targets: Vec<LogTarget>,
    /// `log-tag` (default: the program name, `haproxy` for compatibility of log parsers).
    pub tag: Option<String>,
    /// `log-send-hostname [NAME]`: the host name rfc3164/rfc5424 lines carry (`Some("")`:
    /// the system's).
    pub send_hostname: Option<String>,
}

/// Per-proxy logging settings.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ProxyLog {
    /// Targets: its own `log` lines and those `log global` copied.
    pub targets: Vec<LogTarget>,
    /// The traffic log line.
    pub format: TrafficFormat,
    /// `option dontlognull`: connections that sent nothing are not logged.
    pub dont_log_null: bool,
    /// `capture request header` lines, in order (`%hr`).
    pub request_captures: Vec<HeaderCapture>,
    /// `capture response header` lines, in order (`%hs`).
    pub response_captures: Vec<HeaderCapture>,
    /// `log-tag` of this proxy.
    pub tag: Option<String>,
}

/// The 24 syslog facilities, by number.
pub const FACILITIES: [&str; 24] = [
    "kern", "user", "mail", "daemon", "auth", "syslog", "lpr", "news", "uucp", "cron", "auth2",
    "ftp", "ntp", "audit", "alert", "cron2", "local0", "local1", "local2", "local3", "local4",
    "local5", "local6", "local7",
];

/// The 8 syslog levels, by number.
pub const LEVELS: [&str; 8] = [
    "emerg", "alert", "crit", "err", "warning", "notice", "info", "debug",
];

/// Level numbers used by the runtime.
pub mod level {
    /// `emerg`: a backend has no server left.
    pub const EMERG: u8 = 0;
    /// `alert`: a server goes down.
    pub const ALERT: u8 = 1;
    /// `err`.
    pub const ERR: u8 = 3;
    /// `warning`: termination signals.
    pub const WARNING: u8 = 4;
    /// `notice`: a server comes up, proxies start and stop.
    pub const NOTICE: u8 = 5;
    /// `info`: traffic.
    pub const INFO: u8 = 6;
}

/// HAProxy's `option tcplog` as a log-format string.
pub const TCPLOG_FORMAT: &str =
    "%ci:%cp [%t] %ft %b/%s %Tw/%Tc/%Tt %B %ts %ac/%fc/%bc/%sc/%rc %sq/%bq";

/// HAProxy's `option httplog` as a log-format string.
pub const HTTPLOG_FORMAT: &str = "%ci:%cp [%tr] %ft %b/%s %TR/%Tw/%Tc/%Tr/%Ta %ST %B %CC %CS %tsc %ac/%fc/%bc/%sc/%rc %sq/%bq %hr %hs %{+Q}r";

/// HAProxy's `option httplog clf` as a log-format string.
pub const CLF_FORMAT: &str = "%{+Q}o %{-Q}ci - - [%trg] %r %ST %B \"\" \"\" %cp %ms %ft %b %s %TR %Tw %Tc %Tr %Ta %tsc %ac %fc %bc %sc %rc %sq %bq %CC %CS %hrl %hsl";

impl TrafficFormat {
    /// The parsed log-format of this format; `None` for the `Connect from` line.
    pub fn parsed(&self) -> Option<crate::logformat::LogFormat> {
        let builtin = match self {
            TrafficFormat::Connect => return None,
            TrafficFormat::Custom(f) => return Some(f.clone()),
            TrafficFormat::Tcp => TCPLOG_FORMAT,
            TrafficFormat::Http => HTTPLOG_FORMAT,
            TrafficFormat::HttpClf => CLF_FORMAT,
        };
        crate::logformat::parse_log_format(builtin).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_formats_parse() {
        for f in [
            TrafficFormat::Tcp,
            TrafficFormat::Http,
            TrafficFormat::HttpClf,
        ] {
            assert!(f.parsed().is_some(), "{f:?}");
        }
    }
}
