//! The signals a running baton obeys, and how the process ends: HAProxy 2.6's standalone mode,
//! as measured with Debian's `haproxy` on this machine.
//!
//! | signal | effect | the process ends with |
//! |---|---|---|
//! | SIGUSR1 (`-sf`) | soft stop | exit status 0 (also when `hard-stop-after` cuts it short) |
//! | SIGTERM (`-st`), SIGINT | hard stop, even during a soft stop | the same signal (re-raised) |
//! | SIGTTOU / SIGTTIN | pause / resume the listeners (never a shared one) | keeps running |
//! | SIGHUP | logs each server's state | keeps running |
//! | SIGQUIT, SIGUSR2 | nothing to do in standalone mode (logged) | keeps running |
//!
//! Ending by the signal itself, as HAProxy does, lets a supervisor tell "stopped on request"
//! from "failed" (systemd counts SIGTERM as a clean stop).

use anyhow::Result;
use baton_runtime::runtime::Running;
use nix::sys::signal::{SigSet, Signal};
use std::time::Duration;
use tokio::signal::unix::{signal, Signal as Stream, SignalKind};

/// The signals baton handles. They are blocked from the first instruction until their handlers
/// exist, so a `-sf` from the next generation that arrives early is delivered late instead of
/// killing this process with the default action.
pub fn handled() -> SigSet {
    let mut set = SigSet::empty();
    for s in [
        Signal::SIGUSR1,
        Signal::SIGUSR2,
        Signal::SIGTERM,
        Signal::SIGINT,
        Signal::SIGHUP,
        Signal::SIGQUIT,
        Signal::SIGTTOU,
        Signal::SIGTTIN,
    ] {
        set.add(s);
    }
    set
}

/// How the process ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// Exit with this status.
    Exit(i32),
    /// Die by this signal, with its default action.
    Signal(Signal),
}

/// The installed handlers; create before unblocking [`handled`] signals.
pub struct Handlers {
    /// SIGUSR1.
    usr1: Stream,
    /// SIGTERM.
    term: Stream,
    /// SIGINT.
    int: Stream,
    /// SIGTTOU.
    ttou: Stream,
    /// SIGTTIN.
    ttin: Stream,
    /// SIGHUP.
    hup: Stream,
    /// SIGQUIT.
    quit: Stream,
    /// SIGUSR2.
    usr2: Stream,
}

impl Handlers {
    /// Installs a handler for each signal baton obeys (inside a tokio runtime).
    pub fn install() -> Result<Self> {
        let raw = |s: Signal| signal(SignalKind::from_raw(s as i32));
        Ok(Handlers {
            usr1: raw(Signal::SIGUSR1)?,
            term: raw(Signal::SIGTERM)?,
            int: raw(Signal::SIGINT)?,
            ttou: raw(Signal::SIGTTOU)?,
            ttin: raw(Signal::SIGTTIN)?,
            hup: raw(Signal::SIGHUP)?,
            quit: raw(Signal::SIGQUIT)?,
            usr2: raw(Signal::SIGUSR2)?,
        })
    }

    /// Obeys signals until the process must end; returns how.
    pub async fn serve(mut self, running: &Running, hard_stop_after: Option<Duration>) -> Ending {
        let hard = loop {
            tokio::select! {
                _ = self.usr1.recv() => break None,
                _ = self.term.recv() => break Some(Signal::SIGTERM),
                _ = self.int.recv() => break Some(Signal::SIGINT),
                _ = self.ttou.recv() => running.pause(),
                _ = self.ttin.recv() => running.resume(),
                _ = self.hup.recv() => log_servers(running),
                _ = self.quit.recv() => tracing::warn!("SIGQUIT received: nothing to dump."),
                _ = self.usr2.recv() => tracing::debug!("SIGUSR2 ignored outside master-worker mode"),
            }
        };
        if let Some(sig) = hard {
            running.stop();
            return Ending::Signal(sig);
        }
        tracing::info!("soft stop requested (SIGUSR1)");
        let soft_stop = running.soft_stop(hard_stop_after);
        tokio::pin!(soft_stop);
        // A hard stop still cuts a soft stop short.
        let hard = loop {
            tokio::select! {
                _ = &mut soft_stop => return Ending::Exit(0),
                _ = self.term.recv() => break Signal::SIGTERM,
                _ = self.int.recv() => break Signal::SIGINT,
                _ = self.usr1.recv() => {}
                _ = self.ttou.recv() => running.pause(),
                _ = self.ttin.recv() => running.resume(),
                _ = self.hup.recv() => log_servers(running),
                _ = self.quit.recv() => {}
                _ = self.usr2.recv() => {}
            }
        };
        running.stop();
        Ending::Signal(hard)
    }
}

/// SIGHUP: one line per server with its state and connections, as HAProxy logs them.
fn log_servers(running: &Running) {
    tracing::warn!("SIGHUP received, dumping servers states.");
    let mut backends: Vec<_> = running.backends.values().collect();
    backends.sort_by(|a, b| a.name.cmp(&b.name));
    for backend in backends {
        for s in &backend.servers {
            tracing::warn!(
                "SIGHUP: Server {}/{} is {}. Conn: {} act, {} tot.",
                backend.name,
                s.name,
                s.status().name(),
                s.active(),
                s.total()
            );
        }
    }
}

/// Ends the process as `ending` says; a signal is re-raised with its default action, so the
/// process dies by it.
pub fn end(ending: Ending) -> i32 {
    match ending {
        Ending::Exit(code) => code,
        Ending::Signal(sig) => {
            use nix::sys::signal::{sigaction, SaFlags, SigAction, SigHandler};
            let default = SigAction::new(SigHandler::SigDfl, SaFlags::empty(), SigSet::empty());
            // SAFETY: restoring the default action installs no handler code.
            let _ = unsafe { sigaction(sig, &default) };
            let mut only = SigSet::empty();
            only.add(sig);
            let _ = only.thread_unblock();
            let _ = nix::sys::signal::raise(sig);
            // Not reached: the default action of SIGTERM and SIGINT ends the process.
            128 + sig as i32
        }
    }
}
