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
    /// The words, escapes applied and variables expanded. An empty quoted word stays as "".
    pub words: Vec<String>,
}

/// Tokenizes one line (without its end-of-line characters).
///
/// `env` answers variable lookups (`None` = unset). Variables are only expanded inside double
/// quotes; outside them `$` is an ordinary character.
pub fn tokenize<F>(text: &str, env: F) -> Result<Line, TokenizeError>
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
    let mut words = Vec::new();
    for pair in line.into_inner() {
        if pair.as_rule() != Rule::word {
            continue; // comment, EOI
        }
        let mut builder = WordBuilder {
            words: &mut words,
            current: String::new(),
            started: false,
        };
        for piece in pair.into_inner() {
            builder.piece(piece, &env)?;
        }
        builder.finish();
        if words.len() > MAX_WORDS {
            return Err(TokenizeError {
                kind: TokenizeErrorKind::TooManyWords,
                column: 1,
            });
        }
    }
    Ok(Line { words })
}

/// Accumulates the pieces of one word; `${X[*]}` expansions can split it into several.
struct WordBuilder<'a> {
    /// Words completed so far on the line.
    words: &'a mut Vec<String>,
    /// The word being built.
    current: String,
    /// Whether `current` is a word even if empty (a quoted "" is a word, an empty split isn't).
    started: bool,
}

impl WordBuilder<'_> {
    /// Adds literal text to the current word.
    fn push_str(&mut self, s: &str) {
        self.current.push_str(s);
        self.started = true;
    }

    /// Ends the current word and starts another (used by `${X[*]}` splitting).
    fn split(&mut self) {
        if self.started || !self.current.is_empty() {
            self.words.push(std::mem::take(&mut self.current));
        }
        self.started = false;
    }

    /// Ends the last word of the token.
    fn finish(mut self) {
        if self.started || !self.current.is_empty() {
            self.words.push(std::mem::take(&mut self.current));
        }
    }

    /// Handles one piece of a word (or of a quoted string).
    fn piece<F>(&mut self, pair: Pair<'_, Rule>, env: &F) -> Result<(), TokenizeError>
    where
        F: Fn(&str) -> Option<String>,
    {
        let column = pair.as_span().start() + 1;
        match pair.as_rule() {
            Rule::bare | Rule::single_text | Rule::double_text => self.push_str(pair.as_str()),
            Rule::single_quoted | Rule::double_quoted => {
                self.started = true;
                for inner in pair.into_inner() {
                    if inner.as_rule() == Rule::unmatched_quote {
                        return Err(TokenizeError {
                            kind: TokenizeErrorKind::UnmatchedQuote,
                            column,
                        });
                    }
                    self.piece(inner, env)?;
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
                        self.started = true;
                    }
                    Rule::bad_hex => {
                        return Err(TokenizeError {
                            kind: TokenizeErrorKind::BadHex,
                            column,
                        })
                    }
                    Rule::known_escape => self.push_str(match inner.as_str() {
                        "n" => "\n",
                        "r" => "\r",
                        "t" => "\t",
                        other => other,
                    }),
                    _ => self.push_str("\\"), // lone backslash: kept
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
        match inner.as_rule() {
            Rule::var_name => {
                let value = env(inner.as_str()).unwrap_or_default();
                self.push_str(&value);
            }
            Rule::bad_var_start => {
                return Err(TokenizeError {
                    kind: TokenizeErrorKind::BadVariableStart,
                    column: dollar + 1,
                })
            }
            Rule::braced => {
                let mut name = "";
                let mut split_all = false;
                let mut default = None;
                for part in inner.into_inner() {
                    let column = part.as_span().start() + 1;
                    match part.as_rule() {
                        Rule::var_name => name = part.as_str(),
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
                    let mut first = true;
                    for part in value.split(' ').filter(|p| !p.is_empty()) {
                        if !first {
                            self.split();
                        }
                        self.push_str(part);
                        first = false;
                    }
                } else {
                    self.push_str(&value);
                }
            }
            _ => {}
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "HOME" => Some("/root".into()),
            "EMPTY" => Some(String::new()),
            "SPL" => Some("a  b c".into()),
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
        assert_eq!(words("''"), [""]);
        assert_eq!(error(r"'a\'b'"), (TokenizeErrorKind::UnmatchedQuote, 6));
    }

    #[test]
    fn double_quotes_expand_variables() {
        assert_eq!(
            words(r#""$HOME:x" "${HOME}y" "\$x" "a\"b""#),
            ["/root:x", "/rooty", "$x", "a\"b"]
        );
        assert_eq!(words(r#""$NOPE""#), [""]);
        assert_eq!(words(r#""$A-x" "$EMPTY""#), ["-x", ""]);
        assert_eq!(words("$HOME ${HOME}"), ["$HOME", "${HOME}"]);
        assert_eq!(words(r#""${.LINE}""#), [""]);
    }

    #[test]
    fn defaults_apply_only_when_unset() {
        assert_eq!(
            words(r#""${NOPE-dflt}" "${EMPTY-dflt}" "${HOME-x}""#),
            ["dflt", "", "/root"]
        );
        assert_eq!(words(r#""${NOPE-}""#), [""]);
    }

    #[test]
    fn split_expansion_makes_words() {
        assert_eq!(words(r#""${SPL[*]}""#), ["a", "b", "c"]);
        assert_eq!(words(r#""x${SPL[*]}y""#), ["xa", "b", "cy"]);
        assert!(
            words(r#""${EMPTY[*]}""#) == [""],
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
            (TokenizeErrorKind::UnmatchedBrace, 11)
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
}
