//! `case move`: a case that reached the wrong department goes to the right one
//! (förvaltningslagen 2017:900 § 4), keeping its number and history.

use super::super::request::{Command, CommandError};
use super::super::text;
use crate::app::caseops;
use crate::app::engine::Engine;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Move a case to another department.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Move {
    /// The case number.
    pub case: String,
    /// The department's id in the config.
    pub to: String,
    /// Who moved it (see [`crate::ops::control::actor`]).
    pub by: String,
}

impl Command for Move {
    const PATH: &'static str = "/case/move";

    fn run(&self, engine: &Engine, now: DateTime<Utc>) -> Result<String, CommandError> {
        let moved = caseops::move_case(engine, &self.case, &self.to, &self.by, now)?;
        Ok(text::moved(&engine.cfg(), &self.case, &moved))
    }
}
