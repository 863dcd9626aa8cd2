//! Daily totals per department: the figures of the report to the nämnd (the municipal board
//! that answers for a department), kept as plain numbers so that they outlive the cases.
//!
//! The service policy asks every administration to document and analyse its complaints and to
//! report back to its nämnd, and a yearly report must be whole after `retention` has purged the
//! cases it counts. So every change that a report figure depends on adds a [`Tick`] to its
//! department's [`DayTally`] in the same store transaction as the change itself: nothing is
//! counted twice after a crash, and nothing of a person (no address, no subject, no case
//! number) is kept in a tally.
//!
//! A day is the municipality's local calendar day (Europe/Stockholm unless the department's
//! calendar says otherwise) on which the counted thing happened: a mail on the day it reached
//! the mailbox (förvaltningslagen 2017:900 § 22), an answer on the day it was given.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One department's counts for one local day. Every field is a count unless its doc says
/// otherwise; a field a version does not know reads as zero (`serde(default)`), so a newer
/// version can add figures without a schema migration.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct DayTally {
    /// Residents' mails read from the department's mailbox (with a case or without).
    pub received: u64,
    /// Cases opened, by category key (`question`, `application`, `fault_report`,
    /// `complaint`; see [`crate::model::Category::key`]).
    pub cases: BTreeMap<String, u64>,
    /// Mails that got no case, by reason code (the ignored list's and the decision's codes:
    /// `auto-submitted`, `bounce`, `list`, …).
    pub no_case: BTreeMap<String, u64>,
    /// Of the mails that got no case, those a registrar later opened a case from (`ignored
    /// open`), counted on the day the mail reached the mailbox.
    pub no_case_opened: u64,
    /// Receipts sent (handed to the SMTP server), counted on the day they went.
    pub receipts: u64,
    /// Of those, sent within one hour of the mail reaching the mailbox.
    pub receipts_within_1h: u64,
    /// Of those, sent on the same local day the mail reached the mailbox.
    pub receipts_same_day: u64,
    /// Of those, sent within one dygn (24 hours): the policy's promise.
    pub receipts_within_1d: u64,
    /// The slowest receipt of the day, in seconds from arrival to sending.
    pub receipt_slowest_secs: u64,
    /// Cases answered (the officer's reply seen, or a contact recorded), on the day of the answer.
    pub answered: u64,
    /// Of those, answered by the reply deadline.
    pub answered_in_time: u64,
    /// Each answer's time from arrival, in minutes (no personal data; kept for the median).
    pub answer_minutes: Vec<u64>,
    /// Escalations to a manager (late cases).
    pub escalations: u64,
    /// Complaints on which contact was recorded (`case contact`), on the day recorded.
    pub complaints_contacted: u64,
    /// Of those, contacted within the complaint's contact deadline (a week by default).
    pub complaints_contacted_in_time: u64,
    /// Contacts recorded, by how (`phone`, `visit`, `mail`, `letter`), any category.
    pub contacts_by: BTreeMap<String, u64>,
    /// Measures recorded (`case measure`).
    pub measures: u64,
    /// Fault reports opened, by fault type name (`""` for none matched).
    pub fault_types: BTreeMap<String, u64>,
    /// Fault reports closed or answered (done), on the day done.
    pub faults_done: u64,
    /// Of those, done by the date the receipt named.
    pub faults_done_in_time: u64,
    /// Delay notices to residents (förvaltningslagen § 11).
    pub delay_notices: u64,
    /// Cases that reached six months open (förvaltningslagen § 12), on the day flagged.
    pub six_months: u64,
    /// Cases closed by hand (`case close`), by outcome as [`outcome_key`] writes it (`""` for
    /// none given).
    pub closed: BTreeMap<String, u64>,
    /// Cases moved to another department (förvaltningslagen § 4), counted at the department
    /// they left.
    pub moved_out: u64,
}

impl DayTally {
    /// Adds `other` to this tally: counts summed, the slowest receipt the larger of the two,
    /// the answer times appended.
    pub fn add(&mut self, other: &DayTally) {
        self.received += other.received;
        add_map(&mut self.cases, &other.cases);
        add_map(&mut self.no_case, &other.no_case);
        self.no_case_opened += other.no_case_opened;
        self.receipts += other.receipts;
        self.receipts_within_1h += other.receipts_within_1h;
        self.receipts_same_day += other.receipts_same_day;
        self.receipts_within_1d += other.receipts_within_1d;
        self.receipt_slowest_secs = self.receipt_slowest_secs.max(other.receipt_slowest_secs);
        self.answered += other.answered;
        self.answered_in_time += other.answered_in_time;
        self.answer_minutes.extend_from_slice(&other.answer_minutes);
        self.escalations += other.escalations;
        self.complaints_contacted += other.complaints_contacted;
        self.complaints_contacted_in_time += other.complaints_contacted_in_time;
        add_map(&mut self.contacts_by, &other.contacts_by);
        self.measures += other.measures;
        add_map(&mut self.fault_types, &other.fault_types);
        self.faults_done += other.faults_done;
        self.faults_done_in_time += other.faults_done_in_time;
        self.delay_notices += other.delay_notices;
        self.six_months += other.six_months;
        add_map(&mut self.closed, &other.closed);
        self.moved_out += other.moved_out;
    }

    /// Whether nothing is counted (a tick that adds nothing is not written).
    pub fn is_empty(&self) -> bool {
        *self == DayTally::default()
    }
}

/// The outcomes the daily totals count by name, lower-case: the usual verdicts on a complaint
/// (klagomål) in Swedish and English. Any other outcome is counted as [`OTHER_OUTCOME`]: an
/// outcome is free text that may name a person ("befogat, Sara Berg fick ny tömning"), and the
/// daily totals are kept for good and must name no one. The case itself keeps the text as
/// typed (and `person erase` erases it there).
pub const OUTCOMES: [&str; 12] = [
    "befogat",
    "delvis befogat",
    "ej befogat",
    "inte befogat",
    "obefogat",
    "åtgärdat",
    "ingen åtgärd",
    "justified",
    "partly justified",
    "not justified",
    "resolved",
    "no action",
];

/// How the daily totals count an outcome that is not one of [`OUTCOMES`].
pub const OTHER_OUTCOME: &str = "(other)";

/// A closed case's outcome as the report counts it: trimmed, runs of white space made one
/// space, lower-case — so that "befogat", " Befogat" and "BEFOGAT " typed by different people
/// are one outcome — and then one of [`OUTCOMES`], or [`OTHER_OUTCOME`] for any other text;
/// `""` when none was given.
pub fn outcome_key(outcome: &str) -> String {
    let key = outcome
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase();
    if key.is_empty() || OUTCOMES.contains(&key.as_str()) {
        key
    } else {
        OTHER_OUTCOME.to_string()
    }
}

fn add_map(to: &mut BTreeMap<String, u64>, from: &BTreeMap<String, u64>) {
    for (k, v) in from {
        *to.entry(k.clone()).or_default() += v;
    }
}

/// What one change adds to one department's day: written with the change, in its transaction.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tick {
    /// The department id.
    pub department: String,
    /// The local day counted on.
    pub day: NaiveDate,
    /// What to add.
    pub add: DayTally,
}

impl Tick {
    /// A tick for `department` on `day` that adds what `set` writes into an empty tally, e.g.
    /// `Tick::new("bygg", day, |t| t.escalations = 1)`.
    pub fn new(department: &str, day: NaiveDate, set: impl FnOnce(&mut DayTally)) -> Tick {
        let mut add = DayTally::default();
        set(&mut add);
        Tick {
            department: department.to_string(),
            day,
            add,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adding_sums_counts_keeps_the_slowest_and_appends_answer_times() {
        let day = NaiveDate::from_ymd_opt(2026, 3, 2).unwrap();
        let mut t = Tick::new("bygg", day, |t| {
            t.received = 2;
            t.cases.insert("complaint".into(), 1);
            t.receipt_slowest_secs = 30;
            t.answer_minutes = vec![10];
        })
        .add;
        let other = Tick::new("bygg", day, |t| {
            t.received = 1;
            t.cases.insert("complaint".into(), 2);
            t.cases.insert("question".into(), 1);
            t.receipt_slowest_secs = 20;
            t.answer_minutes = vec![5];
        })
        .add;
        t.add(&other);
        assert_eq!(t.received, 3);
        assert_eq!(t.cases["complaint"], 3);
        assert_eq!(t.cases["question"], 1);
        assert_eq!(t.receipt_slowest_secs, 30);
        assert_eq!(t.answer_minutes, vec![10, 5]);
        assert!(!t.is_empty());
        assert!(DayTally::default().is_empty());
    }

    #[test]
    fn a_tally_written_by_an_older_version_reads_with_zeros_for_new_figures() {
        let t: DayTally = serde_json::from_str(r#"{"received":4}"#).unwrap();
        assert_eq!(t.received, 4);
        assert_eq!(t.measures, 0);
    }
}
