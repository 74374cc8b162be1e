//! Assembling and running a configuration: bind every listener (as root, before privileges
//! are dropped), then start accept loops and health checks on the tokio runtime, and stop them
//! through the lifecycle.

use crate::backend::{health, Backend};
use crate::drain::DrainPolicy;
use crate::frontend::{self, Frontend};
use crate::handover::inherited::{self, Address, Inherited, Wanted};
use crate::handover::server::ExportedSocket;
use crate::handover::wire::Record;
use crate::http::rules::ProxyRules;
use crate::lifecycle::{Lifecycle, Phase};
use crate::listener::{self, BindError};
use crate::pause::{ListenerControl, Outcome};
use crate::sessions::SessionTracker;
use crate::stats::{self, ApiContext, StatsListener};
use baton_config::model::{Bind, Config};
use std::collections::HashMap;
use std::os::fd::{AsFd, OwnedFd};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;

/// Why the runtime could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// A listener could not be bound.
    #[error("Starting frontend {frontend}: {source}")]
    Bind {
        /// The frontend whose `bind` failed.
        frontend: String,
        /// The cause, with the address.
        #[source]
        source: BindError,
    },
    /// A stats socket could not be bound.
    #[error("{0}")]
    Stats(#[from] stats::StatsBindError),
    /// A log target could not be opened, or a log-format does not compile.
    #[error("{0}")]
    Log(#[from] crate::log::LogSetupError),
    /// A server address could not be resolved.
    #[error("backend '{backend}': {source}")]
    Resolve {
        /// The backend.
        backend: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

/// The default global `maxconn` when none is configured: what the file-descriptor limit allows
/// with two descriptors per proxied connection, keeping some for listeners and logs.
pub fn default_maxconn() -> u32 {
    let soft = nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE)
        .map(|(soft, _)| soft)
        .unwrap_or(1024);
    (soft.saturating_sub(100) / 2).clamp(1, 1_000_000) as u32
}

/// A configuration with its sockets bound, ready to start.
#[derive(Debug)]
pub struct Bound {
    /// Frontends with their listeners.
    listeners: Vec<BoundListener>,
    /// Stats sockets.
    stats: Vec<StatsListener>,
    /// Duplicates of every listening socket, for the next process (`_getsocks`).
    exports: Vec<ExportedSocket>,
    /// Every backend by name.
    backends: HashMap<String, Arc<Backend>>,
    /// Backend ids in configuration order.
    backend_ids: HashMap<String, usize>,
    /// Global `maxconn`.
    maxconn: u32,
    /// `stats timeout`.
    stats_timeout: Duration,
    /// `stats maxconn`.
    stats_maxconn: u32,
    /// How many listening sockets were taken from the old process.
    pub inherited: usize,
    /// Log targets, opened here, written to once started.
    logs: crate::log::Registry,
    /// Live client sessions (created here so that loggers can report `%ac`).
    sessions: SessionTracker,
    /// How a soft stop ends client connections (`close-spread-time`).
    drain: Arc<DrainPolicy>,
    /// The global `grace`: how long a soft stop waits before it begins.
    grace: Option<Duration>,
}

/// One bound listening socket of a frontend.
#[derive(Debug)]
struct BoundListener {
    /// Its frontend.
    frontend: Arc<Frontend>,
    /// The socket.
    socket: std::net::TcpListener,
    /// The backlog it listens with (again, after a pause).
    backlog: u32,
    /// Taken from the old process (`-x`): shared with it, never to be paused.
    inherited: bool,
}

impl Bound {
    /// The local addresses listened on, in configuration order (tests use port 0).
    pub fn local_addrs(&self) -> Vec<std::net::SocketAddr> {
        self.listeners
            .iter()
            .filter_map(|l| l.socket.local_addr().ok())
            .collect()
    }
}

/// What a `bind` line wants of an inherited socket.
fn wanted(bind: &Bind, default_v6only: bool) -> Option<Wanted> {
    let addr = listener::socket_addr(&bind.address)?;
    Some(Wanted {
        address: Address::Inet(addr),
        interface: bind.options.interface.clone().unwrap_or_default(),
        v6only: addr.is_ipv6() && (bind.options.v6only || (default_v6only && !bind.options.v4v6)),
        transparent: bind.options.transparent,
    })
}

/// A listener from the old process, put back in listening state with this line's backlog.
fn reuse_listener(fd: OwnedFd, backlog: u32) -> std::io::Result<std::net::TcpListener> {
    let socket = socket2::Socket::from(fd);
    socket.listen(backlog.clamp(1, i32::MAX as u32) as i32)?;
    socket.set_nonblocking(true)?;
    Ok(socket.into())
}

/// A duplicate of a listening socket's descriptor for the export list.
fn export(fd: impl AsFd, interface: Option<&str>) -> std::io::Result<ExportedSocket> {
    Ok(ExportedSocket {
        fd: fd.as_fd().try_clone_to_owned()?,
        record: Record {
            interface: interface.unwrap_or_default().to_string(),
            ..Default::default()
        },
    })
}

/// Resolves servers and binds every listener of `config`, reusing sockets received from the
/// old process (`inherited`) where they match; unclaimed received sockets are closed.
pub fn bind(config: &Config, inherited: &mut Inherited) -> Result<Bound, StartError> {
    let maxconn = config.global.maxconn.unwrap_or_else(default_maxconn);
    let default_v6only = inherited::system_bindv6only();
    let mut backends = HashMap::new();
    let mut backend_ids = HashMap::new();
    let userlists = Arc::new(crate::auth::Userlists::new(&config.userlists));
    for proxy in config.proxies.iter().filter(|p| p.kind.is_backend()) {
        let mut backend = Backend::new(proxy).map_err(|source| StartError::Resolve {
            backend: proxy.name.clone(),
            source,
        })?;
        if proxy.has_http_rules() || !proxy.errorfiles.is_empty() {
            let rules = ProxyRules::new(proxy, &HashMap::new(), Arc::clone(&userlists));
            backend.rules = Some(Arc::new(rules));
        }
        backend_ids.insert(proxy.name.clone(), backend_ids.len() + 1);
        backends.insert(proxy.name.clone(), Arc::new(backend));
    }
    let sessions = SessionTracker::default();
    let mut logs = crate::log::Registry::new(config)?;
    let mut exports = Vec::new();
    let mut taken = 0;
    let mut listeners = Vec::new();
    let drain = Arc::new(DrainPolicy::new(config.global.close_spread_time));
    for proxy in config.proxies.iter().filter(|p| p.kind.is_frontend()) {
        let default_backend = proxy
            .default_backend
            .as_ref()
            .and_then(|(name, _)| backends.get(name).cloned());
        // A listen section is its own backend.
        let default_backend = default_backend.or_else(|| {
            (proxy.kind.is_backend() && !proxy.servers.is_empty())
                .then(|| backends.get(&proxy.name).cloned())
                .flatten()
        });
        let logger = logs.logger(proxy, &sessions)?;
        let rules = (proxy.has_http_rules() || !proxy.errorfiles.is_empty())
            .then(|| Arc::new(ProxyRules::new(proxy, &backends, Arc::clone(&userlists))));
        let frontend = Arc::new(
            Frontend::new(proxy, default_backend, maxconn, rules, Arc::clone(&drain))
                .with_log(logger),
        );
        let backlog = proxy.maxconn.unwrap_or(maxconn).min(65535);
        for bind in &proxy.binds {
            let fail = |source| StartError::Bind {
                frontend: proxy.name.clone(),
                source,
            };
            let io_fail = |source| {
                fail(BindError {
                    address: format!("{:?}", bind.address),
                    source,
                })
            };
            let received = wanted(bind, default_v6only).and_then(|w| inherited.take(&w));
            let was_received = received.is_some();
            let listener = match received {
                Some(fd) => {
                    taken += 1;
                    reuse_listener(fd, backlog).map_err(io_fail)?
                }
                None => listener::bind_tcp(bind, backlog).map_err(fail)?,
            };
            exports.push(export(&listener, bind.options.interface.as_deref()).map_err(io_fail)?);
            listeners.push(BoundListener {
                frontend: Arc::clone(&frontend),
                socket: listener,
                backlog: bind.options.backlog.unwrap_or(backlog),
                inherited: was_received,
            });
        }
    }
    let mut stats_listeners = Vec::new();
    for socket in &config.global.stats_sockets {
        let name = format!("{:?}", socket.address);
        let stats_fail = |source| stats::StatsBindError {
            path: name.clone(),
            source,
        };
        let fd: OwnedFd = match stats::unix_path(socket) {
            Some(path) => {
                let wanted = Wanted {
                    address: Address::Unix(path.to_path_buf()),
                    interface: String::new(),
                    v6only: false,
                    transparent: false,
                };
                match inherited.take(&wanted) {
                    Some(fd) => {
                        taken += 1;
                        fd
                    }
                    None => stats::bind_unix(path, socket)?.into(),
                }
            }
            None => {
                // A TCP runtime API socket (`ipv4@`/`ipv6@`): bound like a `bind` line.
                let as_bind = Bind {
                    address: socket.address.clone(),
                    options: socket.options.clone(),
                    location: socket.location.clone(),
                };
                match wanted(&as_bind, default_v6only).and_then(|w| inherited.take(&w)) {
                    Some(fd) => {
                        taken += 1;
                        reuse_listener(fd, 16).map_err(stats_fail)?.into()
                    }
                    None => listener::bind_tcp(&as_bind, 16)
                        .map_err(|e| stats_fail(e.source))?
                        .into(),
                }
            }
        };
        exports.push(export(&fd, None).map_err(stats_fail)?);
        stats_listeners.push(StatsListener {
            config: socket.clone(),
            fd,
        });
    }
    let unclaimed = inherited.close_unclaimed();
    if unclaimed > 0 {
        tracing::info!("closed {unclaimed} inherited sockets that no bind line uses");
    }
    Ok(Bound {
        listeners,
        stats: stats_listeners,
        exports,
        backends,
        backend_ids,
        maxconn,
        stats_timeout: config.global.stats_timeout,
        stats_maxconn: config.global.stats_maxconn,
        inherited: taken,
        drain,
        grace: config.global.grace.filter(|g| !g.is_zero()),
        logs,
        sessions,
    })
}

/// A started configuration.
#[derive(Debug)]
pub struct Running {
    /// The lifecycle every task watches.
    pub lifecycle: Arc<Lifecycle>,
    /// Live client sessions.
    pub sessions: SessionTracker,
    /// Backends, for the runtime API and tests.
    pub backends: HashMap<String, Arc<Backend>>,
    /// Live accept loops (each holds a guard until it has stopped accepting).
    acceptors: SessionTracker,
    /// Live runtime API sessions.
    stats_sessions: SessionTracker,
    /// Stops the health checks.
    stop_checks: tokio::sync::watch::Sender<bool>,
    /// What the runtime API sees, to serve connections that arrive other than through a stats
    /// socket (from the master in master-worker mode).
    pub api: Arc<ApiContext>,
    /// Every frontend listener's pause control (SIGTTOU / SIGTTIN).
    listeners: Vec<Arc<ListenerControl>>,
    /// How a soft stop ends client connections; told when draining begins.
    drain: Arc<DrainPolicy>,
    /// The global `grace`.
    grace: Option<Duration>,
    /// Every proxy's name and session counters as frontend and as backend, in configuration
    /// order, for the `Proxy X stopped` log lines.
    proxies: Vec<crate::log::ProxyTotals>,
}

/// Starts accept loops, stats sockets and health checks. Must run inside a tokio runtime; the
/// stats sockets and health checks run on it, and every listener gets one accept loop on each
/// of `workers` (a worker thread's single-threaded runtime). Whichever worker accepts a
/// connection serves it to the end on its own thread: no hand-off between threads on the
/// request path, as with HAProxy's threads sharing one listening socket.
pub fn start(bound: Bound, workers: &[tokio::runtime::Handle]) -> std::io::Result<Running> {
    let nbthread = workers.len();
    let lifecycle = Arc::new(Lifecycle::default());
    let sessions = bound.sessions.clone();
    bound.logs.start();
    let exports = Arc::new(Mutex::new(bound.exports));
    let mut frontends: Vec<(usize, Arc<Frontend>)> = Vec::new();
    for l in &bound.listeners {
        if !frontends.iter().any(|(_, f)| Arc::ptr_eq(f, &l.frontend)) {
            frontends.push((frontends.len() + 1, Arc::clone(&l.frontend)));
        }
    }
    let mut controls = Vec::with_capacity(bound.listeners.len());
    for l in &bound.listeners {
        let name = match l.socket.local_addr() {
            Ok(addr) => format!("{}/{addr}", l.frontend.name),
            Err(_) => l.frontend.name.clone(),
        };
        let fd = l.socket.try_clone()?.into();
        controls.push(Arc::new(ListenerControl::new(
            name,
            fd,
            l.backlog,
            l.inherited,
        )));
    }
    let proxies = crate::log::ProxyTotals::list(&frontends, &bound.backends, &bound.backend_ids);
    let ctx = Arc::new(ApiContext {
        frontends,
        backends: bound.backends.clone(),
        backend_ids: bound.backend_ids,
        lifecycle: Arc::clone(&lifecycle),
        sessions: sessions.clone(),
        started: Instant::now(),
        nbthread,
        maxconn: bound.maxconn,
        exports: Arc::clone(&exports),
        timeout: bound.stats_timeout,
        slots: Arc::new(Semaphore::new(bound.stats_maxconn.max(1) as usize)),
        stats_sessions: SessionTracker::default(),
        listeners: controls.clone(),
    });
    for listener in bound.stats {
        tokio::spawn(stats::serve(listener, Arc::clone(&ctx)));
    }
    // Once draining, this process no longer offers its listeners: when its stats sessions (a
    // hand-over in progress) are over, drop the duplicates so that closing a listener really
    // closes it here.
    let mut phase = lifecycle.watch();
    let stats_sessions = ctx.stats_sessions.clone();
    tokio::spawn(async move {
        crate::lifecycle::reached(&mut phase, Phase::Draining).await;
        stats_sessions.wait_idle().await;
        if let Ok(mut list) = exports.lock() {
            list.clear();
        }
    });
    for worker in workers {
        worker.spawn(timer_heartbeat());
    }
    let global_slots = Arc::new(Semaphore::new(bound.maxconn as usize));
    let acceptors = SessionTracker::default();
    for (l, control) in bound.listeners.into_iter().zip(&controls) {
        for worker in workers {
            let listener = l.socket.try_clone()?;
            let (frontend, slots) = (Arc::clone(&l.frontend), Arc::clone(&global_slots));
            let (sessions, phase) = (sessions.clone(), lifecycle.watch());
            let guard = acceptors.enter();
            let hold = control.enter();
            worker.spawn(async move {
                frontend::accept_loop(frontend, listener, hold, slots, sessions, phase).await;
                drop(guard);
            });
        }
    }
    crate::log::register_servers(&bound.backends);
    let (stop_checks, checks_stopped) = tokio::sync::watch::channel(false);
    for backend in bound.backends.values() {
        for server in backend.servers.iter().filter(|s| s.options.check) {
            let spec = health::CheckSpec::new(
                &server.options,
                backend.http_check.as_ref(),
                &backend.timeouts,
            );
            tokio::spawn(health::run(
                Arc::clone(server),
                spec,
                checks_stopped.clone(),
            ));
        }
    }
    Ok(Running {
        lifecycle,
        sessions,
        acceptors,
        stats_sessions: ctx.stats_sessions.clone(),
        backends: bound.backends,
        stop_checks,
        api: ctx,
        listeners: controls,
        drain: bound.drain,
        grace: bound.grace,
        proxies,
    })
}

/// How far ahead each runtime's timer driver always has a wake-up planned.
const HEARTBEAT: Duration = Duration::from_secs(1);

/// Keeps a timer at most [`HEARTBEAT`] ahead on a worker's runtime. tokio's timer driver
/// writes to its wake-up eventfd whenever a timer is armed earlier than its next planned
/// wake-up — with no other timer pending, that is every `timeout connect` of a connection:
/// one system call and one extra poller event per request. With this wake-up planned at most a
/// second ahead, timeouts of seconds never force one (it costs one wake-up a second when idle).
async fn timer_heartbeat() {
    loop {
        tokio::time::sleep(HEARTBEAT).await;
    }
}

impl Running {
    /// Soft stop: after the global `grace` (still accepting), stop accepting (after each
    /// frontend's own `grace`), let sessions finish; `hard_stop_after`, counted from now,
    /// bounds it all.
    pub async fn soft_stop(&self, hard_stop_after: Option<Duration>) {
        let deadline = hard_stop_after.map(|limit| tokio::time::Instant::now() + limit);
        if let Some(grace) = self.grace {
            self.lifecycle.advance(Phase::Grace);
            tracing::info!("soft stop in {} ms (grace)", grace.as_millis());
            match deadline {
                Some(d) => {
                    tokio::time::sleep_until(d.min(tokio::time::Instant::now() + grace)).await
                }
                None => tokio::time::sleep(grace).await,
            }
        }
        self.drain.begin();
        self.lifecycle.advance(Phase::Draining);
        crate::log::ProxyTotals::log_stopped(&self.proxies);
        // Every accept loop must have left first: one may have just accepted a connection
        // whose session it has not registered yet, and that connection must be served too.
        // Runtime API sessions too: one may be handing the listeners to the next process.
        let acceptors = self.acceptors.clone();
        let sessions = self.sessions.clone();
        let stats_sessions = self.stats_sessions.clone();
        let drained = async move {
            acceptors.wait_idle().await;
            sessions.wait_idle().await;
            stats_sessions.wait_idle().await;
        };
        match deadline {
            Some(d) => {
                if tokio::time::timeout_at(d, drained).await.is_err() {
                    tracing::warn!("soft-stop running for too long, performing a hard-stop");
                }
            }
            None => drained.await,
        }
        self.stop();
    }

    /// Pauses every listener (SIGTTOU), except those shared with another process.
    pub fn pause(&self) {
        self.each_listener(ListenerControl::pause, "Paused");
    }

    /// Resumes every paused listener (SIGTTIN).
    pub fn resume(&self) {
        self.each_listener(ListenerControl::resume, "Resumed");
    }

    /// Applies a pause or resume to each listener and logs each outcome.
    fn each_listener(&self, action: fn(&ListenerControl) -> Outcome, done: &str) {
        for l in &self.listeners {
            match action(l) {
                Outcome::Done => tracing::warn!("{done} listener {}.", l.name),
                Outcome::RefusedShared => tracing::warn!(
                    "Not pausing listener {}: it is shared with another process (-x or _getsocks), \
                     and pausing it would break that process too; it keeps accepting.",
                    l.name
                ),
                Outcome::Unchanged | Outcome::Failed => {}
            }
        }
    }

    /// Hard stop: everything ends now.
    pub fn stop(&self) {
        let _ = self.stop_checks.send(true);
        self.lifecycle.advance(Phase::Stopped);
    }
}
