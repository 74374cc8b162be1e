//! A fixed-capacity byte buffer for one direction of one connection.
//!
//! HAProxy's `tune.bufsize` (16 kB): a request or response head must fit in it, and bodies flow
//! through it without growing it, so memory per connection is bounded whatever the body size.
//! Bytes past a message's end (a pipelined request) simply stay for the next message.

use tokio::io::{AsyncRead, AsyncReadExt};

// Storage is a `Vec` whose length is `end`: reads go into its spare capacity without zeroing it
// first, and the capacity never grows past what `with_capacity` reserved.

/// HAProxy's default `tune.bufsize`.
pub const BUFSIZE: usize = 16384;

/// Bytes read but not yet consumed live in `data[start..]`.
#[derive(Debug)]
pub struct Buf {
    /// Storage: `data.len()` is one past the last byte read; allocated on first use.
    data: Vec<u8>,
    /// The capacity to allocate and never exceed.
    capacity: usize,
    /// First unconsumed byte.
    start: usize,
    /// Bytes read into it so far (a client's, for the traffic counters).
    filled: u64,
}

impl Default for Buf {
    fn default() -> Self {
        Buf::with_capacity(BUFSIZE)
    }
}

impl Buf {
    /// An empty buffer of `capacity` bytes.
    pub fn with_capacity(capacity: usize) -> Self {
        Buf {
            data: Vec::new(),
            capacity,
            start: 0,
            filled: 0,
        }
    }

    /// The unconsumed bytes.
    pub fn bytes(&self) -> &[u8] {
        &self.data[self.start..]
    }

    /// Number of unconsumed bytes.
    pub fn len(&self) -> usize {
        self.data.len() - self.start
    }

    /// Whether nothing is buffered.
    pub fn is_empty(&self) -> bool {
        self.start == self.data.len()
    }

    /// Whether no more bytes fit, even after moving the unconsumed ones to the front.
    pub fn is_full(&self) -> bool {
        self.len() == self.capacity
    }

    /// Marks `n` bytes as consumed.
    pub fn consume(&mut self, n: usize) {
        debug_assert!(n <= self.len());
        self.start += n;
        if self.start == self.data.len() {
            self.start = 0;
            self.data.clear();
        }
    }

    /// Reads once from `src` into the free space; returns the byte count (0 = end of stream).
    /// Call only when not full.
    pub async fn fill<R: AsyncRead + Unpin>(&mut self, src: &mut R) -> std::io::Result<usize> {
        if self.data.capacity() == 0 {
            self.data.reserve_exact(self.capacity);
        }
        if self.data.len() == self.capacity && self.start > 0 {
            self.data.drain(..self.start);
            self.start = 0;
        }
        let room = self.capacity - self.data.len();
        debug_assert!(room > 0, "fill called on a full buffer");
        let n = src.take(room as u64).read_buf(&mut self.data).await?;
        self.filled += n as u64;
        Ok(n)
    }

    /// Reads once from `stream` if it holds bytes already, without waiting for the poller
    /// ([`crate::sockio::recv_now`]); `Ok(None)` when nothing is there yet. Call only when
    /// empty.
    pub fn fill_now(&mut self, stream: &tokio::net::TcpStream) -> std::io::Result<Option<usize>> {
        debug_assert!(self.is_empty());
        if self.data.capacity() == 0 {
            self.data.reserve_exact(self.capacity);
        }
        let got = crate::sockio::recv_now(stream, &mut self.data, self.capacity)?;
        self.filled += got.unwrap_or(0) as u64;
        Ok(got)
    }

    /// Bytes read into the buffer since it was made.
    pub fn filled(&self) -> u64 {
        self.filled
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn fills_consumes_and_compacts() {
        let mut buf = Buf::with_capacity(8);
        let mut src: &[u8] = b"abcdefghij";
        assert_eq!(buf.fill(&mut src).await.unwrap(), 8);
        assert!(buf.is_full());
        buf.consume(6);
        assert_eq!(buf.bytes(), b"gh");
        assert_eq!(buf.fill(&mut src).await.unwrap(), 2);
        assert_eq!(buf.bytes(), b"ghij");
        buf.consume(4);
        assert!(buf.is_empty());
        assert_eq!(buf.fill(&mut src).await.unwrap(), 0);
        assert_eq!(buf.filled(), 10, "every byte read is counted once");
    }
}
