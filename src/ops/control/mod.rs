//! The control socket: how the command line reaches a running daemon, whose store admits one
//! process at a time. HTTP/1.1 over a Unix socket beside the store (never over TCP: whoever may
//! open the socket file may act on cases), one route per command.
//!
//! - [`request`]: the commands as they travel, one type each, and the reply;
//! - [`cmd`]: what each command does — the state change is `app::admin`'s, this only formats;
//! - `text`: the tables and timelines an operator reads;
//! - [`server`]: the router and its listener, with a request size limit;
//! - [`client`]: the command line's side.
//!
//! When no daemon runs, the command line runs the same [`execute`] on the store itself.

pub mod client;
pub mod cmd;
pub mod request;
pub mod server;
mod text;

pub use crate::app::admin::Filter;
pub use client::send;
pub use request::{describe, execute, Reply, Request};
pub use server::{refuse_second_daemon, serve};

use std::path::{Path, PathBuf};

/// Who is running the command line, for the case's timeline ([`crate::model::Case::log_by`]):
/// `KVITTENS_USER` (set it where several people share one account), else `SUDO_USER` (the
/// person behind `sudo`), else `USER`; `unknown` when none is set. It travels in the control
/// request, as the daemon runs as its own user.
pub fn actor() -> String {
    ["KVITTENS_USER", "SUDO_USER", "USER"]
        .iter()
        .filter_map(|k| std::env::var(k).ok())
        .map(|v| v.trim().to_string())
        .find(|v| !v.is_empty())
        .unwrap_or_else(|| "unknown".to_string())
}

/// Where a daemon using the store at `store` listens: inside the store directory, so that the
/// socket has the store's owner and only those who may read the store reach it.
pub fn socket_path(store: &Path) -> PathBuf {
    store.join(crate::store::CONTROL_SOCKET)
}

/// The largest request the socket takes, in bytes: room for `explain` over a few hundred
/// ordinary messages (sent base64, 4/3 of their size); past it a client is told to send fewer
/// at a time, and the daemon never buffers more than this for one request.
pub const MAX_REQUEST_BYTES: usize = 64 * 1024 * 1024;
