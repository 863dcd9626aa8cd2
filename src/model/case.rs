//! A case: what kvittens remembers of a resident's matter — who wrote, who handles it, when it
//! falls due, what happened. Metadata only, never a body. The rules that open, assign and
//! schedule a case live in [`crate::rules`]; this is its shape, as the store keeps it.

use crate::model::kinds::{Category, Language};
use crate::model::people::{Contact, Person};
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

/// Where a case stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    /// Waiting for the officer.
    Open,
    /// The officer has answered.
    Answered,
    /// Closed by hand.
    Closed,
}

impl State {
    /// The word the command line and the web page show: `open`, `answered`, `closed` (the
    /// same word the store and `--json` use).
    pub fn word(self) -> &'static str {
        match self {
            State::Open => "open",
            State::Answered => "answered",
            State::Closed => "closed",
        }
    }
}

/// Something that happened to a case, for its timeline.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    /// When.
    pub at: DateTime<Utc>,
    /// What, in a short sentence.
    pub what: String,
    /// Who did it, when a person did (the address of the operator, officer or web user);
    /// `None` for what kvittens did by itself. Older stores have none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by: Option<String>,
}

/// A resident's matter. Holds metadata only: addresses, subject, ids, times — never the body.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Case {
    /// The case number.
    pub number: String,
    /// The department id.
    pub department: String,
    /// What kind of matter.
    pub category: Category,
    /// The resident's language.
    pub language: Language,
    /// Who wrote, and where replies go.
    pub resident: Person,
    /// The subject of the first message (cleaned).
    pub subject: String,
    /// Who handles it.
    pub officer: Contact,
    /// When the officer stands in for an absent colleague, that colleague.
    pub substitute_for: Option<Contact>,
    /// When the first message reached the mailbox.
    pub received: DateTime<Utc>,
    /// When the resident is to have an answer.
    pub reply_due: DateTime<Utc>,
    /// The expected decision date named in the receipt.
    pub decision_due: DateTime<Utc>,
    /// Message-IDs of the thread: the resident's messages and what kvittens sent.
    pub message_ids: Vec<String>,
    /// Where the case stands.
    pub state: State,
    /// What happened, oldest first.
    pub events: Vec<Event>,
    /// When staff last answered.
    #[serde(default)]
    pub answered_at: Option<DateTime<Utc>>,
    /// Whether the resident has been told the decision is delayed (told once).
    #[serde(default)]
    pub delay_told: bool,
    /// Why a person should look at this case (e.g. a sender that failed authentication, or a
    /// receipt that could not be delivered).
    #[serde(default)]
    pub flagged: Option<String>,
    /// Why no receipt went when the case opened (`code: detail`, the codes of
    /// `compose::NoticeFacts::no_receipt`); `None` when it went. Cleared when a registrar
    /// sends it after all.
    #[serde(default)]
    pub no_receipt: Option<String>,
    /// A fault report's type, as named in the department's fault catalogue
    /// (`[[department.fault_type]] name`); `None` for other categories and for a fault report
    /// that matched no type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fault_type: Option<String>,
    /// The contacts staff recorded with the resident (`kvittens case contact`), oldest first:
    /// a phone call or a visit leaves no mail to detect, and the policy asks that a
    /// complaint's contact be made within a week.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub contacts: Vec<ContactMade>,
    /// What was done about the matter (`kvittens case measure`), oldest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub measures: Vec<Measure>,
    /// How the case ended, as the person closing it wrote it (`kvittens case close --outcome`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome: Option<String>,
    /// When the case was found open six months after it arrived (förvaltningslagen 2017:900
    /// § 12: the resident may then demand a decision); the manager is told once, then.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub six_months: Option<DateTime<Utc>>,
    /// Whether the six-month check is in the schedule: set for every case this version opens,
    /// and by the daily housekeeping for cases opened before it.
    #[serde(default)]
    pub six_months_scheduled: bool,
}

/// How contact with the resident was made.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ContactWay {
    /// By telephone.
    Phone,
    /// A visit (at the resident's or at the office).
    Visit,
    /// By e-mail (one kvittens did not see, e.g. from a personal mailbox).
    Mail,
    /// By letter.
    Letter,
}

impl ContactWay {
    /// Every way, in the order the command line lists them.
    pub const ALL: [ContactWay; 4] = [
        ContactWay::Phone,
        ContactWay::Visit,
        ContactWay::Mail,
        ContactWay::Letter,
    ];

    /// The word the command line takes and the report counts by: `phone`, `visit`, `mail`,
    /// `letter`.
    pub fn key(self) -> &'static str {
        match self {
            ContactWay::Phone => "phone",
            ContactWay::Visit => "visit",
            ContactWay::Mail => "mail",
            ContactWay::Letter => "letter",
        }
    }

    /// The way named by `key` (see [`ContactWay::key`]); `None` for another word.
    pub fn from_key(key: &str) -> Option<ContactWay> {
        ContactWay::ALL
            .into_iter()
            .find(|w| w.key().eq_ignore_ascii_case(key.trim()))
    }
}

/// A contact with the resident, as staff recorded it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContactMade {
    /// How.
    pub way: ContactWay,
    /// The local day it was made.
    pub on: NaiveDate,
    /// What was said or agreed, in the recorder's words.
    pub note: String,
    /// Who recorded it (address or user name).
    pub by: String,
    /// When it was recorded.
    pub recorded: DateTime<Utc>,
}

/// A measure taken about the matter, as staff recorded it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Measure {
    /// What was done.
    pub note: String,
    /// Who recorded it.
    pub by: String,
    /// When it was recorded.
    pub at: DateTime<Utc>,
}

/// What a case's reply deadline is the deadline for, as staff lists name it: a complaint's is
/// the manager's contact with the resident, a catalogued fault's the day it is put right, every
/// other case's the answer. A list that said "answer by" for each would promise the wrong thing
/// for the first two.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Due {
    /// The answer ("answer by", "svar senast").
    Answer,
    /// A complaint's contact ("contact by", "kontakt senast").
    Contact,
    /// A catalogued fault put right ("done by", "åtgärdat senast").
    Done,
}

impl Case {
    /// What the case's `reply_due` is the deadline for.
    pub fn due(&self) -> Due {
        if self.category == Category::Complaint {
            Due::Contact
        } else if self.category == Category::FaultReport && self.fault_type.is_some() {
            Due::Done
        } else {
            Due::Answer
        }
    }

    /// Why the resident may get no mail about this case after its opening (a delay notice, a
    /// move), if so: no receipt went when it opened (an unverified sender, a machine, a
    /// registrar's choice — a later mail must not reach where the receipt did not), or the case
    /// has no address, or its address was erased (GDPR art. 17). `None` when they may be told.
    pub fn resident_not_told(&self) -> Option<String> {
        if let Some(why) = &self.no_receipt {
            return Some(format!("no receipt went when the case opened ({why})"));
        }
        if !self.resident.email.contains('@') {
            return Some("the case has no address mail can go to".to_string());
        }
        None
    }

    /// Adds an event kvittens did by itself to the timeline.
    pub fn log(&mut self, at: DateTime<Utc>, what: impl Into<String>) {
        self.events.push(Event {
            at,
            what: one_line(&what.into()),
            by: None,
        });
    }

    /// Adds an event a person did to the timeline; `by` is their address (or, on the
    /// command line without one, the operator's user name).
    pub fn log_by(&mut self, at: DateTime<Utc>, by: &str, what: impl Into<String>) {
        self.events.push(Event {
            at,
            what: one_line(&what.into()),
            by: Some(one_line(by)),
        });
    }
}

/// `text` as one line of a timeline or a list: every control character (a line break, a
/// terminal escape, a bell) becomes a space and runs of them one space, so that a note typed on
/// the web page or the command line can neither forge a second timeline line nor drive the
/// terminal of whoever runs `case show`. Used for every staff note kvittens keeps.
pub fn one_line(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut space = false;
    for ch in text.chars() {
        if ch.is_control() || ch.is_whitespace() {
            space = true;
        } else {
            if space && !out.is_empty() {
                out.push(' ');
            }
            space = false;
            out.push(ch);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::{one_line, State};

    #[test]
    fn a_note_becomes_one_line_without_control_characters() {
        let forged =
            "Ringde\u{1b}]0;owned\u{7}\u{1b}[2J\n  2026-01-01 09:00:00  closed by hand\r\n";
        let clean = one_line(forged);
        assert_eq!(
            clean,
            "Ringde ]0;owned [2J 2026-01-01 09:00:00 closed by hand"
        );
        assert!(!clean.chars().any(char::is_control));
        assert_eq!(one_line("  två   ord\t"), "två ord");
    }

    #[test]
    fn a_state_is_shown_with_the_word_it_is_stored_as() {
        for state in [State::Open, State::Answered, State::Closed] {
            let stored = serde_json::to_string(&state).unwrap();
            assert_eq!(stored, format!("\"{}\"", state.word()));
        }
    }
}
