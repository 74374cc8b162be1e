//! The runtime API's commands, in HAProxy's text protocol and wording.
//!
//! A line holds one or more commands separated by `;`. Each command's output ends with an empty
//! line. Every command has a minimum level (`user` < `operator` < `admin`); a socket's `level`
//! decides what its clients may run, and anything above it answers "Permission denied".

use super::ApiContext;
use crate::backend::server::{ServerState, Status};
use baton_config::model::Level;
use std::fmt::Write as _;
use std::sync::Arc;

/// What the connection loop must do after a command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Send this output and go on.
    Reply(String),
    /// Toggle interactive mode (`prompt`).
    TogglePrompt,
    /// Close the connection (`quit`).
    Quit,
    /// Hand the listening sockets over (`_getsocks`); the connection is consumed.
    GetSocks,
}

/// The commands, their minimum level and help text, for dispatch and `help`.
const COMMANDS: &[(&str, Level, &str)] = &[
    ("help", Level::User, "list known commands"),
    ("prompt", Level::User, "toggle interactive mode with prompt"),
    ("quit", Level::User, "disconnect"),
    (
        "show info",
        Level::User,
        "report information about the running process",
    ),
    (
        "show servers state",
        Level::User,
        "dump volatile server information (all or for a single backend)",
    ),
    (
        "show servers conn",
        Level::User,
        "dump server connections status (all or for a single backend)",
    ),
    (
        "show stat",
        Level::User,
        "report counters for each proxy and server",
    ),
    (
        "disable server",
        Level::Admin,
        "disable a server for maintenance (use 'set server' instead)",
    ),
    (
        "enable server",
        Level::Admin,
        "enable a disabled server (use 'set server' instead)",
    ),
    (
        "set server",
        Level::Admin,
        "change a server's state or weight",
    ),
    (
        "set weight",
        Level::Admin,
        "change a server's weight (use 'set server' instead)",
    ),
    (
        "get weight",
        Level::User,
        "report a server's current weight",
    ),
];

/// The `help` text (also shown for unknown commands).
fn help_text(level: Level) -> String {
    let mut out = String::new();
    for (name, min, text) in COMMANDS {
        if level >= *min {
            let _ = writeln!(out, "  {name:<40}: {text}");
        }
    }
    out
}

/// Runs one command (already split from its line) and says what to do.
pub fn execute(command: &str, level: Level, ctx: &ApiContext) -> Action {
    let words: Vec<&str> = command.split_whitespace().collect();
    if words.is_empty() {
        return Action::Reply(String::new());
    }
    if words[0] == "_getsocks" {
        return Action::GetSocks;
    }
    let Some((name, min, _)) = COMMANDS
        .iter()
        .filter(|(name, _, _)| {
            let parts: Vec<&str> = name.split(' ').collect();
            words.len() >= parts.len() && words[..parts.len()] == parts[..]
        })
        .max_by_key(|(name, _, _)| name.len())
    else {
        return Action::Reply(format!(
            "Unknown command, but maybe one of the following ones is a better match:\n{}",
            help_text(level)
        ));
    };
    if level < *min {
        return Action::Reply("Permission denied\n".into());
    }
    let args = &words[name.split(' ').count()..];
    match *name {
        "help" => Action::Reply(help_text(level)),
        "prompt" => Action::TogglePrompt,
        "quit" => Action::Quit,
        "show info" => Action::Reply(show_info(ctx)),
        "show stat" => Action::Reply(super::csv::show_stat(ctx)),
        "show servers conn" => Action::Reply(show_servers_conn(ctx, args.first().copied())),
        "show servers state" => Action::Reply(show_servers_state(ctx, args.first().copied())),
        "disable server" | "enable server" => {
            Action::Reply(with_server(ctx, args.first().copied(), |s| {
                s.set_status(if *name == "disable server" {
                    Status::Maint
                } else {
                    Status::Up
                });
                String::new()
            }))
        }
        "set server" => Action::Reply(set_server(ctx, args)),
        "set weight" => Action::Reply(match args {
            [target, weight] => with_server(ctx, Some(target), |s| set_weight(s, weight)),
            _ => "Require 'backend/server' and 'weight' or 'weight%'.\n".into(),
        }),
        "get weight" => Action::Reply(with_server(ctx, args.first().copied(), |s| {
            format!("{} (initial {})\n", s.weight(), s.options.weight)
        })),
        _ => Action::Reply(String::new()),
    }
}

/// Finds `backend/server` and applies `f`, or explains what is wrong as HAProxy does.
fn with_server(
    ctx: &ApiContext,
    target: Option<&str>,
    f: impl FnOnce(&Arc<ServerState>) -> String,
) -> String {
    let Some((backend, server)) = target.and_then(|t| t.split_once('/')) else {
        return "Require 'backend/server'.\n".into();
    };
    let Some(be) = ctx.backends.get(backend) else {
        return "No such backend.\n".into();
    };
    match be.servers.iter().find(|s| s.name == server) {
        Some(s) => f(s),
        None => "No such server.\n".into(),
    }
}

/// `set server B/S state ready|drain|maint` and `set server B/S weight N[%]`.
fn set_server(ctx: &ApiContext, args: &[&str]) -> String {
    match args {
        [target, "state", state] => with_server(ctx, Some(target), |s| {
            let status = match *state {
                "ready" => Status::Up,
                "drain" => Status::Drain,
                "maint" => Status::Maint,
                _ => {
                    return "'set server <srv> state' expects 'ready', 'drain' and 'maint'.\n"
                        .into()
                }
            };
            s.set_status(status);
            String::new()
        }),
        [target, "weight", weight] => with_server(ctx, Some(target), |s| set_weight(s, weight)),
        [_, other, ..] => format!(
            "'set server <srv>' only supports 'state' and 'weight' in baton (got '{other}').\n"
        ),
        _ => "'set server' expects <backend>/<server> and a setting.\n".into(),
    }
}

/// Applies `N` (0..=256) or `N%` (of the configured weight).
fn set_weight(server: &ServerState, text: &str) -> String {
    let parsed = match text.strip_suffix('%') {
        Some(pct) => pct
            .parse::<u32>()
            .ok()
            .map(|p| server.options.weight * p / 100),
        None => text.parse::<u32>().ok(),
    };
    match parsed {
        Some(w) if w <= 256 => {
            server.set_weight(w);
            String::new()
        }
        _ => "Absolute weight can only be between 0 and 256 inclusive.\n".into(),
    }
}

/// `show info`: `Key: value` lines, HAProxy's names where the value exists in baton.
fn show_info(ctx: &ApiContext) -> String {
    let uptime = ctx.started.elapsed().as_secs();
    let mut out = String::new();
    let _ = writeln!(out, "Name: baton");
    let _ = writeln!(out, "Version: {}", env!("CARGO_PKG_VERSION"));
    let _ = writeln!(out, "Nbthread: {}", ctx.nbthread);
    let _ = writeln!(out, "Nbproc: 1");
    let _ = writeln!(out, "Process_num: 1");
    let _ = writeln!(out, "Pid: {}", std::process::id());
    let _ = writeln!(
        out,
        "Uptime: {}d {}h{:02}m{:02}s",
        uptime / 86400,
        uptime / 3600 % 24,
        uptime / 60 % 60,
        uptime % 60
    );
    let _ = writeln!(out, "Uptime_sec: {uptime}");
    let _ = writeln!(out, "Maxconn: {}", ctx.maxconn);
    let _ = writeln!(out, "CurrConns: {}", ctx.sessions.live());
    let _ = writeln!(out, "DroppedLogs: {}", crate::log::sink::dropped());
    let _ = writeln!(
        out,
        "Stopping: {}",
        u8::from(ctx.lifecycle.phase() >= crate::lifecycle::Phase::Grace)
    );
    let _ = writeln!(out, "Phase: {}", ctx.lifecycle.phase().name());
    out
}

/// `show servers conn [BACKEND]`: connections per server, in HAProxy 2.6's columns.
fn show_servers_conn(ctx: &ApiContext, only: Option<&str>) -> String {
    if only.is_some_and(|b| !ctx.backends.contains_key(b)) {
        return "Can't find backend.\n".into();
    }
    let mut out = format!(
        "# bkname/svname bkid/svid addr port - purge_delay used_cur used_max need_est unsafe_nb safe_nb idle_lim idle_cur idle_per_thr[{}]\n",
        ctx.nbthread
    );
    let mut names: Vec<&String> = ctx.backends.keys().collect();
    names.sort_by_key(|n| ctx.backend_ids.get(*n).copied().unwrap_or(0));
    for name in names
        .into_iter()
        .filter(|n| only.is_none_or(|o| o == n.as_str()))
    {
        let be_id = ctx.backend_ids.get(name).copied().unwrap_or(0);
        for (i, s) in ctx.backends[name].servers.iter().enumerate() {
            // Idle connections live in one pool per server, not per thread.
            let idle = s.idle_count();
            let mut per_thread = vec!["0".to_string(); ctx.nbthread.max(1)];
            per_thread[0] = idle.to_string();
            let _ = writeln!(
                out,
                "{name}/{} {be_id}/{} {} {} - 5000 {} {} 0 0 {idle} -1 {idle} {}",
                s.name,
                i + 1,
                s.addr.ip(),
                s.addr.port(),
                s.active(),
                s.max(),
                per_thread.join(" ")
            );
        }
    }
    out
}

/// `show servers state [BACKEND]`: HAProxy's version-1 format, the fields baton tracks.
fn show_servers_state(ctx: &ApiContext, only: Option<&str>) -> String {
    let mut out = String::from("1\n# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight srv_iweight srv_time_since_last_change srv_check_status srv_check_result srv_check_health srv_check_state srv_agent_state bk_f_forced_id srv_f_forced_id srv_fqdn srv_port srvrecord srv_use_ssl srv_check_port srv_check_addr srv_agent_addr srv_agent_port\n");
    let mut names: Vec<&String> = ctx.backends.keys().collect();
    names.sort_by_key(|n| ctx.backend_ids.get(*n).copied().unwrap_or(0));
    for name in names {
        if only.is_some_and(|o| o != name) {
            continue;
        }
        let be = &ctx.backends[name];
        let be_id = ctx.backend_ids.get(name).copied().unwrap_or(0);
        for (i, s) in be.servers.iter().enumerate() {
            let (op, admin) = match s.status() {
                Status::Up => (2, 0),
                Status::Down => (0, 0),
                Status::Maint => (0, 1),
                Status::Drain => (2, 8),
            };
            let _ =
                writeln!(
                out,
                "{be_id} {name} {} {} {} {op} {admin} {} {} 0 {} {} {} {} 0 0 0 - {} - 0 {} - - 0",
                i + 1,
                s.name,
                s.addr.ip(),
                s.weight(),
                s.options.weight,
                if s.options.check { 6 } else { 1 },
                if s.options.check { 3 } else { 0 },
                if s.status() == Status::Up { s.options.rise + s.options.fall - 1 } else { 0 },
                if s.options.check { 6 } else { 0 },
                s.addr.port(),
                s.options.check_port.unwrap_or(0),
            );
        }
    }
    out
}
