//! Log targets at run time: each target has a bounded queue and one writer thread, so a
//! session hands a line over with one non-blocking `try_send` and goes on. A full queue, or a
//! write that fails (missing `/dev/log`, a datagram socket nobody reads, an unreachable
//! syslog), drops the line and counts it in [`dropped`] (`DroppedLogs` in `show info`).
//! A blocked pipe on `stdout` only ever blocks that target's writer thread.

use super::syslog::{frame, Identity};
use baton_config::log_model::{LogAddress, LogTarget, SyslogFormat};
use std::os::fd::RawFd;
use std::os::unix::net::UnixDatagram;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

/// Lines a target may have waiting before new ones are dropped.
const QUEUE_LINES: usize = 4096;

/// Lines dropped since start, over all targets.
static DROPPED: AtomicU64 = AtomicU64::new(0);

/// Lines queued and not yet written, over all targets (for [`flush`]).
static PENDING: AtomicU64 = AtomicU64::new(0);

/// Waits (at most `limit`) until every queued line has been written or dropped: called before
/// the process exits, so that its last lines (`Proxy X stopped`) are not lost.
pub fn flush(limit: std::time::Duration) {
    let deadline = std::time::Instant::now() + limit;
    while PENDING.load(Ordering::Acquire) > 0 && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
}

/// Lines dropped since start (full queues and failed writes).
pub fn dropped() -> u64 {
    DROPPED.load(Ordering::Relaxed)
}

/// Counts one dropped line.
fn drop_line() {
    DROPPED.fetch_add(1, Ordering::Relaxed);
}

/// One line on its way to the targets, shared by all of them.
#[derive(Debug)]
pub struct Line {
    /// When it was emitted (the header's date).
    pub time: SystemTime,
    /// Its syslog level.
    pub level: u8,
    /// The tag (`log-tag`, default `haproxy`).
    pub tag: Arc<str>,
    /// The text, without header or newline.
    pub text: String,
}

/// Where a writer thread writes.
#[derive(Debug)]
enum Output {
    /// A UDP socket and its destination.
    Udp(std::net::UdpSocket, std::net::SocketAddr),
    /// An unbound UNIX datagram socket and the destination path.
    Unix(UnixDatagram, PathBuf),
    /// A descriptor the process already has (1, 2 or `fd@N`).
    Fd(RawFd),
}

/// A log target: its settings, its queue and (once started) its writer thread.
#[derive(Debug)]
pub struct Sink {
    /// Header format.
    format: SyslogFormat,
    /// Facility.
    facility: u8,
    /// Lines above this level are not sent.
    max_level: u8,
    /// Lines below this level are raised to it.
    min_level: u8,
    /// Line length limit.
    max_len: usize,
    /// `sample` ranges and period.
    sample: Option<baton_config::log_model::LogSample>,
    /// Lines offered so far (for `sample`).
    offered: AtomicU32,
    /// The queue's sending side.
    tx: SyncSender<Arc<Line>>,
    /// The queue's receiving side and the output, until the writer thread takes them.
    pending: Mutex<Option<(Receiver<Arc<Line>>, Output)>>,
    /// Header values.
    identity: Arc<Identity>,
}

impl Sink {
    /// Opens a target's socket (before privileges are dropped); the writer starts later.
    pub fn open(target: &LogTarget, identity: Arc<Identity>) -> std::io::Result<Self> {
        let output = match &target.address {
            LogAddress::Stdout => Output::Fd(1),
            LogAddress::Stderr => Output::Fd(2),
            LogAddress::Fd(n) => Output::Fd(*n),
            LogAddress::Unix(path) => {
                let s = UnixDatagram::unbound()?;
                s.set_nonblocking(true)?;
                Output::Unix(s, path.clone())
            }
            LogAddress::Udp { host, port } => {
                let addr = crate::backend::resolve(host, Some(*port))?;
                let local: std::net::SocketAddr = if addr.is_ipv6() {
                    "[::]:0".parse().expect("literal")
                } else {
                    "0.0.0.0:0".parse().expect("literal")
                };
                let s = std::net::UdpSocket::bind(local)?;
                s.set_nonblocking(true)?;
                Output::Udp(s, addr)
            }
        };
        let (tx, rx) = sync_channel(QUEUE_LINES);
        Ok(Sink {
            format: target.format,
            facility: target.facility,
            max_level: target.max_level,
            min_level: target.min_level,
            max_len: target.max_len,
            sample: target.sample.clone(),
            offered: AtomicU32::new(0),
            tx,
            pending: Mutex::new(Some((rx, output))),
            identity,
        })
    }

    /// Starts the writer thread (after daemonising: threads do not survive a fork). Lines
    /// queued before are written then.
    pub fn start(&self) {
        let Some((rx, output)) = self.pending.lock().ok().and_then(|mut p| p.take()) else {
            return;
        };
        let (format, facility, max_len) = (self.format, self.facility, self.max_len);
        let identity = Arc::clone(&self.identity);
        let spawned = std::thread::Builder::new()
            .name("baton-log".into())
            .spawn(move || {
                let mut buf = String::with_capacity(1024);
                for line in rx {
                    frame(
                        &mut buf, format, facility, line.level, line.time, &line.tag, &identity,
                        &line.text, max_len,
                    );
                    if write(&output, buf.as_bytes()).is_err() {
                        drop_line();
                    }
                    PENDING.fetch_sub(1, Ordering::AcqRel);
                }
            });
        if let Err(e) = spawned {
            tracing::warn!("cannot start a log writer: {e}");
        }
    }

    /// Offers a line: filtered by level and `sample`, then queued without waiting.
    pub fn send(&self, line: &Arc<Line>) {
        if line.level > self.max_level {
            return;
        }
        if let Some(sample) = &self.sample {
            let rank = self.offered.fetch_add(1, Ordering::Relaxed) % sample.size + 1;
            if !sample
                .ranges
                .iter()
                .any(|&(lo, hi)| (lo..=hi).contains(&rank))
            {
                return;
            }
        }
        let line = if line.level < self.min_level {
            Arc::new(Line {
                time: line.time,
                level: self.min_level,
                tag: Arc::clone(&line.tag),
                text: line.text.clone(),
            })
        } else {
            Arc::clone(line)
        };
        PENDING.fetch_add(1, Ordering::AcqRel);
        match self.tx.try_send(line) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => {
                PENDING.fetch_sub(1, Ordering::AcqRel);
                drop_line();
            }
        }
    }
}

/// Writes one framed line.
fn write(output: &Output, bytes: &[u8]) -> std::io::Result<()> {
    match output {
        Output::Udp(s, addr) => s.send_to(bytes, addr).map(|_| ()),
        Output::Unix(s, path) => s.send_to(bytes, path).map(|_| ()),
        Output::Fd(fd) => {
            let mut rest = bytes;
            while !rest.is_empty() {
                // SAFETY: writing from a valid buffer to a descriptor the process owns.
                let n = unsafe { libc::write(*fd, rest.as_ptr().cast(), rest.len()) };
                if n < 0 {
                    let e = std::io::Error::last_os_error();
                    if e.kind() == std::io::ErrorKind::Interrupted {
                        continue;
                    }
                    return Err(e);
                }
                rest = &rest[n as usize..];
            }
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use baton_config::diag::Location;
    use baton_config::log_model::LogSample;

    fn target(address: LogAddress) -> LogTarget {
        LogTarget {
            address,
            max_len: 1024,
            format: SyslogFormat::Raw,
            sample: None,
            facility: 16,
            max_level: 7,
            min_level: 0,
            location: Location::new(&"t".into(), 1),
        }
    }

    fn identity() -> Arc<Identity> {
        Arc::new(Identity {
            pid: 1,
            hostname: "h".into(),
            hostname_5424: "-".into(),
        })
    }

    fn line(text: &str, level: u8) -> Arc<Line> {
        Arc::new(Line {
            time: SystemTime::now(),
            level,
            tag: Arc::from("haproxy"),
            text: text.into(),
        })
    }

    #[test]
    fn unix_datagrams_arrive_and_missing_sockets_count_drops() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log.sock");
        let rx = UnixDatagram::bind(&path).unwrap();
        let mut t = target(LogAddress::Unix(path));
        t.max_level = 5;
        let sink = Sink::open(&t, identity()).unwrap();
        sink.start();
        sink.send(&line("too chatty", 6));
        sink.send(&line("hello", 6 - 1));
        let mut buf = [0u8; 64];
        let n = rx.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"hello\n");

        let before = dropped();
        let missing = Sink::open(
            &target(LogAddress::Unix(dir.path().join("none"))),
            identity(),
        )
        .unwrap();
        missing.start();
        missing.send(&line("lost", 6));
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while dropped() == before && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        assert!(dropped() > before);
    }

    #[test]
    fn sampling_keeps_the_ranks_in_range() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.sock");
        let rx = UnixDatagram::bind(&path).unwrap();
        let mut t = target(LogAddress::Unix(path));
        t.sample = Some(LogSample {
            ranges: vec![(2, 2)],
            size: 3,
        });
        let sink = Sink::open(&t, identity()).unwrap();
        sink.start();
        for i in 1..=6 {
            sink.send(&line(&i.to_string(), 6));
        }
        let mut got = Vec::new();
        let mut buf = [0u8; 16];
        for _ in 0..2 {
            let n = rx.recv(&mut buf).unwrap();
            got.push(String::from_utf8_lossy(&buf[..n]).into_owned());
        }
        assert_eq!(got, ["2\n", "5\n"]);
    }
}
