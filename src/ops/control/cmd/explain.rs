//! `explain` and `preview` while the daemon runs: decided with the daemon's store, which the
//! command line cannot open then.

use super::super::request::{Command, CommandError};
use crate::app::engine::Engine;
use crate::ops::commands::{self, Content, Named};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Say what the daemon would do with messages, decided with its store.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Explain {
    /// The department whose mailbox they would reach.
    pub department: String,
    /// The messages.
    pub messages: Vec<Named>,
    /// JSON lines instead of text.
    pub json: bool,
}

impl Command for Explain {
    const PATH: &'static str = "/explain";

    fn run(&self, engine: &Engine, _now: DateTime<Utc>) -> Result<String, CommandError> {
        let cfg = engine.cfg();
        let dept = commands::department(&cfg, &self.department)?;
        let mut out = Vec::new();
        let store = Some(engine.view());
        commands::explain_messages(&cfg, dept, store, &self.messages, self.json, &mut out)?;
        Ok(String::from_utf8_lossy(&out).into_owned())
    }
}

/// Show the receipt the daemon would send for a message, with the case number its store would
/// give next.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Preview {
    /// The department whose mailbox it would reach.
    pub department: String,
    /// The message.
    pub message: Named,
}

impl Command for Preview {
    const PATH: &'static str = "/preview";

    fn run(&self, engine: &Engine, _now: DateTime<Utc>) -> Result<String, CommandError> {
        let cfg = engine.cfg();
        let dept = commands::department(&cfg, &self.department)?;
        let Content::Raw(raw) = &self.message.content else {
            let file = &self.message.file;
            return Err(CommandError::Refused(format!(
                "{file}: the file could not be read"
            )));
        };
        let templates = engine.templates();
        let mut out = Vec::new();
        let store = Some(engine.view());
        commands::preview_message(&cfg, &templates, dept, store, raw, &mut out)?;
        Ok(String::from_utf8_lossy(&out).into_owned())
    }
}
