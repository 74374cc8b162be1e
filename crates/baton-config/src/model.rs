//! The typed configuration model: what the runtime consumes.
//!
//! Every value here has been parsed, unit-converted and range-checked by the loader; defaults
//! sections have already been applied to the proxies that inherit from them. Nothing downstream
//! of this crate ever sees a raw configuration word. Locations are kept where a later check or
//! the runtime must point an operator back at a line.

use crate::diag::Location;
use crate::rules::{Acl, ErrorFile, Redirect, RequestAction, ResponseAction, Rule, UseBackend};
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

/// A whole configuration: the `global` section and every proxy, in file order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Config {
    /// Process-wide settings.
    pub global: Global,
    /// Frontends, backends and listens in the order they were declared.
    pub proxies: Vec<Proxy>,
    /// `userlist` sections, for `http_auth` and `http-request auth`.
    pub userlists: Vec<crate::rules::Userlist>,
}

impl Config {
    /// The proxy named `name` that can act as a backend.
    pub fn backend(&self, name: &str) -> Option<&Proxy> {
        self.proxies
            .iter()
            .find(|p| p.name == name && p.kind.is_backend())
    }

    /// Whether any proxy or the runtime API listens somewhere.
    pub fn has_listener(&self) -> bool {
        !self.global.stats_sockets.is_empty()
            || self
                .proxies
                .iter()
                .any(|p| p.kind.is_frontend() && !p.binds.is_empty())
    }
}

/// A user or group given by name or by number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Identity {
    /// Looked up in the system databases when privileges are dropped.
    Name(String),
    /// Used as is.
    Id(u32),
}

/// The `global` section.
#[derive(Debug, Clone, PartialEq)]
pub struct Global {
    /// `daemon`: fork into the background.
    pub daemon: bool,
    /// `master-worker`: run a master that supervises workers.
    pub master_worker: bool,
    /// `maxconn`: process-wide connection limit.
    pub maxconn: Option<u32>,
    /// `nbthread`: runtime worker threads (`None`: one per CPU).
    pub nbthread: Option<u32>,
    /// `user`/`uid`: identity to switch to after binding.
    pub user: Option<Identity>,
    /// `group`/`gid`: group to switch to after binding.
    pub group: Option<Identity>,
    /// `chroot`: directory to confine the process to after binding.
    pub chroot: Option<PathBuf>,
    /// `pidfile`: where to write the pid.
    pub pidfile: Option<PathBuf>,
    /// `stats socket` lines: runtime API endpoints.
    pub stats_sockets: Vec<StatsSocket>,
    /// `stats timeout`: idle timeout of runtime API sessions (HAProxy's default 10 s).
    pub stats_timeout: Duration,
    /// `stats maxconn`: concurrent runtime API sessions (HAProxy's default 10).
    pub stats_maxconn: u32,
    /// `hard-stop-after`: bound on a soft-stopping process's life.
    pub hard_stop_after: Option<Duration>,
    /// `grace`: delay before a soft stop takes effect.
    pub grace: Option<Duration>,
    /// `close-spread-time`: window to spread idle-connection closes over at soft stop.
    pub close_spread_time: Option<CloseSpread>,
    /// `mworker-max-reloads`: reloads a worker may survive (HAProxy's default 50).
    pub mworker_max_reloads: u32,
    /// `log`, `log-tag`, `log-send-hostname`.
    pub log: crate::log_model::GlobalLog,
}

impl Default for Global {
    fn default() -> Self {
        Global {
            daemon: false,
            master_worker: false,
            maxconn: None,
            nbthread: None,
            user: None,
            group: None,
            chroot: None,
            pidfile: None,
            stats_sockets: Vec::new(),
            stats_timeout: Duration::from_secs(10),
            stats_maxconn: 10,
            hard_stop_after: None,
            grace: None,
            close_spread_time: None,
            mworker_max_reloads: 50,
            log: Default::default(),
        }
    }
}

/// `close-spread-time` value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseSpread {
    /// Spread active closes over this window.
    Window(Duration),
    /// Never close idle connections actively; let their timeouts end them.
    Infinite,
}

/// Access level of a runtime API socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub enum Level {
    /// Read-only, non-sensitive commands.
    User,
    /// Also commands that change state without risk, like `set weight`.
    Operator,
    /// Everything (HAProxy's default for a stats socket).
    #[default]
    Admin,
}

/// A `stats socket` line.
#[derive(Debug, Clone, PartialEq)]
pub struct StatsSocket {
    /// Where it listens.
    pub address: ListenAddress,
    /// Its options (`mode`, `user`, `group`, `level`, `expose-fd listeners`, ...).
    pub options: ListenerOptions,
    /// The line that declared it.
    pub location: Location,
}

/// The options after the address on a `bind` or `stats socket` line.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListenerOptions {
    /// `name`: the listener's name for the runtime API.
    pub name: Option<String>,
    /// `backlog`: the listen() queue length.
    pub backlog: Option<u32>,
    /// `v4v6`: an IPv6 listener also accepts IPv4.
    pub v4v6: bool,
    /// `v6only`: an IPv6 listener accepts IPv6 only.
    pub v6only: bool,
    /// `maxconn`: concurrent connections of this listener.
    pub maxconn: Option<u32>,
    /// `interface`: bind to this network interface.
    pub interface: Option<String>,
    /// `transparent`: bind to a foreign address.
    pub transparent: bool,
    /// `mode`: permissions of a UNIX socket (octal).
    pub mode: Option<u32>,
    /// `user`/`uid`: owner of a UNIX socket.
    pub user: Option<Identity>,
    /// `group`/`gid`: group of a UNIX socket.
    pub group: Option<Identity>,
    /// `level` of a stats socket: which runtime API commands its clients may run.
    pub level: Level,
    /// `expose-fd listeners` on a stats socket: the next process may take the listeners.
    pub expose_fd_listeners: bool,
}

/// Where a listener listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListenAddress {
    /// TCP on an IP address (`None`: every address) and a port.
    Inet {
        /// The address; `None` for the wildcard (`:80`, `*:80`).
        ip: Option<IpAddr>,
        /// Which family a wildcard binds (`ipv6@:80` binds `::`).
        family: Family,
        /// The port.
        port: u16,
    },
    /// A UNIX stream socket at this path.
    Unix(PathBuf),
    /// A Linux abstract-namespace UNIX socket (`abns@name`).
    Abstract(String),
}

/// Address family of a listener.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    /// IPv4.
    V4,
    /// IPv6.
    V6,
}

/// Proxy mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    /// Layer 4 forwarding (HAProxy's default).
    #[default]
    Tcp,
    /// HTTP/1.x processing.
    Http,
}

impl Mode {
    /// The keyword value.
    pub fn name(self) -> &'static str {
        match self {
            Mode::Tcp => "tcp",
            Mode::Http => "http",
        }
    }
}

/// What kind of section declared a proxy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProxyKind {
    /// `defaults`: a template, never run.
    Defaults,
    /// `frontend`: accepts connections.
    Frontend,
    /// `backend`: holds servers.
    Backend,
    /// `listen`: both.
    Listen,
}

impl ProxyKind {
    /// Whether it accepts connections.
    pub fn is_frontend(self) -> bool {
        matches!(self, ProxyKind::Frontend | ProxyKind::Listen)
    }

    /// Whether it holds servers.
    pub fn is_backend(self) -> bool {
        matches!(self, ProxyKind::Backend | ProxyKind::Listen)
    }

    /// The section keyword.
    pub fn name(self) -> &'static str {
        match self {
            ProxyKind::Defaults => "defaults",
            ProxyKind::Frontend => "frontend",
            ProxyKind::Backend => "backend",
            ProxyKind::Listen => "listen",
        }
    }
}

/// Load-balancing algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Balance {
    /// Weighted round robin, dynamic weights (HAProxy's default).
    #[default]
    RoundRobin,
    /// Weighted round robin, static weights.
    StaticRr,
    /// Fewest connections.
    LeastConn,
    /// First server with a free slot.
    First,
    /// Hash of the client address.
    Source,
    /// Hash of the request URI.
    Uri,
}

/// Proxy timeouts; `None` means not set (infinite, with HAProxy's warning where it gives one).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Timeouts {
    /// `timeout connect`.
    pub connect: Option<Duration>,
    /// `timeout client`.
    pub client: Option<Duration>,
    /// `timeout server`.
    pub server: Option<Duration>,
    /// `timeout tunnel`.
    pub tunnel: Option<Duration>,
    /// `timeout client-fin`.
    pub client_fin: Option<Duration>,
    /// `timeout server-fin`.
    pub server_fin: Option<Duration>,
    /// `timeout http-request`.
    pub http_request: Option<Duration>,
    /// `timeout http-keep-alive`.
    pub http_keep_alive: Option<Duration>,
    /// `timeout queue`.
    pub queue: Option<Duration>,
    /// `timeout check`.
    pub check: Option<Duration>,
}

/// How HTTP connections are kept or closed (the last of the three options wins, as in HAProxy).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HttpConnectionMode {
    /// `option http-keep-alive` (default): keep both sides open.
    #[default]
    KeepAlive,
    /// `option http-server-close`: close the server side after each response.
    ServerClose,
    /// `option httpclose`: close both sides after each response.
    Close,
}

/// `option forwardfor`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForwardFor {
    /// Header to add (default `X-Forwarded-For`).
    pub header: String,
    /// Clients in this network get no header (`except NET`).
    pub except: Option<Network>,
    /// `if-none`: only add it when the request has none.
    pub if_none: bool,
}

/// An IP network (`10.0.0.0/8`, `::1/128`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Network {
    /// Network address.
    pub addr: IpAddr,
    /// Prefix length.
    pub prefix: u8,
}

impl Network {
    /// Whether `ip` is inside this network (an IPv4-mapped IPv6 address counts as IPv4).
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (ip, self.addr) {
            (IpAddr::V4(a), IpAddr::V4(n)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(a) & mask == u32::from(n) & mask
            }
            (IpAddr::V6(a), IpAddr::V6(n)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(a) & mask == u128::from(n) & mask
            }
            (IpAddr::V6(a), IpAddr::V4(_)) => a
                .to_ipv4_mapped()
                .is_some_and(|v4| self.contains(IpAddr::V4(v4))),
            _ => false,
        }
    }
}

/// `option httpchk` and `http-check expect status`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpCheck {
    /// Request method (default `OPTIONS`).
    pub method: String,
    /// Request URI (default `/`).
    pub uri: String,
    /// HTTP version string (default `HTTP/1.0`).
    pub version: String,
    /// `http-check expect status N`: the status that means healthy; `None`: any 2xx or 3xx.
    pub expect_status: Option<u16>,
}

/// A proxy: frontend, backend, listen, or a defaults template.
#[derive(Debug, Clone, PartialEq)]
pub struct Proxy {
    /// Name (empty for an anonymous defaults section).
    pub name: String,
    /// Which section declared it.
    pub kind: ProxyKind,
    /// The section line.
    pub location: Location,
    /// `mode`.
    pub mode: Mode,
    /// `bind` lines.
    pub binds: Vec<Bind>,
    /// `server` lines.
    pub servers: Vec<Server>,
    /// `default-server` options, applied to later `server` lines.
    pub default_server: ServerOptions,
    /// `balance`.
    pub balance: Balance,
    /// `timeout ...`.
    pub timeouts: Timeouts,
    /// `maxconn` of a frontend.
    pub maxconn: Option<u32>,
    /// `retries` (HAProxy's default 3).
    pub retries: u32,
    /// `option redispatch`.
    pub redispatch: bool,
    /// `option forwardfor`.
    pub forwardfor: Option<ForwardFor>,
    /// `option http-keep-alive|http-server-close|httpclose`.
    pub http_connection_mode: HttpConnectionMode,
    /// `option idle-close-on-response`.
    pub idle_close_on_response: bool,
    /// `option httpchk` / `http-check expect`.
    pub http_check: Option<HttpCheck>,
    /// `default_backend` with the line that named it.
    pub default_backend: Option<(String, Location)>,
    /// `acl` lines and anonymous `{ ... }` blocks; conditions refer to them by index.
    pub acls: Vec<Acl>,
    /// `http-request` rules, in order.
    pub http_request: Vec<Rule<RequestAction>>,
    /// The older `redirect` rules, evaluated after the `http-request` rules.
    pub redirects: Vec<Rule<Redirect>>,
    /// `use_backend` rules, first match wins.
    pub use_backends: Vec<UseBackend>,
    /// `http-response` rules, in order.
    pub http_response: Vec<Rule<ResponseAction>>,
    /// `errorfile` lines: replacement pages by status code.
    pub errorfiles: Vec<ErrorFile>,
    /// `grace` of this proxy.
    pub grace: Option<Duration>,
    /// Whether `mode` was set explicitly (for the mode-mismatch check).
    pub mode_explicit: bool,
    /// Logging: targets, traffic log format, `dontlognull`, header captures.
    pub log: crate::log_model::ProxyLog,
}

impl Proxy {
    /// Whether it has any HTTP rule, ACL-based routing or error page that the runtime must
    /// look at per request.
    pub fn has_http_rules(&self) -> bool {
        !self.http_request.is_empty()
            || !self.redirects.is_empty()
            || !self.use_backends.is_empty()
            || !self.http_response.is_empty()
    }

    /// A proxy with HAProxy's defaults.
    pub fn new(name: String, kind: ProxyKind, location: Location) -> Self {
        Proxy {
            name,
            kind,
            location,
            mode: Mode::default(),
            binds: Vec::new(),
            servers: Vec::new(),
            default_server: ServerOptions::default(),
            balance: Balance::default(),
            timeouts: Timeouts::default(),
            maxconn: None,
            retries: 3,
            redispatch: false,
            forwardfor: None,
            http_connection_mode: HttpConnectionMode::default(),
            idle_close_on_response: false,
            http_check: None,
            default_backend: None,
            acls: Vec::new(),
            http_request: Vec::new(),
            redirects: Vec::new(),
            use_backends: Vec::new(),
            http_response: Vec::new(),
            errorfiles: Vec::new(),
            grace: None,
            mode_explicit: false,
            log: Default::default(),
        }
    }

    /// A new proxy that starts from the settings of `defaults`.
    pub fn inherit(defaults: &Proxy, name: String, kind: ProxyKind, location: Location) -> Self {
        Proxy {
            name,
            kind,
            location,
            binds: Vec::new(),
            servers: Vec::new(),
            use_backends: Vec::new(),
            // Inherited rules keep their ACLs, but a proxy cannot name a defaults ACL itself.
            acls: defaults
                .acls
                .iter()
                .map(|a| Acl {
                    name: format!("{}{}", crate::acl::INHERITED, a.name),
                    criteria: a.criteria.clone(),
                })
                .collect(),
            ..defaults.clone()
        }
    }
}

/// A `bind` line (one per address when it lists several).
#[derive(Debug, Clone, PartialEq)]
pub struct Bind {
    /// Where to listen.
    pub address: ListenAddress,
    /// The options after the address.
    pub options: ListenerOptions,
    /// The line that declared it.
    pub location: Location,
}

/// Where a server is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Host {
    /// A literal address.
    Ip(IpAddr),
    /// A name resolved at start-up.
    Name(String),
}

/// A `server` line.
#[derive(Debug, Clone, PartialEq)]
pub struct Server {
    /// Name within its backend.
    pub name: String,
    /// Address.
    pub host: Host,
    /// Port; `None` means the port the client connected to.
    pub port: Option<u16>,
    /// Options, `default-server` already applied.
    pub options: ServerOptions,
    /// The line that declared it.
    pub location: Location,
}

/// Options of `server` and `default-server`.
#[derive(Debug, Clone, PartialEq)]
pub struct ServerOptions {
    /// `check`.
    pub check: bool,
    /// `inter` (default 2 s).
    pub inter: Duration,
    /// `fastinter` (default: `inter`).
    pub fastinter: Option<Duration>,
    /// `downinter` (default: `inter`).
    pub downinter: Option<Duration>,
    /// `rise` (default 2).
    pub rise: u32,
    /// `fall` (default 3).
    pub fall: u32,
    /// `port` for checks.
    pub check_port: Option<u16>,
    /// `addr` for checks.
    pub check_addr: Option<IpAddr>,
    /// `weight` (default 1, 0..=256).
    pub weight: u32,
    /// `backup`.
    pub backup: bool,
    /// `disabled`.
    pub disabled: bool,
    /// `maxconn` (0 = unlimited).
    pub maxconn: u32,
}

impl Default for ServerOptions {
    fn default() -> Self {
        ServerOptions {
            check: false,
            inter: Duration::from_secs(2),
            fastinter: None,
            downinter: None,
            rise: 2,
            fall: 3,
            check_port: None,
            check_addr: None,
            weight: 1,
            backup: false,
            disabled: false,
            maxconn: 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn networks_match_by_prefix() {
        let net = Network {
            addr: "127.0.0.0".parse().unwrap(),
            prefix: 8,
        };
        assert!(net.contains("127.9.9.9".parse().unwrap()));
        assert!(!net.contains("10.0.0.1".parse().unwrap()));
        assert!(net.contains("::ffff:127.0.0.1".parse().unwrap()));
        let all = Network {
            addr: "0.0.0.0".parse().unwrap(),
            prefix: 0,
        };
        assert!(all.contains("1.2.3.4".parse().unwrap()));
        let v6 = Network {
            addr: "fd00::".parse().unwrap(),
            prefix: 8,
        };
        assert!(v6.contains("fd12::1".parse().unwrap()));
    }
}
