//! Whole-configuration checks: what can only be judged once every file has been read.
//!
//! References between proxies (`default_backend`), mode compatibility, frontends without a
//! `bind`, and missing timeouts, reported the way `haproxy -c` reports them.

use crate::diag::Diagnostic;
use crate::model::{Config, Mode};

/// Appends the findings of every whole-configuration check to `out`.
pub fn check(config: &Config, out: &mut Vec<Diagnostic>) {
    for proxy in &config.proxies {
        let kind = proxy.kind.name();
        let name = &proxy.name;
        if let Some((backend, at)) = &proxy.default_backend {
            match config.backend(backend) {
                None => out.push(Diagnostic::alert(
                    Some(at.clone()),
                    format!("Proxy '{name}': unable to find required default_backend: '{backend}'."),
                )),
                Some(target) if proxy.mode == Mode::Http && target.mode == Mode::Tcp => {
                    out.push(Diagnostic::alert(
                        Some(at.clone()),
                        format!(
                            "Proxy '{name}': unable to use proxy '{backend}' with wrong mode, required: http, has: tcp."
                        ),
                    ))
                }
                Some(_) => {}
            }
        }
        if proxy.kind.is_frontend() && proxy.binds.is_empty() {
            out.push(Diagnostic::warning(
                Some(proxy.location.clone()),
                format!("{kind} '{name}' has no 'bind' directive. Please declare it as a backend if this was intended."),
            ));
        }
        crate::load::rules::check_proxy(config, proxy, out);
        let t = &proxy.timeouts;
        let mut missing = Vec::new();
        if proxy.kind.is_frontend() && t.client.is_none() {
            missing.push("client");
        }
        if proxy.kind.is_backend() && !proxy.servers.is_empty() {
            if t.connect.is_none() {
                missing.push("connect");
            }
            if t.server.is_none() {
                missing.push("server");
            }
        }
        if !missing.is_empty() {
            out.push(Diagnostic::warning(
                Some(proxy.location.clone()),
                format!(
                    "missing timeouts for {kind} '{name}' (timeout {}). While not properly invalid, \
                     connections may stay open forever; set them in 'defaults'.",
                    missing.join(", timeout ")
                ),
            ));
        }
    }
}
