//! Man pages rendered with clap_mangen from the binaries' own clap definitions: `baton(8)` from
//! `crates/baton/src/cli.rs` and `baton-migrate(8)` from `migrate/src/cli.rs` (both included by
//! path: they depend on clap and std only), so a new flag appears in the man page the moment it
//! exists.

use anyhow::{Context, Result};
use clap::CommandFactory;
use std::path::{Path, PathBuf};

#[allow(dead_code)] // normalize() and the tests are the binary's, not ours
#[path = "../../../crates/baton/src/cli.rs"]
mod baton_cli;

#[allow(dead_code)] // the argument structs are the binary's to read
#[path = "../../../migrate/src/cli.rs"]
mod migrate_cli;

/// HAProxy spells these flags with one dash; clap knows them as long options (see `normalize`
/// in cli.rs), and the binary accepts both. The man page shows HAProxy's spelling.
const SINGLE_DASH: [&str; 4] = ["sf", "st", "Ws", "db"];

/// Files and paths of the packaged service, shown in baton(8).
const BATON_FILES: &str = "\
.SH FILES
.TP
\\fI/etc/baton/baton.cfg\\fR
The configuration the service runs (HAProxy syntax).
.TP
\\fI/etc/default/baton\\fR
CONFIG, EXTRAOPTS and HAPROXY_STATS_SOCKET for the systemd unit.
.TP
\\fI/run/baton/admin.sock\\fR
The runtime API (stats socket) of the shipped configuration.
.SH SEE ALSO
\\fBbaton-migrate\\fR(8), \\fBhaproxy\\fR(1), \\fBsystemctl\\fR(1)
";

/// baton-migrate(8)'s cross references (its files and exit status are in its long help).
const MIGRATE_SEE_ALSO: &str = "\
.SH SEE ALSO
\\fBbaton\\fR(8), \\fBsystemctl\\fR(1), /usr/share/doc/baton/migration.md.gz
";

/// Renders one page in section 8, with `extra` roff appended.
fn render(cmd: clap::Command, extra: &str) -> Result<String> {
    let mut out = Vec::new();
    clap_mangen::Man::new(cmd)
        .section("8")
        .render(&mut out)
        .context("rendering a man page")?;
    let mut page = String::from_utf8(out).context("man page is not UTF-8")?;
    for flag in SINGLE_DASH {
        page = page.replace(&format!("\\-\\-{flag}"), &format!("\\-{flag}"));
    }
    page.push_str(extra);
    Ok(page)
}

/// The `description` of a crate's Cargo.toml: the clap definitions say `about`, which takes the
/// description of the crate that compiles them — this one — so it is set from the right crate.
fn description(cargo_toml: &str) -> &str {
    cargo_toml
        .lines()
        .find_map(|l| l.strip_prefix("description = \""))
        .and_then(|rest| rest.strip_suffix('"'))
        .unwrap_or_default()
}

/// Every page the package ships, as (file name, roff text): baton(8), baton-migrate(8), and one
/// page per baton-migrate subcommand (the top page lists them as baton-migrate-check(8) etc.).
pub fn pages() -> Result<Vec<(String, String)>> {
    let baton = baton_cli::Cli::command().about(description(include_str!(
        "../../../crates/baton/Cargo.toml"
    )));
    let migrate =
        migrate_cli::command().about(description(include_str!("../../../migrate/Cargo.toml")));
    let mut pages = vec![
        ("baton.8".to_string(), render(baton, BATON_FILES)?),
        (
            "baton-migrate.8".to_string(),
            render(migrate.clone(), MIGRATE_SEE_ALSO)?,
        ),
    ];
    for sub in migrate.get_subcommands() {
        let name = format!("baton-migrate-{}", sub.get_name());
        // clap names are &'static str without its "string" feature; a few bytes, once.
        let static_name: &'static str = Box::leak(name.clone().into_boxed_str());
        let page = render(sub.clone().name(static_name), MIGRATE_SEE_ALSO)?;
        pages.push((format!("{name}.8"), page));
    }
    Ok(pages)
}

/// Writes every page into `dir`; returns the paths written.
pub fn write_all(dir: &Path) -> Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    pages()?
        .into_iter()
        .map(|(name, text)| {
            let path = dir.join(&name);
            std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
            Ok(path)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn baton_page_has_haproxy_flags_and_files() {
        let pages = pages().unwrap();
        let (name, page) = &pages[0];
        assert_eq!(name, "baton.8");
        assert!(
            page.contains("reloads without resetting a connection"),
            "{page}"
        );
        assert!(page.starts_with(".ie"), "{page}");
        assert!(page.contains(".TH baton 8"), "{page}");
        assert!(page.contains("\\-Ws") && page.contains("\\-sf"), "{page}");
        assert!(!page.contains("\\-\\-Ws"), "{page}");
        assert!(page.contains("/etc/baton/baton.cfg"), "{page}");
        let (name, page) = &pages[1];
        assert_eq!(name, "baton-migrate.8");
        assert!(page.contains("seamless reload"), "{page}");
        let check = pages.iter().find(|(n, _)| n == "baton-migrate-check.8");
        assert!(check.unwrap().1.contains("\\-\\-root"), "{pages:?}");
        assert!(page.contains(".TH baton-migrate 8"), "{page}");
        assert!(page.contains("check") && page.contains("fix"), "{page}");
    }
}
