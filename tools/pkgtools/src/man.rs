//! Man pages rendered with clap_mangen from the binaries' own clap definitions: `baton(8)` from
//! `crates/baton/src/cli.rs` (included by path: it depends on clap and std only), so a new flag
//! appears in the man page the moment it exists.

use anyhow::{Context, Result};
use clap::CommandFactory;
use std::path::{Path, PathBuf};

#[allow(dead_code)] // normalize() and the tests are the binary's, not ours
#[path = "../../../crates/baton/src/cli.rs"]
mod baton_cli;

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

/// Every page the package ships, as (file name, roff text).
pub fn pages() -> Result<Vec<(&'static str, String)>> {
    Ok(vec![(
        "baton.8",
        render(baton_cli::Cli::command(), BATON_FILES)?,
    )])
}

/// Writes every page into `dir`; returns the paths written.
pub fn write_all(dir: &Path) -> Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    pages()?
        .into_iter()
        .map(|(name, text)| {
            let path = dir.join(name);
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
        assert_eq!(*name, "baton.8");
        assert!(page.starts_with(".ie"), "{page}");
        assert!(page.contains(".TH baton 8"), "{page}");
        assert!(page.contains("\\-Ws") && page.contains("\\-sf"), "{page}");
        assert!(!page.contains("\\-\\-Ws"), "{page}");
        assert!(page.contains("/etc/baton/baton.cfg"), "{page}");
    }
}
