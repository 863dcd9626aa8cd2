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
    /// How the case ended, kept on the case for the report.
    #[serde(default)]
    pub outcome: Option<String>,
    /// Who closed it (see [`crate::ops::control::actor`]); empty from an older client.
    #[serde(default)]
    pub by: String,
}

impl Command for Close {
    const PATH: &'static str = "/case/close";

    fn run(&self, engine: &Engine, now: DateTime<Utc>) -> Result<String, CommandError> {
        let by = Some(self.by.as_str()).filter(|b| !b.is_empty());
        let closing = (self.note.as_str(), self.outcome.as_deref());
        crate::app::caseops::close(engine, &self.case, closing, by, now)?;
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
    /// Who asked (see [`crate::ops::control::actor`]); empty from an older client.
    #[serde(default)]
    pub by: String,
}

impl Command for Postpone {
    const PATH: &'static str = "/case/postpone";

    fn run(&self, engine: &Engine, now: DateTime<Utc>) -> Result<String, CommandError> {
        let by = Some(self.by.as_str()).filter(|b| !b.is_empty());
        let day = admin::postpone(engine, &self.case, self.to, &self.note, by, now)?;
        Ok(text::postponed(&self.case, self.to, day))
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
