//! The master CLI (`-S ADDR[,mode M][,level L][,user U][,group G]`): `show proc`, `reload`
//! (answered only when the reload is done, with `Success=1|0` and its messages, as HAProxy
//! 2.7+), `@N` / `@!PID` / `@master` routing of runtime API commands, `help`, `prompt`, `quit`.
//!
//! Nothing a client sends can hurt the master: lines are bounded, sessions time out and are
//! counted, every command checks the socket's level, and an unknown prefix or command gets an
//! answer, not a panic.

use super::ipc::{self, Grant};
use super::master::{Master, Target};
use super::state::ListenerKind;
use baton_config::model::{Level, ListenAddress, ListenerOptions, StatsSocket};
use std::cell::RefCell;
use std::os::fd::OwnedFd;
use std::rc::Rc;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};

/// The longest command line accepted.
const MAX_LINE: usize = 16384;
/// Idle time after which an interactive session ends.
const IDLE: Duration = Duration::from_secs(60);
/// Concurrent master CLI sessions.
const MAX_SESSIONS: usize = 16;
/// How long a worker may take to answer a forwarded command.
const FORWARD_TIMEOUT: Duration = Duration::from_secs(10);
/// The most output relayed from a worker for one command.
const MAX_FORWARD: u64 = 64 << 20;

/// Parses `-S`: an address, then comma-separated options (`mode 600` or `mode,600`).
pub fn parse_spec(text: &str) -> Result<StatsSocket, String> {
    let mut parts = text.split(',');
    let address = parts.next().unwrap_or_default();
    if address.is_empty() {
        return Err("-S: missing address".into());
    }
    let addresses = baton_config::values::parse_listen_address(address)
        .map_err(|e| format!("-S {address}: {e}"))?;
    let [address] = &addresses[..] else {
        return Err(format!("-S {address}: one address only"));
    };
    if matches!(address, ListenAddress::Abstract(_)) {
        return Err(format!("-S: abstract sockets are not supported ({text})"));
    }
    let words: Vec<&str> = parts.flat_map(str::split_whitespace).collect();
    let mut options = ListenerOptions {
        level: Level::Admin,
        ..Default::default()
    };
    let mut it = words.iter();
    while let Some(&key) = it.next() {
        let value = it
            .next()
            .ok_or_else(|| format!("-S: '{key}' expects a value"))?;
        match key {
            "mode" => {
                options.mode = Some(
                    u32::from_str_radix(value, 8)
                        .ok()
                        .filter(|m| *m <= 0o7777)
                        .ok_or_else(|| format!("-S: mode '{value}' is not an octal mode"))?,
                )
            }
            "level" => {
                options.level = match *value {
                    "user" => Level::User,
                    "operator" => Level::Operator,
                    "admin" => Level::Admin,
                    _ => {
                        return Err(format!(
                            "-S: level '{value}' is not user, operator or admin"
                        ))
                    }
                }
            }
            "user" | "uid" | "group" | "gid" => {
                let id = baton_config::values::parse_identity(value, key == "uid" || key == "gid")
                    .map_err(|e| format!("-S: {key}: {e}"))?;
                if key == "user" || key == "uid" {
                    options.user = Some(id);
                } else {
                    options.group = Some(id);
                }
            }
            _ => return Err(format!("-S: unknown option '{key}'")),
        }
    }
    Ok(StatsSocket {
        address: address.clone(),
        options,
        location: baton_config::diag::Location::new(&std::sync::Arc::from("-S"), 0),
    })
}

/// Binds the master CLI socket.
pub fn bind(spec: &StatsSocket) -> anyhow::Result<(OwnedFd, ListenerKind)> {
    match &spec.address {
        ListenAddress::Unix(path) => Ok((
            baton_runtime::stats::bind_unix(path, spec)?.into(),
            ListenerKind::Unix,
        )),
        _ => {
            let bind = baton_config::model::Bind {
                address: spec.address.clone(),
                options: spec.options.clone(),
                location: spec.location.clone(),
            };
            let listener = baton_runtime::listener::bind_tcp(&bind, 16)?;
            Ok((listener.into(), ListenerKind::Tcp))
        }
    }
}

/// A level as carried across exec.
pub fn level_code(level: Level) -> u8 {
    match level {
        Level::User => 0,
        Level::Operator => 1,
        Level::Admin => 2,
    }
}

/// The level a carried code stands for.
pub fn level_from_code(code: u8) -> Level {
    match code {
        0 => Level::User,
        1 => Level::Operator,
        _ => Level::Admin,
    }
}

/// Accepts master CLI connections on `fd` for the life of this master image.
pub fn serve(fd: OwnedFd, kind: ListenerKind, level: Level, master: Rc<RefCell<Master>>) {
    let slots = std::sync::Arc::new(tokio::sync::Semaphore::new(MAX_SESSIONS));
    tokio::task::spawn_local(async move {
        let result: std::io::Result<()> = async {
            match kind {
                ListenerKind::Unix => {
                    let std = std::os::unix::net::UnixListener::from(fd);
                    std.set_nonblocking(true)?;
                    let l = tokio::net::UnixListener::from_std(std)?;
                    loop {
                        let (s, _) = l.accept().await?;
                        start_session(s, level, &master, &slots);
                    }
                }
                ListenerKind::Tcp => {
                    let std = std::net::TcpListener::from(fd);
                    std.set_nonblocking(true)?;
                    let l = tokio::net::TcpListener::from_std(std)?;
                    loop {
                        let (s, _) = l.accept().await?;
                        start_session(s, level, &master, &slots);
                    }
                }
            }
        }
        .await;
        if let Err(e) = result {
            tracing::error!("master CLI socket: {e}");
        }
    });
}

/// A master CLI stream: something that can give up its descriptor to wait for a reload.
trait CliStream: AsyncRead + AsyncWrite + Unpin + 'static {
    /// The descriptor, blocking, for the master to answer later (also across exec).
    fn into_fd(self) -> std::io::Result<OwnedFd>;
}

impl CliStream for tokio::net::UnixStream {
    fn into_fd(self) -> std::io::Result<OwnedFd> {
        let s = self.into_std()?;
        s.set_nonblocking(false)?;
        Ok(s.into())
    }
}

impl CliStream for tokio::net::TcpStream {
    fn into_fd(self) -> std::io::Result<OwnedFd> {
        let s = self.into_std()?;
        s.set_nonblocking(false)?;
        Ok(s.into())
    }
}

/// Starts one session if there is room (otherwise the connection is closed at once).
fn start_session<S: CliStream>(
    stream: S,
    level: Level,
    master: &Rc<RefCell<Master>>,
    slots: &std::sync::Arc<tokio::sync::Semaphore>,
) {
    let Ok(permit) = std::sync::Arc::clone(slots).try_acquire_owned() else {
        return;
    };
    let master = Rc::clone(master);
    tokio::task::spawn_local(async move {
        session(stream, level, master).await;
        drop(permit);
    });
}

/// What a command line leads to.
enum Outcome {
    /// Output to send; the session goes on if interactive.
    Reply(String),
    /// `prompt`.
    TogglePrompt,
    /// `quit`.
    Quit,
    /// `reload`: the connection goes to the master, which answers when done.
    Reload,
}

/// Reads one line of at most [`MAX_LINE`] bytes; `None` at EOF, on timeout or overflow.
async fn read_line<S: CliStream>(reader: &mut BufReader<S>, line: &mut Vec<u8>) -> Option<()> {
    line.clear();
    let mut limited = (&mut *reader).take(MAX_LINE as u64);
    let read = limited.read_until(b'\n', line);
    match tokio::time::timeout(IDLE, read).await {
        Ok(Ok(0)) | Err(_) | Ok(Err(_)) => None,
        Ok(Ok(n)) if n == MAX_LINE && line.last() != Some(&b'\n') => None,
        Ok(Ok(_)) => Some(()),
    }
}

/// One master CLI connection.
async fn session<S: CliStream>(stream: S, level: Level, master: Rc<RefCell<Master>>) {
    let mut reader = BufReader::new(stream);
    let mut interactive = false;
    let mut line = Vec::with_capacity(256);
    while read_line(&mut reader, &mut line).await.is_some() {
        let text = String::from_utf8_lossy(&line)
            .trim_end_matches(['\r', '\n'])
            .to_string();
        let mut output = String::new();
        for command in text.split(';') {
            match execute(command.trim(), level, &master).await {
                Outcome::Reply(reply) => output.push_str(&reply),
                Outcome::TogglePrompt => interactive = !interactive,
                Outcome::Quit => {
                    let _ = reader.get_mut().write_all(output.as_bytes()).await;
                    return;
                }
                Outcome::Reload => {
                    let _ = reader.get_mut().write_all(output.as_bytes()).await;
                    match reader.into_inner().into_fd() {
                        Ok(fd) => Master::request_reload(&master, Some(fd)),
                        Err(e) => tracing::warn!("master CLI: {e}"),
                    }
                    return;
                }
            }
        }
        if interactive {
            output.push_str("master> ");
        }
        if reader.get_mut().write_all(output.as_bytes()).await.is_err() || !interactive {
            return;
        }
    }
}

/// The `help` text for `level`.
fn help(level: Level) -> String {
    let mut out = String::from("The following commands are valid at this level:\n");
    let rows: &[(&str, Level, &str)] = &[
        (
            "@<relative pid>",
            Level::User,
            "send a command to the <relative pid> process (1: the current worker)",
        ),
        (
            "@!<pid>",
            Level::User,
            "send a command to the <pid> process",
        ),
        (
            "@master",
            Level::User,
            "send a command to the master process",
        ),
        ("help", Level::User, "list known commands"),
        ("prompt", Level::User, "toggle interactive mode with prompt"),
        ("quit", Level::User, "disconnect"),
        (
            "reload",
            Level::Operator,
            "reload the configuration; answers Success=1 or Success=0 when done",
        ),
        ("show proc", Level::User, "show processes status"),
    ];
    for (name, min, text) in rows {
        if level >= *min {
            out.push_str(&format!("  {name:<40}: {text}\n"));
        }
    }
    out
}

/// Runs one command.
async fn execute(command: &str, level: Level, master: &Rc<RefCell<Master>>) -> Outcome {
    let (target, rest) = match command.split_once(char::is_whitespace) {
        Some((first, rest)) if first.starts_with('@') => (Some(first), rest.trim()),
        None if command.starts_with('@') => (Some(command), ""),
        _ => (None, command),
    };
    if let Some(prefix) = target.filter(|p| *p != "@master" && *p != "@0") {
        let target = match parse_target(prefix) {
            Some(t) => t,
            None => {
                return Outcome::Reply(format!(
                    "Can't find the target PID matching the prefix '{prefix}'\n"
                ))
            }
        };
        if rest.is_empty() {
            return Outcome::Reply(String::new());
        }
        return Outcome::Reply(forward(master, target, rest, level).await);
    }
    let words: Vec<&str> = rest.split_whitespace().collect();
    match words[..] {
        [] => Outcome::Reply(String::new()),
        ["help"] => Outcome::Reply(help(level)),
        ["prompt"] => Outcome::TogglePrompt,
        ["quit"] => Outcome::Quit,
        ["show", "proc"] => Outcome::Reply(show_proc(master).await),
        ["reload"] if level >= Level::Operator => Outcome::Reload,
        ["reload"] => Outcome::Reply("Permission denied\n".into()),
        _ => Outcome::Reply(format!(
            "Unknown command, but maybe one of the following ones is a better match:\n{}",
            help(level)
        )),
    }
}

/// `@N` or `@!PID`.
fn parse_target(prefix: &str) -> Option<Target> {
    let rest = prefix.strip_prefix('@')?;
    match rest.strip_prefix('!') {
        Some(pid) => pid.parse().ok().filter(|p| *p > 0).map(Target::Pid),
        None => rest.parse().ok().filter(|n| *n > 0).map(Target::Relative),
    }
}

/// Sends `command` to a worker's runtime API with the master socket's level; its output.
async fn forward(
    master: &Rc<RefCell<Master>>,
    target: Target,
    command: &str,
    level: Level,
) -> String {
    let Some(ipc) = master.borrow().worker_ipc(target) else {
        return "Can't find the target PID matching the prefix\n".into();
    };
    let ask = async {
        let mut conn = ipc::connect(&ipc, Grant::Level(level)).await?;
        conn.write_all(format!("{command}\n").as_bytes()).await?;
        let mut out = Vec::new();
        (&mut conn).take(MAX_FORWARD).read_to_end(&mut out).await?;
        Ok::<_, std::io::Error>(String::from_utf8_lossy(&out).into_owned())
    };
    match tokio::time::timeout(FORWARD_TIMEOUT, ask).await {
        Ok(Ok(out)) => out,
        Ok(Err(e)) => format!("The worker did not answer: {e}\n"),
        Err(_) => "The worker did not answer in time.\n".into(),
    }
}

/// Asks each worker for its live connections (`show info`'s CurrConns), then formats.
async fn show_proc(master: &Rc<RefCell<Master>>) -> String {
    let workers = master.borrow().worker_ipcs();
    let mut conns = Vec::new();
    for (pid, ipc) in workers {
        let info = tokio::time::timeout(Duration::from_millis(1000), async {
            let mut conn = ipc::connect(&ipc, Grant::Level(Level::User)).await?;
            conn.write_all(b"show info\n").await?;
            let mut out = String::new();
            (&mut conn).take(1 << 20).read_to_string(&mut out).await?;
            Ok::<_, std::io::Error>(out)
        })
        .await;
        let live = info.ok().and_then(|r| r.ok()).and_then(|text| {
            text.lines()
                .find_map(|l| l.strip_prefix("CurrConns:"))
                .and_then(|v| v.trim().parse::<u64>().ok())
        });
        conns.push((pid, live));
    }
    master.borrow().show_proc(&conns)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs() {
        let s = parse_spec("/run/baton-master.sock").unwrap();
        assert_eq!(
            s.address,
            ListenAddress::Unix("/run/baton-master.sock".into())
        );
        assert_eq!(s.options.level, Level::Admin);
        let s = parse_spec("/m.sock,mode 600,level operator").unwrap();
        assert_eq!(
            (s.options.mode, s.options.level),
            (Some(0o600), Level::Operator)
        );
        let s = parse_spec("/m.sock,mode,660,level,user").unwrap();
        assert_eq!(
            (s.options.mode, s.options.level),
            (Some(0o660), Level::User)
        );
        assert!(matches!(
            parse_spec("ipv4@127.0.0.1:9999").unwrap().address,
            ListenAddress::Inet { port: 9999, .. }
        ));
        for bad in [
            "",
            ",mode 600",
            "/m,mode",
            "/m,mode 999",
            "/m,level root",
            "/m,nope 1",
        ] {
            assert!(parse_spec(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn targets() {
        assert_eq!(parse_target("@1"), Some(Target::Relative(1)));
        assert_eq!(parse_target("@!1234"), Some(Target::Pid(1234)));
        for bad in ["@", "@!", "@x", "@!-1", "@-1", "@!0"] {
            assert_eq!(parse_target(bad), None, "{bad}");
        }
    }
}
