//! The loader: lines of haproxy.cfg into the typed [`Config`], with every problem reported.
//!
//! It walks the files line by line: the tokenizer splits each line, conditional blocks decide
//! whether it counts, section keywords switch the current section, and every other line is
//! classified by the keyword table and, when supported, parsed by the handlers in [`global`],
//! [`proxy`] and [`options`]. A `defaults` section is itself a [`Proxy`] that later proxies are
//! cloned from, so inheritance is resolved as the file is read, exactly where HAProxy does it.
//! Whole-configuration checks run at the end ([`crate::check`]).

mod global;
mod logging;
mod options;
mod proxy;
pub(crate) mod rules;

use crate::condition;
use crate::diag::{Diagnostic, Location, Severity, Verdict};
use crate::keywords::{Context, Keyword, KeywordTable, Status};
use crate::model::{Config, Proxy, ProxyKind};
use crate::source::{lines, read_sources, SourceFile};
use crate::tokenizer::tokenize;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

/// Looks up environment variables; `None` means unset.
pub type Env<'a> = &'a dyn Fn(&str) -> Option<String>;

/// The result of loading: the model (meaningful only when the verdict is not `Invalid`) and
/// every diagnostic, in the order found.
#[derive(Debug)]
pub struct Loaded {
    /// The typed configuration.
    pub config: Config,
    /// Alerts, warnings and notices.
    pub diagnostics: Vec<Diagnostic>,
}

impl Loaded {
    /// What `haproxy -c` would conclude.
    pub fn verdict(&self) -> Verdict {
        if self
            .diagnostics
            .iter()
            .any(|d| d.severity == Severity::Alert)
        {
            Verdict::Invalid
        } else if !self.config.has_listener() {
            Verdict::NoListener
        } else {
            Verdict::Valid
        }
    }

    /// Whether any alert was raised.
    pub fn has_errors(&self) -> bool {
        self.verdict() == Verdict::Invalid
    }
}

/// Loads configuration files (files or directories, as `-f`), using the process environment.
pub fn load_paths(paths: &[PathBuf]) -> Loaded {
    load_paths_with_env(paths, &|name| std::env::var(name).ok())
}

/// Loads configuration files with an explicit environment.
pub fn load_paths_with_env(paths: &[PathBuf], env: Env<'_>) -> Loaded {
    let (files, mut diagnostics) = read_sources(paths);
    let mut loaded = load_sources(&files, env);
    diagnostics.append(&mut loaded.diagnostics);
    loaded.diagnostics = diagnostics;
    loaded
}

/// Loads one configuration given as text (tests, fuzzing).
pub fn load_str(name: &str, text: &str, env: Env<'_>) -> Loaded {
    load_sources(
        &[SourceFile {
            name: Arc::from(name),
            bytes: text.as_bytes().to_vec(),
        }],
        env,
    )
}

/// Loads already-read files.
pub fn load_sources(files: &[SourceFile], env: Env<'_>) -> Loaded {
    let mut loader = Loader::new(env);
    for file in files {
        loader.file(file);
    }
    loader.finish()
}

/// The section the next lines belong to.
#[derive(Debug)]
enum Section {
    /// Before any section keyword in a file.
    None,
    /// `global`.
    Global,
    /// A proxy or defaults section being filled.
    Proxy(Box<Proxy>),
    /// A `userlist` section being filled, with its `group ... users` memberships.
    Userlist(Box<(crate::rules::Userlist, Vec<(String, String)>)>),
    /// A section baton refuses or could not open; its lines are skipped silently.
    Skipped,
}

/// One open `.if` block.
#[derive(Debug)]
struct Conditional {
    /// Whether the enclosing block is active.
    parent_active: bool,
    /// Whether some branch of this block has been taken.
    taken: bool,
    /// Whether the current branch is active.
    active: bool,
    /// Whether `.else` was seen.
    else_seen: bool,
    /// The `.if` line, for "non-terminated" reports.
    location: Location,
}

/// The loader's state while walking the files.
pub(crate) struct Loader<'e> {
    /// The keyword table.
    table: &'static KeywordTable,
    /// Environment lookups.
    env: Env<'e>,
    /// Everything found so far.
    diagnostics: Vec<Diagnostic>,
    /// The model being built.
    config: Config,
    /// The section being read.
    section: Section,
    /// Named defaults sections, for `from NAME`.
    named_defaults: HashMap<String, Proxy>,
    /// The last defaults section read: proxies without `from` inherit from it.
    last_defaults: Option<Proxy>,
    /// Open conditional blocks, innermost last.
    conditions: Vec<Conditional>,
    /// Whether `global` was already seen (HAProxy merges several, so do we).
    seen_global: bool,
    /// Proxy name -> indexes into `config.proxies`, so duplicate checks stay linear.
    proxies_by_name: HashMap<String, Vec<usize>>,
}

impl<'e> Loader<'e> {
    /// A loader with HAProxy's defaults.
    fn new(env: Env<'e>) -> Self {
        Loader {
            table: KeywordTable::builtin(),
            env,
            diagnostics: Vec::new(),
            config: Config::default(),
            section: Section::None,
            named_defaults: HashMap::new(),
            last_defaults: None,
            conditions: Vec::new(),
            seen_global: false,
            proxies_by_name: HashMap::new(),
        }
    }

    /// Records an alert.
    pub(crate) fn alert(&mut self, at: &Location, message: impl Into<String>) {
        self.diagnostics
            .push(Diagnostic::alert(Some(at.clone()), message));
    }

    /// Records a warning.
    pub(crate) fn warn(&mut self, at: &Location, message: impl Into<String>) {
        self.diagnostics
            .push(Diagnostic::warning(Some(at.clone()), message));
    }

    /// Reads one file; each file starts outside any section.
    fn file(&mut self, file: &SourceFile) {
        self.close_section();
        let depth = self.conditions.len();
        for raw in lines(&file.bytes) {
            let at = Location::new(&file.name, raw.number);
            if let Some(problem) = &raw.problem {
                self.alert(&at, problem.clone());
            }
            let text = match std::str::from_utf8(raw.bytes) {
                Ok(t) => std::borrow::Cow::Borrowed(t),
                Err(_) => {
                    self.warn(
                        &at,
                        "line is not valid UTF-8; invalid bytes were replaced with U+FFFD",
                    );
                    String::from_utf8_lossy(raw.bytes)
                }
            };
            self.line(&at, &text);
        }
        // Blocks cannot span files.
        while self.conditions.len() > depth {
            let open = self.conditions.pop().expect("checked length");
            self.alert(&open.location, "non-terminated '.if' block.");
        }
    }

    /// Handles one line.
    fn line(&mut self, at: &Location, text: &str) {
        let section_name = self.section_name();
        let env = self.env;
        let line_no = at.line.to_string();
        let file_name = at.file.to_string();
        let lookup = |name: &str| -> Option<String> {
            match name {
                ".LINE" => Some(line_no.clone()),
                ".FILE" => Some(file_name.clone()),
                ".SECTION" => Some(section_name.clone()),
                _ => env(name),
            }
        };
        let words = match tokenize(text, lookup) {
            Ok(line) => line.words,
            Err(e) => {
                let mut d = Diagnostic::alert(Some(at.clone()), format!("{e}:"));
                d.detail = vec![
                    format!("  {text}"),
                    format!("  {}^", " ".repeat(e.column - 1)),
                ];
                self.diagnostics.push(d);
                return;
            }
        };
        if words.is_empty() {
            return;
        }
        if self.conditional(at, &words) {
            return;
        }
        if !self.active() {
            return;
        }
        if self.report_directive(at, &words) {
            return;
        }
        // HAProxy's keyword parsers treat the first empty argument as the end of the line.
        let end = words
            .iter()
            .position(String::is_empty)
            .unwrap_or(words.len());
        let words = &words[..end];
        if words.is_empty() {
            return;
        }
        if let Some(kw) = self.table.get(Context::Section, &words[0]) {
            self.open_section(at, kw, words);
            return;
        }
        match &self.section {
            Section::None => self.alert(
                at,
                format!("unknown keyword '{}' out of section.", words[0]),
            ),
            Section::Skipped => {}
            Section::Global => self.global_line(at, words),
            Section::Proxy(_) => self.proxy_line(at, words),
            Section::Userlist(_) => self.userlist_line(at, words),
        }
    }

    /// The name `.SECTION` expands to.
    fn section_name(&self) -> String {
        match &self.section {
            Section::Global => "global".into(),
            Section::Proxy(p) => p.kind.name().into(),
            _ => String::new(),
        }
    }

    /// Whether lines are currently taken into account.
    fn active(&self) -> bool {
        self.conditions.last().is_none_or(|c| c.active)
    }

    /// Handles `.if`, `.elif`, `.else`, `.endif`; returns whether the line was one.
    fn conditional(&mut self, at: &Location, words: &[String]) -> bool {
        let evaluate = |loader: &mut Self| -> bool {
            match condition::evaluate(&words[1..], loader.env) {
                Ok(value) => value,
                Err(e) => {
                    loader.alert(at, format!("{e} in '{}'.", words[0]));
                    false
                }
            }
        };
        match words[0].as_str() {
            ".if" => {
                if self.conditions.len() >= condition::MAX_NESTING {
                    self.alert(
                        at,
                        format!("too many nested '.if', max is {}.", condition::MAX_NESTING),
                    );
                    // Still push, so the matching .endif balances.
                }
                let parent_active = self.active();
                let value = parent_active && evaluate(self);
                self.conditions.push(Conditional {
                    parent_active,
                    taken: value,
                    active: value,
                    else_seen: false,
                    location: at.clone(),
                });
            }
            ".elif" | ".else" => {
                let is_else = words[0] == ".else";
                let Some(top) = self.conditions.last() else {
                    self.alert(at, format!("lone '{}' with no matching '.if'.", words[0]));
                    return true;
                };
                if top.else_seen {
                    self.alert(
                        at,
                        format!("'{}' after '.else' is not permitted.", words[0]),
                    );
                    return true;
                }
                let (parent_active, taken) = (top.parent_active, top.taken);
                let value = parent_active && !taken && (is_else || evaluate(self));
                let top = self.conditions.last_mut().expect("checked above");
                top.active = value;
                top.taken |= value;
                top.else_seen = is_else;
            }
            ".endif" => {
                if self.conditions.pop().is_none() {
                    self.alert(at, "lone '.endif' with no matching '.if'.");
                }
            }
            _ => return false,
        }
        true
    }

    /// Handles `.diag`, `.notice`, `.warning`, `.alert`; returns whether the line was one.
    fn report_directive(&mut self, at: &Location, words: &[String]) -> bool {
        let severity = match words[0].as_str() {
            ".diag" => Severity::Diag,
            ".notice" => Severity::Notice,
            ".warning" => Severity::Warning,
            ".alert" => Severity::Alert,
            other if other.starts_with('.') => {
                self.alert(at, format!("unknown directive '{other}'"));
                return true;
            }
            _ => return false,
        };
        if words.len() > 2 {
            self.alert(
                at,
                format!(
                    "Unexpected argument '{}' for '{}'. Use quotes if the message should contain spaces.",
                    words[2], words[0]
                ),
            );
            return true;
        }
        let message = words.get(1).map_or("", String::as_str);
        self.diagnostics.push(Diagnostic {
            severity,
            location: Some(at.clone()),
            message: format!("'{message}'."),
            detail: Vec::new(),
        });
        true
    }

    /// Ends the current section, storing what it built.
    fn close_section(&mut self) {
        let section = std::mem::replace(&mut self.section, Section::None);
        if let Section::Userlist(builder) = section {
            let (list, members) = *builder;
            let list = rules::finish_userlist(list, members, &mut self.diagnostics);
            self.config.userlists.push(list);
            return;
        }
        if let Section::Proxy(proxy) = section {
            let proxy = *proxy;
            if proxy.kind == ProxyKind::Defaults {
                if !proxy.name.is_empty() {
                    self.named_defaults
                        .insert(proxy.name.clone(), proxy.clone());
                }
                self.last_defaults = Some(proxy);
            } else {
                self.proxies_by_name
                    .entry(proxy.name.clone())
                    .or_default()
                    .push(self.config.proxies.len());
                self.config.proxies.push(proxy);
            }
        }
    }

    /// Opens a section.
    fn open_section(&mut self, at: &Location, kw: &Keyword, words: &[String]) {
        self.close_section();
        if kw.status != Status::Supported {
            self.alert(
                at,
                format!(
                    "section '{}' is not supported by baton: {}.",
                    kw.name, kw.note
                ),
            );
            self.section = Section::Skipped;
            return;
        }
        let kind = match words[0].as_str() {
            "global" => {
                if words.len() > 1 {
                    self.alert(
                        at,
                        format!("'global' cannot handle unexpected argument '{}'.", words[1]),
                    );
                }
                self.seen_global = true;
                self.section = Section::Global;
                return;
            }
            "userlist" => {
                let Some(name) = words.get(1).filter(|n| !n.is_empty()) else {
                    self.alert(at, "'userlist' expects <name> as an argument.");
                    self.section = Section::Skipped;
                    return;
                };
                if self.config.userlists.iter().any(|u| &u.name == name) {
                    self.alert(at, format!("userlist '{name}' is declared twice."));
                }
                self.section = Section::Userlist(Box::new((
                    crate::rules::Userlist {
                        name: name.clone(),
                        groups: Vec::new(),
                        users: Vec::new(),
                        location: at.clone(),
                    },
                    Vec::new(),
                )));
                return;
            }
            "defaults" => ProxyKind::Defaults,
            "frontend" => ProxyKind::Frontend,
            "backend" => ProxyKind::Backend,
            _ => ProxyKind::Listen,
        };
        self.section = Section::Skipped;
        let name = words.get(1).cloned().unwrap_or_default();
        if name.is_empty() && kind != ProxyKind::Defaults {
            self.alert(at, format!("'{}' expects <name> as an argument.", words[0]));
            return;
        }
        if let Some(bad) = crate::values::invalid_name_char(&name) {
            self.alert(
                at,
                format!(
                    "character '{bad}' is not permitted in '{}' name '{name}'.",
                    words[0]
                ),
            );
            return;
        }
        let mut rest = &words[2.min(words.len())..];
        let mut parent = self.last_defaults.clone();
        if rest.first().map(String::as_str) == Some("from") {
            let Some(from) = rest.get(1) else {
                self.alert(
                    at,
                    format!(
                        "'{}' : 'from' expects the name of a defaults section.",
                        words[0]
                    ),
                );
                return;
            };
            match self.named_defaults.get(from) {
                Some(d) => parent = Some(d.clone()),
                None => {
                    self.alert(
                        at,
                        format!(
                            "{} '{name}': unable to find the defaults section '{from}'.",
                            words[0]
                        ),
                    );
                    return;
                }
            }
            rest = &rest[2..];
        }
        if let Some(extra) = rest.first() {
            if kind == ProxyKind::Listen || kind == ProxyKind::Frontend {
                self.alert(
                    at,
                    format!(
                        "'{} {name}' : please use the 'bind' keyword for listening addresses (got '{extra}').",
                        words[0]
                    ),
                );
            } else {
                self.alert(
                    at,
                    format!(
                        "'{}' cannot handle unexpected argument '{extra}'.",
                        words[0]
                    ),
                );
            }
            return;
        }
        if kind != ProxyKind::Defaults {
            self.check_duplicate_proxy(at, &name, kind);
        }
        let proxy = match parent {
            Some(defaults) => Proxy::inherit(&defaults, name, kind, at.clone()),
            None => Proxy::new(name, kind, at.clone()),
        };
        self.section = Section::Proxy(Box::new(proxy));
    }

    /// Two proxies may share a name only if one is a pure frontend and the other a pure backend.
    fn check_duplicate_proxy(&mut self, at: &Location, name: &str, kind: ProxyKind) {
        let same_name = self
            .proxies_by_name
            .get(name)
            .map_or(&[][..], Vec::as_slice);
        let clash = same_name
            .iter()
            .map(|&i| &self.config.proxies[i])
            .find(|p| {
                (p.kind.is_frontend() && kind.is_frontend())
                    || (p.kind.is_backend() && kind.is_backend())
            });
        if let Some(other) = clash {
            let message = format!(
                "{} '{name}' has the same name as {} '{name}' declared at {}.",
                kind.name(),
                other.kind.name(),
                other.location
            );
            self.alert(at, message);
        }
    }

    /// Classifies a directive by the keyword table. Returns the keyword and how many words it
    /// spans when the caller should parse it (supported), or `None` when it was fully handled
    /// here (warned about, refused, unknown).
    pub(crate) fn classify(
        &mut self,
        at: &Location,
        context: Context,
        words: &[String],
    ) -> Option<(&'static Keyword, usize)> {
        let table = self.table;
        let section = context.name();
        match table.lookup(context, words) {
            Some((kw, n)) => match kw.status {
                Status::Supported => Some((kw, n)),
                Status::Warning => {
                    self.warn(
                        at,
                        format!("'{}' is ignored by baton: {}.", kw.name, kw.note),
                    );
                    None
                }
                Status::Unsupported => {
                    self.alert(
                        at,
                        format!("'{}' is not supported by baton: {}.", kw.name, kw.note),
                    );
                    None
                }
            },
            None => {
                let message = self.unknown_keyword_message(context, words, section);
                self.alert(at, message);
                None
            }
        }
    }

    /// HAProxy-style "unknown keyword" text with the most useful hint available.
    fn unknown_keyword_message(&self, context: Context, words: &[String], section: &str) -> String {
        let table = self.table;
        let first = words[0].as_str();
        // A multi-word family such as "timeout" or "option": list what follows it.
        let prefix = format!("{first} ");
        let family: Vec<&str> = table
            .names_in(context)
            .filter_map(|n| n.strip_prefix(prefix.as_str()))
            .collect();
        if !family.is_empty() {
            let got = words
                .get(1)
                .map_or(String::new(), |w| format!(" (got '{w}')"));
            let mut known = family.clone();
            known.sort_unstable();
            known.dedup();
            return format!("'{first}' supports {}{got}.", quote_list(&known));
        }
        // Valid elsewhere: say where.
        let elsewhere: Vec<&str> = Context::ALL
            .iter()
            .filter(|&&c| c != context && c != Context::Bind && c != Context::Server)
            .filter(|&&c| table.get(c, first).is_some())
            .map(|c| c.name())
            .collect();
        if !elsewhere.is_empty() {
            return format!(
                "'{first}' is not allowed in a '{section}' section (it belongs in {}).",
                quote_list(&elsewhere)
            );
        }
        let hint = table
            .suggest(context, first)
            .map(|n| format!("; did you mean '{n}' maybe ?"))
            .unwrap_or_default();
        format!("unknown keyword '{first}' in '{section}' section{hint}")
    }

    /// Ends the walk: closes sections and blocks, then runs whole-configuration checks.
    fn finish(mut self) -> Loaded {
        self.close_section();
        while let Some(open) = self.conditions.pop() {
            self.alert(&open.location, "non-terminated '.if' block.");
        }
        let mut diagnostics = self.diagnostics;
        crate::check::check(&self.config, &mut diagnostics);
        Loaded {
            config: self.config,
            diagnostics,
        }
    }
}

/// `'a', 'b' and 'c'`.
fn quote_list(items: &[&str]) -> String {
    let quoted: Vec<String> = items.iter().map(|i| format!("'{i}'")).collect();
    match quoted.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} and {last}", rest.join(", ")),
        _ => quoted.join(""),
    }
}

/// Handlers receive the words after the keyword and report argument problems with this prefix.
pub(crate) fn arg_error(keyword: &str, message: impl std::fmt::Display) -> String {
    format!("'{keyword}' : {message}")
}

/// The one value a directive takes, or why there is not exactly one.
pub(crate) fn single_arg<'a>(args: &'a [String], what: &str) -> Result<&'a String, String> {
    match args {
        [v] => Ok(v),
        [] => Err(format!("expects {what}")),
        [_, extra, ..] => Err(format!("cannot handle unexpected argument '{extra}'")),
    }
}

/// Checks that a directive has no value.
pub(crate) fn no_args(args: &[String]) -> Result<(), String> {
    match args.first() {
        Some(extra) => Err(format!("cannot handle unexpected argument '{extra}'")),
        None => Ok(()),
    }
}

/// The message for a keyword the table calls supported but no handler parses (a baton bug,
/// caught by the `every_supported_keyword_has_a_handler` test).
pub(crate) fn no_handler(keyword: &str) -> String {
    format!("no handler for supported keyword '{keyword}' (baton bug)")
}
