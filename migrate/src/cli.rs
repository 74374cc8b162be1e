//! The command line of `baton-migrate`, and nothing else.
//!
//! This module depends only on clap and std so that the packaging can render the man page
//! `baton-migrate(8)` from [`command`] with clap_mangen without pulling in the checker itself.
//! Usage errors exit with status 2 ("could not check"), clap's own code for them.

use clap::{Args, CommandFactory, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

/// Text after the options in `--help` and in the man page: the subcommands' options (the man
/// page shows only the top-level command), exit status and files.
const AFTER_HELP: &str = "\
Usage of the subcommands:
  baton-migrate check [--root DIR] [--service NAME]... [--format text|json] [CONFIG]
  baton-migrate fix   [--root DIR] [--service NAME]... [--dry-run] [CONFIG]

  --root DIR       resolve every absolute path (units, environment files, the config) under
                   DIR, as systemctl --root does (default /)
  --service NAME   a unit to hold against the config (repeatable); default: baton.service and
                   haproxy.service when their -f is CONFIG
  --format FORMAT  check: text (grouped, with fixes) or json (schema in docs/migration.md)
  --dry-run        fix: print the unified diff, write nothing
  CONFIG           the haproxy.cfg; default: the one baton.service, else haproxy.service, runs

fix adds 'expose-fd listeners' to the stats socket line (or adds a stats socket line) and sets
HAPROXY_STATS_SOCKET where it takes effect; it writes atomically, keeps FILE.bak, changes
nothing on any error, and a second run changes nothing.

Exit status: 0 no errors, 1 errors found, 2 could not check (missing or unreadable input,
bad usage).

Files: /etc/systemd/system, /run/systemd/system, /lib/systemd/system, /usr/lib/systemd/system
(units and NAME.d/*.conf drop-ins), /etc/default/haproxy, /etc/default/baton (environment),
tmpfiles.d. Finding ids and the migration guide: docs/migration.md.";

/// Check (and fix) a haproxy.cfg and its systemd units for seamless reload.
#[derive(Debug, Parser)]
#[command(name = "baton-migrate", version, about, after_long_help = AFTER_HELP)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Report whether the config and its units agree on seamless reload, and what baton does
    /// with every directive of the config.
    Check(CheckArgs),
    /// Make the smallest change that lets `check` pass, printing it as a unified diff.
    Fix(FixArgs),
}

/// What `check` and `fix` share.
#[derive(Debug, Args)]
pub struct Common {
    /// Resolve every absolute path (unit directories, environment files, the config) under
    /// DIR, as `systemctl --root` does.
    #[arg(long, value_name = "DIR", default_value = "/")]
    pub root: PathBuf,
    /// A unit to hold against the config (repeatable). Default: every one of baton.service
    /// and haproxy.service whose `-f` is CONFIG.
    #[arg(long = "service", value_name = "NAME")]
    pub services: Vec<String>,
    /// The haproxy.cfg to check (a path inside --root). Default: the one baton.service uses,
    /// else the one haproxy.service uses.
    #[arg(value_name = "CONFIG")]
    pub config: Option<PathBuf>,
}

/// `check` options.
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Root, services and config.
    #[command(flatten)]
    pub common: Common,
    /// Output for people (text) or for programs (json, see docs/migration.md).
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

/// `fix` options.
#[derive(Debug, Args)]
pub struct FixArgs {
    /// Root, services and config.
    #[command(flatten)]
    pub common: Common,
    /// Print the diff only; change nothing.
    #[arg(long)]
    pub dry_run: bool,
}

/// Output formats of `check`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Grouped by severity, each finding with its fix.
    Text,
    /// The documented JSON object.
    Json,
}

/// The clap command, for the binary and for man page generation.
pub fn command() -> clap::Command {
    Cli::command()
}
