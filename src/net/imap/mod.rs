//! The mailbox adapter: one task per department mailbox, watching for new mail with IDLE (or
//! polling where the server has none) and handing each message to the engine. It only reads:
//! the mailbox is EXAMINEd and bodies are fetched with BODY.PEEK, so nothing is marked \Seen —
//! people read these mailboxes too.
//!
//! - [`connect`](self::connect()) and friends: the session — TCP, TLS or STARTTLS, LOGIN or
//!   AUTHENTICATE XOAUTH2, EXAMINE, the Sent folder.
//! - [`Mailbox`] and [`Connect`]: what the watcher needs of a mailbox (EXAMINE with its
//!   UIDVALIDITY, UID FETCH since a cursor, a body, a wait for EXISTS in IDLE), implemented by
//!   async-imap ([`Imap`]) and by the in-memory fake of `net::fake`.
//! - [`Watcher`]: the loop — reconnects with the one backoff, the cursor, UIDVALIDITY.
//! - [`LoginGate`]: the cap on logins per second across every mailbox (`[imap]
//!   logins_per_second`), at start and at every reconnect.
//! - reading: one message to the engine, with the "being read" mark that lets a crash on a
//!   message set it aside rather than crash again; its outcome goes to `app::outcome`.

mod connect;
mod gate;
mod mailbox;
mod reading;
mod standby;
mod watcher;

pub use connect::{connect, connect_dept, connect_oauth2, examine, sent_folder, Io, Session};
pub use gate::{LoginGate, DEFAULT_LOGINS_PER_SECOND};
pub use mailbox::{Connect, Dated, Examined, Fetched, Imap, Listed, Mailbox, MailboxSize};
pub use watcher::Watcher;

use crate::net::diagnose::Problem;
use crate::store::StoreError;

/// Why a session ended.
#[derive(Debug, thiserror::Error)]
pub enum WatchError {
    /// The server or the network, in the library's words (mid-session).
    #[error("{0}")]
    Imap(#[source] async_imap::error::Error),
    /// The connection, mid-session.
    #[error("{0}")]
    Io(#[source] std::io::Error),
    /// A classified problem: connecting, TLS, login, the folder.
    #[error("{0}")]
    Problem(Problem),
    /// The store: no new work is taken until it works again.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The session's OAuth2 token is about to run out: log in again at once with a fresh one.
    #[error("the session's OAuth2 token runs out; logging in again")]
    Relogin,
    /// Another instance holds the folder's lease now (or it ran out while the store was
    /// away): the session is dropped, and the folder watched again once the lease is back.
    #[error("another instance holds this folder's lease")]
    LeaseLost,
    /// The server ended the session because its OAuth2 token ran out (Exchange Online:
    /// `BYE … AccessTokenExpired`): a reason to log in again, not a fault of the server.
    #[error("{0}")]
    TokenExpired(String),
}

impl WatchError {
    /// The classified problem, when there is one.
    pub fn problem(&self) -> Option<&Problem> {
        match self {
            WatchError::Problem(p) => Some(p),
            _ => None,
        }
    }
}

impl From<async_imap::error::Error> for WatchError {
    /// Recognises a session ended for its token once, here, where the server's words arrive;
    /// everything after matches on the variant.
    fn from(e: async_imap::error::Error) -> Self {
        let words = e.to_string();
        if words.contains("AccessTokenExpired") {
            WatchError::TokenExpired(words)
        } else {
            WatchError::Imap(e)
        }
    }
}

impl From<std::io::Error> for WatchError {
    fn from(e: std::io::Error) -> Self {
        if e.to_string().contains("AccessTokenExpired") {
            WatchError::TokenExpired(e.to_string())
        } else {
            WatchError::Io(e)
        }
    }
}

impl From<Problem> for WatchError {
    fn from(p: Problem) -> Self {
        WatchError::Problem(p)
    }
}
