//! HTTP rules through the loader: the typed model of ACLs, conditions, `use_backend`,
//! `http-request`/`http-response` actions, redirects, error files and userlists, and every
//! mistake reported with its file and line (a pattern file's own line for its patterns).

use baton_config::model::ProxyKind;
use baton_config::rules::*;
use baton_config::sample::Fetch;
use baton_config::{load_str, Loaded, Severity, Verdict};

fn load(text: &str) -> Loaded {
    load_str("t.cfg", text, &|_| None)
}

/// Alerts as "FILE:LINE: message".
fn alerts(loaded: &Loaded) -> Vec<String> {
    loaded
        .diagnostics
        .iter()
        .filter(|d| d.severity == Severity::Alert)
        .map(|d| match &d.location {
            Some(l) => format!("{l}: {}", d.message),
            None => d.message.clone(),
        })
        .collect()
}

/// Checks alerts against (`file:line`, text) pairs, in order.
fn assert_located(got: &[String], expect: &[(&str, &str)]) {
    assert_eq!(got.len(), expect.len(), "{got:#?}");
    for (g, (at, text)) in got.iter().zip(expect) {
        assert!(
            g.starts_with(at) && g.contains(text),
            "{g}\n  expected {at}: ...{text}"
        );
    }
}

const HEAD: &str =
    "defaults d\n  mode http\n  timeout connect 1s\n  timeout client 1s\n  timeout server 1s\n";

/// A frontend `fe` (line 8 is its first body line) and backends `a` and `b`.
fn with_frontend(body: &str) -> Loaded {
    load(&format!(
        "{HEAD}frontend fe from d\n  bind :80\n{body}  default_backend a\nbackend a\n  server s 127.0.0.1:1\nbackend b\n  server s 127.0.0.1:2\n"
    ))
}

#[test]
fn the_typed_model() {
    let loaded = with_frontend(
        "  acl api path_beg -i /api /v2\n  acl api hdr(host) -m end .internal\n  use_backend b if api !{ method POST } || METH_PUT\n  http-request set-header X-Via baton-%[src]\n  http-request deny deny_status 429 if { src_port 0:1023 }\n  http-response del-header Server\n  redirect prefix /new code 301 drop-query if { path_beg /old }\n",
    );
    assert_eq!(alerts(&loaded), Vec::<String>::new());
    assert_eq!(loaded.verdict(), Verdict::Valid);
    let fe = &loaded.config.proxies[0];
    assert_eq!(fe.kind, ProxyKind::Frontend);
    let api = fe.acls.iter().find(|a| a.name == "api").unwrap();
    assert_eq!(api.criteria.len(), 2, "two lines, one ACL");
    assert_eq!(api.criteria[0].method, MatchMethod::Beg);
    assert!(api.criteria[0].ignore_case);
    assert_eq!(api.criteria[1].method, MatchMethod::End);
    let rule = &fe.use_backends[0];
    assert_eq!(rule.target, BackendTarget::Named("b".into()));
    let cond = rule.condition.as_ref().unwrap();
    assert_eq!(cond.any_of.len(), 2);
    assert!(cond.any_of[0][1].negate);
    assert_eq!(rule.location.line, 10);
    assert!(matches!(
        &fe.http_request[0].action,
        RequestAction::Header(HeaderAction::Set(name, fmt)) if name == "X-Via" && fmt.as_literal().is_none()
    ));
    assert_eq!(fe.http_request[1].action, RequestAction::Deny(429));
    assert!(matches!(
        &fe.http_response[0].action,
        ResponseAction::Header(HeaderAction::Del(n)) if n == "Server"
    ));
    let r = &fe.redirects[0].action;
    assert_eq!(
        (r.kind, r.code, r.drop_query),
        (RedirectKind::Prefix, 301, true)
    );
}

#[test]
fn condition_errors_name_the_line() {
    let loaded = with_frontend(
        "  http-request deny if nope\n  use_backend b if { path\n  use_backend b if\n  http-request deny if { path_reg ( }\n  acl bad!name path /\n  acl x nope_fetch 1\n  acl y path -m nope /\n  acl z var(txn.x) foo\n",
    );
    let got = alerts(&loaded);
    let expect = [
        "t.cfg:8: 'http-request deny' : error detected while parsing condition : no such ACL : 'nope'",
        "t.cfg:9: 'use_backend' : error detected while parsing condition : missing closing '}'",
        "t.cfg:10: 'use_backend' : error detected while parsing condition : missing ACL after 'if'",
        "t.cfg:11: 'http-request deny' : error detected while parsing condition : in anonymous ACL: regex '(' is invalid",
        "t.cfg:12: 'acl' : ACL name 'bad!name' contains invalid character '!'",
        "t.cfg:13: 'acl' : unknown fetch method 'nope_fetch'",
        "t.cfg:14: 'acl' : unknown matching method 'nope'",
        "t.cfg:15: 'acl' : matching method must be specified first",
    ];
    assert_eq!(got.len(), expect.len(), "{got:#?}");
    for (g, e) in got.iter().zip(expect) {
        assert!(g.starts_with(e), "{g}\n  does not start with\n{e}");
    }
}

#[test]
fn acls_must_be_declared_before_use_and_defaults_acls_stay_private() {
    let loaded = with_frontend("  http-request deny if later\n  acl later path /x\n");
    assert!(alerts(&loaded)[0].contains("no such ACL : 'later'"));
    let loaded = load(&format!(
        "{HEAD}  acl mine path /x\n  http-request deny if mine\nfrontend fe from d\n  bind :80\n  http-request deny if mine\n  default_backend a\nbackend a from d\n  server s 127.0.0.1:1\n"
    ));
    let got = alerts(&loaded);
    assert_eq!(got.len(), 1, "{got:?}");
    assert!(got[0].starts_with("t.cfg:10:") && got[0].contains("no such ACL : 'mine'"));
    // The inherited rule still works with the inherited ACL.
    let anonymous = load(
        "defaults\n  mode http\n  acl a path /x\n  http-request deny\nfrontend f\n  bind :80\n",
    );
    let got = alerts(&anonymous);
    assert_eq!(got.len(), 2, "{got:?}");
    assert!(got[0].contains("not allowed in anonymous 'defaults' section"));
}

#[test]
fn pattern_files_report_their_own_lines() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("paths.lst");
    std::fs::write(&good, "# static paths\n/img\n\n   /css  \n").unwrap();
    let bad = dir.path().join("nets.lst");
    std::fs::write(&bad, "10.0.0.0/8\n300.1.1.1\n").unwrap();
    let loaded = with_frontend(&format!(
        "  acl st path_beg -f {}\n  acl net src -f {}\n",
        good.display(),
        bad.display()
    ));
    let got = alerts(&loaded);
    assert_eq!(got.len(), 1, "{got:?}");
    assert!(
        got[0].starts_with("t.cfg:9: 'acl' : ") && got[0].contains("nets.lst:2:"),
        "{got:?}"
    );
    let st = &loaded.config.proxies[0].acls[0];
    assert_eq!(
        st.criteria[0].patterns,
        Patterns::Strings(vec![b"/img".to_vec(), b"/css".to_vec()])
    );
    let missing = with_frontend("  acl st path -f /nonexistent/baton.lst\n");
    assert!(alerts(&missing)[0].contains("cannot read file '/nonexistent/baton.lst'"));
    // A device is refused at once rather than read forever.
    let device = with_frontend("  acl st path -f /dev/zero\n");
    assert!(alerts(&device)[0].contains("not a regular file"));
}

#[test]
fn actions_are_checked() {
    let loaded = with_frontend(
        "  http-request deny deny_status 418\n  http-request return status 99\n  http-request return string x\n  http-request set-header Content-Length 1\n  http-request redirect elsewhere /x\n  http-request redirect location /x code 304\n  http-request auth realm\n  http-request set-var(nope) str(x)\n  http-request set-header X %[nope]\n  use_backend missing if TRUE\n  use_backend b extra\n  http-response deny deny_status 999\n",
    );
    let got = alerts(&loaded);
    let expect = [
        ("t.cfg:8", "status code '418' not handled"),
        (
            "t.cfg:9",
            "'status' expects a status code between 200 and 599",
        ),
        ("t.cfg:10", "requires a 'content-type'"),
        (
            "t.cfg:11",
            "rewriting the 'Content-Length' header is not supported",
        ),
        ("t.cfg:12", "expects 'location', 'prefix' or 'scheme'"),
        (
            "t.cfg:13",
            "'code' expects one of 301, 302, 303, 307 or 308",
        ),
        ("t.cfg:14", "expects nothing or 'realm <realm>'"),
        ("t.cfg:15", "invalid variable name 'nope'"),
        ("t.cfg:16", "unknown fetch method 'nope'"),
        (
            "t.cfg:18",
            "expects 'if' or 'unless' after the backend name",
        ),
        ("t.cfg:19", "status code '999' not handled"),
        ("t.cfg:17", "unable to find required use_backend: 'missing'"),
    ];
    assert_located(&got, &expect);
}

#[test]
fn dynamic_use_backend_and_variables() {
    let loaded = with_frontend(
        "  http-request set-var(txn.base) base\n  http-request set-var-fmt(txn.x) %[path]-x\n  use_backend %[var(txn.path_match),field(1,.)]\n",
    );
    assert_eq!(alerts(&loaded), Vec::<String>::new());
    let fe = &loaded.config.proxies[0];
    assert!(
        matches!(&fe.http_request[0].action, RequestAction::SetVar(n, e) if n == "txn.base" && e.fetch == Fetch::Base)
    );
    assert!(matches!(
        &fe.use_backends[0].target,
        BackendTarget::Dynamic(_)
    ));
}

#[test]
fn userlists_and_auth() {
    let loaded = load(&format!(
        "userlist L\n  group adm users tiger\n  group dev\n  user tiger insecure-password dog groups dev\n  user boss password $6$k6y3o.eP$JlKBx9za966ud67qe45NSQYf8Nw.XFuk8QVRevoLh1XPCQDCBPjcU2JtGBSS0MOQW2PFxHSwRv6J.C0/D7cV91\n\
         {HEAD}frontend fe from d\n  bind :80\n  acl ok http_auth(L)\n  acl adm http_auth_group(L) adm\n  http-request auth realm R if !ok\n  default_backend a\nbackend a\n  server s 127.0.0.1:1\n"
    ));
    assert_eq!(alerts(&loaded), Vec::<String>::new());
    let l = &loaded.config.userlists[0];
    let tiger = l.users.iter().find(|u| u.name == "tiger").unwrap();
    assert_eq!(tiger.groups, vec!["dev".to_string(), "adm".to_string()]);
    assert_eq!(tiger.password, Password::Plain("dog".into()));
    let bad = load(
        "userlist L\n  user y password $y$j9T$abc$def\n  user d password abcdefghijklm\n  user n groups g\n  user g insecure-password x groups ghost\n  frobnicate\n\
         frontend fe\n  bind :80\n  acl a http_auth(M)\n  acl b http_auth_group(L) nogroup\n",
    );
    let got = alerts(&bad);
    let expect = [
        ("t.cfg:2", "'$y$' cannot be verified by baton"),
        ("t.cfg:3", "traditional DES cannot be verified"),
        ("t.cfg:4", "has no password"),
        (
            "t.cfg:6",
            "unknown keyword 'frobnicate' in 'userlist' section",
        ),
        ("t.cfg:1", "unable to find group 'ghost' of user 'g'"),
        ("t.cfg:9", "unable to find userlist 'M'"),
        (
            "t.cfg:10",
            "group 'nogroup' is not declared in userlist 'L'",
        ),
    ];
    assert_located(&got, &expect);
}

#[test]
fn error_files() {
    let dir = tempfile::tempdir().unwrap();
    let ok = dir.path().join("503.http");
    std::fs::write(
        &ok,
        "HTTP/1.0 503 Service Unavailable\r\nCache-Control: no-cache\r\n\r\nbusy\n",
    )
    .unwrap();
    let bad = dir.path().join("bad.http");
    std::fs::write(&bad, "<html>no head</html>\n").unwrap();
    let loaded = load(&format!(
        "{HEAD}  errorfile 503 {}\nfrontend fe from d\n  bind :80\n  errorfile 403 {}\n  errorfile 418 {}\n  errorfile 404 /nonexistent/404.http\n",
        ok.display(),
        bad.display(),
        ok.display()
    ));
    let got = alerts(&loaded);
    assert_eq!(got.len(), 3, "{got:#?}");
    assert!(got[0].starts_with("t.cfg:9:") && got[0].contains("no complete HTTP response head"));
    assert!(got[1].starts_with("t.cfg:10:") && got[1].contains("status code '418' not handled"));
    assert!(got[2].starts_with("t.cfg:11:") && got[2].contains("error opening file"));
    // Inherited from defaults.
    let fe = &loaded.config.proxies[0];
    assert_eq!(fe.errorfiles[0].code, 503);
    assert!(fe.errorfiles[0].response.ends_with(b"busy\n"));
}

#[test]
fn http_rules_need_http_mode() {
    let loaded = load(
        "frontend fe\n  mode tcp\n  bind :80\n  timeout client 1s\n  http-request deny if { path /x }\n  default_backend a\nbackend a\n  mode tcp\n  server s 127.0.0.1:1\n",
    );
    let got = alerts(&loaded);
    assert!(
        got[0].starts_with("t.cfg:5:") && got[0].contains("require 'mode http'"),
        "{got:?}"
    );
    // Routing on the client address is fine in tcp mode.
    let tcp = load(
        "frontend fe\n  mode tcp\n  bind :80\n  timeout client 1s\n  use_backend b if { src 10.0.0.0/8 }\n  default_backend a\nbackend a\n  mode tcp\n  server s 127.0.0.1:1\nbackend b\n  mode tcp\n  server s 127.0.0.1:2\n",
    );
    assert_eq!(alerts(&tcp), Vec::<String>::new());
}

#[test]
fn rewrites_and_reject() {
    let loaded = with_frontend(
        "  http-request replace-path ^/old/(.*)$ /new/\\1\n  http-request replace-uri ^(.*)$ \\1\n  http-request replace-value X-L ^a$ b\n  http-response replace-value Cache-Control ^private$ public\n  http-request reject if { src 10.0.0.0/8 }\n  http-request replace-path ( /x\n  http-request reject now\n",
    );
    let got = alerts(&loaded);
    assert_located(
        &got,
        &[
            ("t.cfg:13", "regex '(' is invalid"),
            ("t.cfg:14", "unexpected argument 'now'"),
        ],
    );
    let fe = &loaded.config.proxies[0];
    assert!(matches!(
        fe.http_request[0].action,
        RequestAction::ReplacePath(..)
    ));
    assert!(matches!(
        fe.http_request[1].action,
        RequestAction::ReplaceUri(..)
    ));
    assert!(matches!(
        fe.http_request[2].action,
        RequestAction::Header(HeaderAction::ReplaceValue(..))
    ));
    assert!(matches!(
        fe.http_response[0].action,
        ResponseAction::Header(HeaderAction::ReplaceValue(..))
    ));
    assert_eq!(fe.http_request[3].action, RequestAction::Reject);
}
