//! `case contact`: staff record that they made contact with the resident (by phone, visit,
//! mail or letter) — for any category the answer the reply deadline asks for, and for a
//! complaint the contact the manager owes within a week.

use super::super::request::{Command, CommandError};
use super::super::text;
use crate::app::caseops::{self, NewContact};
use crate::app::engine::Engine;
use crate::model::ContactWay;
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

/// Record a contact with the resident.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Contact {
    /// The case number.
    pub case: String,
    /// How.
    pub way: ContactWay,
    /// The local day it was made; today when `None`.
    pub on: Option<NaiveDate>,
    /// What was said or agreed.
    pub note: String,
    /// Who recorded it (see [`crate::ops::control::actor`]).
    pub by: String,
}

impl Command for Contact {
    const PATH: &'static str = "/case/contact";

    fn run(&self, engine: &Engine, now: DateTime<Utc>) -> Result<String, CommandError> {
        let made = NewContact {
            way: self.way,
            on: self.on,
            note: self.note.clone(),
        };
        let done = caseops::contact(engine, &self.case, &made, &self.by, now)?;
        Ok(text::contacted(&self.case, &done))
    }
}
