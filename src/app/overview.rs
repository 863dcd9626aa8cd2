//! The figures of the web page's overview: per department and per officer the open cases, those
//! due today, overdue, flagged and open six months (förvaltningslagen 2017:900 § 12), read from
//! the cases as they stand now; and per day of the last week the mails received, the receipts
//! that went and the answers given in time, read from the daily totals the report to the nämnd
//! is made of ([`crate::model::tally`]), so that the page and the report count the same way.

use crate::app::admin::AdminError;
use crate::app::engine::Engine;
use crate::config::Department;
use crate::model::tally::DayTally;
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
    /// Cases not closed that have been open six months (förvaltningslagen § 12: the resident
    /// may demand a decision).
    pub six_months: usize,
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
        if c.state != State::Closed && c.six_months.is_some() {
            self.six_months += 1;
        }
    }
}

/// One local day of the week, from its daily total.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Day {
    /// The department's local date.
    pub date: NaiveDate,
    /// Residents' mails that reached the mailbox that day (with a case or without).
    pub received: u64,
    /// Receipts sent that day.
    pub receipts: u64,
    /// Cases first answered that day.
    pub answered: u64,
    /// Of those, answered by their reply deadline.
    pub answered_in_time: u64,
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
/// [`AdminError::Store`] when the cases or the daily totals cannot be read.
pub fn overview(
    engine: &Engine,
    ids: &[String],
    now: DateTime<Utc>,
) -> Result<Vec<DepartmentView>, AdminError> {
    let cfg = engine.cfg();
    let cases = crate::app::admin::cases(engine, None, crate::app::admin::Filter::All, now)?;
    let mut views = Vec::new();
    for d in cfg.departments.iter().filter(|d| ids.contains(&d.id)) {
        let today = d.calendar.local_date(now);
        let first = today - chrono::Days::new(WEEK_DAYS - 1);
        let tallies = engine.store.tallies(Some(&d.id), first, today)?;
        let days: Vec<(NaiveDate, DayTally)> =
            tallies.into_iter().map(|(_, day, t)| (day, t)).collect();
        views.push(department(d, &cases, &days, now));
    }
    Ok(views)
}

/// `dept`'s overview from `cases` (of any department) and its daily totals `days` at `now`.
pub fn department(
    dept: &Department,
    cases: &[Case],
    days: &[(NaiveDate, DayTally)],
    now: DateTime<Utc>,
) -> DepartmentView {
    let mut figures = Figures::default();
    let mut officers: Vec<(Contact, Figures)> = dept
        .officers
        .iter()
        .map(|o| (o.contact.clone(), Figures::default()))
        .collect();
    for c in cases.iter().filter(|c| c.department == dept.id) {
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
        week: week(dept.calendar.local_date(now), days),
    }
}

/// The [`WEEK_DAYS`] days up to `today`, oldest first, each from its daily totals (zero for a
/// day with none).
fn week(today: NaiveDate, days: &[(NaiveDate, DayTally)]) -> Vec<Day> {
    (0..WEEK_DAYS)
        .rev()
        .filter_map(|back| today.checked_sub_days(chrono::Days::new(back)))
        .map(|date| {
            let mut t = DayTally::default();
            for (_, day) in days.iter().filter(|(d, _)| *d == date) {
                t.add(day);
            }
            Day {
                date,
                received: t.received,
                receipts: t.receipts,
                answered: t.answered,
                answered_in_time: t.answered_in_time,
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
        withheld.six_months = Some(se("2026-12-01 09:00"));
        let mut six_closed = mk("BMN-2026-0006", "2026-12-01 16:00", State::Closed, false);
        six_closed.six_months = Some(se("2026-12-01 09:00"));
        let cases = vec![
            mk("BMN-2026-0001", "2026-12-02 16:00", State::Open, false),
            mk("BMN-2026-0002", "2026-12-03 16:00", State::Open, true),
            mk("BMN-2026-0003", "2026-12-01 16:00", State::Closed, true),
            answered,
            other,
            withheld,
            six_closed,
        ];
        let dec = |d| NaiveDate::from_ymd_opt(2026, 12, d).unwrap();
        let tally = |received, receipts, answered, answered_in_time| DayTally {
            received,
            receipts,
            answered,
            answered_in_time,
            ..DayTally::default()
        };
        // Two ticks of one day add up; a day before the week is not in it.
        let days = [
            (dec(1), tally(3, 2, 0, 0)),
            (dec(1), tally(2, 2, 0, 0)),
            (dec(2), tally(0, 0, 2, 1)),
            (
                NaiveDate::from_ymd_opt(2026, 11, 26).unwrap(),
                tally(9, 9, 9, 9),
            ),
        ];
        let o = department(&dept, &cases, &days, now);
        let want = Figures {
            open: 3,
            due_today: 1,
            overdue: 1,
            flagged: 2,
            six_months: 1,
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
        assert_eq!(
            o.week[0].date,
            NaiveDate::from_ymd_opt(2026, 11, 27).unwrap()
        );
        assert_eq!(o.week[6].date, dec(3));
        let first = o.week.iter().find(|d| d.date == dec(1)).unwrap();
        assert_eq!((first.received, first.receipts), (5, 4));
        let second = o.week.iter().find(|d| d.date == dec(2)).unwrap();
        assert_eq!((second.answered, second.answered_in_time), (2, 1));
        let total: u64 = o.week.iter().map(|d| d.received).sum();
        assert_eq!(total, 5, "the day before the week is left out");
    }
}
