//! `purge`: what `[daemon] retention` says is old goes (the daemon also does this daily).

use super::super::request::{Command, CommandError};
use super::super::text;
use crate::app::admin;
use crate::app::engine::Engine;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Remove answered and closed cases and ignored mail older than the retention period.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Purge {
    /// Only say what would go.
    pub dry_run: bool,
}

impl Command for Purge {
    const PATH: &'static str = "/purge";

    fn run(&self, engine: &Engine, now: DateTime<Utc>) -> Result<String, CommandError> {
        let purged = admin::purge(engine, self.dry_run, now)?;
        Ok(text::purged(&purged, self.dry_run))
    }
}
