//! `person export` and `person erase`: a resident's rights of access and erasure (GDPR
//! articles 15 and 17), carried out by `app::person`.

use super::super::request::{Command, CommandError};
use super::super::text;
use crate::app::engine::Engine;
use crate::app::person;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Everything kvittens holds about an address, as one JSON document.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Export {
    /// The address.
    pub email: String,
}

impl Command for Export {
    const PATH: &'static str = "/person/export";

    fn run(&self, engine: &Engine, now: DateTime<Utc>) -> Result<String, CommandError> {
        let export = person::export(engine, &self.email, now)
            .map_err(crate::app::admin::AdminError::from)?;
        let mut json =
            serde_json::to_string_pretty(&export).map_err(|e| CommandError::Other(e.into()))?;
        json.push('\n');
        Ok(json)
    }
}

/// Remove or anonymise everything kvittens holds about an address.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Erase {
    /// The address.
    pub email: String,
    /// Who asked (the operator), for the cases' timelines.
    pub by: String,
}

impl Command for Erase {
    const PATH: &'static str = "/person/erase";

    fn run(&self, engine: &Engine, now: DateTime<Utc>) -> Result<String, CommandError> {
        let erased = person::erase(engine, &self.email, &self.by, now)
            .map_err(crate::app::admin::AdminError::from)?;
        Ok(text::erased(&erased))
    }
}
