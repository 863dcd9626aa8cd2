//! What a change adds to the daily totals of the report ([`crate::model::tally`]): the ticks of
//! the common events, worked out in one place so that every way a case is opened or answered
//! (a mail, a command, the web page) counts the same. A change carries its ticks in
//! [`crate::store::Effects::ticks`], so a tick is written with the change or not at all.

use crate::config::Department;
use crate::model::tally::Tick;
use crate::model::{Case, Category};
use chrono::{DateTime, Utc};

/// A case opened: one more case of its category, and for a fault report one more of its
/// type (`""` when it matched none). Counted on the day the mail reached the mailbox.
pub fn opened(dept: &Department, case: &Case) -> Tick {
    let day = dept.calendar.local_date(case.received);
    Tick::new(&dept.id, day, |t| {
        t.cases.insert(case.category.key().to_string(), 1);
        if case.category == Category::FaultReport {
            t.fault_types
                .insert(case.fault_type.clone().unwrap_or_default(), 1);
        }
    })
}

/// A case answered at `at` (the officer's reply seen, or a contact recorded): in time when by
/// its reply deadline; the time from arrival in minutes, for the median. A fault report is
/// also done, in time when by the date its receipt named (`decision_due`). Call it only for
/// the first answer of a case (`answered_at` was `None`), so that a case counts once.
pub fn answered(dept: &Department, case: &Case, at: DateTime<Utc>) -> Tick {
    let day = dept.calendar.local_date(at);
    let minutes = (at - case.received).num_minutes().max(0) as u64;
    Tick::new(&dept.id, day, |t| {
        t.answered = 1;
        t.answered_in_time = u64::from(at <= case.reply_due);
        t.answer_minutes = vec![minutes];
        if case.category == Category::FaultReport {
            t.faults_done = 1;
            t.faults_done_in_time = u64::from(at <= case.decision_due);
        }
    })
}

/// A mail read from the department's inbox (a new case, a follow-up, or a mail that gets no
/// case), on the day it reached the mailbox (förvaltningslagen 2017:900 § 22). Not counted:
/// kvittens' own copies, staff answers and bounces of kvittens' receipts — none is a mail to
/// the department.
pub fn received(dept: &Department, at: DateTime<Utc>) -> Tick {
    Tick::new(&dept.id, dept.calendar.local_date(at), |t| t.received = 1)
}

/// A mail in the inbox that got no case, with the decision's reason code (`automatic`,
/// `internal`, `duplicate`, …): received, and counted under its reason.
pub fn no_case(dept: &Department, at: DateTime<Utc>, reason: &str) -> Tick {
    Tick::new(&dept.id, dept.calendar.local_date(at), |t| {
        t.received = 1;
        t.no_case.insert(reason.to_string(), 1);
    })
}

/// A case opened by a registrar from the ignored list (`kvittens ignored open`): the mail was
/// counted under its no-case reason when it came; this says it has a case after all. Counted
/// on the day the mail reached the mailbox, beside that first count.
pub fn opened_from_no_case(dept: &Department, case: &Case) -> Tick {
    Tick::new(&dept.id, dept.calendar.local_date(case.received), |t| {
        t.no_case_opened = 1;
    })
}

/// A receipt the SMTP server took at `sent` (its answer, or the copy that proves it): how long
/// after the mail reached the mailbox, against the policy's promises — within one hour, the
/// same local day, within one dygn (24 hours) — and the slowest. Counted on the day it went.
pub fn receipt_sent(dept: &Department, case: &Case, sent: DateTime<Utc>) -> Tick {
    let cal = &dept.calendar;
    let secs = (sent - case.received).num_seconds().max(0) as u64;
    Tick::new(&dept.id, cal.local_date(sent), |t| {
        t.receipts = 1;
        t.receipts_within_1h = u64::from(secs <= 3_600);
        t.receipts_same_day = u64::from(cal.local_date(sent) == cal.local_date(case.received));
        t.receipts_within_1d = u64::from(secs <= 86_400);
        t.receipt_slowest_secs = secs;
    })
}

/// A case that passed its reply deadline open, told to a manager at `at`: counted once per
/// deadline (the first escalation; the daily repeats and the second level are the same
/// lateness).
pub fn escalated(dept: &Department, at: DateTime<Utc>) -> Tick {
    Tick::new(&dept.id, dept.calendar.local_date(at), |t| {
        t.escalations = 1
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::{case, Sample};

    #[test]
    fn an_answer_after_the_deadline_counts_as_answered_not_in_time() {
        let dept = &Sample::default().department();
        let mut c = case("BMN-2026-0001", &[]);
        c.category = Category::FaultReport;
        c.reply_due = c.received + chrono::Duration::days(3);
        c.decision_due = c.reply_due;
        let late = c.reply_due + chrono::Duration::minutes(1);
        let t = answered(dept, &c, late).add;
        assert_eq!((t.answered, t.answered_in_time), (1, 0));
        assert_eq!(
            t.answer_minutes,
            vec![(late - c.received).num_minutes() as u64]
        );
        assert_eq!(t.faults_done, 1);
        let on_time = answered(dept, &c, c.received).add;
        assert_eq!(
            (on_time.answered_in_time, on_time.answer_minutes[0]),
            (1, 0)
        );
    }

    #[test]
    fn a_fault_report_is_counted_by_its_type_and_a_question_by_its_category_only() {
        let dept = &Sample::default().department();
        let mut c = case("BMN-2026-0001", &[]);
        c.category = Category::FaultReport;
        c.fault_type = Some("Gatubelysning".into());
        let t = opened(dept, &c).add;
        assert_eq!(t.cases["fault_report"], 1);
        assert_eq!(t.fault_types["Gatubelysning"], 1);
        c.category = Category::Question;
        assert!(opened(dept, &c).add.fault_types.is_empty());
    }

    #[test]
    fn a_receipt_is_measured_against_the_hour_the_day_and_the_dygn() {
        let dept = &Sample::default().department();
        let mut c = case("BMN-2026-0001", &[]);
        // 2026-03-02 23:30 in Stockholm (UTC+1).
        c.received = chrono::DateTime::parse_from_rfc3339("2026-03-02T22:30:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let at = |mins: i64| c.received + chrono::Duration::minutes(mins);
        let t = receipt_sent(dept, &c, at(1)).add;
        assert_eq!(
            (
                t.receipts,
                t.receipts_within_1h,
                t.receipts_same_day,
                t.receipts_within_1d
            ),
            (1, 1, 1, 1)
        );
        assert_eq!(t.receipt_slowest_secs, 60);
        // 00:30 the next local day: within the hour and the dygn, not the same day.
        let t = receipt_sent(dept, &c, at(60)).add;
        assert_eq!(
            (
                t.receipts_within_1h,
                t.receipts_same_day,
                t.receipts_within_1d
            ),
            (1, 0, 1)
        );
        let t = receipt_sent(dept, &c, at(24 * 60 + 1)).add;
        assert_eq!(
            (
                t.receipts_within_1h,
                t.receipts_same_day,
                t.receipts_within_1d
            ),
            (0, 0, 0)
        );
        assert_eq!(t.receipt_slowest_secs, 86_460);
    }

    #[test]
    fn a_mail_without_a_case_is_received_and_counted_by_its_reason() {
        let dept = &Sample::default().department();
        let t = no_case(dept, Utc::now(), "automatic").add;
        assert_eq!((t.received, t.no_case["automatic"]), (1, 1));
        assert_eq!(received(dept, Utc::now()).add.received, 1);
    }
}
