//! The stats socket: HAProxy's runtime API, and the door through which the next process takes
//! the listeners (`_getsocks` on a socket with `expose-fd listeners`).
//!
//! A UNIX stats socket is bound to `PATH.<pid>.tmp`, given its `mode`/`user`/`group`, and then
//! renamed over `PATH`, so the path never goes missing during a reload. Nothing a client sends
//! can block the data path: each connection is its own task, bounded by `stats timeout`,
//! `stats maxconn` and a maximum line length.

pub mod commands;
pub mod csv;

use crate::backend::Backend;
use crate::handover::server::{send_sockets, ExportedSocket};
use crate::lifecycle::{Lifecycle, Phase};
use crate::sessions::SessionTracker;
use baton_config::model::{Identity, Level, ListenAddress, StatsSocket};
use commands::Action;
use std::collections::HashMap;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::Semaphore;

/// The longest command line accepted.
const MAX_LINE: usize = 16384;

/// What the runtime API can see and change.
#[derive(Debug)]
pub struct ApiContext {
    /// Frontends with their ids (1-based, configuration order), for `show stat`.
    pub frontends: Vec<(usize, Arc<crate::frontend::Frontend>)>,
    /// Backends by name.
    pub backends: HashMap<String, Arc<Backend>>,
    /// Backend ids (1-based, configuration order), for `show servers state`.
    pub backend_ids: HashMap<String, usize>,
    /// The lifecycle.
    pub lifecycle: Arc<Lifecycle>,
    /// Live client sessions.
    pub sessions: SessionTracker,
    /// When the process started serving.
    pub started: Instant,
    /// Worker threads.
    pub nbthread: usize,
    /// Global `maxconn`.
    pub maxconn: u32,
    /// Sockets the next process may take; emptied when draining.
    pub exports: Arc<Mutex<Vec<ExportedSocket>>>,
    /// `stats timeout`.
    pub timeout: Duration,
    /// `stats maxconn` across all stats sockets.
    pub slots: Arc<Semaphore>,
    /// Live runtime API sessions (a hand-over in progress must finish before the exported
    /// sockets are released).
    pub stats_sessions: SessionTracker,
    /// The frontends' listeners: a hand-over marks them shared, so they are never paused.
    pub listeners: Vec<Arc<crate::pause::ListenerControl>>,
}

/// Why a stats socket could not be set up.
#[derive(Debug, thiserror::Error)]
#[error("cannot bind stats socket {path}: {source}")]
pub struct StatsBindError {
    /// The socket's address as configured.
    pub path: String,
    /// The cause.
    #[source]
    pub source: std::io::Error,
}

/// Binds a UNIX stats socket at a temporary name, applies its permissions and renames it into
/// place; returns the listening socket.
pub fn bind_unix(
    path: &Path,
    socket: &StatsSocket,
) -> Result<std::os::unix::net::UnixListener, StatsBindError> {
    let fail = |source| StatsBindError {
        path: path.display().to_string(),
        source,
    };
    let tmp = PathBuf::from(format!("{}.{}.tmp", path.display(), std::process::id()));
    let _ = std::fs::remove_file(&tmp);
    let listener = std::os::unix::net::UnixListener::bind(&tmp).map_err(fail)?;
    let result = (|| {
        use std::os::unix::fs::PermissionsExt;
        if let Some(mode) = socket.options.mode {
            std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(mode))?;
        }
        let uid = socket.options.user.as_ref().map(resolve_user).transpose()?;
        let gid = socket
            .options
            .group
            .as_ref()
            .map(resolve_group)
            .transpose()?;
        if uid.is_some() || gid.is_some() {
            std::os::unix::fs::chown(&tmp, uid, gid)?;
        }
        std::fs::rename(&tmp, path)
    })();
    if let Err(source) = result {
        let _ = std::fs::remove_file(&tmp);
        return Err(fail(source));
    }
    Ok(listener)
}

/// A user name or id to a uid.
fn resolve_user(user: &Identity) -> std::io::Result<u32> {
    match user {
        Identity::Id(id) => Ok(*id),
        Identity::Name(name) => nix::unistd::User::from_name(name)
            .ok()
            .flatten()
            .map(|u| u.uid.as_raw())
            .ok_or_else(|| {
                std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    format!("unknown user '{name}'"),
                )
            }),
    }
}

/// A group name or id to a gid.
fn resolve_group(group: &Identity) -> std::io::Result<u32> {
    match group {
        Identity::Id(id) => Ok(*id),
        Identity::Name(name) => nix::unistd::Group::from_name(name)
            .ok()
            .flatten()
            .map(|g| g.gid.as_raw())
            .ok_or_else(|| {
                std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    format!("unknown group '{name}'"),
                )
            }),
    }
}

/// The UNIX path of a stats socket, if it is one.
pub fn unix_path(socket: &StatsSocket) -> Option<&Path> {
    match &socket.address {
        ListenAddress::Unix(path) => Some(path),
        _ => None,
    }
}

/// A stats socket ready to serve.
#[derive(Debug)]
pub struct StatsListener {
    /// The configuration line.
    pub config: StatsSocket,
    /// The listening socket.
    pub fd: OwnedFd,
}

/// Serves one stats socket (UNIX or TCP) until the process starts draining.
pub async fn serve(listener: StatsListener, ctx: Arc<ApiContext>) {
    let config = Arc::new(listener.config);
    if unix_path(&config).is_some() {
        let std_listener = std::os::unix::net::UnixListener::from(listener.fd);
        let Ok(l) = std_listener
            .set_nonblocking(true)
            .and_then(|_| UnixListener::from_std(std_listener))
        else {
            return;
        };
        accept_loop(&ctx, &config, || l.accept()).await;
    } else {
        let std_listener = std::net::TcpListener::from(listener.fd);
        let Ok(l) = std_listener
            .set_nonblocking(true)
            .and_then(|_| tokio::net::TcpListener::from_std(std_listener))
        else {
            return;
        };
        accept_loop(&ctx, &config, || l.accept()).await;
    }
}

/// Accepts runtime API connections until draining: a draining process stops answering on the
/// (shared) stats socket at once, so the next `_getsocks` reaches the process in charge.
async fn accept_loop<S, A, F>(ctx: &Arc<ApiContext>, config: &Arc<StatsSocket>, accept: F)
where
    S: Session + 'static,
    F: Fn() -> A,
    A: std::future::Future<Output = std::io::Result<(S, S::Peer)>>,
{
    let mut phase = ctx.lifecycle.watch();
    loop {
        let accepted = tokio::select! {
            a = accept() => a,
            _ = phase.wait_for(|p| *p >= Phase::Draining) => return,
        };
        let Ok((stream, _)) = accepted else { continue };
        let access = Access {
            level: config.options.level,
            expose_fd_listeners: config.options.expose_fd_listeners,
        };
        spawn_session(ctx, stream, access);
    }
}

/// What a runtime API connection may do: its level, and whether it may take the listeners.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Access {
    /// Commands above this level answer "Permission denied".
    pub level: Level,
    /// `_getsocks` sends the listeners (`expose-fd listeners`).
    pub expose_fd_listeners: bool,
}

/// Serves one runtime API connection on its own task, within `stats maxconn`. Used by the stats
/// socket listeners and for connections the master hands to a worker (its `@N` forwarding and
/// the next worker's `_getsocks`).
pub fn spawn_session<S: Session + 'static>(ctx: &Arc<ApiContext>, stream: S, access: Access) {
    let Ok(permit) = Arc::clone(&ctx.slots).try_acquire_owned() else {
        return; // over `stats maxconn`: dropping the stream closes it
    };
    let ctx = Arc::clone(ctx);
    let guard = ctx.stats_sessions.enter();
    tokio::spawn(async move {
        if let Some(stream) = session(stream, access, &ctx).await {
            stream.hand_over(&ctx).await;
        }
        drop(permit);
        drop(guard);
    });
}

/// A runtime API connection: UNIX (which can carry descriptors) or TCP (which cannot).
pub trait Session: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + Sized {
    /// The peer address type of the listener's `accept`.
    type Peer;
    /// Answers `_getsocks` on a socket with `expose-fd listeners`.
    fn hand_over(self, ctx: &Arc<ApiContext>) -> impl std::future::Future<Output = ()> + Send;
}

impl Session for UnixStream {
    type Peer = tokio::net::unix::SocketAddr;
    async fn hand_over(self, ctx: &Arc<ApiContext>) {
        hand_over(self, ctx).await;
    }
}

impl Session for tokio::net::TcpStream {
    type Peer = std::net::SocketAddr;
    async fn hand_over(self, _ctx: &Arc<ApiContext>) {
        // Descriptors only travel over UNIX sockets: nothing to send, as HAProxy.
    }
}

/// One runtime API connection; returns the stream when it asked for the listeners (and may
/// have them: the socket has `expose-fd listeners`).
async fn session<S: Session>(stream: S, access: Access, ctx: &Arc<ApiContext>) -> Option<S> {
    let mut reader = BufReader::new(stream);
    let mut interactive = false;
    let mut line = Vec::with_capacity(256);
    loop {
        line.clear();
        let read = tokio::time::timeout(ctx.timeout, read_line(&mut reader, &mut line)).await;
        let Ok(Ok(n)) = read else { return None };
        if n == 0 {
            return None;
        }
        let text = String::from_utf8_lossy(&line)
            .trim_end_matches(['\r', '\n'])
            .to_string();
        let mut output = String::new();
        for command in text.split(';') {
            match commands::execute(command, access.level, ctx) {
                Action::Reply(reply) => {
                    output.push_str(&reply);
                    output.push('\n');
                }
                Action::TogglePrompt => {
                    interactive = !interactive;
                    output.push('\n');
                }
                Action::Quit => {
                    let _ = reader.get_mut().write_all(output.as_bytes()).await;
                    return None;
                }
                // Without `expose-fd listeners` HAProxy sends nothing and ends the session.
                Action::GetSocks => return access.expose_fd_listeners.then(|| reader.into_inner()),
            }
        }
        if interactive {
            output.push_str("> ");
        }
        if reader.get_mut().write_all(output.as_bytes()).await.is_err() || !interactive {
            return None;
        }
    }
}

/// Reads one line of at most [`MAX_LINE`] bytes (a longer one ends the session).
async fn read_line<S: Session>(
    reader: &mut BufReader<S>,
    line: &mut Vec<u8>,
) -> std::io::Result<usize> {
    let n = (&mut *reader)
        .take(MAX_LINE as u64)
        .read_until(b'\n', line)
        .await?;
    if n == MAX_LINE && line.last() != Some(&b'\n') {
        return Err(std::io::ErrorKind::InvalidData.into());
    }
    Ok(n)
}

use tokio::io::AsyncReadExt as _;

/// Sends the exported sockets over this connection (on a blocking thread, as the protocol
/// is a strict lock-step of messages and acks).
async fn hand_over(stream: UnixStream, ctx: &Arc<ApiContext>) {
    let Ok(std_stream) = stream.into_std() else {
        return;
    };
    ctx.lifecycle.advance(Phase::HandingOver);
    // From the first byte sent, another process may hold these sockets: never pause them.
    for listener in &ctx.listeners {
        listener.mark_shared();
    }
    let exports = Arc::clone(&ctx.exports);
    let result = tokio::task::spawn_blocking(move || {
        let exports = exports
            .lock()
            .map_err(|_| std::io::Error::other("exports lock poisoned"))?;
        send_sockets(std_stream, &exports)
    })
    .await;
    match result {
        Ok(Ok(n)) => tracing::info!("handed {n} listening sockets to the next process"),
        Ok(Err(e)) => tracing::warn!("socket hand-over failed: {e}"),
        Err(e) => tracing::warn!("socket hand-over task failed: {e}"),
    }
}
