//! Handlers for the logging directives: `log` (global and proxies), `log-tag`,
//! `log-send-hostname`, `log-format`, `option httplog|tcplog|dontlognull` and
//! `capture request|response header`.

use super::{no_args, single_arg, Loader, Section};
use crate::diag::Location;
use crate::log_model::{
    HeaderCapture, LogAddress, LogSample, LogTarget, ProxyLog, SyslogFormat, TrafficFormat,
    FACILITIES, LEVELS,
};
use crate::model::{Host, Mode, ProxyKind};
use crate::values::{parse_server_address, parse_uint};

/// Whether a proxy keyword is one of the logging directives handled here.
pub(super) fn is_proxy_log_keyword(name: &str) -> bool {
    matches!(
        name,
        "log"
            | "log-tag"
            | "log-format"
            | "option httplog"
            | "option tcplog"
            | "option dontlognull"
            | "capture request header"
            | "capture response header"
    )
}

impl Loader<'_> {
    /// One logging directive of a proxy section (`prefix`: `no` or `default`).
    pub(super) fn proxy_log_directive(
        &mut self,
        at: &Location,
        name: &str,
        args: &[String],
        prefix: Option<&str>,
    ) -> Result<(), String> {
        let global_targets = self.config.global.log.targets.clone();
        // As HAProxy: `option httplog` on a TCP proxy falls back to the TCP line, with a warning.
        let fallback = match &self.section {
            Section::Proxy(p)
                if name == "option httplog"
                    && prefix.is_none()
                    && p.mode == Mode::Tcp
                    && p.kind != ProxyKind::Defaults =>
            {
                Some(format!(
                    "'option httplog' not usable with {} '{}' (needs 'mode http'). Falling back to 'option tcplog'.",
                    p.kind.name(),
                    p.name
                ))
            }
            _ => None,
        };
        if let Some(message) = fallback {
            self.warn(at, message);
        }
        let Section::Proxy(proxy) = &mut self.section else {
            return Ok(());
        };
        let log = &mut proxy.log;
        let enable = prefix.is_none();
        match (name, prefix) {
            ("log", Some("no")) => {
                no_args(args)?;
                log.targets.clear();
            }
            (_, Some(p)) if !name.starts_with("option ") => {
                return Err(format!("'{p}' does not apply to '{name}'"))
            }
            ("log", None) => match args {
                [g] if g == "global" => log.targets.extend(global_targets),
                [g, extra, ..] if g == "global" => {
                    return Err(format!("'log global' takes no argument, got '{extra}'"))
                }
                _ => log.targets.push(parse_log_target(at, args)?),
            },
            ("log-tag", _) => log.tag = Some(single_arg(args, "a tag")?.clone()),
            ("log-format", _) => {
                let text = single_arg(args, "a log-format string")?;
                let parsed = crate::logformat::parse_log_format(text)
                    .map_err(|e| format!("failed to parse log-format : {e}"))?;
                log.format = TrafficFormat::Custom(parsed);
            }
            ("option httplog" | "option tcplog", Some(_)) => {
                let option = name.trim_start_matches("option ");
                return Err(format!(
                    "negation/default is not supported for option '{option}'"
                ));
            }
            ("option httplog", _) => {
                log.format = match args {
                    [] => TrafficFormat::Http,
                    [clf] if clf == "clf" => TrafficFormat::HttpClf,
                    [other, ..] => {
                        return Err(format!("expects no argument or 'clf', got '{other}'"))
                    }
                };
            }
            ("option tcplog", _) => {
                no_args(args)?;
                log.format = TrafficFormat::Tcp;
            }
            ("option dontlognull", _) => {
                no_args(args)?;
                log.dont_log_null = enable;
            }
            ("capture request header" | "capture response header", _) => {
                let capture = parse_capture(args)?;
                if name == "capture request header" {
                    log.request_captures.push(capture);
                } else {
                    log.response_captures.push(capture);
                }
            }
            (other, _) => return Err(super::no_handler(other)),
        }
        Ok(())
    }

    /// One logging directive of `global`.
    pub(super) fn global_log_directive(
        &mut self,
        at: &Location,
        name: &str,
        args: &[String],
    ) -> Result<(), String> {
        let log = &mut self.config.global.log;
        match name {
            "log" => log.targets.push(parse_log_target(at, args)?),
            "log-tag" => log.tag = Some(single_arg(args, "a tag")?.clone()),
            "log-send-hostname" => {
                log.send_hostname = Some(match args {
                    [] => String::new(),
                    [name] => name.clone(),
                    [_, extra, ..] => {
                        return Err(format!("cannot handle unexpected argument '{extra}'"))
                    }
                })
            }
            other => return Err(super::no_handler(other)),
        }
        Ok(())
    }
}

/// Whether a global keyword is one of the logging directives handled here.
pub(super) fn is_global_log_keyword(name: &str) -> bool {
    matches!(name, "log" | "log-tag" | "log-send-hostname")
}

/// `capture ... header NAME len N`.
fn parse_capture(args: &[String]) -> Result<HeaderCapture, String> {
    match args {
        [name, len, n] if len == "len" => Ok(HeaderCapture {
            name: name.clone(),
            len: parse_uint(n, 65535)? as usize,
        }),
        _ => Err("expects <header> 'len' <length>".into()),
    }
}

/// `ADDRESS [len N] [format F] [sample R:S] FACILITY [LEVEL [MINLEVEL]]`.
fn parse_log_target(at: &Location, args: &[String]) -> Result<LogTarget, String> {
    let Some(address) = args.first() else {
        return Err("expects <address> and <facility> as arguments".into());
    };
    let address = parse_log_address(address)?;
    let mut target = LogTarget {
        address,
        max_len: 1024,
        format: SyslogFormat::default(),
        sample: None,
        facility: 0,
        max_level: 7,
        min_level: 0,
        location: at.clone(),
    };
    let mut rest = &args[1..];
    loop {
        match rest {
            [k, v, tail @ ..] if k == "len" => {
                let n = parse_uint(v, 65535)?;
                if n < 80 {
                    return Err(format!(
                        "'len' expects a value between 80 and 65535, got '{v}'"
                    ));
                }
                target.max_len = n as usize;
                rest = tail;
            }
            [k, v, tail @ ..] if k == "format" => {
                target.format =
                    SyslogFormat::parse(v).ok_or_else(|| format!("unknown log format '{v}'"))?;
                rest = tail;
            }
            [k, v, tail @ ..] if k == "sample" => {
                target.sample = Some(parse_sample(v)?);
                rest = tail;
            }
            [k, tail @ ..] if k == "profile" => {
                let _ = tail;
                return Err("log profiles are not supported by baton (nor by HAProxy 2.6)".into());
            }
            _ => break,
        }
    }
    let level = |w: &String| {
        LEVELS
            .iter()
            .position(|l| l == w)
            .map(|p| p as u8)
            .ok_or_else(|| format!("unknown optional log level '{w}'"))
    };
    match rest {
        [] => return Err("expects <address> and <facility> as arguments".into()),
        [facility, more @ ..] => {
            target.facility = FACILITIES
                .iter()
                .position(|f| f == facility)
                .ok_or_else(|| format!("unknown log facility '{facility}'"))?
                as u8;
            match more {
                [] => {}
                [max] => target.max_level = level(max)?,
                [max, min] => {
                    target.max_level = level(max)?;
                    target.min_level = level(min)?;
                }
                [_, _, extra, ..] => {
                    return Err(format!("cannot handle unexpected argument '{extra}'"))
                }
            }
        }
    }
    Ok(target)
}

/// `R1[-R2][,R...]:SIZE`.
fn parse_sample(text: &str) -> Result<LogSample, String> {
    let bad = || format!("invalid sample expression '{text}' (expects <ranges>:<size>)");
    let (ranges, size) = text.split_once(':').ok_or_else(bad)?;
    let size = size.parse::<u32>().map_err(|_| bad())?;
    let mut out = Vec::new();
    for range in ranges.split(',') {
        let (lo, hi) = range.split_once('-').unwrap_or((range, range));
        let (lo, hi) = (
            lo.parse::<u32>().map_err(|_| bad())?,
            hi.parse::<u32>().map_err(|_| bad())?,
        );
        if lo == 0 || hi < lo {
            return Err(bad());
        }
        if hi > size {
            return Err(format!(
                "invalid sample '{text}': size {size} is smaller than the range end {hi}"
            ));
        }
        out.push((lo, hi));
    }
    if size == 0 {
        return Err(bad());
    }
    Ok(LogSample { ranges: out, size })
}

/// A log target address.
fn parse_log_address(text: &str) -> Result<LogAddress, String> {
    match text {
        "stdout" => return Ok(LogAddress::Stdout),
        "stderr" => return Ok(LogAddress::Stderr),
        _ => {}
    }
    if let Some(n) = text.strip_prefix("fd@") {
        return match n.parse::<i32>() {
            Ok(1) => Ok(LogAddress::Stdout),
            Ok(2) => Ok(LogAddress::Stderr),
            Ok(n) if n >= 0 => Ok(LogAddress::Fd(n)),
            _ => Err(format!("invalid file descriptor in '{text}'")),
        };
    }
    if text.starts_with('/') {
        return Ok(LogAddress::Unix(text.into()));
    }
    if let Some(path) = text.strip_prefix("unix@") {
        return Ok(LogAddress::Unix(path.into()));
    }
    let inet = ["udp@", "udp4@", "udp6@", "ipv4@", "ipv6@"]
        .iter()
        .find_map(|p| text.strip_prefix(p))
        .unwrap_or(text);
    if let Some((prefix, _)) = inet.split_once('@') {
        return Err(format!(
            "log target '{prefix}@' is not supported by baton (stdout, stderr, fd@N, UNIX \
             datagram paths and UDP addresses are)"
        ));
    }
    let (host, port) = parse_server_address(inet)?;
    if let Host::Name(name) = &host {
        if name.is_empty() {
            return Err(format!("invalid address: '{text}'"));
        }
    }
    Ok(LogAddress::Udp {
        host,
        port: port.unwrap_or(514),
    })
}

impl ProxyLog {
    /// Whether this proxy writes traffic logs at all.
    pub fn enabled(&self) -> bool {
        !self.targets.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(line: &str) -> Result<LogTarget, String> {
        let words: Vec<String> = line.split_whitespace().map(String::from).collect();
        parse_log_target(&Location::new(&"t.cfg".into(), 1), &words)
    }

    #[test]
    fn targets_parse() {
        let t = target("127.0.0.1 local2").unwrap();
        assert_eq!(
            t.address,
            LogAddress::Udp {
                host: Host::Ip("127.0.0.1".parse().unwrap()),
                port: 514
            }
        );
        assert_eq!((t.facility, t.max_level, t.min_level), (18, 7, 0));
        let t = target("stdout format raw daemon").unwrap();
        assert_eq!(
            (t.address, t.format),
            (LogAddress::Stdout, SyslogFormat::Raw)
        );
        let t = target("/dev/log len 2048 format rfc5424 local0 notice err").unwrap();
        assert_eq!(t.address, LogAddress::Unix("/dev/log".into()));
        assert_eq!((t.max_len, t.max_level, t.min_level), (2048, 5, 3));
        let t = target("udp@[::1]:5140 sample 1-2,5:10 user").unwrap();
        assert_eq!(t.sample.unwrap().ranges, vec![(1, 2), (5, 5)]);
        assert_eq!(target("fd@7 local0").unwrap().address, LogAddress::Fd(7));
    }

    #[test]
    fn bad_targets_say_why() {
        assert!(target("127.0.0.1").unwrap_err().contains("facility"));
        assert!(target("127.0.0.1 local9").unwrap_err().contains("local9"));
        assert!(target("127.0.0.1 local0 loud")
            .unwrap_err()
            .contains("loud"));
        assert!(target("ring@buf local0").unwrap_err().contains("ring@"));
        assert!(target("127.0.0.1 len 10 local0")
            .unwrap_err()
            .contains("80"));
        assert!(target("127.0.0.1 format json local0")
            .unwrap_err()
            .contains("json"));
        assert!(target("127.0.0.1 sample 1-5:3 local0")
            .unwrap_err()
            .contains("3"));
    }
}
