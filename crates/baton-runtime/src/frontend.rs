//! Frontends at run time: their listeners' accept loops, connection limits, and the hand-off of
//! each accepted connection to the tcp or HTTP session code.
//!
//! Limits are HAProxy's: above the global `maxconn` or the frontend's, baton stops accepting
//! (connections wait in the kernel's accept queue) and resumes as soon as a slot frees. Accept
//! errors from exhausted resources (EMFILE, ENFILE, ENOBUFS, ENOMEM) pause the loop briefly
//! instead of spinning or exiting. A paused listener (SIGTTOU) leaves the poller until it is
//! resumed; a soft stop ends the loop, after the frontend's `grace` if it has one.

use crate::backend::Backend;
use crate::dispatch::{Dispatch, LoadGuard, Target};
use crate::drain::DrainPolicy;
use crate::http::rules::ProxyRules;
use crate::lifecycle::{Phase, PhaseWatch};
use crate::log::record::{self, Record};
use crate::pause::LoopGuard;
use crate::sessions::{SessionGuard, SessionTracker};
use baton_config::model::{ForwardFor, HttpConnectionMode, Mode, Proxy, Timeouts};
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};
use tokio::io::unix::AsyncFd;
use tokio::io::Interest;
use tokio::net::TcpStream;
use tokio::sync::{mpsc, OwnedSemaphorePermit, Semaphore};

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
    /// The frontend's rules (ACLs, `http-request`, `redirect`, `use_backend`,
    /// `http-response`, `errorfile`), when it has any.
    pub rules: Option<Arc<ProxyRules>>,
    /// Whether requests must go through the rules path (this frontend or a backend it can
    /// route to has request rules); otherwise heads are forwarded in one pass.
    pub request_rules: bool,
    /// A `listen` section: its backend half is itself, whose rules already ran as frontend.
    pub listen: bool,
    /// `maxconn` of the frontend.
    pub slots: Arc<Semaphore>,
    /// Traffic counters for `show stat`.
    pub counters: Arc<crate::counters::Counters>,
    /// `maxconn` as configured or derived, for `show stat`'s `slim`.
    pub maxconn: u32,
    /// `grace` of the proxy: how long its listeners keep accepting once a soft stop begins.
    pub grace: Option<Duration>,
    /// How a soft stop ends its client connections (`close-spread-time`), process-wide.
    pub drain: Arc<DrainPolicy>,
    /// Its logging, when it has log targets.
    pub log: Option<Arc<crate::log::Logger>>,
}

impl Frontend {
    /// Builds a frontend; `global_maxconn` bounds the frontend's own `maxconn`; `rules` are
    /// the proxy's compiled rules, if it has any; `drain` is the process's soft-stop policy.
    pub fn new(
        proxy: &Proxy,
        default_backend: Option<Arc<Backend>>,
        global_maxconn: u32,
        rules: Option<Arc<ProxyRules>>,
        drain: Arc<DrainPolicy>,
    ) -> Self {
        let maxconn = proxy
            .maxconn
            .unwrap_or(global_maxconn)
            .min(global_maxconn)
            .max(1);
        let request_rules = rules.as_ref().is_some_and(|r| r.has_request_rules())
            || default_backend
                .as_ref()
                .and_then(|b| b.rules.as_ref())
                .is_some_and(|r| r.has_request_rules())
            || rules.as_ref().is_some_and(|r| r.routes_to_rules());
        Frontend {
            name: proxy.name.clone(),
            mode: proxy.mode,
            timeouts: proxy.timeouts,
            default_backend,
            forwardfor: proxy.forwardfor.clone(),
            http_connection_mode: proxy.http_connection_mode,
            request_rules,
            rules,
            listen: proxy.kind == baton_config::model::ProxyKind::Listen,
            slots: Arc::new(Semaphore::new(maxconn as usize)),
            counters: Arc::default(),
            maxconn,
            grace: proxy.grace.filter(|g| !g.is_zero()),
            drain,
            log: None,
        }
    }

    /// The same frontend with its logger.
    pub fn with_log(mut self, log: Option<Arc<crate::log::Logger>>) -> Self {
        self.log = log;
        self
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

/// Why [`accept_until`] returned.
enum Left {
    /// The listener was paused: deregister until it resumes.
    Paused,
    /// The soft stop (after this frontend's grace) or a hard stop: accept no more.
    Stopped,
}

/// Resolves when this frontend must stop accepting: once draining, after its `grace`; at once
/// on a hard stop.
async fn stop_accepting(mut phase: PhaseWatch, grace: Option<Duration>) {
    let _ = phase.wait_for(|p| *p >= Phase::Draining).await;
    if let Some(grace) = grace {
        tokio::select! {
            _ = tokio::time::sleep(grace) => {}
            _ = phase.wait_for(|p| *p >= Phase::Stopped) => {}
        }
    }
}

/// What every accept on one listener shares, lent to [`accept_until`].
struct AcceptContext {
    /// The listener's frontend.
    frontend: Arc<Frontend>,
    /// The global `maxconn` slots.
    global_slots: Arc<Semaphore>,
    /// Live sessions, which a draining process waits for.
    sessions: SessionTracker,
    /// The lifecycle, handed to each session.
    phase: PhaseWatch,
    /// Where accepted connections are served.
    worker: Worker,
    /// Accepted sockets inherit `TCP_NODELAY` from the listener (else set per connection).
    nodelay_inherited: bool,
}

/// Accepts connections on one listener until the soft stop (and the frontend's grace) ends it.
/// `hold` keeps the listener's pause control alive while the loop runs; while paused, the
/// listener is out of the poller.
pub async fn accept_loop(
    frontend: Arc<Frontend>,
    listener: std::net::TcpListener,
    hold: LoopGuard,
    global_slots: Arc<Semaphore>,
    sessions: SessionTracker,
    phase: PhaseWatch,
    worker: Worker,
) {
    // Linux gives accepted sockets the listener's TCP_NODELAY: set once here rather than once
    // per connection (a system call each).
    let nodelay_inherited = socket2::SockRef::from(&listener).set_nodelay(true).is_ok();
    let mut paused = hold.control().watch();
    let stop = stop_accepting(phase.clone(), frontend.grace);
    tokio::pin!(stop);
    let cx = AcceptContext {
        frontend,
        global_slots,
        sessions,
        phase,
        worker,
        nodelay_inherited,
    };
    let mut std_listener = listener;
    loop {
        tokio::select! {
            _ = paused.wait_for(|p| !*p) => {}
            _ = &mut stop => return,
        }
        // A fresh registration: one that saw the pause's hang-up would report it forever.
        // SAFETY: the AsyncFd owns the listener, whose descriptor stays open and the same until
        // it is taken back out with `into_inner`.
        let listener =
            match unsafe { AsyncFd::register_with_interest(std_listener, Interest::READABLE) } {
                Ok(l) => l,
                Err(e) => return tracing::error!("cannot register a listener: {e}"),
            };
        let left = accept_until(&cx, &listener, &mut paused, stop.as_mut()).await;
        if matches!(left, Left::Stopped) {
            return;
        }
        // Paused: leave the poller until resumed.
        std_listener = listener.into_inner();
    }
}

/// Accepts connections until the listener is paused or must stop.
async fn accept_until(
    cx: &AcceptContext,
    listener: &AsyncFd<std::net::TcpListener>,
    paused: &mut tokio::sync::watch::Receiver<bool>,
    mut stop: std::pin::Pin<&mut impl std::future::Future<Output = ()>>,
) -> Left {
    let frontend = &cx.frontend;
    let mut warned_exhaustion = false;
    loop {
        // Take both slots before accepting, so a full proxy leaves connections queued in the
        // kernel rather than accepting and dropping them.
        let acquire = async {
            let global = Arc::clone(&cx.global_slots).acquire_owned().await.ok()?;
            let local = Arc::clone(&frontend.slots).acquire_owned().await.ok()?;
            Some((global, local))
        };
        let permits = tokio::select! {
            p = acquire => p,
            _ = paused.wait_for(|p| *p) => return Left::Paused,
            _ = stop.as_mut() => return Left::Stopped,
        };
        let Some(permits) = permits else {
            return Left::Stopped;
        };
        let accepted = tokio::select! {
            a = listener.async_io(Interest::READABLE, accept_nonblocking) => a,
            _ = paused.wait_for(|p| *p) => return Left::Paused,
            _ = stop.as_mut() => return Left::Stopped,
        };
        match accepted {
            Ok((stream, peer)) => {
                warned_exhaustion = false;
                if !cx.nodelay_inherited {
                    let _ = stream.set_nodelay(true);
                }
                let (target, load) = cx.worker.dispatch.choose(cx.worker.index);
                let accepted = Accepted {
                    frontend: Arc::clone(frontend),
                    stream,
                    peer,
                    permits,
                    guard: cx.sessions.enter(),
                    load,
                };
                let here = match target {
                    Target::Here => Some(accepted),
                    Target::Worker(i) => cx.worker.dispatch.send(i, accepted).err(),
                };
                if let Some(accepted) = here {
                    spawn_session(accepted, cx.phase.clone());
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
pub async fn inbox(mut receiver: mpsc::UnboundedReceiver<Accepted>, phase: PhaseWatch) {
    while let Some(accepted) = receiver.recv().await {
        spawn_session(accepted, phase.clone());
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
            let session = Box::pin(serve(frontend, stream, peer, phase, guard));
            tokio::spawn(async move {
                session.await;
                drop((permits, load));
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
    session: crate::sessions::SessionGuard,
) {
    let live = frontend.counters.enter();
    // Only a frontend that logs reads clocks or addresses for its log lines.
    let mut tcp_record = None;
    if let Some(log) = &frontend.log {
        if !log.logs_traffic() {
            log.connect(peer, stream.local_addr().ok());
        } else if frontend.mode == Mode::Tcp {
            let mut r = Record::start(peer, SystemTime::now(), Instant::now());
            if log.needs_local_addr() {
                r.local = stream.local_addr().ok();
            }
            tcp_record = Some(r);
        }
    }
    let mut fin_pending = false;
    match frontend.mode {
        Mode::Http => {
            // The session charges each request's bytes to its backend.
            let ended =
                crate::http::session::serve(Arc::clone(&frontend), &mut stream, peer, phase).await;
            fin_pending = ended.fin_pending;
            if let Some((received, sent)) = ended.counted {
                frontend.counters.add_bytes(received, sent);
            }
        }
        Mode::Tcp => {
            crate::tcp::serve(
                Arc::clone(&frontend),
                &mut stream,
                peer,
                tcp_record.as_mut(),
            )
            .await;
            // The kernel counted what the tunnel moved.
            if let Some((received, sent)) = crate::counters::tcp_bytes(&stream) {
                frontend.counters.add_bytes(received, sent);
                if let Some(backend) = &frontend.default_backend {
                    backend.counters.add_bytes(received, sent);
                }
            }
        }
    }
    if let Some(r) = tcp_record.as_mut() {
        r.tt = record::ms(r.start_instant, Instant::now());
    }
    if let (Some(log), Some(r)) = (&frontend.log, &tcp_record) {
        if !(log.dont_log_null && r.bytes_in == 0) {
            log.log(r, crate::counters::Counters::get(&frontend.counters.cur));
        }
    }
    // The session leaves the counts (`%ac`, `%fc` of the next lines) before its client sees
    // the close.
    drop(live);
    drop(session);
    if fin_pending {
        crate::sockio::send_fin(&stream);
    }
    drop(stream);
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
