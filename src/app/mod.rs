//! The application: the one owner of case state. What happens to a message ([`engine`]), what
//! happens when a deadline falls due ([`followup`]) and what a registrar or officer asks for
//! ([`registrar`]) are decided here with the rules and recorded here in the store; the adapters
//! in `net` and `ops` call in and never write the store themselves.
//!
//! May import: `rules`, `mail`, `config`, `store`, and `ops::metrics` for the counts.

pub mod access;
pub mod admin;
pub mod edit;
pub mod engine;
pub mod followup;
pub mod incoming;
pub mod outbox;
pub mod outcome;
pub mod registrar;
pub mod retention;
