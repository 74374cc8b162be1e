//! Traffic and event logs: what `log`, `option httplog|tcplog`, `log-format`,
//! `option dontlognull` and `capture ... header` ask for.
//!
//! A frontend with log targets gets a [`Logger`]; its sessions fill a [`record::Record`] and
//! hand it over at the end of each request (HTTP) or connection (TCP). The logger renders the
//! line ([`format`]) on the session's thread and offers it to each target's bounded queue
//! ([`sink`]); writer threads add the syslog header ([`syslog`]) and send. Nothing on the data
//! path ever waits for a log target. Frontends without targets have no logger at all.

pub mod clock;
pub mod format;
pub mod record;
pub mod sample;
pub mod sink;
pub mod syslog;

use crate::sessions::SessionTracker;
use baton_config::log_model::{level, HeaderCapture, LogTarget, TrafficFormat};
use baton_config::model::{Config, Mode, Proxy};
use format::{Context, LogFormat};
use record::Record;
use sink::{Line, Sink};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::SystemTime;
use syslog::Identity;

/// Why logging could not be set up (formats are checked at load).
#[derive(Debug, thiserror::Error)]
pub enum LogSetupError {
    /// A target's socket could not be opened or its host resolved.
    #[error("{location}: cannot open log target: {source}")]
    Target {
        /// The `log` line.
        location: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

/// The global targets, for the process's own events (server up/down, stopping).
static EVENT_SINKS: OnceLock<Vec<Arc<Sink>>> = OnceLock::new();

/// Sends an event line (`Server be/s1 is DOWN, ...`) to the global log targets, as HAProxy
/// does; a no-op without any.
pub fn event(level: u8, text: String) {
    let Some(sinks) = EVENT_SINKS.get().filter(|s| !s.is_empty()) else {
        return;
    };
    let line = Arc::new(Line {
        time: SystemTime::now(),
        level,
        tag: Arc::from("haproxy"),
        text,
    });
    for s in sinks {
        s.send(&line);
    }
}

/// The servers of every backend, for the counts HAProxy appends to a `Server ... is DOWN`
/// line (servers left, sessions).
static BACKEND_SERVERS: OnceLock<HashMap<String, Vec<Arc<crate::backend::server::ServerState>>>> =
    OnceLock::new();

/// Records the backends' servers (once, at start).
pub fn register_servers(backends: &HashMap<String, Arc<crate::backend::Backend>>) {
    let map = backends
        .iter()
        .map(|(name, b)| (name.clone(), b.servers.clone()))
        .collect();
    let _ = BACKEND_SERVERS.set(map);
}

/// A server went down: HAProxy's line with what is left, then, when nothing is, the
/// backend's emergency line.
pub fn server_down(server: &crate::backend::server::ServerState, message: &str) {
    let servers = BACKEND_SERVERS
        .get()
        .and_then(|m| m.get(&server.backend))
        .map(Vec::as_slice)
        .unwrap_or_default();
    let left = |backup: bool| {
        servers
            .iter()
            .filter(|s| s.options.backup == backup && s.usable())
            .count()
    };
    let (active, backup) = (left(false), left(true));
    event(
        level::ALERT,
        format!(
            "{message} {active} active and {backup} backup servers left. {} sessions active, 0 requeued, 0 remaining in queue.",
            server.active()
        ),
    );
    if active + backup == 0 {
        event(
            level::EMERG,
            format!("backend {} has no server available!", server.backend),
        );
    }
}

/// Every target of a configuration, opened once even when many proxies use it.
#[derive(Debug, Default)]
pub struct Registry {
    /// Sinks by their `log` line (one per line: `log global` shares the global ones).
    sinks: HashMap<String, Arc<Sink>>,
    /// Header values shared by all sinks.
    identity: Option<Arc<Identity>>,
    /// The global tag.
    tag: Option<Arc<str>>,
    /// The host name for `%H`.
    hostname: Arc<str>,
}

impl Registry {
    /// Opens the global targets (before privileges are dropped).
    pub fn new(config: &Config) -> Result<Self, LogSetupError> {
        let system = syslog::system_hostname();
        // Without `log-send-hostname`, HAProxy 2.6 writes `localhost` in rfc3164 headers and
        // `-` in rfc5424 ones.
        let (hostname, hostname_5424) = match &config.global.log.send_hostname {
            Some(h) if !h.is_empty() => (h.clone(), h.clone()),
            Some(_) => (system.clone(), system.clone()),
            None => ("localhost".to_string(), "-".to_string()),
        };
        let mut registry = Registry {
            sinks: HashMap::new(),
            identity: Some(Arc::new(Identity {
                pid: std::process::id(),
                hostname,
                hostname_5424,
            })),
            tag: Some(Arc::from(
                config.global.log.tag.as_deref().unwrap_or("haproxy"),
            )),
            hostname: Arc::from(system.as_str()),
        };
        let globals = registry.sinks_for(&config.global.log.targets)?;
        let _ = EVENT_SINKS.set(globals);
        Ok(registry)
    }

    /// The sinks of these targets, opening those not yet open.
    fn sinks_for(&mut self, targets: &[LogTarget]) -> Result<Vec<Arc<Sink>>, LogSetupError> {
        let identity = self.identity.clone().unwrap_or_else(|| {
            Arc::new(Identity {
                pid: std::process::id(),
                hostname: "localhost".into(),
                hostname_5424: "-".into(),
            })
        });
        let mut out = Vec::with_capacity(targets.len());
        for t in targets {
            let key = format!("{}:{}", t.location, t.location.line);
            let sink = match self.sinks.get(&key) {
                Some(s) => Arc::clone(s),
                None => {
                    let s = Sink::open(t, Arc::clone(&identity)).map_err(|source| {
                        LogSetupError::Target {
                            location: t.location.to_string(),
                            source,
                        }
                    })?;
                    let s = Arc::new(s);
                    self.sinks.insert(key, Arc::clone(&s));
                    s
                }
            };
            out.push(sink);
        }
        Ok(out)
    }

    /// The logger of a frontend; `None` when it has no targets.
    pub fn logger(
        &mut self,
        proxy: &Proxy,
        sessions: &SessionTracker,
    ) -> Result<Option<Arc<Logger>>, LogSetupError> {
        if proxy.log.targets.is_empty() {
            return Ok(None);
        }
        let sinks = self.sinks_for(&proxy.log.targets)?;
        let mut traffic = proxy.log.format.clone();
        // HAProxy falls back to the TCP line for `option httplog` on a TCP frontend.
        if proxy.mode == Mode::Tcp
            && matches!(traffic, TrafficFormat::Http | TrafficFormat::HttpClf)
        {
            traffic = TrafficFormat::Tcp;
        }
        let format = traffic.parsed().map(|f| LogFormat::new(&f));
        let tag = match &proxy.log.tag {
            Some(t) => Arc::from(t.as_str()),
            None => self.tag.clone().unwrap_or_else(|| Arc::from("haproxy")),
        };
        Ok(Some(Arc::new(Logger {
            frontend: proxy.name.clone(),
            mode: proxy.mode,
            sinks,
            format,
            dont_log_null: proxy.log.dont_log_null,
            request_captures: proxy.log.request_captures.clone(),
            response_captures: proxy.log.response_captures.clone(),
            tag,
            hostname: Arc::clone(&self.hostname),
            sessions: sessions.clone(),
            log_counter: AtomicU64::new(0),
        })))
    }

    /// Starts every writer thread (after daemonising).
    pub fn start(&self) {
        for s in self.sinks.values() {
            s.start();
        }
    }
}

/// A frontend's logging.
#[derive(Debug)]
pub struct Logger {
    /// Frontend name (`%f`).
    frontend: String,
    /// The frontend's mode (`Connect from ... (fe/HTTP)`).
    mode: Mode,
    /// Its targets.
    sinks: Vec<Arc<Sink>>,
    /// The traffic line; `None` for the `Connect from` line at accept.
    format: Option<LogFormat>,
    /// `option dontlognull`.
    pub dont_log_null: bool,
    /// `capture request header`.
    pub request_captures: Vec<HeaderCapture>,
    /// `capture response header`.
    pub response_captures: Vec<HeaderCapture>,
    /// The syslog tag.
    tag: Arc<str>,
    /// `%H`.
    hostname: Arc<str>,
    /// Live sessions of the process (`%ac`).
    sessions: SessionTracker,
    /// Lines logged so far (`%lc`).
    log_counter: AtomicU64,
}

impl Logger {
    /// Whether lines are written at the end of requests/connections (otherwise once at
    /// accept, HAProxy's default `Connect from` line).
    pub fn logs_traffic(&self) -> bool {
        self.format.is_some()
    }

    /// Whether records need the frontend's local address.
    pub fn needs_local_addr(&self) -> bool {
        self.format.as_ref().is_some_and(|f| f.needs_local_addr)
    }

    /// Whether records need the local address of the server connection.
    pub fn needs_backend_source(&self) -> bool {
        self.format.as_ref().is_some_and(|f| f.needs_backend_source)
    }

    /// HAProxy's default line, at accept: `Connect from C:P to L:P (fe/HTTP)`.
    pub fn connect(&self, client: SocketAddr, local: Option<SocketAddr>) {
        if self.format.is_some() {
            return;
        }
        let local = local.map_or_else(|| "-".to_string(), |l| l.to_string());
        let mode = match self.mode {
            Mode::Http => "HTTP",
            Mode::Tcp => "TCP",
        };
        self.send(format!(
            "Connect from {client} to {local} ({}/{mode})",
            self.frontend
        ));
    }

    /// Logs a finished request or connection; `feconn` is the frontend's live connections.
    pub fn log(&self, rec: &Record, feconn: u64) {
        let Some(format) = &self.format else { return };
        let ctx = Context {
            frontend: &self.frontend,
            hostname: &self.hostname,
            pid: std::process::id(),
            actconn: self.sessions.live() as u64,
            feconn,
            log_counter: self.log_counter.fetch_add(1, Ordering::Relaxed),
        };
        let mut text = String::with_capacity(256);
        format.render(rec, &ctx, &mut text);
        self.send(text);
    }

    /// Offers a rendered line to every target.
    fn send(&self, text: String) {
        let line = Arc::new(Line {
            time: SystemTime::now(),
            level: level::INFO,
            tag: Arc::clone(&self.tag),
            text,
        });
        for s in &self.sinks {
            s.send(&line);
        }
    }
}

/// The values of `captures` in a message head (request or status line first): the last
/// occurrence of each header, trimmed, cut to the capture's length; `None` when absent.
pub fn capture_headers(head: &[u8], captures: &[HeaderCapture]) -> Vec<Option<String>> {
    let mut values = vec![None; captures.len()];
    let text = String::from_utf8_lossy(head);
    for line in text.split('\n').skip(1) {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        for (i, c) in captures.iter().enumerate() {
            if name.trim().eq_ignore_ascii_case(&c.name) {
                let v = value.trim();
                let mut cut = v.len().min(c.len);
                while !v.is_char_boundary(cut) {
                    cut -= 1;
                }
                values[i] = Some(v[..cut].to_string());
            }
        }
    }
    values
}

/// A proxy's cumulated sessions, for HAProxy's `Proxy NAME stopped (cumulated conns: FE: N,
/// BE: M).` line at soft stop.
#[derive(Debug, Clone)]
pub struct ProxyTotals {
    /// Its name.
    name: String,
    /// Its counters as a frontend, if it is one.
    frontend: Option<Arc<crate::counters::Counters>>,
    /// Its counters as a backend, if it is one.
    backend: Option<Arc<crate::counters::Counters>>,
}

impl ProxyTotals {
    /// Frontends in their order, then backends that are not also frontends, in theirs.
    pub fn list(
        frontends: &[(usize, Arc<crate::frontend::Frontend>)],
        backends: &HashMap<String, Arc<crate::backend::Backend>>,
        backend_ids: &HashMap<String, usize>,
    ) -> Vec<ProxyTotals> {
        let mut out: Vec<ProxyTotals> = frontends
            .iter()
            .map(|(_, f)| ProxyTotals {
                name: f.name.clone(),
                frontend: Some(Arc::clone(&f.counters)),
                backend: backends.get(&f.name).map(|b| Arc::clone(&b.counters)),
            })
            .collect();
        let mut rest: Vec<(&String, &Arc<crate::backend::Backend>)> = backends
            .iter()
            .filter(|(name, _)| !out.iter().any(|p| &p.name == *name))
            .collect();
        rest.sort_by_key(|(name, _)| backend_ids.get(*name).copied().unwrap_or(usize::MAX));
        out.extend(rest.into_iter().map(|(name, b)| ProxyTotals {
            name: name.clone(),
            frontend: None,
            backend: Some(Arc::clone(&b.counters)),
        }));
        out
    }

    /// Sends one `Proxy NAME stopped` line per proxy to the global targets (level warning,
    /// as HAProxy).
    pub fn log_stopped(list: &[ProxyTotals]) {
        let total = |c: &Option<Arc<crate::counters::Counters>>| {
            c.as_ref()
                .map_or(0, |c| crate::counters::Counters::get(&c.total))
        };
        for p in list {
            event(
                level::WARNING,
                format!(
                    "Proxy {} stopped (cumulated conns: FE: {}, BE: {}).",
                    p.name,
                    total(&p.frontend),
                    total(&p.backend)
                ),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn captures_take_the_last_occurrence_cut_to_length() {
        let head =
            b"GET / HTTP/1.1\r\nHost: a.example\r\nX-Id: first\r\nx-id:  second-and-long \r\n\r\n";
        let caps = [
            HeaderCapture {
                name: "X-ID".into(),
                len: 6,
            },
            HeaderCapture {
                name: "Referer".into(),
                len: 10,
            },
            HeaderCapture {
                name: "host".into(),
                len: 64,
            },
        ];
        assert_eq!(
            capture_headers(head, &caps),
            [Some("second".into()), None, Some("a.example".into())]
        );
    }
}
