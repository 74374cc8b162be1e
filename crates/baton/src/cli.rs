//! The command line: HAProxy's flags, parsed with clap.
//!
//! HAProxy spells several flags as one dash and two letters (`-sf`, `-st`, `-Ws`, `-db`), which
//! clap would read as clustered short flags; [`normalize`] rewrites exactly those words to long
//! options before clap sees them, so `baton` accepts a Debian unit's `ExecStart` unchanged.

use clap::{ArgAction, Parser, ValueEnum};
use std::path::PathBuf;

/// baton: a reverse proxy that reads haproxy.cfg and reloads without resetting a connection.
#[derive(Debug, Parser)]
#[command(name = "baton", disable_version_flag = true, about, long_about = None)]
pub struct Cli {
    /// Configuration file or directory (its *.cfg files in lexical order); may be repeated.
    #[arg(short = 'f', value_name = "CFGFILE")]
    pub files: Vec<PathBuf>,

    /// Check the configuration and exit: 0 valid, 1 errors, 2 valid but nothing to listen on.
    #[arg(short = 'c')]
    pub check: bool,

    /// Quiet: print nothing but errors (with -c, nothing at all).
    #[arg(short = 'q')]
    pub quiet: bool,

    /// Print the version (-vv: also the HAProxy syntax version and features).
    #[arg(short = 'v', action = ArgAction::Count)]
    pub version: u8,

    /// Run in the background (daemon mode).
    #[arg(short = 'D')]
    pub daemon: bool,

    /// Write the pid (the master's in master-worker mode) to this file.
    #[arg(short = 'p', value_name = "PIDFILE")]
    pub pidfile: Option<PathBuf>,

    /// Take the listening sockets from the process behind this stats socket (_getsocks).
    #[arg(short = 'x', value_name = "SOCKET")]
    pub take_sockets_from: Option<PathBuf>,

    /// Soft-stop these pids once started (finish their connections); written -sf.
    #[arg(long = "sf", value_name = "PID", num_args = 0.., action = ArgAction::Append)]
    pub soft_stop: Vec<u32>,

    /// Hard-stop these pids once started; written -st.
    #[arg(long = "st", value_name = "PID", num_args = 0.., action = ArgAction::Append)]
    pub hard_stop: Vec<u32>,

    /// Master-worker mode.
    #[arg(short = 'W')]
    pub master_worker: bool,

    /// Master-worker mode with systemd notifications; written -Ws.
    #[arg(long = "Ws")]
    pub master_worker_systemd: bool,

    /// Master CLI address, `ADDR[,mode M][,level L][,user U][,group G]`; may be repeated.
    #[arg(short = 'S', value_name = "ADDR", action = ArgAction::Append)]
    pub master_cli: Vec<String>,

    /// Send COMMAND to the master CLI given with -S, print the answer, and exit (non-zero when
    /// a `reload` answered Success=0): `baton --cli reload -S /run/baton-master.sock`.
    #[arg(long = "cli", value_name = "COMMAND", requires = "master_cli")]
    pub cli_command: Option<String>,

    /// Stay in the foreground even with `daemon` in the configuration; written -db.
    #[arg(long = "db")]
    pub no_background: bool,

    /// Print the keyword table (what baton supports of haproxy.cfg) and exit.
    #[arg(long = "list-keywords")]
    pub list_keywords: bool,

    /// Output format of --list-keywords.
    #[arg(long = "format", value_enum, default_value_t = ListFormat::Text, requires = "list_keywords")]
    pub format: ListFormat,
}

/// Formats for `--list-keywords`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ListFormat {
    /// One keyword per line.
    Text,
    /// The Markdown of docs/keywords.md.
    Markdown,
}

/// Rewrites HAProxy's two-letter single-dash flags to the long options clap knows.
pub fn normalize<I: IntoIterator<Item = String>>(args: I) -> Vec<String> {
    args.into_iter()
        .map(|a| match a.as_str() {
            "-sf" | "-st" | "-Ws" | "-db" => format!("-{a}"),
            _ => a,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Cli {
        Cli::try_parse_from(normalize(args.iter().map(|s| s.to_string()))).unwrap()
    }

    #[test]
    fn haproxy_style_flags() {
        let cli = parse(&[
            "baton", "-Ws", "-f", "a.cfg", "-f", "b.cfg", "-p", "/run/p", "-x", "/s", "-sf", "12",
            "13", "-S", "/m",
        ]);
        assert!(cli.master_worker_systemd);
        assert_eq!(cli.files, [PathBuf::from("a.cfg"), PathBuf::from("b.cfg")]);
        assert_eq!(cli.soft_stop, [12, 13]);
        assert_eq!(cli.take_sockets_from, Some(PathBuf::from("/s")));
        assert_eq!(cli.master_cli, ["/m"]);
    }

    #[test]
    fn empty_pid_list_is_fine() {
        let cli = parse(&["baton", "-f", "a.cfg", "-sf", "-c"]);
        assert!(cli.soft_stop.is_empty());
        assert!(cli.check);
    }

    #[test]
    fn cli_client() {
        let cli = parse(&["baton", "--cli", "show proc", "-S", "/run/m.sock"]);
        assert_eq!(cli.cli_command.as_deref(), Some("show proc"));
        assert!(
            Cli::try_parse_from(normalize(["baton", "--cli", "reload"].map(String::from))).is_err()
        );
    }

    #[test]
    fn check_and_quiet() {
        let cli = parse(&["baton", "-c", "-q", "-f", "x"]);
        assert!(cli.check && cli.quiet);
        assert_eq!(parse(&["baton", "-vv"]).version, 2);
    }
}
