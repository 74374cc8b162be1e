//! Log lines in HAProxy's shape, `[NOTICE]   (PID) : message`, on standard error.
//!
//! Operators grep for these tags in the journal; several generations of baton may write to the
//! same journal during a reload, so the pid is on every line.

use std::fmt;
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

/// Formats events as `[TAG] (PID) : message key=value...`.
struct HaproxyFormat;

impl<S, N> FormatEvent<S, N> for HaproxyFormat
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let tag = match *event.metadata().level() {
            Level::ERROR => "[ALERT]   ",
            Level::WARN => "[WARNING] ",
            Level::INFO => "[NOTICE]  ",
            Level::DEBUG | Level::TRACE => "[DEBUG]   ",
        };
        write!(writer, "{tag} ({}) : ", std::process::id())?;
        ctx.field_format().format_fields(writer.by_ref(), event)?;
        writeln!(writer)
    }
}

/// Logs to stderr: warnings and errors with `-q`, notices too otherwise; `BATON_DEBUG=1` adds
/// per-connection events (as `haproxy -d` does).
pub fn init(quiet: bool) {
    let level = if std::env::var_os("BATON_DEBUG").is_some() {
        Level::DEBUG
    } else if quiet {
        Level::WARN
    } else {
        Level::INFO
    };
    let _ = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_max_level(level)
        .with_ansi(false)
        .event_format(HaproxyFormat)
        .try_init();
}
