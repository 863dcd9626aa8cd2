//! `cases` (and `export`, which is `cases --json` of all) and `case show`: reading only.

use super::super::request::{Command, CommandError};
use super::super::text;
use crate::app::admin::{self, Filter};
use crate::app::engine::Engine;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// List cases.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Cases {
    /// Only this department's.
    pub department: Option<String>,
    /// Which.
    pub filter: Filter,
    /// JSON lines instead of a table.
    pub json: bool,
}

impl Command for Cases {
    const PATH: &'static str = "/cases";

    fn run(&self, engine: &Engine, now: DateTime<Utc>) -> Result<String, CommandError> {
        let list = admin::cases(engine, self.department.as_deref(), self.filter, now)?;
        if self.json {
            text::case_lines(&list).map_err(|e| CommandError::Other(e.into()))
        } else {
            Ok(text::case_table(&engine.cfg(), &list, now))
        }
    }
}

/// Show one case with its timeline.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Show {
    /// The case number.
    pub case: String,
}

impl Command for Show {
    const PATH: &'static str = "/case/show";

    fn run(&self, engine: &Engine, _now: DateTime<Utc>) -> Result<String, CommandError> {
        let case = admin::case(engine, &self.case)?;
        Ok(text::case_sheet(&engine.cfg(), &case))
    }
}
