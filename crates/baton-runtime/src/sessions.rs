//! Counting live client sessions, so a draining process knows when it has finished.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use tokio::sync::Notify;

/// Shared counter of live sessions with a wake-up when it reaches zero.
#[derive(Debug, Clone, Default)]
pub struct SessionTracker {
    /// The counter and its notifier.
    inner: Arc<Inner>,
}

/// The tracker's shared state.
#[derive(Debug, Default)]
struct Inner {
    /// Live sessions.
    live: AtomicUsize,
    /// Notified when `live` drops to zero.
    idle: Notify,
}

/// One live session; leaving it decrements the count.
#[derive(Debug)]
pub struct SessionGuard {
    /// The tracker's shared state.
    inner: Arc<Inner>,
}

impl SessionTracker {
    /// Registers a new session.
    pub fn enter(&self) -> SessionGuard {
        self.inner.live.fetch_add(1, Ordering::AcqRel);
        SessionGuard {
            inner: Arc::clone(&self.inner),
        }
    }

    /// Live sessions now.
    pub fn live(&self) -> usize {
        self.inner.live.load(Ordering::Acquire)
    }

    /// Waits until no session is live.
    pub async fn wait_idle(&self) {
        loop {
            let notified = self.inner.idle.notified();
            if self.live() == 0 {
                return;
            }
            notified.await;
        }
    }
}

impl Drop for SessionGuard {
    fn drop(&mut self) {
        if self.inner.live.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.inner.idle.notify_waiters();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn waits_for_the_last_session() {
        let t = SessionTracker::default();
        let a = t.enter();
        let b = t.enter();
        assert_eq!(t.live(), 2);
        let waiter = tokio::spawn({
            let t = t.clone();
            async move { t.wait_idle().await }
        });
        drop(a);
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished());
        drop(b);
        waiter.await.unwrap();
    }
}
