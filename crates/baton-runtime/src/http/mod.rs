//! HTTP/1.x mode: message heads, bodies, generated responses and the per-connection session.

pub mod body;
pub mod buf;
pub mod errors;
pub mod head;
pub mod rules;
pub mod sample;
pub mod session;
pub mod view;
