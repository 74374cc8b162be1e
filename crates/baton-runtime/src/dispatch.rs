//! Spreading accepted connections over the worker threads.
//!
//! Every worker thread runs an accept loop on every listener, and whichever is awake first
//! accepts. Left alone, the worker that happens to be running takes nearly all of a burst of
//! connections (50 keep-alive connections opened at once by a load generator all landed on one
//! thread, leaving the other core idle for the rest of the run). HAProxy hands each accepted
//! connection to a lightly loaded thread; baton does so only when the load is really uneven: a
//! worker keeps what it accepted unless it already serves more than [`SLACK`] connections more
//! than the least loaded worker, and then passes the connection to that worker through its
//! inbox. The cross-thread wake-up is paid only while the load is uneven.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use tokio::sync::mpsc;

/// How many more live connections than the least loaded worker a worker may have and still
/// keep a connection it accepted.
pub const SLACK: usize = 3;

/// Live connections of one worker, on its own cache line (each worker updates its own).
#[derive(Debug, Default)]
#[repr(align(64))]
struct Load(AtomicUsize);

/// The workers' loads and inboxes, shared by every accept loop.
#[derive(Debug)]
pub struct Dispatch<T> {
    /// Live connections per worker, by worker index.
    loads: Box<[Load]>,
    /// Where to send a connection for each worker, by worker index.
    inboxes: Vec<mpsc::UnboundedSender<T>>,
}

/// Counts one connection on a worker until dropped.
#[derive(Debug)]
pub struct LoadGuard<T> {
    /// The shared loads.
    dispatch: Arc<Dispatch<T>>,
    /// The worker serving the connection.
    worker: usize,
}

impl<T> Drop for LoadGuard<T> {
    fn drop(&mut self) {
        self.dispatch.loads[self.worker]
            .0
            .fetch_sub(1, Ordering::Relaxed);
    }
}

/// Where an accepted connection is to be served.
#[derive(Debug)]
pub enum Target {
    /// On the worker that accepted it.
    Here,
    /// On another worker: send it there with [`Dispatch::send`].
    Worker(usize),
}

impl<T> Dispatch<T> {
    /// A dispatcher for one worker per inbox, and the receiving ends, by worker index.
    pub fn new(workers: usize) -> (Arc<Self>, Vec<mpsc::UnboundedReceiver<T>>) {
        let (inboxes, receivers) = (0..workers.max(1))
            .map(|_| mpsc::unbounded_channel())
            .unzip();
        let loads = (0..workers.max(1)).map(|_| Load::default()).collect();
        (Arc::new(Dispatch { loads, inboxes }), receivers)
    }

    /// Chooses the worker for a connection that `worker` accepted, and counts the connection
    /// on it until the returned guard is dropped.
    pub fn choose(self: &Arc<Self>, worker: usize) -> (Target, LoadGuard<T>) {
        let mine = self.loads[worker].0.load(Ordering::Relaxed);
        let mut target = worker;
        let mut least = mine;
        if self.loads.len() > 1 {
            for (i, load) in self.loads.iter().enumerate() {
                let l = load.0.load(Ordering::Relaxed);
                if l < least {
                    (target, least) = (i, l);
                }
            }
            if mine <= least + SLACK {
                target = worker;
            }
        }
        self.loads[target].0.fetch_add(1, Ordering::Relaxed);
        let guard = LoadGuard {
            dispatch: Arc::clone(self),
            worker: target,
        };
        if target == worker {
            (Target::Here, guard)
        } else {
            (Target::Worker(target), guard)
        }
    }

    /// Sends a connection to a worker's inbox; gives it back if that worker has stopped.
    pub fn send(&self, worker: usize, item: T) -> Result<(), T> {
        self.inboxes[worker].send(item).map_err(|e| e.0)
    }

    /// Live connections per worker (for tests and diagnostics).
    pub fn loads(&self) -> Vec<usize> {
        self.loads
            .iter()
            .map(|l| l.0.load(Ordering::Relaxed))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_connections_until_the_load_is_uneven() {
        let (d, _rx) = Dispatch::<()>::new(2);
        // Up to SLACK more than the other worker: kept.
        let kept: Vec<_> = (0..=SLACK).map(|_| d.choose(0)).collect();
        assert!(kept.iter().all(|(t, _)| matches!(t, Target::Here)));
        // One more would make the load uneven: it goes to worker 1.
        let (t, passed) = d.choose(0);
        assert!(matches!(t, Target::Worker(1)));
        assert_eq!(d.loads(), [SLACK + 1, 1]);
        drop(passed);
        assert_eq!(d.loads(), [SLACK + 1, 0]);
        // Worker 1 accepting itself keeps what it accepts.
        let (t, _own) = d.choose(1);
        assert!(matches!(t, Target::Here));
    }

    #[test]
    fn a_single_worker_keeps_everything() {
        let (d, _rx) = Dispatch::<()>::new(1);
        let guards: Vec<_> = (0..10).map(|_| d.choose(0)).collect();
        assert!(guards.iter().all(|(t, _)| matches!(t, Target::Here)));
        assert_eq!(d.loads(), [10]);
    }

    #[test]
    fn sending_to_a_stopped_worker_gives_the_item_back() {
        let (d, rx) = Dispatch::<u32>::new(2);
        drop(rx);
        assert_eq!(d.send(1, 7), Err(7));
    }
}
