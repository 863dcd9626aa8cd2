//! The rules of the service promise, as pure code: no I/O, no clock (every function takes the
//! time it works on), no store. Whatever they need to know of the world reaches them as values
//! or through a small trait ([`decide::Known`]), so they are tested with plain values.
//!
//! May import: `model`, `config` (for the shape of a department) and each other. Nothing above.

pub mod assign;
pub mod budget;
pub mod burst;
pub mod decide;
pub mod loopbreak;
pub mod machine;
pub mod permit;
pub mod report;
pub mod schedule;
