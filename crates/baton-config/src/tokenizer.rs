//! The line tokenizer: one physical line of haproxy.cfg into words, as HAProxy 2.6 splits it.
//!
//! The pest grammar (`haproxy.pest`) gives the structure of a line; this module walks the parse
//! tree, applies escapes, expands `$VAR` references inside double quotes, and turns the
//! grammar's error rules into [`TokenizeError`]s carrying HAProxy's message and the 1-based
//! column it points its caret at. Environment lookups go through a closure so tests and the
//! loader decide where values come from.

use pest::iterators::Pair;
use pest::Parser;
use pest_derive::Parser;

/// The generated pest parser for one line.
#[derive(Parser)]
#[grammar = "haproxy.pest"]
struct LineParser;

/// HAProxy refuses more words than this on one line.
pub const MAX_WORDS: usize = 64;

/// A tokenizer failure, fatal for the line, with HAProxy's wording.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{kind} at position {column}")]
pub struct TokenizeError {
    /// What is wrong.
    pub kind: TokenizeErrorKind,
    /// 1-based column (in bytes) of the offending character, where HAProxy puts its caret.
    pub column: usize,
}

/// The kinds of tokenizer failure HAProxy distinguishes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenizeErrorKind {
    /// A quote opened and never closed on this line.
    #[error("unmatched quote")]
    UnmatchedQuote,
    /// `${` without a valid name and closing brace.
    #[error("unmatched brace in environment variable name")]
    UnmatchedBrace,
    /// `$` followed by something that cannot start a variable name.
    #[error("forbidden first char in environment variable name")]
    BadVariableStart,
    /// `\x` not followed by two hexadecimal digits.
    #[error("truncated or invalid hexadecimal sequence")]
    BadHex,
    /// `${NAME[` not followed by `*]`.
    #[error("truncated or invalid word expansion sequence")]
    BadWordExpansion,
    /// More than [`MAX_WORDS`] words.
    #[error("too many words, truncating after word {MAX_WORDS}")]
    TooManyWords,
}

/// The words of one line, and whether a comment ended it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Line {
    /// The words, escapes applied and variables expanded, exactly as HAProxy's `args[]`.
    ///
    /// An empty word (`""`, or an empty split of `${X[*]}`) is kept when a blank follows it, but
    /// a trailing empty word is dropped, as HAProxy 2.6 does not count it (its missing args
    /// read as "" anyway, so `foo ""` and `foo` are the same line to HAProxy). A word stops at
    /// a NUL byte produced by `\x00`, since HAProxy's words are C strings.
    pub words: Vec<String>,
}

/// The internal pseudo-variables HAProxy knows; any other `$.NAME` is an error. Their values
/// come from the `env` closure like other variables (the loader answers them).
pub const PSEUDO_VARIABLES: [&str; 3] = [".LINE", ".FILE", ".SECTION"];

/// Tokenizes one line (without its end-of-line characters).
///
/// `env` answers variable lookups (`None` = unset), including the pseudo-variables `.LINE`,
/// `.FILE` and `.SECTION`. Variables are only expanded inside double quotes; outside them `$` is
/// an ordinary character.
pub fn tokenize<F>(text: &str, env: F) -> Result<Line, TokenizeError>
where
    F: Fn(&str) -> Option<String>,
{
    if let Some(words) = plain_words(text) {
        return Ok(Line { words });
    }
    tokenize_with_grammar(text, env)
}

/// The blanks that separate words.
const BLANKS: [char; 4] = [' ', '\t', '\x0b', '\x0c'];

/// Fast path for the overwhelmingly common line with no quote, backslash or NUL and fewer words than
/// the limit: there the grammar reduces to "blank-separated runs until the first `#`", so the
/// result is identical (a property test checks it against [`tokenize_with_grammar`]). Returns
/// `None` for any other line.
pub fn plain_words(text: &str) -> Option<Vec<String>> {
    if text.contains(['"', '\'', '\\', '\0']) {
        return None;
    }
    let content = text.split('#').next().unwrap_or_default();
    let mut words = Vec::new();
    for word in content.split(BLANKS).filter(|w| !w.is_empty()) {
        if words.len() + 1 >= MAX_WORDS {
            return None; // the limit's exact rules live in the grammar path
        }
        words.push(word.to_string());
    }
    Some(words)
}

/// Tokenizes with the pest grammar: every line, including the ones [`plain_words`] declines.
pub fn tokenize_with_grammar<F>(text: &str, env: F) -> Result<Line, TokenizeError>
where
    F: Fn(&str) -> Option<String>,
{
    let mut pairs = LineParser::parse(Rule::line, text).map_err(|e| {
        // The grammar accepts every line; reaching this is a grammar bug, reported as a
        // tokenizer error at the failing column rather than a panic.
        let column = match e.location {
            pest::error::InputLocation::Pos(p) => p + 1,
            pest::error::InputLocation::Span((p, _)) => p + 1,
        };
        TokenizeError {
            kind: TokenizeErrorKind::UnmatchedQuote,
            column,
        }
    })?;
    let line = pairs.next().expect("pest yields the line rule");
    let mut args = Args::default();
    for pair in line.into_inner() {
        if pair.as_rule() != Rule::word {
            continue; // comment, EOI
        }
        let end = pair.as_span().end();
        for piece in pair.into_inner() {
            args.piece(piece, &env, false)?;
        }
        // Like HAProxy, every run of blanks after a word ends an argument, even a trailing run
        // (which then counts towards the word limit).
        if text[end..].starts_with([' ', '\t', '\x0b', '\x0c']) {
            args.separate();
        }
    }
    args.finish()
}

/// HAProxy's argument vector while a line is scanned: `${X[*]}` expansions and blanks end
/// arguments.
#[derive(Default)]
struct Args {
    /// Arguments completed so far (each ended by a blank run or an expansion split).
    done: Vec<String>,
    /// The argument being built.
    current: String,
}

impl Args {
    /// Ends the current argument, even if empty, as HAProxy's separators do.
    fn separate(&mut self) {
        self.done.push(std::mem::take(&mut self.current));
    }

    /// Ends the line: the last argument counts only when non-empty, and more than
    /// [`MAX_WORDS`] argument starts is an error.
    fn finish(mut self) -> Result<Line, TokenizeError> {
        // HAProxy flags "too many words" when a separator would open argument 65, whether or
        // not anything follows it. It reports the 1-based offset of word 64 in its output
        // buffer (each word followed by its NUL), which is what `column` carries here.
        if self.done.len() >= MAX_WORDS {
            let column = 1 + self.done[..MAX_WORDS - 1]
                .iter()
                .map(|w| w.len() + 1)
                .sum::<usize>();
            return Err(TokenizeError {
                kind: TokenizeErrorKind::TooManyWords,
                column,
            });
        }
        if !self.current.is_empty() {
            self.done.push(std::mem::take(&mut self.current));
        }
        let words = self
            .done
            .into_iter()
            .map(|mut w| {
                if let Some(nul) = w.find('\0') {
                    w.truncate(nul);
                }
                w
            })
            .collect();
        Ok(Line { words })
    }

    /// Handles one piece of a word (or of a quoted string); `in_dquote` tells whether it sits
    /// inside double quotes.
    fn piece<F>(
        &mut self,
        pair: Pair<'_, Rule>,
        env: &F,
        in_dquote: bool,
    ) -> Result<(), TokenizeError>
    where
        F: Fn(&str) -> Option<String>,
    {
        let column = pair.as_span().start() + 1;
        match pair.as_rule() {
            Rule::bare | Rule::single_text | Rule::double_text => {
                self.current.push_str(pair.as_str())
            }
            Rule::single_quoted | Rule::double_quoted => {
                let dquote = pair.as_rule() == Rule::double_quoted;
                for inner in pair.into_inner() {
                    if inner.as_rule() == Rule::unmatched_quote {
                        return Err(TokenizeError {
                            kind: TokenizeErrorKind::UnmatchedQuote,
                            column,
                        });
                    }
                    self.piece(inner, env, dquote)?;
                }
            }
            Rule::escape => {
                let inner = pair
                    .into_inner()
                    .next()
                    .expect("escape has one alternative");
                match inner.as_rule() {
                    Rule::hex_escape => {
                        let value = u8::from_str_radix(&inner.as_str()[1..], 16)
                            .expect("grammar guarantees two hex digits");
                        // HAProxy copies the byte as is; a non-ASCII byte cannot live in a Rust
                        // String, so it is kept as the Unicode scalar of the same value.
                        self.current.push(char::from(value));
                    }
                    Rule::bad_hex => {
                        return Err(TokenizeError {
                            kind: TokenizeErrorKind::BadHex,
                            column,
                        })
                    }
                    Rule::known_escape => self.current.push_str(match inner.as_str() {
                        "n" => "\n",
                        "r" => "\r",
                        "t" => "\t",
                        // "\$" only protects a "$" inside double quotes.
                        "$" if !in_dquote => "\\$",
                        other => other,
                    }),
                    _ => self.current.push('\\'), // lone backslash: kept
                }
            }
            Rule::variable => self.variable(pair, env)?,
            _ => {}
        }
        Ok(())
    }

    /// Expands `$NAME`, `${NAME}`, `${NAME[*]}` or `${NAME-default}`.
    fn variable<F>(&mut self, pair: Pair<'_, Rule>, env: &F) -> Result<(), TokenizeError>
    where
        F: Fn(&str) -> Option<String>,
    {
        let dollar = pair.as_span().start() + 1;
        let inner = pair
            .into_inner()
            .next()
            .expect("variable has one alternative");
        let mut name = "";
        let mut split_all = false;
        let mut default = None;
        let parts: Vec<Pair<'_, Rule>> = match inner.as_rule() {
            Rule::braced => inner.into_inner().collect(),
            _ => vec![inner],
        };
        for part in parts {
            let column = part.as_span().start() + 1;
            match part.as_rule() {
                Rule::var_name => {
                    name = part.as_str();
                    if name.starts_with('.') && !PSEUDO_VARIABLES.contains(&name) {
                        // HAProxy points at the name of an unknown pseudo-variable.
                        return Err(TokenizeError {
                            kind: TokenizeErrorKind::BadVariableStart,
                            column,
                        });
                    }
                }
                Rule::bad_var_start => {
                    // HAProxy points at the offending character, after "$" or "${".
                    return Err(TokenizeError {
                        kind: TokenizeErrorKind::BadVariableStart,
                        column,
                    });
                }
                Rule::split_all => split_all = true,
                Rule::bad_split => {
                    return Err(TokenizeError {
                        kind: TokenizeErrorKind::BadWordExpansion,
                        column,
                    })
                }
                Rule::default_value => {
                    default = Some(part.into_inner().next().map_or("", |p| p.as_str()))
                }
                _ => {
                    // unmatched_brace: HAProxy points at the "{".
                    return Err(TokenizeError {
                        kind: TokenizeErrorKind::UnmatchedBrace,
                        column: dollar + 1,
                    });
                }
            }
        }
        let value = env(name)
            .or_else(|| default.map(str::to_string))
            .unwrap_or_default();
        if split_all {
            // Each run of C whitespace in the value ends an argument, even at its start.
            let mut chars = value.chars().peekable();
            while let Some(c) = chars.next() {
                if is_c_space(c) {
                    self.separate();
                    while chars.peek().is_some_and(|&c| is_c_space(c)) {
                        chars.next();
                    }
                } else {
                    self.current.push(c);
                }
            }
        } else {
            self.current.push_str(&value);
        }
        Ok(())
    }
}

/// C's `isspace` in the C locale.
fn is_c_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\x0b' | '\x0c' | '\r')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "HOME" => Some("/root".into()),
            "EMPTY" => Some(String::new()),
            "SPL" => Some("a  b c".into()),
            "LEAD" => Some(" a\t\nb ".into()),
            ".LINE" => Some("7".into()),
            _ => None,
        }
    }

    fn words(text: &str) -> Vec<String> {
        tokenize(text, env).unwrap().words
    }

    fn error(text: &str) -> (TokenizeErrorKind, usize) {
        let e = tokenize(text, env).unwrap_err();
        (e.kind, e.column)
    }

    #[test]
    fn blanks_split_words() {
        assert_eq!(
            words("  bind\t:80 \x0b x\x0cy  "),
            ["bind", ":80", "x", "y"]
        );
        assert!(words("").is_empty());
        assert!(words("   \t ").is_empty());
    }

    #[test]
    fn comments_end_the_line_even_glued() {
        assert_eq!(words("global#comment"), ["global"]);
        assert_eq!(words("a # b c"), ["a"]);
        assert!(words("# only").is_empty());
        assert_eq!(words("\"a#b\" 'c#d' e\\#f"), ["a#b", "c#d", "e#f"]);
    }

    #[test]
    fn escapes_outside_quotes() {
        assert_eq!(words(r"a\ b"), ["a b"]);
        assert_eq!(words(r"\x41\t"), ["A\t"]);
        assert_eq!(words(r#"\"a \'b \\c"#), ["\"a", "'b", "\\c"]);
        assert_eq!(words(r"\z ab\"), ["\\z", "ab\\"]);
        assert_eq!(words(r"\n\r"), ["\n\r"]);
        assert_eq!(error(r".notice \xZZ"), (TokenizeErrorKind::BadHex, 9));
        assert_eq!(error(r"\x4"), (TokenizeErrorKind::BadHex, 1));
    }

    #[test]
    fn single_quotes_interpret_nothing() {
        assert_eq!(words(r"'a\x41 $HOME'"), [r"a\x41 $HOME"]);
        assert_eq!(words("'' x"), ["", "x"]);
        assert_eq!(error(r"'a\'b'"), (TokenizeErrorKind::UnmatchedQuote, 6));
    }

    #[test]
    fn double_quotes_expand_variables() {
        assert_eq!(
            words(r#""$HOME:x" "${HOME}y" "\$x" "a\"b""#),
            ["/root:x", "/rooty", "$x", "a\"b"]
        );
        assert_eq!(words(r#""$NOPE" x"#), ["", "x"]);
        assert_eq!(words(r#""$A-x" "$EMPTY" y"#), ["-x", "", "y"]);
        assert_eq!(words("$HOME ${HOME}"), ["$HOME", "${HOME}"]);
    }

    #[test]
    fn defaults_apply_only_when_unset() {
        assert_eq!(
            words(r#""${NOPE-dflt}" "${EMPTY-dflt}" "${HOME-x}""#),
            ["dflt", "", "/root"]
        );
        assert_eq!(words(r#""${NOPE-}" x"#), ["", "x"]);
    }

    #[test]
    fn split_expansion_makes_words() {
        assert_eq!(words(r#""${SPL[*]}""#), ["a", "b", "c"]);
        assert_eq!(words(r#""x${SPL[*]}y""#), ["xa", "b", "cy"]);
        assert!(
            words(r#""${EMPTY[*]}" x"#) == ["", "x"],
            "an empty quoted word remains a word"
        );
        assert_eq!(
            error(r#".notice "${SPL[x]}""#),
            (TokenizeErrorKind::BadWordExpansion, 15)
        );
    }

    #[test]
    fn quotes_concatenate() {
        assert_eq!(words(r#""a"'b'c\ d"#), ["abc d"]);
        assert_eq!(words(r#""a b"x 'c'"#), ["a bx", "c"]);
    }

    #[test]
    fn variable_errors_point_where_haproxy_does() {
        assert_eq!(
            error(r#".notice "$1""#),
            (TokenizeErrorKind::BadVariableStart, 11)
        );
        assert_eq!(
            error(r#".notice "${1}""#),
            (TokenizeErrorKind::BadVariableStart, 12)
        );
        assert_eq!(
            error(r#".notice "${NOPE""#),
            (TokenizeErrorKind::UnmatchedBrace, 11)
        );
        assert_eq!(
            error(r#".notice "$""#),
            (TokenizeErrorKind::BadVariableStart, 11)
        );
        assert_eq!(
            error(r#".notice "unterminated"#),
            (TokenizeErrorKind::UnmatchedQuote, 9)
        );
    }

    #[test]
    fn word_limit() {
        let ok = vec!["w"; MAX_WORDS].join(" ");
        assert_eq!(words(&ok).len(), MAX_WORDS);
        let too_many = vec!["w"; MAX_WORDS + 1].join(" ");
        assert_eq!(error(&too_many).0, TokenizeErrorKind::TooManyWords);
    }

    #[test]
    fn long_lines_are_fine() {
        let long = "x".repeat(1 << 20);
        assert_eq!(words(&long)[0].len(), 1 << 20);
    }

    // The tests below pin disagreements with HAProxy 2.6.12 found by the differential test
    // (tests/tokenizer_differential.rs).

    #[test]
    fn dot_only_leads_a_variable_name() {
        assert_eq!(words(r#""$HOME.x""#), ["/root.x"]);
        assert_eq!(
            error(r#".notice "${HOME.x}""#),
            (TokenizeErrorKind::UnmatchedBrace, 11)
        );
    }

    #[test]
    fn pseudo_variables_are_known_or_rejected() {
        assert_eq!(words(r#""$.LINE:${.LINE}""#), ["7:7"]);
        assert_eq!(
            error(r#".notice "${.FOO}""#),
            (TokenizeErrorKind::BadVariableStart, 12)
        );
        assert_eq!(
            error(r#".notice "$.""#),
            (TokenizeErrorKind::BadVariableStart, 11)
        );
    }

    #[test]
    fn bad_braced_name_points_after_the_brace() {
        assert_eq!(
            error(r#".notice "${""#),
            (TokenizeErrorKind::BadVariableStart, 12)
        );
        assert_eq!(
            error(r#".notice "${}""#),
            (TokenizeErrorKind::BadVariableStart, 12)
        );
    }

    #[test]
    fn expansion_then_missing_brace_is_unmatched_brace() {
        assert_eq!(
            error(r#".notice "${SPL[*]x""#),
            (TokenizeErrorKind::UnmatchedBrace, 11)
        );
        assert_eq!(
            error(r#".notice "${SPL[*x""#),
            (TokenizeErrorKind::BadWordExpansion, 15)
        );
        assert_eq!(
            error(r#".notice "${SPL[""#),
            (TokenizeErrorKind::BadWordExpansion, 15)
        );
    }

    #[test]
    fn escaped_dollar_only_inside_double_quotes() {
        assert_eq!(words(r#"\$x "\$x" '\$x'"#), [r"\$x", "$x", r"\$x"]);
    }

    #[test]
    fn split_expansion_uses_all_whitespace_and_keeps_leading_empty_word() {
        assert_eq!(words(r#""${LEAD[*]}""#), ["", "a", "b"]);
        assert_eq!(words(r#""${LEAD[*]}" x"#), ["", "a", "b", "", "x"]);
    }

    #[test]
    fn trailing_empty_word_is_not_counted() {
        assert_eq!(words(r#"foo """#), ["foo"]);
        assert_eq!(words("foo '' "), ["foo", ""], "a blank after it keeps it");
        assert_eq!(words(r#""" foo"#), ["", "foo"]);
        assert!(words("''").is_empty());
    }

    #[test]
    fn word_limit_counts_separators_like_haproxy() {
        let w64 = (1..=64)
            .map(|i| i.to_string())
            .collect::<Vec<_>>()
            .join(" ");
        assert_eq!(words(&w64).len(), 64);
        assert_eq!(words(&format!("{w64}#c")).len(), 64);
        // A blank after word 64 opens word 65, even with nothing after it.
        assert_eq!(
            error(&format!("{w64} ")),
            (TokenizeErrorKind::TooManyWords, 181)
        );
        assert_eq!(
            error(&format!(" {w64} #c")),
            (TokenizeErrorKind::TooManyWords, 181)
        );
        // HAProxy reports the offset of word 64 in its output buffer.
        assert_eq!(
            error(&format!(r#"'a''bc' {w64}"#)),
            (TokenizeErrorKind::TooManyWords, 182)
        );
        // Any other error on the line wins over "too many words".
        assert_eq!(error(&format!("{w64} x \\xZ")).0, TokenizeErrorKind::BadHex);
        assert_eq!(
            error(&format!("{w64} x \"")).0,
            TokenizeErrorKind::UnmatchedQuote
        );
    }

    #[test]
    fn nul_byte_ends_a_word() {
        assert_eq!(words(r"a\x00b c"), ["a", "c"]);
    }
}
