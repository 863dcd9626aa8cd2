//! Kinds of matter and of language: what the config names per department, the decision picks per
//! message and the mails word per resident.

use serde::{Deserialize, Serialize};

/// What kind of matter a message is; decides the decision deadline and the receipt's wording.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    /// A question (the default): answered within the reply deadline.
    Question,
    /// An application (ansökan): decided by the decision date.
    Application,
    /// A fault report (felanmälan).
    FaultReport,
    /// A complaint (klagomål): taken up by the manager within a week.
    Complaint,
}

impl Category {
    /// Every category, in config order.
    pub const ALL: [Category; 4] = [
        Category::Question,
        Category::Application,
        Category::FaultReport,
        Category::Complaint,
    ];

    /// The name used in the config and in JSON output.
    pub fn key(self) -> &'static str {
        match self {
            Category::Question => "question",
            Category::Application => "application",
            Category::FaultReport => "fault_report",
            Category::Complaint => "complaint",
        }
    }

    /// Reads a config name.
    pub fn from_key(key: &str) -> Option<Category> {
        Category::ALL.into_iter().find(|c| c.key() == key)
    }
}

/// The language of the receipt.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Language {
    /// Swedish, the default.
    Sv,
    /// English, when the resident clearly wrote in English.
    En,
}

impl Language {
    /// The code used in template file names and JSON output.
    pub fn code(self) -> &'static str {
        match self {
            Language::Sv => "sv",
            Language::En => "en",
        }
    }
}

/// The words that name each category, lower-case. A word counts at the start of a word of the
/// text ("klagomål" finds "klagomålet", "klaga" does not find "beklagar"), in the subject and
/// in the first lines of the body; per department in `categories.<name>.words`, these
/// Swedish and English words otherwise.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CategoryWords(Vec<(Category, Vec<String>)>);

impl Default for CategoryWords {
    fn default() -> Self {
        let words = |w: &[&str]| w.iter().map(|s| s.to_string()).collect();
        CategoryWords(vec![
            (
                Category::Complaint,
                words(&["klagomål", "klaga", "reklamation", "complaint", "complain"]),
            ),
            (
                Category::FaultReport,
                words(&["felanmälan", "felanmäla", "fault report", "report a fault"]),
            ),
            (
                Category::Application,
                words(&["ansökan", "ansöka", "application", "apply for"]),
            ),
            (Category::Question, Vec::new()),
        ])
    }
}

impl CategoryWords {
    /// Replaces the words of one category (lower-cased).
    pub fn set(&mut self, category: Category, words: &[String]) {
        let words: Vec<String> = words.iter().map(|w| w.trim().to_lowercase()).collect();
        match self.0.iter_mut().find(|(c, _)| *c == category) {
            Some((_, w)) => *w = words,
            None => self.0.push((category, words)),
        }
    }

    /// The words of one category.
    pub fn of(&self, category: Category) -> &[String] {
        self.0
            .iter()
            .find(|(c, _)| *c == category)
            .map_or(&[], |(_, w)| w.as_slice())
    }

    /// The first category (complaint, fault report, application, question) whose words `text`
    /// contains.
    pub fn find(&self, text: &str) -> Option<Category> {
        let text = text.to_lowercase();
        self.0
            .iter()
            .find(|(_, words)| words.iter().any(|w| has_word(&text, w)))
            .map(|(c, _)| *c)
    }
}

/// Whether `word` occurs in `text` at the start of a word (both lower-case): the one rule for
/// category words and fault types' words.
pub fn has_word(text: &str, word: &str) -> bool {
    !word.is_empty()
        && text.match_indices(word).any(|(i, _)| {
            text[..i]
                .chars()
                .next_back()
                .is_none_or(|c| !c.is_alphanumeric())
        })
}

/// What an outgoing mail is: it decides the Message-ID, the order in which the outbox sends
/// (a receipt first) and the words in a case's timeline.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// The receipt (kvittens) to the resident.
    Receipt,
    /// The new-case notice to the officer.
    OfficerNotice,
    /// A reminder to the officer before the deadline.
    Reminder,
    /// A late case, told to a manager.
    Escalation,
    /// The manager asked to set a new decision date.
    NewDate,
    /// The resident told of a delayed decision.
    Delay,
    /// A complaint, told to the manager at once.
    Complaint,
    /// The manager's daily digest.
    Digest,
    /// The officer told that a receipt bounced.
    Undeliverable,
    /// The report to the nämnd, mailed to `report_to`.
    Report,
    /// The manager told that a case has been open six months (förvaltningslagen § 12).
    SixMonths,
    /// The resident told that their case moved to another department (förvaltningslagen § 4).
    Moved,
}

impl Kind {
    /// A word for logs and timelines.
    pub fn word(self) -> &'static str {
        match self {
            Kind::Receipt => "receipt",
            Kind::OfficerNotice => "officer notice",
            Kind::Reminder => "reminder",
            Kind::Escalation => "escalation",
            Kind::NewDate => "request for a new decision date",
            Kind::Delay => "delay notice",
            Kind::Complaint => "complaint notice to the manager",
            Kind::Digest => "digest",
            Kind::Undeliverable => "undeliverable receipt notice",
            Kind::Report => "report to the nämnd",
            Kind::SixMonths => "six-month notice to the manager",
            Kind::Moved => "notice of the move",
        }
    }
}
