//! `import`: cases from JSON lines as `export` wrote them.

use super::super::request::{Command, CommandError};
use super::super::text;
use crate::app::admin;
use crate::app::engine::Engine;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// Read cases from JSON lines (as `export` writes them).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Import {
    /// The file, as an absolute path: the daemon reads it, from its own working directory.
    pub file: PathBuf,
    /// The lines themselves, when they came on standard input (`import -`): the daemon
    /// cannot read the command line's input, so they travel in the request.
    #[serde(default)]
    pub text: Option<String>,
}

impl Command for Import {
    const PATH: &'static str = "/import";

    fn run(&self, engine: &Engine, now: DateTime<Utc>) -> Result<String, CommandError> {
        let text = match &self.text {
            Some(text) => text.clone(),
            None => std::fs::read_to_string(&self.file)
                .map_err(|e| CommandError::Refused(format!("{}: {e}", self.file.display())))?,
        };
        let imported = admin::import(engine, &self.file, &text, now)?;
        Ok(text::imported(imported))
    }
}
