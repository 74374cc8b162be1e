//! Differential tests of HTTP rules: Debian's haproxy and baton run the same configuration in
//! front of the same echo backends on 127.0.0.1; the same requests go to both, and what the
//! client sees (status, headers, body) and what the backend received (echoed in the body:
//! which backend, request line, headers) must be the same.
//!
//! One configuration per rule family (routing with ACL criteria, deny/return, redirects, header
//! rewriting, authentication, error files, and tcp-mode routing on addresses). Each family also
//! has negative controls: a request that must not match any rule, and a deliberately different
//! baton configuration whose differences the comparison must report — so an empty difference
//! list means something.

mod common;

use common::*;
use std::io::{BufReader, Write};

/// Headers that legitimately differ between two proxies (connection management).
const IGNORED: &[&str] = &["connection", "keep-alive"];

/// An echo backend: the body names the backend and lists the request line and headers it
/// received (names lower-cased: HAProxy sends them so); `/status/N` answers with status N.
fn echo(name: &'static str) -> Backend {
    Backend::http(move |req: &Request| {
        let mut body = format!("{name}\n{} {}\n", req.method, req.path);
        for (n, v) in &req.headers {
            let n = n.to_ascii_lowercase();
            if !IGNORED.contains(&n.as_str()) {
                body.push_str(&format!("{n}: {v}\n"));
            }
        }
        let mut resp = Response::ok(body.as_bytes());
        if let Some(code) = req.path.strip_prefix("/status/") {
            resp.status = code.parse().unwrap_or(200);
        }
        resp.headers
            .push(("Content-Type".into(), "text/plain".into()));
        resp.headers.push(("X-Backend".into(), name.into()));
        resp.headers.push(("X-Drop-Me".into(), "1".into()));
        resp
    })
}

/// One request: method, path, extra header lines.
struct Req(&'static str, &'static str, &'static [&'static str]);

/// What a client saw.
#[derive(Debug, Clone, PartialEq)]
struct Seen {
    /// Status code.
    status: u16,
    /// Headers in order, names lower-cased, connection management left out.
    headers: Vec<(String, String)>,
    /// The body (for proxied requests: the backend's echo).
    body: String,
}

/// Sends one request on a fresh connection and reads the response.
fn observe(port: u16, req: &Req) -> Seen {
    let mut raw = format!("{} {} HTTP/1.1\r\nHost: test.local\r\n", req.0, req.1);
    if req
        .2
        .iter()
        .any(|h| h.to_ascii_lowercase().starts_with("host:"))
    {
        raw = format!("{} {} HTTP/1.1\r\n", req.0, req.1);
    }
    for h in req.2 {
        raw.push_str(h);
        raw.push_str("\r\n");
    }
    raw.push_str("Connection: close\r\n\r\n");
    let mut s = connect(port);
    s.write_all(raw.as_bytes()).unwrap();
    let resp = match read_response(&mut BufReader::new(s)) {
        Ok(resp) => resp,
        // Closed without an answer (`reject`): status 0.
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::UnexpectedEof | std::io::ErrorKind::ConnectionReset
            ) =>
        {
            return Seen {
                status: 0,
                headers: Vec::new(),
                body: String::new(),
            }
        }
        Err(e) => panic!("{} {} on port {port}: {e}", req.0, req.1),
    };
    Seen {
        status: resp.status,
        headers: resp
            .headers
            .iter()
            .map(|(n, v)| (n.to_ascii_lowercase(), v.clone()))
            .filter(|(n, _)| !IGNORED.contains(&n.as_str()))
            .collect(),
        body: resp.text(),
    }
}

/// A family's configuration: `{port}` is the bind port, `{a}`..`{d}` the echo backends'
/// ports, `{dir}` a directory for files the configuration names.
struct Family {
    /// The template.
    template: String,
    /// Echo backends a..d.
    backends: Vec<Backend>,
    /// Files for `{dir}`.
    dir: tempfile::TempDir,
}

impl Family {
    fn new(template: &str) -> Family {
        Family {
            template: template.to_string(),
            backends: vec![echo("a"), echo("b"), echo("c"), echo("d")],
            dir: tmp(),
        }
    }

    /// The configuration for a proxy listening on `port`.
    fn config(&self, template: &str, port: u16) -> String {
        let mut cfg = template
            .replace("{port}", &port.to_string())
            .replace("{dir}", &self.dir.path().display().to_string());
        for (name, b) in ["{a}", "{b}", "{c}", "{d}"].iter().zip(&self.backends) {
            cfg = cfg.replace(name, &b.port.to_string());
        }
        format!(
            "global\n    maxconn 200\n\ndefaults\n    mode http\n    timeout connect 2s\n    timeout client 10s\n    timeout server 10s\n\n{cfg}"
        )
    }

    /// What haproxy shows for each request.
    fn haproxy(&self, requests: &[Req]) -> Vec<Seen> {
        let port = free_port();
        let _h = Haproxy::start(&self.config(&self.template, port), port);
        requests.iter().map(|r| observe(port, r)).collect()
    }

    /// What baton shows for each request, with `template` (the family's, or a variant).
    fn baton(&self, template: &str, requests: &[Req]) -> Vec<Seen> {
        let port = free_port();
        let _b = Baton::start(&self.config(template, port), port);
        requests.iter().map(|r| observe(port, r)).collect()
    }
}

/// The differences between two runs, one line per request that differs.
fn differences(requests: &[Req], want: &[Seen], got: &[Seen]) -> Vec<String> {
    requests
        .iter()
        .zip(want.iter().zip(got))
        .filter(|(_, (w, g))| w != g)
        .map(|(r, (w, g))| {
            format!(
                "{} {} {:?}:\n  haproxy {w:?}\n  baton   {g:?}",
                r.0, r.1, r.2
            )
        })
        .collect()
}

/// Runs a family: no differences with the same configuration; some with `variant`.
fn check_family(family: &Family, requests: &[Req], variant: &str) -> Vec<Seen> {
    let want = family.haproxy(requests);
    if std::env::var_os("RULES_DUMP").is_some() {
        for (r, w) in requests.iter().zip(&want) {
            eprintln!("{} {} -> {w:?}", r.0, r.1);
        }
    }
    let got = family.baton(&family.template, requests);
    let diffs = differences(requests, &want, &got);
    assert!(
        diffs.is_empty(),
        "baton differs from haproxy:\n{}",
        diffs.join("\n")
    );
    // Negative control: a deliberately different configuration must be detected.
    let other = family.baton(variant, requests);
    assert!(
        !differences(requests, &want, &other).is_empty(),
        "the comparison did not notice a different configuration"
    );
    got
}

/// Which echo backend answered.
fn backend_of(seen: &Seen) -> &str {
    seen.body.lines().next().unwrap_or_default()
}

#[test]
fn routing_with_acl_criteria() {
    let template = "\
frontend fe
    bind 127.0.0.1:{port}
    acl is_api path_beg /api
    acl post method POST
    acl host_static hdr_beg(host) -i static.
    acl assets path_end .css .js
    acl admin path_reg ^/admin(/|$)
    acl secret url_sub -i secret
    acl docs path_dir docs
    acl example hdr_dom(host) -i example
    acl has_route hdr(x-route) -m found
    acl blue hdr(x-route) -i blue
    acl many hdr_cnt(x-multi) gt 1
    acl long path_len gt 30
    acl big hdr_val(x-num) ge 10
    acl exact path /exact
    acl lowport src_port 0:1023
    acl local src 127.0.0.0/8 ::1
    acl query_has url_reg [?&]k=v(&|$)
    use_backend a if is_api !post
    use_backend b if host_static || assets
    use_backend c if admin
    use_backend c if { path_beg /c/ } blue
    use_backend b if secret
    use_backend a if docs
    use_backend b if example has_route
    use_backend c if many
    use_backend a if long
    use_backend b if big
    use_backend c if exact !lowport
    use_backend a if query_has
    use_backend c unless local
    use_backend a if TRUE FALSE
    default_backend d

backend a
    server s 127.0.0.1:{a}
backend b
    server s 127.0.0.1:{b}
backend c
    server s 127.0.0.1:{c}
backend d
    server s 127.0.0.1:{d}
";
    let requests = [
        Req("GET", "/none", &[]),
        Req("GET", "/api/users", &[]),
        Req("POST", "/api/users", &["Content-Length: 0"]),
        Req("GET", "/x", &["Host: STATIC.example.org"]),
        Req("GET", "/site.css", &[]),
        Req("GET", "/admin", &[]),
        Req("GET", "/administrator", &[]),
        Req("GET", "/c/1", &["X-Route: BLUE"]),
        Req("GET", "/c/1", &["X-Route: red"]),
        Req("GET", "/search?q=SeCrEt", &[]),
        Req("GET", "/a/docs/file", &[]),
        Req("GET", "/docsfile", &[]),
        Req("GET", "/w", &["Host: www.example.com", "X-Route: x"]),
        Req("GET", "/w", &["Host: www.examples.com", "X-Route: x"]),
        Req("GET", "/m", &["X-Multi: a, b"]),
        Req("GET", "/m", &["X-Multi: a"]),
        Req("GET", "/a/very/long/path/that/is/over/thirty", &[]),
        Req("GET", "/n", &["X-Num: 12"]),
        Req("GET", "/n", &["X-Num: 9"]),
        Req("GET", "/exact", &[]),
        Req("GET", "/q?a=1&k=v", &[]),
        Req("GET", "/q?a=1&k=vv", &[]),
        Req(
            "GET",
            "http://static.example/abs/x.css",
            &["Host: static.example"],
        ),
    ];
    let family = Family::new(template);
    let variant = template.replace(
        "use_backend a if is_api !post",
        "use_backend b if is_api !post",
    );
    let got = check_family(&family, &requests, &variant);
    // Negative controls: requests that no rule matches reach the default backend.
    for i in [0, 2, 6, 8, 11, 13, 15, 18, 21] {
        assert_eq!(
            backend_of(&got[i]),
            "d",
            "{} {}",
            requests[i].0,
            requests[i].1
        );
    }
    assert_eq!(backend_of(&got[1]), "a");
    assert_eq!(backend_of(&got[7]), "c");
}

#[test]
fn deny_and_return() {
    let template = "\
frontend fe
    bind 127.0.0.1:{port}
    http-request deny if { path_beg /deny }
    http-request deny deny_status 429 if { path /slow }
    http-request return status 201 content-type text/plain string created hdr X-A b if { path /ret }
    http-request return status 200 content-type text/plain lf-string \"path=%[path] m=%[method] h=%[hdr(x-h)]\" if { path_beg /lf }
    http-request return status 404 if { path /nf }
    http-request reject if { path /reject }
    http-request allow if { path /allowed }
    http-request deny if { path /allowed } || { path /also-denied }
    default_backend a

backend a
    server s 127.0.0.1:{a}
";
    let requests = [
        Req("GET", "/ok", &[]),
        Req("GET", "/deny/x", &[]),
        Req("GET", "/slow", &[]),
        Req("GET", "/ret", &[]),
        Req("GET", "/lf/z", &["X-H: hv"]),
        Req("HEAD", "/nf", &[]),
        Req("GET", "/allowed", &[]),
        Req("GET", "/also-denied", &[]),
        Req("GET", "/denyish", &[]),
        Req("GET", "/reject", &[]),
        Req("HEAD", "/deny/head", &[]),
        Req("POST", "/deny/post", &["Content-Length: 0"]),
    ];
    let family = Family::new(template);
    let variant = template.replace("deny_status 429", "deny_status 403");
    let got = check_family(&family, &requests, &variant);
    assert_eq!(got[0].status, 200, "negative control reaches the backend");
    assert_eq!(backend_of(&got[6]), "a", "allow stops the rules");
    assert_eq!(got[1].status, 403);
    assert_eq!(got[8].status, 403);
    assert_eq!(got[9].status, 0, "reject: closed without an answer");
}

#[test]
fn redirects() {
    let template = "\
frontend fe
    bind 127.0.0.1:{port}
    http-request redirect location /new code 301 if { path /old }
    http-request redirect prefix /v2 if { path_beg /v1 }
    http-request redirect prefix /p code 303 drop-query append-slash if { path_beg /dq }
    http-request redirect scheme https if { path_beg /secure } !{ ssl_fc }
    http-request redirect location /loc%[path] code 307 if { path_beg /lf }
    redirect location /legacy code 302 set-cookie SEEN=1 if { path /legacy-old }
    redirect prefix / code 308 clear-cookie SEEN= if { path_beg /clear }
    default_backend a

backend a
    server s 127.0.0.1:{a}
";
    let requests = [
        Req("GET", "/stay", &[]),
        Req("GET", "/old", &[]),
        Req("GET", "/v1/items?x=1", &[]),
        Req("GET", "/dq/a?x=1", &[]),
        Req("GET", "/secure/page?y=2", &["Host: shop.example:8080"]),
        Req("GET", "/lf/q", &[]),
        Req("GET", "/legacy-old", &[]),
        Req("GET", "/clear/me", &[]),
    ];
    let family = Family::new(template);
    let variant = template.replace("code 301", "code 302");
    let got = check_family(&family, &requests, &variant);
    assert_eq!(
        backend_of(&got[0]),
        "a",
        "negative control is not redirected"
    );
    assert_eq!(got[1].status, 301);
}

#[test]
fn header_rewriting() {
    let template = "\
frontend fe
    bind 127.0.0.1:{port}
    http-request set-header X-Set fe-%[path]
    http-request add-header X-Add one
    http-request add-header X-Add two if { path_beg /two }
    http-request del-header X-Secret
    http-request replace-header X-Rep ^foo-(.*)$ bar-\\1
    http-request set-path /rewritten%[path] if { path_beg /rw }
    http-request replace-path ^/rp/(.*)$ /replaced/\\1 if { path_beg /rp/ }
    http-request replace-uri ^/ru(.*)$ /uri\\1 if { path_beg /ru }
    http-request replace-value X-List ^b(.*)$ B\\1
    http-request set-var(txn.p) path
    http-request set-header X-Var %[var(txn.p)]
    http-request set-header X-Src %[src]
    http-response set-header X-Resp r1
    http-response add-header X-Resp2 r2 if { status 200 }
    http-response del-header X-Drop-Me
    http-response set-header X-Be %[res.hdr(x-backend)]
    http-response deny deny_status 500 if { status 410 }
    http-response deny if { res.hdr(x-backend) -m found } { status 409 }
    default_backend a

backend a
    http-request set-header X-Backend-Rule yes
    http-request del-header X-Add if { hdr(x-kill-add) -m found }
    http-response add-header X-Be-Resp yes
    server s 127.0.0.1:{a}
";
    let requests = [
        Req("GET", "/plain", &[]),
        Req(
            "GET",
            "/two",
            &["X-Secret: s", "X-Rep: foo-123", "X-Add: zero"],
        ),
        Req("GET", "/rw/x?q=1", &["X-Set: old", "X-Set: older"]),
        Req("GET", "/status/404", &[]),
        Req("GET", "/k", &["X-Kill-Add: 1"]),
        Req("GET", "/r", &["X-Rep: nofoo"]),
        Req("GET", "/rp/x?y=1", &["X-List: a, bc ,d, b"]),
        Req("GET", "/ru/z?q", &[]),
        Req("GET", "/status/410", &[]),
        Req("GET", "/status/409", &[]),
    ];
    let family = Family::new(template);
    let variant = template.replace("http-request del-header X-Secret\n", "");
    let got = check_family(&family, &requests, &variant);
    // Negative control: the status condition does not match a 404.
    assert!(!got[3].headers.iter().any(|(n, _)| n == "x-resp2"));
    assert!(got[0]
        .headers
        .iter()
        .any(|(n, v)| n == "x-resp2" && v == "r2"));
    assert!(!got[1].body.contains("x-secret"), "{}", got[1].body);
    assert!(got[6].body.contains("x-list: a,Bc,d,B"), "{}", got[6].body);
    assert_eq!(
        (got[8].status, got[9].status),
        (500, 502),
        "http-response deny"
    );
}

#[test]
fn authentication() {
    let template = "\
userlist L
    group admins
    group staff users bob
    user alice insecure-password wonder groups admins
    user bob password $6$batonsalt$xK2FiWw0vHOSClOFdRIniWdDTCxVVn0p2bX1snPA4R44IEtGg6fG15ikKmzPn5.s1weBk98Fpl75SuhLGTytq/
    user carol password $5$batonsalt$gWBBkvmEX3iyj1FWUK30rAnP1Ur2r4d93FVU1ov7PTA
    user dave password $1$batonsal$8AsbUwN0Y.Wk1Y6XFliBv.

frontend fe
    bind 127.0.0.1:{port}
    acl auth_ok http_auth(L)
    acl is_admin http_auth_group(L) admins
    acl is_staff http_auth_group(L) staff
    http-request auth realm Zone if { path_beg /admin } !is_admin
    http-request auth if !auth_ok
    http-request set-header X-Staff yes if is_staff
    default_backend a

backend a
    server s 127.0.0.1:{a}
";
    let basic = |s: &str| -> &'static str {
        use base64::Engine as _;
        let v = format!(
            "Authorization: Basic {}",
            base64::engine::general_purpose::STANDARD.encode(s)
        );
        Box::leak(v.into_boxed_str())
    };
    let alice = [basic("alice:wonder")];
    let bob = [basic("bob:secret6")];
    let carol = [basic("carol:secret5")];
    let dave = [basic("dave:secret1")];
    let wrong = [basic("bob:wrong")];
    let nobody = [basic("zed:x")];
    let leak = |h: [&'static str; 1]| -> &'static [&'static str] { Box::leak(Box::new(h)) };
    let requests = [
        Req("GET", "/", &[]),
        Req("GET", "/", leak(alice)),
        Req("GET", "/", leak(bob)),
        Req("GET", "/", leak(carol)),
        Req("GET", "/", leak(dave)),
        Req("GET", "/", leak(wrong)),
        Req("GET", "/", leak(nobody)),
        Req("GET", "/admin/x", leak(bob)),
        Req("GET", "/admin/x", leak(alice)),
        Req("GET", "/", &["Authorization: Bearer abc"]),
    ];
    let family = Family::new(template);
    let variant = template.replace("realm Zone", "realm Other");
    let got = check_family(&family, &requests, &variant);
    assert_eq!(got[0].status, 401, "no credentials: challenged");
    assert_eq!(got[5].status, 401, "wrong password: challenged");
    for i in [1, 2, 3, 4, 8] {
        assert_eq!(got[i].status, 200, "request {i}");
    }
}

#[test]
fn error_files() {
    let family = Family::new(
        "\
defaults
    mode http
    timeout connect 2s
    timeout client 10s
    timeout server 10s
    errorfile 403 {dir}/403.http
    errorfile 503 {dir}/503.http

frontend fe
    bind 127.0.0.1:{port}
    http-request deny if { path /deny }
    http-request deny deny_status 404 if { path /nf }
    use_backend empty if { path /empty }
    default_backend a

backend a
    server s 127.0.0.1:{a}
backend empty
",
    );
    std::fs::write(
        family.dir.path().join("403.http"),
        "HTTP/1.0 403 Forbidden\r\nCache-Control: no-cache\r\nConnection: close\r\nContent-Type: text/html\r\nX-Custom: 403\r\n\r\n<html>custom 403</html>\n",
    )
    .unwrap();
    std::fs::write(
        family.dir.path().join("503.http"),
        "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\nContent-Length: 12\r\n\r\ncustom 503!\n",
    )
    .unwrap();
    let requests = [
        Req("GET", "/fine", &[]),
        Req("GET", "/deny", &[]),
        Req("GET", "/nf", &[]),
        Req("GET", "/empty", &[]),
    ];
    let variant = family
        .template
        .replace("errorfile 403 {dir}/403.http\n", "");
    let got = check_family(&family, &requests, &variant);
    assert_eq!(
        backend_of(&got[0]),
        "a",
        "negative control reaches the backend"
    );
    assert!(got[1].body.contains("custom 403"));
    assert!(got[3].body.contains("custom 503"));
}

#[test]
fn tcp_routing_on_addresses() {
    let template = "\
frontend fe
    mode tcp
    bind 127.0.0.1:{port}
    acl far src 10.0.0.0/8
    acl low_port dst_port 1:1023
    use_backend c if far
    use_backend c if low_port
    use_backend b if { src 127.0.0.1 } !far
    default_backend a

backend a
    mode tcp
    server s 127.0.0.1:{a}
backend b
    mode tcp
    server s 127.0.0.1:{b}
backend c
    mode tcp
    server s 127.0.0.1:{c}
";
    let requests = [Req("GET", "/one", &[]), Req("GET", "/two", &["X-A: 1"])];
    let family = Family::new(template);
    let variant = template.replace("use_backend b if", "use_backend a if");
    let got = check_family(&family, &requests, &variant);
    // Negative controls: neither `far` nor `low_port` matched.
    assert!(got.iter().all(|s| backend_of(s) == "b"), "{got:?}");
}

#[test]
fn listen_sections_run_their_rules_once() {
    let template = "\
listen web
    bind 127.0.0.1:{port}
    acl api path_beg /api
    http-request add-header X-Once 1
    http-response add-header X-Once-Resp 1
    use_backend b if api
    server s 127.0.0.1:{a}

backend b
    http-request add-header X-In-B 1
    server s 127.0.0.1:{b}
";
    let requests = [Req("GET", "/", &[]), Req("GET", "/api/x", &[])];
    let family = Family::new(template);
    let variant = template.replace(
        "http-request add-header X-Once 1\n",
        "http-request add-header X-Once 1\n    http-request add-header X-Once 1\n",
    );
    let got = check_family(&family, &requests, &variant);
    assert_eq!(
        backend_of(&got[0]),
        "a",
        "negative control: / stays in the listen"
    );
    assert_eq!(
        got[0].body.matches("x-once: 1").count(),
        1,
        "{}",
        got[0].body
    );
    let resp_once = |s: &Seen| s.headers.iter().filter(|(n, _)| n == "x-once-resp").count();
    assert_eq!((resp_once(&got[0]), resp_once(&got[1])), (1, 1));
    assert!(got[1].body.contains("x-in-b: 1"), "{}", got[1].body);
}
