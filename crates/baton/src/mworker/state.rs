//! What the master carries across its own re-execution on reload.
//!
//! A reload re-executes the master (the same pid, the binary found at the path resolved at
//! first start, so an upgraded binary takes over). Everything it must not forget travels in one
//! environment variable, [`STATE_ENV`], and in inherited descriptors whose numbers the variable
//! names: each worker's IPC socket, the master CLI listeners and the CLI connections waiting for
//! the answer to `reload`. The format is a `;`-separated list of `key=value` fields, written and
//! read only by baton; a value that does not parse is an error, never a guess.

use std::path::PathBuf;

/// The environment variable holding the carried state.
pub const STATE_ENV: &str = "BATON_MWORKER_STATE";

/// Access level of a master CLI listener, as carried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListenerKind {
    /// A UNIX stream socket.
    Unix,
    /// A TCP socket (`ipv4@`, `ipv6@`).
    Tcp,
}

/// A master CLI listening socket carried across exec.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CarriedListener {
    /// Its descriptor number.
    pub fd: i32,
    /// UNIX or TCP (decides how it is adopted).
    pub kind: ListenerKind,
    /// Its `level` (0 user, 1 operator, 2 admin).
    pub level: u8,
}

/// One worker process known to the master.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkerRecord {
    /// Its pid.
    pub pid: i32,
    /// The master's end of its IPC socketpair (kept open across exec: the worker exits when
    /// it sees the master's end close).
    pub ipc_fd: i32,
    /// Its generation (1 = started at first start, +1 per worker started since).
    pub generation: u32,
    /// Reloads it has survived (bounded by `mworker-max-reloads`).
    pub reloads: u32,
    /// When it was started, in milliseconds since the Unix epoch (for `show proc`'s uptime).
    pub started_ms: u64,
    /// Whether it is the worker in charge (otherwise it is soft-stopping).
    pub current: bool,
}

/// Everything the re-executed master needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Carried {
    /// The binary path resolved at first start.
    pub binary: PathBuf,
    /// When the master first started (ms since the epoch).
    pub started_ms: u64,
    /// Reloads done (successful or not).
    pub reloads: u32,
    /// Reloads that failed (bad configuration, or a new worker that did not start).
    pub failed_reloads: u32,
    /// The next worker's generation number.
    pub next_generation: u32,
    /// Master CLI listeners.
    pub listeners: Vec<CarriedListener>,
    /// Master CLI connections waiting for the answer to `reload`.
    pub clients: Vec<i32>,
    /// Live workers.
    pub workers: Vec<WorkerRecord>,
}

/// A state variable that cannot be read.
#[derive(Debug, thiserror::Error)]
#[error("malformed {STATE_ENV} ({0}): the master cannot resume")]
pub struct StateError(String);

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    if text.len() & 1 == 1 {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

fn list<T: ToString>(items: &[T]) -> String {
    items
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

impl Carried {
    /// The variable's value.
    pub fn encode(&self) -> String {
        use std::os::unix::ffi::OsStrExt;
        let mut out = format!(
            "bin={};started={};reloads={};failed={};gen={};clients={}",
            hex(self.binary.as_os_str().as_bytes()),
            self.started_ms,
            self.reloads,
            self.failed_reloads,
            self.next_generation,
            list(&self.clients),
        );
        for l in &self.listeners {
            let kind = match l.kind {
                ListenerKind::Unix => 'u',
                ListenerKind::Tcp => 't',
            };
            out.push_str(&format!(";cli={}:{kind}:{}", l.fd, l.level));
        }
        for w in &self.workers {
            out.push_str(&format!(
                ";w={}:{}:{}:{}:{}:{}",
                w.pid,
                w.ipc_fd,
                w.generation,
                w.reloads,
                w.started_ms,
                u8::from(w.current)
            ));
        }
        out
    }

    /// Every descriptor it names.
    pub fn fds(&self) -> Vec<i32> {
        let mut fds: Vec<i32> = self.listeners.iter().map(|l| l.fd).collect();
        fds.extend(&self.clients);
        fds.extend(self.workers.iter().map(|w| w.ipc_fd));
        fds
    }

    /// Parses the variable's value.
    pub fn decode(text: &str) -> Result<Carried, StateError> {
        use std::os::unix::ffi::OsStringExt;
        let bad = |what: &str| StateError(what.to_string());
        let num = |v: &str, what: &str| v.parse::<u64>().map_err(|_| bad(what));
        let mut c = Carried {
            binary: PathBuf::new(),
            started_ms: 0,
            reloads: 0,
            failed_reloads: 0,
            next_generation: 1,
            listeners: Vec::new(),
            clients: Vec::new(),
            workers: Vec::new(),
        };
        for field in text.split(';') {
            let (key, value) = field.split_once('=').ok_or_else(|| bad(field))?;
            match key {
                "bin" => {
                    let bytes = unhex(value).ok_or_else(|| bad("bin"))?;
                    c.binary = PathBuf::from(std::ffi::OsString::from_vec(bytes));
                }
                "started" => c.started_ms = num(value, key)?,
                "reloads" => c.reloads = num(value, key)? as u32,
                "failed" => c.failed_reloads = num(value, key)? as u32,
                "gen" => c.next_generation = num(value, key)? as u32,
                "clients" => {
                    for fd in value.split(',').filter(|s| !s.is_empty()) {
                        c.clients.push(num(fd, key)? as i32);
                    }
                }
                "cli" => {
                    let parts: Vec<&str> = value.split(':').collect();
                    let [fd, kind, level] = parts[..] else {
                        return Err(bad(key));
                    };
                    c.listeners.push(CarriedListener {
                        fd: num(fd, key)? as i32,
                        kind: match kind {
                            "u" => ListenerKind::Unix,
                            "t" => ListenerKind::Tcp,
                            _ => return Err(bad(key)),
                        },
                        level: num(level, key)?.min(2) as u8,
                    });
                }
                "w" => {
                    let parts: Vec<&str> = value.split(':').collect();
                    let [pid, fd, generation, reloads, started, current] = parts[..] else {
                        return Err(bad(key));
                    };
                    c.workers.push(WorkerRecord {
                        pid: num(pid, key)? as i32,
                        ipc_fd: num(fd, key)? as i32,
                        generation: num(generation, key)? as u32,
                        reloads: num(reloads, key)? as u32,
                        started_ms: num(started, key)?,
                        current: num(current, key)? == 1,
                    });
                }
                _ => return Err(bad(key)),
            }
        }
        if c.binary.as_os_str().is_empty() {
            return Err(bad("no binary"));
        }
        Ok(c)
    }
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let c = Carried {
            binary: PathBuf::from("/usr/sbin/baton;odd=name"),
            started_ms: 1_700_000_000_123,
            reloads: 7,
            failed_reloads: 2,
            next_generation: 9,
            listeners: vec![
                CarriedListener {
                    fd: 5,
                    kind: ListenerKind::Unix,
                    level: 2,
                },
                CarriedListener {
                    fd: 6,
                    kind: ListenerKind::Tcp,
                    level: 0,
                },
            ],
            clients: vec![11, 12],
            workers: vec![WorkerRecord {
                pid: 1234,
                ipc_fd: 8,
                generation: 8,
                reloads: 1,
                started_ms: 1_700_000_001_000,
                current: true,
            }],
        };
        assert_eq!(Carried::decode(&c.encode()).unwrap(), c);
    }

    #[test]
    fn garbage_is_an_error() {
        for text in [
            "",
            "bin=zz",
            "bin=2f;w=1:2",
            "bin=2f;cli=1:x:2",
            "bin=2f;nope=1",
            "bin=2f;reloads=-1",
        ] {
            assert!(Carried::decode(text).is_err(), "{text}");
        }
    }
}
