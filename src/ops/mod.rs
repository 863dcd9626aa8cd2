//! What the people who run kvittens reach: the command line's definitions ([`cli`]), the
//! control socket and its commands ([`control`]), `explain` and `preview` ([`inspect`] asks the
//! daemon or opens the store, [`commands`] decides and says), `/metrics` and `/healthz`
//! ([`http`], counted in `app::metrics`), and the clock that fires what falls due ([`scheduler`]). What a
//! command changes is `app::admin`'s; this layer parses, routes and formats.
//!
//! Within: `cli` → `inspect`, `moving` → `control` → `commands`, never back.
//!
//! May import: `net` (for `check-config --connect`), `app` and below.

pub mod cli;
pub mod commands;
pub mod control;
pub mod http;
pub mod inspect;
pub mod moving;
pub mod scheduler;
