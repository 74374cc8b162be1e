//! `Exec*=` lines as systemd runs them: the prefix characters (`-`, `@`, `:`, `+`, `!`), the
//! words (quotes, C escapes), several commands separated by a lone `;`, and variable
//! substitution — `${VAR}` anywhere in a word gives its value within that one word, `$VAR` as a
//! whole word gives its value split at whitespace (zero or more words), `$$` is a `$`.

use super::env::Env;
use super::words;
use crate::finding::Origin;
use std::path::Path;

/// One command of an `Exec*=` line, after substitution.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exec {
    /// The program (first word, or the one after the prefixes).
    pub program: String,
    /// The arguments after the program (argv[0] excluded when `@` gives one).
    pub args: Vec<String>,
    /// The `Exec*=` line.
    pub origin: Origin,
}

impl Exec {
    /// The program's file name (`/usr/sbin/haproxy` → `haproxy`).
    pub fn program_name(&self) -> &str {
        Path::new(&self.program)
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or(&self.program)
    }

    /// The values of option `flag` (`-f X`), in order.
    pub fn option_values(&self, flag: &str) -> Vec<&str> {
        self.args
            .windows(2)
            .filter(|w| w[0] == flag)
            .map(|w| w[1].as_str())
            .collect()
    }

    /// Whether the argument list has `flag`.
    pub fn has(&self, flag: &str) -> bool {
        self.args.iter().any(|a| a == flag)
    }
}

/// Parses one `Exec*=` value into its commands, substituting from `env`.
pub fn parse(value: &str, env: &Env, origin: &Origin) -> Result<Vec<Exec>, String> {
    let mut out = Vec::new();
    let all = words::split(value)?;
    for command in all.split(|w| w == ";") {
        let mut command = command.iter();
        let Some(first) = command.next() else {
            continue;
        };
        let prefixes: String = first.chars().take_while(|c| "-@:+!".contains(*c)).collect();
        let rest = &first[prefixes.len()..];
        let mut raw: Vec<String> = Vec::new();
        if !rest.is_empty() {
            raw.push(rest.to_string());
        }
        raw.extend(command.cloned());
        if prefixes.contains('@') && raw.len() >= 2 {
            raw.remove(1);
        }
        let substituted = if prefixes.contains(':') {
            raw
        } else {
            substitute(&raw, env)
        };
        let mut words = substituted.into_iter();
        let Some(program) = words.next() else {
            continue;
        };
        out.push(Exec {
            program,
            args: words.collect(),
            origin: origin.clone(),
        });
    }
    Ok(out)
}

/// Applies systemd's substitution rules to a command's words.
fn substitute(words: &[String], env: &Env) -> Vec<String> {
    let lookup = |name: &str| env.get(name).map(|v| v.value.clone()).unwrap_or_default();
    let mut out = Vec::new();
    for word in words {
        if let Some(name) = word.strip_prefix('$') {
            if super::env::valid_name(name) {
                out.extend(lookup(name).split_whitespace().map(str::to_string));
                continue;
            }
        }
        let mut result = String::new();
        let mut rest = word.as_str();
        while let Some(at) = rest.find('$') {
            result.push_str(&rest[..at]);
            let after = &rest[at + 1..];
            if let Some(tail) = after.strip_prefix('$') {
                result.push('$');
                rest = tail;
            } else if let Some((name, tail)) = after
                .strip_prefix('{')
                .and_then(|a| a.split_once('}'))
                .filter(|(n, _)| super::env::valid_name(n))
            {
                result.push_str(&lookup(name));
                rest = tail;
            } else {
                result.push('$');
                rest = after;
            }
        }
        result.push_str(rest);
        out.push(result);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::unit::env::Var;

    fn env(pairs: &[(&str, &str)]) -> Env {
        pairs
            .iter()
            .map(|(k, v)| {
                (
                    k.to_string(),
                    Var {
                        value: v.to_string(),
                        origin: Origin::new("/e", 1),
                    },
                )
            })
            .collect()
    }

    #[test]
    fn substitution() {
        let e = env(&[
            ("CONFIG", "/etc/h.cfg"),
            ("EXTRAOPTS", "-S /run/m.sock"),
            ("SP", "a b"),
        ]);
        let at = Origin::new("/u", 3);
        let c = parse(
            "/usr/sbin/haproxy -Ws -f $CONFIG $EXTRAOPTS $UNSET x${SP}y $$HOME --p=${CONFIG}",
            &e,
            &at,
        )
        .unwrap();
        assert_eq!(c[0].program_name(), "haproxy");
        assert_eq!(
            c[0].args,
            vec![
                "-Ws",
                "-f",
                "/etc/h.cfg",
                "-S",
                "/run/m.sock",
                "xa by",
                "$HOME",
                "--p=/etc/h.cfg"
            ]
        );
        assert_eq!(c[0].option_values("-f"), vec!["/etc/h.cfg"]);
        let c = parse(
            "-@/bin/kill kill -USR2 $MAINPID ; :/bin/echo $CONFIG",
            &e,
            &at,
        )
        .unwrap();
        assert_eq!(c.len(), 2);
        assert_eq!(
            (c[0].program.as_str(), c[0].args.clone()),
            ("/bin/kill", vec!["-USR2".to_string()])
        );
        assert_eq!(c[1].args, vec!["$CONFIG"]);
    }
}
