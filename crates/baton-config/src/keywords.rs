//! The keyword table: the one place that says what baton does with each haproxy.cfg keyword.
//!
//! Every section name, directive, `bind` option and `server` option that baton recognises is
//! listed in `data/keywords.toml` with one of three classifications (see [`Status`]). The loader
//! consults it for every line, `baton --list-keywords` prints it, the generated
//! `docs/keywords.md` is rendered from it and `baton-migrate` reports from it, so the answer to
//! "does baton support X?" can never differ between those places.

use serde::Deserialize;
use std::collections::HashMap;
use std::fmt;
use std::sync::OnceLock;

/// The raw TOML text, compiled in so the binary needs no data file at run time.
const KEYWORDS_TOML: &str = include_str!("../data/keywords.toml");

/// What baton does with a keyword.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Parsed into the typed model and honoured with HAProxy's meaning.
    Supported,
    /// Accepted with a warning: ignoring it cannot change what traffic sees.
    Warning,
    /// Refused: baton would run the configuration differently from HAProxy.
    Unsupported,
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Status::Supported => "supported",
            Status::Warning => "accepted with a warning",
            Status::Unsupported => "unsupported",
        })
    }
}

/// Where a keyword may appear.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Context {
    /// A word that opens a section (`global`, `frontend`, `peers`, ...).
    Section,
    /// A directive of the `global` section.
    Global,
    /// A directive of a `defaults` section.
    Defaults,
    /// A directive of a `frontend` section.
    Frontend,
    /// A directive of a `backend` section.
    Backend,
    /// A directive of a `listen` section.
    Listen,
    /// An option after the address on a `bind` or `stats socket` line.
    Bind,
    /// An option after the address on a `server` or `default-server` line.
    Server,
}

impl Context {
    /// Every context, in the order the documentation lists them.
    pub const ALL: [Context; 8] = [
        Context::Section,
        Context::Global,
        Context::Defaults,
        Context::Frontend,
        Context::Backend,
        Context::Listen,
        Context::Bind,
        Context::Server,
    ];

    /// The name used in `keywords.toml` and in messages.
    pub fn name(self) -> &'static str {
        match self {
            Context::Section => "section",
            Context::Global => "global",
            Context::Defaults => "defaults",
            Context::Frontend => "frontend",
            Context::Backend => "backend",
            Context::Listen => "listen",
            Context::Bind => "bind",
            Context::Server => "server",
        }
    }

    /// Expands one `in = [...]` word of the TOML file, aliases included.
    fn expand(word: &str) -> Option<&'static [Context]> {
        use Context::*;
        Some(match word {
            "section" => &[Section],
            "global" => &[Global],
            "defaults" => &[Defaults],
            "frontend" => &[Frontend],
            "backend" => &[Backend],
            "listen" => &[Listen],
            "bind" => &[Bind],
            "server" => &[Server],
            // HAProxy's documentation marks proxy keywords with these capability groups.
            "proxy" => &[Defaults, Frontend, Backend, Listen],
            "fe" => &[Defaults, Frontend, Listen],
            "be" => &[Defaults, Backend, Listen],
            "fe-only" => &[Frontend, Listen],
            "be-only" => &[Backend, Listen],
            "proxy-no-defaults" => &[Frontend, Backend, Listen],
            _ => return None,
        })
    }
}

impl fmt::Display for Context {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One row of `keywords.toml` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawKeyword {
    /// The keyword, possibly several words (`timeout connect`, `option httplog`).
    name: String,
    /// Contexts and aliases where it may appear.
    #[serde(rename = "in")]
    contexts: Vec<String>,
    /// The classification.
    status: Status,
    /// Why it has this status, or what it does; shown in warnings, errors and docs.
    #[serde(default)]
    note: String,
}

/// The file's top level.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTable {
    /// All rows.
    keyword: Vec<RawKeyword>,
}

/// A keyword as the loader consults it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Keyword {
    /// The keyword, possibly several words separated by one space.
    pub name: String,
    /// Where it may appear, aliases expanded, sorted.
    pub contexts: Vec<Context>,
    /// What baton does with it.
    pub status: Status,
    /// Why, in one sentence; may be empty for plainly supported keywords.
    pub note: String,
}

/// The parsed table with an index by (context, name).
#[derive(Debug)]
pub struct KeywordTable {
    /// Rows in file order, for listing.
    pub keywords: Vec<Keyword>,
    /// (context, name) -> index into `keywords`.
    index: HashMap<(Context, String), usize>,
    /// The longest keyword, in words; bounds the prefix search in [`KeywordTable::lookup`].
    max_words: usize,
}

/// Errors in `keywords.toml` itself: a build-time fault of baton, caught by its unit tests.
#[derive(Debug, thiserror::Error)]
pub enum TableError {
    /// The TOML does not deserialize.
    #[error("keywords.toml: {0}")]
    Toml(#[from] toml::de::Error),
    /// An `in` value is not a known context or alias.
    #[error("keywords.toml: keyword '{keyword}': unknown context '{context}'")]
    UnknownContext { keyword: String, context: String },
    /// The same keyword is listed twice for one context.
    #[error("keywords.toml: keyword '{keyword}' listed twice for context '{context}'")]
    Duplicate { keyword: String, context: Context },
}

impl KeywordTable {
    /// Parses a table from TOML text.
    pub fn from_toml(text: &str) -> Result<Self, TableError> {
        let raw: RawTable = toml::from_str(text)?;
        let mut keywords = Vec::with_capacity(raw.keyword.len());
        let mut index = HashMap::new();
        let mut max_words = 1;
        for row in raw.keyword {
            let mut contexts = Vec::new();
            for word in &row.contexts {
                let expanded = Context::expand(word).ok_or_else(|| TableError::UnknownContext {
                    keyword: row.name.clone(),
                    context: word.clone(),
                })?;
                contexts.extend_from_slice(expanded);
            }
            contexts.sort();
            contexts.dedup();
            let name = row.name.split_whitespace().collect::<Vec<_>>().join(" ");
            max_words = max_words.max(name.split(' ').count());
            let at = keywords.len();
            for &context in &contexts {
                if index.insert((context, name.clone()), at).is_some() {
                    return Err(TableError::Duplicate {
                        keyword: name,
                        context,
                    });
                }
            }
            keywords.push(Keyword {
                name,
                contexts,
                status: row.status,
                note: row.note,
            });
        }
        Ok(KeywordTable {
            keywords,
            index,
            max_words,
        })
    }

    /// The table compiled into baton.
    pub fn builtin() -> &'static KeywordTable {
        static TABLE: OnceLock<KeywordTable> = OnceLock::new();
        TABLE.get_or_init(|| {
            KeywordTable::from_toml(KEYWORDS_TOML).expect("data/keywords.toml is checked by tests")
        })
    }

    /// Finds the longest keyword that prefixes `words` in `context`; returns it and how many
    /// words it spans.
    pub fn lookup<S: AsRef<str>>(
        &self,
        context: Context,
        words: &[S],
    ) -> Option<(&Keyword, usize)> {
        let mut key = String::new();
        let mut best = None;
        for (n, word) in words.iter().take(self.max_words).enumerate() {
            if n > 0 {
                key.push(' ');
            }
            key.push_str(word.as_ref());
            if let Some(&at) = self.index.get(&(context, key.clone())) {
                best = Some((&self.keywords[at], n + 1));
            }
        }
        best
    }

    /// The keyword `name` exactly as written in the table, in `context`.
    pub fn get(&self, context: Context, name: &str) -> Option<&Keyword> {
        self.index
            .get(&(context, name.to_string()))
            .map(|&at| &self.keywords[at])
    }

    /// Every keyword known in `context`, for "did you mean" suggestions.
    pub fn names_in(&self, context: Context) -> impl Iterator<Item = &str> {
        self.keywords
            .iter()
            .filter(move |k| k.contexts.contains(&context))
            .map(|k| k.name.as_str())
    }

    /// Renders the table as Markdown, one table per context; `docs/keywords.md` is this text.
    pub fn to_markdown(&self) -> String {
        let mut out = String::from(
            "# Keywords baton knows\n\n\
             Generated from `crates/baton-config/data/keywords.toml` by \
             `baton --list-keywords --format markdown`; do not edit by hand.\n\n\
             - **supported**: parsed and honoured with HAProxy's meaning.\n\
             - **accepted with a warning**: ignoring it cannot change what traffic sees.\n\
             - **unsupported**: `baton -c` refuses the configuration, because baton would run \
             it differently from HAProxy.\n",
        );
        for context in Context::ALL {
            let rows: Vec<&Keyword> = self
                .keywords
                .iter()
                .filter(|k| k.contexts.contains(&context))
                .collect();
            if rows.is_empty() {
                continue;
            }
            out.push_str(&format!(
                "\n## {}\n\n| keyword | status | note |\n|---|---|---|\n",
                heading(context)
            ));
            for k in rows {
                out.push_str(&format!(
                    "| `{}` | {} | {} |\n",
                    k.name,
                    k.status,
                    k.note.replace('|', "\\|")
                ));
            }
        }
        out
    }

    /// Renders the table as plain text, one keyword per line.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        for context in Context::ALL {
            for k in self
                .keywords
                .iter()
                .filter(|k| k.contexts.contains(&context))
            {
                out.push_str(&format!(
                    "{:<9} {:<40} {}",
                    context.name(),
                    k.name,
                    k.status
                ));
                if !k.note.is_empty() {
                    out.push_str(" - ");
                    out.push_str(&k.note);
                }
                out.push('\n');
            }
        }
        out
    }
}

/// A documentation heading for a context.
fn heading(context: Context) -> &'static str {
    match context {
        Context::Section => "Sections",
        Context::Global => "`global` directives",
        Context::Defaults => "`defaults` directives",
        Context::Frontend => "`frontend` directives",
        Context::Backend => "`backend` directives",
        Context::Listen => "`listen` directives",
        Context::Bind => "`bind` and `stats socket` options",
        Context::Server => "`server` and `default-server` options",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_table_loads() {
        let table = KeywordTable::from_toml(KEYWORDS_TOML).unwrap();
        assert!(table.get(Context::Section, "global").is_some());
    }

    #[test]
    fn longest_prefix_wins() {
        let t = KeywordTable::from_toml(
            r#"
[[keyword]]
name = "stats"
in = ["fe"]
status = "warning"
[[keyword]]
name = "stats socket"
in = ["global"]
status = "supported"
"#,
        )
        .unwrap();
        let (k, n) = t
            .lookup(Context::Global, &["stats", "socket", "/x"])
            .unwrap();
        assert_eq!((k.name.as_str(), n), ("stats socket", 2));
        assert!(t.lookup(Context::Global, &["stats", "timeout"]).is_none());
        let (k, n) = t.lookup(Context::Frontend, &["stats", "uri"]).unwrap();
        assert_eq!((k.name.as_str(), n), ("stats", 1));
    }

    #[test]
    fn bad_tables_are_refused() {
        assert!(matches!(
            KeywordTable::from_toml("[[keyword]]\nname='x'\nin=['nowhere']\nstatus='supported'"),
            Err(TableError::UnknownContext { .. })
        ));
        assert!(matches!(
            KeywordTable::from_toml(
                "[[keyword]]\nname='x'\nin=['proxy','fe']\nstatus='supported'\n"
            )
            .map(|_| ()),
            Ok(())
        ));
        assert!(matches!(
            KeywordTable::from_toml(
                "[[keyword]]\nname='x'\nin=['global']\nstatus='supported'\n[[keyword]]\nname='x'\nin=['global']\nstatus='warning'\n"
            ),
            Err(TableError::Duplicate { .. })
        ));
    }
}
