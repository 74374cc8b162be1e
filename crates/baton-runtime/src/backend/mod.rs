//! Backends at run time: their servers, how one is chosen, and how their health is tracked.

pub mod balance;
pub mod health;
pub mod server;
