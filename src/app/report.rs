//! The report to the nämnd: what it is made of, gathered from the store — the daily totals of
//! the period ([`crate::model::tally`]) and the cases open now — turned into figures by
//! `rules::report` and rendered by `mail::report`. Also its mailing to `report_to` on the
//! first working day of each month or quarter, exactly once per period.

use crate::app::engine::Engine;
use crate::app::error::{refused, require, AppError};
use crate::config::{Config, ReportPlan};
use crate::mail::report::{html, mailing, table, Format};
use crate::model::{Case, Language, State};
use crate::rules::report::{self, Figures, Scope};
use crate::store::StoreError;
use chrono::{DateTime, NaiveDate, Utc};

/// The longest period a report covers, in days: ten years, more than any nämnd asks for.
pub const MAX_DAYS: i64 = 3660;

/// What a person asks the report of (`kvittens report`).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Query {
    /// The first day (included).
    pub from: NaiveDate,
    /// The last day (included).
    pub to: NaiveDate,
    /// One department's id; every department and the total when `None`.
    pub department: Option<String>,
}

/// The figures of `q` at `now`.
///
/// # Errors
/// Refused for a period that ends before it starts or an unknown department; a store error.
pub fn figures(engine: &Engine, q: &Query, now: DateTime<Utc>) -> Result<Vec<Figures>, AppError> {
    require!(
        q.from <= q.to,
        "--from {} is after --to {}: give the first day, then the last",
        q.from,
        q.to
    );
    // The report walks every day and week of its period inside the daemon that sends the
    // receipts: a period of centuries (one link on the web page) would hold it for minutes.
    require!(
        (q.to - q.from).num_days() < MAX_DAYS,
        "{} to {} is longer than a report covers ({} years at most): ask for a shorter period",
        q.from,
        q.to,
        MAX_DAYS / 366
    );
    let cfg = engine.cfg();
    if let Some(d) = &q.department {
        cfg.find_department(d).map_err(|why| refused!("{why}"))?;
    }
    let tallies = engine
        .store
        .tallies(q.department.as_deref(), q.from, q.to)?;
    // The "now" figures need the open cases only: read through the index of live cases
    // (answered "since now" is none), not every case ever kept.
    let mut open: Vec<Case> = Vec::new();
    engine.store.live_cases(now, &mut |c| {
        if c.state == State::Open {
            open.push(c);
        }
    })?;
    let departments: Vec<(String, String)> = cfg
        .departments
        .iter()
        .map(|d| (d.id.clone(), d.name.clone()))
        .collect();
    let scope = Scope {
        from: q.from,
        to: q.to,
        departments: &departments,
        only: q.department.as_deref(),
        now,
    };
    Ok(report::figures(&scope, &tallies, &open))
}

/// The language of a report: English when every department it covers writes to its staff in
/// English, else Swedish.
pub fn language(cfg: &Config, department: Option<&str>) -> Language {
    let covered: Vec<_> = cfg
        .departments
        .iter()
        .filter(|d| department.is_none_or(|id| id == d.id))
        .collect();
    if !covered.is_empty() && covered.iter().all(|d| d.staff_language == Language::En) {
        Language::En
    } else {
        Language::Sv
    }
}

/// The report of `q` at `now`, rendered as `format`.
///
/// # Errors
/// As [`figures`]; a chart or table that cannot be rendered.
pub fn render(
    engine: &Engine,
    q: &Query,
    format: Format,
    now: DateTime<Utc>,
) -> Result<String, AppError> {
    let figures = figures(engine, q, now)?;
    let lang = language(&engine.cfg(), q.department.as_deref());
    match format {
        Format::Html => html::page(&figures, lang),
        Format::Csv => table::csv(&figures),
    }
    .map_err(|e| refused!("the report could not be rendered: {e}"))
}

/// The scope mark of a mailing in the store (beside the digests' marks; a department id has
/// no `:`, so the two never meet).
fn mark(scope: &str) -> String {
    format!("report:{scope}")
}

impl Engine {
    /// Queues every report mailing that has come (see [`report::mailing_due`]) and was not
    /// queued for its period yet: the global `[report]` and each department's. The mark and
    /// the mail are written in one transaction, so a restart neither repeats nor loses it.
    /// A scope with no mark yet (a new install, or `report_to` just added) gets the current
    /// period as its mark and no mail: the period before was not watched by kvittens, and a
    /// report of it would tell the nämnd zeros that are not true. Its first report goes at the
    /// start of the next period. Returns how many were queued.
    ///
    /// # Errors
    /// When the store fails. A report that cannot be built is logged and tried at the next
    /// wake-up.
    pub fn queue_reports(&self, now: DateTime<Utc>) -> Result<usize, StoreError> {
        let cfg = self.cfg();
        let mut plans: Vec<(Option<&str>, &ReportPlan)> = Vec::new();
        plans.extend(cfg.report.iter().map(|p| (None, p)));
        for d in &cfg.departments {
            plans.extend(d.report.iter().map(|p| (Some(d.id.as_str()), p)));
        }
        let mut queued = 0;
        for (department, plan) in plans {
            let scope = department.unwrap_or("*");
            // The global report follows the first department's calendar (its working days).
            let Some(home) = department
                .and_then(|d| cfg.department(d))
                .or(cfg.departments.first())
            else {
                continue;
            };
            if self.store.last_digest(&mark(scope))?.is_none() {
                let today = home.calendar.local_date(now);
                let current = report::period_start(plan.every, today);
                let baseline = home.calendar.start_of_day(current);
                self.store.digest_baseline(&mark(scope), baseline)?;
                tracing::info!(scope, from = %current, "report to the nämnd: first start, the first report goes when this period has ended");
                continue;
            }
            let Some(due) = report::mailing_due(&home.calendar, plan.every, now) else {
                continue;
            };
            let at = home.calendar.start_of_day(due.period_start);
            if self
                .store
                .last_digest(&mark(scope))?
                .is_some_and(|last| last >= at)
            {
                continue;
            }
            let q = Query {
                from: due.from,
                to: due.to,
                department: department.map(str::to_string),
            };
            let mail = match self.report_mail(&q, plan, home, now) {
                Ok(mail) => mail,
                Err(e) => {
                    tracing::error!(scope, error = %e, "the report to the nämnd could not be built");
                    continue;
                }
            };
            if self
                .store
                .queue_digest(&mark(scope), at, &super::outbox::queued(mail))?
            {
                tracing::info!(scope, from = %due.from, to = %due.to, "report to the nämnd queued");
                queued += 1;
            }
        }
        Ok(queued)
    }

    fn report_mail(
        &self,
        q: &Query,
        plan: &ReportPlan,
        home: &crate::config::Department,
        now: DateTime<Utc>,
    ) -> Result<crate::mail::outgoing::Outgoing, AppError> {
        let cfg = self.cfg();
        let lang = language(&cfg, q.department.as_deref());
        let name = match &q.department {
            Some(_) => home.name.clone(),
            None => {
                crate::mail::report::say(lang, "alla förvaltningar", "all departments").to_string()
            }
        };
        let r = mailing::ReportMail {
            scope: q.department.as_deref().unwrap_or("*"),
            name: &name,
            from: q.from,
            to: q.to,
            recipients: &plan.to,
            envelope_from: &home.email,
            lang,
            html: render(self, q, Format::Html, now)?,
            csv: render(self, q, Format::Csv, now)?,
        };
        Ok(mailing::report_mail(&cfg, &r, now)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::Sample;
    use chrono::TimeZone;

    #[test]
    fn a_report_over_more_than_ten_years_is_refused_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let engine = crate::testkit::test_engine(dir.path(), "");
        let day = |s: &str| s.parse::<NaiveDate>().unwrap();
        let long = Query {
            from: day("1000-01-01"),
            to: day("1999-12-31"),
            department: None,
        };
        let started = std::time::Instant::now();
        let why = figures(&engine, &long, Utc::now()).unwrap_err().to_string();
        assert!(why.contains("longer than a report covers"), "{why}");
        assert!(started.elapsed() < std::time::Duration::from_secs(1));
        let ten = Query {
            from: day("2016-01-01"),
            to: day("2025-12-31"),
            department: None,
        };
        assert!(figures(&engine, &ten, Utc::now()).is_ok());
    }

    #[test]
    fn a_new_install_sends_no_report_of_a_period_before_it_ran_then_one_per_period() {
        let dir = tempfile::tempdir().unwrap();
        let sample = Sample {
            department: "report_to = [\"namnd@kommun.test\"]\nreport_every = \"month\"",
            ..Sample::default()
        };
        let (e, _) = sample.engine(dir.path());
        let pending = || e.outbox_handle().pending().unwrap().len();
        // The first start, on the first working day of a month: no report of the month before.
        let first = Utc.with_ymd_and_hms(2027, 1, 1, 9, 0, 0).unwrap();
        assert_eq!(e.queue_reports(first).unwrap(), 0);
        assert_eq!(pending(), 0);
        let later = Utc.with_ymd_and_hms(2027, 1, 20, 9, 0, 0).unwrap();
        assert_eq!(e.queue_reports(later).unwrap(), 0);
        // The next month: January's report, once.
        let next = Utc.with_ymd_and_hms(2027, 2, 1, 9, 0, 0).unwrap();
        assert_eq!(e.queue_reports(next).unwrap(), 1);
        assert_eq!(e.queue_reports(next).unwrap(), 0);
        assert_eq!(pending(), 1);
    }
}
