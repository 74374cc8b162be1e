//! Parsers for the value types haproxy.cfg uses: times, sizes, numbers, addresses, networks.
//!
//! Each returns a message fit to follow "parsing [FILE:LINE] : 'keyword' : " so the loader can
//! say exactly which value on which line is wrong.

use crate::model::{Family, Host, Identity, ListenAddress, Network};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::PathBuf;
use std::time::Duration;

/// The largest timer HAProxy accepts: 2^31-1 milliseconds (~24.8 days).
pub const MAX_TIMER_MS: u64 = i32::MAX as u64;

/// The unit a bare number means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeUnit {
    /// Milliseconds (timeouts, intervals).
    Millis,
    /// Seconds.
    Seconds,
}

/// Parses `10`, `10ms`, `1.5s`? (no: integers only, as HAProxy), `2m`, `1h`, `1d`, `100us`.
pub fn parse_time(text: &str, default: TimeUnit) -> Result<Duration, String> {
    let digits_end = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    if digits_end == 0 {
        return Err(format!(
            "expects a time value (a number and an optional unit), got '{text}'"
        ));
    }
    let number: u64 = text[..digits_end].parse().map_err(|_| {
        format!("timer overflow in '{text}' (maximum value is {MAX_TIMER_MS} ms or ~24.8 days)")
    })?;
    let unit = &text[digits_end..];
    let micros_per: u64 = match unit {
        "" => match default {
            TimeUnit::Millis => 1_000,
            TimeUnit::Seconds => 1_000_000,
        },
        "us" => 1,
        "ms" => 1_000,
        "s" => 1_000_000,
        "m" => 60_000_000,
        "h" => 3_600_000_000,
        "d" => 86_400_000_000,
        _ => {
            return Err(format!(
            "unexpected character '{}' in time value '{text}' (valid units: us, ms, s, m, h, d)",
            unit.chars().next().unwrap_or(' ')
        ))
        }
    };
    let micros = number
        .checked_mul(micros_per)
        .filter(|&us| us / 1_000 <= MAX_TIMER_MS)
        .ok_or_else(|| {
            format!("timer overflow in '{text}' (maximum value is {MAX_TIMER_MS} ms or ~24.8 days)")
        })?;
    Ok(Duration::from_micros(micros))
}

/// Parses a size with an optional `k`, `m` or `g` suffix (powers of 1024).
pub fn parse_size(text: &str) -> Result<u64, String> {
    let digits_end = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let number: u64 = text[..digits_end].parse().map_err(|_| {
        format!("expects a size (a number and an optional k, m or g), got '{text}'")
    })?;
    let factor = match &text[digits_end..] {
        "" => 1,
        "k" | "K" => 1 << 10,
        "m" | "M" => 1 << 20,
        "g" | "G" => 1 << 30,
        other => return Err(format!("unknown size unit '{other}' in '{text}'")),
    };
    number
        .checked_mul(factor)
        .ok_or_else(|| format!("size '{text}' is too large"))
}

/// Parses a non-negative integer that must fit `max`.
pub fn parse_uint(text: &str, max: u64) -> Result<u64, String> {
    match text.parse::<u64>() {
        Ok(n) if n <= max => Ok(n),
        Ok(_) => Err(format!("value '{text}' is out of range (0-{max})")),
        Err(_) => Err(format!("expects an integer, got '{text}'")),
    }
}

/// Parses a user or group given by name; `numeric` says it came from `uid`/`gid`.
pub fn parse_identity(text: &str, numeric: bool) -> Result<Identity, String> {
    if numeric {
        text.parse()
            .map(Identity::Id)
            .map_err(|_| format!("expects a numeric id, got '{text}'"))
    } else if text.is_empty() {
        Err("expects a name".into())
    } else {
        Ok(Identity::Name(text.to_string()))
    }
}

/// Parses an IP network, `ADDR[/PREFIX]`; an IPv4 netmask (`/255.0.0.0`) is accepted too.
pub fn parse_network(text: &str) -> Result<Network, String> {
    let (addr, prefix) = match text.split_once('/') {
        Some((a, p)) => (a, Some(p)),
        None => (text, None),
    };
    let addr: IpAddr = addr
        .parse()
        .map_err(|_| format!("invalid network address '{text}'"))?;
    let max = if addr.is_ipv4() { 32 } else { 128 };
    let prefix = match prefix {
        None => max,
        Some(p) => match (p.parse::<u8>(), p.parse::<Ipv4Addr>()) {
            (Ok(n), _) if n <= max => n,
            (_, Ok(mask)) if addr.is_ipv4() => {
                let bits = u32::from(mask);
                if bits.leading_ones() + bits.trailing_zeros() != 32 {
                    return Err(format!("invalid netmask in '{text}'"));
                }
                bits.leading_ones() as u8
            }
            _ => return Err(format!("invalid prefix length in '{text}'")),
        },
    };
    Ok(Network { addr, prefix })
}

/// Parses one listening address of a `bind` or `stats socket` line, which may name a port
/// range (`:8000-8002`, one address per port). `unix_default` treats a bare path as UNIX.
pub fn parse_listen_address(text: &str) -> Result<Vec<ListenAddress>, String> {
    let (prefix, rest) = match text.split_once('@') {
        Some((p, r)) if !p.contains(':') && !p.contains('/') => (Some(p), r),
        _ => (None, text),
    };
    match prefix {
        Some("unix") => return Ok(vec![ListenAddress::Unix(PathBuf::from(rest))]),
        Some("abns") => return Ok(vec![ListenAddress::Abstract(rest.to_string())]),
        Some("ipv4") | Some("ipv6") | Some("tcp") | Some("tcp4") | Some("tcp6") | None => {}
        Some(other) => {
            return Err(format!(
                "address prefix '{other}@' is not supported by baton in '{text}'"
            ))
        }
    }
    if prefix.is_none() && rest.starts_with('/') {
        return Ok(vec![ListenAddress::Unix(PathBuf::from(rest))]);
    }
    let family_hint = match prefix {
        Some("ipv6") | Some("tcp6") => Some(Family::V6),
        Some("ipv4") | Some("tcp4") => Some(Family::V4),
        _ => None,
    };
    let (host, port) = split_host_port(rest);
    let port = port.ok_or_else(|| format!("missing port specification in '{text}'"))?;
    let ip = match host {
        "" | "*" => None,
        h => Some(h.parse::<IpAddr>().map_err(|_| {
            if h.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
            {
                format!(
                    "invalid address: '{h}' in '{text}' (baton binds IP addresses, not host names)"
                )
            } else {
                format!("invalid address: '{h}' in '{text}'")
            }
        })?),
    };
    let family = match (ip, family_hint) {
        (Some(IpAddr::V4(_)), Some(Family::V6)) | (Some(IpAddr::V6(_)), Some(Family::V4)) => {
            return Err(format!(
                "address family does not match its prefix in '{text}'"
            ))
        }
        (Some(IpAddr::V4(_)), _) => Family::V4,
        (Some(IpAddr::V6(_)), _) => Family::V6,
        (None, hint) => hint.unwrap_or(Family::V4),
    };
    let ip = match (ip, family) {
        (None, Family::V6) => Some(IpAddr::V6(Ipv6Addr::UNSPECIFIED)),
        (ip, _) => ip,
    };
    let ports = parse_port_range(port).map_err(|e| format!("{e} in '{text}'"))?;
    Ok(ports
        .map(|port| ListenAddress::Inet { ip, family, port })
        .collect())
}

/// Splits `host:port`, `[v6]:port`, or a bare IPv6 address whose last `:` precedes the port.
fn split_host_port(text: &str) -> (&str, Option<&str>) {
    if let Some(rest) = text.strip_prefix('[') {
        if let Some((host, after)) = rest.split_once(']') {
            return (host, after.strip_prefix(':'));
        }
    }
    match text.rfind(':') {
        Some(at) => (&text[..at], Some(&text[at + 1..])),
        None => (text, None),
    }
}

/// Parses `80` or `8000-8010`.
fn parse_port_range(text: &str) -> Result<std::ops::RangeInclusive<u16>, String> {
    let parse = |p: &str| match p.parse::<u16>() {
        Ok(0) | Err(_) => Err(format!("invalid port '{p}'")),
        Ok(n) => Ok(n),
    };
    match text.split_once('-') {
        Some((a, b)) => {
            let (a, b) = (parse(a)?, parse(b)?);
            if a > b {
                return Err(format!("invalid port range '{text}'"));
            }
            Ok(a..=b)
        }
        None => {
            let p = parse(text)?;
            Ok(p..=p)
        }
    }
}

/// Parses a server address `HOST[:PORT]`; the port may be absent (the client's port is used).
pub fn parse_server_address(text: &str) -> Result<(Host, Option<u16>), String> {
    let text = text
        .strip_prefix("ipv4@")
        .or_else(|| text.strip_prefix("ipv6@"))
        .unwrap_or(text);
    if let Some(p) = text.split_once('@').map(|(p, _)| p) {
        return Err(format!(
            "address prefix '{p}@' is not supported by baton for servers"
        ));
    }
    if let Ok(ip) = text.parse::<IpAddr>() {
        // A bare IPv6 address without a port ("::1") would otherwise split at its last colon.
        if !(ip.is_ipv6()
            && text.matches(':').count() > 1
            && split_host_port(text).0.parse::<IpAddr>().is_ok())
        {
            return Ok((Host::Ip(ip), None));
        }
    }
    let (host, port) = split_host_port(text);
    let port = match port {
        None => None,
        Some(p) if p.starts_with('+') || p.starts_with('-') => {
            return Err(format!("relative port '{p}' is not supported by baton"))
        }
        Some(p) => Some(
            p.parse::<u16>()
                .map_err(|_| format!("invalid port '{p}'"))?,
        ),
    };
    if host.is_empty() {
        return Err(format!("missing address in '{text}'"));
    }
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok((Host::Ip(ip), port));
    }
    if host.contains('$') || host.contains('{') {
        return Err(format!("invalid address: '{host}'"));
    }
    let valid = host
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.' || c == '_');
    if !valid {
        return Err(format!("invalid address: '{host}'"));
    }
    Ok((Host::Name(host.to_string()), port))
}

/// Whether `name` is a valid proxy or server name; returns the first bad character.
pub fn invalid_name_char(name: &str) -> Option<char> {
    name.chars()
        .find(|&c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':')))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times() {
        assert_eq!(
            parse_time("10", TimeUnit::Millis),
            Ok(Duration::from_millis(10))
        );
        assert_eq!(
            parse_time("10s", TimeUnit::Millis),
            Ok(Duration::from_secs(10))
        );
        assert_eq!(
            parse_time("2m", TimeUnit::Millis),
            Ok(Duration::from_secs(120))
        );
        assert_eq!(
            parse_time("1h", TimeUnit::Millis),
            Ok(Duration::from_secs(3600))
        );
        assert_eq!(
            parse_time("1d", TimeUnit::Millis),
            Ok(Duration::from_secs(86400))
        );
        assert_eq!(
            parse_time("100us", TimeUnit::Millis),
            Ok(Duration::from_micros(100))
        );
        assert_eq!(
            parse_time("3", TimeUnit::Seconds),
            Ok(Duration::from_secs(3))
        );
        assert!(parse_time("10x", TimeUnit::Millis)
            .unwrap_err()
            .contains("unexpected character 'x'"));
        assert!(parse_time("", TimeUnit::Millis).is_err());
        assert!(parse_time("25d", TimeUnit::Millis)
            .unwrap_err()
            .contains("overflow"));
        assert!(parse_time("99999999999999999999", TimeUnit::Millis).is_err());
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("16384"), Ok(16384));
        assert_eq!(parse_size("16k"), Ok(16384));
        assert_eq!(parse_size("1m"), Ok(1 << 20));
        assert!(parse_size("1x").is_err());
    }

    #[test]
    fn listen_addresses() {
        use ListenAddress::*;
        assert_eq!(
            parse_listen_address(":80").unwrap(),
            [Inet {
                ip: None,
                family: Family::V4,
                port: 80
            }]
        );
        assert_eq!(
            parse_listen_address("[::1]:8080").unwrap(),
            [Inet {
                ip: Some("::1".parse().unwrap()),
                family: Family::V6,
                port: 8080
            }]
        );
        assert_eq!(
            parse_listen_address(":::80").unwrap(),
            [Inet {
                ip: Some("::".parse().unwrap()),
                family: Family::V6,
                port: 80
            }]
        );
        assert_eq!(
            parse_listen_address("ipv6@:80").unwrap(),
            [Inet {
                ip: Some("::".parse().unwrap()),
                family: Family::V6,
                port: 80
            }]
        );
        assert_eq!(
            parse_listen_address("127.0.0.1:8000-8002").unwrap().len(),
            3
        );
        assert_eq!(
            parse_listen_address("/run/x.sock").unwrap(),
            [Unix("/run/x.sock".into())]
        );
        assert_eq!(
            parse_listen_address("unix@rel.sock").unwrap(),
            [Unix("rel.sock".into())]
        );
        assert_eq!(
            parse_listen_address("abns@x").unwrap(),
            [Abstract("x".into())]
        );
        assert!(parse_listen_address("127.0.0.1")
            .unwrap_err()
            .contains("missing port"));
        assert!(parse_listen_address("*:${PORT}")
            .unwrap_err()
            .contains("invalid port"));
        assert!(parse_listen_address("mptcp@:80")
            .unwrap_err()
            .contains("mptcp@"));
        assert!(parse_listen_address("1.2.3.4.5:80")
            .unwrap_err()
            .contains("invalid address"));
        assert!(parse_listen_address(":0").is_err());
        assert!(parse_listen_address(":90-80").is_err());
    }

    #[test]
    fn server_addresses() {
        assert_eq!(
            parse_server_address("10.0.0.1:80").unwrap(),
            (Host::Ip("10.0.0.1".parse().unwrap()), Some(80))
        );
        assert_eq!(
            parse_server_address("10.0.0.1").unwrap(),
            (Host::Ip("10.0.0.1".parse().unwrap()), None)
        );
        assert_eq!(
            parse_server_address("[::1]:80").unwrap(),
            (Host::Ip("::1".parse().unwrap()), Some(80))
        );
        assert_eq!(
            parse_server_address("::1").unwrap(),
            (Host::Ip("::1".parse().unwrap()), None)
        );
        assert_eq!(
            parse_server_address("web1:8080").unwrap(),
            (Host::Name("web1".into()), Some(8080))
        );
        assert!(parse_server_address("${HOST}:80").is_err());
        assert!(parse_server_address("a:+1").is_err());
    }

    #[test]
    fn networks() {
        assert_eq!(parse_network("127.0.0.0/8").unwrap().prefix, 8);
        assert_eq!(parse_network("10.0.0.0/255.255.0.0").unwrap().prefix, 16);
        assert_eq!(parse_network("::1").unwrap().prefix, 128);
        assert!(parse_network("10.0.0.0/33").is_err());
        assert!(parse_network("x").is_err());
    }
}
