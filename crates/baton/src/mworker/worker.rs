//! The worker's side of master-worker mode: a worker is the ordinary single-process proxy,
//! started by the master with the end of an IPC socketpair in [`ipc::IPC_FD_ENV`].
//!
//! Over that socketpair it receives runtime API connections from the master (forwarded `@N`
//! commands, and the next worker's `_getsocks`), tells the master `READY` once it serves, and
//! stops at once when the master's end closes (the master is gone: nobody would ever tell this
//! worker to stop otherwise).

use super::ipc;
use anyhow::{bail, Context, Result};
use baton_runtime::stats::{spawn_session, ApiContext};
use std::os::fd::{FromRawFd, OwnedFd};
use std::sync::Arc;

/// Takes ownership of inherited descriptor `fd` after checking that it is an open socket, and
/// marks it close-on-exec so that it goes no further.
pub fn inherited_socket(fd: i32, what: &str) -> Result<OwnedFd> {
    use nix::sys::stat::{fstat, SFlag};
    if fd < 3 {
        bail!("{what}: descriptor {fd} is not an inherited socket");
    }
    let stat = fstat(fd).with_context(|| format!("{what}: descriptor {fd}"))?;
    if SFlag::from_bits_truncate(stat.st_mode) & SFlag::S_IFMT != SFlag::S_IFSOCK {
        bail!("{what}: descriptor {fd} is not a socket");
    }
    // SAFETY: fd is open (fstat succeeded) and was handed to this process to own.
    let owned = unsafe { OwnedFd::from_raw_fd(fd) };
    nix::fcntl::fcntl(
        fd,
        nix::fcntl::FcntlArg::F_SETFD(nix::fcntl::FdFlag::FD_CLOEXEC),
    )?;
    Ok(owned)
}

/// The IPC socket the master gave this process, if it is a worker (the variable is removed).
pub fn ipc_from_env() -> Result<Option<OwnedFd>> {
    let Some(value) = std::env::var_os(ipc::IPC_FD_ENV) else {
        return Ok(None);
    };
    std::env::remove_var(ipc::IPC_FD_ENV);
    let fd: i32 = value
        .to_str()
        .and_then(|v| v.parse().ok())
        .with_context(|| format!("{}: not a descriptor number", ipc::IPC_FD_ENV))?;
    inherited_socket(fd, ipc::IPC_FD_ENV).map(Some)
}

/// The `-x sockpair@FD` form: the descriptor of a connection to the old worker.
pub fn sockpair_fd(spec: &std::path::Path) -> Option<Result<OwnedFd>> {
    let n = spec.to_str()?.strip_prefix("sockpair@")?;
    Some(
        n.parse()
            .with_context(|| format!("-x {}: not a descriptor number", spec.display()))
            .and_then(|fd| inherited_socket(fd, "-x sockpair@")),
    )
}

/// Tells the master this worker serves, then serves the connections it hands over until its
/// end closes; returns then (the master is gone).
pub async fn serve(ipc: tokio::net::UnixStream, ctx: Arc<ApiContext>) {
    if let Err(e) = ipc::write_all(&ipc, ipc::READY).await {
        tracing::warn!("cannot tell the master this worker is ready: {e}");
    }
    loop {
        match ipc::receive(&ipc).await {
            Ok(Some((grant, fd))) => match ipc::adopt(fd) {
                Ok(stream) => spawn_session(&ctx, stream, grant.access()),
                Err(e) => tracing::warn!("bad connection from the master: {e}"),
            },
            Ok(None) => return,
            Err(e) => {
                tracing::warn!("master socket: {e}");
                return;
            }
        }
    }
}
