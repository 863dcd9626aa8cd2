//! The report to the nämnd (the municipal board a department answers to), as figures: pure
//! arithmetic over the daily totals ([`crate::model::tally`]) of a period and the cases open
//! now. The service policy asks every administration to identify, document and analyse its
//! complaints and to report back to its nämnd; this is what it reports.
//!
//! The period's figures come from the tallies only, so a period whose cases `retention` has
//! purged is as whole as one whose cases are still kept. The figures marked *now* (overdue,
//! complaints still open, cases open six months) are read from the cases open when the report
//! is made, whatever the period.

use crate::config::ReportEvery;
use crate::model::calendar::Calendar;
use crate::model::tally::DayTally;
use crate::model::{Case, Category, State};
use chrono::{DateTime, Datelike, Months, NaiveDate, Utc};
use serde::Serialize;
use std::collections::BTreeMap;

/// The id the total row goes under (in the CSV's `department` column).
pub const TOTAL: &str = "total";

/// One ISO week of the chart: mails received, and cases answered by their reply deadline.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Week {
    /// ISO 8601 week-numbering year.
    pub year: i32,
    /// ISO 8601 week number, 1–53.
    pub week: u32,
    /// Mails received that week.
    pub received: u64,
    /// Cases answered by their reply deadline that week.
    pub answered_in_time: u64,
}

/// The report's figures for one department (or the total) over one period.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Figures {
    /// The department's id, or [`TOTAL`].
    pub department: String,
    /// The department's name as residents read it (the id when no longer configured).
    pub name: String,
    /// The first day of the period.
    pub from: NaiveDate,
    /// The last day of the period (included).
    pub to: NaiveDate,
    /// The period's daily totals, summed.
    pub sum: DayTally,
    /// Cases opened, all categories.
    pub cases: u64,
    /// Mails that got no case, all reasons.
    pub no_case: u64,
    /// Cases closed by hand (`case close`) in the period.
    pub closed: u64,
    /// Those by outcome ([`crate::model::tally::outcome_key`]: "befogat" and " Befogat" are
    /// one, also in tallies written before the key was normalised); `""` for none given.
    pub closed_by_outcome: BTreeMap<String, u64>,
    /// The median time from arrival to the first answer, in minutes (`None`: no answers).
    pub median_answer_minutes: Option<f64>,
    /// Cases open now.
    pub open_now: u64,
    /// Open cases past their reply deadline now.
    pub overdue_now: u64,
    /// Complaints open now (not answered, not closed).
    pub complaints_open_now: u64,
    /// Cases open six months or more now (förvaltningslagen 2017:900 § 12: the resident may
    /// then demand a decision).
    pub six_months_open_now: u64,
    /// The chart: every ISO week the period touches, in order.
    pub weeks: Vec<Week>,
}

impl Figures {
    /// Complaints opened in the period.
    pub fn complaints(&self) -> u64 {
        self.category(Category::Complaint)
    }

    /// Fault reports (felanmälan) opened in the period.
    pub fn fault_reports(&self) -> u64 {
        self.category(Category::FaultReport)
    }

    /// Cases of `category` opened in the period.
    pub fn category(&self, category: Category) -> u64 {
        self.sum.cases.get(category.key()).copied().unwrap_or(0)
    }
}

/// `part` of `whole` as a fraction 0–1; `None` when there is nothing to share.
pub fn share(part: u64, whole: u64) -> Option<f64> {
    (whole > 0).then(|| part as f64 / whole as f64)
}

/// The median of `values` (the mean of the middle two of an even count); `None` when empty.
pub fn median(values: &[u64]) -> Option<f64> {
    let mut v = values.to_vec();
    v.sort_unstable();
    let n = v.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(v[n / 2] as f64),
        _ => Some((v[n / 2 - 1] + v[n / 2]) as f64 / 2.0),
    }
}

/// What the report covers.
#[derive(Clone, Debug)]
pub struct Scope<'a> {
    /// The first day (included).
    pub from: NaiveDate,
    /// The last day (included).
    pub to: NaiveDate,
    /// The departments to report, as `(id, name)` in the order shown; a department found in
    /// the tallies but not here is reported too (under its id), unless `only` is set.
    pub departments: &'a [(String, String)],
    /// Only this department (`--department`): no other, and no total row.
    pub only: Option<&'a str>,
    /// When the *now* figures are taken.
    pub now: DateTime<Utc>,
}

/// The figures of each department and, unless the scope is one department, the total (last).
/// `tallies` are `(department, day, tally)` as the store gives them; days outside the period
/// are left out. `cases` may hold every case: only the open ones count.
pub fn figures(
    scope: &Scope<'_>,
    tallies: &[(String, NaiveDate, DayTally)],
    cases: &[Case],
) -> Vec<Figures> {
    let mut ids: Vec<(String, String)> = scope
        .departments
        .iter()
        .filter(|(id, _)| scope.only.is_none_or(|o| o == id))
        .cloned()
        .collect();
    for (dept, _, _) in tallies {
        let wanted = scope.only.is_none_or(|o| o == dept);
        if wanted && !ids.iter().any(|(id, _)| id == dept) {
            ids.push((dept.clone(), dept.clone()));
        }
    }
    let in_period = |day: &NaiveDate| *day >= scope.from && *day <= scope.to;
    let mut out: Vec<Figures> = ids
        .iter()
        .map(|(id, name)| {
            let days: Vec<(NaiveDate, &DayTally)> = tallies
                .iter()
                .filter(|(d, day, _)| d == id && in_period(day))
                .map(|(_, day, t)| (*day, t))
                .collect();
            let open: Vec<&Case> = cases.iter().filter(|c| c.department == *id).collect();
            one(scope, id, name, &days, &open)
        })
        .collect();
    if scope.only.is_none() {
        let days: Vec<(NaiveDate, &DayTally)> = tallies
            .iter()
            .filter(|(d, day, _)| in_period(day) && ids.iter().any(|(id, _)| id == d))
            .map(|(_, day, t)| (*day, t))
            .collect();
        let all: Vec<&Case> = cases.iter().collect();
        out.push(one(scope, TOTAL, TOTAL, &days, &all));
    }
    out
}

/// The figures of one department (or the total) from its days and its cases.
fn one(
    scope: &Scope<'_>,
    id: &str,
    name: &str,
    days: &[(NaiveDate, &DayTally)],
    cases: &[&Case],
) -> Figures {
    let mut sum = DayTally::default();
    for (_, t) in days {
        sum.add(t);
    }
    let now = scope.now;
    let open: Vec<&&Case> = cases.iter().filter(|c| c.state == State::Open).collect();
    let six_months_ago = now.checked_sub_months(Months::new(6)).unwrap_or(now);
    Figures {
        department: id.to_string(),
        name: name.to_string(),
        from: scope.from,
        to: scope.to,
        cases: sum.cases.values().sum(),
        no_case: sum.no_case.values().sum(),
        closed: sum.closed.values().sum(),
        closed_by_outcome: by_outcome(&sum.closed),
        median_answer_minutes: median(&sum.answer_minutes),
        open_now: open.len() as u64,
        overdue_now: open.iter().filter(|c| c.reply_due < now).count() as u64,
        complaints_open_now: open
            .iter()
            .filter(|c| c.category == Category::Complaint)
            .count() as u64,
        six_months_open_now: open.iter().filter(|c| c.received <= six_months_ago).count() as u64,
        weeks: weeks(scope.from, scope.to, days),
        sum,
    }
}

/// `closed` (outcome → cases) with the outcomes normalised and the counts of those that are one
/// summed.
fn by_outcome(closed: &BTreeMap<String, u64>) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    for (outcome, n) in closed {
        *out.entry(crate::model::tally::outcome_key(outcome))
            .or_insert(0) += n;
    }
    out
}

/// Every ISO week from the one of `from` to the one of `to`, with the days' mails received
/// and answers in time.
fn weeks(from: NaiveDate, to: NaiveDate, days: &[(NaiveDate, &DayTally)]) -> Vec<Week> {
    let mut by_week: BTreeMap<(i32, u32), Week> = BTreeMap::new();
    let mut day = from;
    while day <= to {
        let w = day.iso_week();
        by_week.entry((w.year(), w.week())).or_insert(Week {
            year: w.year(),
            week: w.week(),
            received: 0,
            answered_in_time: 0,
        });
        match day.succ_opt() {
            Some(next) => day = next,
            None => break,
        }
    }
    for (day, t) in days {
        let w = day.iso_week();
        if let Some(week) = by_week.get_mut(&(w.year(), w.week())) {
            week.received += t.received;
            week.answered_in_time += t.answered_in_time;
        }
    }
    by_week.into_values().collect()
}

/// A report mailing that has come: the period it reports, and the start of the period it is
/// sent in (its mark in the store: each period's report is sent once).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mailing {
    /// The first day of the period the mailing falls in (the mark).
    pub period_start: NaiveDate,
    /// The first day reported (the period before).
    pub from: NaiveDate,
    /// The last day reported.
    pub to: NaiveDate,
}

/// The first day of the month or quarter holding `day`.
pub fn period_start(every: ReportEvery, day: NaiveDate) -> NaiveDate {
    let month = match every {
        ReportEvery::Month => day.month(),
        ReportEvery::Quarter => (day.month() - 1) / 3 * 3 + 1,
    };
    NaiveDate::from_ymd_opt(day.year(), month, 1).unwrap_or(day)
}

/// The mailing due on the local day of `now`: on or after the first working day of the
/// current month or quarter, the report of the one before. Whether it went already is the
/// store's mark ([`Mailing::period_start`]); a daemon down on that day sends it when it starts.
pub fn mailing_due(cal: &Calendar, every: ReportEvery, now: DateTime<Utc>) -> Option<Mailing> {
    let today = cal.local_date(now);
    let start = period_start(every, today);
    let first_working = if cal.is_working_day(start) {
        start
    } else {
        cal.next_working_day(start)
    };
    if today < first_working {
        return None;
    }
    let to = start.pred_opt()?;
    Some(Mailing {
        period_start: start,
        from: period_start(every, to),
        to,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::case;

    fn day(d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 3, d).unwrap()
    }

    /// The scenario: two departments in the first half of March 2026 (weeks 10 and 11).
    fn scenario() -> Vec<(String, NaiveDate, DayTally)> {
        let t = |dept: &str, d: u32, set: &dyn Fn(&mut DayTally)| {
            let mut tally = DayTally::default();
            set(&mut tally);
            (dept.to_string(), day(d), tally)
        };
        vec![
            t("bygg", 2, &|t| {
                t.received = 4;
                t.cases.insert("question".into(), 2);
                t.cases.insert("complaint".into(), 1);
                t.no_case.insert("automatic".into(), 1);
                t.receipts = 3;
                t.receipts_within_1h = 3;
                t.receipts_same_day = 3;
                t.receipts_within_1d = 3;
                t.receipt_slowest_secs = 40;
            }),
            t("bygg", 4, &|t| {
                t.answered = 3;
                t.answered_in_time = 2;
                t.answer_minutes = vec![30, 90, 5000];
                t.escalations = 1;
                t.complaints_contacted = 1;
                t.complaints_contacted_in_time = 1;
                t.contacts_by.insert("phone".into(), 1);
            }),
            t("skola", 10, &|t| {
                t.received = 2;
                t.cases.insert("fault_report".into(), 2);
                t.fault_types.insert("Gatubelysning".into(), 2);
                t.receipts = 2;
                t.receipts_within_1h = 1;
                t.receipts_same_day = 1;
                t.receipts_within_1d = 2;
                t.receipt_slowest_secs = 7200;
                t.answered = 1;
                t.answered_in_time = 1;
                t.answer_minutes = vec![60];
            }),
            // Outside the period: left out.
            t("skola", 20, &|t| t.received = 100),
        ]
    }

    fn scope<'a>(departments: &'a [(String, String)], only: Option<&'static str>) -> Scope<'a> {
        Scope {
            from: day(1),
            to: day(15),
            departments,
            only,
            now: "2026-03-16T12:00:00Z".parse().unwrap(),
        }
    }

    #[test]
    fn the_scenario_gives_its_known_figures_per_department_and_in_total() {
        let depts = vec![
            ("bygg".to_string(), "Bygg".to_string()),
            ("skola".to_string(), "Skola".to_string()),
        ];
        let mut late = case("BMN-2026-0001", &[]);
        late.department = "bygg".into();
        late.category = Category::Complaint;
        late.reply_due = "2026-03-10T16:00:00Z".parse().unwrap();
        let mut answered = late.clone();
        answered.state = State::Answered;
        let f = figures(&scope(&depts, None), &scenario(), &[late, answered]);
        assert_eq!(f.len(), 3);
        let (bygg, skola, total) = (&f[0], &f[1], &f[2]);
        assert_eq!((bygg.sum.received, bygg.cases, bygg.no_case), (4, 3, 1));
        assert_eq!(
            (
                bygg.complaints(),
                bygg.overdue_now,
                bygg.complaints_open_now
            ),
            (1, 1, 1)
        );
        assert_eq!(bygg.median_answer_minutes, Some(90.0));
        assert_eq!(
            share(bygg.sum.answered_in_time, bygg.sum.answered),
            Some(2.0 / 3.0)
        );
        assert_eq!(skola.fault_reports(), 2);
        assert_eq!(
            skola.sum.received, 2,
            "the day outside the period is left out"
        );
        assert_eq!(skola.sum.receipt_slowest_secs, 7200);
        assert_eq!(total.department, TOTAL);
        assert_eq!((total.sum.received, total.cases, total.no_case), (6, 5, 1));
        assert_eq!(
            (
                total.sum.receipts,
                total.sum.receipts_within_1h,
                total.sum.receipts_within_1d
            ),
            (5, 4, 5)
        );
        assert_eq!(total.sum.receipt_slowest_secs, 7200, "the slowest of all");
        // The median of all four answers (30, 60, 90, 5000), not a mean of medians.
        assert_eq!(total.median_answer_minutes, Some(75.0));
        assert_eq!(total.overdue_now, 1);
        assert_eq!(total.sum.escalations, 1);
        let weeks: Vec<_> = total
            .weeks
            .iter()
            .map(|w| (w.week, w.received, w.answered_in_time))
            .collect();
        // 1 March is a Sunday (week 9); 15 March a Sunday (week 11).
        assert_eq!(weeks, [(9, 0, 0), (10, 4, 2), (11, 2, 1)]);
    }

    #[test]
    fn one_department_has_no_total_and_an_unconfigured_one_keeps_its_history() {
        let depts = vec![("bygg".to_string(), "Bygg".to_string())];
        let only = figures(&scope(&depts, Some("bygg")), &scenario(), &[]);
        assert_eq!(only.len(), 1);
        assert_eq!(only[0].department, "bygg");
        let all = figures(&scope(&depts, None), &scenario(), &[]);
        let ids: Vec<_> = all.iter().map(|f| f.department.as_str()).collect();
        assert_eq!(ids, ["bygg", "skola", TOTAL]);
        assert_eq!(all[1].name, "skola");
        assert_eq!(all[2].sum.received, 6);
    }

    #[test]
    fn a_report_goes_on_the_first_working_day_for_the_period_before() {
        let cal = Calendar::default();
        let at = |t: &str| -> DateTime<Utc> { t.parse().unwrap() };
        // 1 January 2027 is a holiday, 2–3 a weekend: the first working day is Monday the 4th.
        assert_eq!(
            mailing_due(&cal, ReportEvery::Month, at("2027-01-03T10:00:00Z")),
            None
        );
        let due = mailing_due(&cal, ReportEvery::Month, at("2027-01-04T07:00:00Z")).unwrap();
        assert_eq!(
            (due.period_start, due.from, due.to),
            (
                NaiveDate::from_ymd_opt(2027, 1, 1).unwrap(),
                NaiveDate::from_ymd_opt(2026, 12, 1).unwrap(),
                NaiveDate::from_ymd_opt(2026, 12, 31).unwrap()
            )
        );
        // Later in the month: still this period's mailing (sent once, by the store's mark).
        let later = mailing_due(&cal, ReportEvery::Month, at("2027-01-20T07:00:00Z")).unwrap();
        assert_eq!(later, due);
        let q = mailing_due(&cal, ReportEvery::Quarter, at("2026-05-12T07:00:00Z")).unwrap();
        assert_eq!(
            (q.period_start, q.from, q.to),
            (
                NaiveDate::from_ymd_opt(2026, 4, 1).unwrap(),
                NaiveDate::from_ymd_opt(2026, 1, 1).unwrap(),
                NaiveDate::from_ymd_opt(2026, 3, 31).unwrap()
            )
        );
    }

    #[test]
    fn medians_and_shares() {
        assert_eq!(median(&[]), None);
        assert_eq!(median(&[7]), Some(7.0));
        assert_eq!(median(&[9, 1, 5]), Some(5.0));
        assert_eq!(median(&[4, 1, 3, 2]), Some(2.5));
        assert_eq!(share(1, 0), None);
        assert_eq!(share(1, 4), Some(0.25));
    }
}
