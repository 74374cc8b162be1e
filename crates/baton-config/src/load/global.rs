//! Handlers for the supported directives of the `global` section.

use super::{arg_error, no_args, no_handler, single_arg, Loader};
use crate::diag::Location;
use crate::keywords::Context;
use crate::model::{CloseSpread, StatsSocket};
use crate::values::{parse_identity, parse_listen_address, parse_time, parse_uint, TimeUnit};

impl Loader<'_> {
    /// One line of `global`.
    pub(super) fn global_line(&mut self, at: &Location, words: &[String]) {
        let Some((kw, n)) = self.classify(at, Context::Global, words) else {
            // nbproc / bind-process are "warning" keywords but must still be checked: only one
            // process per generation exists, so any other number is an error.
            self.check_process_count(at, words);
            return;
        };
        let name = kw.name.as_str();
        let args = &words[n..];
        let result = if super::logging::is_global_log_keyword(name) {
            self.global_log_directive(at, name, args)
        } else {
            self.global_directive(at, name, args)
        };
        if let Err(message) = result {
            self.alert(at, arg_error(name, message));
        }
    }

    /// `nbproc N` and `stats bind-process N` are accepted with a warning, but only for one
    /// process: baton runs one process per generation.
    fn check_process_count(&mut self, at: &Location, words: &[String]) {
        let (keyword, value) = match words {
            [k, v, ..] if k == "nbproc" => ("nbproc", v),
            [s, b, v, ..] if s == "stats" && b == "bind-process" => ("stats bind-process", v),
            _ => return,
        };
        if let Some(message) = process_count_error(value) {
            self.alert(at, arg_error(keyword, message));
        }
    }

    /// Parses one supported global directive.
    fn global_directive(
        &mut self,
        at: &Location,
        name: &str,
        args: &[String],
    ) -> Result<(), String> {
        let g = &mut self.config.global;
        let one = |what: &str| single_arg(args, what);
        let none = || no_args(args);
        match name {
            "daemon" => {
                none()?;
                g.daemon = true;
            }
            "master-worker" => {
                match args.first().map(String::as_str) {
                    None | Some("no-exit-on-failure") => {}
                    Some(other) => {
                        return Err(format!("cannot handle unexpected argument '{other}'"))
                    }
                }
                g.master_worker = true;
            }
            "maxconn" => g.maxconn = Some(parse_uint(one("an integer")?, u32::MAX as u64)? as u32),
            "nbthread" => {
                let n = parse_uint(one("a number of threads")?, 4096)?;
                if n == 0 {
                    return Err("expects a number of threads greater than 0".into());
                }
                g.nbthread = Some(n as u32);
            }
            "user" | "group" | "uid" | "gid" => {
                let id = parse_identity(one("a value")?, name == "uid" || name == "gid")?;
                let slot = if name == "user" || name == "uid" {
                    &mut g.user
                } else {
                    &mut g.group
                };
                if slot.replace(id).is_some() {
                    self.warn(
                        at,
                        arg_error(name, "user/group already specified, overriding"),
                    );
                }
            }
            "chroot" => g.chroot = Some(one("a directory")?.into()),
            "pidfile" => g.pidfile = Some(one("a file name")?.into()),
            "stats timeout" => g.stats_timeout = parse_time(one("a timeout")?, TimeUnit::Millis)?,
            "stats maxconn" => {
                g.stats_maxconn = parse_uint(one("an integer")?, u32::MAX as u64)? as u32
            }
            "hard-stop-after" => {
                g.hard_stop_after = Some(parse_time(one("a time")?, TimeUnit::Millis)?)
            }
            "grace" => g.grace = Some(parse_time(one("a time")?, TimeUnit::Millis)?),
            "close-spread-time" => {
                let v = one("a time or 'infinite'")?;
                g.close_spread_time = Some(if v == "infinite" {
                    CloseSpread::Infinite
                } else {
                    CloseSpread::Window(parse_time(v, TimeUnit::Millis)?)
                });
            }
            "mworker-max-reloads" => {
                g.mworker_max_reloads = parse_uint(one("an integer")?, u32::MAX as u64)? as u32
            }
            "stats socket" => self.stats_socket(at, args)?,
            other => return Err(no_handler(other)),
        }
        Ok(())
    }

    /// `stats socket ADDR [options]`.
    fn stats_socket(&mut self, at: &Location, args: &[String]) -> Result<(), String> {
        let Some(address) = args.first() else {
            return Err("expects an address (a UNIX socket path, or ipv4@/ipv6@ADDR:PORT)".into());
        };
        let addresses = parse_listen_address(address)?;
        let options = self.listener_options(at, "stats socket", &args[1..], true);
        let tcp = addresses
            .iter()
            .any(|a| matches!(a, crate::model::ListenAddress::Inet { .. }));
        if tcp && options.expose_fd_listeners {
            let why = format!("'expose-fd listeners' has no effect on '{address}': descriptors only travel over UNIX sockets");
            self.warn(at, arg_error("stats socket", why));
        }
        for address in addresses {
            self.config.global.stats_sockets.push(StatsSocket {
                address,
                options: options.clone(),
                location: at.clone(),
            });
        }
        Ok(())
    }
}

/// Why a process number cannot be honoured, if it cannot: only process 1 (or `all`, which is
/// the same single process) exists in baton.
pub(super) fn process_count_error(value: &str) -> Option<String> {
    match value {
        "1" | "all" => None,
        other => Some(format!(
            "baton runs one process per generation (its threads share the work), so only 1 is \
             possible, got '{other}'"
        )),
    }
}
