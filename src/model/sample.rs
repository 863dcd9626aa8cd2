//! One sample case, built field by field in one place: the template check renders it at
//! start-up, and the unit tests, the integration tests and the benchmark start from it (with
//! `Case { field: …, ..Case::sample(…) }`), so that a field added to [`Case`] is added here once.

use crate::model::case::{Case, State};
use crate::model::kinds::{Category, Language};
use crate::model::people::{Contact, Person};
use chrono::{DateTime, Utc};

impl Case {
    /// An open question case `number` of department `bygg` from `a@example.org`, handled by
    /// officer `O <o@kommun.test>`, with the message ids `ids`, received and due at `at`, and
    /// nothing else yet (no events, no flags, no contacts). Not a case kvittens would open from
    /// mail — that is [`crate::rules`]' work — but a complete value to fill in.
    #[doc(hidden)]
    pub fn sample(number: &str, ids: &[&str], at: DateTime<Utc>) -> Case {
        Case {
            number: number.into(),
            department: "bygg".into(),
            category: Category::Question,
            language: Language::Sv,
            resident: Person {
                name: None,
                email: "a@example.org".into(),
            },
            subject: "s".into(),
            officer: Contact {
                name: "O".into(),
                email: "o@kommun.test".into(),
            },
            substitute_for: None,
            received: at,
            reply_due: at,
            decision_due: at,
            message_ids: ids.iter().map(|s| s.to_string()).collect(),
            state: State::Open,
            events: vec![],
            answered_at: None,
            delay_told: false,
            flagged: None,
            no_receipt: None,
            fault_type: None,
            contacts: Vec::new(),
            measures: Vec::new(),
            outcome: None,
            six_months: None,
            six_months_scheduled: false,
        }
    }
}
