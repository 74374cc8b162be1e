//! Load-balancing algorithms (temporary stand-in: plain round robin over usable servers; the
//! real algorithms are being written on another branch).

use super::server::ServerState;
use baton_config::model::Balance;
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// What a pick may depend on.
#[derive(Debug, Clone, Copy, Default)]
pub struct PickKey<'a> {
    /// The client's address (`balance source`).
    pub client: Option<IpAddr>,
    /// The request path (`balance uri`).
    pub path: Option<&'a str>,
}

/// Chooses a server.
#[derive(Debug)]
pub struct Balancer {
    /// Next index.
    next: AtomicUsize,
}

impl Balancer {
    /// A balancer for `algo`.
    pub fn new(_algo: Balance, _servers: &[Arc<ServerState>]) -> Self {
        Balancer {
            next: AtomicUsize::new(0),
        }
    }

    /// Picks a usable server with room.
    pub fn pick(
        &self,
        servers: &[Arc<ServerState>],
        _key: &PickKey<'_>,
    ) -> Option<Arc<ServerState>> {
        let n = servers.len();
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        (0..n)
            .map(|i| &servers[(start + i) % n])
            .find(|s| s.usable() && s.has_room() && !s.options.backup)
            .cloned()
    }
}
