//! How a soft stop ends client connections: `close-spread-time`, with HAProxy's meaning.
//!
//! Once draining begins, every HTTP client connection decides when it stops being kept alive:
//!
//! - `close-spread-time` unset (baton's default, which loses nothing): an active connection's
//!   next response carries `Connection: close`; an idle one is never closed under its client —
//!   it ends with its keep-alive timeout.
//! - `close-spread-time WINDOW`: each connection draws an instant within the window (from the
//!   start of the drain). Before it, responses keep the connection alive; after it, responses
//!   carry `Connection: close` and an idle connection is closed. `0` closes idle connections at
//!   once (HAProxy 2.4+'s default, which can cut a request its client is sending).
//! - `close-spread-time infinite`: no `Connection: close` is added and idle connections live
//!   until their timeouts.

use baton_config::model::CloseSpread;
use std::hash::{BuildHasher, Hasher};
use std::sync::OnceLock;
use tokio::time::Instant;

/// The process-wide soft-stop policy for client connections, and when draining began.
#[derive(Debug, Default)]
pub struct DrainPolicy {
    /// `close-spread-time`, if configured.
    close_spread: Option<CloseSpread>,
    /// When draining began (set once, by the lifecycle's owner).
    began: OnceLock<Instant>,
}

/// When a connection stops being kept alive during a drain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseAt {
    /// Its next response closes it; it is never closed while idle (the default).
    NextResponse,
    /// From this instant on: responses close it and, if idle, it is closed.
    Instant(Instant),
    /// Never actively (`infinite`): only timeouts end it.
    Never,
}

impl DrainPolicy {
    /// A policy for the configured `close-spread-time`.
    pub fn new(close_spread: Option<CloseSpread>) -> Self {
        DrainPolicy {
            close_spread,
            began: OnceLock::new(),
        }
    }

    /// Records that draining begins now (later calls change nothing).
    pub fn begin(&self) {
        let _ = self.began.set(Instant::now());
    }

    /// Whether idle connections must watch for the drain (only a spread window closes them).
    pub fn closes_idle(&self) -> bool {
        matches!(self.close_spread, Some(CloseSpread::Window(_)))
    }

    /// Draws one connection's closing point; call once draining has begun.
    pub fn draw(&self) -> CloseAt {
        match self.close_spread {
            None => CloseAt::NextResponse,
            Some(CloseSpread::Infinite) => CloseAt::Never,
            Some(CloseSpread::Window(window)) => {
                let began = *self.began.get_or_init(Instant::now);
                let nanos = window.as_nanos().min(u64::MAX as u128) as u64;
                let offset = if nanos == 0 { 0 } else { random() % nanos };
                CloseAt::Instant(began + std::time::Duration::from_nanos(offset))
            }
        }
    }
}

impl CloseAt {
    /// Whether a response sent now must carry `Connection: close`.
    pub fn close_response(self) -> bool {
        match self {
            CloseAt::NextResponse => true,
            CloseAt::Instant(at) => Instant::now() >= at,
            CloseAt::Never => false,
        }
    }
}

/// A random number, good enough to spread closes (std's per-process random hash keys).
fn random() -> u64 {
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(0);
    h.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn default_and_infinite() {
        let p = DrainPolicy::new(None);
        assert!(!p.closes_idle());
        assert_eq!(p.draw(), CloseAt::NextResponse);
        assert!(CloseAt::NextResponse.close_response());
        let p = DrainPolicy::new(Some(CloseSpread::Infinite));
        assert!(!p.closes_idle());
        assert!(!p.draw().close_response());
    }

    #[tokio::test(start_paused = true)]
    async fn window_draws_spread_instants_inside_it() {
        let window = Duration::from_secs(10);
        let p = DrainPolicy::new(Some(CloseSpread::Window(window)));
        assert!(p.closes_idle());
        p.begin();
        let began = Instant::now();
        let mut seen = std::collections::BTreeSet::new();
        for _ in 0..50 {
            let CloseAt::Instant(at) = p.draw() else {
                panic!("a window draws instants")
            };
            assert!(at >= began && at < began + window);
            seen.insert((at - began).as_secs());
        }
        assert!(seen.len() >= 4, "50 draws in 10 s fell in {seen:?}");
        let zero = DrainPolicy::new(Some(CloseSpread::Window(Duration::ZERO)));
        zero.begin();
        assert!(zero.draw().close_response());
    }
}
