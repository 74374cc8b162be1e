//! baton's verdict on each directive of the config, from its own loader and keyword table.

use crate::config::ConfigFacts;
use crate::finding::{Finding, Origin, Severity};
use baton_config::Severity as DiagSeverity;
use std::collections::HashSet;

/// baton's verdict on each directive, from its config loader and keyword table. `info`
/// instead of errors and warnings when only haproxy units run the config.
pub fn support_rules(config: &ConfigFacts, for_baton: bool, out: &mut Vec<Finding>) {
    let covered: HashSet<Origin> = out
        .iter()
        .filter(|f| {
            matches!(
                f.id,
                "expose-fd-on-tcp" | "bind-process-obsolete" | "bind-process-needed"
            )
        })
        .filter_map(|f| Some(Origin::new(f.file.clone()?, f.line?)))
        .collect();
    for (d, at) in &config.diagnostics {
        let (id, severity) = match d.severity {
            DiagSeverity::Alert if d.message.contains("is not supported by baton") => {
                ("unsupported-directive", Severity::Error)
            }
            DiagSeverity::Alert => ("config-error", Severity::Error),
            DiagSeverity::Warning if d.message.contains("is ignored by baton") => {
                ("ignored-directive", Severity::Warning)
            }
            DiagSeverity::Warning => ("config-warning", Severity::Warning),
            _ => continue,
        };
        if at.as_ref().is_some_and(|a| covered.contains(a)) && d.severity == DiagSeverity::Warning {
            continue;
        }
        let severity = if for_baton { severity } else { Severity::Info };
        let fix = match id {
            "unsupported-directive" => "baton refuses this directive: remove it or keep this service on haproxy (docs/keywords.md)",
            "ignored-directive" => "baton runs without it; remove it to silence the warning",
            "config-error" => "correct the line: `baton -c -f CONFIG` refuses the config",
            _ => "see the message; `baton -c -f CONFIG` prints the same",
        };
        let mut f = Finding::new(id, severity, at.as_ref(), d.message.clone(), fix);
        if f.file.is_none() {
            f.file = Some(config.path.clone());
        }
        out.push(f);
    }
}
