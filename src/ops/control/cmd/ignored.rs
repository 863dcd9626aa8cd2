//! `ignored` and `ignored open`: the mail that opened no case, and overruling that.

use super::super::request::{Command, CommandError};
use super::super::text;
use crate::app::admin;
use crate::app::engine::Engine;
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

/// List the mail that opened no case.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Ignored {
    /// Only mail that reached its mailbox on or after this (local) day.
    pub since: Option<NaiveDate>,
    /// Only this department's.
    pub department: Option<String>,
    /// JSON lines instead of a table.
    pub json: bool,
}

impl Command for Ignored {
    const PATH: &'static str = "/ignored";

    fn run(&self, engine: &Engine, _now: DateTime<Utc>) -> Result<String, CommandError> {
        let department = self
            .department
            .as_deref()
            .map(|id| admin::known_department(&engine.cfg(), id))
            .transpose()?;
        let list = crate::app::registrar::ignored_list(engine, self.since, department.as_deref())?;
        Ok(text::ignored(&list, self.json))
    }
}

/// Open a case from an ignored mail.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct OpenIgnored {
    /// The entry's id in the ignored list.
    pub id: u64,
    /// Why, for the timeline and the officer.
    pub note: String,
    /// Whether the sender gets a receipt.
    pub receipt: bool,
    /// Where the receipt goes instead of the sender's address (`--to`).
    #[serde(default)]
    pub to: Option<String>,
}

impl Command for OpenIgnored {
    const PATH: &'static str = "/ignored/open";

    fn run(&self, engine: &Engine, now: DateTime<Utc>) -> Result<String, CommandError> {
        let opened = admin::open_ignored(
            engine,
            self.id,
            &self.note,
            self.receipt,
            self.to.as_deref(),
            now,
        )?;
        Ok(text::opened(self.id, &opened))
    }
}
