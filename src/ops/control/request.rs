//! The commands as they travel on the control socket: one type per command, each with its
//! route, and the reply the command line prints.

use super::cmd::{
    case, cases, contact, explain, ignored, import, measure, officer, person, purge, r#move, report,
};
use crate::app::admin::AdminError;
use crate::app::engine::Engine;
use crate::config::ConfigError;
use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// One command of the control socket: its route and what it does. The route is also its name
/// in errors; the body is the type as JSON.
pub trait Command: Serialize + DeserializeOwned + Send + 'static {
    /// The route, e.g. `/case/close`.
    const PATH: &'static str;

    /// Does the command at `now` and returns what the operator reads.
    ///
    /// # Errors
    /// Why it could not be done, in words for the operator.
    fn run(&self, engine: &Engine, now: DateTime<Utc>) -> Result<String, CommandError>;
}

/// Why a command failed. Printed with its sources joined by ": " (see [`describe`]).
#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    /// The admin action refused or failed.
    #[error(transparent)]
    Admin(#[from] AdminError),
    /// The request cannot be carried out as given (e.g. a file the client could not read).
    #[error("{0}")]
    Refused(String),
    /// A listing failed (ignored).
    #[error(transparent)]
    App(#[from] crate::app::error::AppError),
    /// A decision could not be shown (explain, preview).
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

/// `e` and its sources as one line for a person, joined by ": " — the way the command line
/// prints an error and the log writes one. A cause whose words the line holds already is left
/// out, and so is everything behind a [`ConfigError`]: it says its cause in its own plain words
/// and keeps the library's error only as `source()` for programs.
pub fn describe(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut cause = deeper(e);
    while let Some(c) = cause {
        let words = c.to_string();
        if !text.contains(words.lines().next().unwrap_or_default()) {
            text.push_str(": ");
            text.push_str(&words);
        }
        cause = deeper(c);
    }
    text
}

/// The cause behind `e` that [`describe`] goes on to: none behind a [`ConfigError`].
fn deeper<'a>(
    e: &'a (dyn std::error::Error + 'static),
) -> Option<&'a (dyn std::error::Error + 'static)> {
    if e.is::<ConfigError>() {
        None
    } else {
        e.source()
    }
}

/// Every command, as the command line builds it.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Request {
    /// `cases` and `export`.
    Cases(cases::Cases),
    /// `case show`.
    Show(cases::Show),
    /// `case close`.
    Close(case::Close),
    /// `case postpone`.
    Postpone(case::Postpone),
    /// `case receipt`.
    Receipt(case::Receipt),
    /// `import`.
    Import(import::Import),
    /// `purge`.
    Purge(purge::Purge),
    /// `ignored`.
    Ignored(ignored::Ignored),
    /// `ignored open`.
    OpenIgnored(ignored::OpenIgnored),
    /// `officer away`.
    Away(officer::Away),
    /// `officer back`.
    Back(officer::Back),
    /// `officer list`.
    Staff(officer::List),
    /// `person export`.
    PersonExport(person::Export),
    /// `person erase`.
    PersonErase(person::Erase),
    /// `case contact`.
    Contact(contact::Contact),
    /// `case measure`.
    Measure(measure::Measure),
    /// `case move`.
    Move(r#move::Move),
    /// `explain` while the daemon runs.
    Explain(explain::Explain),
    /// `preview` while the daemon runs.
    Preview(explain::Preview),
    /// `report`.
    Report(report::Report),
}

/// Applies `$body` to the command inside a [`Request`], whatever its type.
macro_rules! each {
    ($request:expr, $c:ident => $body:expr) => {
        match $request {
            Request::Cases($c) => $body,
            Request::Show($c) => $body,
            Request::Close($c) => $body,
            Request::Postpone($c) => $body,
            Request::Receipt($c) => $body,
            Request::Import($c) => $body,
            Request::Purge($c) => $body,
            Request::Ignored($c) => $body,
            Request::OpenIgnored($c) => $body,
            Request::Away($c) => $body,
            Request::Back($c) => $body,
            Request::Staff($c) => $body,
            Request::PersonExport($c) => $body,
            Request::PersonErase($c) => $body,
            Request::Contact($c) => $body,
            Request::Measure($c) => $body,
            Request::Move($c) => $body,
            Request::Explain($c) => $body,
            Request::Preview($c) => $body,
            Request::Report($c) => $body,
        }
    };
}

impl Request {
    /// The route the command goes to.
    pub fn path(&self) -> &'static str {
        fn path_of<C: Command>(_: &C) -> &'static str {
            C::PATH
        }
        each!(self, c => path_of(c))
    }

    /// The body: the command as JSON.
    ///
    /// # Errors
    /// When it cannot be written as JSON (not for these types, whose fields all can).
    pub fn body(&self) -> serde_json::Result<Vec<u8>> {
        each!(self, c => serde_json::to_vec(c))
    }
}

/// The answer to a command.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reply {
    /// Whether it worked.
    pub ok: bool,
    /// What to print (the error when not ok).
    pub output: String,
}

impl Reply {
    /// The reply to a command that ran: its output, or its error with the causes.
    pub fn of(result: Result<String, CommandError>) -> Reply {
        match result {
            Ok(output) => Reply { ok: true, output },
            Err(e) => Reply {
                ok: false,
                output: describe(&e),
            },
        }
    }
}

/// Runs a command against the engine's store now: what the daemon does for a request on its
/// socket, and what the command line does itself when no daemon runs.
pub fn execute(engine: &Engine, request: &Request) -> Reply {
    let now = Utc::now();
    Reply::of(each!(request, c => c.run(engine, now)))
}
