//! `%[expr]` in log lines, evaluated by the HTTP rules' sample engine
//! ([`crate::http::sample`]) over what a finished stream still knows: its addresses, frontend
//! and backend. Fetches that need a message head have no value here and print `-` (HAProxy
//! 2.6 refuses them in log formats).

use super::format::Context;
use super::record::Record;
use crate::http::sample::{self as engine, Exchange, Vars};
use baton_config::logformat::Flags;
use baton_config::sample::SampleExpr;

/// The expression's value as text (`None`: no value).
pub fn eval(expr: &SampleExpr, rec: &Record, ctx: &Context<'_>, hex: bool) -> Option<String> {
    let vars = Vars::default();
    let ex = Exchange {
        client: rec.client,
        local: rec.local,
        request: None,
        response: None,
        vars: &vars,
        frontend: ctx.frontend,
        backend: rec.backend.as_deref().unwrap_or(""),
        userlists: None,
    };
    let value = engine::eval(expr, &ex)?;
    let mut out = Vec::new();
    let flags = Flags {
        hex,
        ..Flags::default()
    };
    engine::write_value(&value, flags, &mut out);
    Some(String::from_utf8_lossy(&out).into_owned())
}
