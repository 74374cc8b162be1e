//! Options after the address on `bind`, `stats socket`, `server` and `default-server` lines.
//!
//! Each option word is classified by the keyword table (contexts `bind` and `server`); the
//! table's `args` count lets the loader skip the values of options it does not implement and
//! keep checking the rest of the line, so one run reports every problem.

use super::{arg_error, Loader};
use crate::diag::Location;
use crate::keywords::{Context, Status};
use crate::model::{Level, ListenerOptions, ServerOptions};
use crate::values::{parse_identity, parse_time, parse_uint, TimeUnit};
use std::net::IpAddr;

/// Splits `words` into (option, its values) steps using the table; reports problems.
/// Calls `apply` for each supported option with its value words (as many as the table's `args`).
fn walk_options<F>(
    loader: &mut Loader<'_>,
    at: &Location,
    line: &str,
    context: Context,
    words: &[String],
    mut apply: F,
) where
    F: FnMut(&mut Loader<'_>, &str, &[String]) -> Result<(), String>,
{
    let table = loader.table;
    let mut i = 0;
    while i < words.len() {
        let word = words[i].as_str();
        let Some(kw) = table.get(context, word) else {
            let hint = table
                .suggest(context, word)
                .map(|n| format!("; did you mean '{n}' maybe ?"))
                .unwrap_or_default();
            loader.alert(
                at,
                arg_error(line, format!("unknown keyword '{word}'{hint}")),
            );
            return; // its arity is unknown: the rest of the line cannot be split reliably
        };
        let values = &words[i + 1..(i + 1 + usize::from(kw.args)).min(words.len())];
        i += 1 + values.len();
        match kw.status {
            Status::Supported => {
                if let Err(message) = apply(loader, word, values) {
                    loader.alert(at, arg_error(line, format!("'{word}' : {message}")));
                }
            }
            status => {
                if status == Status::Warning {
                    loader.warn(
                        at,
                        arg_error(
                            line,
                            format!("option '{word}' is ignored by baton: {}.", kw.note),
                        ),
                    );
                } else {
                    loader.alert(
                        at,
                        arg_error(
                            line,
                            format!("option '{word}' is not supported by baton: {}.", kw.note),
                        ),
                    );
                }
            }
        }
    }
}

/// The first value word of an option, or an error naming what it expects.
fn value<'a>(values: &'a [String], what: &str) -> Result<&'a String, String> {
    values.first().ok_or_else(|| format!("expects {what}"))
}

impl Loader<'_> {
    /// Parses the options of a `bind` (`stats == false`) or `stats socket` line.
    pub(crate) fn listener_options(
        &mut self,
        at: &Location,
        line: &str,
        words: &[String],
        stats: bool,
    ) -> ListenerOptions {
        let mut o = ListenerOptions::default();
        walk_options(self, at, line, Context::Bind, words, |_, option, values| {
            let uint = |what: &str| -> Result<u32, String> {
                Ok(parse_uint(value(values, what)?, u32::MAX as u64)? as u32)
            };
            match option {
                "name" => o.name = Some(value(values, "a name")?.clone()),
                "backlog" => o.backlog = Some(uint("an integer")?),
                "maxconn" => o.maxconn = Some(uint("an integer")?),
                "v4v6" => o.v4v6 = true,
                "v6only" => o.v6only = true,
                "transparent" => o.transparent = true,
                "interface" => o.interface = Some(value(values, "an interface name")?.clone()),
                "mode" => {
                    let v = value(values, "an octal mode")?;
                    o.mode = Some(
                        u32::from_str_radix(v, 8)
                            .map_err(|_| format!("expects an octal mode, got '{v}'"))?,
                    );
                }
                "user" | "uid" | "group" | "gid" => {
                    let id = parse_identity(
                        value(values, "a value")?,
                        option == "uid" || option == "gid",
                    )?;
                    if option == "user" || option == "uid" {
                        o.user = Some(id);
                    } else {
                        o.group = Some(id);
                    }
                }
                "level" if stats => {
                    o.level = match value(values, "'user', 'operator' or 'admin'")?.as_str() {
                        "user" => Level::User,
                        "operator" => Level::Operator,
                        "admin" => Level::Admin,
                        other => {
                            return Err(format!(
                                "only supports 'user', 'operator', and 'admin', got '{other}'"
                            ))
                        }
                    }
                }
                "expose-fd" if stats => match value(values, "'listeners'")?.as_str() {
                    "listeners" => o.expose_fd_listeners = true,
                    _ => return Err("'expose-fd' only supports 'listeners'".into()),
                },
                "level" | "expose-fd" => {
                    return Err("is only valid on a 'stats socket' line".into())
                }
                other => {
                    return Err(format!(
                        "no handler for supported option '{other}' (baton bug)"
                    ))
                }
            }
            Ok(())
        });
        if o.v4v6 && o.v6only {
            self.alert(
                at,
                arg_error(line, "'v4v6' and 'v6only' are mutually exclusive"),
            );
        }
        o
    }

    /// Parses the options of a `server` or `default-server` line on top of `base`.
    pub(crate) fn server_options(
        &mut self,
        at: &Location,
        line: &str,
        words: &[String],
        base: &ServerOptions,
    ) -> ServerOptions {
        let mut o = base.clone();
        walk_options(
            self,
            at,
            line,
            Context::Server,
            words,
            |_, option, values| {
                let time = || -> Result<std::time::Duration, String> {
                    let t = parse_time(value(values, "a time")?, TimeUnit::Millis)?;
                    if t.is_zero() {
                        return Err("expects a positive time".into());
                    }
                    Ok(t)
                };
                let count = |max: u64| -> Result<u32, String> {
                    Ok(parse_uint(value(values, "an integer")?, max)? as u32)
                };
                match option {
                    "check" => o.check = true,
                    "backup" => o.backup = true,
                    "disabled" => o.disabled = true,
                    "enabled" => o.disabled = false,
                    "inter" => o.inter = time()?,
                    "fastinter" => o.fastinter = Some(time()?),
                    "downinter" => o.downinter = Some(time()?),
                    "rise" | "fall" => {
                        let n = count(u32::MAX as u64)?;
                        if n == 0 {
                            return Err("expects a value greater than 0".into());
                        }
                        if option == "rise" {
                            o.rise = n
                        } else {
                            o.fall = n
                        }
                    }
                    "port" => {
                        let v = value(values, "a port")?;
                        o.check_port = Some(
                            v.parse::<u16>()
                                .ok()
                                .filter(|&p| p > 0)
                                .ok_or_else(|| format!("invalid port '{v}'"))?,
                        );
                    }
                    "addr" => {
                        let v = value(values, "an address")?;
                        o.check_addr = Some(
                            v.parse::<IpAddr>()
                                .map_err(|_| format!("invalid address '{v}'"))?,
                        );
                    }
                    "weight" => o.weight = count(256)?,
                    "maxconn" => o.maxconn = count(u32::MAX as u64)?,
                    other => {
                        return Err(format!(
                            "no handler for supported option '{other}' (baton bug)"
                        ))
                    }
                }
                Ok(())
            },
        );
        o
    }
}
