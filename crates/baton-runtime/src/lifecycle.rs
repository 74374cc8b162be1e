//! The process's lifecycle as an explicit state machine that the rest of the runtime, the logs
//! and tests observe: running → handing over → grace → draining → stopped.
//!
//! Transitions only move forward (a draining process never serves new connections again); every
//! task that must react to a phase change holds a [`PhaseWatch`].

use tokio::sync::watch;

/// Where the process is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Phase {
    /// Accepting and serving.
    Running,
    /// Sending its listeners to a new process; still serving.
    HandingOver,
    /// Soft stop requested, within the global `grace`: still accepting, as HAProxy's
    /// "stopping" state before the real soft stop.
    Grace,
    /// Soft stop: no longer accepting; finishing what is in flight.
    Draining,
    /// Everything finished or was cut; the process exits.
    Stopped,
}

impl Phase {
    /// The word used in logs and `show info`.
    pub fn name(self) -> &'static str {
        match self {
            Phase::Running => "running",
            Phase::HandingOver => "handing-over",
            Phase::Grace => "grace",
            Phase::Draining => "draining",
            Phase::Stopped => "stopped",
        }
    }
}

/// The owner of the phase: moves it forward.
#[derive(Debug)]
pub struct Lifecycle {
    /// Broadcasts the current phase.
    sender: watch::Sender<Phase>,
}

/// A read-only view of the phase that can wait for changes.
pub type PhaseWatch = watch::Receiver<Phase>;

impl Default for Lifecycle {
    fn default() -> Self {
        Lifecycle {
            sender: watch::channel(Phase::Running).0,
        }
    }
}

impl Lifecycle {
    /// The current phase.
    pub fn phase(&self) -> Phase {
        *self.sender.borrow()
    }

    /// A watcher for tasks.
    pub fn watch(&self) -> PhaseWatch {
        self.sender.subscribe()
    }

    /// Moves to `next` if it is later than the current phase; returns whether it moved.
    pub fn advance(&self, next: Phase) -> bool {
        let moved = self.sender.send_if_modified(|current| {
            if next > *current {
                *current = next;
                true
            } else {
                false
            }
        });
        if moved {
            tracing::info!(phase = next.name(), "lifecycle: {}", next.name());
        }
        moved
    }
}

/// Waits until the phase is at least `phase`.
pub async fn reached(watch: &mut PhaseWatch, phase: Phase) {
    // An error means the lifecycle was dropped: treat as stopped.
    let _ = watch.wait_for(|p| *p >= phase).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phases_only_move_forward() {
        let l = Lifecycle::default();
        assert_eq!(l.phase(), Phase::Running);
        assert!(l.advance(Phase::Draining));
        assert!(!l.advance(Phase::HandingOver));
        assert!(!l.advance(Phase::Draining));
        assert_eq!(l.phase(), Phase::Draining);
        assert!(l.advance(Phase::Stopped));
    }

    #[tokio::test]
    async fn watchers_see_changes() {
        let l = Lifecycle::default();
        let mut w = l.watch();
        let waiter = tokio::spawn(async move { reached(&mut w, Phase::Draining).await });
        l.advance(Phase::Draining);
        waiter.await.unwrap();
    }
}
