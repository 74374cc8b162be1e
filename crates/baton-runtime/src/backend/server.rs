//! A server's live state: what the balancer reads and health checks and the runtime API write.
//!
//! Everything here is shared between the tasks that forward traffic, the health-check task and
//! (later) the runtime API, so it is made of atomics: reading a server's status or connection
//! count on the request path takes no lock.

use baton_config::model::ServerOptions;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, AtomicU64, AtomicU8, Ordering};
use std::sync::Mutex;
use std::thread::ThreadId;
use tokio::net::TcpStream;

/// Idle connections kept per server at most; more are closed.
pub const MAX_IDLE_PER_SERVER: usize = 1024;

/// Operational status of a server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Status {
    /// Takes traffic.
    Up = 0,
    /// Failed its health checks; takes no traffic.
    Down = 1,
    /// Put in maintenance (`disabled`, or by an operator); takes no traffic, not checked.
    Maint = 2,
    /// Draining (by an operator): keeps existing connections, gets no new ones.
    Drain = 3,
}

impl Status {
    /// Decodes the atomic representation.
    fn from_u8(v: u8) -> Status {
        match v {
            0 => Status::Up,
            1 => Status::Down,
            2 => Status::Maint,
            _ => Status::Drain,
        }
    }

    /// The word HAProxy's logs and `show stat` use.
    pub fn name(self) -> &'static str {
        match self {
            Status::Up => "UP",
            Status::Down => "DOWN",
            Status::Maint => "MAINT",
            Status::Drain => "DRAIN",
        }
    }
}

/// One server of a backend at run time.
#[derive(Debug)]
pub struct ServerState {
    /// Name within the backend, for logs and the runtime API.
    pub name: String,
    /// The backend's name, for logs.
    pub backend: String,
    /// Where to connect; `None` port in the config means "the client's destination port",
    /// which the forwarding code substitutes.
    pub addr: SocketAddr,
    /// Whether the configured address had no port.
    pub port_from_client: bool,
    /// Options from the configuration (check settings, backup, maxconn, configured weight).
    pub options: ServerOptions,
    /// Current weight (0..=256); starts at the configured weight, changed by `set weight`.
    weight: AtomicU32,
    /// Current [`Status`].
    status: AtomicU8,
    /// Requests in flight at this server (for leastconn, maxconn and stats); an idle
    /// keep-alive connection does not count.
    active: AtomicU32,
    /// Connections ever made to this server (stats, and a cheap distribution check in tests).
    total: AtomicU64,
    /// Most connections open at once (`smax`).
    max: AtomicU32,
    /// Idle keep-alive connections to this server, reusable by later requests (HTTP mode),
    /// each with the worker thread whose poller it is registered with.
    idle: Mutex<Vec<(ThreadId, TcpStream)>>,
    /// When this state was created: the base of `last_change_ms`.
    created: std::time::Instant,
    /// Milliseconds after `created` of the last status change (`lastchg`).
    last_change_ms: AtomicU64,
    /// Failed health checks so far (`chkfail`).
    check_failures: AtomicU64,
    /// UP to DOWN transitions so far (`chkdown`).
    downs: AtomicU64,
    /// The last health check: HAProxy's status word, HTTP code, duration (`check_*`).
    last_check: Mutex<Option<CheckReport>>,
}

/// The outcome of the last health check, as `show stat` reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckReport {
    /// HAProxy's status word: L4OK, L4CON, L4TOUT, L7OK, L7STS, L7RSP, L7TOUT.
    pub status: &'static str,
    /// The HTTP status of an HTTP check.
    pub code: Option<u16>,
    /// How long it took, in milliseconds.
    pub duration_ms: u64,
}

impl ServerState {
    /// A server in its configured initial state: `Maint` if `disabled`, else `Up` (HAProxy
    /// starts checked servers as up, going down after `fall` failures).
    pub fn new(
        backend: &str,
        name: &str,
        addr: SocketAddr,
        port_from_client: bool,
        options: ServerOptions,
    ) -> Self {
        let status = if options.disabled {
            Status::Maint
        } else {
            Status::Up
        };
        ServerState {
            name: name.to_string(),
            backend: backend.to_string(),
            addr,
            port_from_client,
            weight: AtomicU32::new(options.weight),
            options,
            status: AtomicU8::new(status as u8),
            active: AtomicU32::new(0),
            total: AtomicU64::new(0),
            max: AtomicU32::new(0),
            idle: Mutex::new(Vec::new()),
            created: std::time::Instant::now(),
            last_change_ms: AtomicU64::new(0),
            check_failures: AtomicU64::new(0),
            downs: AtomicU64::new(0),
            last_check: Mutex::new(None),
        }
    }

    /// Current status.
    pub fn status(&self) -> Status {
        Status::from_u8(self.status.load(Ordering::Acquire))
    }

    /// Sets the status; returns the previous one. A change is timestamped, and UP → DOWN
    /// counted, for `show stat`.
    pub fn set_status(&self, status: Status) -> Status {
        let previous = Status::from_u8(self.status.swap(status as u8, Ordering::AcqRel));
        if previous != status {
            let now = self.created.elapsed().as_millis() as u64;
            self.last_change_ms.store(now, Ordering::Relaxed);
            if previous == Status::Up && status == Status::Down {
                self.downs.fetch_add(1, Ordering::Relaxed);
            }
        }
        previous
    }

    /// Seconds since the last status change (or since start).
    pub fn seconds_since_change(&self) -> u64 {
        let at = self.last_change_ms.load(Ordering::Relaxed);
        (self.created.elapsed().as_millis() as u64).saturating_sub(at) / 1000
    }

    /// Records a health check's outcome.
    pub fn record_check(&self, report: CheckReport, passed: bool) {
        if !passed {
            self.check_failures.fetch_add(1, Ordering::Relaxed);
        }
        if let Ok(mut last) = self.last_check.lock() {
            *last = Some(report);
        }
    }

    /// The last health check, if any ran.
    pub fn last_check(&self) -> Option<CheckReport> {
        self.last_check.lock().ok().and_then(|l| l.clone())
    }

    /// Failed checks so far.
    pub fn check_failures(&self) -> u64 {
        self.check_failures.load(Ordering::Relaxed)
    }

    /// UP → DOWN transitions so far.
    pub fn downs(&self) -> u64 {
        self.downs.load(Ordering::Relaxed)
    }

    /// Current weight.
    pub fn weight(&self) -> u32 {
        self.weight.load(Ordering::Relaxed)
    }

    /// Changes the weight (0..=256).
    pub fn set_weight(&self, weight: u32) {
        self.weight.store(weight.min(256), Ordering::Relaxed);
    }

    /// Whether new connections may go here: up, with a non-zero weight.
    pub fn usable(&self) -> bool {
        self.status() == Status::Up && self.weight() > 0
    }

    /// Whether it has room under its `maxconn` (0 = unlimited).
    pub fn has_room(&self) -> bool {
        self.options.maxconn == 0 || self.active() < self.options.maxconn
    }

    /// Connections open now.
    pub fn active(&self) -> u32 {
        self.active.load(Ordering::Relaxed)
    }

    /// Most connections open at once so far.
    pub fn max(&self) -> u32 {
        self.max.load(Ordering::Relaxed)
    }

    /// Connections made so far.
    pub fn total(&self) -> u64 {
        self.total.load(Ordering::Relaxed)
    }

    /// Parks an idle keep-alive connection for reuse; closes it if the pool is full.
    pub fn park_idle(&self, conn: TcpStream) {
        if let Ok(mut idle) = self.idle.lock() {
            if idle.len() < MAX_IDLE_PER_SERVER {
                idle.push((std::thread::current().id(), conn));
            }
        }
    }

    /// Takes a parked connection that is still open and silent, if any: the most recently
    /// parked of this thread's, else another worker's, moved to this thread's poller.
    ///
    /// A connection stays registered with the poller of the thread that opened it; used from
    /// another thread as it is, every event on it would wake that thread first, which then
    /// wakes this one (an `eventfd` write and a context switch each time). HAProxy too keeps
    /// idle server connections per thread and takes another thread's over only when it has
    /// none of its own.
    pub fn take_idle(&self) -> Option<TcpStream> {
        let me = std::thread::current().id();
        loop {
            let (owner, conn) = {
                let mut idle = self.idle.lock().ok()?;
                let pos = idle
                    .iter()
                    .rposition(|(owner, _)| *owner == me)
                    .or_else(|| idle.len().checked_sub(1))?;
                idle.remove(pos)
            };
            if owner == me {
                // An idle connection must have nothing to say: data or EOF means it is unusable.
                match conn.try_read(&mut [0u8; 1]) {
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return Some(conn),
                    _ => continue,
                }
            }
            if let Some(moved) = take_over(conn) {
                return Some(moved);
            }
        }
    }

    /// Idle connections parked now.
    pub fn idle_count(&self) -> usize {
        self.idle.lock().map_or(0, |idle| idle.len())
    }

    /// Closes every parked connection (when the server goes down or the process drains).
    pub fn drop_idle(&self) {
        if let Ok(mut idle) = self.idle.lock() {
            idle.clear();
        }
    }

    /// Counts a request in flight until the returned guard is released or dropped.
    pub fn track(self: &std::sync::Arc<Self>) -> ConnectionGuard {
        let now = self.active.fetch_add(1, Ordering::Relaxed) + 1;
        self.max.fetch_max(now, Ordering::Relaxed);
        self.total.fetch_add(1, Ordering::Relaxed);
        ConnectionGuard {
            server: std::sync::Arc::clone(self),
            counted: true,
        }
    }
}

/// Holds one slot of a server's active count (a request in flight there).
#[derive(Debug)]
pub struct ConnectionGuard {
    /// The server whose count to decrement.
    pub server: std::sync::Arc<ServerState>,
    /// Whether the slot is still held (released at most once).
    counted: bool,
}

impl ConnectionGuard {
    /// Frees the slot now (the request is over at the server) while the connection lives on;
    /// returns whether this call freed it.
    pub fn release(&mut self) -> bool {
        let was = std::mem::replace(&mut self.counted, false);
        if was {
            self.server.active.fetch_sub(1, Ordering::Relaxed);
        }
        was
    }
}

impl Drop for ConnectionGuard {
    fn drop(&mut self) {
        self.release();
    }
}

/// Moves an idle connection registered with another thread's poller to this thread's, if it is
/// still open and silent. The poller's view of a socket that was just moved says nothing yet,
/// so the check asks the kernel itself (a peek that must find nothing to read).
fn take_over(conn: TcpStream) -> Option<TcpStream> {
    let std = conn.into_std().ok()?;
    match std.peek(&mut [0u8; 1]) {
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => TcpStream::from_std(std).ok(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::sync::Arc;

    /// A runtime like a worker's: one thread, its own poller.
    fn worker() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    }

    #[test]
    fn another_workers_idle_connection_moves_to_this_workers_poller() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = Arc::new(ServerState::new(
            "be",
            "s1",
            addr,
            false,
            ServerOptions::default(),
        ));
        // Worker A opens two connections and parks them; the server closes the first.
        let a = worker();
        a.block_on(async {
            for _ in 0..2 {
                server.park_idle(TcpStream::connect(addr).await.unwrap());
            }
        });
        let (closed, _) = listener.accept().unwrap();
        let (mut peer, _) = listener.accept().unwrap();
        drop(closed);
        // Worker A is gone: a connection still registered with its poller could not be used.
        drop(a);
        let b = std::thread::spawn({
            let server = Arc::clone(&server);
            move || {
                worker().block_on(async move {
                    use tokio::io::{AsyncReadExt, AsyncWriteExt};
                    // The newest first, still open; then the one the server closed is refused.
                    let mut conn = server.take_idle().expect("the open one is reusable");
                    assert!(server.take_idle().is_none(), "the closed one was dropped");
                    conn.write_all(b"ping").await.unwrap();
                    let mut got = [0u8; 4];
                    conn.read_exact(&mut got).await.unwrap();
                    got
                })
            }
        });
        let mut buf = [0u8; 4];
        peer.read_exact(&mut buf).unwrap();
        assert_eq!(&buf, b"ping");
        peer.write_all(b"pong").unwrap();
        assert_eq!(&b.join().unwrap(), b"pong");
        assert_eq!(server.idle_count(), 0);
    }
}
