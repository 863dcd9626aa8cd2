//! `officer away`: an absence (hänvisning) recorded at run time.

use super::super::request::{Command, CommandError};
use super::super::text;
use crate::app::admin;
use crate::app::engine::Engine;
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

/// Record an officer's absence and who covers.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Away {
    /// The officer's address.
    pub officer: String,
    /// First day away.
    pub from: NaiveDate,
    /// Last day away.
    pub to: NaiveDate,
    /// The substitute's address.
    pub substitute: String,
}

impl Command for Away {
    const PATH: &'static str = "/officer/away";

    fn run(&self, engine: &Engine, _now: DateTime<Utc>) -> Result<String, CommandError> {
        let recorded = admin::away(
            engine,
            admin::Away {
                officer: self.officer.clone(),
                substitute: self.substitute.clone(),
                from: self.from,
                to: self.to,
            },
        )?;
        Ok(text::away(&recorded))
    }
}
