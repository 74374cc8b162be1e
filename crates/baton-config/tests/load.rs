//! The loader end to end on small configurations: the typed model it builds, inheritance, and
//! every error reported with its file and line.

use baton_config::model::*;
use baton_config::{load_str, Loaded, Severity, Verdict};
use std::time::Duration;

fn load(text: &str) -> Loaded {
    load_str("t.cfg", text, &|name| match name {
        "PORT" => Some("8080".into()),
        _ => None,
    })
}

/// Alerts as "LINE: message".
fn alerts(loaded: &Loaded) -> Vec<String> {
    loaded
        .diagnostics
        .iter()
        .filter(|d| d.severity == Severity::Alert)
        .map(|d| {
            format!(
                "{}: {}",
                d.location.as_ref().map_or(0, |l| l.line),
                d.message
            )
        })
        .collect()
}

fn warnings(loaded: &Loaded) -> usize {
    loaded
        .diagnostics
        .iter()
        .filter(|d| d.severity == Severity::Warning)
        .count()
}

#[test]
fn builds_the_typed_model() {
    let loaded = load(
        "global\n  maxconn 1000\n  nbthread 2\n  user nobody\n  stats socket /run/b.sock mode 660 level operator expose-fd listeners\n  stats timeout 1m\n  hard-stop-after 30s\n\
         defaults\n  mode http\n  timeout connect 5s\n  timeout client 1m\n  timeout server 1m\n  option forwardfor except 127.0.0.0/8\n  option http-server-close\n\
         frontend fe\n  bind \"127.0.0.1:${PORT}\" name web\n  bind [::1]:8443 v6only\n  default_backend be\n\
         backend be\n  balance leastconn\n  default-server inter 3s fall 2\n  server a 10.0.0.1:80 check weight 10\n  server b 10.0.0.2:80 backup maxconn 5\n",
    );
    assert_eq!(alerts(&loaded), Vec::<String>::new());
    assert_eq!(loaded.verdict(), Verdict::Valid);
    let c = &loaded.config;
    assert_eq!(c.global.maxconn, Some(1000));
    assert_eq!(c.global.user, Some(Identity::Name("nobody".into())));
    let sock = &c.global.stats_sockets[0];
    assert_eq!(sock.address, ListenAddress::Unix("/run/b.sock".into()));
    assert_eq!(
        (
            sock.options.mode,
            sock.options.level,
            sock.options.expose_fd_listeners
        ),
        (Some(0o660), Level::Operator, true)
    );
    assert_eq!(c.global.stats_timeout, Duration::from_secs(60));
    assert_eq!(c.global.hard_stop_after, Some(Duration::from_secs(30)));
    let fe = &c.proxies[0];
    assert_eq!(
        (fe.name.as_str(), fe.kind, fe.mode),
        ("fe", ProxyKind::Frontend, Mode::Http)
    );
    assert_eq!(fe.binds.len(), 2);
    assert_eq!(
        fe.binds[0].address,
        ListenAddress::Inet {
            ip: Some("127.0.0.1".parse().unwrap()),
            family: Family::V4,
            port: 8080
        }
    );
    assert_eq!(fe.binds[0].options.name.as_deref(), Some("web"));
    assert!(fe.binds[1].options.v6only);
    assert_eq!(fe.timeouts.client, Some(Duration::from_secs(60)));
    assert_eq!(fe.http_connection_mode, HttpConnectionMode::ServerClose);
    assert_eq!(fe.forwardfor.as_ref().unwrap().except.unwrap().prefix, 8);
    let be = &c.proxies[1];
    assert_eq!(be.balance, Balance::LeastConn);
    assert_eq!(be.servers[0].options.inter, Duration::from_secs(3));
    assert_eq!(be.servers[0].options.fall, 2);
    assert_eq!(be.servers[0].options.weight, 10);
    assert!(be.servers[0].options.check);
    assert!(be.servers[1].options.backup);
    assert_eq!(be.servers[1].options.maxconn, 5);
    assert_eq!(
        be.servers[1].options.inter,
        Duration::from_secs(3),
        "default-server applies"
    );
}

#[test]
fn named_defaults_and_last_defaults() {
    let loaded = load(
        "defaults a\n  mode http\n  timeout client 1s\ndefaults b\n  mode tcp\n  timeout client 2s\n\
         listen x from a\n  bind :1\nlisten y\n  bind :2\nlisten z from nope\n  bind :3\n",
    );
    let c = &loaded.config;
    assert_eq!(c.proxies[0].mode, Mode::Http);
    assert_eq!(c.proxies[0].timeouts.client, Some(Duration::from_secs(1)));
    // Without `from`, the last defaults section applies.
    assert_eq!(c.proxies[1].mode, Mode::Tcp);
    assert_eq!(c.proxies[1].timeouts.client, Some(Duration::from_secs(2)));
    assert_eq!(
        alerts(&loaded),
        ["11: listen 'z': unable to find the defaults section 'nope'."]
    );
}

#[test]
fn reports_every_error_with_its_line() {
    let loaded = load(
        "global\n  maxconn lots\n  bogus\nfrontend fe\n  bind 127.0.0.1\n  timeout client 10x\n  mode ftp\n  default_backend missing\n\
         backend be\n  balance fastest\n  server s1 10.0.0.1:80 inter 0\nfrontend fe\n  bind :81\n",
    );
    let got = alerts(&loaded);
    let expected_lines = [2, 3, 5, 6, 7, 10, 11, 12, 8];
    assert_eq!(got.len(), expected_lines.len(), "{got:#?}");
    for (line, alert) in expected_lines.iter().zip(&got) {
        assert!(
            alert.starts_with(&format!("{line}: ")),
            "{alert} (expected line {line})"
        );
    }
    assert!(got[0].contains("expects an integer"));
    assert!(got[1].contains("unknown keyword 'bogus' in 'global' section"));
    assert!(got[2].contains("missing port"));
    assert!(got[3].contains("unexpected character 'x'"));
    assert!(got[4].contains("unknown proxy mode 'ftp'"));
    assert!(got[5].contains("unknown balancing algorithm 'fastest'"));
    assert!(got[6].contains("'inter' : expects a positive time"));
    assert!(got[7].contains("has the same name as frontend 'fe'"));
    assert!(got[8].contains("unable to find required default_backend: 'missing'"));
    assert_eq!(loaded.verdict(), Verdict::Invalid);
}

#[test]
fn did_you_mean() {
    let got = alerts(&load("global\n  deamon\n"));
    assert_eq!(
        got,
        ["2: unknown keyword 'deamon' in 'global' section; did you mean 'daemon' maybe ?"]
    );
    let got = alerts(&load("defaults\n  timeout clinet 1s\n"));
    assert!(got[0].contains("'timeout' supports"), "{got:?}");
    assert!(got[0].contains("(got 'clinet')"), "{got:?}");
    let got = alerts(&load("backend b\n  bind :80\n"));
    assert!(
        got[0].contains("'bind' is not allowed in a 'backend' section"),
        "{got:?}"
    );
}

#[test]
fn frontend_and_backend_may_share_a_name() {
    let loaded = load(
        "frontend app\n  bind :80\n  default_backend app\nbackend app\n  server s 127.0.0.1:1\n",
    );
    assert_eq!(alerts(&loaded), Vec::<String>::new());
}

#[test]
fn http_frontend_refuses_a_tcp_backend() {
    let loaded =
        load("frontend f\n  mode http\n  bind :80\n  default_backend b\nbackend b\n  mode tcp\n");
    assert!(alerts(&loaded)[0].contains("wrong mode, required: http, has: tcp"));
}

#[test]
fn bug_report_lines_load_as_written() {
    let loaded = load(
        "global\n  stats socket /var/lib/haproxy/stats expose-fd listeners\n  stats bind-process 1\n  nbproc 1\n\
         frontend f\n  bind :80\n  bind-process 1\n  timeout client 1s\n",
    );
    assert_eq!(alerts(&loaded), Vec::<String>::new());
    assert_eq!(warnings(&loaded), 3);
    assert!(
        loaded.config.global.stats_sockets[0]
            .options
            .expose_fd_listeners
    );
    let bad = load(
        "global\n  nbproc 2\n  stats bind-process 2\nfrontend f\n  bind :80\n  bind-process 3\n",
    );
    let got = alerts(&bad);
    assert_eq!(got.len(), 3, "{got:?}");
    assert!(got.iter().all(|a| a.contains("one process per generation")));
}

#[test]
fn expose_fd_accepts_only_listeners() {
    let loaded = load("global\n  stats socket /x expose-fd all\n");
    assert!(alerts(&loaded)[0].contains("'expose-fd' only supports 'listeners'"));
}

#[test]
fn unsupported_keywords_are_refused_and_warnings_accepted() {
    let loaded = load(
        "global\n  tune.bufsize 16384\n  log-send-hostname\n  tune.http.logurilen 10\nfrontend f\n  bind :80 ssl crt /x.pem name n\n  http-request cache-use c\n  timeout client 1s\n",
    );
    let got = alerts(&loaded);
    assert_eq!(got.len(), 3, "{got:#?}");
    assert!(got[0].contains("option 'ssl' is not supported by baton"));
    assert!(got[1].contains("option 'crt' is not supported by baton"));
    assert!(got[2].starts_with("7: 'http-request cache-use' is not supported by baton"));
    assert_eq!(warnings(&loaded), 2);
    // The option after an unsupported one with a value was still parsed.
    assert_eq!(
        loaded.config.proxies[0].binds[0].options.name.as_deref(),
        Some("n")
    );
}

#[test]
fn unsupported_sections_skip_their_lines() {
    let loaded = load(
        "peers p\n  peer a 127.0.0.1:1\n  anything goes here\nprogram u\n  command x y\nlisten l\n  bind :1\n  timeout client 1s\n",
    );
    let got = alerts(&loaded);
    // One alert per refused section, none for the lines inside them.
    assert_eq!(got.len(), 2, "{got:?}");
    assert!(got[0].starts_with("1: section 'peers' is not supported by baton"));
    assert!(got[1].starts_with("4: section 'program' is not supported by baton"));
    assert_eq!(loaded.config.proxies.len(), 1);
}

#[test]
fn conditional_blocks() {
    let loaded = load(
        ".if version_atleast(3.1-dev8)\ntraces\n  trace h1 sink stderr\n.elif defined(PORT)\nlisten a\n  bind :1\n  timeout client 1s\n.else\nlisten b\n.endif\n\
         .if 0\n  .if 1\nlisten c\n  .endif\n.endif\n",
    );
    assert_eq!(alerts(&loaded), Vec::<String>::new());
    let names: Vec<_> = loaded
        .config
        .proxies
        .iter()
        .map(|p| p.name.as_str())
        .collect();
    assert_eq!(names, ["a"]);
    assert_eq!(alerts(&load(".if 1\n")), ["1: non-terminated '.if' block."]);
    assert_eq!(
        alerts(&load(".endif\n")),
        ["1: lone '.endif' with no matching '.if'."]
    );
    assert_eq!(
        alerts(&load(".if 1\n.else\n.else\n.endif\n")),
        ["3: '.else' after '.else' is not permitted."]
    );
    assert!(
        alerts(&load(".if foo\n.endif\n"))[0].contains("unparsable conditional expression 'foo'")
    );
    assert_eq!(alerts(&load(".alert \"stop\"\n")), ["1: 'stop'."]);
}

#[test]
fn deep_nesting_is_bounded_not_fatal() {
    let depth = 10_000;
    let text = ".if 1\n".repeat(depth) + &".endif\n".repeat(depth);
    let loaded = load(&text);
    assert!(alerts(&loaded)
        .iter()
        .any(|a| a.contains("too many nested")));
}

#[test]
fn tokenizer_errors_carry_the_column() {
    let loaded = load("global\n  maxconn \"10\n");
    let d = loaded
        .diagnostics
        .iter()
        .find(|d| d.severity == Severity::Alert)
        .unwrap();
    assert_eq!(d.message, "unmatched quote at position 11:");
    assert_eq!(d.detail, ["    maxconn \"10", "            ^"]);
}

#[test]
fn garbage_never_panics() {
    for text in [
        "",
        "\0\0\0",
        "\u{fffd}\u{1}\u{2}garbage ####\n\\x\n\"",
        "frontend\n",
        "listen\tx y z\n",
        "server a b\n",
    ] {
        let _ = load(text);
    }
    let bytes: Vec<u8> = (0..50_000u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    let _ = baton_config::load::load_sources(
        &[baton_config::source::SourceFile {
            name: "bin".into(),
            bytes,
        }],
        &|_| None,
    );
}

#[test]
fn missing_newline_and_nul_are_errors() {
    assert!(alerts(&load("global"))[0].contains("Missing LF on last line"));
    assert!(alerts(&load("global\n\0\n"))[0].contains("NUL character"));
}

#[test]
fn empty_config_has_no_listener() {
    assert_eq!(load("").verdict(), Verdict::NoListener);
    assert_eq!(load("global\n  daemon\n").verdict(), Verdict::NoListener);
}

/// Every keyword the table calls supported has a handler in the loader (a missing one shows as
/// "baton bug"), in every context it is listed for.
#[test]
fn every_supported_keyword_has_a_handler() {
    use baton_config::keywords::{Context, KeywordTable, Status};
    let table = KeywordTable::builtin();
    for kw in table
        .keywords
        .iter()
        .filter(|k| k.status == Status::Supported)
    {
        for &context in &kw.contexts {
            let text = match context {
                Context::Section => continue,
                Context::Global => format!("global\n  {} 1\n", kw.name),
                Context::Bind => format!("global\n  stats socket /s {} 1\n", kw.name),
                Context::Server => format!("backend b\n  server s 127.0.0.1:1 {} 1\n", kw.name),
                Context::Defaults => format!("defaults\n  {} 1\n", kw.name),
                Context::Frontend => format!("frontend f\n  {} 1\n", kw.name),
                Context::Backend => format!("backend b\n  {} 1\n", kw.name),
                Context::Listen => format!("listen l\n  {} 1\n", kw.name),
            };
            let loaded = load(&text);
            for d in &loaded.diagnostics {
                assert!(
                    !d.message.contains("baton bug"),
                    "{context} {}: {}",
                    kw.name,
                    d.message
                );
                let unknown = format!("unknown keyword '{}'", kw.name);
                assert!(
                    !d.message.contains(&unknown),
                    "{context} {}: {}",
                    kw.name,
                    d.message
                );
            }
        }
    }
}

#[test]
fn logging_directives_fill_the_model() {
    use baton_config::log_model::{LogAddress, SyslogFormat, TrafficFormat};
    let loaded = load(
        "global\n  log 127.0.0.1:5140 local0\n  log stdout format raw daemon notice\n\
         defaults\n  log global\n  option httplog\n  option dontlognull\n\
         frontend f\n  bind :80\n  capture request header Host len 20\n  timeout client 1s\n\
         frontend g\n  no log\n  log /dev/log local1\n  option tcplog\n  bind :81\n  timeout client 1s\n\
         frontend h\n  log-format \"%ci %[src]\"\n  no option dontlognull\n  bind :82\n  timeout client 1s\n",
    );
    assert!(alerts(&loaded).is_empty(), "{:?}", alerts(&loaded));
    let p = &loaded.config.proxies;
    assert_eq!(p[0].log.targets.len(), 2);
    assert_eq!(p[0].log.targets[1].format, SyslogFormat::Raw);
    assert_eq!(
        (p[0].log.format.clone(), p[0].log.dont_log_null),
        (TrafficFormat::Http, true)
    );
    assert_eq!(p[0].log.request_captures[0].len, 20);
    assert_eq!(p[1].log.targets.len(), 1);
    assert_eq!(
        p[1].log.targets[0].address,
        LogAddress::Unix("/dev/log".into())
    );
    assert_eq!(p[1].log.format, TrafficFormat::Tcp);
    assert!(matches!(&p[2].log.format, TrafficFormat::Custom(f) if f.text == "%ci %[src]"));
    assert!(!p[2].log.dont_log_null);
    let tcp = load("frontend t\n  mode tcp\n  option httplog\n  bind :1\n  timeout client 1s\n");
    assert_eq!(warnings(&tcp), 1);
    assert_eq!(tcp.config.proxies[0].log.format, TrafficFormat::Http);
    let bad = load("global\n  log ring@r local0\n  log 127.0.0.1 local0 bogus\n");
    let got = alerts(&bad);
    assert_eq!(got.len(), 2, "{got:#?}");
    assert!(got[0].contains("2: 'log' : log target 'ring@'"), "{got:?}");
}
