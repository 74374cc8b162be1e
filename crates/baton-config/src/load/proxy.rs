//! Handlers for the supported directives of `defaults`, `frontend`, `backend` and `listen`.

use super::global::process_count_error;
use super::{arg_error, no_args, no_handler, single_arg, Loader, Section};
use crate::diag::Location;
use crate::keywords::Context;
use crate::model::{
    Balance, Bind, ForwardFor, HttpCheck, HttpConnectionMode, ListenAddress, Mode, Proxy,
    ProxyKind, Server,
};
use crate::values::{
    invalid_name_char, parse_listen_address, parse_network, parse_server_address, parse_time,
    parse_uint, TimeUnit,
};

impl Loader<'_> {
    /// One line of a proxy section.
    pub(super) fn proxy_line(&mut self, at: &Location, words: &[String]) {
        let Section::Proxy(proxy) = &self.section else {
            return;
        };
        let context = match proxy.kind {
            ProxyKind::Defaults => Context::Defaults,
            ProxyKind::Frontend => Context::Frontend,
            ProxyKind::Backend => Context::Backend,
            ProxyKind::Listen => Context::Listen,
        };
        // `no X` and `default X` negate or reset a keyword (`no option httplog`, `no log`).
        let (prefix, words) = match words[0].as_str() {
            "no" | "default" if words.len() > 1 => (Some(words[0].as_str()), &words[1..]),
            _ => (None, words),
        };
        // `http-request set-var(txn.x) EXPR`: the variable name rides on the action word;
        // split it off so the keyword table sees `http-request set-var`.
        let split;
        let words = match split_var_action(words) {
            Some(w) => {
                split = w;
                &split[..]
            }
            None => words,
        };
        let Some((kw, n)) = self.classify(at, context, words) else {
            if words[0] == "bind-process" {
                if let Some(message) = words.get(1).and_then(|v| process_count_error(v)) {
                    self.alert(at, arg_error("bind-process", message));
                }
            }
            return;
        };
        let name = kw.name.as_str();
        let args = &words[n..];
        let result = if super::logging::is_proxy_log_keyword(name) {
            self.proxy_log_directive(at, name, args, prefix)
        } else {
            self.proxy_directive(at, name, args, prefix)
        };
        if let Err(message) = result {
            let shown = match prefix {
                Some(p) => format!("{p} {name}"),
                None => name.to_string(),
            };
            self.alert(at, arg_error(&shown, message));
        }
    }

    /// The proxy being filled (the caller checked the section).
    fn current(&mut self) -> &mut Proxy {
        match &mut self.section {
            Section::Proxy(p) => p,
            _ => unreachable!("proxy_line only runs in a proxy section"),
        }
    }

    /// Parses one supported proxy directive.
    fn proxy_directive(
        &mut self,
        at: &Location,
        name: &str,
        args: &[String],
        prefix: Option<&str>,
    ) -> Result<(), String> {
        let one = |what: &str| single_arg(args, what);
        let none = || no_args(args);
        if prefix.is_some() && !name.starts_with("option ") {
            return Err("'no' and 'default' only apply to 'option' keywords".into());
        }
        let enable = prefix.is_none();
        if let Some(timeout) = name.strip_prefix("timeout ") {
            let value = parse_time(one("a time value")?, TimeUnit::Millis)?;
            let t = &mut self.current().timeouts;
            let slot = match timeout {
                "connect" => &mut t.connect,
                "client" => &mut t.client,
                "server" => &mut t.server,
                "tunnel" => &mut t.tunnel,
                "client-fin" => &mut t.client_fin,
                "server-fin" => &mut t.server_fin,
                "http-request" => &mut t.http_request,
                "http-keep-alive" => &mut t.http_keep_alive,
                "queue" => &mut t.queue,
                "check" => &mut t.check,
                other => return Err(format!("no handler for 'timeout {other}' (baton bug)")),
            };
            *slot = Some(value);
            return Ok(());
        }
        match name {
            "mode" => {
                let mode = match one("'tcp' or 'http'")?.as_str() {
                    "tcp" => Mode::Tcp,
                    "http" => Mode::Http,
                    "health" => {
                        return Err(
                            "'mode health' was removed in HAProxy 2.4 and is not supported".into(),
                        )
                    }
                    other => return Err(format!("unknown proxy mode '{other}'")),
                };
                let p = self.current();
                p.mode = mode;
                p.mode_explicit = true;
            }
            "maxconn" => {
                self.current().maxconn =
                    Some(parse_uint(one("an integer")?, u32::MAX as u64)? as u32)
            }
            "retries" => self.current().retries = parse_uint(one("an integer")?, 1000)? as u32,
            "grace" => {
                self.current().grace = Some(parse_time(one("a time")?, TimeUnit::Millis)?);
                let why = "HAProxy 2.5+ refuses 'grace' in a proxy (only the global one remains); \
                           baton keeps HAProxy 2.4's meaning: the listeners keep accepting this \
                           long after a soft stop begins";
                self.warn(at, arg_error("grace", why));
            }
            "balance" => {
                let Some(algo) = args.first() else {
                    return Err("expects an algorithm".into());
                };
                let balance = match algo.as_str() {
                    "roundrobin" => Balance::RoundRobin,
                    "static-rr" => Balance::StaticRr,
                    "leastconn" => Balance::LeastConn,
                    "first" => Balance::First,
                    "source" => Balance::Source,
                    "uri" => Balance::Uri,
                    known @ ("random" | "hdr" | "url_param" | "rdp-cookie" | "hash") => {
                        return Err(format!("algorithm '{known}' is not supported by baton (roundrobin, static-rr, leastconn, first, source, uri are)"))
                    }
                    other if other.starts_with("hdr(") || other.starts_with("rdp-cookie") => {
                        return Err(format!("algorithm '{other}' is not supported by baton (roundrobin, static-rr, leastconn, first, source, uri are)"))
                    }
                    other => return Err(format!("unknown balancing algorithm '{other}'")),
                };
                if let Some(extra) = args.get(1) {
                    return Err(format!(
                        "options of 'balance {algo}' are not supported by baton (got '{extra}')"
                    ));
                }
                self.current().balance = balance;
            }
            "default_backend" => {
                let backend = one("a backend name")?.clone();
                self.current().default_backend = Some((backend, at.clone()));
            }
            "bind" => self.bind(at, args)?,
            "server" => self.server(at, args)?,
            "default-server" => {
                let base = self.current().default_server.clone();
                let options = self.server_options(at, "default-server", args, &base);
                self.current().default_server = options;
            }
            "option redispatch" => {
                none()?;
                self.current().redispatch = enable;
            }
            "option http-server-close" | "option httpclose" | "option http-keep-alive" => {
                none()?;
                let mode = match (name, enable) {
                    ("option http-server-close", true) => HttpConnectionMode::ServerClose,
                    ("option httpclose", true) => HttpConnectionMode::Close,
                    _ => HttpConnectionMode::KeepAlive,
                };
                self.current().http_connection_mode = mode;
            }
            "option idle-close-on-response" => {
                none()?;
                self.current().idle_close_on_response = enable;
            }
            "option forwardfor" => {
                if !enable {
                    none()?;
                    self.current().forwardfor = None;
                    return Ok(());
                }
                let mut ff = ForwardFor {
                    header: "X-Forwarded-For".into(),
                    except: None,
                    if_none: false,
                };
                let mut i = 0;
                while i < args.len() {
                    match args[i].as_str() {
                        "except" => {
                            let net = args.get(i + 1).ok_or("'except' expects a network")?;
                            ff.except = Some(parse_network(net)?);
                            i += 2;
                        }
                        "header" => {
                            ff.header = args
                                .get(i + 1)
                                .ok_or("'header' expects a header name")?
                                .clone();
                            i += 2;
                        }
                        "if-none" => {
                            ff.if_none = true;
                            i += 1;
                        }
                        other => {
                            return Err(format!(
                            "unknown argument '{other}' (expects 'except', 'header' or 'if-none')"
                        ))
                        }
                    }
                }
                self.current().forwardfor = Some(ff);
            }
            "option httpchk" => {
                if !enable {
                    none()?;
                    self.current().http_check = None;
                    return Ok(());
                }
                let previous = self.current().http_check.take();
                let mut check = HttpCheck {
                    method: "OPTIONS".into(),
                    uri: "/".into(),
                    version: "HTTP/1.0".into(),
                    expect_status: previous.and_then(|c| c.expect_status),
                };
                match args {
                    [] => {}
                    [uri] => check.uri = uri.clone(),
                    [method, uri] => (check.method, check.uri) = (method.clone(), uri.clone()),
                    [method, uri, version] => {
                        (check.method, check.uri, check.version) =
                            (method.clone(), uri.clone(), version.clone())
                    }
                    [_, _, _, extra, ..] => {
                        return Err(format!("cannot handle unexpected argument '{extra}'"))
                    }
                }
                self.current().http_check = Some(check);
            }
            "http-check expect" => {
                let status = match args {
                    [kind, value] if kind == "status" => value
                        .parse::<u16>()
                        .ok()
                        .filter(|s| (100..=599).contains(s))
                        .ok_or_else(|| format!("expects an HTTP status code, got '{value}'"))?,
                    [kind, ..] if kind == "status" => {
                        return Err("'status' expects exactly one status code".into())
                    }
                    _ => {
                        return Err(
                            "only 'http-check expect status <code>' is supported by baton".into(),
                        )
                    }
                };
                let p = self.current();
                let check = p.http_check.get_or_insert_with(|| HttpCheck {
                    method: "OPTIONS".into(),
                    uri: "/".into(),
                    version: "HTTP/1.0".into(),
                    expect_status: None,
                });
                check.expect_status = Some(status);
            }
            n if n.starts_with("http-request ")
                || n.starts_with("http-response ")
                || matches!(n, "acl" | "use_backend" | "redirect" | "errorfile") =>
            {
                self.rule_directive(at, name, args)?
            }
            other => return Err(no_handler(other)),
        }
        Ok(())
    }

    /// `bind ADDR[,ADDR...] [options]`.
    fn bind(&mut self, at: &Location, args: &[String]) -> Result<(), String> {
        let Some(list) = args.first() else {
            return Err(
                "expects {<path>|[addr1]:port1[-end1]}{,[addr]:port[-end]}... as arguments".into(),
            );
        };
        let mut addresses = Vec::new();
        for part in list.split(',') {
            addresses.extend(parse_listen_address(part)?);
        }
        if addresses
            .iter()
            .any(|a| !matches!(a, ListenAddress::Inet { .. }))
        {
            return Err(format!(
                "UNIX socket frontends are not supported by baton yet (got '{list}')"
            ));
        }
        let o = self.listener_options(at, "bind", &args[1..], false);
        let binds = addresses.into_iter().map(|address| Bind {
            address,
            options: o.clone(),
            location: at.clone(),
        });
        let binds: Vec<Bind> = binds.collect();
        self.current().binds.extend(binds);
        Ok(())
    }

    /// `server NAME ADDR [options]`.
    fn server(&mut self, at: &Location, args: &[String]) -> Result<(), String> {
        let (Some(name), Some(address)) = (args.first(), args.get(1)) else {
            return Err("expects <name> and <addr>[:<port>] as arguments".into());
        };
        if let Some(bad) = invalid_name_char(name) {
            return Err(format!(
                "character '{bad}' is not permitted in server name '{name}'"
            ));
        }
        let (host, port) = parse_server_address(address)?;
        let proxy_name = self.current().name.clone();
        if let Some(other) = self.current().servers.iter().find(|s| &s.name == name) {
            let message = format!(
                "backend '{proxy_name}' has the same server name '{name}' twice (first at {})",
                other.location
            );
            return Err(message);
        }
        let base = self.current().default_server.clone();
        let options = self.server_options(
            at,
            &format!("server {proxy_name}/{name}"),
            &args[2..],
            &base,
        );
        self.current().servers.push(Server {
            name: name.clone(),
            host,
            port,
            options,
            location: at.clone(),
        });
        Ok(())
    }
}

/// `[http-request, set-var(txn.x), EXPR]` → `[http-request, set-var, txn.x, EXPR]`.
fn split_var_action(words: &[String]) -> Option<Vec<String>> {
    if !matches!(words.first()?.as_str(), "http-request" | "http-response") {
        return None;
    }
    let action = words.get(1)?;
    let open = action.find('(')?;
    let name = &action[..open];
    if !matches!(name, "set-var" | "set-var-fmt" | "unset-var") {
        return None;
    }
    let var = action[open + 1..].strip_suffix(')')?;
    let mut out = vec![words[0].clone(), name.to_string(), var.to_string()];
    out.extend_from_slice(&words[2..]);
    Some(out)
}
