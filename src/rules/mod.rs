//! The rules of the service promise, as pure code: no I/O, no clock (every function takes the
//! time it works on), no store. Whatever they need to know of the world reaches them as values
//! or through a small trait ([`decide::Known`]), so they are tested with plain values.
//!
//! May import: `config` (for the shape of a department) and each other. Nothing above.

pub mod budget;
pub mod calendar;
pub mod case;
pub mod decide;
pub mod holidays;
pub mod loopbreak;
pub mod schedule;
pub mod span;
