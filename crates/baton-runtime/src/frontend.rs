//! Frontends at run time: their listeners' accept loops, connection limits, and the hand-off of
//! each accepted connection to the tcp or HTTP session code.
//!
//! Limits are HAProxy's: above the global `maxconn` or the frontend's, baton stops accepting
//! (connections wait in the kernel's accept queue) and resumes as soon as a slot frees. Accept
//! errors from exhausted resources (EMFILE, ENFILE, ENOBUFS, ENOMEM) pause the loop briefly
//! instead of spinning or exiting. A paused listener (SIGTTOU) leaves the poller until it is
//! resumed; a soft stop ends the loop, after the frontend's `grace` if it has one.

use crate::backend::Backend;
use crate::drain::DrainPolicy;
use crate::http::rules::ProxyRules;
use crate::lifecycle::{Phase, PhaseWatch};
use crate::log::record::{self, Record};
use crate::pause::LoopGuard;
use crate::sessions::SessionTracker;
use baton_config::model::{ForwardFor, HttpConnectionMode, Mode, Proxy, Timeouts};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;

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

/// Accepts connections on one listener until the soft stop (and the frontend's grace) ends it.
/// `hold` keeps the listener's pause control alive while the loop runs.
pub async fn accept_loop(
    frontend: Arc<Frontend>,
    listener: std::net::TcpListener,
    hold: LoopGuard,
    global_slots: Arc<Semaphore>,
    sessions: SessionTracker,
    phase: PhaseWatch,
) {
    let mut paused = hold.control().watch();
    let stop = stop_accepting(phase.clone(), frontend.grace);
    tokio::pin!(stop);
    let mut std_listener = listener;
    loop {
        tokio::select! {
            _ = paused.wait_for(|p| !*p) => {}
            _ = &mut stop => return,
        }
        // A fresh registration: one that saw the pause's hang-up would report it forever.
        let listener = match TcpListener::from_std(std_listener) {
            Ok(l) => l,
            Err(e) => return tracing::error!("cannot register a listener: {e}"),
        };
        let left = accept_until(
            &frontend,
            &listener,
            &global_slots,
            &sessions,
            &phase,
            &mut paused,
            stop.as_mut(),
        )
        .await;
        if matches!(left, Left::Stopped) {
            return;
        }
        // Paused: leave the poller until resumed.
        std_listener = match listener.into_std() {
            Ok(l) => l,
            Err(e) => return tracing::error!("cannot deregister a listener: {e}"),
        };
    }
}

/// Accepts connections until the listener is paused or must stop.
async fn accept_until(
    frontend: &Arc<Frontend>,
    listener: &TcpListener,
    global_slots: &Arc<Semaphore>,
    sessions: &SessionTracker,
    phase: &PhaseWatch,
    paused: &mut tokio::sync::watch::Receiver<bool>,
    mut stop: std::pin::Pin<&mut impl std::future::Future<Output = ()>>,
) -> Left {
    let mut warned_exhaustion = false;
    loop {
        // Take both slots before accepting, so a full proxy leaves connections queued in the
        // kernel rather than accepting and dropping them.
        let acquire = async {
            let global = Arc::clone(global_slots).acquire_owned().await.ok()?;
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
            a = listener.accept() => a,
            _ = paused.wait_for(|p| *p) => return Left::Paused,
            _ = stop.as_mut() => return Left::Stopped,
        };
        match accepted {
            Ok((stream, peer)) => {
                warned_exhaustion = false;
                let frontend = Arc::clone(frontend);
                let guard = sessions.enter();
                let phase = phase.clone();
                tokio::spawn(async move {
                    serve(frontend, stream, peer, phase, guard).await;
                    drop(permits);
                });
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

/// Serves one accepted connection in the frontend's mode.
async fn serve(
    frontend: Arc<Frontend>,
    mut stream: TcpStream,
    peer: SocketAddr,
    phase: PhaseWatch,
    session: crate::sessions::SessionGuard,
) {
    let _ = stream.set_nodelay(true);
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
    let counted = match frontend.mode {
        Mode::Http => {
            crate::http::session::serve(Arc::clone(&frontend), &mut stream, peer, phase).await
        }
        Mode::Tcp => {
            crate::tcp::serve(
                Arc::clone(&frontend),
                &mut stream,
                peer,
                tcp_record.as_mut(),
            )
            .await;
            None
        }
    };
    if let Some(r) = tcp_record.as_mut() {
        r.tt = record::ms(r.start_instant, Instant::now());
    }
    // HTTP sessions count their bytes; tcp ones and tunnels ask the kernel.
    if let Some((received, sent)) = counted.or_else(|| crate::counters::tcp_bytes(&stream)) {
        frontend.counters.add_bytes(received, sent);
        if let Some(backend) = &frontend.default_backend {
            backend.counters.add_bytes(received, sent);
        }
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
    drop(stream);
}
