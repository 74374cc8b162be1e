//! `baton -f CFG`: load, bind, daemonise if asked, drop privileges, serve, and stop on signals.
//!
//! The order matters and is HAProxy's: the configuration is checked and every socket bound
//! while errors can still reach the terminal and the process is still root; then the process
//! detaches (`-D`), writes its pid file, drops privileges, and only then starts the threads of
//! the runtime (forking a multi-threaded process is unsafe). `-sf`/`-st` pids are signalled
//! once the new process serves.

use crate::{check_mode, signals};
use anyhow::{bail, Context, Result};
use baton_config::{Severity, Verdict};
use baton_runtime::runtime;
use nix::sys::signal::{kill, Signal};
use nix::unistd::{fork, setsid, ForkResult, Pid};
use std::io::Write;
use std::path::{Path, PathBuf};

/// What the command line asks of a run.
#[derive(Debug)]
pub struct RunOptions {
    /// `-f` files.
    pub files: Vec<PathBuf>,
    /// `-D` (or `daemon` in the configuration).
    pub daemon: bool,
    /// `-db`: stay in the foreground whatever the configuration says.
    pub foreground: bool,
    /// `-p`.
    pub pidfile: Option<PathBuf>,
    /// `-sf` pids.
    pub soft_stop: Vec<u32>,
    /// `-st` pids.
    pub hard_stop: Vec<u32>,
    /// `-q`.
    pub quiet: bool,
    /// `-x`: the old process's stats socket to take the listeners from (or `sockpair@FD`).
    pub take_sockets_from: Option<PathBuf>,
    /// In master-worker mode, this worker's end of its socketpair with the master.
    pub worker_ipc: Option<std::os::fd::OwnedFd>,
}

/// Prints diagnostics the way `-c` does and fails on alerts.
fn load(options: &RunOptions) -> Result<baton_config::Config> {
    let mut loaded = baton_config::load_paths(&options.files);
    let resolution = check_mode::resolve_servers(&loaded.config);
    loaded.diagnostics.extend(resolution);
    let pid = std::process::id();
    for d in &loaded.diagnostics {
        if d.severity >= Severity::Warning && !(options.quiet && d.severity == Severity::Warning) {
            eprintln!("{}", d.render(pid));
        }
    }
    if loaded.verdict() == Verdict::Invalid {
        bail!("Fatal errors found in configuration.");
    }
    Ok(loaded.config)
}

/// Writes the pid file (atomically: a temporary file renamed into place).
pub(crate) fn write_pidfile(path: &Path, pid: i32) -> Result<()> {
    let tmp = path.with_extension(format!("tmp.{}", std::process::id()));
    let mut f = std::fs::File::create(&tmp)
        .with_context(|| format!("cannot create pid file {}", path.display()))?;
    writeln!(f, "{pid}")?;
    drop(f);
    std::fs::rename(&tmp, path)
        .with_context(|| format!("cannot write pid file {}", path.display()))?;
    Ok(())
}

/// Detaches into the background; returns in the child only.
pub(crate) fn daemonize(pidfile: Option<&Path>) -> Result<()> {
    // SAFETY: called before any thread is started (the tokio runtime is built afterwards).
    match unsafe { fork() }.context("cannot fork")? {
        ForkResult::Parent { child } => {
            if let Some(path) = pidfile {
                write_pidfile(path, child.as_raw())?;
            }
            std::process::exit(0);
        }
        ForkResult::Child => {
            setsid().context("setsid")?;
            let devnull = std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .open("/dev/null")?;
            use std::os::fd::AsRawFd;
            for fd in 0..=2 {
                nix::unistd::dup2(devnull.as_raw_fd(), fd).context("redirecting stdio")?;
            }
            Ok(())
        }
    }
}

/// Sends `signal` to each pid (the old processes of a reload).
fn signal_pids(pids: &[u32], signal: Signal) {
    for &pid in pids {
        if let Err(e) = kill(Pid::from_raw(pid as i32), signal) {
            tracing::warn!("cannot send {signal} to pid {pid}: {e}");
        }
    }
}

/// The listening sockets of the old process, per `-x` (`/dev/null`: none).
fn take_sockets(options: &RunOptions) -> Result<baton_runtime::handover::inherited::Inherited> {
    use baton_runtime::handover::{client, inherited};
    let Some(path) = &options.take_sockets_from else {
        return Ok(inherited::Inherited::default());
    };
    if path == Path::new("/dev/null") {
        return Ok(inherited::Inherited::default());
    }
    let received = match crate::mworker::worker::sockpair_fd(path) {
        Some(fd) => client::fetch_over(std::os::unix::net::UnixStream::from(fd?)),
        None => client::fetch(path),
    }
    .map_err(|e| anyhow::anyhow!("{e}\nFailed to get the sockets from the old process!"))?;
    let sockets = received
        .into_iter()
        .map(|(fd, record)| inherited::InheritedSocket::inspect(fd, record))
        .collect();
    Ok(inherited::Inherited::new(sockets))
}

/// Runs the proxy; returns the process exit code.
pub fn run(mut options: RunOptions) -> Result<i32> {
    signals::handled()
        .thread_block()
        .context("blocking signals")?;
    let config = load(&options)?;
    let mut inherited = match take_sockets(&options) {
        Ok(inherited) => inherited,
        // A worker binds what it could not take, as HAProxy's workers do.
        Err(e) if options.worker_ipc.is_some() => {
            tracing::warn!("{e:#}; binding the listeners anew");
            baton_runtime::handover::inherited::Inherited::default()
        }
        Err(e) => return Err(e),
    };
    let bound = runtime::bind(&config, &mut inherited).map_err(|e| anyhow::anyhow!("{e}"))?;
    if options.take_sockets_from.is_some() {
        tracing::info!(
            "took {} listening sockets from the old process",
            bound.inherited
        );
    }
    let daemon = (options.daemon || config.global.daemon) && !options.foreground;
    let pidfile = options.pidfile.clone().or(config.global.pidfile.clone());
    if daemon {
        daemonize(pidfile.as_deref())?;
    } else if let Some(path) = &pidfile {
        write_pidfile(path, std::process::id() as i32)?;
    }
    baton_runtime::privileges::drop_privileges(&config.global)?;
    let threads = config
        .global
        .nbthread
        .map(|n| n as usize)
        .unwrap_or_else(|| {
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1)
        });
    let hard_stop_after = config.global.hard_stop_after;
    let worker_ipc = options.worker_ipc.take();
    let workers = Workers::spawn(threads.saturating_sub(1))?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let worker_handles = workers.handles.clone();
    let result = rt.block_on(async move {
        // Signal handlers first: a -sf from the next generation must never find them missing.
        let handlers = signals::Handlers::install()?;
        // Handlers exist: let pending and future signals in (on this thread only; the worker
        // threads keep them blocked).
        signals::handled().thread_unblock()?;
        let mut handles = vec![tokio::runtime::Handle::current()];
        handles.extend(worker_handles);
        let running = runtime::start(bound, &handles)?;
        signal_pids(&options.soft_stop, Signal::SIGUSR1);
        signal_pids(&options.hard_stop, Signal::SIGTERM);
        // A worker answers the master on its socketpair (also while it drains) and stops when
        // the master is gone.
        let (gone_tx, gone_rx) = tokio::sync::oneshot::channel::<()>();
        if let Some(fd) = worker_ipc {
            let ipc = crate::mworker::ipc::adopt(fd)?;
            let api = std::sync::Arc::clone(&running.api);
            tokio::spawn(async move {
                crate::mworker::worker::serve(ipc, api).await;
                let _ = gone_tx.send(());
            });
        }
        let master_gone = async {
            if gone_rx.await.is_err() {
                std::future::pending::<()>().await; // not a worker
            }
        };
        let ending = tokio::select! {
            ending = handlers.serve(&running, hard_stop_after) => ending,
            _ = master_gone => {
                tracing::error!("the master process is gone: stopping");
                running.stop();
                signals::Ending::Exit(1)
            }
        };
        Ok::<_, anyhow::Error>(ending)
    });
    workers.stop();
    // The last log lines (`Proxy X stopped`) leave before the process does.
    baton_runtime::log::sink::flush(std::time::Duration::from_millis(500));
    drop(rt);
    Ok(signals::end(result?))
}

/// Worker threads, each running a single-threaded tokio runtime until told to stop.
struct Workers {
    /// Their runtimes, to spawn accept loops on.
    handles: Vec<tokio::runtime::Handle>,
    /// Dropping the sender ends every worker's runtime.
    stop: Option<tokio::sync::watch::Sender<()>>,
    /// The threads, joined on stop.
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl Workers {
    /// Starts `n` worker threads.
    fn spawn(n: usize) -> Result<Self> {
        let (stop, stopped) = tokio::sync::watch::channel(());
        let mut handles = Vec::with_capacity(n);
        let mut threads = Vec::with_capacity(n);
        for i in 0..n {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            handles.push(rt.handle().clone());
            let mut stopped = stopped.clone();
            threads.push(
                std::thread::Builder::new()
                    .name(format!("baton-worker-{}", i + 1))
                    .spawn(move || {
                        rt.block_on(async move {
                            let _ = stopped.changed().await; // returns when the sender is dropped
                        });
                    })?,
            );
        }
        Ok(Workers {
            handles,
            stop: Some(stop),
            threads,
        })
    }

    /// Stops every worker and waits for its thread.
    fn stop(mut self) {
        self.stop.take();
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}
