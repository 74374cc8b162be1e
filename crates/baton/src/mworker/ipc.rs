//! The master ⇄ worker socketpair.
//!
//! Each worker gets one end of a `socketpair(AF_UNIX, SOCK_STREAM)`; the master keeps the other
//! across its re-executions. Master → worker: one byte per `sendmsg`, carrying one descriptor —
//! a new runtime API connection for the worker, the byte saying what it may do ([`Grant`]). This
//! is how the master forwards `@N` commands and how a new worker runs `_getsocks` against the
//! old one without any stats socket (HAProxy 2.6's `sockpair@`). Worker → master: the line
//! `READY` once it serves. Either side seeing the other's end close knows the peer is gone.

use baton_config::model::Level;
use baton_runtime::stats::Access;
use sendfd::RecvWithFd;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use tokio::net::UnixStream;

/// The environment variable naming the worker's end of its IPC socketpair.
pub const IPC_FD_ENV: &str = "BATON_MWORKER_IPC_FD";

/// The line a worker sends when it serves.
pub const READY: &[u8] = b"READY\n";

/// What a connection handed to a worker may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Grant {
    /// Runtime API commands up to this level (the master CLI socket's level).
    Level(Level),
    /// Admin level and `_getsocks` (the next worker taking the listeners).
    Listeners,
}

impl Grant {
    /// Its byte on the wire.
    fn byte(self) -> u8 {
        match self {
            Grant::Level(Level::User) => b'u',
            Grant::Level(Level::Operator) => b'o',
            Grant::Level(Level::Admin) => b'a',
            Grant::Listeners => b'x',
        }
    }

    /// The grant a byte stands for (unknown bytes grant nothing above `user`).
    fn from_byte(b: u8) -> Grant {
        match b {
            b'o' => Grant::Level(Level::Operator),
            b'a' => Grant::Level(Level::Admin),
            b'x' => Grant::Listeners,
            _ => Grant::Level(Level::User),
        }
    }

    /// The runtime API access it gives.
    pub fn access(self) -> Access {
        match self {
            Grant::Level(level) => Access {
                level,
                expose_fd_listeners: false,
            },
            Grant::Listeners => Access {
                level: Level::Admin,
                expose_fd_listeners: true,
            },
        }
    }
}

/// A new connected pair, both ends close-on-exec.
pub fn pair() -> std::io::Result<(OwnedFd, OwnedFd)> {
    use nix::sys::socket::{socketpair, AddressFamily, SockFlag, SockType};
    socketpair(
        AddressFamily::Unix,
        SockType::Stream,
        None,
        SockFlag::SOCK_CLOEXEC,
    )
    .map_err(std::io::Error::from)
}

/// A descriptor as a non-blocking tokio stream.
pub fn adopt(fd: OwnedFd) -> std::io::Result<UnixStream> {
    let std_stream = std::os::unix::net::UnixStream::from(fd);
    std_stream.set_nonblocking(true)?;
    UnixStream::from_std(std_stream)
}

/// Gives the worker behind `ipc` a connection (`fd`) with `grant`, without waiting: one byte
/// on a socketpair nobody else writes to always fits (a full buffer is reported as an error).
pub fn send_now(ipc: &impl AsRawFd, grant: Grant, fd: &OwnedFd) -> std::io::Result<()> {
    use nix::sys::socket::{sendmsg, ControlMessage, MsgFlags};
    let byte = [grant.byte()];
    let iov = [std::io::IoSlice::new(&byte)];
    let fds = [fd.as_raw_fd()];
    let sent = sendmsg::<()>(
        ipc.as_raw_fd(),
        &iov,
        &[ControlMessage::ScmRights(&fds)],
        MsgFlags::MSG_DONTWAIT | MsgFlags::MSG_NOSIGNAL,
        None,
    )?;
    if sent != 1 {
        return Err(std::io::ErrorKind::WriteZero.into());
    }
    Ok(())
}

/// Gives the worker behind `ipc` a connection (`fd`) with `grant`.
pub async fn send(ipc: &UnixStream, grant: Grant, fd: &OwnedFd) -> std::io::Result<()> {
    loop {
        ipc.writable().await?;
        match send_now(ipc, grant, fd) {
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
            other => return other,
        }
    }
}

/// Opens a new runtime API connection to the worker behind `ipc`; returns the master's end.
pub async fn connect(ipc: &UnixStream, grant: Grant) -> std::io::Result<UnixStream> {
    let (mine, theirs) = pair()?;
    send(ipc, grant, &theirs).await?;
    adopt(mine)
}

/// Writes all of `bytes` on a shared stream.
pub async fn write_all(stream: &UnixStream, mut bytes: &[u8]) -> std::io::Result<()> {
    while !bytes.is_empty() {
        stream.writable().await?;
        match stream.try_write(bytes) {
            Ok(0) => return Err(std::io::ErrorKind::WriteZero.into()),
            Ok(n) => bytes = &bytes[n..],
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Receives the next connection from the master; `None` when the master's end closed.
pub async fn receive(ipc: &UnixStream) -> std::io::Result<Option<(Grant, OwnedFd)>> {
    loop {
        ipc.readable().await?;
        let mut byte = [0u8; 1];
        let mut fds = [-1i32; 4];
        match ipc.recv_with_fd(&mut byte, &mut fds) {
            Ok((0, _)) => return Ok(None),
            Ok((_, n)) => {
                // SAFETY: the kernel just installed these descriptors for us.
                let mut owned: Vec<OwnedFd> = fds[..n]
                    .iter()
                    .map(|&fd| unsafe { OwnedFd::from_raw_fd(fd) })
                    .collect();
                if owned.len() == 1 {
                    return Ok(Some((Grant::from_byte(byte[0]), owned.remove(0))));
                }
                // A byte without exactly one descriptor is not ours: drop it and go on.
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
            Err(e) => return Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test]
    async fn connections_travel_with_their_grant() {
        let (a, b) = pair().unwrap();
        let (master, worker) = (adopt(a).unwrap(), adopt(b).unwrap());
        let mut mine = connect(&master, Grant::Level(Level::Operator))
            .await
            .unwrap();
        let (grant, fd) = receive(&worker).await.unwrap().unwrap();
        assert_eq!(grant, Grant::Level(Level::Operator));
        let mut theirs = adopt(fd).unwrap();
        mine.write_all(b"ping").await.unwrap();
        let mut buf = [0u8; 4];
        theirs.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"ping");
        connect(&master, Grant::Listeners).await.unwrap();
        assert_eq!(
            receive(&worker).await.unwrap().unwrap().0.access(),
            Access {
                level: Level::Admin,
                expose_fd_listeners: true
            }
        );
        drop(master);
        assert!(receive(&worker).await.unwrap().is_none());
    }
}
