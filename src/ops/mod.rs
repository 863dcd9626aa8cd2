//! What the people who run kvittens reach: the control socket and its commands ([`control`],
//! [`commands`]), `/metrics` and `/healthz` ([`http`], [`metrics`]), and the clock that fires
//! what falls due ([`scheduler`]).
//!
//! May import: `app`, `config`, `mail`, `rules`.

pub mod cli;
pub mod commands;
pub mod control;
pub mod http;
pub mod inspect;
pub mod metrics;
pub mod scheduler;
