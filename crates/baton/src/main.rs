//! The `baton` binary: HAProxy's command line in front of baton's configuration and runtime.

mod check_mode;
mod cli;

use baton_config::keywords::KeywordTable;
use clap::Parser;
use cli::{Cli, ListFormat};

/// The version line printed by `-v` and in `-c` notices.
pub fn version() -> String {
    format!(
        "{} (haproxy.cfg syntax of HAProxy {})",
        env!("CARGO_PKG_VERSION"),
        baton_config::condition::COMPAT_VERSION
    )
}

fn main() {
    let cli = match Cli::try_parse_from(cli::normalize(std::env::args())) {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() { 1 } else { 0 };
            let _ = e.print();
            std::process::exit(code);
        }
    };
    std::process::exit(run(cli));
}

/// Runs the selected mode and returns the exit code.
fn run(cli: Cli) -> i32 {
    if cli.version > 0 {
        println!("baton version {}", version());
        if cli.version > 1 {
            println!("Features: {}", baton_config::condition::FEATURES.join(" "));
        }
        return 0;
    }
    if cli.list_keywords {
        let table = KeywordTable::builtin();
        print!(
            "{}",
            match cli.format {
                ListFormat::Text => table.to_text(),
                ListFormat::Markdown => table.to_markdown(),
            }
        );
        return 0;
    }
    if cli.check {
        return check_mode::run(&cli.files, cli.quiet);
    }
    eprintln!(
        "[ALERT]    ({}) : baton: the proxy runtime is not implemented yet; use -c to check a configuration.",
        std::process::id()
    );
    1
}
