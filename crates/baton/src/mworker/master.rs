//! The master process: a state machine that runs workers and reloads them.
//!
//! ```text
//! starting ──first worker ready──▶ running ──SIGUSR2/SIGHUP/`reload`──▶ reloading
//!                                    ▲  ▲                                   │ bad config, or the
//!                                    │  └──── new worker ready / failed ◀───┘ new worker died
//!                                    │
//!                                    └─ replacement ready ◀── replacing ◀── current worker died
//! any state ──SIGTERM/SIGINT/SIGUSR1──▶ stopping ──all workers gone──▶ exit
//! ```
//!
//! The master serves no traffic. A reload checks the configuration, then re-executes the master
//! (same pid; see `reexec`), whose new image starts a new worker that takes the listeners from
//! the current one, and soft-stops the old one only once the new one says `READY`. Every state
//! change is logged and shown by `show proc`.

use super::ipc::{self, Grant};
use super::state::{self, Carried, CarriedListener, WorkerRecord};
use crate::notify::Notifier;
use nix::sys::signal::{kill, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;
use std::cell::RefCell;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::PathBuf;
use std::rc::Rc;
use std::time::Duration;
use tokio::net::UnixStream;
use tokio::sync::mpsc::UnboundedSender;

/// Where the master is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MasterState {
    /// The first worker is starting.
    Starting,
    /// One current worker serves; reloads are accepted.
    Running,
    /// A reload is in progress (configuration check, re-execution, new worker starting).
    Reloading,
    /// The current worker died; a replacement is starting.
    Replacing,
    /// Every worker was told to stop; the master exits when they are gone.
    Stopping,
}

impl MasterState {
    /// The word used in logs and `show proc`.
    pub fn name(self) -> &'static str {
        match self {
            MasterState::Starting => "starting",
            MasterState::Running => "running",
            MasterState::Reloading => "reloading",
            MasterState::Replacing => "replacing",
            MasterState::Stopping => "stopping",
        }
    }
}

/// A worker's role.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Started, not yet `READY`.
    Starting,
    /// The worker in charge.
    Current,
    /// Told to soft-stop; finishing its connections.
    Old,
}

/// A worker process.
#[derive(Debug)]
pub struct Worker {
    /// Its pid.
    pub pid: i32,
    /// The master's end of its socketpair.
    pub ipc: Rc<UnixStream>,
    /// Its generation number.
    pub generation: u32,
    /// Reloads survived.
    pub reloads: u32,
    /// Start time, ms since the epoch.
    pub started_ms: u64,
    /// Its role.
    pub role: Role,
}

/// Which worker a routed command is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// `@N`: 1 is the current worker, 2.. the old ones, newest first (as `show proc` lists).
    Relative(u32),
    /// `@!PID`.
    Pid(i32),
}

/// What the main loop is told by tasks.
#[derive(Debug)]
pub enum Event {
    /// A worker said `READY`.
    Ready(i32),
    /// Time to try replacing a dead worker again.
    Replace,
}

/// The fixed facts of this master: its command line and limits.
#[derive(Debug, Clone)]
pub struct Settings {
    /// `-f` files.
    pub files: Vec<PathBuf>,
    /// `-q`.
    pub quiet: bool,
    /// Binary to re-execute and to start workers from.
    pub binary: PathBuf,
    /// `hard-stop-after` of the configuration in force.
    pub hard_stop_after: Option<Duration>,
    /// `mworker-max-reloads` of the configuration in force.
    pub max_reloads: u32,
}

/// How a new worker gets its listeners.
#[derive(Debug)]
pub enum Handover {
    /// Binds them itself.
    None,
    /// `-x PATH` (a stats socket with `expose-fd listeners`, e.g. `$HAPROXY_STATS_SOCKET`).
    Path(PathBuf),
    /// `_getsocks` from this worker over a fresh socketpair (`-x sockpair@FD`).
    FromWorker(Rc<UnixStream>),
}

/// The master's state.
#[derive(Debug)]
pub struct Master {
    /// Command line and limits.
    pub settings: Settings,
    /// Lifecycle state.
    pub state: MasterState,
    /// When the master first started (ms since the epoch).
    pub started_ms: u64,
    /// Reloads done.
    pub reloads: u32,
    /// Reloads that failed.
    pub failed_reloads: u32,
    /// The next worker's generation.
    pub next_generation: u32,
    /// Live workers.
    pub workers: Vec<Worker>,
    /// Master CLI listeners, to carry across exec.
    pub listeners: Vec<CarriedListener>,
    /// CLI connections waiting for the answer of the reload in progress.
    pub clients: Vec<OwnedFd>,
    /// CLI connections that asked while a reload was in progress: the next reload answers them
    /// (it is the one that reads the configuration they want).
    pub queued_clients: Vec<OwnedFd>,
    /// Messages of the reload in progress, for those clients.
    pub messages: Vec<String>,
    /// A reload was asked for while another was in progress.
    pub reload_pending: bool,
    /// sd_notify.
    pub notifier: Notifier,
    /// The main loop's inbox.
    pub events: UnboundedSender<Event>,
    /// Exit code once every worker is gone (set when stopping).
    pub exit_code: i32,
    /// When a hard stop was sent (stragglers get SIGKILL after a while).
    pub hard_stop_sent: Option<std::time::Instant>,
    /// Pids to signal once the first worker serves (`-sf` / `-st` at first start).
    pub first_start_signals: Vec<(u32, Signal)>,
}

/// A line in HAProxy's log shape, as the reload answer carries it.
pub fn line(tag: &str, text: &str) -> String {
    format!("{tag} ({}) : {text}", std::process::id())
}

/// An exit status as a shell reports it.
fn exit_code(status: WaitStatus) -> Option<(i32, i32)> {
    match status {
        WaitStatus::Exited(pid, code) => Some((pid.as_raw(), code)),
        WaitStatus::Signaled(pid, sig, _) => Some((pid.as_raw(), 128 + sig as i32)),
        _ => None,
    }
}

impl Master {
    /// Moves to `next`, logging the change.
    pub fn set_state(&mut self, next: MasterState) {
        if self.state != next {
            tracing::info!("master: {} -> {}", self.state.name(), next.name());
            self.state = next;
        }
    }

    /// Logs a notice and keeps it for the reload answer.
    pub fn notice(&mut self, text: &str) {
        tracing::info!("{text}");
        self.messages.push(line("[NOTICE]  ", text));
    }

    /// Logs an alert and keeps it for the reload answer.
    pub fn alert(&mut self, text: &str) {
        tracing::error!("{text}");
        self.messages.push(line("[ALERT]   ", text));
    }

    /// The current worker.
    fn current(&self) -> Option<&Worker> {
        self.workers.iter().find(|w| w.role == Role::Current)
    }

    /// Starts a worker (generation `next_generation`).
    pub fn spawn_worker(this: &Rc<RefCell<Master>>, handover: Handover) -> anyhow::Result<i32> {
        let mut m = this.borrow_mut();
        let (mine, theirs) = ipc::pair()?;
        let mut cmd = std::process::Command::new(&m.settings.binary);
        cmd.arg("-db");
        if m.settings.quiet {
            cmd.arg("-q");
        }
        for f in &m.settings.files {
            cmd.arg("-f").arg(f);
        }
        let mut inherit = vec![theirs.as_raw_fd()];
        let mut handover_end = None;
        match handover {
            Handover::None => {}
            Handover::Path(p) => {
                cmd.arg("-x").arg(p);
            }
            Handover::FromWorker(old) => {
                let (new_end, old_end) = ipc::pair()?;
                match ipc::send_now(&*old, Grant::Listeners, &old_end) {
                    Ok(()) => {
                        cmd.arg("-x")
                            .arg(format!("sockpair@{}", new_end.as_raw_fd()));
                        inherit.push(new_end.as_raw_fd());
                        handover_end = Some(new_end);
                    }
                    Err(e) => tracing::warn!("cannot reach the current worker: {e}"),
                }
            }
        }
        cmd.env(ipc::IPC_FD_ENV, theirs.as_raw_fd().to_string())
            .env_remove(crate::notify::NOTIFY_SOCKET)
            .env_remove(state::STATE_ENV)
            .stdin(std::process::Stdio::null());
        // SAFETY: only fcntl (async-signal-safe) between fork and exec.
        unsafe {
            use std::os::unix::process::CommandExt;
            cmd.pre_exec(move || {
                for &fd in &inherit {
                    if libc::fcntl(fd, libc::F_SETFD, 0) < 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                }
                Ok(())
            });
        }
        let child = cmd.spawn()?;
        drop(handover_end);
        drop(theirs);
        let pid = child.id() as i32;
        drop(child); // reaped by the SIGCHLD handler
        let ipc = Rc::new(ipc::adopt(mine)?);
        let generation = m.next_generation;
        m.next_generation += 1;
        m.workers.push(Worker {
            pid,
            ipc: Rc::clone(&ipc),
            generation,
            reloads: 0,
            started_ms: state::now_ms(),
            role: Role::Starting,
        });
        m.notice(&format!("starting worker {generation} (pid {pid})"));
        watch_ready(pid, ipc, m.events.clone());
        Ok(pid)
    }

    /// A worker said `READY`.
    pub fn worker_ready(this: &Rc<RefCell<Master>>, pid: i32) {
        let mut m = this.borrow_mut();
        let Some(w) = m.workers.iter_mut().find(|w| w.pid == pid) else {
            return;
        };
        if w.role != Role::Starting {
            return;
        }
        w.role = Role::Current;
        let generation = w.generation;
        let mut previous = Vec::new();
        for other in m.workers.iter_mut().filter(|o| o.pid != pid) {
            if other.role == Role::Current {
                other.role = Role::Old;
                previous.push(other.pid);
            }
            if other.role == Role::Old {
                other.reloads += 1;
            }
        }
        m.notice(&format!("worker {generation} (pid {pid}) ready"));
        for old in &previous {
            m.notice(&format!("soft-stopping former worker (pid {old})"));
            let _ = kill(Pid::from_raw(*old), Signal::SIGUSR1);
        }
        let max = m.settings.max_reloads;
        let too_old: Vec<i32> = m
            .workers
            .iter()
            .filter(|w| w.role == Role::Old && w.reloads > max)
            .map(|w| w.pid)
            .collect();
        for old in too_old {
            m.alert(&format!(
                "former worker (pid {old}) survived more than {max} reloads (mworker-max-reloads): terminating it"
            ));
            let _ = kill(Pid::from_raw(old), Signal::SIGTERM);
        }
        match m.state {
            MasterState::Starting => {
                m.notice("Loading success.");
                m.notifier.ready("Ready.");
                for (p, sig) in std::mem::take(&mut m.first_start_signals) {
                    let _ = kill(Pid::from_raw(p as i32), sig);
                }
                m.messages.clear();
                m.set_state(MasterState::Running);
            }
            MasterState::Reloading => {
                m.notice("Loading success.");
                m.notifier.ready("Ready.");
                m.answer(true);
                m.set_state(MasterState::Running);
            }
            MasterState::Replacing => {
                m.notifier.send(&["STATUS=Ready (worker replaced).".into()]);
                m.messages.clear();
                m.set_state(MasterState::Running);
            }
            MasterState::Running | MasterState::Stopping => {}
        }
        let pending = m.state == MasterState::Running && std::mem::take(&mut m.reload_pending);
        drop(m);
        if pending {
            Master::request_reload(this, None);
        }
    }

    /// Answers the CLI clients waiting for a reload, then forgets them and the messages.
    pub fn answer(&mut self, success: bool) {
        let mut text = format!("Success={}\n--\n", u8::from(success));
        for m in &self.messages {
            text.push_str(m);
            text.push('\n');
        }
        for fd in self.clients.drain(..) {
            let socket = socket2::Socket::from(fd);
            let _ = socket.set_nonblocking(false);
            let _ = socket.set_write_timeout(Some(Duration::from_secs(2)));
            let _ = std::io::Write::write_all(&mut &socket, text.as_bytes());
        }
        self.messages.clear();
    }

    /// A reload failed: count it, tell systemd and the waiting clients; the old worker serves on.
    pub fn fail_reload(this: &Rc<RefCell<Master>>, reason: &str) {
        let mut m = this.borrow_mut();
        m.failed_reloads += 1;
        m.alert(&format!("Reload failed: {reason}"));
        m.notifier.ready(&format!("Reload failed: {reason}"));
        m.answer(false);
        if m.state != MasterState::Stopping {
            m.set_state(MasterState::Running);
        }
        // The current worker died during this reload: nobody serves, start one.
        let orphaned = m.state == MasterState::Running && m.current().is_none();
        if orphaned {
            m.set_state(MasterState::Replacing);
            drop(m);
            Master::replace(this);
            return;
        }
        let pending = m.state == MasterState::Running && std::mem::take(&mut m.reload_pending);
        drop(m);
        if pending {
            Master::request_reload(this, None);
        }
    }

    /// SIGUSR2, SIGHUP or `reload`: check the configuration, then re-execute (never returns on
    /// success). While another reload runs, this one waits for it.
    pub fn request_reload(this: &Rc<RefCell<Master>>, client: Option<OwnedFd>) {
        let mut m = this.borrow_mut();
        m.queued_clients.extend(client);
        match m.state {
            MasterState::Running => {}
            MasterState::Stopping => {
                let queued = std::mem::take(&mut m.queued_clients);
                m.clients.extend(queued);
                m.messages
                    .push(line("[ALERT]   ", "the master is stopping"));
                m.answer(false);
                return;
            }
            _ => {
                m.reload_pending = true;
                return;
            }
        }
        let queued = std::mem::take(&mut m.queued_clients);
        m.clients.extend(queued);
        m.set_state(MasterState::Reloading);
        m.reloads += 1;
        m.messages.clear();
        m.notifier.reloading();
        m.notice("Reloading: checking the new configuration");
        let (ok, lines) = super::check_config(&m.settings.files, m.settings.quiet);
        m.messages.extend(lines);
        drop(m);
        if !ok {
            Master::fail_reload(this, "the configuration has errors");
            return;
        }
        let error = super::reexec(&this.borrow());
        Master::fail_reload(this, &format!("cannot re-execute the master: {error:#}"));
    }

    /// After re-execution: start the new worker, taking the listeners from the current one.
    pub fn continue_reload(this: &Rc<RefCell<Master>>) {
        let handover = {
            let m = this.borrow();
            let stats = std::env::var_os("HAPROXY_STATS_SOCKET").filter(|v| !v.is_empty());
            let usable = |p: &std::ffi::OsString| {
                use std::os::unix::fs::FileTypeExt;
                // `/dev/null` is HAProxy's "take nothing"; anything else must be a socket.
                p == "/dev/null"
                    || std::fs::metadata(p).is_ok_and(|meta| meta.file_type().is_socket())
            };
            if let Some(path) = stats.as_ref().filter(|p| !usable(p)) {
                tracing::warn!(
                    "HAPROXY_STATS_SOCKET={} is not a socket: taking the listeners over the socketpair",
                    path.to_string_lossy()
                );
            }
            match stats.filter(usable) {
                Some(path) => Handover::Path(path.into()),
                None => match m.current() {
                    Some(w) => Handover::FromWorker(Rc::clone(&w.ipc)),
                    None => Handover::None,
                },
            }
        };
        if let Err(e) = Master::spawn_worker(this, handover) {
            Master::fail_reload(this, &format!("cannot start a new worker: {e:#}"));
        }
    }

    /// SIGCHLD: reap every exited child and react.
    pub fn reap(this: &Rc<RefCell<Master>>) {
        loop {
            let status = match waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::StillAlive) | Err(_) => return,
                Ok(s) => s,
            };
            let Some((pid, code)) = exit_code(status) else {
                continue;
            };
            Master::worker_exited(this, pid, code);
        }
    }

    /// A worker exited with `code`.
    fn worker_exited(this: &Rc<RefCell<Master>>, pid: i32, code: i32) {
        let mut m = this.borrow_mut();
        let Some(at) = m.workers.iter().position(|w| w.pid == pid) else {
            return;
        };
        let w = m.workers.remove(at);
        let state = m.state;
        match (w.role, state) {
            (_, MasterState::Stopping) => {
                tracing::info!("worker (pid {pid}) exited with code {code}");
            }
            (Role::Old, _) => {
                tracing::info!("former worker (pid {pid}) exited with code {code}");
            }
            (Role::Starting, MasterState::Starting) => {
                tracing::error!(
                    "the first worker (pid {pid}) exited with code {code} before serving: exiting"
                );
                m.exit_code = 1;
                m.stop_all(Signal::SIGTERM, 1);
            }
            (Role::Starting, MasterState::Reloading) => {
                drop(m);
                Master::fail_reload(
                    this,
                    &format!("the new worker (pid {pid}) exited with code {code} before serving"),
                );
            }
            (Role::Starting, _) => {
                tracing::error!(
                    "replacement worker (pid {pid}) exited with code {code}; retrying in 1s"
                );
                let events = m.events.clone();
                tokio::task::spawn_local(async move {
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    let _ = events.send(Event::Replace);
                });
            }
            (Role::Current, _) => {
                tracing::error!(
                    "current worker (pid {pid}) exited unexpectedly with code {code}: starting a new one"
                );
                let reloading = m.workers.iter().any(|w| w.role == Role::Starting);
                if !reloading {
                    m.set_state(MasterState::Replacing);
                    m.notifier.send(&[format!(
                        "STATUS=Worker {pid} died (code {code}); replacing it."
                    )]);
                    drop(m);
                    Master::replace(this);
                }
            }
        }
    }

    /// Starts a worker in place of a dead one.
    pub fn replace(this: &Rc<RefCell<Master>>) {
        if this.borrow().state != MasterState::Replacing {
            return;
        }
        if let Err(e) = Master::spawn_worker(this, Handover::None) {
            tracing::error!("cannot start a replacement worker: {e:#}");
        }
    }

    /// Tells every worker to stop with `signal` and enters `stopping`.
    pub fn stop_all(&mut self, signal: Signal, code: i32) {
        if self.state != MasterState::Stopping {
            self.exit_code = code;
            self.notifier.stopping("Stopping.");
            self.set_state(MasterState::Stopping);
            let queued = std::mem::take(&mut self.queued_clients);
            self.clients.extend(queued);
            self.messages
                .push(line("[ALERT]   ", "the master is stopping"));
            self.answer(false);
        }
        if signal == Signal::SIGTERM {
            self.hard_stop_sent
                .get_or_insert_with(std::time::Instant::now);
        }
        for w in &self.workers {
            let _ = kill(Pid::from_raw(w.pid), signal);
        }
    }

    /// Forwards `signal` to every worker.
    pub fn signal_workers(&self, signal: Signal) {
        for w in &self.workers {
            let _ = kill(Pid::from_raw(w.pid), signal);
        }
    }

    /// Stragglers of a hard stop get SIGKILL after 10 s.
    pub fn kill_stragglers(&mut self) {
        if self
            .hard_stop_sent
            .is_some_and(|t| t.elapsed() > Duration::from_secs(10))
        {
            for w in &self.workers {
                let _ = kill(Pid::from_raw(w.pid), Signal::SIGKILL);
            }
        }
    }

    /// The IPC stream of a worker targeted by `@N` / `@!PID`.
    pub fn worker_ipc(&self, target: Target) -> Option<Rc<UnixStream>> {
        let w = match target {
            Target::Pid(pid) => self.workers.iter().find(|w| w.pid == pid),
            Target::Relative(n) => self
                .listed()
                .into_iter()
                .find(|(rel, _)| *rel == Some(n))
                .map(|(_, w)| w),
        }?;
        Some(Rc::clone(&w.ipc))
    }

    /// Every worker's pid and IPC stream (for `show proc`'s live connections).
    pub fn worker_ipcs(&self) -> Vec<(i32, Rc<UnixStream>)> {
        self.workers
            .iter()
            .map(|w| (w.pid, Rc::clone(&w.ipc)))
            .collect()
    }

    /// Workers in `show proc` order, each with its relative pid (`@N`): the current worker is
    /// 1, old ones 2.. newest first; a starting worker has none.
    fn listed(&self) -> Vec<(Option<u32>, &Worker)> {
        let mut out: Vec<(Option<u32>, &Worker)> = Vec::new();
        out.extend(
            self.workers
                .iter()
                .filter(|w| w.role == Role::Current)
                .map(|w| (Some(1), w)),
        );
        out.extend(
            self.workers
                .iter()
                .filter(|w| w.role == Role::Starting)
                .map(|w| (None, w)),
        );
        let mut old: Vec<&Worker> = self
            .workers
            .iter()
            .filter(|w| w.role == Role::Old)
            .collect();
        old.sort_by_key(|w| std::cmp::Reverse(w.generation));
        out.extend(
            old.into_iter()
                .enumerate()
                .map(|(i, w)| (Some(i as u32 + 2), w)),
        );
        out
    }

    /// `show proc`.
    pub fn show_proc(&self, conns: &[(i32, Option<u64>)]) -> String {
        let now = state::now_ms();
        let uptime = |since: u64| {
            let s = now.saturating_sub(since) / 1000;
            format!(
                "{}d{:02}h{:02}m{:02}s",
                s / 86400,
                s / 3600 % 24,
                s / 60 % 60,
                s % 60
            )
        };
        let version = env!("CARGO_PKG_VERSION");
        let mut out = format!(
            "#{:<15} {:<15} {:<15} {:<15} {:<15} {:<15} {}\n",
            "<PID>", "<type>", "<relative PID>", "<reloads>", "<uptime>", "<conns>", "<version>"
        );
        out.push_str(&format!(
            "{:<16} {:<15} {:<15} {:<15} {:<15} {:<15} {}\n",
            std::process::id(),
            "master",
            0,
            format!("{} [failed: {}]", self.reloads, self.failed_reloads),
            uptime(self.started_ms),
            "-",
            version
        ));
        let listed = self.listed();
        for (title, roles) in [
            ("# workers", &[Role::Current, Role::Starting][..]),
            ("# old workers", &[Role::Old][..]),
        ] {
            out.push_str(title);
            out.push('\n');
            for (rel, w) in listed.iter().filter(|(_, w)| roles.contains(&w.role)) {
                let live = conns
                    .iter()
                    .find(|(p, _)| *p == w.pid)
                    .and_then(|(_, c)| *c)
                    .map_or("-".to_string(), |c| c.to_string());
                let rel = rel.map_or("-".to_string(), |r| r.to_string());
                let kind = if w.role == Role::Starting {
                    "worker(starting)"
                } else {
                    "worker"
                };
                out.push_str(&format!(
                    "{:<16} {:<15} {:<15} {:<15} {:<15} {:<15} {}\n",
                    w.pid,
                    kind,
                    rel,
                    w.reloads,
                    uptime(w.started_ms),
                    live,
                    version
                ));
            }
        }
        out.push_str(&format!(
            "# master: state {}; failed reloads {}; hard-stop-after {}; mworker-max-reloads {}\n",
            self.state.name(),
            self.failed_reloads,
            self.settings
                .hard_stop_after
                .map_or("none".to_string(), |d| format!("{}ms", d.as_millis())),
            self.settings.max_reloads
        ));
        out
    }

    /// What the re-executed master needs.
    pub fn carried(&self) -> Carried {
        Carried {
            binary: self.settings.binary.clone(),
            started_ms: self.started_ms,
            reloads: self.reloads,
            failed_reloads: self.failed_reloads,
            next_generation: self.next_generation,
            listeners: self.listeners.clone(),
            clients: self.clients.iter().map(|c| c.as_raw_fd()).collect(),
            workers: self
                .workers
                .iter()
                .filter(|w| w.role != Role::Starting)
                .map(|w| WorkerRecord {
                    pid: w.pid,
                    ipc_fd: w.ipc.as_raw_fd(),
                    generation: w.generation,
                    reloads: w.reloads,
                    started_ms: w.started_ms,
                    current: w.role == Role::Current,
                })
                .collect(),
        }
    }
}

/// Reads a worker's socketpair until it says `READY` (or closes).
pub fn watch_ready(pid: i32, ipc: Rc<UnixStream>, events: UnboundedSender<Event>) {
    tokio::task::spawn_local(async move {
        let mut seen = Vec::new();
        loop {
            if ipc.readable().await.is_err() {
                return;
            }
            let mut buf = [0u8; 64];
            match ipc.try_read(&mut buf) {
                Ok(0) => return,
                Ok(n) => {
                    seen.extend_from_slice(&buf[..n]);
                    if seen.windows(ipc::READY.len()).any(|w| w == ipc::READY) {
                        let _ = events.send(Event::Ready(pid));
                        return;
                    }
                    if seen.len() > 1024 {
                        return; // not our protocol: ignore this worker's chatter
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
                Err(_) => return,
            }
        }
    });
}
