//! `debian/copyright` (DEP-5) generated from `cargo metadata`: the workspace's own licence, then
//! one `Files: vendor/NAME-VERSION/*` paragraph per crate in Cargo.lock (what `cargo vendor
//! --versioned-dirs` puts in the source package), with its authors and its SPDX licence written
//! in DEP-5 syntax, then one paragraph per licence used. A crate under a licence this file does
//! not know is an error, so a new dependency cannot slip in unlicensed.

use anyhow::{bail, Context, Result};
use serde::Deserialize;
use std::collections::BTreeSet;
use std::process::Command;

/// One package of `cargo metadata`, with the fields the copyright file needs.
#[derive(Debug, Deserialize)]
pub struct Package {
    /// Crate name, part of the vendored directory name.
    pub name: String,
    /// Crate version, the other part of the vendored directory name.
    pub version: String,
    /// The `authors` field: the copyright holders as the crate states them.
    #[serde(default)]
    pub authors: Vec<String>,
    /// SPDX licence expression; `None` when a crate only has `license-file`.
    pub license: Option<String>,
    /// `None` for the workspace's own crates, which `Files: *` covers.
    pub source: Option<String>,
}

/// The part of `cargo metadata`'s output we read.
#[derive(Debug, Deserialize)]
struct Metadata {
    /// Every package in the resolved graph (all platforms, dev-dependencies included).
    packages: Vec<Package>,
}

/// Licence texts by DEP-5 short name: the text itself, or a pointer into common-licenses.
const LICENSES: &[(&str, &str)] = &[
    (
        "Apache-2.0",
        "On Debian systems, the complete text of the Apache License, Version 2.0\n\
         can be found in /usr/share/common-licenses/Apache-2.0.\n",
    ),
    (
        "Apache-2.0 with LLVM exception",
        concat!(
            "On Debian systems, the complete text of the Apache License, Version 2.0\n\
             can be found in /usr/share/common-licenses/Apache-2.0.\n\n",
            include_str!("../licenses/LLVM-exception")
        ),
    ),
    ("BSD-2-clause", include_str!("../licenses/BSD-2-clause")),
    ("BSD-3-clause", include_str!("../licenses/BSD-3-clause")),
    (
        "LGPL-2.1+",
        "On Debian systems, the complete text of the GNU Lesser General Public License\n\
         version 2.1 can be found in /usr/share/common-licenses/LGPL-2.1.\n",
    ),
    ("MIT", include_str!("../licenses/MIT")),
    ("Unicode-3.0", include_str!("../licenses/Unicode-3.0")),
    ("Unlicense", include_str!("../licenses/Unlicense")),
];

/// Runs `cargo metadata` in the current directory (the workspace root).
pub fn metadata() -> Result<Vec<Package>> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(&cargo)
        .args(["metadata", "--format-version", "1", "--locked"])
        .output()
        .with_context(|| format!("running {cargo} metadata"))?;
    if !out.status.success() {
        bail!(
            "cargo metadata failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let meta: Metadata = serde_json::from_slice(&out.stdout).context("parsing cargo metadata")?;
    Ok(meta.packages)
}

/// Rewrites an SPDX expression in DEP-5 syntax: lower-case operators, `with X exception`,
/// Debian's short names, and `(A OR B) AND C` as `A or B, and C`.
pub fn dep5_license(spdx: &str) -> Result<String> {
    let spaced = spdx.replace('/', " OR ");
    let grouped = spaced.starts_with('(');
    let mut words = Vec::new();
    for word in spaced.split_whitespace() {
        let (open, rest) = match word.strip_prefix('(') {
            Some(r) => (true, r),
            None => (false, word),
        };
        let (core, close) = match rest.strip_suffix(')') {
            Some(r) => (r, true),
            None => (rest, false),
        };
        if open && !grouped {
            bail!("licence expression {spdx:?}: only a leading group is supported");
        }
        words.push(match core {
            "OR" => "or".to_string(),
            "AND" if grouped => "and".to_string(),
            "AND" => "and".to_string(),
            "WITH" => "with".to_string(),
            "LLVM-exception" => "LLVM exception".to_string(),
            "LGPL-2.1-or-later" => "LGPL-2.1+".to_string(),
            "BSD-2-Clause" => "BSD-2-clause".to_string(),
            "BSD-3-Clause" => "BSD-3-clause".to_string(),
            other => other.to_string(),
        });
        if close {
            let last = words.pop().unwrap_or_default();
            words.push(format!("{last},"));
        }
    }
    Ok(words.join(" "))
}

/// The licence short names an expression uses (an exception stays with its licence).
fn short_names(dep5: &str) -> Vec<String> {
    dep5.replace(',', "")
        .split(" or ")
        .flat_map(|part| part.split(" and "))
        .map(|name| name.trim().to_string())
        .collect()
}

/// Indents a text as a DEP-5 field continuation (empty lines become " .").
fn indent(text: &str) -> String {
    text.trim_end()
        .lines()
        .map(|l| {
            if l.trim().is_empty() {
                " .".to_string()
            } else {
                format!(" {l}")
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The whole copyright file for these packages.
pub fn generate(packages: &[Package]) -> Result<String> {
    let mut out = String::from(
        "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n\
         Upstream-Name: baton\n\
         Source: https://example.org/baton\n\
         Comment: GENERATED from `cargo metadata` by\n \
         `cargo run -p baton-pkgtools -- copyright > debian/copyright`; do not edit.\n \
         The vendor/ paragraphs cover the crates that `cargo vendor --versioned-dirs`\n \
         puts in the source package when it is built.\n\n\
         Files: *\n\
         Copyright: 2026 baton developers\n\
         License: Apache-2.0\n",
    );
    let mut crates: Vec<&Package> = packages.iter().filter(|p| p.source.is_some()).collect();
    crates.sort_by(|a, b| (&a.name, &a.version).cmp(&(&b.name, &b.version)));
    let mut used: BTreeSet<String> = BTreeSet::from(["Apache-2.0".to_string()]);
    for p in crates {
        let spdx = p
            .license
            .as_deref()
            .with_context(|| format!("crate {} {} has no SPDX licence", p.name, p.version))?;
        let license = dep5_license(spdx)?;
        for name in short_names(&license) {
            if !LICENSES.iter().any(|(known, _)| *known == name) {
                bail!(
                    "crate {} {} uses licence {name:?}: add its text to tools/pkgtools/licenses",
                    p.name,
                    p.version
                );
            }
            used.insert(name);
        }
        let holders = if p.authors.is_empty() {
            format!("the {} developers", p.name)
        } else {
            p.authors.join("\n ")
        };
        out.push_str(&format!(
            "\nFiles: vendor/{}-{}/*\nCopyright: {holders}\nLicense: {license}\n",
            p.name, p.version
        ));
    }
    for (name, text) in LICENSES.iter().filter(|(n, _)| used.contains(*n)) {
        out.push_str(&format!("\nLicense: {name}\n{}\n", indent(text)));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spdx_to_dep5() {
        let cases = [
            ("MIT OR Apache-2.0", "MIT or Apache-2.0"),
            ("MIT/Apache-2.0", "MIT or Apache-2.0"),
            ("Apache-2.0 / MIT", "Apache-2.0 or MIT"),
            (
                "Apache-2.0 WITH LLVM-exception OR Apache-2.0 OR MIT",
                "Apache-2.0 with LLVM exception or Apache-2.0 or MIT",
            ),
            (
                "(MIT OR Apache-2.0) AND Unicode-3.0",
                "MIT or Apache-2.0, and Unicode-3.0",
            ),
            (
                "BSD-2-Clause OR Apache-2.0 OR MIT",
                "BSD-2-clause or Apache-2.0 or MIT",
            ),
            (
                "MIT OR Apache-2.0 OR LGPL-2.1-or-later",
                "MIT or Apache-2.0 or LGPL-2.1+",
            ),
        ];
        for (spdx, dep5) in cases {
            assert_eq!(dep5_license(spdx).unwrap(), dep5, "{spdx}");
        }
        assert_eq!(
            short_names("MIT or Apache-2.0, and Unicode-3.0"),
            ["MIT", "Apache-2.0", "Unicode-3.0"]
        );
    }

    #[test]
    fn unknown_licence_is_an_error() {
        let p = Package {
            name: "x".into(),
            version: "1.0.0".into(),
            authors: vec![],
            license: Some("WTFPL".into()),
            source: Some("registry".into()),
        };
        let err = generate(&[p]).unwrap_err().to_string();
        assert!(
            err.contains("WTFPL") && err.contains("tools/pkgtools/licenses"),
            "{err}"
        );
    }
}
