//! Master-worker mode (`-W`, `-Ws`, global `master-worker`): a master process that lives as
//! long as the service, runs the workers (each the ordinary single-process proxy) and reloads
//! them without ever closing a listening socket.
//!
//! - [`master`]: the state machine and its reactions to workers and reloads.
//! - [`console`]: the master CLI (`-S`).
//! - [`ipc`]: the master ⇄ worker socketpair.
//! - [`state`]: what the master carries across its own re-execution.
//! - [`worker`]: the worker's side.

pub mod console;
pub mod ipc;
pub mod master;
pub mod state;
pub mod worker;

use crate::notify::Notifier;
use anyhow::{Context, Result};
use baton_config::{Severity, Verdict};
use master::{Event, Handover, Master, MasterState, Settings};
use nix::sys::signal::Signal;
use state::{Carried, CarriedListener};
use std::cell::RefCell;
use std::os::fd::{FromRawFd, OwnedFd};
use std::path::PathBuf;
use std::rc::Rc;

/// What the command line asks of the master.
#[derive(Debug)]
pub struct MasterOptions {
    /// `-f` files.
    pub files: Vec<PathBuf>,
    /// `-q`.
    pub quiet: bool,
    /// `-D` (or `daemon` in the configuration), unless `-Ws` or `-db`.
    pub daemon: bool,
    /// `-Ws`: notify systemd.
    pub systemd: bool,
    /// `-db`: stay in the foreground.
    pub foreground: bool,
    /// `-p`: the master's pid file.
    pub pidfile: Option<PathBuf>,
    /// `-S` specifications.
    pub master_cli: Vec<String>,
    /// `-x` for the first worker (taking over from a single-process baton or haproxy).
    pub take_sockets_from: Option<PathBuf>,
    /// `-sf` pids, soft-stopped once the first worker serves.
    pub soft_stop: Vec<u32>,
    /// `-st` pids, hard-stopped once the first worker serves.
    pub hard_stop: Vec<u32>,
}

/// Loads and checks the configuration as `baton -c` would; returns whether it is usable and its
/// messages (each with file:line), which are also logged.
/// Only a failed check is logged here: a good configuration is loaded (and its warnings
/// logged) once more by the re-executed master.
pub fn check_config(files: &[PathBuf], quiet: bool) -> (bool, Vec<String>) {
    let (config, lines) = load_config(files, quiet, false);
    (config.is_some(), lines)
}

/// Loads the configuration; `None` when it has errors. Messages are logged when `log` is set
/// or the configuration is unusable.
fn load_config(
    files: &[PathBuf],
    quiet: bool,
    log: bool,
) -> (Option<baton_config::Config>, Vec<String>) {
    let mut loaded = baton_config::load_paths(files);
    let resolution = crate::check_mode::resolve_servers(&loaded.config);
    loaded.diagnostics.extend(resolution);
    let pid = std::process::id();
    let mut lines = Vec::new();
    for d in &loaded.diagnostics {
        if d.severity >= Severity::Warning && !(quiet && d.severity == Severity::Warning) {
            lines.push(d.render(pid));
        }
    }
    let verdict = loaded.verdict();
    if verdict == Verdict::Invalid {
        lines.push(master::line(
            Severity::Alert.tag(),
            "config : Fatal errors found in configuration.",
        ));
    }
    let ok = verdict != Verdict::Invalid;
    if log || !ok {
        for l in &lines {
            eprintln!("{l}");
        }
    }
    (ok.then_some(loaded.config), lines)
}

/// The signals the master handles (the proxy's, and SIGCHLD), blocked until their handlers
/// exist (and across exec).
fn master_signals() -> nix::sys::signal::SigSet {
    let mut set = crate::signals::handled();
    set.add(Signal::SIGCHLD);
    set
}

/// Re-executes the master: same pid, the binary at the path resolved at first start, the same
/// arguments, the state in the environment. Returns only on failure.
pub fn reexec(m: &Master) -> anyhow::Error {
    use std::ffi::CString;
    use std::os::unix::ffi::OsStrExt;
    let result = (|| -> Result<std::convert::Infallible> {
        let carried = m.carried();
        let fds = carried.fds();
        let carried = carried.encode();
        let path = CString::new(m.settings.binary.as_os_str().as_bytes())?;
        let args: Vec<CString> = std::env::args_os()
            .map(|a| CString::new(a.as_bytes()))
            .collect::<Result<_, _>>()?;
        let mut env: Vec<CString> = std::env::vars_os()
            .filter(|(k, _)| k != state::STATE_ENV)
            .map(|(k, v)| {
                let mut kv = k.as_bytes().to_vec();
                kv.push(b'=');
                kv.extend_from_slice(v.as_bytes());
                CString::new(kv)
            })
            .collect::<Result<_, _>>()?;
        env.push(CString::new(format!("{}={carried}", state::STATE_ENV))?);
        // Signals wait (pending) until the new image has its handlers.
        master_signals().thread_block()?;
        for &fd in &fds {
            nix::fcntl::fcntl(
                fd,
                nix::fcntl::FcntlArg::F_SETFD(nix::fcntl::FdFlag::empty()),
            )?;
        }
        tracing::info!("re-executing {}", m.settings.binary.display());
        let error = nix::unistd::execve(&path, &args, &env).unwrap_err();
        for &fd in &fds {
            let _ = nix::fcntl::fcntl(
                fd,
                nix::fcntl::FcntlArg::F_SETFD(nix::fcntl::FdFlag::FD_CLOEXEC),
            );
        }
        let _ = master_signals().thread_unblock();
        Err(error.into())
    })();
    match result {
        Ok(never) => match never {},
        Err(e) => e,
    }
}

/// Runs the master; returns its exit code.
pub fn run(options: MasterOptions) -> Result<i32> {
    master_signals()
        .thread_block()
        .context("blocking signals")?;
    let carried = match std::env::var(state::STATE_ENV) {
        Ok(text) => {
            std::env::remove_var(state::STATE_ENV);
            let carried = Carried::decode(&text)?;
            // Carried descriptors go no further: close-on-exec again, so that workers started
            // from now on do not inherit them.
            for fd in carried.fds() {
                nix::fcntl::fcntl(
                    fd,
                    nix::fcntl::FcntlArg::F_SETFD(nix::fcntl::FdFlag::FD_CLOEXEC),
                )
                .with_context(|| format!("carried descriptor {fd}"))?;
            }
            Some(carried)
        }
        Err(_) => None,
    };
    let notifier = Notifier::from_env(options.systemd);
    let (events, mut inbox) = tokio::sync::mpsc::unbounded_channel();
    // First start: check, bind the master CLI, detach, pid file. After a re-execution all of
    // that is done and carried.
    let (config, messages) = load_config(&options.files, options.quiet, true);
    let mut first_start_signals = Vec::new();
    let mut listeners: Vec<(OwnedFd, CarriedListener)> = Vec::new();
    let binary;
    if let Some(c) = &carried {
        binary = c.binary.clone();
        for l in &c.listeners {
            // SAFETY: the previous image left these descriptors open for us.
            listeners.push((unsafe { OwnedFd::from_raw_fd(l.fd) }, l.clone()));
        }
    } else {
        let Some(_) = &config else {
            anyhow::bail!("Fatal errors found in configuration.");
        };
        binary = std::env::current_exe().context("cannot resolve the binary's path")?;
        for spec in &options.master_cli {
            let spec = console::parse_spec(spec).map_err(anyhow::Error::msg)?;
            let (fd, kind) = console::bind(&spec)
                .with_context(|| format!("cannot bind the master CLI socket {spec:?}"))?;
            let raw = std::os::fd::AsRawFd::as_raw_fd(&fd);
            let level = console::level_code(spec.options.level);
            listeners.push((
                fd,
                CarriedListener {
                    fd: raw,
                    kind,
                    level,
                },
            ));
        }
        let daemon = (options.daemon || config.as_ref().is_some_and(|c| c.global.daemon))
            && !options.systemd
            && !options.foreground;
        let pidfile = options
            .pidfile
            .clone()
            .or(config.as_ref().and_then(|c| c.global.pidfile.clone()));
        if daemon {
            crate::run_mode::daemonize(pidfile.as_deref())?;
        } else if let Some(path) = &pidfile {
            crate::run_mode::write_pidfile(path, std::process::id() as i32)?;
        }
        first_start_signals.extend(options.soft_stop.iter().map(|&p| (p, Signal::SIGUSR1)));
        first_start_signals.extend(options.hard_stop.iter().map(|&p| (p, Signal::SIGTERM)));
    }
    let global = config
        .as_ref()
        .map(|c| c.global.clone())
        .unwrap_or_default();
    let settings = Settings {
        files: options.files.clone(),
        quiet: options.quiet,
        binary,
        hard_stop_after: global.hard_stop_after,
        max_reloads: global.mworker_max_reloads,
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let local = tokio::task::LocalSet::new();
    local.block_on(&rt, async move {
        use tokio::signal::unix::{signal, SignalKind};
        let mut usr1 = signal(SignalKind::user_defined1())?;
        let mut usr2 = signal(SignalKind::user_defined2())?;
        let mut hup = signal(SignalKind::hangup())?;
        let mut term = signal(SignalKind::terminate())?;
        let mut int = signal(SignalKind::interrupt())?;
        let mut chld = signal(SignalKind::child())?;
        let mut ttou = signal(SignalKind::from_raw(Signal::SIGTTOU as i32))?;
        let mut ttin = signal(SignalKind::from_raw(Signal::SIGTTIN as i32))?;
        let mut quit = signal(SignalKind::quit())?;
        master_signals().thread_unblock()?;
        let mut m = Master {
            settings,
            state: MasterState::Starting,
            started_ms: state::now_ms(),
            reloads: 0,
            failed_reloads: 0,
            next_generation: 1,
            workers: Vec::new(),
            listeners: listeners.iter().map(|(_, l)| l.clone()).collect(),
            clients: Vec::new(),
            queued_clients: Vec::new(),
            messages: Vec::new(),
            reload_pending: false,
            notifier,
            events: events.clone(),
            exit_code: 0,
            hard_stop_sent: None,
            first_start_signals,
        };
        if let Some(c) = &carried {
            m.started_ms = c.started_ms;
            m.reloads = c.reloads;
            m.failed_reloads = c.failed_reloads;
            m.next_generation = c.next_generation;
            // SAFETY (both): descriptors the previous image left open for us.
            m.clients = c
                .clients
                .iter()
                .map(|&fd| unsafe { OwnedFd::from_raw_fd(fd) })
                .collect();
            for w in &c.workers {
                let ipc = ipc::adopt(unsafe { OwnedFd::from_raw_fd(w.ipc_fd) })?;
                m.workers.push(master::Worker {
                    pid: w.pid,
                    ipc: Rc::new(ipc),
                    generation: w.generation,
                    reloads: w.reloads,
                    started_ms: w.started_ms,
                    role: if w.current {
                        master::Role::Current
                    } else {
                        master::Role::Old
                    },
                });
            }
            m.state = MasterState::Reloading;
            m.messages = messages;
        }
        let master = Rc::new(RefCell::new(m));
        for (fd, l) in listeners {
            console::serve(
                fd,
                l.kind,
                console::level_from_code(l.level),
                Rc::clone(&master),
            );
        }
        // Children that exited while no handler was installed (during exec).
        Master::reap(&master);
        if carried.is_some() {
            if config.is_some() {
                master
                    .borrow_mut()
                    .notice("re-executed; starting the new worker");
                Master::continue_reload(&master);
            } else {
                Master::fail_reload(&master, "the configuration has errors");
            }
        } else {
            tracing::info!("master started (pid {})", std::process::id());
            let handover = match &options.take_sockets_from {
                Some(p) => Handover::Path(p.clone()),
                None => Handover::None,
            };
            Master::spawn_worker(&master, handover)?;
        }
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(1));
        loop {
            if master.borrow().state == MasterState::Stopping && master.borrow().workers.is_empty()
            {
                let code = master.borrow().exit_code;
                tracing::info!("all workers exited; master exits with code {code}");
                return Ok::<_, anyhow::Error>(code);
            }
            tokio::select! {
                _ = usr2.recv() => Master::request_reload(&master, None),
                _ = hup.recv() => Master::request_reload(&master, None),
                _ = usr1.recv() => master.borrow_mut().stop_all(Signal::SIGUSR1, 0),
                _ = term.recv() => master.borrow_mut().stop_all(Signal::SIGTERM, 143),
                _ = int.recv() => master.borrow_mut().stop_all(Signal::SIGTERM, 130),
                _ = chld.recv() => Master::reap(&master),
                // Pause / resume go to the workers, which refuse them on shared listeners.
                _ = ttou.recv() => master.borrow().signal_workers(Signal::SIGTTOU),
                _ = ttin.recv() => master.borrow().signal_workers(Signal::SIGTTIN),
                _ = quit.recv() => tracing::warn!("SIGQUIT received: nothing to dump."),
                _ = tick.tick() => {
                    Master::reap(&master);
                    master.borrow_mut().kill_stragglers();
                }
                event = inbox.recv() => match event {
                    Some(Event::Ready(pid)) => Master::worker_ready(&master, pid),
                    Some(Event::Replace) => Master::replace(&master),
                    None => {}
                },
            }
        }
    })
}
