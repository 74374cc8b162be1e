//! Backends at run time: their servers, how one is chosen, how a connection to it is made
//! (timeouts, retries, redispatch, `maxconn` queueing), and how their health is tracked.

pub mod balance;
pub mod health;
pub mod server;

use balance::{Balancer, PickKey};
use baton_config::model::{Host, HttpCheck, HttpConnectionMode, Mode, Proxy, Timeouts};
use server::{ConnectionGuard, ServerState};
use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpStream;
use tokio::sync::Notify;

/// HAProxy's default `timeout connect` when none is set is infinite; baton bounds a connection
/// attempt anyway, so that a black-holed server cannot hold a client forever.
const FALLBACK_CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

/// Why no server connection could be had; each maps to a 503 in HTTP mode.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// Every server is down, in maintenance or has weight 0.
    #[error("no server available")]
    NoServer,
    /// Servers are up but full, and no slot freed within `timeout queue`.
    #[error("queue timeout")]
    QueueTimeout {
        /// Requests that were already waiting when this one joined the queue (`%bq`).
        ahead: u64,
    },
    /// Every attempt failed (refused, unreachable, timed out).
    #[error("connection to the server failed: {0}")]
    Failed(std::io::Error),
}

/// A backend ready to serve.
#[derive(Debug)]
pub struct Backend {
    /// Name, for logs.
    pub name: String,
    /// `mode` of the backend.
    pub mode: Mode,
    /// Its servers in configuration order.
    pub servers: Vec<Arc<ServerState>>,
    /// The balancing algorithm's state.
    balancer: Balancer,
    /// Its timeouts (connect, server, queue, tunnel...).
    pub timeouts: Timeouts,
    /// Connection attempts after the first failure.
    pub retries: u32,
    /// `option redispatch`: the last retry may go to another server.
    pub redispatch: bool,
    /// The backend's HTTP connection mode (combined with the frontend's).
    pub http_connection_mode: HttpConnectionMode,
    /// `option forwardfor` of the backend: header name, except network, if-none.
    pub forwardfor: Option<baton_config::model::ForwardFor>,
    /// `option httpchk` / `http-check expect`, for the health checks.
    pub http_check: Option<HttpCheck>,
    /// The backend's own rules (`http-request`, `http-response`, `errorfile`), if any.
    pub rules: Option<Arc<crate::http::rules::ProxyRules>>,
    /// Woken whenever a server connection slot frees (for `maxconn` queueing).
    slot_freed: Arc<Notify>,
    /// Traffic counters for `show stat`.
    pub counters: Arc<crate::counters::Counters>,
}

/// A connection to a server, with the slot it occupies.
#[derive(Debug)]
pub struct ServerConnection {
    /// The socket.
    pub stream: TcpStream,
    /// Holds the server's connection count; dropping it frees the slot.
    pub guard: SlotGuard,
    /// Failed attempts before this connection was made (`%rc` in logs).
    pub retries: u32,
    /// How many leading bytes of the data given to [`Backend::connect`] already went out with
    /// the connection's first write; the caller sends the rest.
    pub sent_early: usize,
}

/// A server slot; frees it and wakes queued requests on drop.
#[derive(Debug)]
pub struct SlotGuard {
    /// The server's active-connection guard.
    pub inner: ConnectionGuard,
    /// The backend's wake-up for queued requests.
    slot_freed: Arc<Notify>,
    /// Requests already waiting in the backend's queue when this one joined it; 0 when it
    /// found a free slot at once (`%bq` in logs, as haproxy's `backend_queue`).
    pub queued_ahead: u64,
}

impl SlotGuard {
    /// The server this slot belongs to.
    pub fn server(&self) -> &Arc<ServerState> {
        &self.inner.server
    }

    /// Frees the slot (the server has answered in full) and wakes a queued request; the
    /// connection itself may live on. Idempotent.
    pub fn release(&mut self) {
        // The count goes down before the wake-up, so the woken request sees the room.
        if self.inner.release() {
            self.slot_freed.notify_one();
        }
    }
}

impl Drop for SlotGuard {
    fn drop(&mut self) {
        self.release();
    }
}

/// Resolves a configured server address; `client_port` stands in when no port was given.
pub fn resolve(host: &Host, port: Option<u16>) -> std::io::Result<SocketAddr> {
    let port = port.unwrap_or(0);
    match host {
        Host::Ip(ip) => Ok(SocketAddr::new(*ip, port)),
        Host::Name(name) => (name.as_str(), port)
            .to_socket_addrs()?
            .next()
            .ok_or_else(|| {
                std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    format!("could not resolve address '{name}'"),
                )
            }),
    }
}

/// Connects to `addr` with one `socket` and one `connect` call: success is read from the
/// poller's readiness (writable, without error or hang-up) instead of a `getsockopt(SO_ERROR)`
/// per connection, which is only asked for when the connection failed.
///
/// `early`, when not empty, is written at once, before asking the poller: a nearby server has
/// usually completed the handshake by the time `connect` returns, and then the write both
/// proves the connection and saves a trip through the event loop. Returns the stream and how
/// many bytes of `early` went out; a refused connection fails here as it would have later.
///
/// `TCP_NODELAY` is set before connecting, as haproxy does: a proxy writes each piece as soon
/// as it has it (a head, then body bytes as they arrive), and Nagle's algorithm would hold a
/// small write behind an unacknowledged one until the server's delayed ACK, up to 40 ms.
async fn connect_to(addr: SocketAddr, early: &[u8]) -> std::io::Result<(TcpStream, usize)> {
    use socket2::{Domain, Socket, Type};
    let socket = Socket::new(
        Domain::for_address(addr),
        Type::STREAM.nonblocking().cloexec(),
        None,
    )?;
    socket.set_nodelay(true)?;
    match socket.connect(&addr.into()) {
        Ok(()) => {}
        Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => {}
        Err(e) => return Err(e),
    }
    let stream = TcpStream::from_std(std::net::TcpStream::from(socket))?;
    if !early.is_empty() {
        if let Some(sent) = crate::sockio::send_now(&stream, early)? {
            return Ok((stream, sent));
        }
    }
    loop {
        let ready = stream
            .ready(tokio::io::Interest::WRITABLE | tokio::io::Interest::ERROR)
            .await?;
        if ready.is_error() || ready.is_write_closed() {
            return Err(stream
                .take_error()?
                .unwrap_or_else(|| std::io::Error::from(std::io::ErrorKind::ConnectionRefused)));
        }
        if ready.is_writable() {
            return Ok((stream, 0));
        }
    }
}

impl Backend {
    /// Builds the runtime backend of a proxy with backend capability (names resolved here).
    pub fn new(proxy: &Proxy) -> std::io::Result<Self> {
        let mut servers = Vec::with_capacity(proxy.servers.len());
        for s in &proxy.servers {
            let addr = resolve(&s.host, s.port)?;
            servers.push(Arc::new(ServerState::new(
                &proxy.name,
                &s.name,
                addr,
                s.port.is_none(),
                s.options.clone(),
            )));
        }
        let balancer = Balancer::new(proxy.balance, &servers);
        Ok(Backend {
            name: proxy.name.clone(),
            mode: proxy.mode,
            servers,
            balancer,
            timeouts: proxy.timeouts,
            retries: proxy.retries,
            redispatch: proxy.redispatch,
            http_connection_mode: proxy.http_connection_mode,
            forwardfor: proxy.forwardfor.clone(),
            http_check: proxy.http_check.clone(),
            rules: None,
            slot_freed: Arc::new(Notify::new()),
            counters: Arc::default(),
        })
    }

    /// Chooses a server with a free slot, waiting in the queue while usable servers are full.
    pub async fn acquire(&self, key: &PickKey<'_>) -> Result<SlotGuard, ConnectError> {
        let queue_timeout = self.timeouts.queue.or(self.timeouts.connect);
        let deadline = queue_timeout.map(|t| tokio::time::Instant::now() + t);
        // Held while this request waits: `qcur` in `show stat`, left on any way out.
        let mut waiting: Option<crate::counters::QueueGuard> = None;
        loop {
            // Register interest before looking, so a slot freed in between is not missed.
            let freed = self.slot_freed.notified();
            if let Some(server) = self.balancer.pick(&self.servers, *key) {
                return Ok(SlotGuard {
                    inner: server.track(),
                    slot_freed: Arc::clone(&self.slot_freed),
                    queued_ahead: waiting.as_ref().map_or(0, |w| w.ahead),
                });
            }
            if !self.servers.iter().any(|s| s.usable()) {
                return Err(ConnectError::NoServer);
            }
            if waiting.is_none() {
                waiting = Some(self.counters.join_queue());
            }
            match deadline {
                Some(d) => tokio::time::timeout_at(d, freed).await.map_err(|_| {
                    ConnectError::QueueTimeout {
                        ahead: waiting.as_ref().map_or(0, |w| w.ahead),
                    }
                })?,
                None => freed.await,
            }
        }
    }

    /// Connects to the server of `slot`, retrying as `retries` and `option redispatch` say.
    /// On redispatch the slot moves to another server. `early` is the start of what will be
    /// sent: as much of it as the new connection takes at once is sent right away
    /// (`sent_early` in the result).
    pub async fn connect(
        &self,
        mut slot: SlotGuard,
        key: &PickKey<'_>,
        client_port: u16,
        early: &[u8],
    ) -> Result<ServerConnection, ConnectError> {
        let timeout = self.timeouts.connect.unwrap_or(FALLBACK_CONNECT_TIMEOUT);
        let mut attempt = 0;
        loop {
            let server = Arc::clone(slot.server());
            let mut addr = server.addr;
            if server.port_from_client {
                addr.set_port(client_port);
            }
            let result = match tokio::time::timeout(timeout, connect_to(addr, early)).await {
                Ok(Ok(connected)) => Ok(connected),
                Ok(Err(e)) => Err(e),
                Err(_) => Err(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    "connect timeout",
                )),
            };
            match result {
                Ok((stream, sent_early)) => {
                    return Ok(ServerConnection {
                        stream,
                        guard: slot,
                        retries: attempt,
                        sent_early,
                    });
                }
                Err(e) if attempt >= self.retries => return Err(ConnectError::Failed(e)),
                Err(e) => {
                    attempt += 1;
                    tracing::debug!(backend = %self.name, server = %server.name, error = %e, attempt, "connect failed, retrying");
                    if e.kind() != std::io::ErrorKind::TimedOut {
                        // HAProxy's turn-around delay before retrying a refused connection.
                        tokio::time::sleep(timeout.min(Duration::from_secs(1))).await;
                    }
                    if self.redispatch && attempt == self.retries {
                        drop(slot);
                        slot = self.acquire(key).await?;
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::counters::Counters;

    #[tokio::test]
    async fn connect_to_tells_success_from_refusal_by_readiness() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let (stream, sent) = connect_to(addr, b"")
            .await
            .expect("a listening port connects");
        assert_eq!((stream.peer_addr().unwrap(), sent), (addr, 0));
        assert!(
            stream.nodelay().unwrap(),
            "server connections send without Nagle's delay"
        );
        drop(listener);
        let err = connect_to(addr, b"")
            .await
            .expect_err("a closed port refuses");
        assert_eq!(err.kind(), std::io::ErrorKind::ConnectionRefused, "{err}");
        let v6 = std::net::TcpListener::bind("[::1]:0").unwrap();
        assert!(connect_to(v6.local_addr().unwrap(), b"").await.is_ok());
    }

    /// A backend named `be` with one server allowed one request at a time.
    fn one_slot_backend() -> Backend {
        let text = "backend be\n    timeout queue 5s\n    server s1 127.0.0.1:9 maxconn 1\n";
        let loaded = baton_config::load::load_str("queue.cfg", text, &|_| None);
        let proxy = loaded
            .config
            .proxies
            .iter()
            .find(|p| p.name == "be")
            .unwrap();
        Backend::new(proxy).unwrap()
    }

    /// Any request: the balancer needs no key for `roundrobin`.
    const ANY: PickKey<'static> = PickKey {
        client: None,
        path: None,
    };

    /// Asks for a slot in a task of its own; the result says how many waited ahead.
    fn spawn_acquire(backend: &Arc<Backend>) -> tokio::task::JoinHandle<Result<u64, ConnectError>> {
        let backend = Arc::clone(backend);
        tokio::spawn(async move { backend.acquire(&ANY).await.map(|s| s.queued_ahead) })
    }

    /// Yields until `n` requests wait in the backend's queue.
    async fn until_queued(backend: &Backend, n: u64) {
        while Counters::get(&backend.counters.queued) < n {
            tokio::task::yield_now().await;
        }
    }

    #[tokio::test]
    async fn waiting_requests_are_counted_with_their_place_in_the_queue() {
        let backend = Arc::new(one_slot_backend());
        let first = backend.acquire(&ANY).await.unwrap();
        assert_eq!(first.queued_ahead, 0, "a free slot means no queue");
        let second = spawn_acquire(&backend);
        until_queued(&backend, 1).await;
        let third = spawn_acquire(&backend);
        until_queued(&backend, 2).await;
        assert_eq!(Counters::get(&backend.counters.queued_max), 2);
        drop(first); // the second gets the slot, then frees it for the third
        assert_eq!(second.await.unwrap().unwrap(), 0);
        assert_eq!(third.await.unwrap().unwrap(), 1);
        assert_eq!(Counters::get(&backend.counters.queued), 0);
        assert_eq!(Counters::get(&backend.counters.queued_max), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn a_queue_timeout_says_how_many_waited_ahead() {
        let backend = Arc::new(one_slot_backend());
        let _held = backend.acquire(&ANY).await.unwrap();
        let second = spawn_acquire(&backend);
        until_queued(&backend, 1).await;
        // Waits `timeout queue` (5 s on the paused clock), behind the second.
        let third = backend.acquire(&ANY).await.map(|s| s.queued_ahead);
        assert!(
            matches!(third, Err(ConnectError::QueueTimeout { ahead: 1 })),
            "{third:?}"
        );
        let second = second.await.unwrap();
        assert!(
            matches!(second, Err(ConnectError::QueueTimeout { ahead: 0 })),
            "{second:?}"
        );
        assert_eq!(Counters::get(&backend.counters.queued), 0);
    }

    #[tokio::test]
    async fn early_data_goes_out_with_the_connection_or_fails_like_it() {
        use std::io::Read;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let (stream, sent) = connect_to(addr, b"GET / HTTP/1.1\r\n\r\n").await.unwrap();
        assert_eq!(
            sent, 18,
            "loopback completes the handshake inside connect()"
        );
        let (mut accepted, _) = listener.accept().unwrap();
        let mut got = [0u8; 18];
        accepted.read_exact(&mut got).unwrap();
        assert_eq!(&got, b"GET / HTTP/1.1\r\n\r\n");
        drop((stream, accepted, listener));
        let err = connect_to(addr, b"GET / HTTP/1.1\r\n\r\n")
            .await
            .expect_err("a closed port refuses, early data or not");
        assert_eq!(err.kind(), std::io::ErrorKind::ConnectionRefused, "{err}");
    }
}
