//! `report`: the report to the nämnd for a period, rendered by the daemon (or on the store
//! when none runs) and written to `--out` by the command line.

use super::super::request::{Command, CommandError};
use crate::app::engine::Engine;
use crate::app::report::{self, Query};
use crate::mail::report::Format;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Make the report of a period.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Report {
    /// The period and the department.
    pub query: Query,
    /// HTML or CSV.
    pub format: Format,
}

impl Command for Report {
    const PATH: &'static str = "/report";

    fn run(&self, engine: &Engine, now: DateTime<Utc>) -> Result<String, CommandError> {
        Ok(report::render(engine, &self.query, self.format, now)?)
    }
}
