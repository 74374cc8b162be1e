//! Pausing and resuming a listening socket (SIGTTOU / SIGTTIN), refused on a shared socket.
//!
//! A pause puts the socket back to the closed state without closing it (`connect(AF_UNSPEC)`):
//! connections waiting in its accept queue are reset and new ones refused; a resume listens
//! again. Because it acts on the socket itself, not on this process's descriptor, pausing a
//! socket that another process also holds (received with `-x`, or sent to the next process by
//! `_getsocks`) would break that process too: such a pause is refused and logged, and the
//! listener keeps accepting.
//!
//! While paused, the accept loops drop their poller registrations; they register afresh on
//! resume. A registration that lived through the pause would keep the hang-up it saw, and tokio
//! would report the socket ready forever: an accept loop spinning at 100% CPU.

use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::{Arc, Mutex};
use tokio::sync::watch;

/// What became of a pause or resume request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Done.
    Done,
    /// Nothing to do (already in that state, or the listener is closed).
    Unchanged,
    /// Refused: the socket is shared with another process.
    RefusedShared,
    /// The system refused.
    Failed,
}

/// The pause state of one listening socket, shared by its accept loops.
#[derive(Debug)]
pub struct ListenerControl {
    /// `frontend/address`, for logs.
    pub name: String,
    /// The backlog to listen with again on resume.
    backlog: i32,
    /// The socket (a duplicate of the accept loops' descriptors) and whether it is shared;
    /// `None` once every accept loop has ended. One lock, so that a hand-over cannot slip
    /// between a pause's check and its system call.
    state: Mutex<State>,
    /// Whether the accept loops must stay deregistered.
    paused: watch::Sender<bool>,
}

/// The mutable part of a [`ListenerControl`].
#[derive(Debug)]
struct State {
    /// The socket, until the last accept loop ends.
    fd: Option<OwnedFd>,
    /// Another process holds it too.
    shared: bool,
    /// Accept loops still running.
    loops: usize,
}

/// One accept loop's hold on its listener; the last one to go closes the control's duplicate.
#[derive(Debug)]
pub struct LoopGuard {
    /// The control.
    control: Arc<ListenerControl>,
}

impl ListenerControl {
    /// A control for `fd`; `shared` when it was received from another process.
    pub fn new(name: String, fd: OwnedFd, backlog: u32, shared: bool) -> Self {
        ListenerControl {
            name,
            backlog: backlog.clamp(1, i32::MAX as u32) as i32,
            state: Mutex::new(State {
                fd: Some(fd),
                shared,
                loops: 0,
            }),
            paused: watch::channel(false).0,
        }
    }

    /// Registers one accept loop; the socket stays open for pause/resume while any runs.
    pub fn enter(self: &Arc<Self>) -> LoopGuard {
        self.lock().loops += 1;
        LoopGuard {
            control: Arc::clone(self),
        }
    }

    /// A watch of the paused flag, for an accept loop.
    pub fn watch(&self) -> watch::Receiver<bool> {
        self.paused.subscribe()
    }

    /// Marks the socket as held by another process too (from the first byte of a hand-over).
    pub fn mark_shared(&self) {
        self.lock().shared = true;
    }

    /// Whether another process holds the socket too.
    pub fn is_shared(&self) -> bool {
        self.lock().shared
    }

    /// Pauses the listener, unless it is shared.
    pub fn pause(&self) -> Outcome {
        let state = self.lock();
        let Some(fd) = &state.fd else {
            return Outcome::Unchanged;
        };
        if state.shared {
            return Outcome::RefusedShared;
        }
        if *self.paused.borrow() {
            return Outcome::Unchanged;
        }
        // Deregister first, so no accept loop sees the hang-up.
        self.paused.send_replace(true);
        match disconnect(fd) {
            Ok(()) => Outcome::Done,
            Err(e) => {
                tracing::warn!(listener = %self.name, error = %e, "cannot pause listener");
                self.paused.send_replace(false);
                Outcome::Failed
            }
        }
    }

    /// Resumes a paused listener.
    pub fn resume(&self) -> Outcome {
        let state = self.lock();
        let Some(fd) = &state.fd else {
            return Outcome::Unchanged;
        };
        if !*self.paused.borrow() {
            return Outcome::Unchanged;
        }
        match socket2::SockRef::from(fd).listen(self.backlog) {
            Ok(()) => {
                self.paused.send_replace(false);
                Outcome::Done
            }
            Err(e) => {
                tracing::warn!(listener = %self.name, error = %e, "cannot resume listener");
                Outcome::Failed
            }
        }
    }

    /// The state, even if a panicking thread poisoned the lock (it holds no invariant that a
    /// panic could break).
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl LoopGuard {
    /// The listener's control.
    pub fn control(&self) -> &Arc<ListenerControl> {
        &self.control
    }
}

impl Drop for LoopGuard {
    fn drop(&mut self) {
        let mut state = self.control.lock();
        state.loops -= 1;
        if state.loops == 0 {
            // No accept loop left: closing must really close the socket here.
            state.fd = None;
        }
    }
}

/// `connect(fd, AF_UNSPEC)`: back to the closed state, still bound, queued connections reset.
fn disconnect(fd: &OwnedFd) -> std::io::Result<()> {
    // SAFETY: an all-zero sockaddr is valid; only its family (AF_UNSPEC = 0) is read.
    let addr: libc::sockaddr = unsafe { std::mem::zeroed() };
    // SAFETY: a valid descriptor and a pointer to a sockaddr of the size passed.
    let rc = unsafe {
        libc::connect(
            fd.as_raw_fd(),
            &addr,
            std::mem::size_of::<libc::sockaddr>() as libc::socklen_t,
        )
    };
    crate::listener::os_result(rc)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{TcpListener, TcpStream};

    fn control(shared: bool) -> (Arc<ListenerControl>, TcpListener) {
        // An explicit port: one the kernel picked for port 0 is released by the pause, as
        // for any socket bound without a port.
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let l = TcpListener::bind(("127.0.0.1", port)).unwrap();
        let c = ListenerControl::new("t".into(), l.try_clone().unwrap().into(), 16, shared);
        (Arc::new(c), l)
    }

    #[test]
    fn pause_refuses_then_resume_accepts_again() {
        let (c, l) = control(false);
        let addr = l.local_addr().unwrap();
        let _loop = c.enter();
        assert_eq!(c.pause(), Outcome::Done);
        assert_eq!(c.pause(), Outcome::Unchanged);
        assert!(*c.watch().borrow());
        assert!(
            TcpStream::connect(addr).is_err(),
            "a paused listener refuses"
        );
        assert_eq!(c.resume(), Outcome::Done);
        assert!(!*c.watch().borrow());
        let _client = TcpStream::connect(addr).unwrap();
        assert!(l.accept().is_ok());
    }

    #[test]
    fn a_shared_listener_is_never_paused() {
        let (c, l) = control(true);
        let addr = l.local_addr().unwrap();
        let _loop = c.enter();
        assert_eq!(c.pause(), Outcome::RefusedShared);
        let _client = TcpStream::connect(addr).unwrap();
        let (c, _l) = control(false);
        c.mark_shared();
        assert_eq!(c.pause(), Outcome::RefusedShared);
    }

    #[test]
    fn the_last_loop_closes_the_socket() {
        let (c, l) = control(false);
        let addr = l.local_addr().unwrap();
        drop(l);
        let a = c.enter();
        let b = c.enter();
        drop(a);
        assert!(TcpStream::connect(addr).is_ok(), "still one loop");
        drop(b);
        assert!(
            TcpStream::connect(addr).is_err(),
            "closed with the last loop"
        );
        assert_eq!(c.pause(), Outcome::Unchanged);
    }
}
