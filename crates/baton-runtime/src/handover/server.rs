//! The old process's side of `_getsocks`: send every exported listening socket.
//!
//! Runs on a blocking thread with the connection switched to blocking mode and a 1 s receive
//! timeout, as HAProxy does. When there is nothing to send, nothing is sent: the session simply
//! ends, which a receiver reports as "failed to get the number of sockets".

use super::wire::{self, Record, MAX_SEND_FD};
use sendfd::SendWithFd;
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::time::Duration;

/// A socket this process can hand over, with what its record says about it.
#[derive(Debug)]
pub struct ExportedSocket {
    /// A duplicate of the listening socket's descriptor (same open file description).
    pub fd: OwnedFd,
    /// The record sent beside it.
    pub record: Record,
}

/// Sends `sockets` over `stream`; returns how many were sent.
pub fn send_sockets(mut stream: UnixStream, sockets: &[ExportedSocket]) -> std::io::Result<usize> {
    if sockets.is_empty() {
        return Ok(0);
    }
    stream.set_nonblocking(false)?;
    stream.set_read_timeout(Some(Duration::from_secs(1)))?;
    stream.write_all(&(sockets.len() as i32).to_ne_bytes())?;
    let batches: Vec<&[ExportedSocket]> = sockets.chunks(MAX_SEND_FD).collect();
    let mut data = Vec::with_capacity(MAX_SEND_FD * 6);
    for (i, batch) in batches.iter().enumerate() {
        data.clear();
        for socket in *batch {
            wire::encode(&socket.record, &mut data);
        }
        let fds: Vec<i32> = batch.iter().map(|s| s.fd.as_raw_fd()).collect();
        let sent = stream.send_with_fd(&data, &fds)?;
        if sent < data.len() {
            // The descriptors went with the first part; the rest of the records follow as data.
            stream.write_all(&data[sent..])?;
        }
        let mut ack = [0u8; 4];
        let last = i + 1 == batches.len();
        match stream.read_exact(&mut ack) {
            Ok(()) => {}
            // HAProxy receivers before 3.2-era senders always ack; tolerate one that closes.
            Err(_) if last => {}
            Err(e) => return Err(e),
        }
    }
    Ok(sockets.len())
}
