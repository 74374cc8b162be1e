//! `baton-migrate`: checks that a haproxy.cfg and its systemd unit agree on seamless reload, and
//! what baton supports of that configuration. Its commands arrive with their own issue; until
//! then the binary exists, builds, and says so instead of pretending.

use clap::{Parser, Subcommand};
use std::path::PathBuf;

/// Check (and fix) configurations and units for seamless reload.
#[derive(Debug, Parser)]
#[command(name = "baton-migrate", version, about)]
struct Cli {
    /// What to do.
    #[command(subcommand)]
    command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
enum Command {
    /// Report whether config and unit agree on seamless reload (not implemented yet).
    Check {
        /// The haproxy.cfg to check.
        config: Option<PathBuf>,
    },
    /// Make the smallest change that lets `check` pass (not implemented yet).
    Fix {
        /// The haproxy.cfg to fix.
        config: Option<PathBuf>,
    },
}

fn main() {
    let cli = Cli::parse();
    let name = match cli.command {
        Command::Check { .. } => "check",
        Command::Fix { .. } => "fix",
    };
    eprintln!("baton-migrate {name}: not implemented yet");
    // 2 = "could not check", the exit status the finished tool uses for that.
    std::process::exit(2);
}
