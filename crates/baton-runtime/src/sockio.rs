//! Socket calls that tokio's `TcpStream` does not offer, each saving the kernel or the event
//! loop some work on the paths every request takes.
//!
//! - [`send_all_before_fin`]: the last bytes of a connection that is about to close are sent
//!   with `MSG_MORE`, so they wait in the kernel for the FIN that [`send_fin`] adds: response
//!   and FIN then leave in one segment instead of two, which the peer also receives and
//!   acknowledges once.
//! - [`recv_now`] and [`send_now`]: one read or write straight on the socket, without waiting
//!   for the poller to report it ready. A freshly accepted connection usually holds its request
//!   already, and a connection to a nearby server is usually established when `connect`
//!   returns; trying first spares a round trip through the event loop, and costs one system
//!   call (`EAGAIN`) when the guess is wrong. Tokio's readiness state is unaffected: a later
//!   tokio read or write simply finds out again.

use std::io;
use tokio::io::Interest;
use tokio::net::TcpStream;

/// Writes all of `bytes` to `stream`, holding back a final partial segment for the FIN that the
/// caller sends next with [`send_fin`]. Until that FIN the last bytes may not leave: call it
/// promptly, on every path.
pub async fn send_all_before_fin(stream: &TcpStream, mut bytes: &[u8]) -> io::Result<()> {
    let sock = socket2::SockRef::from(stream);
    while !bytes.is_empty() {
        let n = stream
            .async_io(Interest::WRITABLE, || {
                sock.send_with_flags(bytes, libc::MSG_MORE | libc::MSG_NOSIGNAL)
            })
            .await?;
        if n == 0 {
            return Err(io::ErrorKind::WriteZero.into());
        }
        bytes = &bytes[n..];
    }
    Ok(())
}

/// Sends the FIN (shuts the write half), pushing out anything [`send_all_before_fin`] held
/// back. Unlike a bare close, it cannot turn into a reset that discards those bytes when the
/// peer sent something this side never read. Errors (the peer already gone) are ignored.
pub fn send_fin(stream: &TcpStream) {
    let _ = socket2::SockRef::from(stream).shutdown(std::net::Shutdown::Write);
}

/// One non-blocking read into `buf`'s spare capacity, whatever the poller has reported.
/// `Ok(None)` when nothing is there yet (`EAGAIN`); `Ok(Some(0))` at end of stream.
pub fn recv_now(stream: &TcpStream, buf: &mut Vec<u8>, max: usize) -> io::Result<Option<usize>> {
    let spare = buf.spare_capacity_mut();
    let room = spare.len().min(max);
    let sock = socket2::SockRef::from(stream);
    match sock.recv_with_flags(&mut spare[..room], libc::MSG_DONTWAIT) {
        Ok(n) => {
            // SAFETY: the kernel initialised the first `n` bytes of the spare capacity.
            unsafe { buf.set_len(buf.len() + n) };
            Ok(Some(n))
        }
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(None),
        Err(e) => Err(e),
    }
}

/// One non-blocking write of `bytes`, whatever the poller has reported. `Ok(None)` when the
/// socket cannot take any yet (`EAGAIN`, or a connection still being established).
pub fn send_now(stream: &TcpStream, bytes: &[u8]) -> io::Result<Option<usize>> {
    let sock = socket2::SockRef::from(stream);
    match sock.send_with_flags(bytes, libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL) {
        Ok(n) => Ok(Some(n)),
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(None),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncReadExt;

    async fn pair() -> (TcpStream, TcpStream) {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let a = TcpStream::connect(l.local_addr().unwrap()).await.unwrap();
        let (b, _) = l.accept().await.unwrap();
        (a, b)
    }

    #[tokio::test]
    async fn bytes_held_for_the_fin_arrive_with_it() {
        let (a, mut b) = pair().await;
        send_all_before_fin(&a, b"last words").await.unwrap();
        send_fin(&a);
        let mut got = Vec::new();
        b.read_to_end(&mut got).await.unwrap();
        assert_eq!(got, b"last words");
    }

    #[tokio::test]
    async fn reading_and_writing_now_report_would_block_as_none() {
        let (a, b) = pair().await;
        let mut buf = Vec::with_capacity(64);
        assert_eq!(recv_now(&b, &mut buf, 64).unwrap(), None);
        assert_eq!(send_now(&a, b"ping").unwrap(), Some(4));
        // Loopback delivers synchronously: the bytes are there at once.
        let mut got = None;
        for _ in 0..100 {
            got = recv_now(&b, &mut buf, 2).unwrap();
            if got.is_some() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(1)).await;
        }
        assert_eq!(got, Some(2), "at most `max` bytes are read");
        assert_eq!(buf, b"pi");
        drop(a);
        assert_eq!(recv_now(&b, &mut buf, 64).unwrap(), Some(2));
        assert_eq!(
            recv_now(&b, &mut buf, 64).unwrap(),
            Some(0),
            "end of stream"
        );
        assert_eq!(buf, b"ping");
    }
}
