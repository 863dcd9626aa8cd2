//! kvittens keeps a municipality's e-mail service promise: every resident who writes to a
//! department mailbox gets an immediate receipt naming the case officer and the date of the
//! answer, and every case is tracked until it is answered.
//!
//! # Layout
//!
//! The folders are layers; each may import only the ones below it.
//!
//! | folder | what lives there | imports |
//! |---|---|---|
//! | [`daemon`] | wiring: one task per mailbox, the sender, the clock, the sockets; stopped by a cancellation token | all |
//! | [`web`] | the web page for managers, officers and registrars, behind an authenticating proxy | app and below (beside `ops`) |
//! | [`ops`] | the command line, the control socket and its commands, `/metrics`, `/healthz`, the clock | net and below |
//! | [`net`] | IMAP watcher, SMTP, the sender task, TLS, OAuth2 tokens | app and below |
//! | [`app`] | the one owner of case state: a message, a due deadline, an admin action | store and below |
//! | [`store`] | what must survive a crash: cases, cursors, schedule, outbox | mail and below |
//! | [`mail`] | mail as bytes: reading what comes in, composing what goes out | rules and below |
//! | [`rules`] | pure rules: the decision, machine mail, assignment, what falls due | config, model |
//! | [`config`] | the config file, checked once, with file:line in every mistake | model |
//! | [`model`] | the vocabulary: ids (case numbers, Message-IDs), the case, people, kinds, time | — |
//!
//! "What to do with a message" is [`rules::decide`] (pure: acknowledge with a new case, attach
//! to a case, take it as staff's answer or as a copy of kvittens' own mail, or ignore it);
//! [`app::incoming`] records that decision and its mails in one store transaction;
//! [`net::sender`] sends them from the store's outbox exactly once. A message is read by
//! [`net::imap`]'s watcher; [`daemon`] starts one per folder.

pub mod app;
pub mod config;
pub mod daemon;
pub mod mail;
pub mod model;
pub mod net;
pub mod ops;
#[cfg(test)]
mod regressions;
pub mod rules;
pub mod store;
#[cfg(test)]
pub(crate) mod testkit;
pub mod web;
