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
pub(crate) fn department_of<'a>(
    cfg: &'a Config,
    case: &Case,
) -> Result<&'a Department, AdminError> {
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
fn contact_time(
    dept: &Department,
    case: &Case,
    on: NaiveDate,
    now: DateTime<Utc>,
) -> DateTime<Utc> {
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
    let number = &crate::model::ids::typed_case_number(number);
    let note = &crate::model::case::one_line(&made.note);
    if note.is_empty() {
        return refuse(
            "--note is empty: say what was said or agreed, for the case's timeline".into(),
        );
    }
    let case = read(engine, number)?;
    let cfg = engine.cfg();
    let dept = department_of(&cfg, &case)?;
    let cal = &dept.calendar;
    let today = cal.local_date(now);
    let on = made.on.unwrap_or(today);
    if on > today {
        return refuse(format!(
            "--on {on} is in the future: record a contact once it is made"
        ));
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
        let late = if in_time {
            ""
        } else {
            ", after the reply deadline"
        };
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
    let number = &crate::model::ids::typed_case_number(number);
    let note = &crate::model::case::one_line(note);
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
    let number = &crate::model::ids::typed_case_number(number);
    let cfg = engine.cfg();
    let outcome = outcome
        .map(crate::model::case::one_line)
        .filter(|o| !o.is_empty());
    let found = engine.update_case(number, |c| {
        if c.state == State::Closed {
            // A second close would only add a second "closed by hand" to the timeline.
            return Err(format!("case {number} is closed already"));
        }
        let mut ticks = Vec::new();
        if let Some(dept) = cfg.department(&c.department) {
            let day = dept.calendar.local_date(now);
            let key = crate::model::tally::outcome_key(outcome.as_deref().unwrap_or_default());
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
        c.outcome = outcome.clone();
        let mut what = "closed by hand".to_string();
        if !note.is_empty() {
            what = format!("{what}: {note}");
        }
        if let Some(o) = &outcome {
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
    let number = &crate::model::ids::typed_case_number(number);
    let cfg = engine.cfg();
    let dept = match cfg.find_department(to) {
        Ok(dept) => dept,
        Err(why) => return refuse(why),
    };
    let case = read(engine, number)?;
    if case.department == dept.id {
        return refuse(format!("case {number} is in {} already", dept.id));
    }
    let away = engine.store.absences()?;
    let templates = engine.templates();
    let year = dept.calendar.local_date(now).format("%Y").to_string();
    let counter = (dept.case_prefix.as_str(), year.parse().unwrap_or(2026));
    let told = std::cell::RefCell::new(None);
    let found = engine.update_case(number, |c| {
        if c.state == State::Closed {
            return Err(format!("case {number} is closed; it is not moved"));
        }
        // Read on every try: the move takes the turn only if it is still as read.
        let turn = (engine.store.next_counters(&dept.id, counter, ""))
            .map_err(|e| e.to_string())?
            .turn;
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
            // A case moved and assigned by turn (`assign::owner`: all but a complaint, a
            // catalogued fault too) takes the turn, as a new case does.
            turn: (c.category != Category::Complaint).then(|| crate::store::Turn {
                department: dept.id.clone(),
                was: turn,
            }),
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
        format!("Ärendet har flyttats hit från {old_name} av {by}. Originalmeddelandet finns i {old_email}.")
    } else {
        format!("The case has been moved here from {old_name} by {by}. The original message is in {old_email}.")
    };
    let facts = NoticeFacts {
        no_receipt: None,
        header_only: None,
        note: &note,
    };
    let mut data = compose::notice_data(cfg, dept, c, &facts);
    // A move is told in its own words, not as the registrar's note (the template's
    // `moved_from` block).
    data["moved_from"] = json!({ "name": old_name, "email": old_email, "by": by });
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
    let not_told = if let Some(why) = c.resident_not_told() {
        Some(why)
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
    Ok((
        mails.into_iter().map(super::outbox::queued).collect(),
        not_told,
    ))
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::engine::{Incoming, Outcome};
    use crate::model::Kind;
    use crate::store::MessageKey;
    use crate::testkit::Sample;
    use chrono::{Duration, TimeZone};

    /// Two departments: `bygg` (officers Olle and Ada, manager M; working days 08–17 with the
    /// Swedish holidays) and `plan` (officer Pia, manager P; open all day every day).
    fn engine(dir: &std::path::Path) -> Engine {
        let department = format!(
            r#"reply_within = "3d"
working_hours = "08:00-17:00"
holidays = "swedish"
escalate_to = {{ name = "Kommundirektör", email = "kd@kommun.test" }}
{}"#,
            crate::testkit::PLAN
        );
        let sample = Sample {
            officers: crate::testkit::OLLE_AND_ADA,
            department: &department,
            ..Sample::default()
        };
        sample.engine(dir).0
    }

    fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 2, 9, 0, 0).unwrap()
    }

    /// Opens a case in `bygg` from a resident's mail with `subject`, received at `t0`.
    fn open(e: &Engine, uid: u32, subject: &str) -> Case {
        let dept = e.cfg().departments[0].clone();
        let raw = format!("From: Sara Berg <sara@example.se>\r\nTo: bygg@kommun.test\r\nSubject: {subject}\r\nMessage-ID: <m{uid}@example.se>\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nHej! Jag skriver om mitt ärende.\r\n");
        let incoming = Incoming {
            key: MessageKey {
                department: "bygg".into(),
                uid_validity: 1,
                uid,
            },
            received: t0(),
            raw: raw.as_bytes(),
            sent_folder: false,
        };
        let out = e.handle(&dept, &incoming).unwrap();
        let Outcome::Opened(case) = out else {
            panic!("no case: {out:?}");
        };
        *case
    }

    /// The first text part of a mail, decoded.
    fn body(bytes: &[u8]) -> String {
        let parsed = mail_parser::MessageParser::default().parse(bytes).unwrap();
        parsed.body_text(0).unwrap().replace("\r\n", "\n")
    }

    fn day(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    fn tally(e: &Engine, dept: &str) -> crate::model::tally::DayTally {
        let mut all = crate::model::tally::DayTally::default();
        for (_, _, t) in e
            .store
            .tallies(Some(dept), day("2026-01-01"), day("2027-12-31"))
            .unwrap()
        {
            all.add(&t);
        }
        all
    }

    #[test]
    fn a_complaint_is_the_managers_with_a_weeks_contact_deadline() {
        let dir = tempfile::tempdir().unwrap();
        let e = engine(dir.path());
        let c = open(&e, 1, "Klagomål på bemötandet");
        assert_eq!(c.category, Category::Complaint);
        assert_eq!(c.officer.email, "m@kommun.test");
        assert_eq!(c.reply_due, t0() + Duration::days(7));
        assert!(c.six_months_scheduled);
        let q = open(&e, 2, "Fråga om bygglov");
        assert_eq!(q.reply_due, t0() + Duration::days(3));
        assert_ne!(q.officer.email, "m@kommun.test");
    }

    #[test]
    fn a_contact_answers_the_case_and_is_counted_once_per_complaint() {
        let dir = tempfile::tempdir().unwrap();
        let e = engine(dir.path());
        let c = open(&e, 1, "Klagomål på bemötandet");
        let made = |way, on: Option<&str>, note: &str| NewContact {
            way,
            on: on.map(day),
            note: note.into(),
        };
        let now = t0() + Duration::days(2);
        let refused = |m: NewContact| {
            contact(&e, &c.number, &m, "anna", now)
                .unwrap_err()
                .to_string()
        };
        assert!(refused(made(ContactWay::Phone, None, " ")).contains("--note is empty"));
        assert!(refused(made(ContactWay::Phone, Some("2026-03-05"), "x")).contains("in the future"));
        assert!(refused(made(ContactWay::Phone, Some("2026-03-01"), "x"))
            .contains("before the case arrived"));
        let done = contact(
            &e,
            &c.number,
            &made(ContactWay::Phone, Some("2026-03-03"), "Ringde Sara"),
            "anna",
            now,
        )
        .unwrap();
        assert_eq!(
            done,
            Contacted {
                on: day("2026-03-03"),
                answered: true,
                in_time: true
            }
        );
        let after = e.store.case(&c.number).unwrap().unwrap();
        assert_eq!(after.state, State::Answered);
        assert_eq!(after.contacts.len(), 1);
        assert_eq!(after.contacts[0].way, ContactWay::Phone);
        let last = after.events.last().unwrap();
        assert_eq!(last.by.as_deref(), Some("anna"));
        assert!(after
            .events
            .iter()
            .any(|ev| ev.what == "contact by phone on 2026-03-03: Ringde Sara"));
        // A second contact: counted by how, not again as the complaint's contact or an answer.
        let again = contact(
            &e,
            &c.number,
            &made(ContactWay::Visit, None, "Besök"),
            "anna",
            now,
        )
        .unwrap();
        assert!(!again.answered);
        let t = tally(&e, "bygg");
        assert_eq!(
            (t.complaints_contacted, t.complaints_contacted_in_time),
            (1, 1)
        );
        assert_eq!((t.answered, t.answered_in_time), (1, 1));
        assert_eq!(t.contacts_by["phone"], 1);
        assert_eq!(t.contacts_by["visit"], 1);
        // No reminder or escalation fires for the answered case.
        let queued = e.fire_due(t0() + Duration::days(30)).unwrap();
        let pending = e.outbox_handle().pending().unwrap();
        assert!(
            pending
                .iter()
                .all(|m| m.kind != Kind::Escalation && m.kind != Kind::Reminder),
            "{queued}"
        );
    }

    #[test]
    fn a_late_contact_is_counted_late_and_measures_and_the_outcome_are_kept() {
        let dir = tempfile::tempdir().unwrap();
        let e = engine(dir.path());
        let c = open(&e, 1, "Klagomål på bemötandet");
        let now = t0() + Duration::days(9);
        let late = NewContact {
            way: ContactWay::Letter,
            on: None,
            note: "Brev".into(),
        };
        assert!(!contact(&e, &c.number, &late, "m", now).unwrap().in_time);
        assert!(measure(&e, &c.number, "", "m", now).is_err());
        measure(&e, &c.number, "Rutinen för bemötande ses över", "m", now).unwrap();
        close(&e, &c.number, ("", Some("befogat")), Some("m"), now).unwrap();
        let after = e.store.case(&c.number).unwrap().unwrap();
        assert_eq!(after.measures[0].note, "Rutinen för bemötande ses över");
        assert_eq!(after.outcome.as_deref(), Some("befogat"));
        assert_eq!(
            after.events.last().unwrap().what,
            "closed by hand (outcome: befogat)"
        );
        let t = tally(&e, "bygg");
        assert_eq!(
            (t.complaints_contacted, t.complaints_contacted_in_time),
            (1, 0)
        );
        assert_eq!(t.measures, 1);
        assert_eq!(t.closed["befogat"], 1);
        // Another person's spelling of the same outcome is the same outcome.
        let d = open(&e, 2, "Klagomål på handläggningen");
        close(&e, &d.number, ("", Some("  Befogat ")), Some("m"), now).unwrap();
        let e2 = open(&e, 3, "Klagomål på tonen");
        close(
            &e,
            &e2.number,
            ("", Some("Delvis   BEFOGAT")),
            Some("m"),
            now,
        )
        .unwrap();
        let t = tally(&e, "bygg");
        assert_eq!(t.closed["befogat"], 2, "{:?}", t.closed);
        assert_eq!(t.closed["delvis befogat"], 1, "{:?}", t.closed);
        assert_eq!(t.closed.len(), 2, "{:?}", t.closed);
    }

    #[test]
    fn a_case_moves_with_its_number_to_a_new_officer_and_the_resident_is_told() {
        let dir = tempfile::tempdir().unwrap();
        let e = engine(dir.path());
        let c = open(&e, 1, "Fråga om detaljplan");
        let now = t0() + Duration::hours(2);
        let e1 = move_case(&e, &c.number, "planning", "anna", now)
            .unwrap_err()
            .to_string();
        assert!(e1.contains("no department \"planning\""), "{e1}");
        assert!(
            e1.contains(
                "the departments are: bygg (Bygg- och miljöförvaltningen), plan (Planavdelningen)"
            ),
            "{e1}"
        );
        let same = move_case(&e, &c.number, "bygg", "anna", now)
            .unwrap_err()
            .to_string();
        assert!(same.contains("is in bygg already"), "{same}");
        let moved = move_case(&e, &c.number, "plan", "anna", now).unwrap();
        assert_eq!((moved.from.as_str(), moved.to.as_str()), ("bygg", "plan"));
        assert_eq!(moved.officer.email, "pia@kommun.test");
        assert_eq!(moved.resident_not_told, None);
        let after = e.store.case(&c.number).unwrap().unwrap();
        assert_eq!(after.number, c.number);
        assert_eq!(after.department, "plan");
        assert_eq!(after.reply_due, now + Duration::days(3));
        assert!(after.events.len() > c.events.len());
        let pending = e.outbox_handle().pending().unwrap();
        let notice = pending
            .iter()
            .find(|m| m.kind == Kind::OfficerNotice && m.to == ["pia@kommun.test"])
            .expect("the new officer is told");
        let text = body(&notice.bytes);
        assert!(
            text.contains("Ärendet har flyttats hit från Bygg- och miljöförvaltningen av anna. Originalmeddelandet finns i bygg@kommun.test."),
            "{text}"
        );
        assert!(!text.contains("Registratorns anteckning"), "{text}");
        let told = pending
            .iter()
            .find(|m| m.kind == Kind::Moved)
            .expect("the resident is told");
        assert_eq!(told.to, ["sara@example.se"]);
        assert_eq!(told.envelope_from, "plan@kommun.test");
        assert_eq!(tally(&e, "bygg").moved_out, 1);
        // Its old department's schedule no longer reaches it: the reminders are plan's.
        e.fire_due(after.reply_due + Duration::hours(1)).unwrap();
        let pending = e.outbox_handle().pending().unwrap();
        let esc: Vec<_> = pending
            .iter()
            .filter(|m| m.kind == Kind::Escalation)
            .collect();
        assert!(
            !esc.is_empty() && esc.iter().all(|m| m.to == ["p@kommun.test"]),
            "{esc:?}"
        );
    }

    #[test]
    fn six_months_open_flags_the_case_tells_the_manager_once_and_the_digest_lists_it() {
        let dir = tempfile::tempdir().unwrap();
        let e = engine(dir.path());
        let c = open(&e, 1, "Ansökan om bygglov");
        let six = schedule::six_months_after(c.received);
        assert_eq!(six, Utc.with_ymd_and_hms(2026, 9, 2, 9, 0, 0).unwrap());
        e.fire_due(six - Duration::minutes(1)).unwrap();
        assert!(e
            .store
            .case(&c.number)
            .unwrap()
            .unwrap()
            .six_months
            .is_none());
        e.fire_due(six).unwrap();
        let after = e.store.case(&c.number).unwrap().unwrap();
        assert_eq!(after.six_months, Some(six));
        let told = |e: &Engine| {
            e.outbox_handle()
                .pending()
                .unwrap()
                .into_iter()
                .filter(|m| m.kind == Kind::SixMonths)
                .collect::<Vec<_>>()
        };
        let mails = told(&e);
        assert_eq!(mails.len(), 1);
        assert_eq!(mails[0].to[0], "m@kommun.test");
        let text = body(&mails[0].bytes);
        assert!(text.contains("förvaltningslagen"), "{text}");
        assert_eq!(tally(&e, "bygg").six_months, 1);
        let dept = &e.cfg().departments[0];
        let data =
            crate::mail::notices::digest_data(dept, &[after], six, crate::model::Language::Sv);
        assert_eq!(data["six_months_count"], 1);
        let digest = e.templates().render("digest.sv", &data).unwrap();
        let section = digest
            .split("förvaltningslagen 12 §")
            .nth(1)
            .unwrap_or_default();
        assert!(section.contains(&c.number), "{digest}");
        e.fire_due(six + Duration::days(40)).unwrap();
        assert_eq!(told(&e).len(), 1, "told once");
    }

    #[test]
    fn a_postponement_needs_its_reason_and_a_day_off_moves_to_the_next_working_day() {
        let dir = tempfile::tempdir().unwrap();
        let e = engine(dir.path());
        let c = open(&e, 1, "Ansökan om bygglov");
        let now = t0() + Duration::days(1);
        let saturday = day("2026-03-14");
        for note in ["", "  "] {
            let no = crate::app::admin::postpone(&e, &c.number, saturday, note, Some("anna"), now);
            let why = no.unwrap_err().to_string();
            assert!(
                why.contains("must say why (förvaltningslagen 11 §)"),
                "{why}"
            );
        }
        let used = crate::app::admin::postpone(
            &e,
            &c.number,
            saturday,
            "Vi väntar på ett yttrande från Trafikverket",
            Some("anna"),
            now,
        )
        .unwrap();
        assert_eq!(used, day("2026-03-16"));
        let after = e.store.case(&c.number).unwrap().unwrap();
        assert_eq!(
            after.decision_due,
            e.cfg().departments[0].calendar.end_of_day(used)
        );
        let last = after.events.last().unwrap();
        assert_eq!(last.by.as_deref(), Some("anna"));
        assert!(
            last.what.contains("2026-03-14 is not a working day"),
            "{}",
            last.what
        );
        let pending = e.outbox_handle().pending().unwrap();
        let delay = pending
            .iter()
            .find(|m| m.kind == Kind::Delay)
            .expect("a delay notice");
        let text = body(&delay.bytes);
        assert!(
            text.contains("Vi väntar på ett yttrande från Trafikverket"),
            "{text}"
        );
        assert!(text.contains("måndag 16 mars 2026"), "{text}");
        assert_eq!(tally(&e, "bygg").delay_notices, 1);
    }

    #[test]
    fn every_copied_mail_to_the_resident_names_its_case_so_its_copy_is_known_as_ours() {
        let dir = tempfile::tempdir().unwrap();
        let e = engine(dir.path());
        let c = open(&e, 1, "Ansökan om bygglov");
        let now = t0() + Duration::days(1);
        crate::app::admin::postpone(&e, &c.number, day("2026-03-20"), "Yttrande", None, now)
            .unwrap();
        move_case(&e, &c.number, "plan", "anna", now).unwrap();
        let pending = e.outbox_handle().pending().unwrap();
        let copied: Vec<_> = pending.iter().filter(|m| m.copy).collect();
        let kinds: Vec<Kind> = copied.iter().map(|m| m.kind).collect();
        for kind in [Kind::Receipt, Kind::Delay, Kind::Moved] {
            assert!(kinds.contains(&kind), "{kind:?} in {kinds:?}");
        }
        for m in copied {
            assert_eq!(
                e.store.case_of_message(&m.id).unwrap().as_deref(),
                Some(c.number.as_str()),
                "{:?} {}",
                m.kind,
                m.id
            );
        }
    }

    #[test]
    fn a_postponed_question_or_report_moves_its_reply_date_and_its_follow_up() {
        for (uid, subject) in [(1, "Fråga om detaljplan"), (2, "Felanmälan: gatlykta")] {
            let dir = tempfile::tempdir().unwrap();
            let e = engine(dir.path());
            let c = open(&e, uid, subject);
            assert_ne!(c.category, Category::Application, "{subject}");
            let cal = e.cfg().departments[0].calendar.clone();
            let promised = cal.local_date(c.reply_due);
            let now = t0() + Duration::hours(1);
            let why = "Vi väntar på ett yttrande";
            for earlier in [promised, promised - Duration::days(1)] {
                let no = crate::app::admin::postpone(&e, &c.number, earlier, why, None, now)
                    .unwrap_err()
                    .to_string();
                assert!(
                    no.contains("a delay notice tells of a later date; to answer sooner, answer"),
                    "{no}"
                );
            }
            let to = day("2026-03-20");
            assert_eq!(
                crate::app::admin::postpone(&e, &c.number, to, why, None, now).unwrap(),
                to
            );
            let after = e.store.case(&c.number).unwrap().unwrap();
            assert_eq!(after.reply_due, cal.end_of_day(to), "{subject}");
            assert_eq!(after.decision_due, cal.end_of_day(to), "{subject}");
            assert!(after
                .events
                .last()
                .unwrap()
                .what
                .contains("reply date moved"));
            let followed = |e: &Engine, at| {
                e.fire_due(at).unwrap();
                e.outbox_handle()
                    .pending()
                    .unwrap()
                    .into_iter()
                    .filter(|m| matches!(m.kind, Kind::Escalation | Kind::Reminder))
                    .count()
            };
            // The old date passes quietly; the new one is followed.
            assert_eq!(
                followed(&e, c.reply_due + Duration::hours(1)),
                0,
                "{subject}"
            );
            assert!(followed(&e, after.reply_due + Duration::hours(1)) > 0);
        }
    }

    #[test]
    fn an_application_postponed_keeps_its_reply_date_and_an_earlier_date_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let e = engine(dir.path());
        let c = open(&e, 1, "Ansökan om bygglov");
        let cal = e.cfg().departments[0].calendar.clone();
        let now = t0() + Duration::hours(1);
        let same = cal.local_date(c.decision_due);
        let no = crate::app::admin::postpone(&e, &c.number, same, "x", None, now).unwrap_err();
        assert!(no.to_string().contains("to answer sooner, answer"), "{no}");
        let to = day("2026-03-20");
        crate::app::admin::postpone(&e, &c.number, to, "x", None, now).unwrap();
        let after = e.store.case(&c.number).unwrap().unwrap();
        assert_eq!(after.decision_due, cal.end_of_day(to));
        assert_eq!(after.reply_due, c.reply_due);
    }

    #[test]
    fn housekeeping_schedules_the_six_month_check_of_older_cases_once() {
        let dir = tempfile::tempdir().unwrap();
        let e = engine(dir.path());
        let c = open(&e, 1, "Fråga om bygglov");
        // As a version before the check stored it: no flag and no entry.
        let mut old = c.clone();
        old.six_months_scheduled = false;
        e.update_case(&c.number, |x| {
            *x = old.clone();
            Ok(Effects::default())
        })
        .unwrap();
        assert_eq!(schedule_six_months(&e).unwrap(), 1);
        assert_eq!(schedule_six_months(&e).unwrap(), 0);
        assert!(
            e.store
                .case(&c.number)
                .unwrap()
                .unwrap()
                .six_months_scheduled
        );
    }
}
