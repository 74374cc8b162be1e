//! Bidirectional forwarding between two connections: `mode tcp`, and HTTP after an upgrade.
//!
//! A FIN from one side is passed on as a shutdown of the other side's write half while the
//! opposite direction keeps flowing (half-close). The connection ends when both directions have
//! ended, on an error, or when it stays idle longer than its timeout: `timeout tunnel` if set,
//! else the shorter of `timeout client` and `timeout server`; once a side has sent its FIN,
//! `timeout client-fin` / `timeout server-fin` take over, as in HAProxy.

use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::time::Instant;

/// The timeouts that bound a tunnel.
#[derive(Debug, Clone, Copy, Default)]
pub struct TunnelTimeouts {
    /// `timeout client`.
    pub client: Option<Duration>,
    /// `timeout server`.
    pub server: Option<Duration>,
    /// `timeout tunnel`: supersedes both when set.
    pub tunnel: Option<Duration>,
    /// `timeout client-fin`: idle limit once the client has shut its side.
    pub client_fin: Option<Duration>,
    /// `timeout server-fin`: idle limit once the server has shut its side.
    pub server_fin: Option<Duration>,
}

/// How a tunnel ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TunnelEnd {
    /// Both sides closed their halves.
    Closed,
    /// Nothing moved for longer than the idle timeout.
    Timeout,
    /// A read or write failed (reset).
    Error,
}

/// Bytes moved by a tunnel.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Transferred {
    /// Client to server.
    pub up: u64,
    /// Server to client.
    pub down: u64,
}

/// State shared by the two directions of one tunnel. Both run in one task, but the future
/// must stay `Send`, hence relaxed atomics rather than cells.
struct Shared {
    /// When the tunnel started; activity is measured from here.
    start: Instant,
    /// Milliseconds after `start` when a byte last moved either way.
    last_activity_ms: AtomicU64,
    /// A byte moved during the current poll of the tunnel: the clock is read once after the
    /// poll ([`Shared::touch`]) rather than after every read and write.
    moved: AtomicBool,
    /// The client has sent its FIN.
    client_done: AtomicBool,
    /// The server has sent its FIN.
    server_done: AtomicBool,
    /// Bytes read from the client and from the server, for the counts of a tunnel that ends
    /// by a timeout or an error (logs, dontlognull).
    read: [AtomicU64; 2],
}

impl Shared {
    /// Records activity now, if a byte moved since the last call.
    fn touch(&self) {
        if self.moved.swap(false, Ordering::Relaxed) {
            self.last_activity_ms
                .store(self.start.elapsed().as_millis() as u64, Ordering::Relaxed);
        }
    }

    /// When a byte last moved.
    fn last_activity(&self) -> Instant {
        self.start + Duration::from_millis(self.last_activity_ms.load(Ordering::Relaxed))
    }
}

/// One side of the tunnel, seen through the activity bookkeeping: every byte read or written
/// refreshes the idle timer, and end of stream marks the side as done. Wrapping both streams
/// lets one `copy_bidirectional` drive the two directions without splitting the sockets.
struct Tracked<'a, S> {
    /// The stream.
    inner: &'a mut S,
    /// Activity shared by both sides.
    shared: &'a Shared,
    /// Whether this is the client side (for the FIN flags).
    client: bool,
}

impl<S: AsyncRead + Unpin> AsyncRead for Tracked<'_, S> {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let poll = std::pin::Pin::new(&mut *self.inner).poll_read(cx, buf);
        if let std::task::Poll::Ready(Ok(())) = poll {
            self.shared.moved.store(true, Ordering::Relaxed);
            let n = (buf.filled().len() - before) as u64;
            self.shared.read[usize::from(!self.client)].fetch_add(n, Ordering::Relaxed);
            if buf.filled().len() == before {
                let done = if self.client {
                    &self.shared.client_done
                } else {
                    &self.shared.server_done
                };
                done.store(true, Ordering::Relaxed);
            }
        }
        poll
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Tracked<'_, S> {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        data: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        let poll = std::pin::Pin::new(&mut *self.inner).poll_write(cx, data);
        if let std::task::Poll::Ready(Ok(_)) = poll {
            self.shared.moved.store(true, Ordering::Relaxed);
        }
        poll
    }

    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut *self.inner).poll_flush(cx)
    }

    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut *self.inner).poll_shutdown(cx)
    }
}

/// The idle limit in force given which sides are done.
fn idle_limit(t: &TunnelTimeouts, shared: &Shared) -> Option<Duration> {
    let base = t.tunnel.or(match (t.client, t.server) {
        (Some(c), Some(s)) => Some(c.min(s)),
        (c, s) => c.or(s),
    });
    if shared.client_done.load(Ordering::Relaxed) && t.client_fin.is_some() {
        return t.client_fin;
    }
    if shared.server_done.load(Ordering::Relaxed) && t.server_fin.is_some() {
        return t.server_fin;
    }
    base
}

/// Forwards between `client` and `server` until both directions end or the tunnel times out.
pub async fn run<C, S>(
    client: &mut C,
    server: &mut S,
    timeouts: TunnelTimeouts,
) -> (TunnelEnd, Transferred)
where
    C: AsyncRead + AsyncWrite + Unpin,
    S: AsyncRead + AsyncWrite + Unpin,
{
    let shared = Shared {
        start: Instant::now(),
        last_activity_ms: AtomicU64::new(0),
        moved: AtomicBool::new(false),
        client_done: AtomicBool::new(false),
        server_done: AtomicBool::new(false),
        read: [AtomicU64::new(0), AtomicU64::new(0)],
    };
    let mut client = Tracked {
        inner: client,
        shared: &shared,
        client: true,
    };
    let mut server = Tracked {
        inner: server,
        shared: &shared,
        client: false,
    };
    let copy = tokio::io::copy_bidirectional_with_sizes(&mut client, &mut server, 16384, 16384);
    let mut copy = std::pin::pin!(copy);
    let both = std::future::poll_fn(|cx| {
        let poll = copy.as_mut().poll(cx);
        shared.touch();
        poll
    });
    let watchdog = async {
        loop {
            match idle_limit(&timeouts, &shared) {
                None => tokio::time::sleep(Duration::from_secs(3600)).await,
                Some(limit) => {
                    let deadline = shared.last_activity() + limit;
                    if Instant::now() >= deadline {
                        return;
                    }
                    // Re-check at least every second so a change of limit (FIN) is seen.
                    tokio::time::sleep_until(deadline.min(Instant::now() + Duration::from_secs(1)))
                        .await;
                }
            }
        }
    };
    let read = || Transferred {
        up: shared.read[0].load(Ordering::Relaxed),
        down: shared.read[1].load(Ordering::Relaxed),
    };
    tokio::select! {
        biased; // the copy first: no random draw per wake-up
        result = both => match result {
            Ok((up, down)) => (TunnelEnd::Closed, Transferred { up, down }),
            Err(_) => (TunnelEnd::Error, read()),
        },
        _ = watchdog => (TunnelEnd::Timeout, read()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{duplex, AsyncReadExt, AsyncWriteExt};

    #[tokio::test]
    async fn half_close_keeps_the_other_direction_flowing() {
        let (mut client_end, mut client) = duplex(1024);
        let (mut server, mut server_end) = duplex(1024);
        let proxy =
            tokio::spawn(
                async move { run(&mut client, &mut server, TunnelTimeouts::default()).await },
            );
        client_end.write_all(b"request").await.unwrap();
        client_end.shutdown().await.unwrap(); // client FIN
        let mut got = Vec::new();
        server_end.read_to_end(&mut got).await.unwrap_or_default();
        // read_to_end on a duplex returns when the proxy shut the server's write half.
        assert_eq!(got, b"request");
        server_end
            .write_all(b"response after the client's FIN")
            .await
            .unwrap();
        server_end.shutdown().await.unwrap();
        let mut back = Vec::new();
        client_end.read_to_end(&mut back).await.unwrap();
        assert_eq!(back, b"response after the client's FIN");
        let (end, moved) = proxy.await.unwrap();
        assert_eq!(end, TunnelEnd::Closed);
        assert_eq!(moved, Transferred { up: 7, down: 31 });
    }

    #[tokio::test(start_paused = true)]
    async fn idle_tunnels_time_out() {
        let (_client_end, mut client) = duplex(64);
        let (mut server, _server_end) = duplex(64);
        let t = TunnelTimeouts {
            client: Some(Duration::from_secs(5)),
            server: Some(Duration::from_secs(9)),
            ..Default::default()
        };
        let started = Instant::now();
        let (end, _) = run(&mut client, &mut server, t).await;
        assert_eq!(end, TunnelEnd::Timeout);
        assert_eq!(started.elapsed().as_secs(), 5);
    }
}
