//! `officer away`, `officer back`, `officer list`: absences (hänvisning) recorded at run time,
//! and who is in.

use super::super::request::{Command, CommandError};
use super::super::text;
use crate::app::admin;
use crate::app::engine::Engine;
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

/// Record an officer's (or manager's) absence and who covers.
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

    fn run(&self, engine: &Engine, now: DateTime<Utc>) -> Result<String, CommandError> {
        let recorded = admin::away(
            engine,
            admin::Away {
                officer: self.officer.clone(),
                substitute: self.substitute.clone(),
                from: self.from,
                to: self.to,
            },
            now,
        )?;
        Ok(text::away(&recorded))
    }
}

/// End an officer's (or manager's) current absence now.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Back {
    /// The officer's address.
    pub officer: String,
}

impl Command for Back {
    const PATH: &'static str = "/officer/back";

    fn run(&self, engine: &Engine, now: DateTime<Utc>) -> Result<String, CommandError> {
        let back = admin::back(engine, &self.officer, now)?;
        Ok(text::back(&back))
    }
}

/// List each department's manager and officers, who is away and who stands in.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct List {
    /// Only this department's.
    pub department: Option<String>,
    /// JSON lines (one per department) instead of text.
    pub json: bool,
}

impl Command for List {
    const PATH: &'static str = "/officer/list";

    fn run(&self, engine: &Engine, now: DateTime<Utc>) -> Result<String, CommandError> {
        let list = admin::staffing(engine, self.department.as_deref(), now)?;
        if self.json {
            let mut out = String::new();
            for d in &list {
                let line = serde_json::to_string(d).map_err(|e| CommandError::Other(e.into()))?;
                out.push_str(&line);
                out.push('\n');
            }
            Ok(out)
        } else {
            Ok(text::staffing(&list))
        }
    }
}
