//! kvittens keeps a municipality's e-mail service promise: every resident who writes to a
//! department mailbox gets an immediate receipt naming the case officer and the date of the
//! answer, and every case is tracked until it is answered.
//!
//! The domain — [`calendar`], [`holidays`], [`decide`], [`case`], [`compose`] — is pure code.
//! [`store`] keeps what must survive a crash; [`imap`] and [`smtp`] are thin adapters to the mail
//! servers, and [`sender`] empties the outbox through [`smtp`]; [`daemon`] wires them together.

pub mod bounds;
pub mod budget;
pub mod calendar;
pub mod case;
pub mod check;
pub mod commands;
pub mod compose;
pub mod config;
pub mod control;
pub mod daemon;
pub mod decide;
pub mod diagnose;
pub mod engine;
pub mod followup;
pub mod holidays;
pub mod http;
pub mod imap;
pub mod loopbreak;
pub mod message;
pub mod metrics;
pub mod notices;
pub mod oauth2;
pub mod registrar;
pub mod schedule;
pub mod scheduler;
pub mod sender;
pub mod smtp;
pub mod span;
pub mod store;
pub mod templates;
pub mod tls;
