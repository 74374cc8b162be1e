//! Sockets received from the old process, and how they are matched to this configuration's
//! `bind` and `stats socket` lines (HAProxy's rules, reference §1.4).
//!
//! A received socket is reused for a line when family, address and port are equal, the
//! `interface` and namespace agree, and the socket's own v6only / transparent / datagram
//! properties are what the line would produce. A UNIX socket matches its path or the temporary
//! name `PATH.<pid>.tmp` it was bound to before being renamed. The first match wins; whatever is
//! left unmatched is closed once every line is bound.

use super::wire::Record;
use nix::sys::socket::{getsockname, getsockopt, sockopt, SockaddrStorage};
use std::net::SocketAddr;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};

/// Where a received socket is bound.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Address {
    /// TCP/UDP on an IP address.
    Inet(SocketAddr),
    /// A UNIX socket path.
    Unix(PathBuf),
    /// An abstract UNIX socket (bytes after the leading NUL).
    Abstract(Vec<u8>),
    /// Something else (unnamed, or a family baton does not use).
    Other,
}

/// One received socket with the properties matching looks at.
#[derive(Debug)]
pub struct InheritedSocket {
    /// The descriptor (closed on drop unless taken).
    pub fd: OwnedFd,
    /// Its bound address, from getsockname().
    pub address: Address,
    /// The record's interface name.
    pub interface: String,
    /// The record's namespace name.
    pub namespace: String,
    /// IPV6_V6ONLY is set.
    pub v6only: bool,
    /// IP_TRANSPARENT is set.
    pub transparent: bool,
    /// It is a datagram socket.
    pub dgram: bool,
}

impl InheritedSocket {
    /// Reads a received descriptor's properties.
    pub fn inspect(fd: OwnedFd, record: Record) -> Self {
        let address = match getsockname::<SockaddrStorage>(std::os::fd::AsRawFd::as_raw_fd(&fd)) {
            Ok(addr) => classify(&addr),
            Err(_) => Address::Other,
        };
        let v6only = matches!(address, Address::Inet(SocketAddr::V6(_)))
            && getsockopt(&fd.as_fd(), sockopt::Ipv6V6Only).unwrap_or(false);
        let transparent = getsockopt(&fd.as_fd(), sockopt::IpTransparent).unwrap_or(false);
        let dgram = getsockopt(&fd.as_fd(), sockopt::SockType)
            .map(|t| t == nix::sys::socket::SockType::Datagram)
            .unwrap_or(false);
        InheritedSocket {
            fd,
            address,
            interface: record.interface,
            namespace: record.namespace,
            v6only,
            transparent,
            dgram,
        }
    }
}

/// Turns a raw socket address into an [`Address`].
fn classify(addr: &SockaddrStorage) -> Address {
    if let Some(v4) = addr.as_sockaddr_in() {
        return Address::Inet(SocketAddr::V4((*v4).into()));
    }
    if let Some(v6) = addr.as_sockaddr_in6() {
        return Address::Inet(SocketAddr::V6((*v6).into()));
    }
    if let Some(unix) = addr.as_unix_addr() {
        if let Some(path) = unix.path() {
            return Address::Unix(path.to_path_buf());
        }
        if let Some(name) = unix.as_abstract() {
            return Address::Abstract(name.to_vec());
        }
    }
    Address::Other
}

/// What a configuration line wants of a socket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wanted {
    /// The address it binds.
    pub address: Address,
    /// `interface`, or empty.
    pub interface: String,
    /// Whether the socket will be v6only (the `v6only` option, or the system default for IPv6
    /// unless `v4v6`).
    pub v6only: bool,
    /// `transparent`.
    pub transparent: bool,
}

/// Whether `path` is `base` or `base.<digits>.tmp` (a UNIX socket bound before its rename).
pub fn unix_path_matches(path: &Path, base: &Path) -> bool {
    if path == base {
        return true;
    }
    let (Some(path), Some(base)) = (path.to_str(), base.to_str()) else {
        return false;
    };
    path.strip_prefix(base)
        .and_then(|rest| rest.strip_prefix('.'))
        .and_then(|rest| rest.strip_suffix(".tmp"))
        .is_some_and(|pid| !pid.is_empty() && pid.bytes().all(|b| b.is_ascii_digit()))
}

/// The pool of received sockets not yet claimed by a line.
#[derive(Debug, Default)]
pub struct Inherited {
    /// Unclaimed sockets, in the order received.
    sockets: Vec<InheritedSocket>,
}

impl Inherited {
    /// Wraps received sockets.
    pub fn new(sockets: Vec<InheritedSocket>) -> Self {
        Inherited { sockets }
    }

    /// Sockets not claimed so far.
    pub fn len(&self) -> usize {
        self.sockets.len()
    }

    /// Whether every socket was claimed (or none was received).
    pub fn is_empty(&self) -> bool {
        self.sockets.is_empty()
    }

    /// Takes the first socket compatible with `wanted`.
    pub fn take(&mut self, wanted: &Wanted) -> Option<OwnedFd> {
        let at = self.sockets.iter().position(|s| compatible(s, wanted))?;
        Some(self.sockets.remove(at).fd)
    }

    /// Closes every unclaimed socket; returns how many there were.
    pub fn close_unclaimed(&mut self) -> usize {
        let n = self.sockets.len();
        self.sockets.clear();
        n
    }
}

/// HAProxy's compatibility test between a received socket and a line.
fn compatible(s: &InheritedSocket, wanted: &Wanted) -> bool {
    if s.dgram || !s.namespace.is_empty() || s.interface != wanted.interface {
        return false;
    }
    match (&s.address, &wanted.address) {
        (Address::Inet(a), Address::Inet(b)) => {
            a == b && s.v6only == wanted.v6only && s.transparent == wanted.transparent
        }
        (Address::Unix(a), Address::Unix(b)) => unix_path_matches(a, b),
        (Address::Abstract(a), Address::Abstract(b)) => a == b,
        _ => false,
    }
}

/// The system's default for IPv6 sockets (`net.ipv6.bindv6only`).
pub fn system_bindv6only() -> bool {
    std::fs::read_to_string("/proc/sys/net/ipv6/bindv6only").is_ok_and(|v| v.trim() == "1")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unix_temporary_names_match() {
        let base = Path::new("/run/baton/admin.sock");
        assert!(unix_path_matches(Path::new("/run/baton/admin.sock"), base));
        assert!(unix_path_matches(
            Path::new("/run/baton/admin.sock.1234.tmp"),
            base
        ));
        assert!(!unix_path_matches(
            Path::new("/run/baton/admin.sock.12a4.tmp"),
            base
        ));
        assert!(!unix_path_matches(
            Path::new("/run/baton/admin.sock..tmp"),
            base
        ));
        assert!(!unix_path_matches(
            Path::new("/run/baton/admin.sock2"),
            base
        ));
    }

    #[test]
    fn matching_uses_address_and_properties() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let fd: OwnedFd = listener.into();
        let s = InheritedSocket::inspect(fd, Record::default());
        assert_eq!(s.address, Address::Inet(addr));
        assert!(!s.transparent && !s.dgram && !s.v6only);
        let mut pool = Inherited::new(vec![s]);
        let other_port = Wanted {
            address: Address::Inet(SocketAddr::new(addr.ip(), addr.port().wrapping_add(1))),
            interface: String::new(),
            v6only: false,
            transparent: false,
        };
        assert!(pool.take(&other_port).is_none());
        let with_interface = Wanted {
            address: Address::Inet(addr),
            interface: "lo".into(),
            v6only: false,
            transparent: false,
        };
        assert!(pool.take(&with_interface).is_none());
        let exact = Wanted {
            address: Address::Inet(addr),
            interface: String::new(),
            v6only: false,
            transparent: false,
        };
        assert!(pool.take(&exact).is_some());
        assert!(pool.is_empty());
    }
}
