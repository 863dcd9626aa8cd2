//! The adapters to the mail servers: the mailbox watcher ([`imap`]), SMTP submission ([`smtp`])
//! and the task that empties the outbox through it ([`sender`]), the connection itself
//! ([`tls`]), the one retry schedule of both ([`backoff`]), access tokens ([`oauth2`]), the
//! plain-word account of what went wrong ([`diagnose`]) and the connection check of
//! `check-config --connect` ([`check`]). The watcher and the sender are generic over a
//! mailbox ([`imap::Mailbox`]) and an SMTP submission ([`smtp::Submission`]); [`fake`] has
//! in-memory ones for tests.
//!
//! May import: `app` (the only way to the cases, and the counts) and below. Of the store only
//! its plain values (a cursor, a message key, its error): every read and write goes through `app`.

pub mod backoff;
pub mod check;
pub mod diagnose;
#[doc(hidden)]
pub mod fake;
pub mod imap;
pub mod oauth2;
pub mod sender;
pub mod smtp;
mod takeover;
pub mod tls;
