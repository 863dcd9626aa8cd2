//! `case close`, `case postpone`, `case receipt`: the actions on one case.

use super::super::request::{Command, CommandError};
use super::super::text;
use crate::app::admin;
use crate::app::engine::Engine;
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

/// Close a case by hand.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Close {
    /// The case number.
    pub case: String,
    /// Why, for the timeline.
    pub note: String,
}

impl Command for Close {
    const PATH: &'static str = "/case/close";

    fn run(&self, engine: &Engine, now: DateTime<Utc>) -> Result<String, CommandError> {
        admin::close(engine, &self.case, &self.note, now)?;
        Ok(text::closed(&self.case))
    }
}

/// Set a new decision date and tell the resident.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Postpone {
    /// The case number.
    pub case: String,
    /// The new date.
    pub to: NaiveDate,
    /// Why, told to the resident.
    pub note: String,
}

impl Command for Postpone {
    const PATH: &'static str = "/case/postpone";

    fn run(&self, engine: &Engine, now: DateTime<Utc>) -> Result<String, CommandError> {
        admin::postpone(engine, &self.case, self.to, &self.note, now)?;
        Ok(text::postponed(&self.case, self.to))
    }
}

/// Send a case's withheld receipt after all.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Receipt {
    /// The case number.
    pub case: String,
}

impl Command for Receipt {
    const PATH: &'static str = "/case/receipt";

    fn run(&self, engine: &Engine, now: DateTime<Utc>) -> Result<String, CommandError> {
        let to = admin::receipt(engine, &self.case, now)?;
        Ok(text::receipt_queued(&self.case, &to))
    }
}
