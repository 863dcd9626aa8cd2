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
}
