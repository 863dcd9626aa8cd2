//! The application: the one owner of case state. What happens to a message ([`engine`]), what
//! happens when a deadline falls due ([`followup`]) and what a registrar or officer asks for
//! ([`registrar`], [`admin`]) are decided here with the rules and recorded here in the store;
//! the adapters in `net` and `ops` call in and never write the store themselves. What each
//! outcome counts is here too ([`metrics`], [`outcome`]): `/metrics` only serves it.
//!
//! May import: `store`, `mail`, `rules`, `config`, `model`.

pub mod access;
pub mod admin;
pub mod caseops;
pub mod casework;
pub mod edit;
pub mod engine;
pub mod error;
pub mod followup;
pub mod gather;
pub mod incoming;
pub mod lease;
pub mod metrics;
pub mod outbox;
pub mod outcome;
pub mod overview;
pub mod person;
pub mod registrar;
pub mod report;
pub mod retention;
pub mod tally;
pub mod transfer;
