//! Load balancing: which server of a backend gets the next connection.
//!
//! A [`Balancer`] implements one `balance` algorithm over a backend's servers, following the
//! behaviour HAProxy 2.6 documents for it (this is a description-driven implementation, not a
//! port of HAProxy's code):
//!
//! - only servers that are up, have a non-zero weight and have room under their `maxconn` are
//!   candidates;
//! - active (non-`backup`) servers are used whenever at least one of them is up; only when none
//!   is, the first usable backup server takes everything (`option allbackups` is not
//!   supported). When every active server is up but full, nothing is picked: HAProxy would
//!   queue the connection in the backend rather than spill it to a backup;
//! - `roundrobin` is a smooth weighted round robin reading the current weights on every pick,
//!   `static-rr` cycles over an order fixed from the configured weights, `leastconn` favours the
//!   lowest connection count relative to weight, `first` fills servers in configuration order,
//!   and `source` / `uri` hash the client address / request path over the candidates.
//!
//! Every pick takes at most one short lock and allocates nothing.

use crate::backend::server::ServerState;
use baton_config::model::Balance;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard};

/// What the hashing algorithms hash, taken from the connection or request being balanced.
#[derive(Debug, Clone, Copy, Default)]
pub struct PickKey<'a> {
    /// The client's address, for `balance source`; `None` when the client has none (a UNIX
    /// socket), in which case `source` falls back to round robin, as HAProxy does.
    pub client: Option<IpAddr>,
    /// The request path, for `balance uri`; anything after `?` is ignored. `None` (e.g. in
    /// `mode tcp`) makes `uri` fall back to round robin.
    pub path: Option<&'a str>,
}

/// Chooses servers for one backend with its configured algorithm.
#[derive(Debug)]
pub struct Balancer {
    /// The `balance` algorithm.
    algo: Balance,
    /// `static-rr` only: the fixed visiting order, indices of active servers each repeated as
    /// often as its configured weight and spread out; empty for the other algorithms.
    static_order: Vec<usize>,
    /// State that successive picks share.
    state: Mutex<PickState>,
}

/// What one pick leaves for the next.
#[derive(Debug, Default)]
struct PickState {
    /// Smooth round robin: each server's current value (index = config order).
    current: Vec<i64>,
    /// `static-rr`: next position in the order; `leastconn`: where the tie-breaking scan starts.
    cursor: usize,
}

/// Which group of servers a pick may choose from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pool {
    /// At least one active server is up: choose among active servers.
    Active,
    /// No active server is up: only this backup server (the first usable one).
    Backup(usize),
    /// Nothing is up.
    Empty,
}

impl Balancer {
    /// A balancer for `servers` (the backend's servers in configuration order; later picks must
    /// be given the same slice).
    pub fn new(algo: Balance, servers: &[Arc<ServerState>]) -> Self {
        let static_order = match algo {
            Balance::StaticRr => static_order(servers),
            _ => Vec::new(),
        };
        Balancer {
            algo,
            static_order,
            state: Mutex::new(PickState {
                current: vec![0; servers.len()],
                cursor: 0,
            }),
        }
    }

    /// The algorithm this balancer implements.
    pub fn algorithm(&self) -> Balance {
        self.algo
    }

    /// The server to send a new connection to, or `None` when no server can take it.
    pub fn pick(&self, servers: &[Arc<ServerState>], key: PickKey<'_>) -> Option<Arc<ServerState>> {
        self.pick_index(servers, key)
            .and_then(|i| servers.get(i))
            .cloned()
    }

    /// Like [`Balancer::pick`], but gives the server's index in `servers`.
    pub fn pick_index(&self, servers: &[Arc<ServerState>], key: PickKey<'_>) -> Option<usize> {
        match pool(servers) {
            Pool::Empty => None,
            Pool::Backup(i) => servers[i].has_room().then_some(i),
            Pool::Active => self.pick_active(servers, key),
        }
    }

    /// Applies the algorithm to the active servers.
    fn pick_active(&self, servers: &[Arc<ServerState>], key: PickKey<'_>) -> Option<usize> {
        match self.algo {
            Balance::RoundRobin => self.smooth_round_robin(servers),
            Balance::StaticRr => self.static_round_robin(servers),
            Balance::LeastConn => self.least_conn(servers),
            Balance::First => servers.iter().position(|s| is_candidate(s)),
            Balance::Source => match key.client {
                Some(ip) => by_hash(servers, hash_ip(ip)),
                None => self.smooth_round_robin(servers),
            },
            Balance::Uri => match key.path {
                Some(path) => by_hash(servers, hash_path(path)),
                None => self.smooth_round_robin(servers),
            },
        }
    }

    /// Locks the shared state; a poisoned lock only means another pick panicked, and the
    /// counters it may have left half-updated are still valid numbers.
    fn state(&self) -> MutexGuard<'_, PickState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Smooth weighted round robin: every candidate's current value grows by its weight, the
    /// largest wins and loses the total weight. Over one cycle each server is picked exactly
    /// weight times, interleaved rather than in bursts.
    fn smooth_round_robin(&self, servers: &[Arc<ServerState>]) -> Option<usize> {
        let mut state = self.state();
        if state.current.len() != servers.len() {
            state.current.resize(servers.len(), 0);
        }
        let mut total = 0i64;
        let mut best: Option<usize> = None;
        for (i, server) in servers.iter().enumerate() {
            if !is_candidate(server) {
                // A server that comes back starts afresh rather than with a stale advance.
                state.current[i] = 0;
                continue;
            }
            let weight = i64::from(server.weight());
            state.current[i] += weight;
            total += weight;
            match best {
                Some(b) if state.current[i] <= state.current[b] => {}
                _ => best = Some(i),
            }
        }
        let chosen = best?;
        state.current[chosen] -= total;
        Some(chosen)
    }

    /// `static-rr`: the next candidate in the fixed order.
    fn static_round_robin(&self, servers: &[Arc<ServerState>]) -> Option<usize> {
        let len = self.static_order.len();
        let mut state = self.state();
        for step in 0..len {
            let position = (state.cursor + step) % len;
            let index = self.static_order[position];
            if servers.get(index).is_some_and(|s| is_candidate(s)) {
                state.cursor = (position + 1) % len;
                return Some(index);
            }
        }
        None
    }

    /// `leastconn`: the candidate with the lowest (connections + 1) / weight, i.e. the lowest
    /// load once this connection is added. The scan starts after the previous choice, so
    /// equally loaded servers take turns.
    fn least_conn(&self, servers: &[Arc<ServerState>]) -> Option<usize> {
        let len = servers.len();
        if len == 0 {
            return None;
        }
        let mut state = self.state();
        let start = state.cursor % len;
        let mut best: Option<(usize, u64, u64)> = None;
        for step in 0..len {
            let i = (start + step) % len;
            let server = &servers[i];
            if !is_candidate(server) {
                continue;
            }
            let load = u64::from(server.active()) + 1;
            let weight = u64::from(server.weight().max(1));
            match best {
                Some((_, b_load, b_weight)) if load * b_weight >= b_load * weight => {}
                _ => best = Some((i, load, weight)),
            }
        }
        let (chosen, _, _) = best?;
        state.cursor = (chosen + 1) % len;
        Some(chosen)
    }
}

/// Whether `server` may take a new connection now as an active server.
fn is_candidate(server: &ServerState) -> bool {
    !server.options.backup && server.usable() && server.has_room()
}

/// Decides between the active servers and the first usable backup.
fn pool(servers: &[Arc<ServerState>]) -> Pool {
    if servers.iter().any(|s| !s.options.backup && s.usable()) {
        return Pool::Active;
    }
    match servers.iter().position(|s| s.options.backup && s.usable()) {
        Some(i) => Pool::Backup(i),
        None => Pool::Empty,
    }
}

/// The `static-rr` order: the smooth sequence of one full cycle over the configured weights of
/// the active servers, so that a weight-5 server is spread among the others, not bunched.
fn static_order(servers: &[Arc<ServerState>]) -> Vec<usize> {
    let weights: Vec<i64> = servers
        .iter()
        .map(|s| match s.options.backup {
            true => 0,
            false => i64::from(s.options.weight),
        })
        .collect();
    let total: i64 = weights.iter().sum();
    let mut current = vec![0i64; servers.len()];
    let mut order = Vec::with_capacity(usize::try_from(total).unwrap_or(0));
    for _ in 0..total {
        let mut best = 0;
        for (i, weight) in weights.iter().enumerate() {
            current[i] += weight;
            if current[i] > current[best] {
                best = i;
            }
        }
        current[best] -= total;
        order.push(best);
    }
    order
}

/// Maps a hash onto the candidates, each owning a share of the hash space proportional to its
/// weight: the same hash lands on the same server as long as the candidate set and weights do
/// not change.
fn by_hash(servers: &[Arc<ServerState>], hash: u64) -> Option<usize> {
    let total: u64 = servers
        .iter()
        .filter(|s| is_candidate(s))
        .map(|s| u64::from(s.weight()))
        .sum();
    if total == 0 {
        return None;
    }
    let mut slot = hash % total;
    let mut last = None;
    for (i, server) in servers.iter().enumerate() {
        if !is_candidate(server) {
            continue;
        }
        let weight = u64::from(server.weight());
        if slot < weight {
            return Some(i);
        }
        slot -= weight;
        last = Some(i);
    }
    // Only reached when a weight changed between the two passes.
    last
}

/// Hash of a client address; an IPv4-mapped IPv6 address hashes as its IPv4 form.
fn hash_ip(ip: IpAddr) -> u64 {
    match ip.to_canonical() {
        IpAddr::V4(v4) => stable_hash(&v4.octets()),
        IpAddr::V6(v6) => stable_hash(&v6.octets()),
    }
}

/// Hash of a request path without its query string.
fn hash_path(path: &str) -> u64 {
    let path = path.split_once('?').map_or(path, |(before, _)| before);
    stable_hash(path.as_bytes())
}

/// FNV-1a (64 bits): simple, keyless, identical on every run and every machine.
fn fnv1a64(bytes: &[u8]) -> u64 {
    const OFFSET_BASIS: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    bytes
        .iter()
        .fold(OFFSET_BASIS, |h, &b| (h ^ u64::from(b)).wrapping_mul(PRIME))
}

/// A stable hash with well-mixed low bits: FNV-1a followed by a 64-bit finalizer, so that
/// `hash % n` spreads well even for short inputs such as IPv4 addresses.
pub(crate) fn stable_hash(bytes: &[u8]) -> u64 {
    let mut h = fnv1a64(bytes);
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^ (h >> 33)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::server::Status;
    use baton_config::model::ServerOptions;
    use std::net::{Ipv4Addr, SocketAddr};

    const ALL: [Balance; 6] = [
        Balance::RoundRobin,
        Balance::StaticRr,
        Balance::LeastConn,
        Balance::First,
        Balance::Source,
        Balance::Uri,
    ];

    fn server(name: &str, weight: u32, backup: bool, maxconn: u32) -> Arc<ServerState> {
        let options = ServerOptions {
            weight,
            backup,
            maxconn,
            ..ServerOptions::default()
        };
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, 8000));
        Arc::new(ServerState::new("be", name, addr, false, options))
    }

    fn weighted(weights: &[u32]) -> Vec<Arc<ServerState>> {
        weights
            .iter()
            .enumerate()
            .map(|(i, &w)| server(&format!("s{i}"), w, false, 0))
            .collect()
    }

    fn picks(b: &Balancer, servers: &[Arc<ServerState>], n: usize) -> Vec<usize> {
        (0..n)
            .map(|_| b.pick_index(servers, PickKey::default()).expect("a server"))
            .collect()
    }

    fn counts(seq: &[usize], n: usize) -> Vec<usize> {
        let mut c = vec![0; n];
        for &i in seq {
            c[i] += 1;
        }
        c
    }

    fn longest_run(seq: &[usize]) -> usize {
        seq.chunk_by(|a, b| a == b)
            .map(<[usize]>::len)
            .max()
            .unwrap_or(0)
    }

    fn ip_key(i: u32) -> IpAddr {
        IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + i))
    }

    #[test]
    fn roundrobin_5_1_1_is_exact_and_smooth() {
        let servers = weighted(&[5, 1, 1]);
        let b = Balancer::new(Balance::RoundRobin, &servers);
        let seq = picks(&b, &servers, 700);
        assert_eq!(counts(&seq, 3), vec![500, 100, 100]);
        // Within a cycle the heavy server never runs three times in a row...
        assert_eq!(&seq[..7], &[0, 0, 1, 0, 2, 0, 0]);
        assert_eq!(longest_run(&seq[..7]), 2);
        // ...and across cycle boundaries its run is 4, against 5 for plain round robin (500
        // picks among 200 others cannot all be in runs below 3: 500 / 201 gaps > 2).
        assert_eq!(longest_run(&seq), 4);
        for cycle in seq.chunks(7) {
            assert_eq!(counts(cycle, 3), vec![5, 1, 1]);
        }
        assert_smooth(&seq, &[5, 1, 1]);
    }

    /// The smooth property: after every prefix of n picks, each server's count is within one
    /// of its exact share n * w / W (plain weighted round robin breaks it: 5 of 5 first picks).
    fn assert_smooth(seq: &[usize], weights: &[i64]) {
        let total: i64 = weights.iter().sum();
        let mut seen = vec![0i64; weights.len()];
        for (n, &i) in seq.iter().enumerate() {
            seen[i] += 1;
            let n = i64::try_from(n + 1).expect("small");
            for (count, w) in seen.iter().zip(weights) {
                assert!((count * total - n * w).abs() < total, "after {n}: {seen:?}");
            }
        }
    }

    #[test]
    fn roundrobin_is_smooth_for_other_weights() {
        for weights in [[3u32, 2, 1], [10, 1, 1], [1, 1, 1], [7, 7, 2]] {
            let servers = weighted(&weights);
            let b = Balancer::new(Balance::RoundRobin, &servers);
            let seq = picks(&b, &servers, 600);
            let w: Vec<i64> = weights.iter().map(|&w| i64::from(w)).collect();
            assert_smooth(&seq, &w);
        }
    }

    #[test]
    fn roundrobin_equal_weights_alternate() {
        let servers = weighted(&[1, 1, 1]);
        let b = Balancer::new(Balance::RoundRobin, &servers);
        assert_eq!(picks(&b, &servers, 6), vec![0, 1, 2, 0, 1, 2]);
    }

    #[test]
    fn roundrobin_follows_runtime_weight_changes() {
        let servers = weighted(&[1, 1]);
        let b = Balancer::new(Balance::RoundRobin, &servers);
        assert_eq!(counts(&picks(&b, &servers, 100), 2), vec![50, 50]);
        servers[0].set_weight(3);
        assert_eq!(counts(&picks(&b, &servers, 400), 2), vec![300, 100]);
        servers[1].set_weight(0);
        assert_eq!(counts(&picks(&b, &servers, 10), 2), vec![10, 0]);
    }

    #[test]
    fn static_rr_5_1_1_is_exact_and_periodic() {
        let servers = weighted(&[5, 1, 1]);
        let b = Balancer::new(Balance::StaticRr, &servers);
        let seq = picks(&b, &servers, 700);
        assert_eq!(counts(&seq, 3), vec![500, 100, 100]);
        for cycle in seq.chunks(7) {
            assert_eq!(cycle, &seq[..7]);
        }
    }

    #[test]
    fn static_rr_ignores_weight_changes_but_not_weight_zero() {
        let servers = weighted(&[2, 1]);
        let b = Balancer::new(Balance::StaticRr, &servers);
        servers[1].set_weight(50);
        assert_eq!(counts(&picks(&b, &servers, 300), 2), vec![200, 100]);
        servers[0].set_weight(0);
        assert_eq!(counts(&picks(&b, &servers, 30), 2), vec![0, 30]);
    }

    #[test]
    fn leastconn_picks_fewest_connections() {
        let servers = weighted(&[1, 1, 1]);
        let b = Balancer::new(Balance::LeastConn, &servers);
        let _g0 = [servers[0].track(), servers[0].track()];
        let _g2 = servers[2].track();
        assert_eq!(b.pick_index(&servers, PickKey::default()), Some(1));
        let _g1 = [servers[1].track(), servers[1].track()];
        assert_eq!(b.pick_index(&servers, PickKey::default()), Some(2));
    }

    #[test]
    fn leastconn_weighs_connections() {
        let servers = weighted(&[3, 1]);
        let b = Balancer::new(Balance::LeastConn, &servers);
        // Keep every picked connection open: the spread follows the weights.
        let mut guards = Vec::new();
        for _ in 0..40 {
            let s = b.pick(&servers, PickKey::default()).expect("a server");
            guards.push(s.track());
        }
        assert_eq!((servers[0].active(), servers[1].active()), (30, 10));
    }

    #[test]
    fn leastconn_equal_servers_alternate() {
        let servers = weighted(&[1, 1, 1]);
        let b = Balancer::new(Balance::LeastConn, &servers);
        assert_eq!(picks(&b, &servers, 6), vec![0, 1, 2, 0, 1, 2]);
    }

    #[test]
    fn first_fills_servers_in_order_up_to_maxconn() {
        let servers = vec![
            server("a", 1, false, 2),
            server("b", 1, false, 1),
            server("c", 1, false, 0),
        ];
        let b = Balancer::new(Balance::First, &servers);
        let mut guards = Vec::new();
        let mut seq = Vec::new();
        for _ in 0..5 {
            let s = b.pick(&servers, PickKey::default()).expect("a server");
            seq.push(s.name.clone());
            guards.push(s.track());
        }
        assert_eq!(seq, ["a", "a", "b", "c", "c"]);
        guards.remove(0);
        assert_eq!(
            b.pick(&servers, PickKey::default())
                .map(|s| s.name.clone())
                .as_deref(),
            Some("a")
        );
    }

    #[test]
    fn first_without_maxconn_always_first() {
        let servers = weighted(&[1, 1]);
        let b = Balancer::new(Balance::First, &servers);
        let _g: Vec<_> = (0..10).map(|_| servers[0].track()).collect();
        assert_eq!(picks(&b, &servers, 5), vec![0; 5]);
    }

    #[test]
    fn source_is_stable_and_spreads() {
        let servers = weighted(&[1, 1, 1]);
        let b = Balancer::new(Balance::Source, &servers);
        let other = Balancer::new(Balance::Source, &servers);
        let mut c = [0usize; 3];
        for i in 0..3000 {
            let key = PickKey {
                client: Some(ip_key(i)),
                path: None,
            };
            let first = b.pick_index(&servers, key).expect("a server");
            assert_eq!(b.pick_index(&servers, key), Some(first));
            assert_eq!(other.pick_index(&servers, key), Some(first));
            c[first] += 1;
        }
        assert!(c.iter().all(|&n| (850..=1150).contains(&n)), "{c:?}");
    }

    #[test]
    fn source_follows_weights_and_maps_v4_mapped_v6_like_v4() {
        let servers = weighted(&[3, 1]);
        let b = Balancer::new(Balance::Source, &servers);
        let mut c = [0usize; 2];
        for i in 0..4000 {
            let key = PickKey {
                client: Some(ip_key(i)),
                path: None,
            };
            c[b.pick_index(&servers, key).expect("a server")] += 1;
        }
        assert!((2800..=3200).contains(&c[0]), "{c:?}");
        let v4: IpAddr = "192.0.2.7".parse().expect("ip");
        let mapped: IpAddr = "::ffff:192.0.2.7".parse().expect("ip");
        assert_eq!(hash_ip(v4), hash_ip(mapped));
    }

    #[test]
    fn hash_is_stable_across_runs() {
        // Published FNV-1a test vectors: the hash must never depend on a random key.
        assert_eq!(fnv1a64(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a64(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(stable_hash(b"a"), stable_hash(b"a"));
        assert_ne!(stable_hash(b"a"), stable_hash(b"b"));
    }

    #[test]
    fn uri_ignores_query_string_and_spreads() {
        let servers = weighted(&[1, 1, 1, 1]);
        let b = Balancer::new(Balance::Uri, &servers);
        fn key(path: &str) -> PickKey<'_> {
            PickKey {
                client: None,
                path: Some(path),
            }
        }
        let plain = b.pick_index(&servers, key("/img/logo.png"));
        assert_eq!(b.pick_index(&servers, key("/img/logo.png?v=2")), plain);
        assert_eq!(b.pick_index(&servers, key("/img/logo.png?v=3&x")), plain);
        let mut c = [0usize; 4];
        for i in 0..4000 {
            let path = format!("/item/{i}");
            c[b.pick_index(&servers, key(&path)).expect("a server")] += 1;
        }
        assert!(c.iter().all(|&n| (850..=1150).contains(&n)), "{c:?}");
    }

    #[test]
    fn hash_with_one_server_down_keeps_others_consistent_per_set() {
        let servers = weighted(&[1, 1, 1]);
        let b = Balancer::new(Balance::Source, &servers);
        servers[1].set_status(Status::Down);
        for i in 0..200 {
            let key = PickKey {
                client: Some(ip_key(i)),
                path: None,
            };
            let chosen = b.pick_index(&servers, key);
            assert_ne!(chosen, Some(1));
            assert_eq!(b.pick_index(&servers, key), chosen);
        }
    }

    #[test]
    fn hash_without_key_falls_back_to_round_robin() {
        let servers = weighted(&[1, 1]);
        for algo in [Balance::Source, Balance::Uri] {
            let b = Balancer::new(algo, &servers);
            assert_eq!(picks(&b, &servers, 4), vec![0, 1, 0, 1], "{algo:?}");
        }
    }

    #[test]
    fn backups_only_when_no_active_is_up() {
        let servers = vec![
            server("a", 1, false, 0),
            server("b", 1, false, 0),
            server("bk1", 1, true, 0),
            server("bk2", 1, true, 0),
        ];
        for algo in ALL {
            let b = Balancer::new(algo, &servers);
            for s in &servers {
                s.set_status(Status::Up);
            }
            for _ in 0..10 {
                let s = b.pick(&servers, PickKey::default()).expect("a server");
                assert!(!s.options.backup, "{algo:?} used a backup");
            }
            servers[0].set_status(Status::Down);
            servers[1].set_status(Status::Maint);
            for _ in 0..10 {
                let s = b.pick(&servers, PickKey::default()).expect("a server");
                assert_eq!(s.name, "bk1", "{algo:?}");
            }
            servers[2].set_status(Status::Down);
            let s = b.pick(&servers, PickKey::default()).expect("a server");
            assert_eq!(s.name, "bk2", "{algo:?}");
        }
    }

    #[test]
    fn full_actives_do_not_spill_to_backups() {
        let servers = vec![server("a", 1, false, 1), server("bk", 1, true, 0)];
        let b = Balancer::new(Balance::RoundRobin, &servers);
        let _g = servers[0].track();
        assert_eq!(b.pick_index(&servers, PickKey::default()), None);
    }

    #[test]
    fn unusable_servers_are_never_chosen() {
        let servers = weighted(&[1, 1, 1, 1, 1]);
        servers[0].set_status(Status::Down);
        servers[1].set_status(Status::Maint);
        servers[2].set_status(Status::Drain);
        servers[3].set_weight(0);
        for algo in ALL {
            let b = Balancer::new(algo, &servers);
            for i in 0..50 {
                let path = format!("/p{i}");
                let key = PickKey {
                    client: Some(ip_key(i)),
                    path: Some(&path),
                };
                assert_eq!(b.pick_index(&servers, key), Some(4), "{algo:?}");
            }
        }
    }

    #[test]
    fn none_when_nothing_is_usable() {
        let servers = vec![server("a", 1, false, 0), server("bk", 1, true, 0)];
        servers[0].set_status(Status::Down);
        servers[1].set_status(Status::Maint);
        for algo in ALL {
            let b = Balancer::new(algo, &servers);
            let key = PickKey {
                client: Some(ip_key(1)),
                path: Some("/"),
            };
            assert!(b.pick(&servers, key).is_none(), "{algo:?}");
            assert!(b.pick(&[], key).is_none(), "{algo:?}");
        }
    }
}
