//! The new process's side of `_getsocks` (`-x PATH`): fetch the old process's listening sockets.

use super::wire::{self, Record, MAX_BATCH_DATA, MAX_SEND_FD};
use sendfd::RecvWithFd;
use std::io::{Read, Write};
use std::os::fd::{FromRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

/// Why the sockets could not be fetched; at start-up this is fatal, as in HAProxy.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// Could not connect to the socket.
    #[error("cannot connect to {path}: {source}")]
    Connect {
        /// The socket path.
        path: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The old process sent no count (no `expose-fd listeners`, or nothing to send).
    #[error("Failed to get the number of sockets to be transferred !")]
    NoCount,
    /// The count is negative or absurd.
    #[error("invalid number of sockets announced: {0}")]
    BadCount(i32),
    /// The transfer stopped before all FDs arrived, or more arrived than announced.
    #[error("socket transfer incomplete: got {got} of {expected} descriptors")]
    Incomplete {
        /// Descriptors received.
        got: usize,
        /// Descriptors announced.
        expected: usize,
    },
    /// The records beside the FDs are malformed.
    #[error(transparent)]
    Record(#[from] wire::RecordError),
    /// I/O failed mid-transfer.
    #[error("socket transfer failed: {0}")]
    Io(#[from] std::io::Error),
}

/// Fetches the listening sockets offered on `path`, each with its record.
pub fn fetch(path: &Path) -> Result<Vec<(OwnedFd, Record)>, FetchError> {
    let stream = UnixStream::connect(path).map_err(|source| FetchError::Connect {
        path: path.display().to_string(),
        source,
    })?;
    fetch_over(stream)
}

/// Runs the `_getsocks` exchange over an already connected stream (HAProxy 2.6's
/// `sockpair@FD`: one end of a socketpair whose other end the master gave the old worker).
pub fn fetch_over(mut stream: UnixStream) -> Result<Vec<(OwnedFd, Record)>, FetchError> {
    stream.set_nonblocking(false)?;
    stream.set_read_timeout(Some(Duration::from_secs(1)))?;
    stream.write_all(wire::COMMAND)?;
    let mut count = [0u8; 4];
    stream
        .read_exact(&mut count)
        .map_err(|_| FetchError::NoCount)?;
    let count = i32::from_ne_bytes(count);
    if !(0..=1_000_000).contains(&count) {
        return Err(FetchError::BadCount(count));
    }
    let expected = count as usize;
    let mut fds: Vec<OwnedFd> = Vec::with_capacity(expected);
    let mut data = Vec::new();
    let mut chunk = vec![0u8; MAX_BATCH_DATA];
    let mut raw = [0i32; MAX_SEND_FD + 1];
    while fds.len() < expected {
        let (n, nfds) = stream.recv_with_fd(&mut chunk, &mut raw)?;
        // Own every descriptor at once, so an error below closes them.
        // SAFETY: the kernel just installed these descriptors in this process for us.
        fds.extend(
            raw[..nfds]
                .iter()
                .map(|&fd| unsafe { OwnedFd::from_raw_fd(fd) }),
        );
        if n == 0 && nfds == 0 {
            return Err(FetchError::Incomplete {
                got: fds.len(),
                expected,
            });
        }
        data.extend_from_slice(&chunk[..n]);
        let ack = stream.write_all(&(fds.len() as i32).to_ne_bytes());
        // Senders before HAProxy 3.2 close without reading the last ack: once every descriptor
        // is here, a failed ack is not an error.
        if fds.len() < expected {
            ack?;
        }
        if fds.len() > expected {
            return Err(FetchError::Incomplete {
                got: fds.len(),
                expected,
            });
        }
    }
    // Records may trail behind the last descriptors in their own message.
    while wire::decode(&data, expected).is_err() {
        let n = stream.read(&mut chunk)?;
        if n == 0 {
            break;
        }
        data.extend_from_slice(&chunk[..n]);
    }
    let records = wire::decode(&data, expected)?;
    Ok(fds.into_iter().zip(records).collect())
}
