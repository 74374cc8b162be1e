//! Property tests of the line tokenizer.

use baton_config::tokenizer::{
    plain_words, tokenize, tokenize_with_grammar, TokenizeErrorKind, MAX_WORDS,
};
use proptest::prelude::*;

fn no_env(_: &str) -> Option<String> {
    None
}

fn some_env(name: &str) -> Option<String> {
    match name {
        "HOME" => Some("/root".into()),
        "SPL" => Some(" a  b\tc ".into()),
        "EMPTY" => Some(String::new()),
        ".LINE" => Some("12".into()),
        _ => None,
    }
}

/// Lines made of the characters the tokenizer treats specially, plus a few ordinary ones.
fn special_line() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        Just(" ".to_string()),
        Just("\t".to_string()),
        Just("\x0b".to_string()),
        Just("\x0c".to_string()),
        Just("\0".to_string()),
        Just("#".to_string()),
        Just("\"".to_string()),
        Just("'".to_string()),
        Just("\\".to_string()),
        Just("\\x".to_string()),
        Just("\\x4".to_string()),
        Just("\\x41".to_string()),
        Just("\\xff".to_string()),
        Just("\\x00".to_string()),
        Just("$".to_string()),
        Just("${".to_string()),
        Just("}".to_string()),
        Just("[*]".to_string()),
        Just("[".to_string()),
        Just("$HOME".to_string()),
        Just("${SPL[*]}".to_string()),
        Just("${NOPE-dflt}".to_string()),
        Just("$.LINE".to_string()),
        Just("${.X}".to_string()),
        Just("é".to_string()),
        "[a-z0-9_.-]{1,4}",
    ];
    prop::collection::vec(piece, 0..40).prop_map(|v| v.concat())
}

/// Runs of the blanks that separate words.
fn blanks() -> impl Strategy<Value = String> {
    "[ \t\x0b\x0c]{1,3}"
}

/// A word's text as HAProxy can carry it: anything but NUL (words are C strings).
fn word() -> impl Strategy<Value = String> {
    "[^\0]{1,12}"
}

/// `word` with every special character backslash-escaped.
fn escape(word: &str) -> String {
    let mut out = String::new();
    for c in word.chars() {
        match c {
            ' ' => out.push_str("\\ "),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\x0b' => out.push_str("\\x0b"),
            '\x0c' => out.push_str("\\x0c"),
            '\\' | '#' | '\'' | '"' => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
    }
    out
}

/// Joins quoted words with the given separators, with optional leading/trailing blanks.
fn join(quoted: &[String], seps: &[String], lead: &str) -> String {
    let mut line = lead.to_string();
    for (i, q) in quoted.iter().enumerate() {
        if i > 0 {
            line.push_str(&seps[i % seps.len()]);
        }
        line.push_str(q);
    }
    line
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn never_panics_on_arbitrary_strings(s in any::<String>()) {
        let _ = tokenize(&s, no_env);
        let _ = tokenize(&s, some_env);
    }

    #[test]
    fn never_panics_on_special_lines(s in special_line()) {
        let _ = tokenize(&s, no_env);
        let _ = tokenize(&s, some_env);
    }

    #[test]
    fn never_panics_on_huge_word_counts(n in 0usize..3000, tail in special_line()) {
        let line = format!("{}{tail}", "w ".repeat(n));
        let result = tokenize(&line, some_env);
        if n > MAX_WORDS {
            // Only another error can win over the word limit.
            prop_assert!(result.is_err());
        }
    }

    #[test]
    fn single_quoted_words_round_trip(
        words in prop::collection::vec("[^\0'\r\n]{1,12}", 0..MAX_WORDS),
        seps in prop::collection::vec(blanks(), 1..4),
        lead in "[ \t]{0,2}",
    ) {
        let quoted: Vec<String> = words.iter().map(|w| format!("'{w}'")).collect();
        let line = join(&quoted, &seps, &lead);
        prop_assert_eq!(tokenize(&line, some_env).map(|l| l.words), Ok(words));
    }

    #[test]
    fn backslash_escaped_words_round_trip(
        words in prop::collection::vec(word(), 0..MAX_WORDS),
        seps in prop::collection::vec(blanks(), 1..4),
        lead in "[ \t]{0,2}",
    ) {
        let escaped: Vec<String> = words.iter().map(|w| escape(w)).collect();
        let line = join(&escaped, &seps, &lead);
        prop_assert_eq!(tokenize(&line, some_env).map(|l| l.words), Ok(words));
    }

    #[test]
    fn comments_never_contribute_words(
        words in prop::collection::vec(word(), 0..MAX_WORDS - 1),
        seps in prop::collection::vec(blanks(), 1..4),
        comment in any::<String>(),
        glued in any::<bool>(),
    ) {
        let escaped: Vec<String> = words.iter().map(|w| escape(w)).collect();
        let line = join(&escaped, &seps, "");
        let sep = if glued { "" } else { " " };
        let commented = format!("{line}{sep}#{comment}");
        prop_assert_eq!(tokenize(&commented, some_env).map(|l| l.words), Ok(words));
        prop_assert_eq!(tokenize(&format!("{}#{comment}", &seps[0]), some_env), Ok(Default::default()));
    }

    #[test]
    fn error_columns_are_on_the_line(s in prop_oneof![any::<String>(), special_line()]) {
        // With nothing to expand, the output never outgrows the input, so even the word-limit
        // position (an offset in HAProxy's output buffer) stays on the line.
        if let Err(e) = tokenize(&s, no_env) {
            prop_assert!((1..=s.len() + 1).contains(&e.column), "{e:?} for {s:?}");
        }
        // Expansions can lengthen the output; every other error still points into the line.
        if let Err(e) = tokenize(&s, some_env) {
            if e.kind != TokenizeErrorKind::TooManyWords {
                prop_assert!((1..=s.len() + 1).contains(&e.column), "{e:?} for {s:?}");
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2048))]

    /// The fast path for plain lines gives exactly what the grammar gives, whenever it answers.
    #[test]
    fn plain_fast_path_agrees_with_the_grammar(line in special_line()) {
        if let Some(words) = plain_words(&line) {
            let grammar = tokenize_with_grammar(&line, some_env).map(|l| l.words);
            prop_assert_eq!(Ok(words), grammar, "line {:?}", line);
        }
    }

    /// Long plain lines near the word limit too.
    #[test]
    fn plain_fast_path_agrees_near_the_limit(n in 55usize..70, trailing in prop_oneof![Just(""), Just(" "), Just(" #c")]) {
        let line = vec!["w"; n].join(" ") + trailing;
        if let Some(words) = plain_words(&line) {
            prop_assert_eq!(Ok(words), tokenize_with_grammar(&line, no_env).map(|l| l.words));
        }
    }
}
