//! Mail as bytes: reading what arrives ([`message`], bounded first by [`bounds`]) and writing
//! what kvittens sends ([`compose`] for the receipt and the officer notice, [`notices`] for the
//! follow-up, both through [`templates`]). Pure code: a mail is built in full before it is stored,
//! so a resend after a crash sends the very same bytes.
//!
//! May import: `rules`, `config`. Never the store or the network.

pub mod bounds;
pub mod chart;
pub mod check;
pub mod compose;
pub mod message;
pub mod notices;
pub mod outgoing;
pub mod report;
pub mod templates;
#[cfg(test)]
mod wording;
pub mod words;
