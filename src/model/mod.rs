//! The vocabulary every layer speaks: the identifiers kvittens mints ([`ids`]), a case and its
//! timeline ([`case`]), the people in it ([`people`]), the kinds of matter, language and mail
//! ([`kinds`]), an incoming message's facts ([`inbound`]) and the municipality's working time
//! ([`calendar`], [`holidays`], [`span`]). Plain data and the arithmetic that belongs to it; no
//! I/O and no policy — what to *do* with a case is in [`crate::rules`].
//!
//! The calendar is here, not in the rules, because the config names it per department and the
//! config sits below the rules: putting it here keeps every import pointing down.
//!
//! May import: nothing of the crate. Everything else may import it.

pub mod calendar;
pub mod case;
pub mod holidays;
pub mod ids;
pub mod inbound;
pub mod kinds;
pub mod limits;
pub mod people;
mod sample;
pub mod span;
pub mod tally;

pub use case::{Case, ContactMade, ContactWay, Due, Event, Measure, State};
pub use inbound::Inbound;
pub use kinds::{Category, CategoryWords, Kind, Language};
pub use people::{Absence, Contact, Officer, Person};
