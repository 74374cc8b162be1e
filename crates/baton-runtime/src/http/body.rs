//! Message bodies: finding where a body ends and streaming it through a fixed buffer.
//!
//! Bodies are forwarded as received (a chunked body stays chunked), so the only work is knowing
//! where the body ends: a byte count, or the chunked syntax tracked by [`ChunkScanner`] one byte
//! at a time. Memory stays at one buffer per direction however large the body is.

use super::buf::Buf;
use super::head::Framing;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};

/// Why forwarding a body stopped early.
#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    /// The sender closed before the body ended.
    #[error("connection closed in the middle of the body")]
    Truncated,
    /// The chunked syntax is broken.
    #[error("invalid chunked encoding")]
    BadChunk,
    /// Reading from the sender timed out.
    #[error("timeout while reading the body")]
    ReadTimeout,
    /// Writing to the receiver failed.
    #[error("write failed: {0}")]
    Write(std::io::Error),
    /// Reading from the sender failed.
    #[error("read failed: {0}")]
    Read(std::io::Error),
}

/// Where a chunked body is in its syntax.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ChunkState {
    /// Reading hex digits of a chunk size (`seen_digit` tells whether one was read).
    Size { seen_digit: bool },
    /// After the size: extensions, up to CR.
    Extension,
    /// Expecting LF after the size line's CR.
    SizeLf,
    /// Inside chunk data.
    Data,
    /// Expecting CR after chunk data.
    DataCr,
    /// Expecting LF after chunk data.
    DataLf,
    /// At the start of a trailer line (after the last chunk).
    TrailerStart,
    /// Inside a trailer line.
    Trailer,
    /// Expecting LF after a trailer line's CR.
    TrailerLf,
    /// Expecting the final LF (the empty line ending the trailers).
    FinalLf,
    /// Complete.
    Done,
}

/// Tracks the chunked transfer coding to find the end of a body.
#[derive(Debug, Clone)]
pub struct ChunkScanner {
    /// Syntax state.
    state: ChunkState,
    /// Size of the current chunk, then bytes left in it.
    size: u64,
}

impl Default for ChunkScanner {
    fn default() -> Self {
        ChunkScanner {
            state: ChunkState::Size { seen_digit: false },
            size: 0,
        }
    }
}

impl ChunkScanner {
    /// Whether the body is complete.
    pub fn done(&self) -> bool {
        self.state == ChunkState::Done
    }

    /// Consumes bytes of the body from `input`; returns how many belong to it (less than
    /// `input.len()` only when the body ended inside `input`).
    pub fn scan(&mut self, input: &[u8]) -> Result<usize, BodyError> {
        let mut i = 0;
        while i < input.len() {
            let b = input[i];
            match self.state {
                ChunkState::Data => {
                    let take = (self.size.min((input.len() - i) as u64)) as usize;
                    self.size -= take as u64;
                    i += take;
                    if self.size == 0 {
                        self.state = ChunkState::DataCr;
                    }
                    continue;
                }
                ChunkState::Size { seen_digit } => match (b as char).to_digit(16) {
                    Some(d) => {
                        if self.size >> 59 != 0 {
                            return Err(BodyError::BadChunk); // would overflow 64 bits
                        }
                        self.size = self.size * 16 + u64::from(d);
                        self.state = ChunkState::Size { seen_digit: true };
                    }
                    None if !seen_digit => return Err(BodyError::BadChunk),
                    None => match b {
                        b'\r' => self.state = ChunkState::SizeLf,
                        b';' | b' ' | b'\t' => self.state = ChunkState::Extension,
                        _ => return Err(BodyError::BadChunk),
                    },
                },
                ChunkState::Extension => {
                    if b == b'\r' {
                        self.state = ChunkState::SizeLf;
                    } else if b == b'\n' {
                        return Err(BodyError::BadChunk);
                    }
                }
                ChunkState::SizeLf => {
                    if b != b'\n' {
                        return Err(BodyError::BadChunk);
                    }
                    self.state = if self.size == 0 {
                        ChunkState::TrailerStart
                    } else {
                        ChunkState::Data
                    };
                }
                ChunkState::DataCr => {
                    if b != b'\r' {
                        return Err(BodyError::BadChunk);
                    }
                    self.state = ChunkState::DataLf;
                }
                ChunkState::DataLf => {
                    if b != b'\n' {
                        return Err(BodyError::BadChunk);
                    }
                    self.state = ChunkState::Size { seen_digit: false };
                    self.size = 0;
                }
                ChunkState::TrailerStart => {
                    self.state = if b == b'\r' {
                        ChunkState::FinalLf
                    } else {
                        ChunkState::Trailer
                    };
                }
                ChunkState::Trailer => {
                    if b == b'\r' {
                        self.state = ChunkState::TrailerLf;
                    }
                }
                ChunkState::TrailerLf => {
                    if b != b'\n' {
                        return Err(BodyError::BadChunk);
                    }
                    self.state = ChunkState::TrailerStart;
                }
                ChunkState::FinalLf => {
                    if b != b'\n' {
                        return Err(BodyError::BadChunk);
                    }
                    self.state = ChunkState::Done;
                    return Ok(i + 1);
                }
                ChunkState::Done => return Ok(i),
            }
            i += 1;
        }
        Ok(i)
    }
}

/// Progress through one body.
#[derive(Debug, Clone)]
pub enum BodyProgress {
    /// Bytes left of a Content-Length body.
    Length(u64),
    /// A chunked body.
    Chunked(ChunkScanner),
    /// Until end of stream.
    UntilClose,
    /// Nothing (left) to forward.
    Done,
}

impl BodyProgress {
    /// The starting point for a framing.
    pub fn new(framing: Framing) -> Self {
        match framing {
            Framing::Empty | Framing::Length(0) => BodyProgress::Done,
            Framing::Length(n) => BodyProgress::Length(n),
            Framing::Chunked => BodyProgress::Chunked(ChunkScanner::default()),
            Framing::UntilClose => BodyProgress::UntilClose,
        }
    }

    /// Whether the body is complete.
    pub fn done(&self) -> bool {
        matches!(self, BodyProgress::Done)
    }

    /// How many of the `available` buffered bytes belong to the body; updates the progress.
    pub fn take(&mut self, available: &[u8]) -> Result<usize, BodyError> {
        let n = match self {
            BodyProgress::Length(left) => {
                let n = (*left).min(available.len() as u64) as usize;
                *left -= n as u64;
                if *left == 0 {
                    *self = BodyProgress::Done;
                }
                n
            }
            BodyProgress::Chunked(scanner) => {
                let n = scanner.scan(available)?;
                if scanner.done() {
                    *self = BodyProgress::Done;
                }
                n
            }
            BodyProgress::UntilClose => available.len(),
            BodyProgress::Done => 0,
        };
        Ok(n)
    }
}

/// A writer that counts the bytes it passes on (what a client was sent, for the traffic
/// counters, without asking the kernel).
pub struct Counting<'a, W> {
    /// The destination.
    pub inner: &'a mut W,
    /// Bytes written so far.
    pub count: &'a mut u64,
}

impl<W: AsyncWrite + Unpin> AsyncWrite for Counting<'_, W> {
    fn poll_write(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        let this = self.get_mut();
        let r = std::pin::Pin::new(&mut *this.inner).poll_write(cx, buf);
        if let std::task::Poll::Ready(Ok(n)) = &r {
            *this.count += *n as u64;
        }
        r
    }

    fn poll_flush(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut *self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut *self.get_mut().inner).poll_shutdown(cx)
    }
}

/// Forwards a whole body from `src` (through `buf`, which may already hold some of it) to
/// `dst`. Leaves any bytes after the body in `buf`. An `UntilClose` body ends at end of stream.
/// Returns the bytes written to `dst`.
pub async fn forward<R, W>(
    progress: &mut BodyProgress,
    buf: &mut Buf,
    src: &mut R,
    dst: &mut W,
    read_timeout: Option<Duration>,
) -> Result<u64, BodyError>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    forward_then(progress, buf, src, dst, read_timeout, || {}).await
}

/// Like [`forward`], calling `read_all` as soon as the whole body has been read from `src`,
/// before its last bytes are written to `dst` (a server's slot frees then, not after a slow
/// client has taken the response).
pub async fn forward_then<R, W>(
    progress: &mut BodyProgress,
    buf: &mut Buf,
    src: &mut R,
    dst: &mut W,
    read_timeout: Option<Duration>,
    read_all: impl FnOnce(),
) -> Result<u64, BodyError>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let mut read_all = Some(read_all);
    let mut signal_done = |progress: &BodyProgress| {
        if progress.done() {
            if let Some(f) = read_all.take() {
                f();
            }
        }
    };
    let mut written = 0u64;
    loop {
        if !buf.is_empty() {
            let n = progress.take(buf.bytes())?;
            signal_done(progress);
            if n > 0 {
                dst.write_all(&buf.bytes()[..n])
                    .await
                    .map_err(BodyError::Write)?;
                buf.consume(n);
                written += n as u64;
            }
        }
        if progress.done() {
            signal_done(progress);
            return Ok(written);
        }
        let read = buf.fill(src);
        let n = match read_timeout {
            Some(t) => tokio::time::timeout(t, read)
                .await
                .map_err(|_| BodyError::ReadTimeout)?,
            None => read.await,
        }
        .map_err(BodyError::Read)?;
        if n == 0 {
            if matches!(progress, BodyProgress::UntilClose) {
                *progress = BodyProgress::Done;
                signal_done(progress);
                return Ok(written);
            }
            return Err(BodyError::Truncated);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scan_all(body: &[u8]) -> Result<usize, BodyError> {
        let mut s = ChunkScanner::default();
        let n = s.scan(body)?;
        assert!(s.done(), "not done after {n} bytes");
        Ok(n)
    }

    #[test]
    fn chunked_bodies_end_where_they_end() {
        assert_eq!(scan_all(b"0\r\n\r\nNEXT").unwrap(), 5);
        assert_eq!(scan_all(b"5\r\nhello\r\n0\r\n\r\n").unwrap(), 15);
        assert_eq!(
            scan_all(b"5;ext=1\r\nhello\r\nA\r\n0123456789\r\n0\r\nTrailer: x\r\n\r\nrest")
                .unwrap(),
            48
        );
    }

    #[test]
    fn chunked_scanning_is_resumable_byte_by_byte() {
        let body = b"3\r\nabc\r\n10\r\n0123456789abcdef\r\n0\r\nT: 1\r\n\r\n";
        let mut s = ChunkScanner::default();
        for (i, b) in body.iter().enumerate() {
            assert!(!s.done(), "done early at {i}");
            assert_eq!(s.scan(std::slice::from_ref(b)).unwrap(), 1);
        }
        assert!(s.done());
    }

    #[test]
    fn broken_chunks_are_errors() {
        for bad in [
            &b"x\r\n"[..],
            b"\r\n",
            b"5\r\nhelloXX",
            b"5\nhello",
            b"fffffffffffffffff\r\n",
        ] {
            let mut s = ChunkScanner::default();
            assert!(s.scan(bad).is_err(), "{:?}", String::from_utf8_lossy(bad));
        }
    }

    #[tokio::test]
    async fn forward_stops_at_the_end_of_the_body() {
        let mut buf = Buf::with_capacity(4);
        let mut src: &[u8] = b"hello worldNEXT";
        let mut out = Vec::new();
        let mut p = BodyProgress::new(Framing::Length(11));
        forward(&mut p, &mut buf, &mut src, &mut out, None)
            .await
            .unwrap();
        assert_eq!(out, b"hello world");
        // What was read past the body stays buffered or unread.
        let mut rest = buf.bytes().to_vec();
        rest.extend_from_slice(src);
        assert_eq!(rest, b"NEXT");
    }

    #[tokio::test]
    async fn read_all_is_signalled_once_when_the_body_is_in() {
        for (framing, input) in [
            (Framing::Length(11), &b"hello world"[..]),
            (Framing::Chunked, b"5\r\nhello\r\n0\r\n\r\n"),
            (Framing::UntilClose, b"to the end"),
            (Framing::Empty, b""),
        ] {
            let mut calls = 0;
            let mut buf = Buf::with_capacity(4);
            let mut src = input;
            let mut out = Vec::new();
            let mut p = BodyProgress::new(framing);
            forward_then(&mut p, &mut buf, &mut src, &mut out, None, || calls += 1)
                .await
                .unwrap();
            assert_eq!(calls, 1, "{framing:?}");
            assert_eq!(out, input);
        }
    }

    #[tokio::test]
    async fn counting_counts_what_was_written() {
        let (mut sink, mut count) = (Vec::new(), 0);
        let mut w = Counting {
            inner: &mut sink,
            count: &mut count,
        };
        let mut src: &[u8] = b"0123456789";
        let mut p = BodyProgress::new(Framing::Length(10));
        forward(&mut p, &mut Buf::with_capacity(3), &mut src, &mut w, None)
            .await
            .unwrap();
        assert_eq!((count, sink.len()), (10, 10));
    }

    #[tokio::test]
    async fn truncated_and_until_close() {
        let mut buf = Buf::default();
        let mut src: &[u8] = b"abc";
        let mut p = BodyProgress::new(Framing::Length(5));
        let mut sink = Vec::new();
        assert!(matches!(
            forward(&mut p, &mut buf, &mut src, &mut sink, None).await,
            Err(BodyError::Truncated)
        ));
        let mut src: &[u8] = b"all of it";
        let mut p = BodyProgress::new(Framing::UntilClose);
        let mut sink = Vec::new();
        forward(&mut p, &mut Buf::default(), &mut src, &mut sink, None)
            .await
            .unwrap();
        assert_eq!(sink, b"all of it");
    }
}
