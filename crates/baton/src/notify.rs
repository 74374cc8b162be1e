//! sd_notify without libsystemd: one datagram per state change to `$NOTIFY_SOCKET`.
//!
//! systemd's protocol is a newline-separated `KEY=VALUE` list in one datagram on a UNIX socket
//! whose path is in `$NOTIFY_SOCKET` (a leading `@` names an abstract socket). The master sends
//! `READY=1` once workers serve, `RELOADING=1` with `MONOTONIC_USEC=` when a reload starts (so
//! `Type=notify-reload` works on systemd ≥ 253), `READY=1` when it ends (also after a failed
//! reload, with `STATUS=Reload failed: …`), and `STOPPING=1`. The variable is left in the
//! environment: the master re-executes itself on reload and must still find it.

use std::os::unix::net::UnixDatagram;

/// The variable systemd sets for `Type=notify` services.
pub const NOTIFY_SOCKET: &str = "NOTIFY_SOCKET";

/// Where notifications go, if anywhere.
#[derive(Debug, Clone)]
pub struct Notifier {
    /// The socket address from `$NOTIFY_SOCKET`; `None` outside systemd (or without `-Ws`).
    target: Option<String>,
}

impl Notifier {
    /// Notifications to `$NOTIFY_SOCKET` when `enabled` (`-Ws`) and the variable is set.
    pub fn from_env(enabled: bool) -> Self {
        let target = std::env::var(NOTIFY_SOCKET)
            .ok()
            .filter(|t| enabled && !t.is_empty());
        Notifier { target }
    }

    /// Sends `lines` (each `KEY=VALUE`) as one datagram; failures are logged, never fatal.
    pub fn send(&self, lines: &[String]) {
        let Some(target) = &self.target else { return };
        let message = lines.join("\n") + "\n";
        if let Err(e) = send_to(target, message.as_bytes()) {
            tracing::warn!("cannot notify systemd at {target}: {e}");
        }
    }

    /// `READY=1` with a status line.
    pub fn ready(&self, status: &str) {
        self.send(&["READY=1".into(), format!("STATUS={status}")]);
    }

    /// `RELOADING=1` with `MONOTONIC_USEC=` (systemd ≥ 253 requires both in one message).
    pub fn reloading(&self) {
        self.send(&[
            "RELOADING=1".into(),
            format!("MONOTONIC_USEC={}", monotonic_usec()),
            "STATUS=Reloading configuration.".into(),
        ]);
    }

    /// `STOPPING=1` with a status line.
    pub fn stopping(&self, status: &str) {
        self.send(&["STOPPING=1".into(), format!("STATUS={status}")]);
    }
}

/// CLOCK_MONOTONIC in microseconds, as systemd compares it.
pub fn monotonic_usec() -> u64 {
    nix::time::clock_gettime(nix::time::ClockId::CLOCK_MONOTONIC)
        .map(|t| t.tv_sec() as u64 * 1_000_000 + t.tv_nsec() as u64 / 1000)
        .unwrap_or(0)
}

/// Sends one datagram to a path or (`@name`) abstract socket.
fn send_to(target: &str, message: &[u8]) -> std::io::Result<()> {
    let socket = UnixDatagram::unbound()?;
    match target.strip_prefix('@') {
        Some(name) => {
            use std::os::linux::net::SocketAddrExt;
            let addr = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes())?;
            socket.send_to_addr(message, &addr)?;
        }
        None => {
            socket.send_to(message, target)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_and_abstract_targets() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify");
        let receiver = UnixDatagram::bind(&path).unwrap();
        send_to(path.to_str().unwrap(), b"READY=1\n").unwrap();
        let mut buf = [0u8; 64];
        let n = receiver.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"READY=1\n");

        use std::os::linux::net::SocketAddrExt;
        let name = format!("baton-notify-test-{}", std::process::id());
        let addr = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
        let abstract_receiver = UnixDatagram::bind_addr(&addr).unwrap();
        send_to(&format!("@{name}"), b"STOPPING=1\n").unwrap();
        let n = abstract_receiver.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"STOPPING=1\n");
    }

    #[test]
    fn monotonic_clock_moves() {
        let a = monotonic_usec();
        let b = monotonic_usec();
        assert!(a > 0 && b >= a);
    }
}
