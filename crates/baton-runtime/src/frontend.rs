//! Frontends at run time: their listeners' accept loops, connection limits, and the hand-off of
//! each accepted connection to the tcp or HTTP session code.
//!
//! Limits are HAProxy's: above the global `maxconn` or the frontend's, baton stops accepting
//! (connections wait in the kernel's accept queue) and resumes as soon as a slot frees. Accept
//! errors from exhausted resources (EMFILE, ENFILE, ENOBUFS, ENOMEM) pause the loop briefly
//! instead of spinning or exiting.

use crate::backend::Backend;
use crate::dispatch::{Dispatch, LoadGuard, Target};
use crate::http::errors::reason;
use crate::lifecycle::{Phase, PhaseWatch};
use crate::sessions::{SessionGuard, SessionTracker};
use baton_config::model::{ForwardFor, HttpConnectionMode, Mode, Proxy, Timeouts};
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::unix::AsyncFd;
use tokio::io::Interest;
use tokio::net::TcpStream;
use tokio::sync::{mpsc, OwnedSemaphorePermit, Semaphore};

/// The period of the worker's heartbeat timer (see [`inbox`]).
const HEARTBEAT: Duration = Duration::from_secs(1);

/// How long the accept loop pauses after a resource-exhaustion error.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// A frontend ready to serve.
#[derive(Debug)]
pub struct Frontend {
    /// Name, for logs.
    pub name: String,
    /// `mode tcp` or `mode http`.
    pub mode: Mode,
    /// Its timeouts (client, http-request, http-keep-alive, client-fin).
    pub timeouts: Timeouts,
    /// Where traffic goes (`default_backend`), if anywhere.
    pub default_backend: Option<Arc<Backend>>,
    /// `option forwardfor` of the frontend.
    pub forwardfor: Option<ForwardFor>,
    /// The frontend's HTTP connection mode.
    pub http_connection_mode: HttpConnectionMode,
    /// `http-request return`, pre-rendered up to (not including) the blank line.
    pub http_return: Option<HttpReturn>,
    /// `maxconn` of the frontend.
    pub slots: Arc<Semaphore>,
    /// Traffic counters for `show stat`.
    pub counters: Arc<crate::counters::Counters>,
    /// `maxconn` as configured or derived, for `show stat`'s `slim`.
    pub maxconn: u32,
}

/// A pre-rendered `http-request return` response.
#[derive(Debug, Clone)]
pub struct HttpReturn {
    /// The status code, for the counters.
    pub status: u16,
    /// Status line and headers, each ending in CRLF, without the final CRLF.
    pub head: Vec<u8>,
    /// The body.
    pub body: Vec<u8>,
}

impl HttpReturn {
    /// Renders a configured `http-request return`.
    pub fn render(ret: &baton_config::model::HttpReturn) -> Self {
        let body = ret.body.clone().unwrap_or_default().into_bytes();
        let mut head = format!("HTTP/1.1 {} {}\r\n", ret.status, reason(ret.status));
        if let Some(ct) = &ret.content_type {
            head.push_str(&format!("content-type: {ct}\r\n"));
        }
        head.push_str(&format!("content-length: {}\r\n", body.len()));
        HttpReturn {
            status: ret.status,
            head: head.into_bytes(),
            body,
        }
    }
}

impl Frontend {
    /// Builds a frontend; `backends` resolves `default_backend`; `global_maxconn` bounds the
    /// frontend's own `maxconn`.
    pub fn new(proxy: &Proxy, default_backend: Option<Arc<Backend>>, global_maxconn: u32) -> Self {
        let maxconn = proxy
            .maxconn
            .unwrap_or(global_maxconn)
            .min(global_maxconn)
            .max(1);
        Frontend {
            name: proxy.name.clone(),
            mode: proxy.mode,
            timeouts: proxy.timeouts,
            default_backend,
            forwardfor: proxy.forwardfor.clone(),
            http_connection_mode: proxy.http_connection_mode,
            http_return: proxy.http_return.as_ref().map(HttpReturn::render),
            slots: Arc::new(Semaphore::new(maxconn as usize)),
            counters: Arc::default(),
            maxconn,
        }
    }
}

/// Whether an accept error means "out of a resource": pause, don't spin.
fn is_exhaustion(e: &std::io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EMFILE) | Some(libc::ENFILE) | Some(libc::ENOBUFS) | Some(libc::ENOMEM)
    )
}

/// An accepted connection on its way to the worker that serves it, holding everything that
/// counts it: the `maxconn` slots, the live-session guard (a draining process waits for it)
/// and the worker's load.
#[derive(Debug)]
pub struct Accepted {
    /// The frontend whose listener accepted it.
    frontend: Arc<Frontend>,
    /// The socket, non-blocking, not yet registered with any worker's poller.
    stream: std::net::TcpStream,
    /// The client's address.
    peer: SocketAddr,
    /// The global and frontend `maxconn` slots it occupies.
    permits: (OwnedSemaphorePermit, OwnedSemaphorePermit),
    /// Counts it as a live session until it ends.
    guard: SessionGuard,
    /// Counts it on the worker serving it.
    load: LoadGuard<Accepted>,
}

/// The accept side of the worker threads: the shared dispatcher and this worker's index.
#[derive(Debug, Clone)]
pub struct Worker {
    /// Loads and inboxes of every worker.
    pub dispatch: Arc<Dispatch<Accepted>>,
    /// This worker's index.
    pub index: usize,
}

/// Accepts one connection as a non-blocking socket (`accept4`), not registered with the poller
/// yet: the worker that will serve it registers it.
fn accept_nonblocking(
    listener: &std::net::TcpListener,
) -> std::io::Result<(std::net::TcpStream, SocketAddr)> {
    // SAFETY: accept4 writes at most `len` bytes of address into the zeroed storage that
    // try_init provides, and a non-negative return is a new descriptor that we own.
    let (fd, addr) = unsafe {
        socket2::SockAddr::try_init(|storage, len| {
            let fd = libc::accept4(
                listener.as_raw_fd(),
                storage.cast(),
                len,
                libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
            );
            if fd < 0 {
                Err(std::io::Error::last_os_error())
            } else {
                Ok(OwnedFd::from_raw_fd(fd))
            }
        })?
    };
    let peer = addr
        .as_socket()
        .unwrap_or_else(|| SocketAddr::from(([0, 0, 0, 0], 0)));
    Ok((std::net::TcpStream::from(fd), peer))
}

/// Accepts connections on one listener until the phase reaches `Draining`.
pub async fn accept_loop(
    frontend: Arc<Frontend>,
    listener: std::net::TcpListener,
    global_slots: Arc<Semaphore>,
    sessions: SessionTracker,
    mut phase: PhaseWatch,
    worker: Worker,
) {
    // Linux gives accepted sockets the listener's TCP_NODELAY: set once here rather than once
    // per connection (a system call each).
    let nodelay_inherited = socket2::SockRef::from(&listener).set_nodelay(true).is_ok();
    // SAFETY: the AsyncFd owns the listener, whose descriptor stays open and the same until
    // the AsyncFd is dropped.
    let listener = match unsafe { AsyncFd::register_with_interest(listener, Interest::READABLE) } {
        Ok(l) => l,
        Err(e) => {
            tracing::error!("cannot register a listener: {e}");
            return;
        }
    };
    let mut warned_exhaustion = false;
    loop {
        // Take both slots before accepting, so a full proxy leaves connections queued in the
        // kernel rather than accepting and dropping them.
        let acquire = async {
            let global = Arc::clone(&global_slots).acquire_owned().await.ok()?;
            let local = Arc::clone(&frontend.slots).acquire_owned().await.ok()?;
            Some((global, local))
        };
        let permits = tokio::select! {
            p = acquire => p,
            _ = phase.wait_for(|p| *p >= Phase::Draining) => None,
        };
        let Some(permits) = permits else { return };
        let accepted = tokio::select! {
            a = listener.async_io(Interest::READABLE, accept_nonblocking) => a,
            _ = phase.wait_for(|p| *p >= Phase::Draining) => return,
        };
        match accepted {
            Ok((stream, peer)) => {
                warned_exhaustion = false;
                if !nodelay_inherited {
                    let _ = stream.set_nodelay(true);
                }
                let (target, load) = worker.dispatch.choose(worker.index);
                let accepted = Accepted {
                    frontend: Arc::clone(&frontend),
                    stream,
                    peer,
                    permits,
                    guard: sessions.enter(),
                    load,
                };
                let here = match target {
                    Target::Here => Some(accepted),
                    Target::Worker(i) => worker.dispatch.send(i, accepted).err(),
                };
                if let Some(accepted) = here {
                    spawn_session(accepted, phase.clone());
                }
            }
            Err(e) if is_exhaustion(&e) => {
                if !warned_exhaustion {
                    tracing::warn!(frontend = %frontend.name, error = %e, "accept paused: out of resources");
                    warned_exhaustion = true;
                }
                drop(permits);
                tokio::time::sleep(ACCEPT_BACKOFF).await;
            }
            Err(e) => {
                tracing::debug!(frontend = %frontend.name, error = %e, "accept failed");
            }
        }
    }
}

/// Serves the connections other workers pass to this one, until every accept loop has ended.
///
/// It also keeps a one-second timer armed on the worker for as long as it accepts. tokio wakes
/// its own poller (a write to an eventfd) whenever a timer is set earlier than the earliest
/// one it knows of; with a timer always due within a second, arming a connection's `timeout
/// connect` or `timeout server` (seconds away) no longer costs that system call.
pub async fn inbox(mut receiver: mpsc::UnboundedReceiver<Accepted>, phase: PhaseWatch) {
    let mut tick = tokio::time::interval(HEARTBEAT);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            accepted = receiver.recv() => match accepted {
                Some(accepted) => spawn_session(accepted, phase.clone()),
                None => return,
            },
            _ = tick.tick() => {}
        }
    }
}

/// Registers an accepted connection with this worker's poller and serves it in a new task.
fn spawn_session(accepted: Accepted, phase: PhaseWatch) {
    let Accepted {
        frontend,
        stream,
        peer,
        permits,
        guard,
        load,
    } = accepted;
    match TcpStream::from_std(stream) {
        Ok(stream) => {
            // The session's future is several kilobytes; boxed, the task holds a pointer, and
            // spawning it (which moves the future more than once) copies 8 bytes, not all that.
            let session = Box::pin(serve(frontend, stream, peer, phase));
            tokio::spawn(async move {
                session.await;
                drop((permits, guard, load));
            });
        }
        Err(e) => {
            tracing::debug!(frontend = %frontend.name, error = %e, "cannot register a connection")
        }
    }
}

/// Serves one accepted connection in the frontend's mode.
async fn serve(
    frontend: Arc<Frontend>,
    mut stream: TcpStream,
    peer: SocketAddr,
    phase: PhaseWatch,
) {
    let live = frontend.counters.enter();
    match frontend.mode {
        Mode::Http => {
            crate::http::session::serve(Arc::clone(&frontend), &mut stream, peer, phase).await
        }
        Mode::Tcp => crate::tcp::serve(Arc::clone(&frontend), &mut stream, peer).await,
    }
    if let Some((received, sent)) = crate::counters::tcp_bytes(&stream) {
        frontend.counters.add_bytes(received, sent);
        if let Some(backend) = &frontend.default_backend {
            backend.counters.add_bytes(received, sent);
        }
    }
    drop(live);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepted_sockets_inherit_nodelay_from_the_listener() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let _plain = std::net::TcpStream::connect(addr).unwrap();
        let (accepted, _) = accept_nonblocking(&listener).unwrap();
        assert!(!accepted.nodelay().unwrap(), "control: off by default");
        socket2::SockRef::from(&listener).set_nodelay(true).unwrap();
        let client = std::net::TcpStream::connect(addr).unwrap();
        let (accepted, peer) = accept_nonblocking(&listener).unwrap();
        assert!(accepted.nodelay().unwrap());
        assert_eq!(peer, client.local_addr().unwrap());
    }
}
