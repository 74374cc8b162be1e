//! `baton-pkgtools`: writes the files of the Debian package that are derived from the sources, so
//! they never drift from them — the man pages (from the clap definitions of the binaries) and
//! `debian/copyright` (from `cargo metadata`: every crate that `cargo vendor` puts in the source
//! package, with its licence). Run by `debian/rules`; its tests fail when the committed
//! `debian/copyright` is stale.

mod copyright;
mod man;

use anyhow::Result;
use clap::{Parser, Subcommand};
use std::path::PathBuf;

/// Generate the package's derived files.
#[derive(Debug, Parser)]
#[command(name = "baton-pkgtools", about)]
struct Args {
    /// What to generate.
    #[command(subcommand)]
    command: Command,
}

/// The generators.
#[derive(Debug, Subcommand)]
enum Command {
    /// Write the man pages (baton.8, ...) into DIR.
    Man {
        /// Output directory (created if missing).
        dir: PathBuf,
    },
    /// Print debian/copyright for the workspace at the current directory and its vendored crates.
    Copyright,
}

fn main() -> Result<()> {
    match Args::parse().command {
        Command::Man { dir } => {
            for path in man::write_all(&dir)? {
                println!("{}", path.display());
            }
        }
        Command::Copyright => print!("{}", copyright::generate(&copyright::metadata()?)?),
    }
    Ok(())
}
