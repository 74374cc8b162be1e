//! `baton-migrate`: the thin binary over the `baton_migrate` library.

use clap::Parser;

fn main() {
    let cli = baton_migrate::cli::Cli::parse();
    std::process::exit(baton_migrate::run(cli));
}
