//! `mode tcp` sessions: choose a server, connect, then tunnel bytes both ways.

use crate::backend::balance::PickKey;
use crate::frontend::Frontend;
use crate::tunnel::{self, TunnelTimeouts};
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::TcpStream;

/// Serves one tcp-mode connection; the client is closed when no server can be reached.
pub async fn serve(frontend: Arc<Frontend>, client: &mut TcpStream, peer: SocketAddr) {
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
        return; // nowhere to send it: HAProxy closes the connection too
    };
    let key = PickKey {
        client: Some(peer.ip()),
        path: None,
    };
    let slot = match backend.acquire(&key).await {
        Ok(slot) => slot,
        Err(e) => {
            tracing::debug!(frontend = %frontend.name, backend = %backend.name, error = %e, "no server");
            return;
        }
    };
    // Only servers configured without a port need the port the client connected to.
    let client_port = if slot.server().port_from_client {
        client.local_addr().map_or(0, |a| a.port())
    } else {
        0
    };
    let mut server = match backend.connect(slot, &key, client_port).await {
        Ok(conn) => conn,
        Err(e) => {
            tracing::debug!(frontend = %frontend.name, backend = %backend.name, error = %e, "connect failed");
            crate::counters::Counters::bump(&backend.counters.conn_errors);
            return;
        }
    };
    let timeouts = TunnelTimeouts {
        client: frontend.timeouts.client,
        server: backend.timeouts.server,
        tunnel: backend.timeouts.tunnel,
        client_fin: frontend.timeouts.client_fin,
        server_fin: backend.timeouts.server_fin,
    };
    let _live = backend.counters.enter();
    let _ = tunnel::run(client, &mut server.stream, timeouts).await;
}
