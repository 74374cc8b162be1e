//! What kind of service a unit runs, which decides how its reload hands the listeners over
//! and so which findings are errors (see docs/migration.md, "What each unit needs").

use crate::config::ConfigFacts;
use crate::finding::Origin;
use crate::unit::Unit;

/// The reload mechanisms baton-migrate knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Ubuntu/Debian 1.7's `haproxy-systemd-wrapper`: SIGUSR2 to the wrapper, which starts a
    /// new haproxy with `-x $HAPROXY_STATS_SOCKET` only when that variable is set.
    Wrapper,
    /// HAProxy's master-worker (`-W`, `-Ws`, `master-worker`): 1.8–2.5 pass `-x` with the
    /// stats socket that has `expose-fd listeners`; 2.6+ use the internal socketpair.
    MasterWorker,
    /// baton's own unit: `-x $HAPROXY_STATS_SOCKET` when set, the internal socketpair when not.
    Baton,
    /// Anything else (a plain `haproxy -D`, a script): only an explicit `-x` is checked.
    Other,
}

impl Kind {
    /// Recognises the unit's main command.
    pub fn of(unit: &Unit, config: &ConfigFacts) -> Kind {
        let Some(main) = unit.main() else {
            return Kind::Other;
        };
        match main.program_name() {
            "haproxy-systemd-wrapper" => Kind::Wrapper,
            "baton" => Kind::Baton,
            "haproxy" if main.has("-Ws") || main.has("-W") || config.master_worker => {
                Kind::MasterWorker
            }
            _ => Kind::Other,
        }
    }

    /// The name used in reports and JSON.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Wrapper => "haproxy-systemd-wrapper",
            Kind::MasterWorker => "haproxy-master-worker",
            Kind::Baton => "baton",
            Kind::Other => "other",
        }
    }
}

/// Where a unit's reload gets the socket it passes with `-x`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SocketSource {
    /// The `HAPROXY_STATS_SOCKET` variable, set at this line.
    Variable(Origin),
    /// An explicit `-x PATH` on this Exec line.
    Flag(Origin),
}

/// The socket the reload will use: (path, where it comes from). `-x sockpair@...` and
/// `-x /dev/null` are not paths and give `None`.
pub fn reload_socket(unit: &Unit, kind: Kind) -> Option<(String, SocketSource)> {
    let flag = || {
        unit.exec_start
            .iter()
            .chain(unit.exec_reload.iter())
            .find_map(|e| {
                e.option_values("-x")
                    .first()
                    .map(|p| (p.to_string(), SocketSource::Flag(e.origin.clone())))
            })
            .filter(|(p, _)| p.starts_with('/') && p != "/dev/null")
    };
    let variable = || {
        unit.env
            .get("HAPROXY_STATS_SOCKET")
            .filter(|v| !v.value.is_empty())
            .map(|v| (v.value.clone(), SocketSource::Variable(v.origin.clone())))
    };
    match kind {
        Kind::Wrapper => variable(),
        Kind::Baton => flag().or_else(variable),
        Kind::MasterWorker | Kind::Other => flag(),
    }
}

/// Whether the unit turns the automatic transfer off with `-x /dev/null`.
pub fn transfer_disabled(unit: &Unit) -> Option<&Origin> {
    unit.exec_start
        .iter()
        .find(|e| e.option_values("-x").contains(&"/dev/null"))
        .map(|e| &e.origin)
}
