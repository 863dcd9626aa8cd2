//! The figures of the web page's overview: per department and per officer the open cases, those
//! due today, overdue and flagged; and per day of the last week the cases received, the
//! receipts that went and the answers given in time. Read from the cases themselves (the week
//! is well inside any `retention`), so they are today's truth, not a report's totals.

use crate::app::admin::AdminError;
use crate::app::engine::Engine;
use crate::config::Department;
use crate::model::{Case, Contact, State};
use chrono::{DateTime, NaiveDate, Utc};

/// How many days the overview's week has (today included).
pub const WEEK_DAYS: u64 = 7;

/// The counts of one department or one officer.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Figures {
    /// Open cases (waiting for the officer).
    pub open: usize,
    /// Open cases whose reply deadline is later today.
    pub due_today: usize,
    /// Open cases past their reply deadline.
    pub overdue: usize,
    /// Cases not closed that are flagged for a person.
    pub flagged: usize,
}

impl Figures {
    fn count(&mut self, dept: &Department, c: &Case, now: DateTime<Utc>) {
        let cal = &dept.calendar;
        if c.state == State::Open {
            self.open += 1;
            if c.reply_due < now {
                self.overdue += 1;
            } else if cal.local_date(c.reply_due) == cal.local_date(now) {
                self.due_today += 1;
            }
        }
        if c.state != State::Closed && c.flagged.is_some() {
            self.flagged += 1;
        }
    }
}

/// One local day of the week.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Day {
    /// The department's local date.
    pub date: NaiveDate,
    /// Cases whose first mail reached the mailbox that day.
    pub received: usize,
    /// Of those, the ones whose receipt went (or waits in the outbox): not withheld.
    pub receipts: usize,
    /// Cases first answered that day.
    pub answered: usize,
    /// Of those, answered by their reply deadline.
    pub answered_in_time: usize,
}

/// One department's overview.
#[derive(Clone, Debug, PartialEq)]
pub struct DepartmentView {
    /// The department id.
    pub id: String,
    /// Its name.
    pub name: String,
    /// Its counts.
    pub figures: Figures,
    /// Per officer who has cases or is configured: the configured ones first, in config order.
    pub officers: Vec<(Contact, Figures)>,
    /// The last [`WEEK_DAYS`] local days, oldest first.
    pub week: Vec<Day>,
}

/// The overview of the departments `ids` (in config order) at `now`.
///
/// # Errors
/// [`AdminError::Store`] when the cases cannot be read.
pub fn overview(
    engine: &Engine,
    ids: &[String],
    now: DateTime<Utc>,
) -> Result<Vec<DepartmentView>, AdminError> {
    let cfg = engine.cfg();
    let cases = crate::app::admin::cases(engine, None, crate::app::admin::Filter::All, now)?;
    Ok(cfg
        .departments
        .iter()
        .filter(|d| ids.contains(&d.id))
        .map(|d| department(d, &cases, now))
        .collect())
}

/// `dept`'s overview from `cases` (of any department) at `now`.
pub fn department(dept: &Department, cases: &[Case], now: DateTime<Utc>) -> DepartmentView {
    let mine: Vec<&Case> = cases.iter().filter(|c| c.department == dept.id).collect();
    let mut figures = Figures::default();
    let mut officers: Vec<(Contact, Figures)> = dept
        .officers
        .iter()
        .map(|o| (o.contact.clone(), Figures::default()))
        .collect();
    for c in &mine {
        figures.count(dept, c, now);
        let at = officers
            .iter()
            .position(|(o, _)| o.email.eq_ignore_ascii_case(&c.officer.email));
        let at = at.unwrap_or_else(|| {
            officers.push((c.officer.clone(), Figures::default()));
            officers.len() - 1
        });
        officers[at].1.count(dept, c, now);
    }
    DepartmentView {
        id: dept.id.clone(),
        name: dept.name.clone(),
        figures,
        officers,
        week: week(dept, &mine, now),
    }
}

fn week(dept: &Department, cases: &[&Case], now: DateTime<Utc>) -> Vec<Day> {
    let cal = &dept.calendar;
    let today = cal.local_date(now);
    (0..WEEK_DAYS)
        .rev()
        .filter_map(|back| today.checked_sub_days(chrono::Days::new(back)))
        .map(|date| {
            let received: Vec<&&Case> = cases
                .iter()
                .filter(|c| cal.local_date(c.received) == date)
                .collect();
            let answered: Vec<(&&Case, DateTime<Utc>)> = cases
                .iter()
                .filter_map(|c| c.answered_at.map(|a| (c, a)))
                .filter(|(_, a)| cal.local_date(*a) == date)
                .collect();
            Day {
                date,
                received: received.len(),
                receipts: received.iter().filter(|c| c.no_receipt.is_none()).count(),
                answered: answered.len(),
                answered_in_time: answered.iter().filter(|(c, a)| *a <= c.reply_due).count(),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::{case, se, Sample, OLLE_AND_ADA};

    #[test]
    fn each_case_counts_where_it_stands_for_its_department_and_officer() {
        let dept = Sample {
            officers: OLLE_AND_ADA,
            ..Sample::default()
        }
        .department();
        let now = se("2026-12-03 10:00");
        let olle = Contact {
            name: "Olle".into(),
            email: "o1@kommun.test".into(),
        };
        let mk = |n: &str, due: &str, state: State, flagged: bool| {
            let mut c = case(n, &[]);
            c.officer = olle.clone();
            c.received = se("2026-12-01 09:00");
            c.reply_due = se(due);
            c.state = state;
            c.flagged = flagged.then(|| "x".to_string());
            c
        };
        let mut answered = mk("BMN-2026-0004", "2026-12-04 16:00", State::Answered, false);
        answered.answered_at = Some(se("2026-12-02 11:00"));
        let mut other = mk("SOC-2026-0001", "2026-12-01 16:00", State::Open, true);
        other.department = "soc".into();
        let mut withheld = mk("BMN-2026-0005", "2026-12-09 16:00", State::Open, true);
        withheld.no_receipt = Some("unverified_sender: dmarc=fail".into());
        withheld.officer.email = "m@kommun.test".into();
        let cases = vec![
            mk("BMN-2026-0001", "2026-12-02 16:00", State::Open, false),
            mk("BMN-2026-0002", "2026-12-03 16:00", State::Open, true),
            mk("BMN-2026-0003", "2026-12-01 16:00", State::Closed, true),
            answered,
            other,
            withheld,
        ];
        let o = department(&dept, &cases, now);
        let want = Figures {
            open: 3,
            due_today: 1,
            overdue: 1,
            flagged: 2,
        };
        assert_eq!(o.figures, want);
        assert_eq!(
            o.officers.len(),
            3,
            "Olle, Ada and the case owner not configured"
        );
        assert_eq!(o.officers[0].1.open, 2);
        assert_eq!(o.officers[1].1, Figures::default(), "Ada has none");
        assert_eq!(o.officers[2].0.email, "m@kommun.test");
        assert_eq!(o.week.len(), 7);
        let dec = |d| NaiveDate::from_ymd_opt(2026, 12, d).unwrap();
        assert_eq!(o.week[6].date, dec(3));
        let first = o.week.iter().find(|d| d.date == dec(1)).unwrap();
        assert_eq!((first.received, first.receipts), (5, 4));
        let second = o.week.iter().find(|d| d.date == dec(2)).unwrap();
        assert_eq!((second.answered, second.answered_in_time), (1, 1));
    }
}
