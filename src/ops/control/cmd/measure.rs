//! `case measure`: staff record what was done about the matter (the service policy asks that
//! complaints be documented, measures included, and reported to the nämnd).

use super::super::request::{Command, CommandError};
use super::super::text;
use crate::app::caseops;
use crate::app::engine::Engine;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Record a measure taken.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Measure {
    /// The case number.
    pub case: String,
    /// What was done.
    pub note: String,
    /// Who recorded it (see [`crate::ops::control::actor`]).
    pub by: String,
}

impl Command for Measure {
    const PATH: &'static str = "/case/measure";

    fn run(&self, engine: &Engine, now: DateTime<Utc>) -> Result<String, CommandError> {
        caseops::measure(engine, &self.case, &self.note, &self.by, now)?;
        Ok(text::measured(&self.case))
    }
}
