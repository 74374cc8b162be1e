//! baton-runtime: the proxy itself.
//!
//! It receives a typed [`baton_config::Config`] and runs it: binds the listeners, accepts
//! connections under the configured limits, forwards them in `mode tcp` or as HTTP/1.x in
//! `mode http`, chooses servers with the backend's balancing algorithm and keeps their health
//! up to date. Nothing here reads configuration text.

pub mod auth;
pub mod backend;
pub mod counters;
pub mod dispatch;
pub mod drain;
pub mod frontend;
pub mod handover;
pub mod http;
pub mod lifecycle;
pub mod listener;
pub mod log;
pub mod pause;
pub mod privileges;
pub mod runtime;
pub mod sessions;
pub mod sockio;
pub mod stats;
pub mod tcp;
pub mod tunnel;
