//! Traffic counters for the runtime API's `show stat`: sessions, bytes, errors and responses per
//! frontend and backend. Relaxed atomics: exact totals, no ordering needed, no lock on the
//! request path.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// The counters of one proxy (frontend or backend).
#[derive(Debug, Default)]
pub struct Counters {
    /// Sessions now (`scur`).
    pub cur: AtomicU64,
    /// Most sessions at once (`smax`).
    pub max: AtomicU64,
    /// Sessions so far (`stot`).
    pub total: AtomicU64,
    /// Bytes received from clients (`bin`).
    pub bytes_in: AtomicU64,
    /// Bytes sent to clients (`bout`).
    pub bytes_out: AtomicU64,
    /// Requests refused as malformed or late: 400, 408 (`ereq`).
    pub req_errors: AtomicU64,
    /// Connections to servers that failed (`econ`).
    pub conn_errors: AtomicU64,
    /// Responses that failed: 502, 504 (`eresp`).
    pub resp_errors: AtomicU64,
    /// HTTP requests (`req_tot`).
    pub requests: AtomicU64,
    /// HTTP responses by class: 1xx..5xx, other (`hrsp_*`).
    pub responses: [AtomicU64; 6],
    /// Requests now waiting in the backend's queue for a server slot (`qcur`).
    pub queued: AtomicU64,
    /// Most requests waiting at once (`qmax`).
    pub queued_max: AtomicU64,
}

/// One request waiting in a backend's queue; leaving (with a slot, a timeout or a closed
/// client) decrements `queued`.
#[derive(Debug)]
pub struct QueueGuard {
    /// The counters to decrement.
    counters: Arc<Counters>,
    /// Requests that were already waiting when this one joined (`%bq` in logs).
    pub ahead: u64,
}

impl Drop for QueueGuard {
    fn drop(&mut self) {
        self.counters.queued.fetch_sub(1, Ordering::Relaxed);
    }
}

/// One live session; leaving decrements `cur`.
#[derive(Debug)]
pub struct LiveGuard {
    /// The counters to decrement.
    counters: Arc<Counters>,
}

impl Drop for LiveGuard {
    fn drop(&mut self) {
        self.counters.cur.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Counters {
    /// Counts a session until the guard is dropped.
    pub fn enter(self: &Arc<Self>) -> LiveGuard {
        let now = self.cur.fetch_add(1, Ordering::Relaxed) + 1;
        self.max.fetch_max(now, Ordering::Relaxed);
        self.total.fetch_add(1, Ordering::Relaxed);
        LiveGuard {
            counters: Arc::clone(self),
        }
    }

    /// Counts a request waiting in the queue until the guard is dropped.
    pub fn join_queue(self: &Arc<Self>) -> QueueGuard {
        let ahead = self.queued.fetch_add(1, Ordering::Relaxed);
        self.queued_max.fetch_max(ahead + 1, Ordering::Relaxed);
        QueueGuard {
            counters: Arc::clone(self),
            ahead,
        }
    }

    /// Counts an HTTP response by status class.
    pub fn response(&self, status: u16) {
        let class = match status {
            100..=599 => usize::from(status / 100 - 1),
            _ => 5,
        };
        self.responses[class].fetch_add(1, Ordering::Relaxed);
    }

    /// Adds bytes moved for one connection.
    pub fn add_bytes(&self, received: u64, sent: u64) {
        self.bytes_in.fetch_add(received, Ordering::Relaxed);
        self.bytes_out.fetch_add(sent, Ordering::Relaxed);
    }

    /// Increments one counter by one.
    pub fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// A counter's value.
    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }
}

/// Bytes a TCP connection received and sent (acknowledged), from the kernel's `TCP_INFO`: exact
/// for what crossed the socket, and one system call per connection rather than per transfer.
pub fn tcp_bytes(stream: &impl std::os::fd::AsRawFd) -> Option<(u64, u64)> {
    let mut info: libc::tcp_info = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<libc::tcp_info>() as libc::socklen_t;
    // SAFETY: a valid socket descriptor and a buffer of the size passed.
    let rc = unsafe {
        libc::getsockopt(
            stream.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_INFO,
            (&mut info as *mut libc::tcp_info).cast(),
            &mut len,
        )
    };
    if rc != 0 {
        return None;
    }
    // The kernel counts a FIN as one byte of sequence space: take it out again.
    // Linux TCP states (include/net/tcp_states.h): FIN_WAIT2 5, TIME_WAIT 6, CLOSE_WAIT 8,
    // LAST_ACK 9, CLOSING 11.
    let state = info.tcpi_state;
    let fin_received = [6, 8, 9, 11].contains(&state);
    let fin_acked = [5, 6].contains(&state);
    Some((
        info.tcpi_bytes_received
            .saturating_sub(u64::from(fin_received)),
        info.tcpi_bytes_acked.saturating_sub(u64::from(fin_acked)),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_and_classes() {
        let c = Arc::new(Counters::default());
        let a = c.enter();
        let b = c.enter();
        drop(a);
        let _c = c.enter();
        drop(b);
        assert_eq!(
            (
                Counters::get(&c.cur),
                Counters::get(&c.max),
                Counters::get(&c.total)
            ),
            (1, 2, 3)
        );
        for s in [200, 204, 301, 404, 503, 700, 99] {
            c.response(s);
        }
        let classes: Vec<u64> = c.responses.iter().map(Counters::get).collect();
        assert_eq!(classes, [0, 2, 1, 1, 1, 2]);
    }

    #[test]
    fn tcp_info_counts_bytes() {
        use std::io::{Read, Write};
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let mut a = std::net::TcpStream::connect(l.local_addr().unwrap()).unwrap();
        let (mut b, _) = l.accept().unwrap();
        a.write_all(b"hello").unwrap();
        let mut buf = [0u8; 5];
        b.read_exact(&mut buf).unwrap();
        b.write_all(b"hi").unwrap();
        a.read_exact(&mut buf[..2]).unwrap();
        let (rx, _) = tcp_bytes(&b).unwrap();
        assert_eq!(rx, 5);
    }
}
