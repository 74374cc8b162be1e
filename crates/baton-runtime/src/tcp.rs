//! `mode tcp` sessions: choose a server, connect, then tunnel bytes both ways.

use crate::backend::balance::PickKey;
use crate::backend::ConnectError;
use crate::frontend::Frontend;
use crate::log::record::{ms, Cause, Record, Stage};
use crate::tunnel::{self, TunnelEnd, TunnelTimeouts};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;
use tokio::net::TcpStream;

/// Serves one tcp-mode connection; the client is closed when no server can be reached.
/// `rec`, present when the frontend logs traffic, receives the timers, bytes and outcome.
pub async fn serve(
    frontend: Arc<Frontend>,
    client: &mut TcpStream,
    peer: SocketAddr,
    mut rec: Option<&mut Record>,
) {
    let routed = frontend.rules.as_ref().and_then(|rules| {
        let vars = crate::http::sample::Vars::default();
        let ex = crate::http::sample::Exchange {
            client: peer,
            local: client.local_addr().ok(),
            request: None,
            response: None,
            vars: &vars,
            frontend: &frontend.name,
            backend: "",
            userlists: Some(&rules.userlists),
        };
        crate::http::rules::choose_backend(rules, &ex)
    });
    let Some(backend) = routed.or_else(|| frontend.default_backend.clone()) else {
        if let Some(r) = rec {
            r.end(Cause::Proxy, Stage::Request);
        }
        return; // nowhere to send it: HAProxy closes the connection too
    };
    if let Some(r) = rec.as_deref_mut() {
        r.backend = Some(Arc::from(backend.name.as_str()));
    }
    let key = PickKey {
        client: Some(peer.ip()),
        path: None,
    };
    let queued = rec.is_some().then(Instant::now);
    let slot = match backend.acquire(&key).await {
        Ok(slot) => slot,
        Err(e) => {
            tracing::debug!(frontend = %frontend.name, backend = %backend.name, error = %e, "no server");
            if let Some(r) = rec {
                match e {
                    ConnectError::QueueTimeout { ahead } => {
                        r.backend_queue = ahead;
                        r.end(Cause::ServerTimeout, Stage::Queue)
                    }
                    _ => r.end(Cause::ServerAbort, Stage::Connect),
                }
            }
            return;
        }
    };
    let connecting = queued.map(|q| {
        let now = Instant::now();
        (ms(q, now), now)
    });
    // Only servers configured without a port need the port the client connected to.
    let client_port = if slot.server().port_from_client {
        client.local_addr().map_or(0, |a| a.port())
    } else {
        0
    };
    let server_state = Arc::clone(slot.server());
    if let (Some(r), Some((tw, _))) = (rec.as_deref_mut(), connecting) {
        r.tw = tw;
        r.backend_queue = slot.queued_ahead;
        r.server = Some(Arc::from(server_state.name.as_str()));
        r.server_addr = Some(server_state.addr);
    }
    let mut server = match backend.connect(slot, &key, client_port, &[]).await {
        Ok(conn) => conn,
        Err(e) => {
            tracing::debug!(frontend = %frontend.name, backend = %backend.name, error = %e, "connect failed");
            crate::counters::Counters::bump(&backend.counters.conn_errors);
            if let Some(r) = rec {
                r.retries = backend.retries;
                r.end(Cause::ServerAbort, Stage::Connect);
            }
            return;
        }
    };
    if let (Some(r), Some((_, started))) = (rec.as_deref_mut(), connecting) {
        r.tc = ms(started, Instant::now());
        r.retries = server.retries;
        if frontend
            .log
            .as_ref()
            .is_some_and(|l| l.needs_backend_source())
        {
            r.backend_source = server.stream.local_addr().ok();
        }
        let s = server.guard.server();
        r.server = Some(Arc::from(s.name.as_str()));
        r.server_addr = Some(s.addr);
    }
    let timeouts = TunnelTimeouts {
        client: frontend.timeouts.client,
        server: backend.timeouts.server,
        tunnel: backend.timeouts.tunnel,
        client_fin: frontend.timeouts.client_fin,
        server_fin: backend.timeouts.server_fin,
    };
    let live = backend.counters.enter();
    let (end, moved) = tunnel::run(client, &mut server.stream, timeouts).await;
    drop(server);
    drop(live);
    if let Some(r) = rec {
        r.bytes_in = moved.up;
        r.bytes_out = moved.down;
        match end {
            TunnelEnd::Closed => {}
            TunnelEnd::Timeout => r.end(Cause::ClientTimeout, Stage::Data),
            TunnelEnd::Error => r.end(Cause::ClientAbort, Stage::Data),
        }
        r.beconn = crate::counters::Counters::get(&backend.counters.cur);
        r.srv_conn = u64::from(server_state.active());
    }
}
