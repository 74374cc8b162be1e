//! baton-migrate: checks that a haproxy.cfg and the systemd units that run it agree on
//! seamless reload (LP #1712925), reports what baton does with every directive, and fixes
//! what can be fixed with the smallest change.
//!
//! [`cli`] is the command line (also used to render the man page), [`unit`] reads units as
//! systemd does, [`config`] reads the config with baton's own loader, [`rules`] produce the
//! [`finding`]s, [`report`] prints them and [`fix`] plans and writes changes atomically.

pub mod check;
pub mod cli;
pub mod config;
pub mod finding;
pub mod fix;
pub mod kind;
pub mod report;
pub mod root;
pub mod rules;
pub mod unit;

pub use cli::command;

use cli::{CheckArgs, Cli, Command, FixArgs, Format};
use std::io::Write;

/// Runs a parsed command line; returns the exit status.
pub fn run(cli: Cli) -> i32 {
    match cli.command {
        Command::Check(args) => run_check(&args),
        Command::Fix(args) => run_fix(&args, &mut |_, _| Ok(())),
    }
}

/// `check`.
fn run_check(args: &CheckArgs) -> i32 {
    let checked = match check::run(&args.common) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("baton-migrate: {e}");
            return 2;
        }
    };
    let text = match args.format {
        Format::Text => report::text(&checked.report),
        Format::Json => report::json(&checked.report),
    };
    print_out(&text);
    checked.exit_code()
}

/// `fix`, with a fault hook for the write phase (tests).
pub fn run_fix(
    args: &FixArgs,
    fault: &mut dyn FnMut(fix::Stage, usize) -> std::io::Result<()>,
) -> i32 {
    let checked = match check::run(&args.common) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("baton-migrate: {e}");
            return 2;
        }
    };
    if checked.incomplete {
        eprint!("{}", report::text(&checked.report));
        eprintln!("baton-migrate fix: could not check everything; nothing was changed");
        return 2;
    }
    let plan = match fix::plan(&checked) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("baton-migrate fix: {e}; nothing was changed");
            return 2;
        }
    };
    if plan.changes.is_empty() {
        println!("nothing to change");
    } else {
        print_out(&fix::diff(&plan.changes));
        if args.dry_run {
            println!("(dry run: nothing was written)");
        } else if let Err(e) = fix::apply(checked.root.dir(), &plan.changes, fault) {
            eprintln!("baton-migrate fix: {e}; nothing was changed");
            return 2;
        } else {
            for c in &plan.changes {
                let bak = if c.original.is_some() {
                    format!(" (backup {}.bak)", c.shown)
                } else {
                    String::new()
                };
                println!("wrote {}{bak}", c.shown);
            }
            for n in &plan.notes {
                println!("next: {n}");
            }
        }
    }
    // What is still wrong: after a real write, check again; in a dry run, what the plan
    // does not address.
    let remaining = if args.dry_run || plan.changes.is_empty() {
        plan.unfixed
    } else {
        match check::run(&args.common) {
            Ok(again) => again
                .report
                .findings
                .into_iter()
                .filter(|f| f.severity == finding::Severity::Error)
                .collect(),
            Err(_) => plan.unfixed,
        }
    };
    if remaining.is_empty() {
        return 0;
    }
    println!("\nleft for you ({}):", remaining.len());
    for f in &remaining {
        println!(
            "  [{}] {}: {}\n    fix: {}",
            f.id,
            f.place().unwrap_or_default(),
            f.message,
            f.fix
        );
    }
    1
}

/// Writes to stdout, ignoring a closed pipe.
fn print_out(text: &str) {
    let _ = std::io::stdout().lock().write_all(text.as_bytes());
}
