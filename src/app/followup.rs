//! Keeping the promise after the receipt: what the engine does when a schedule entry falls due
//! (reminder, escalation, decision-date check), when a digest is due, and when staff set a new
//! decision date. The rules are in `schedule`; the texts in `notices`; this is the bookkeeping.

use crate::app::edit::until_applied;
use crate::app::engine::Engine;
use crate::app::error::{refused, require, AppError};
use crate::config::Department;
use crate::mail::notices;
use crate::model::tally::Tick;
use crate::model::Absence;
use crate::model::{Category, State};
use crate::rules::schedule::Due;
use crate::rules::schedule::{self, Action};
use crate::store::{Applied, DueKey, Edit, Effects, StoreError};
use chrono::{DateTime, NaiveDate, Utc};
use std::collections::BTreeMap;

impl Engine {
    /// Fires every schedule entry due by `now`; returns how many mails were queued. Each entry
    /// fires once, in a transaction with the mail it causes: a crash neither loses nor repeats
    /// it, and entries missed while the daemon was down fire once on start.
    ///
    /// # Errors
    /// When the store fails.
    pub fn fire_due(&self, now: DateTime<Utc>) -> Result<usize, StoreError> {
        let away = self.store.absences()?;
        let mut fired = 0;
        loop {
            // One transaction and one flush for the whole batch: a wake-up costs what is due.
            let batch = until_applied(|| {
                let batch = self.store.due_until(now, 500)?;
                if batch.is_empty() {
                    return Ok(Applied::Done(None));
                }
                let (edits, effects) = self.plan_fire(&batch, now, &away)?;
                let keys: Vec<DueKey> = batch.into_iter().map(|(k, _)| k).collect();
                Ok(match self.store.fire_batch(&keys, &edits, &effects)? {
                    Applied::Done(n) => Applied::Done(Some(n)),
                    Applied::Stale => Applied::Stale,
                })
            })?;
            match batch {
                None => return Ok(fired),
                Some(n) => fired += n,
            }
        }
    }

    /// What firing `batch` does: the cases it changes and the mail and schedule entries it
    /// sets in motion. Entries of a department removed from the config, or of a case that is
    /// gone, are dropped.
    fn plan_fire(
        &self,
        batch: &[(DueKey, Due)],
        now: DateTime<Utc>,
        away: &[(String, Absence)],
    ) -> Result<(Vec<Edit>, Effects), StoreError> {
        let (cfg, templates) = (self.cfg(), self.templates());
        let mut cases: BTreeMap<String, Edit> = BTreeMap::new();
        let mut effects = Effects::default();
        let mut gathered = std::collections::BTreeSet::new();
        for (_, due) in batch {
            if due.kind == schedule::DueKind::Gathered {
                gathered.insert(due.department.as_str());
                continue;
            }
            let Some(number) = &due.case else { continue };
            if !cases.contains_key(number) {
                let Some(before) = self.store.case(number)? else {
                    continue;
                };
                let after = before.clone();
                cases.insert(number.clone(), Edit { before, after });
            }
            // The case's department, which a move may have changed since the entry was made.
            let Some(edit) = cases.get_mut(number) else {
                continue;
            };
            let Some(dept) = cfg.department(&edit.after.department) else {
                continue;
            };
            let case = &mut edit.after;
            let (actions, next) = schedule::on_due(dept, case, due, now, away);
            effects.dues.extend(next);
            if first_escalation(due, case, &actions) {
                effects.ticks.push(super::tally::escalated(dept, now));
            }
            for action in &actions {
                if let Action::SixMonths { .. } = action {
                    // Flagged once, whether or not the notice can be built.
                    case.six_months = Some(now);
                    let day = dept.calendar.local_date(now);
                    effects
                        .ticks
                        .push(Tick::new(&dept.id, day, |t| t.six_months = 1));
                }
                match notices::for_action(&cfg, dept, &templates, case, action, due.at, now) {
                    Ok(mail) => {
                        case.log(now, describe(action));
                        effects.mails.push(super::outbox::queued(mail));
                    }
                    Err(e) => {
                        case.log(now, format!("{} could not be built: {e}", describe(action)))
                    }
                }
            }
        }
        // The gathered officer notices of a burst whose time has come (a department removed
        // from the config has its entries dropped).
        for dept in gathered.into_iter().filter_map(|d| cfg.department(d)) {
            self.plan_gathered(dept, now, &mut cases, &mut effects)?;
        }
        let edits = cases
            .into_values()
            .filter(|e| e.before != e.after)
            .collect();
        Ok((edits, effects))
    }

    /// Queues each department's digest whose time has come (once per digest time, also after a
    /// night the daemon was down).
    pub fn queue_digests(&self, now: DateTime<Utc>) -> Result<usize, StoreError> {
        let (cfg, templates) = (self.cfg(), self.templates());
        let mut queued = 0;
        let mut all = None;
        for dept in &cfg.departments {
            let Some(due) = self.next_digest(dept, now)? else {
                continue;
            };
            if due > now {
                continue;
            }
            let cases = match &all {
                Some(c) => c,
                None => {
                    // Only what a digest shows: open cases and those answered lately, found
                    // through the index of live cases rather than by reading every case.
                    let since = now - chrono::Duration::days(4);
                    let mut wanted = Vec::new();
                    self.store.live_cases(since, &mut |c| wanted.push(c))?;
                    all.insert(wanted)
                }
            };
            let away = self.store.absences()?;
            let acting = crate::rules::schedule::acting(dept, now, &away);
            match notices::digest(&cfg, &acting, &templates, cases, due, now) {
                Ok(mail) => {
                    if self
                        .store
                        .queue_digest(&dept.id, due, &super::outbox::queued(mail))?
                    {
                        queued += 1;
                    }
                }
                Err(e) => {
                    tracing::error!(department = %dept.id, error = %e, "the digest could not be built")
                }
            }
        }
        Ok(queued)
    }

    /// The department's next digest time: the first after the last one sent, or after `now` on
    /// the first start (no digest for days kvittens did not run).
    pub fn next_digest(
        &self,
        dept: &Department,
        now: DateTime<Utc>,
    ) -> Result<Option<DateTime<Utc>>, StoreError> {
        let from = self.store.digest_baseline(&dept.id, now)?;
        Ok(schedule::next_digest(dept, from).map(|d| d.at))
    }

    /// Moves the date the resident was promised — an application's decision date, any other
    /// case's reply date (and its reminders and escalations with it, so the follow-up keeps
    /// the date the resident is told) — and queues the delay notice to the resident
    /// (förvaltningslagen 2017:900 § 11: the party is told of a delay, and why — so `note`,
    /// the reason the resident reads, is required). A date that is not a working day moves
    /// to the next working day's end; the date used is returned. A date not later than the
    /// one promised is refused: a delay notice cannot tell of an earlier one. `by` is who
    /// asked, for the timeline.
    pub fn postpone(
        &self,
        number: &str,
        to: NaiveDate,
        note: &str,
        by: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<Option<NaiveDate>, AppError> {
        require!(
            !note.trim().is_empty(),
            "a delay notice must say why (förvaltningslagen 11 §): give the reason the resident will read with --note \"…\""
        );
        let case = self
            .store
            .case(number)?
            .ok_or_else(|| refused!("no case {number}"))?;
        let (cfg, templates) = (self.cfg(), self.templates());
        let dept = cfg.department(&case.department).ok_or_else(|| {
            refused!(
                "case {number} belongs to department {:?}, which is not configured",
                case.department
            )
        })?;
        let cal = &dept.calendar;
        let day = if cal.is_working_day(to) {
            to
        } else {
            cal.next_working_day(to)
        };
        let new_due = cal.end_of_day(day);
        require!(new_due > now, "{to} has passed; give a date in the future");
        let note = &crate::model::case::one_line(note);
        let found = self.update_case(number, |c| {
            if c.state == State::Closed {
                return Err(format!("case {number} is closed"));
            }
            // The date the resident was promised: an application's decision; for the other
            // categories the reply, which the reminders, escalations and report follow.
            let application = c.category == Category::Application;
            let promised = if application {
                c.decision_due
            } else {
                c.reply_due
            };
            let promised_day = cal.local_date(promised);
            if day <= promised_day {
                return Err(format!(
                    "case {number} is promised for {promised_day} already; a delay notice tells of a later date; to answer sooner, answer"
                ));
            }
            c.decision_due = new_due;
            let mut dues = Vec::new();
            if !application {
                c.reply_due = new_due;
                // Entries planned for the old reply date are dropped when they come (their
                // deadline is no longer the case's); these follow the new one.
                if c.state == State::Open {
                    dues = schedule::case_dues(dept, c)
                        .into_iter()
                        .filter(|d| d.kind != schedule::DueKind::DecisionCheck)
                        .filter(|d| {
                            d.kind != schedule::DueKind::SixMonths || !c.six_months_scheduled
                        })
                        .collect();
                }
            }
            // Förvaltningslagen § 11 tells the party — where a mail may go to them at all.
            let not_told = c.resident_not_told();
            let mail = match &not_told {
                Some(_) => None,
                None => Some(
                    notices::delay_notice(&cfg, dept, &templates, c, note, now)
                        .map_err(|e| e.to_string())?,
                ),
            };
            c.delay_told = mail.is_some();
            let moved = if day == to {
                String::new()
            } else {
                format!(" ({to} is not a working day)")
            };
            let which = if application {
                "decision date"
            } else {
                "reply date"
            };
            let told = match &not_told {
                None => "the resident is told".to_string(),
                Some(why) => format!("the resident is not told: {why}"),
            };
            let what = format!("{which} moved to {day}{moved}; {told} ({note})");
            match by {
                Some(by) => c.log_by(now, by, what),
                None => c.log(now, what),
            }
            let ticks = mail
                .is_some()
                .then(|| Tick::new(&dept.id, cal.local_date(now), |t| t.delay_notices = 1));
            Ok(Effects {
                mails: mail.map(super::outbox::queued).into_iter().collect(),
                dues,
                ticks: ticks.into_iter().collect(),
                ..Effects::default()
            })
        })?;
        Ok(found.then_some(day))
    }
}

/// Whether firing `due` escalates `case` for the first time for its current deadline: the
/// level-1 entry planned at the deadline itself (its daily repeats come later, and level 2 is
/// the same lateness told higher up), so the report counts each late case once per deadline.
fn first_escalation(due: &Due, case: &crate::model::Case, actions: &[Action]) -> bool {
    due.kind == schedule::DueKind::Escalate { level: 1 }
        && due.at <= case.reply_due
        && actions
            .iter()
            .any(|a| matches!(a, Action::Escalate { level: 1, .. }))
}

fn describe(action: &Action) -> String {
    match action {
        Action::Remind {
            to,
            on_behalf_of: None,
        } => format!("reminder queued to {}", to.email),
        Action::Remind {
            to,
            on_behalf_of: Some(o),
        } => format!(
            "reminder queued to {} (substitute for {})",
            to.email, o.email
        ),
        Action::Escalate { to, level, .. } => {
            format!("escalation (level {level}) queued to {}", to.email)
        }
        Action::AskForNewDate { to, .. } => {
            format!("decision date passed; {} asked to set a new one", to.email)
        }
        Action::SixMonths { to, .. } => format!(
            "open six months (förvaltningslagen § 12: the resident may demand a decision); {} told",
            to.email
        ),
    }
}
