//! Binding listening sockets exactly as a `bind` line says, before privileges are dropped.
//!
//! HAProxy's defaults are kept: `SO_REUSEADDR` and `SO_REUSEPORT` (so a new process can bind
//! next to an old one), the backlog from `backlog` or the frontend's `maxconn`, `v6only` /
//! `v4v6`, `transparent` and `interface`. The sockets are plain std listeners so that they can
//! later be handed to another process; the runtime wraps them for tokio.

use baton_config::model::{Bind, Family, ListenAddress};
use socket2::{Domain, Protocol, Socket, Type};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener};
use std::os::fd::AsRawFd;

/// Why a bind failed, with the address, for HAProxy's "cannot bind socket" message.
#[derive(Debug, thiserror::Error)]
#[error("cannot bind socket ({source}) [{address}]")]
pub struct BindError {
    /// The address as written.
    pub address: String,
    /// The system's reason.
    #[source]
    pub source: std::io::Error,
}

/// The socket address a TCP `bind` resolves to, or `None` for a UNIX/abstract address.
pub fn socket_addr(address: &ListenAddress) -> Option<SocketAddr> {
    match address {
        ListenAddress::Inet { ip, family, port } => {
            let ip = ip.unwrap_or(match family {
                Family::V4 => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
                Family::V6 => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
            });
            Some(SocketAddr::new(ip, *port))
        }
        _ => None,
    }
}

/// Binds and listens for one TCP `bind` address.
pub fn bind_tcp(bind: &Bind, default_backlog: u32) -> Result<TcpListener, BindError> {
    let addr = socket_addr(&bind.address).ok_or_else(|| BindError {
        address: format!("{:?}", bind.address),
        source: std::io::Error::new(
            std::io::ErrorKind::Unsupported,
            "UNIX sockets are not supported for frontends yet",
        ),
    })?;
    let fail = |source: std::io::Error| BindError {
        address: addr.to_string(),
        source,
    };
    let socket =
        Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP)).map_err(fail)?;
    socket.set_reuse_address(true).map_err(fail)?;
    socket.set_reuse_port(true).map_err(fail)?;
    if addr.is_ipv6() {
        if bind.options.v6only {
            socket.set_only_v6(true).map_err(fail)?;
        } else if bind.options.v4v6 {
            socket.set_only_v6(false).map_err(fail)?;
        }
    }
    if bind.options.transparent {
        set_transparent(&socket, addr.is_ipv6()).map_err(fail)?;
    }
    if let Some(interface) = &bind.options.interface {
        socket
            .bind_device(Some(interface.as_bytes()))
            .map_err(fail)?;
    }
    socket.set_nonblocking(true).map_err(fail)?;
    socket.bind(&addr.into()).map_err(fail)?;
    let backlog = bind
        .options
        .backlog
        .unwrap_or(default_backlog)
        .clamp(1, i32::MAX as u32) as i32;
    socket.listen(backlog).map_err(fail)?;
    Ok(socket.into())
}

/// Sets IP_TRANSPARENT / IPV6_TRANSPARENT (binding to foreign addresses).
fn set_transparent(socket: &Socket, v6: bool) -> std::io::Result<()> {
    let one: libc::c_int = 1;
    let (level, name) = if v6 {
        (libc::SOL_IPV6, libc::IPV6_TRANSPARENT)
    } else {
        (libc::SOL_IP, libc::IP_TRANSPARENT)
    };
    // SAFETY: a valid socket fd and a pointer to a c_int of the size passed.
    let rc = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            level,
            name,
            (&one as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    os_result(rc)
}

/// A libc call's return code as a result: 0 is success, anything else the thread's `errno`.
pub(crate) fn os_result(rc: libc::c_int) -> std::io::Result<()> {
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn bind_line(address: ListenAddress) -> Bind {
        Bind {
            address,
            options: Default::default(),
            location: baton_config::diag::Location::new(&Arc::from("t.cfg"), 1),
        }
    }

    #[test]
    fn binds_loopback_and_reports_conflicts() {
        let a = bind_tcp(
            &bind_line(ListenAddress::Inet {
                ip: Some("127.0.0.1".parse().unwrap()),
                family: Family::V4,
                port: 0,
            }),
            16,
        )
        .unwrap();
        let port = a.local_addr().unwrap().port();
        // SO_REUSEPORT: a second listener on the same port is allowed (as for a new process).
        let b = bind_tcp(
            &bind_line(ListenAddress::Inet {
                ip: Some("127.0.0.1".parse().unwrap()),
                family: Family::V4,
                port,
            }),
            16,
        );
        assert!(b.is_ok());
        let mut v6 = bind_line(ListenAddress::Inet {
            ip: Some("::1".parse().unwrap()),
            family: Family::V6,
            port: 0,
        });
        v6.options.v6only = true;
        assert!(bind_tcp(&v6, 16).is_ok());
        let err = bind_tcp(
            &bind_line(ListenAddress::Inet {
                ip: Some("192.0.2.1".parse().unwrap()),
                family: Family::V4,
                port: 1,
            }),
            16,
        )
        .unwrap_err();
        assert!(err.to_string().starts_with("cannot bind socket ("), "{err}");
        assert!(err.to_string().ends_with("[192.0.2.1:1]"), "{err}");
    }
}
