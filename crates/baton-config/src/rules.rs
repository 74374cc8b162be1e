//! The typed model of HTTP rules: ACLs and conditions, `use_backend`, `http-request` and
//! `http-response` actions, `redirect`, `errorfile` and `userlist`.
//!
//! Everything here is checked and compiled at load (regular expressions included), so the
//! runtime only evaluates. ACLs are stored per proxy ([`crate::model::Proxy::acls`]); a
//! [`Condition`] refers to them by index, which is how a later `acl` line with the same name
//! extends an ACL that an earlier rule already uses, as in HAProxy.

use crate::diag::Location;
use crate::logformat::LogFormat;
use crate::model::Network;
use crate::sample::SampleExpr;
use std::sync::Arc;

/// A regular expression compiled at load; compared by its source text.
#[derive(Debug, Clone)]
pub struct Regex(pub regex::bytes::Regex);

impl PartialEq for Regex {
    fn eq(&self, other: &Self) -> bool {
        self.0.as_str() == other.0.as_str()
    }
}

impl Eq for Regex {}

/// How an ACL compares the fetched value with its patterns (`-m`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MatchMethod {
    /// `found`: the sample exists.
    Found,
    /// `bool`: the sample is true (no patterns).
    Bool,
    /// `int`: integer ranges and comparisons.
    Int,
    /// `ip`: addresses and networks.
    Ip,
    /// `str`: exact match.
    Str,
    /// `beg`: prefix.
    Beg,
    /// `end`: suffix.
    End,
    /// `sub`: substring.
    Sub,
    /// `reg`: regular expression.
    Reg,
    /// `dom`: a run of domain labels delimited by `/ ? . :` or the ends.
    Dom,
    /// `dir`: a run of path segments delimited by `/ ?` or the ends.
    Dir,
    /// `len`: the length, compared as `int`.
    Len,
}

impl MatchMethod {
    /// The `-m` name.
    pub fn from_name(name: &str) -> Option<MatchMethod> {
        Some(match name {
            "found" => MatchMethod::Found,
            "bool" => MatchMethod::Bool,
            "int" => MatchMethod::Int,
            "ip" => MatchMethod::Ip,
            "str" => MatchMethod::Str,
            "beg" => MatchMethod::Beg,
            "end" => MatchMethod::End,
            "sub" => MatchMethod::Sub,
            "reg" => MatchMethod::Reg,
            "dom" => MatchMethod::Dom,
            "dir" => MatchMethod::Dir,
            "len" => MatchMethod::Len,
            _ => return None,
        })
    }
}

/// An integer pattern: `N`, `N:M`, `:M`, `N:`, or `eq|ne|lt|le|gt|ge N`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IntRange {
    /// Lowest accepted value.
    pub min: i64,
    /// Highest accepted value.
    pub max: i64,
    /// `ne N`: everything but `min`.
    pub not: bool,
}

/// The patterns of one ACL line, compiled for its match method.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Patterns {
    /// No patterns (`found`, `bool`).
    None,
    /// Strings (`str`, `beg`, `end`, `sub`, `dom`, `dir`); lower-cased with `-i`.
    Strings(Vec<Vec<u8>>),
    /// Compiled expressions (`reg`).
    Regexes(Vec<Regex>),
    /// Integer ranges (`int`, `len`).
    Ints(Vec<IntRange>),
    /// Networks (`ip`).
    Networks(Vec<Network>),
}

/// One `acl` line (or one anonymous `{ ... }` block).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Criterion {
    /// What is fetched.
    pub sample: SampleExpr,
    /// How it is compared.
    pub method: MatchMethod,
    /// `-i`: compare without case.
    pub ignore_case: bool,
    /// What it is compared with.
    pub patterns: Patterns,
    /// The line that declared it.
    pub location: Location,
}

/// A named ACL: true when any of its lines matches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Acl {
    /// Its name (`{...}` blocks get a generated one that cannot be written in a file).
    pub name: String,
    /// Its lines, OR-ed.
    pub criteria: Vec<Criterion>,
}

/// One ACL reference in a condition, possibly negated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Term {
    /// `!`.
    pub negate: bool,
    /// Index into the proxy's [`crate::model::Proxy::acls`].
    pub acl: usize,
}

/// `if|unless A B || C !D`: an OR of ANDs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Condition {
    /// `unless`: the result is inverted.
    pub unless: bool,
    /// The alternatives (`||`); each is true when all its terms are.
    pub any_of: Vec<Vec<Term>>,
}

/// Where `use_backend` sends a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BackendTarget {
    /// A backend named in the file (checked at load).
    Named(String),
    /// A log-format string evaluated per request (`%[var(txn.x)]`); a name that matches no
    /// backend leaves the rule unmatched.
    Dynamic(LogFormat),
}

/// A `use_backend` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UseBackend {
    /// The backend.
    pub target: BackendTarget,
    /// When it applies (`None`: always).
    pub condition: Option<Condition>,
    /// The line.
    pub location: Location,
}

/// What `redirect` builds the `Location` from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RedirectKind {
    /// `location`: the value itself.
    Location,
    /// `prefix`: the value, then the request's path and query.
    Prefix,
    /// `scheme`: the value, `://`, the Host header, then path and query.
    Scheme,
}

/// A redirect (`http-request redirect` or the older `redirect`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Redirect {
    /// Which form.
    pub kind: RedirectKind,
    /// The location, prefix or scheme (log-format).
    pub value: LogFormat,
    /// 301, 302 (default), 303, 307 or 308.
    pub code: u16,
    /// `drop-query`: leave out the query string (prefix and scheme).
    pub drop_query: bool,
    /// `append-slash`: add a `/` to a path that lacks one (with `drop-query`).
    pub append_slash: bool,
    /// `set-cookie NAME[=VALUE]`.
    pub set_cookie: Option<String>,
    /// `clear-cookie NAME[=]`.
    pub clear_cookie: Option<String>,
}

/// The body of an `http-request return`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReturnBody {
    /// No body.
    Empty,
    /// `string` or `file`: constant bytes.
    Static(Vec<u8>),
    /// `lf-string`: rendered per request.
    Format(LogFormat),
}

/// `http-request return`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Return {
    /// Status code (default 200).
    pub status: u16,
    /// `content-type`.
    pub content_type: Option<String>,
    /// The body.
    pub body: ReturnBody,
    /// `hdr NAME VALUE` lines (log-format values).
    pub headers: Vec<(String, LogFormat)>,
}

/// A header rewrite shared by `http-request` and `http-response`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeaderAction {
    /// `set-header NAME FMT`: replace every occurrence with one.
    Set(String, LogFormat),
    /// `add-header NAME FMT`: append one.
    Add(String, LogFormat),
    /// `del-header NAME`.
    Del(String),
    /// `replace-header NAME REGEX FMT`: each matching value becomes FMT with `\N` captures.
    Replace(String, Regex, LogFormat),
    /// `replace-value NAME REGEX FMT`: like `Replace`, on each comma-separated value.
    ReplaceValue(String, Regex, LogFormat),
}

/// An `http-request` action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RequestAction {
    /// `allow`: stop evaluating `http-request` rules.
    Allow,
    /// `deny [deny_status N]`.
    Deny(u16),
    /// `reject`: close the connection without answering.
    Reject,
    /// `return ...`.
    Return(Return),
    /// `redirect ...`.
    Redirect(Redirect),
    /// `auth [realm R]`: answer 401 asking for credentials.
    Auth(Option<String>),
    /// A header rewrite.
    Header(HeaderAction),
    /// `set-path FMT`.
    SetPath(LogFormat),
    /// `set-uri FMT`.
    SetUri(LogFormat),
    /// `replace-path REGEX FMT`: a matching path becomes FMT with `\N` captures.
    ReplacePath(Regex, LogFormat),
    /// `replace-uri REGEX FMT`: a matching URI becomes FMT with `\N` captures.
    ReplaceUri(Regex, LogFormat),
    /// `set-var(NAME) EXPR`.
    SetVar(String, SampleExpr),
    /// `set-var-fmt(NAME) FMT`.
    SetVarFmt(String, LogFormat),
}

/// An `http-response` action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResponseAction {
    /// `allow`: stop evaluating `http-response` rules.
    Allow,
    /// `deny [deny_status N]` (default 502).
    Deny(u16),
    /// A header rewrite.
    Header(HeaderAction),
    /// `set-var(NAME) EXPR`.
    SetVar(String, SampleExpr),
}

/// One rule: an action and its condition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule<A> {
    /// What to do.
    pub action: A,
    /// When (`None`: always).
    pub condition: Option<Condition>,
    /// The line.
    pub location: Location,
}

/// `errorfile CODE FILE`: a complete HTTP response read at load.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorFile {
    /// The status it replaces.
    pub code: u16,
    /// The response as in the file (head and body).
    pub response: Arc<[u8]>,
    /// The line.
    pub location: Location,
}

/// How a userlist password is checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Password {
    /// `insecure-password`: compared as is.
    Plain(String),
    /// `password`: a crypt(3) hash (`$1$`, `$5$`, `$6$`, `$2a$`/`$2b$`/`$2y$`).
    Hash(String),
}

/// A `user` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// Login.
    pub name: String,
    /// Its password.
    pub password: Password,
    /// Its groups (from `groups` and from `group ... users`).
    pub groups: Vec<String>,
}

/// A `userlist` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Userlist {
    /// Its name.
    pub name: String,
    /// Declared groups.
    pub groups: Vec<String>,
    /// Its users.
    pub users: Vec<User>,
    /// The section line.
    pub location: Location,
}

/// The status codes `deny_status`, `errorfile` and HAProxy's built-in pages cover.
pub const ERROR_CODES: &[u16] = &[
    200, 400, 401, 403, 404, 405, 407, 408, 410, 413, 425, 429, 500, 501, 502, 503, 504,
];
