//! What staff record on a case by hand, beyond the mail kvittens sees: a contact with the
//! resident (a phone call or a visit leaves no mail to detect), a measure taken, the case
//! closed with its outcome, the case moved to the department it belongs to
//! (förvaltningslagen 2017:900 § 4), and the daily check that every undecided case has its
//! six-month entry in the schedule (§ 12). Each change is logged with who made it
//! ([`Case::log_by`]) and carries the report's ticks ([`crate::model::tally`]) in its own
//! transaction.

use crate::app::admin::AdminError;
use crate::app::engine::Engine;
use crate::app::error::AppError;
use crate::config::{Config, Department};
use crate::mail::compose::{self, NoticeFacts};
use crate::model::tally::Tick;
use crate::model::{Case, Category, Contact, ContactMade, ContactWay, Measure, State};
use crate::rules::{assign, schedule};
use crate::store::{Effects, StoreError};
use chrono::{DateTime, NaiveDate, Utc};
use serde_json::json;

/// A contact to record: how, on which local day (today when `None`), and what was said.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewContact {
    /// How the contact was made.
    pub way: ContactWay,
    /// The local day it was made; `None` for today.
    pub on: Option<NaiveDate>,
    /// What was said or agreed.
    pub note: String,
}

/// What recording a contact did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Contacted {
    /// The local day recorded.
    pub on: NaiveDate,
    /// Whether this contact answered the case (it was open): no more reminders or escalations.
    pub answered: bool,
    /// Whether it was by the reply deadline (for a complaint: the contact the manager owes
    /// within a week).
    pub in_time: bool,
}

/// The department a case belongs to, or a refusal naming it.
fn department_of<'a>(cfg: &'a Config, case: &Case) -> Result<&'a Department, AdminError> {
    cfg.department(&case.department).ok_or_else(|| {
        AdminError::Engine(AppError::Refused(format!(
            "case {} belongs to department {:?}, which is not configured",
            case.number, case.department
        )))
    })
}

/// `number`'s case, or [`AdminError::NoCase`].
fn read(engine: &Engine, number: &str) -> Result<Case, AdminError> {
    engine
        .store
        .case(number)?
        .ok_or_else(|| AdminError::NoCase(number.to_string()))
}

fn refuse<T>(why: String) -> Result<T, AdminError> {
    Err(AdminError::Engine(AppError::Refused(why)))
}

/// When a contact on local day `on` counts as made: now when it is today; for an earlier day
/// the start of that day's working hours (the hour is not recorded, and a contact on the
/// deadline's day is in time), never before the mail arrived.
fn contact_time(dept: &Department, case: &Case, on: NaiveDate, now: DateTime<Utc>) -> DateTime<Utc> {
    let cal = &dept.calendar;
    if on >= cal.local_date(now) {
        now
    } else {
        cal.start_of_day(on).max(case.received).min(now)
    }
}

/// Records that staff made contact with the resident of case `number`. For any category it
/// is the answer the reply deadline asks for: an open case becomes answered, its reminders and
/// escalations stop. The first answer ticks `answered` ([`crate::app::tally::answered`]); a
/// complaint's first contact ticks `complaints_contacted` (and `_in_time` by its deadline);
/// every contact ticks `contacts_by`.
///
/// # Errors
/// [`AdminError::NoCase`]; [`AdminError::Engine`] for an empty note or a day in the future or
/// before the case arrived; [`AdminError::Store`].
pub fn contact(
    engine: &Engine,
    number: &str,
    made: &NewContact,
    by: &str,
    now: DateTime<Utc>,
) -> Result<Contacted, AdminError> {
    let note = made.note.trim();
    if note.is_empty() {
        return refuse("--note is empty: say what was said or agreed, for the case's timeline".into());
    }
    let case = read(engine, number)?;
    let cfg = engine.cfg();
    let dept = department_of(&cfg, &case)?;
    let cal = &dept.calendar;
    let today = cal.local_date(now);
    let on = made.on.unwrap_or(today);
    if on > today {
        return refuse(format!("--on {on} is in the future: record a contact once it is made"));
    }
    let arrived = cal.local_date(case.received);
    if on < arrived {
        return refuse(format!("--on {on} is before the case arrived ({arrived})"));
    }
    let outcome = std::cell::Cell::new(None);
    let found = engine.update_case(number, |c| {
        let at = contact_time(dept, c, on, now);
        let answered = c.state == State::Open;
        let in_time = at <= c.reply_due;
        outcome.set(Some(Contacted {
            on,
            answered,
            in_time,
        }));
        let day = cal.local_date(at);
        let mut ticks = vec![Tick::new(&dept.id, day, |t| {
            t.contacts_by.insert(made.way.key().to_string(), 1);
        })];
        if c.category == Category::Complaint && c.contacts.is_empty() {
            ticks.push(Tick::new(&dept.id, day, |t| {
                t.complaints_contacted = 1;
                t.complaints_contacted_in_time = u64::from(in_time);
            }));
        }
        if answered {
            if c.answered_at.is_none() {
                ticks.push(crate::app::tally::answered(dept, c, at));
            }
            c.state = State::Answered;
            c.answered_at = Some(at);
        }
        c.contacts.push(ContactMade {
            way: made.way,
            on,
            note: note.to_string(),
            by: by.to_string(),
            recorded: now,
        });
        let late = if in_time { "" } else { ", after the reply deadline" };
        let what = format!("contact by {} on {on}{late}: {note}", made.way.key());
        c.log_by(now, by, what);
        if answered {
            c.log_by(now, by, "answered by the contact recorded");
        }
        Ok(Effects {
            ticks,
            ..Effects::default()
        })
    })?;
    match (found, outcome.into_inner()) {
        (true, Some(done)) => Ok(done),
        _ => Err(AdminError::NoCase(number.to_string())),
    }
}

/// Records a measure taken about case `number` (tick `measures`), in any state.
///
/// # Errors
/// [`AdminError::NoCase`]; [`AdminError::Engine`] for an empty note; [`AdminError::Store`].
pub fn measure(
    engine: &Engine,
    number: &str,
    note: &str,
    by: &str,
    now: DateTime<Utc>,
) -> Result<(), AdminError> {
    let note = note.trim();
    if note.is_empty() {
        return refuse("--note is empty: say what was done, for the case's timeline".into());
    }
    let case = read(engine, number)?;
    let cfg = engine.cfg();
    let dept = department_of(&cfg, &case)?;
    let day = dept.calendar.local_date(now);
    let found = engine.update_case(number, |c| {
        c.measures.push(Measure {
            note: note.to_string(),
            by: by.to_string(),
            at: now,
        });
        c.log_by(now, by, format!("measure: {note}"));
        Ok(Effects {
            ticks: vec![Tick::new(&dept.id, day, |t| t.measures = 1)],
            ..Effects::default()
        })
    })?;
    found
        .then_some(())
        .ok_or_else(|| AdminError::NoCase(number.to_string()))
}

/// Closes case `number` by hand: no more reminders or escalations. The timeline says so, with
/// `note` and `outcome` when given; `outcome` is kept on the case for the report (tick
/// `closed`, by outcome). A fault report closed before any answer is done then (tick
/// `faults_done`). `by` is who closed it, when a person is known.
///
/// # Errors
/// [`AdminError::NoCase`]; [`AdminError::Engine`] when it is closed already;
/// [`AdminError::Store`].
pub fn close(
    engine: &Engine,
    number: &str,
    (note, outcome): (&str, Option<&str>),
    by: Option<&str>,
    now: DateTime<Utc>,
) -> Result<(), AdminError> {
    let cfg = engine.cfg();
    let outcome = outcome.map(str::trim).filter(|o| !o.is_empty());
    let found = engine.update_case(number, |c| {
        if c.state == State::Closed {
            // A second close would only add a second "closed by hand" to the timeline.
            return Err(format!("case {number} is closed already"));
        }
        let mut ticks = Vec::new();
        if let Some(dept) = cfg.department(&c.department) {
            let day = dept.calendar.local_date(now);
            let key = outcome.unwrap_or_default().to_string();
            ticks.push(Tick::new(&dept.id, day, |t| {
                t.closed.insert(key, 1);
            }));
            if c.category == Category::FaultReport && c.answered_at.is_none() {
                ticks.push(Tick::new(&dept.id, day, |t| {
                    t.faults_done = 1;
                    t.faults_done_in_time = u64::from(now <= c.decision_due);
                }));
            }
        }
        c.state = State::Closed;
        c.outcome = outcome.map(str::to_string);
        let mut what = "closed by hand".to_string();
        if !note.is_empty() {
            what = format!("{what}: {note}");
        }
        if let Some(o) = outcome {
            what = format!("{what} (outcome: {o})");
        }
        match by {
            Some(by) => c.log_by(now, by, what),
            None => c.log(now, what),
        }
        Ok(Effects {
            ticks,
            ..Effects::default()
        })
    })?;
    found
        .then_some(())
        .ok_or_else(|| AdminError::NoCase(number.to_string()))
}

/// What a move did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Moved {
    /// The department it left.
    pub from: String,
    /// The department it now belongs to.
    pub to: String,
    /// Its new owner there.
    pub officer: Contact,
    /// The new reply deadline.
    pub reply_due: DateTime<Utc>,
    /// Why the resident was not told, when not (no receipt went when the case opened: the
    /// same reasons hold for this mail).
    pub resident_not_told: Option<String>,
}

/// Moves case `number` to department `to` (förvaltningslagen 2017:900 § 4: a matter that
/// reached the wrong department is passed on). It keeps its number and timeline, gets an owner
/// there as a new case would (round robin, or the manager for a complaint, absences
/// honoured), and deadlines counted from now on that department's calendar; the new owner gets
/// an officer notice and the resident one short notice (when a receipt went to them when the
/// case opened). Tick `moved_out` at the department it left.
///
/// # Errors
/// [`AdminError::NoCase`]; [`AdminError::Engine`] for an unknown department (naming the known
/// ones), the department it is in already, or a closed case; [`AdminError::Store`].
pub fn move_case(
    engine: &Engine,
    number: &str,
    to: &str,
    by: &str,
    now: DateTime<Utc>,
) -> Result<Moved, AdminError> {
    let cfg = engine.cfg();
    let Some(dept) = cfg.departments.iter().find(|d| d.id.eq_ignore_ascii_case(to.trim()))
    else {
        let known: Vec<String> = cfg
            .departments
            .iter()
            .map(|d| format!("{} ({})", d.id, d.name))
            .collect();
        return refuse(format!(
            "no department {to:?} in {}; the departments are: {}",
            cfg.file.display(),
            known.join(", ")
        ));
    };
    let case = read(engine, number)?;
    if case.department == dept.id {
        return refuse(format!("case {number} is in {} already", dept.id));
    }
    let away = engine.store.absences()?;
    let templates = engine.templates();
    let year = dept.calendar.local_date(now).format("%Y").to_string();
    let counter = (dept.case_prefix.as_str(), year.parse().unwrap_or(2026));
    let turn = engine.store.next_counters(&dept.id, counter, "")?.turn;
    let told = std::cell::RefCell::new(None);
    let found = engine.update_case(number, |c| {
        if c.state == State::Closed {
            return Err(format!("case {number} is closed; it is not moved"));
        }
        let from = c.department.clone();
        let cal = &dept.calendar;
        let who = assign::owner(dept, c.category, cal.local_date(now), turn, &away);
        c.department = dept.id.clone();
        c.officer = who.officer;
        c.substitute_for = who.substitute_for;
        c.state = State::Open;
        c.reply_due = cal.deadline(now, dept.reply_within_for(c.category));
        let decide = dept.decide_within.get(&c.category).copied();
        c.decision_due = cal.deadline(now, decide.unwrap_or(dept.reply_within));
        c.delay_told = false;
        c.log_by(
            now,
            by,
            format!(
                "moved from {from} to {}; assigned to {} <{}>; deadlines count from now",
                dept.id, c.officer.name, c.officer.email
            ),
        );
        let old = cfg.department(&from);
        let (mails, not_told) = move_mails(&cfg, dept, old, &templates, c, by, now)?;
        *told.borrow_mut() = not_told;
        let dues = schedule::case_dues(dept, c)
            .into_iter()
            .filter(|d| d.kind != schedule::DueKind::SixMonths || !c.six_months_scheduled)
            .collect();
        let day = old.map_or(cal, |d| &d.calendar).local_date(now);
        let tick = Tick::new(&from, day, |t| t.moved_out = 1);
        Ok(Effects {
            mails,
            dues,
            ticks: vec![tick],
            ..Effects::default()
        })
    })?;
    if !found {
        return Err(AdminError::NoCase(number.to_string()));
    }
    let c = read(engine, number)?;
    Ok(Moved {
        from: case.department,
        to: c.department,
        officer: c.officer,
        reply_due: c.reply_due,
        resident_not_told: told.into_inner(),
    })
}

/// The mails of a move: the officer notice to the new owner (with a stand-in for the
/// original, which stays in the old department's mailbox) and, when the case had its receipt,
/// the notice to the resident. Returns why the resident is not told, when not.
fn move_mails(
    cfg: &Config,
    dept: &Department,
    old: Option<&Department>,
    templates: &crate::mail::templates::Templates,
    c: &mut Case,
    by: &str,
    now: DateTime<Utc>,
) -> Result<(Vec<crate::store::Queued>, Option<String>), String> {
    let (old_name, old_email) = old.map_or((c.department.clone(), String::new()), |d| {
        (d.name.clone(), d.email.clone())
    });
    let sv = dept.staff_language == crate::model::Language::Sv;
    let note = if sv {
        format!("Ärendet flyttades hit från {old_name} av {by}. Originalmeddelandet finns i {old_email}.")
    } else {
        format!("The case was moved here from {old_name} by {by}. The original message is in {old_email}.")
    };
    let facts = NoticeFacts {
        no_receipt: None,
        header_only: None,
        note: &note,
    };
    let mut data = compose::notice_data(cfg, dept, c, &facts);
    data["moved_from"] = json!({ "name": old_name, "email": old_email });
    let id = crate::model::ids::staff_mail_id(
        &format!("moved-officer-{}", dept.id),
        &c.number,
        now,
        cfg.id_domain(),
    );
    let standin = standin(c, dept, &note);
    let notice = compose::officer_notice_as(cfg, dept, c, &standin, templates, now, (id, data))
        .map_err(|e| format!("the officer notice could not be built: {e}"))?;
    let mut mails = vec![notice];
    let not_told = if let Some(why) = &c.no_receipt {
        Some(format!("no receipt went when the case opened ({why})"))
    } else if c.resident.email.is_empty() {
        Some("the case has no address".to_string())
    } else {
        let from = old.unwrap_or(dept);
        let mail = crate::mail::notices::moved_notice(cfg, dept, from, templates, c, now)
            .map_err(|e| format!("the resident's notice could not be built: {e}"))?;
        mails.push(mail);
        None
    };
    for m in &mails {
        c.message_ids.push(m.id.clone());
    }
    Ok((mails.into_iter().map(super::outbox::queued).collect(), not_told))
}

/// A short message in place of the original (kvittens keeps no bodies): from the resident to
/// the new department, with the case's subject, saying where the original is.
fn standin(c: &Case, dept: &Department, note: &str) -> Vec<u8> {
    use crate::mail::outgoing;
    let built = outgoing::mailbox(c.resident.name.as_deref(), &c.resident.email).and_then(|from| {
        lettre::Message::builder()
            .from(from)
            .to(outgoing::mailbox(Some(&dept.name), &dept.email)?)
            .subject(c.subject.replace(['\r', '\n'], " "))
            .date(c.received.into())
            .singlepart(outgoing::text_part(note.to_string()))
            .map_err(outgoing::ComposeError::Mail)
    });
    match built {
        Ok(m) => m.formatted(),
        Err(_) => format!("Content-Type: text/plain; charset=utf-8\r\n\r\n{note}\r\n").into_bytes(),
    }
}

/// Puts the six-month check (förvaltningslagen § 12) into the schedule of every undecided
/// case that lacks it — cases opened before this version — so that the clock wakes for them.
/// Returns how many were scheduled. Run by the daily housekeeping.
///
/// # Errors
/// [`StoreError`] when the store fails.
pub fn schedule_six_months(engine: &Engine) -> Result<usize, StoreError> {
    let mut missing = Vec::new();
    engine.store.for_each_case(&mut |c| {
        if !c.six_months_scheduled && c.six_months.is_none() && c.state != State::Closed {
            missing.push(c.number);
        }
    })?;
    let mut done = 0;
    for number in missing {
        let updated = engine.update_case(&number, |c| {
            if c.six_months_scheduled {
                return Ok(Effects::default());
            }
            c.six_months_scheduled = true;
            Ok(Effects {
                dues: vec![schedule::six_months_due(&c.department, c)],
                ..Effects::default()
            })
        });
        match updated {
            Ok(true) => done += 1,
            Ok(false) => {}
            Err(crate::app::edit::EditError::Store(e)) => return Err(e),
            Err(crate::app::edit::EditError::Refused(_)) => {}
        }
    }
    Ok(done)
}
