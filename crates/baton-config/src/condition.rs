//! Conditional blocks: `.if`, `.elif`, `.else`, `.endif` and the expressions they test.
//!
//! HAProxy evaluates these while reading the file, before any keyword is looked at, so a block
//! can hide syntax that this version does not know (the corpus wraps a 3.x-only section in
//! `.if version_atleast(3.1-dev8)`). The expression grammar is `condition.pest`; this module
//! evaluates it against the environment and the HAProxy version whose syntax baton implements,
//! [`COMPAT_VERSION`].

use pest::iterators::Pair;
use pest::Parser;
use pest_derive::Parser;
use std::cmp::Ordering;

/// The HAProxy version whose configuration language baton implements, for `version_atleast()`
/// and `version_before()`: the Debian 12 build baton is tested against.
pub const COMPAT_VERSION: &str = "2.6.12";

/// Build features `feature()` answers true for: what baton really has.
pub const FEATURES: &[&str] = &["EPOLL", "THREAD", "LINUX_TPROXY", "TFO"];

/// How deep `.if` blocks may nest, as HAProxy's `MAXNESTEDCONDS`.
pub const MAX_NESTING: usize = 256;

/// The generated parser for condition expressions.
#[derive(Parser)]
#[grammar = "condition.pest"]
struct ConditionParser;

/// A condition that could not be evaluated.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unparsable conditional expression '{text}'{reason}")]
pub struct ConditionError {
    /// The expression as written.
    pub text: String,
    /// What in it is wrong, with a leading separator, or empty.
    pub reason: String,
}

/// Evaluates the words after `.if`/`.elif` (already tokenized) as one expression.
pub fn evaluate<F>(words: &[String], env: F) -> Result<bool, ConditionError>
where
    F: Fn(&str) -> Option<String>,
{
    let text = words.join(" ");
    let fail = |reason: String| ConditionError {
        text: text.clone(),
        reason,
    };
    let mut pairs =
        ConditionParser::parse(Rule::condition, &text).map_err(|_| fail(String::new()))?;
    let root = pairs.next().expect("pest yields the condition rule");
    match root.into_inner().find(|p| p.as_rule() == Rule::or_expr) {
        None => Ok(false), // empty condition is false
        Some(expr) => eval_or(expr, &env).map_err(fail),
    }
}

/// `a || b || ...`
fn eval_or<F: Fn(&str) -> Option<String>>(pair: Pair<'_, Rule>, env: &F) -> Result<bool, String> {
    let mut value = false;
    for term in pair.into_inner() {
        // Evaluate every term, so an error anywhere is reported as HAProxy does.
        value |= eval_and(term, env)?;
    }
    Ok(value)
}

/// `a && b && ...`
fn eval_and<F: Fn(&str) -> Option<String>>(pair: Pair<'_, Rule>, env: &F) -> Result<bool, String> {
    let mut value = true;
    for term in pair.into_inner() {
        value &= eval_unary(term, env)?;
    }
    Ok(value)
}

/// `!...term`
fn eval_unary<F: Fn(&str) -> Option<String>>(
    pair: Pair<'_, Rule>,
    env: &F,
) -> Result<bool, String> {
    let mut negate = false;
    let mut value = false;
    for part in pair.into_inner() {
        match part.as_rule() {
            Rule::not => negate = !negate,
            Rule::or_expr => value = eval_or(part, env)?,
            // Non-zero is true; a number too large for i64 is non-zero too.
            Rule::integer => value = part.as_str().parse::<i64>().map(|n| n != 0).unwrap_or(true),
            Rule::call => value = eval_call(part, env)?,
            _ => {}
        }
    }
    Ok(value != negate)
}

/// `name(arg, ...)`
fn eval_call<F: Fn(&str) -> Option<String>>(pair: Pair<'_, Rule>, env: &F) -> Result<bool, String> {
    let mut inner = pair.into_inner();
    let name = inner.next().map(|p| p.as_str()).unwrap_or_default();
    let args: Vec<String> = inner.map(|p| unquote(p.as_str().trim())).collect();
    let want = |n: usize| {
        if args.len() == n {
            Ok(())
        } else {
            Err(format!(
                ": '{name}' takes {n} argument(s), {} given",
                args.len()
            ))
        }
    };
    match name {
        "defined" => want(1).map(|_| env(&args[0]).is_some()),
        "feature" => want(1).map(|_| FEATURES.contains(&args[0].as_str())),
        "streq" => want(2).map(|_| args[0] == args[1]),
        "strneq" => want(2).map(|_| args[0] != args[1]),
        "version_atleast" => {
            want(1).map(|_| compare_versions(COMPAT_VERSION, &args[0]) != Ordering::Less)
        }
        "version_before" => {
            want(1).map(|_| compare_versions(COMPAT_VERSION, &args[0]) == Ordering::Less)
        }
        other => Err(format!(": unknown function '{other}'")),
    }
}

/// Removes one level of quotes around a function argument.
fn unquote(arg: &str) -> String {
    for q in ['"', '\''] {
        if arg.len() >= 2 && arg.starts_with(q) && arg.ends_with(q) {
            return arg[1..arg.len() - 1].to_string();
        }
    }
    arg.to_string()
}

/// Compares HAProxy version strings: dotted numbers, where a `-devN` (or any `-` suffix) release
/// comes before the release it leads to (`3.1-dev8` < `3.1` < `3.1.1`).
pub fn compare_versions(a: &str, b: &str) -> Ordering {
    fn parts(v: &str) -> (Vec<u64>, Option<u64>) {
        let (numbers, suffix) = match v.split_once('-') {
            Some((n, s)) => (n, Some(s)),
            None => (v, None),
        };
        let nums = numbers.split('.').map(|p| p.parse().unwrap_or(0)).collect();
        // A pre-release sorts below the release; among pre-releases, by their number.
        let pre = suffix.map(|s| {
            s.trim_start_matches(|c: char| c.is_ascii_alphabetic())
                .parse()
                .unwrap_or(0)
        });
        (nums, pre)
    }
    let (an, ap) = parts(a);
    let (bn, bp) = parts(b);
    let len = an.len().max(bn.len());
    for i in 0..len {
        let x = an.get(i).copied().unwrap_or(0);
        let y = bn.get(i).copied().unwrap_or(0);
        if x != y {
            return x.cmp(&y);
        }
    }
    match (ap, bp) {
        (None, None) => Ordering::Equal,
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (Some(x), Some(y)) => x.cmp(&y),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eval(text: &str) -> Result<bool, ConditionError> {
        let words: Vec<String> = text
            .split(' ')
            .filter(|w| !w.is_empty())
            .map(String::from)
            .collect();
        evaluate(&words, |n| (n == "HOME").then(|| "/root".to_string()))
    }

    #[test]
    fn literals() {
        assert!(!eval("").unwrap());
        assert!(!eval("0").unwrap());
        assert!(eval("1").unwrap());
        assert!(eval("2").unwrap());
    }

    #[test]
    fn functions() {
        assert!(eval("defined(HOME)").unwrap());
        assert!(!eval("defined(NOPE)").unwrap());
        assert!(eval("streq(a,a)").unwrap());
        assert!(eval("strneq(a,b)").unwrap());
        assert!(eval("streq(\"a\",a)").unwrap());
        assert!(eval("feature(EPOLL)").unwrap());
        assert!(!eval("feature(OPENSSL)").unwrap());
        assert!(eval("version_atleast(2.6)").unwrap());
        assert!(!eval("version_atleast(3.1-dev8)").unwrap());
        assert!(eval("version_before(2.6.13)").unwrap());
        assert!(!eval("version_before(2.6)").unwrap());
    }

    #[test]
    fn operators() {
        assert!(eval("defined(HOME) && !defined(NOPE)").unwrap());
        assert!(eval("(1 || 0) && 1").unwrap());
        assert!(!eval("!1").unwrap());
        assert!(eval("!!1").unwrap());
        assert!(eval("0 || 0 || 1").unwrap());
    }

    #[test]
    fn errors() {
        assert!(eval("foo").is_err());
        assert!(eval("nope(1)").is_err());
        assert!(eval("(1").is_err());
        assert!(eval("1 &&").is_err());
        assert!(eval("streq(a)").is_err());
    }

    #[test]
    fn versions_order() {
        assert_eq!(compare_versions("3.1-dev8", "3.1"), Ordering::Less);
        assert_eq!(compare_versions("3.1", "3.1.0"), Ordering::Equal);
        assert_eq!(compare_versions("2.6.12", "2.6"), Ordering::Greater);
        assert_eq!(compare_versions("3.1-dev8", "3.1-dev10"), Ordering::Less);
    }
}
