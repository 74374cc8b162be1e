//! The `baton` binary: HAProxy's command line in front of baton's configuration and runtime.

mod check_mode;
mod cli;
mod cli_client;
mod logging;
mod mworker;
mod notify;
mod run_mode;
mod signals;

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
    if let Some(command) = &cli.cli_command {
        return cli_client::run(&cli.master_cli[0], command);
    }
    logging::init(cli.quiet);
    let worker_ipc = match mworker::worker::ipc_from_env() {
        Ok(ipc) => ipc,
        Err(e) => {
            eprintln!("[ALERT]    ({}) : {e:#}", std::process::id());
            return 1;
        }
    };
    if worker_ipc.is_none() && master_worker_wanted(&cli) {
        let options = mworker::MasterOptions {
            files: cli.files,
            quiet: cli.quiet,
            daemon: cli.daemon,
            systemd: cli.master_worker_systemd,
            foreground: cli.no_background,
            pidfile: cli.pidfile,
            master_cli: cli.master_cli,
            take_sockets_from: cli.take_sockets_from,
            soft_stop: cli.soft_stop,
            hard_stop: cli.hard_stop,
        };
        return match mworker::run(options) {
            Ok(code) => code,
            Err(e) => {
                eprintln!("[ALERT]    ({}) : {e:#}", std::process::id());
                1
            }
        };
    }
    let options = run_mode::RunOptions {
        files: cli.files,
        daemon: cli.daemon,
        foreground: cli.no_background,
        pidfile: cli.pidfile,
        soft_stop: cli.soft_stop,
        hard_stop: cli.hard_stop,
        quiet: cli.quiet,
        take_sockets_from: cli.take_sockets_from,
        worker_ipc,
    };
    match run_mode::run(options) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("[ALERT]    ({}) : {e:#}", std::process::id());
            1
        }
    }
}

/// `-W`, `-Ws`, `-S`, or `master-worker` in the configuration's global section.
fn master_worker_wanted(cli: &Cli) -> bool {
    cli.master_worker
        || cli.master_worker_systemd
        || !cli.master_cli.is_empty()
        || baton_config::load_paths(&cli.files)
            .config
            .global
            .master_worker
}
