//! Handlers for the rule directives of proxies (`acl`, `use_backend`, `http-request ...`,
//! `http-response ...`, `redirect`, `errorfile`), the `userlist` section, and the checks that
//! need the whole configuration (backends and userlists that rules name).

use super::{Loader, Section};
use crate::acl::{check_acl_name, parse_condition, parse_criterion, ANONYMOUS};
use crate::diag::{Diagnostic, Location};
use crate::logformat::{parse_log_format, LogFormat};
use crate::model::{Config, Mode, Proxy};
use crate::rules::{
    Acl, BackendTarget, Condition, ErrorFile, HeaderAction, Password, Redirect, RedirectKind,
    RequestAction, ResponseAction, Return, ReturnBody, Rule, UseBackend, User, Userlist,
    ERROR_CODES,
};
use crate::sample::{check_var_name, parse_sample, Fetch};

/// The largest file a rule may name (pattern files, error files, return bodies): these are
/// held in memory, and a device or a runaway file must not stall or exhaust the loader.
pub const MAX_RULE_FILE: u64 = 16 * 1024 * 1024;

/// Reads a regular file named by a rule, up to [`MAX_RULE_FILE`] bytes.
fn read_file(path: &str) -> Result<Vec<u8>, String> {
    use std::io::Read as _;
    let fail = |e: &dyn std::fmt::Display| format!("cannot read file '{path}': {e}");
    let file = std::fs::File::open(path).map_err(|e| fail(&e))?;
    let meta = file.metadata().map_err(|e| fail(&e))?;
    if !meta.is_file() {
        return Err(fail(&"not a regular file"));
    }
    let mut bytes = Vec::new();
    file.take(MAX_RULE_FILE + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| fail(&e))?;
    if bytes.len() as u64 > MAX_RULE_FILE {
        return Err(fail(&format!("larger than {MAX_RULE_FILE} bytes")));
    }
    Ok(bytes)
}

/// Reads a pattern file as text.
fn read_text(path: &str) -> Result<String, String> {
    String::from_utf8(read_file(path)?).map_err(|_| format!("file '{path}' is not valid UTF-8"))
}

/// Splits `ARGS... [if|unless COND...]`.
fn split_condition(args: &[String]) -> (&[String], Option<&[String]>) {
    match args.iter().position(|a| a == "if" || a == "unless") {
        Some(at) => (&args[..at], Some(&args[at..])),
        None => (args, None),
    }
}

/// Headers whose rewriting would desynchronise baton's framing of the message.
fn check_header_name(name: &str) -> Result<(), String> {
    const FRAMING: &[&str] = &["content-length", "transfer-encoding", "connection"];
    if FRAMING.iter().any(|f| f.eq_ignore_ascii_case(name)) {
        return Err(format!(
            "rewriting the '{name}' header is not supported by baton (it decides the message framing)"
        ));
    }
    if name.is_empty() {
        return Err("expects a header name".into());
    }
    Ok(())
}

/// A log-format argument.
fn log_format(text: &str) -> Result<LogFormat, String> {
    parse_log_format(text)
}

/// Parses `[deny_status N]` after `deny`.
fn deny_status(args: &[String], default: u16) -> Result<u16, String> {
    match args {
        [] => Ok(default),
        [kw, v] if kw == "deny_status" => {
            let code = v
                .parse::<u16>()
                .map_err(|_| format!("'deny_status' expects a status code, got '{v}'"))?;
            if !ERROR_CODES.contains(&code) {
                return Err(format!(
                    "status code '{code}' not handled by default with 'default-errorfiles' argument"
                ));
            }
            Ok(code)
        }
        [other, ..] => Err(format!(
            "'{other}' is not supported by baton after 'deny' (only 'deny_status N' is)"
        )),
    }
}

/// Parses the arguments of a redirect: `location|prefix|scheme VALUE [options]`.
pub(crate) fn parse_redirect(args: &[String]) -> Result<Redirect, String> {
    let (Some(kind), Some(value)) = (args.first(), args.get(1)) else {
        return Err("expects 'location', 'prefix' or 'scheme' followed by a value".into());
    };
    let kind = match kind.as_str() {
        "location" => RedirectKind::Location,
        "prefix" => RedirectKind::Prefix,
        "scheme" => RedirectKind::Scheme,
        other => {
            return Err(format!(
                "expects 'location', 'prefix' or 'scheme', got '{other}'"
            ))
        }
    };
    let mut r = Redirect {
        kind,
        value: log_format(value)?,
        code: 302,
        drop_query: false,
        append_slash: false,
        set_cookie: None,
        clear_cookie: None,
    };
    let mut i = 2;
    while i < args.len() {
        let next = args.get(i + 1);
        match (args[i].as_str(), next) {
            ("code", Some(v)) => {
                r.code = v
                    .parse()
                    .ok()
                    .filter(|c| matches!(c, 301 | 302 | 303 | 307 | 308))
                    .ok_or_else(|| {
                        format!("'code' expects one of 301, 302, 303, 307 or 308, got '{v}'")
                    })?;
                i += 2;
            }
            ("set-cookie", Some(v)) => {
                r.set_cookie = Some(v.clone());
                i += 2;
            }
            ("clear-cookie", Some(v)) => {
                r.clear_cookie = Some(v.clone());
                i += 2;
            }
            ("drop-query", _) => {
                r.drop_query = true;
                i += 1;
            }
            ("append-slash", _) => {
                r.append_slash = true;
                i += 1;
            }
            (other @ ("code" | "set-cookie" | "clear-cookie"), None) => {
                return Err(format!("'{other}' expects a value"))
            }
            (other, _) => {
                return Err(format!(
                    "unknown redirect option '{other}' (code, drop-query, append-slash, set-cookie, clear-cookie)"
                ))
            }
        }
    }
    Ok(r)
}

/// Parses `return [status N] [content-type T] [string S|lf-string F|file P] [hdr N V]...`.
fn parse_return(args: &[String]) -> Result<Return, String> {
    let mut ret = Return {
        status: 200,
        content_type: None,
        body: ReturnBody::Empty,
        headers: Vec::new(),
    };
    let mut i = 0;
    while i < args.len() {
        let value = args.get(i + 1);
        let kw = args[i].as_str();
        match (kw, value) {
            ("status", Some(v)) => {
                ret.status = v
                    .parse::<u16>()
                    .ok()
                    .filter(|s| (200..=599).contains(s))
                    .ok_or_else(|| {
                        format!("'status' expects a status code between 200 and 599, got '{v}'")
                    })?
            }
            ("content-type", Some(v)) => ret.content_type = Some(v.clone()),
            ("string", Some(v)) => ret.body = ReturnBody::Static(v.clone().into_bytes()),
            ("lf-string", Some(v)) => ret.body = ReturnBody::Format(log_format(v)?),
            ("file", Some(v)) => ret.body = ReturnBody::Static(read_file(v)?),
            ("hdr", Some(name)) => {
                let v = args
                    .get(i + 2)
                    .ok_or_else(|| format!("'hdr {name}' expects a value"))?;
                check_header_name(name)?;
                ret.headers.push((name.clone(), log_format(v)?));
                i += 1;
            }
            (other @ ("lf-file" | "errorfile" | "errorfiles" | "default-errorfiles"), _) => {
                return Err(format!("'{other}' is not supported by baton"))
            }
            (
                other @ ("status" | "content-type" | "string" | "lf-string" | "file" | "hdr"),
                None,
            ) => return Err(format!("'{other}' expects a value")),
            (other, _) => return Err(format!("unknown argument '{other}'")),
        }
        i += 2;
    }
    if !matches!(ret.body, ReturnBody::Empty) && ret.content_type.is_none() {
        return Err("a body ('string', 'lf-string' or 'file') requires a 'content-type'".into());
    }
    Ok(ret)
}

/// Compiles a rule's regular expression.
fn compile_regex(regex: &str) -> Result<crate::rules::Regex, String> {
    regex::bytes::Regex::new(regex)
        .map(crate::rules::Regex)
        .map_err(|e| format!("regex '{regex}' is invalid: {e}"))
}

/// Parses the header actions shared by `http-request` and `http-response`.
fn parse_header_action(action: &str, args: &[String]) -> Result<HeaderAction, String> {
    match (action, args) {
        ("set-header" | "add-header", [name, value]) => {
            check_header_name(name)?;
            let fmt = log_format(value)?;
            Ok(if action == "set-header" {
                HeaderAction::Set(name.clone(), fmt)
            } else {
                HeaderAction::Add(name.clone(), fmt)
            })
        }
        ("del-header", [name]) => {
            check_header_name(name)?;
            Ok(HeaderAction::Del(name.clone()))
        }
        ("del-header", [_, flag, ..]) if flag == "-m" => {
            Err("'del-header NAME -m METHOD' is not supported by baton".into())
        }
        ("replace-header" | "replace-value", [name, regex, fmt]) => {
            check_header_name(name)?;
            let re = compile_regex(regex)?;
            let fmt = log_format(fmt)?;
            Ok(if action == "replace-header" {
                HeaderAction::Replace(name.clone(), re, fmt)
            } else {
                HeaderAction::ReplaceValue(name.clone(), re, fmt)
            })
        }
        ("set-header" | "add-header", _) => Err("expects exactly 2 arguments (name, value)".into()),
        ("replace-header" | "replace-value", _) => {
            Err("expects exactly 3 arguments (name, regex, format)".into())
        }
        _ => Err("expects exactly 1 argument (name)".into()),
    }
}

impl Loader<'_> {
    /// The proxy being filled.
    fn proxy_mut(&mut self) -> &mut Proxy {
        match &mut self.section {
            Section::Proxy(p) => p,
            _ => unreachable!("rule directives only run in a proxy section"),
        }
    }

    /// Parses an optional condition into the current proxy's ACL list.
    fn condition(
        &mut self,
        at: &Location,
        words: Option<&[String]>,
    ) -> Result<Option<Condition>, String> {
        let Some(words) = words else {
            return Ok(None);
        };
        let proxy = self.proxy_mut();
        parse_condition(words, &mut proxy.acls, at, &read_text)
            .map(Some)
            .map_err(|e| format!("error detected while parsing condition : {e}"))
    }

    /// `acl`, `use_backend`, `http-request ...`, `http-response ...`, `redirect`, `errorfile`.
    pub(super) fn rule_directive(
        &mut self,
        at: &Location,
        name: &str,
        args: &[String],
    ) -> Result<(), String> {
        let anonymous_defaults = {
            let p = self.proxy_mut();
            p.kind == crate::model::ProxyKind::Defaults && p.name.is_empty()
        };
        if anonymous_defaults
            && (name == "acl"
                || name.starts_with("http-request ")
                || name.starts_with("http-response "))
        {
            return Err(
                "not allowed in anonymous 'defaults' section (name the section and use 'from')"
                    .into(),
            );
        }
        match name {
            "acl" => {
                let Some(acl_name) = args.first() else {
                    return Err("expects an ACL name".into());
                };
                check_acl_name(acl_name)?;
                let criterion = parse_criterion(&args[1..], at, &read_text)?;
                let acls = &mut self.proxy_mut().acls;
                match acls.iter_mut().find(|a| &a.name == acl_name) {
                    Some(acl) => acl.criteria.push(criterion),
                    None => acls.push(Acl {
                        name: acl_name.clone(),
                        criteria: vec![criterion],
                    }),
                }
            }
            "use_backend" => {
                let (target, cond) = split_condition(args);
                let target = match target {
                    [t] if t.contains('%') => BackendTarget::Dynamic(log_format(t)?),
                    [t] => BackendTarget::Named(t.clone()),
                    [] => return Err("expects a backend name".into()),
                    [_, extra, ..] => {
                        return Err(format!(
                            "expects 'if' or 'unless' after the backend name, got '{extra}'"
                        ))
                    }
                };
                let condition = self.condition(at, cond)?;
                self.proxy_mut().use_backends.push(UseBackend {
                    target,
                    condition,
                    location: at.clone(),
                });
            }
            "redirect" | "http-request redirect" => {
                let (args, cond) = split_condition(args);
                let redirect = parse_redirect(args)?;
                let condition = self.condition(at, cond)?;
                if name == "redirect" {
                    self.proxy_mut().redirects.push(Rule {
                        action: redirect,
                        condition,
                        location: at.clone(),
                    });
                } else {
                    self.push_request_rule(at, RequestAction::Redirect(redirect), condition);
                }
            }
            "errorfile" => {
                let (Some(code), Some(file)) = (args.first(), args.get(1)) else {
                    return Err("expects <status_code> and <file> as arguments".into());
                };
                let code: u16 = code
                    .parse()
                    .ok()
                    .filter(|c| ERROR_CODES.contains(c))
                    .ok_or_else(|| format!("status code '{code}' not handled"))?;
                let bytes = read_file(file).map_err(|e| format!("error opening file: {e}"))?;
                check_error_file(&bytes).map_err(|e| format!("file '{file}': {e}"))?;
                let files = &mut self.proxy_mut().errorfiles;
                files.retain(|f| f.code != code);
                files.push(ErrorFile {
                    code,
                    response: bytes.into(),
                    location: at.clone(),
                });
            }
            n if n.starts_with("http-request ") => {
                let action = &n["http-request ".len()..];
                let (args, cond) = split_condition(args);
                let act = match action {
                    "allow" => {
                        no_more(args)?;
                        RequestAction::Allow
                    }
                    "deny" => RequestAction::Deny(deny_status(args, 403)?),
                    "reject" => {
                        no_more(args)?;
                        RequestAction::Reject
                    }
                    "return" => RequestAction::Return(parse_return(args)?),
                    "auth" => match args {
                        [] => RequestAction::Auth(None),
                        [kw, realm] if kw == "realm" => RequestAction::Auth(Some(realm.clone())),
                        _ => return Err("expects nothing or 'realm <realm>'".into()),
                    },
                    "set-header" | "add-header" | "del-header" | "replace-header"
                    | "replace-value" => RequestAction::Header(parse_header_action(action, args)?),
                    "replace-path" | "replace-uri" => match args {
                        [regex, fmt] => {
                            let (re, fmt) = (compile_regex(regex)?, log_format(fmt)?);
                            if action == "replace-path" {
                                RequestAction::ReplacePath(re, fmt)
                            } else {
                                RequestAction::ReplaceUri(re, fmt)
                            }
                        }
                        _ => return Err("expects exactly 2 arguments (regex, format)".into()),
                    },
                    "set-path" | "set-uri" => match args {
                        [fmt] if action == "set-path" => RequestAction::SetPath(log_format(fmt)?),
                        [fmt] => RequestAction::SetUri(log_format(fmt)?),
                        _ => return Err("expects exactly 1 argument (format)".into()),
                    },
                    "set-var" | "set-var-fmt" => {
                        let [var, value] = args else {
                            return Err(format!("expects '{action}(<name>) <value>'"));
                        };
                        check_var_name(var).map_err(|e| e.0)?;
                        if action == "set-var" {
                            RequestAction::SetVar(
                                var.clone(),
                                parse_sample(value).map_err(|e| e.0)?,
                            )
                        } else {
                            RequestAction::SetVarFmt(var.clone(), log_format(value)?)
                        }
                    }
                    other => return Err(super::no_handler(&format!("http-request {other}"))),
                };
                let condition = self.condition(at, cond)?;
                self.push_request_rule(at, act, condition);
            }
            n if n.starts_with("http-response ") => {
                let action = &n["http-response ".len()..];
                let (args, cond) = split_condition(args);
                let act = match action {
                    "allow" => {
                        no_more(args)?;
                        ResponseAction::Allow
                    }
                    "deny" => ResponseAction::Deny(deny_status(args, 502)?),
                    "set-header" | "add-header" | "del-header" | "replace-header"
                    | "replace-value" => ResponseAction::Header(parse_header_action(action, args)?),
                    "set-var" => {
                        let [var, value] = args else {
                            return Err("expects 'set-var(<name>) <value>'".into());
                        };
                        check_var_name(var).map_err(|e| e.0)?;
                        ResponseAction::SetVar(var.clone(), parse_sample(value).map_err(|e| e.0)?)
                    }
                    other => return Err(super::no_handler(&format!("http-response {other}"))),
                };
                let condition = self.condition(at, cond)?;
                self.proxy_mut().http_response.push(Rule {
                    action: act,
                    condition,
                    location: at.clone(),
                });
            }
            other => return Err(super::no_handler(other)),
        }
        Ok(())
    }

    /// Appends an `http-request` rule.
    fn push_request_rule(
        &mut self,
        at: &Location,
        action: RequestAction,
        condition: Option<Condition>,
    ) {
        self.proxy_mut().http_request.push(Rule {
            action,
            condition,
            location: at.clone(),
        });
    }

    /// One line of a `userlist` section.
    pub(super) fn userlist_line(&mut self, at: &Location, words: &[String]) {
        let Section::Userlist(builder) = &mut self.section else {
            return;
        };
        let (list, members) = &mut **builder;
        let result = match words[0].as_str() {
            "user" => parse_user(&words[1..]).and_then(|user| {
                if list.users.iter().any(|u| u.name == user.name) {
                    return Err(format!("duplicate user '{}'", user.name));
                }
                list.users.push(user);
                Ok(())
            }),
            "group" => parse_group(list, members, &words[1..]),
            other => Err(format!("unknown keyword '{other}' in 'userlist' section")),
        };
        if let Err(message) = result {
            let shown = format!("userlist '{}' : '{}' : {message}", list.name, words[0]);
            self.alert(at, shown);
        }
    }
}

/// Completes a userlist when its section ends: `group ... users` memberships are added to the
/// users, and every group a user names must exist.
pub(super) fn finish_userlist(
    mut list: Userlist,
    members: Vec<(String, String)>,
    out: &mut Vec<Diagnostic>,
) -> Userlist {
    for (group, user) in members {
        match list.users.iter_mut().find(|u| u.name == user) {
            Some(u) if !u.groups.contains(&group) => u.groups.push(group),
            Some(_) => {}
            None => out.push(Diagnostic::alert(
                Some(list.location.clone()),
                format!(
                    "userlist '{}': unable to find user '{user}' of group '{group}'.",
                    list.name
                ),
            )),
        }
    }
    for user in &list.users {
        for g in &user.groups {
            if !list.groups.contains(g) {
                out.push(Diagnostic::alert(
                    Some(list.location.clone()),
                    format!(
                        "userlist '{}': unable to find group '{g}' of user '{}'.",
                        list.name, user.name
                    ),
                ));
            }
        }
    }
    list
}

/// Checks that nothing follows an action that takes no argument.
fn no_more(args: &[String]) -> Result<(), String> {
    match args.first() {
        Some(extra) => Err(format!("unexpected argument '{extra}'")),
        None => Ok(()),
    }
}

/// Checks that an error file holds an HTTP/1.x response head.
fn check_error_file(bytes: &[u8]) -> Result<(), String> {
    let head_end = head_end(bytes)
        .ok_or("no complete HTTP response head (a status line, headers and a blank line)")?;
    let line = bytes[..head_end]
        .split(|&b| b == b'\n')
        .next()
        .unwrap_or_default();
    let line = std::str::from_utf8(line).map_err(|_| "status line is not text")?;
    let mut parts = line.trim_end().splitn(3, ' ');
    let version = parts.next().unwrap_or_default();
    let status = parts.next().unwrap_or_default();
    if !version.starts_with("HTTP/1.") || status.len() != 3 || status.parse::<u16>().is_err() {
        return Err(format!("invalid status line '{}'", line.trim_end()));
    }
    Ok(())
}

/// Where an HTTP head ends (after its blank line), with CRLF or bare LF line ends.
pub(crate) fn head_end(bytes: &[u8]) -> Option<usize> {
    let crlf = bytes
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|p| p + 4);
    let lf = bytes.windows(2).position(|w| w == b"\n\n").map(|p| p + 2);
    match (crlf, lf) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// `user NAME [password HASH|insecure-password PASS] [groups G1,G2]`.
fn parse_user(args: &[String]) -> Result<User, String> {
    let Some(name) = args.first() else {
        return Err("expects a user name".into());
    };
    let mut user = User {
        name: name.clone(),
        password: Password::Plain(String::new()),
        groups: Vec::new(),
    };
    let mut has_password = false;
    let mut i = 1;
    while i < args.len() {
        let value = args
            .get(i + 1)
            .ok_or_else(|| format!("'{}' expects a value", args[i]))?;
        match args[i].as_str() {
            "password" => {
                check_hash(value)?;
                user.password = Password::Hash(value.clone());
                has_password = true;
            }
            "insecure-password" => {
                user.password = Password::Plain(value.clone());
                has_password = true;
            }
            "groups" => user
                .groups
                .extend(value.split(',').filter(|g| !g.is_empty()).map(String::from)),
            other => {
                return Err(format!(
                "unknown argument '{other}' (expects 'password', 'insecure-password' or 'groups')"
            ))
            }
        }
        i += 2;
    }
    if !has_password {
        return Err(format!("user '{name}' has no password"));
    }
    Ok(user)
}

/// Refuses hashes baton cannot verify, so that a user never silently fails to log in.
fn check_hash(hash: &str) -> Result<(), String> {
    const SCHEMES: &[&str] = &["$1$", "$5$", "$6$", "$2a$", "$2b$", "$2y$"];
    if SCHEMES.iter().any(|s| hash.starts_with(s)) && hash.len() > 10 {
        return Ok(());
    }
    let scheme = if hash.starts_with('$') {
        hash.split('$')
            .nth(1)
            .map_or(String::new(), |s| format!("'${s}$' "))
    } else {
        "traditional DES ".into()
    };
    Err(format!(
        "password hash scheme {scheme}cannot be verified by baton (it verifies $1$, $5$, $6$ and bcrypt $2a$/$2b$/$2y$ hashes)"
    ))
}

/// `group NAME [users U1,U2]`.
fn parse_group(
    list: &mut Userlist,
    members: &mut Vec<(String, String)>,
    args: &[String],
) -> Result<(), String> {
    let Some(name) = args.first() else {
        return Err("expects a group name".into());
    };
    if list.groups.contains(name) {
        return Err(format!("duplicate group '{name}'"));
    }
    list.groups.push(name.clone());
    match &args[1..] {
        [] => {}
        [kw, users] if kw == "users" => {
            members.extend(
                users
                    .split(',')
                    .filter(|u| !u.is_empty())
                    .map(|u| (name.clone(), u.to_string())),
            );
        }
        [other, ..] => return Err(format!("unknown argument '{other}' (expects 'users')")),
    }
    Ok(())
}

/// Whole-configuration checks of one proxy's rules.
pub(crate) fn check_proxy(config: &Config, proxy: &Proxy, out: &mut Vec<Diagnostic>) {
    let kind = proxy.kind.name();
    let name = &proxy.name;
    if proxy.kind.is_frontend() && proxy.mode == Mode::Tcp && proxy.has_http_rules() {
        let at = proxy
            .http_request
            .first()
            .map(|r| r.location.clone())
            .or_else(|| proxy.use_backends.first().map(|u| u.location.clone()))
            .or_else(|| proxy.redirects.first().map(|r| r.location.clone()))
            .or_else(|| proxy.http_response.first().map(|r| r.location.clone()));
        let only_routing = proxy.http_request.is_empty()
            && proxy.redirects.is_empty()
            && proxy.http_response.is_empty()
            && proxy.acls.iter().all(|a| {
                a.criteria
                    .iter()
                    .all(|c| !c.sample.fetch.needs_request() && !c.sample.fetch.needs_response())
            });
        if !only_routing {
            out.push(Diagnostic::alert(
                at,
                format!("{kind} '{name}': HTTP rules and HTTP ACLs require 'mode http' in baton."),
            ));
        }
    }
    for rule in &proxy.use_backends {
        let BackendTarget::Named(target) = &rule.target else {
            continue;
        };
        match config.backend(target) {
            None => out.push(Diagnostic::alert(
                Some(rule.location.clone()),
                format!("Proxy '{name}': unable to find required use_backend: '{target}'."),
            )),
            Some(b) if proxy.mode == Mode::Http && b.mode == Mode::Tcp => out.push(Diagnostic::alert(
                Some(rule.location.clone()),
                format!(
                    "Proxy '{name}': unable to use proxy '{target}' with wrong mode, required: http, has: tcp."
                ),
            )),
            Some(_) => {}
        }
    }
    for acl in &proxy.acls {
        for c in &acl.criteria {
            if let Fetch::HttpAuth(list) | Fetch::HttpAuthGroup(list) = &c.sample.fetch {
                match config.userlists.iter().find(|u| &u.name == list) {
                    None => out.push(Diagnostic::alert(
                        Some(c.location.clone()),
                        format!(
                            "proxy '{name}': unable to find userlist '{list}' used by ACL '{}'.",
                            display_acl(acl)
                        ),
                    )),
                    Some(ul) => {
                        if let (Fetch::HttpAuthGroup(_), crate::rules::Patterns::Strings(groups)) =
                            (&c.sample.fetch, &c.patterns)
                        {
                            for g in groups {
                                let g = String::from_utf8_lossy(g);
                                if !ul.groups.iter().any(|x| *x == g) {
                                    out.push(Diagnostic::alert(
                                        Some(c.location.clone()),
                                        format!("proxy '{name}': group '{g}' is not declared in userlist '{list}'."),
                                    ));
                                }
                            }
                        }
                    }
                }
            }
        }
    }
    let response_rule_acls = proxy
        .http_response
        .iter()
        .filter_map(|r| r.condition.as_ref().map(|c| (c, &r.location)));
    for (cond, at) in response_rule_acls {
        for term in cond.any_of.iter().flatten() {
            let acl = &proxy.acls[term.acl];
            if acl.criteria.iter().all(|c| c.sample.fetch.needs_request()) {
                out.push(Diagnostic::warning(
                    Some(at.clone()),
                    format!(
                        "acl '{}' will never match in an 'http-response' rule because it only involves request keywords.",
                        display_acl(acl)
                    ),
                ));
            }
        }
    }
}

/// An ACL's name as an operator wrote it.
fn display_acl(acl: &Acl) -> &str {
    if acl.name.starts_with(ANONYMOUS) {
        acl.criteria
            .first()
            .map_or("anonymous", |c| c.sample.text.as_str())
    } else {
        &acl.name
    }
}
