//! Assembling and running a configuration: bind every listener (as root, before privileges
//! are dropped), then start accept loops and health checks on the tokio runtime, and stop them
//! through the lifecycle.

use crate::backend::{health, Backend};
use crate::frontend::{self, Frontend};
use crate::lifecycle::{Lifecycle, Phase};
use crate::listener::{self, BindError};
use crate::sessions::SessionTracker;
use baton_config::model::Config;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
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
    listeners: Vec<(Arc<Frontend>, std::net::TcpListener)>,
    /// Every backend by name.
    backends: HashMap<String, Arc<Backend>>,
    /// Global `maxconn`.
    maxconn: u32,
}

impl Bound {
    /// The local addresses listened on, in configuration order (tests use port 0).
    pub fn local_addrs(&self) -> Vec<std::net::SocketAddr> {
        self.listeners
            .iter()
            .filter_map(|(_, l)| l.local_addr().ok())
            .collect()
    }
}

/// Resolves servers and binds every listener of `config`.
pub fn bind(config: &Config) -> Result<Bound, StartError> {
    let maxconn = config.global.maxconn.unwrap_or_else(default_maxconn);
    let mut backends = HashMap::new();
    for proxy in config.proxies.iter().filter(|p| p.kind.is_backend()) {
        let backend = Backend::new(proxy).map_err(|source| StartError::Resolve {
            backend: proxy.name.clone(),
            source,
        })?;
        backends.insert(proxy.name.clone(), Arc::new(backend));
    }
    let mut listeners = Vec::new();
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
        let frontend = Arc::new(Frontend::new(proxy, default_backend, maxconn));
        let backlog = proxy.maxconn.unwrap_or(maxconn).min(65535);
        for bind in &proxy.binds {
            let listener =
                listener::bind_tcp(bind, backlog).map_err(|source| StartError::Bind {
                    frontend: proxy.name.clone(),
                    source,
                })?;
            listeners.push((Arc::clone(&frontend), listener));
        }
    }
    Ok(Bound {
        listeners,
        backends,
        maxconn,
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
    /// Stops the health checks.
    stop_checks: tokio::sync::watch::Sender<bool>,
}

/// Starts accept loops and health checks. Must run inside a tokio runtime.
pub fn start(bound: Bound) -> std::io::Result<Running> {
    let lifecycle = Arc::new(Lifecycle::default());
    let sessions = SessionTracker::default();
    let global_slots = Arc::new(Semaphore::new(bound.maxconn as usize));
    for (frontend, listener) in bound.listeners {
        let listener = tokio::net::TcpListener::from_std(listener)?;
        tokio::spawn(frontend::accept_loop(
            frontend,
            listener,
            Arc::clone(&global_slots),
            sessions.clone(),
            lifecycle.watch(),
        ));
    }
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
        backends: bound.backends,
        stop_checks,
    })
}

impl Running {
    /// Soft stop: stop accepting now, let sessions finish (bounded by `hard_stop_after`).
    pub async fn soft_stop(&self, hard_stop_after: Option<Duration>) {
        self.lifecycle.advance(Phase::Draining);
        let drained = self.sessions.wait_idle();
        match hard_stop_after {
            Some(limit) => {
                let _ = tokio::time::timeout(limit, drained).await;
            }
            None => drained.await,
        }
        self.stop();
    }

    /// Hard stop: everything ends now.
    pub fn stop(&self) {
        let _ = self.stop_checks.send(true);
        self.lifecycle.advance(Phase::Stopped);
    }
}
