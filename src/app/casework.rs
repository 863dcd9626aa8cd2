//! What a person does to a case or an absence beyond what the command line's case commands
//! do (`app::caseops` and `admin`): flag and unflag, give a case to another officer of its
//! department, and end an absence set at run time — today's through `admin::back`, a coming
//! one withdrawn before it begins. Each change to a case lands in its timeline with the
//! person's address (`Case::log_by`). Who *may* do it is decided before, by
//! [`crate::rules::permit`].

use crate::app::admin::{self, AdminError};
use crate::app::engine::Engine;
use crate::app::error::refused;
use crate::model::{ids, Absence, Case, Contact, State};
use crate::store::Effects;
use chrono::{DateTime, NaiveDate, Utc};

/// Changes case `number` by `change` (see [`Engine::update_case`]); a missing case is
/// [`AdminError::NoCase`].
fn change(
    engine: &Engine,
    number: &str,
    change: impl Fn(&mut Case) -> Result<Effects, String>,
) -> Result<(), AdminError> {
    let found = engine.update_case(number, change)?;
    found
        .then_some(())
        .ok_or_else(|| AdminError::NoCase(number.to_string()))
}

/// Flags case `number` for a person's attention with `why` (shown in `cases --flagged` and on
/// the web page); a flag already there is replaced.
///
/// # Errors
/// [`AdminError::NoCase`]; [`AdminError::Engine`] when `why` is empty.
pub fn flag(
    engine: &Engine,
    number: &str,
    why: &str,
    by: &str,
    now: DateTime<Utc>,
) -> Result<(), AdminError> {
    let number = &ids::typed_case_number(number);
    let why = &crate::model::case::one_line(why);
    if why.is_empty() {
        return Err(refused!("say why the case is flagged").into());
    }
    change(engine, number, |c| {
        c.flagged = Some(why.to_string());
        c.log_by(now, by, format!("flagged: {why}"));
        Ok(Effects::default())
    })
}

/// Takes case `number`'s flag off (whatever set it: kvittens or a person).
///
/// # Errors
/// [`AdminError::NoCase`]; [`AdminError::Engine`] when it is not flagged.
pub fn unflag(
    engine: &Engine,
    number: &str,
    by: &str,
    now: DateTime<Utc>,
) -> Result<(), AdminError> {
    let number = &ids::typed_case_number(number);
    change(engine, number, |c| {
        let Some(was) = c.flagged.take() else {
            return Err(format!("case {number} is not flagged"));
        };
        c.log_by(now, by, format!("flag taken off (was: {was})"));
        Ok(Effects::default())
    })
}

/// Gives case `number` to `officer`, another officer of its department or its manager. Reminders and
/// escalations follow the case's officer, so they go to the new one from now on. Returns the
/// new officer.
///
/// # Errors
/// [`AdminError::NoCase`]; [`AdminError::Engine`] for an address that is no officer or
/// manager of the department, the officer it has, or a closed case.
pub fn reassign(
    engine: &Engine,
    number: &str,
    officer: &str,
    by: &str,
    now: DateTime<Utc>,
) -> Result<Contact, AdminError> {
    let number = &ids::typed_case_number(number);
    let cfg = engine.cfg();
    let case = admin::case(engine, number)?;
    let dept = crate::app::caseops::department_of(&cfg, &case)?;
    // The manager may take a case back (a complaint a substitute held while they were away).
    let to = dept
        .officer(officer.trim())
        .map(|o| o.contact.clone())
        .or_else(|| {
            let m = &dept.manager;
            m.email
                .eq_ignore_ascii_case(officer.trim())
                .then(|| m.clone())
        })
        .ok_or_else(|| {
            AdminError::from(refused!(
                "{} is not an officer or the manager of {} ({})",
                officer.trim(),
                dept.name,
                dept.id
            ))
        })?;
    change(engine, number, |c| {
        if c.state == State::Closed {
            return Err(format!("case {number} is closed"));
        }
        if c.officer.email.eq_ignore_ascii_case(&to.email) {
            return Err(format!("case {number} is {}'s already", to.name));
        }
        let from = std::mem::replace(&mut c.officer, to.clone());
        c.substitute_for = None;
        let what = format!(
            "reassigned from {} <{}> to {} <{}>",
            from.name, from.email, to.name, to.email
        );
        c.log_by(now, by, what);
        Ok(Effects::default())
    })?;
    Ok(to)
}

/// What ending an absence did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Ended {
    /// It covered today: the person is back from now ([`admin::back`]).
    Back(admin::Back),
    /// It had not begun: it is gone.
    Withdrawn(Absence),
}

/// Ends `officer`'s absence set at run time that begins on `from`: one that covers today the
/// way `officer back` ends it ([`admin::back`]: it ends yesterday, or is gone when it began
/// today); one still to come is withdrawn. Either way the person gets their cases' reminders
/// and new cases again for those days. An absence planned in the config is the config's to
/// change.
///
/// # Errors
/// [`AdminError::Absence`] when there is no such absence, or it is over; [`AdminError::Store`].
pub fn end_absence(
    engine: &Engine,
    officer: &str,
    from: NaiveDate,
    now: DateTime<Utc>,
) -> Result<Ended, AdminError> {
    let officer = officer.trim().to_lowercase();
    let recorded = engine.store.absences()?;
    let Some(absence) = recorded
        .into_iter()
        .find(|(e, a)| e.eq_ignore_ascii_case(&officer) && a.from == from)
        .map(|(_, a)| a)
    else {
        return Err(AdminError::Absence(format!(
            "{officer} has no absence from {from} set at run time"
        )));
    };
    let cfg = engine.cfg();
    let today = cfg
        .departments
        .iter()
        .find(|d| d.colleague(&officer).is_some())
        .map_or_else(|| now.date_naive(), |d| d.calendar.local_date(now));
    if absence.from > today {
        engine.store.remove_absence(&officer, from)?;
        return Ok(Ended::Withdrawn(absence));
    }
    if absence.to < today {
        return Err(AdminError::Absence(format!(
            "{officer}'s absence {} – {} is over",
            absence.from, absence.to
        )));
    }
    admin::back(engine, &officer, now).map(Ended::Back)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::{case as sample, test_engine};

    fn now() -> DateTime<Utc> {
        crate::testkit::se("2026-12-03 10:00")
    }

    fn engine_with_case(dir: &std::path::Path) -> Engine {
        let engine = test_engine(dir, "");
        let mut c = sample("BMN-2026-0001", &[]);
        c.officer = Contact {
            name: "Olle".into(),
            email: "o1@kommun.test".into(),
        };
        c.reply_due = now() + chrono::Duration::days(3);
        c.decision_due = c.reply_due;
        engine.store.put_many(&[c], &[]).unwrap();
        engine
    }

    fn last(engine: &Engine) -> crate::model::Event {
        let c = crate::app::admin::case(engine, "BMN-2026-0001").unwrap();
        c.events.last().cloned().unwrap()
    }

    #[test]
    fn every_change_names_who_made_it_in_the_timeline() {
        let dir = tempfile::tempdir().unwrap();
        let engine = engine_with_case(dir.path());
        let by = "m@kommun.test";
        flag(&engine, "BMN-2026-0001", "ring tillbaka", by, now()).unwrap();
        assert_eq!(last(&engine).what, "flagged: ring tillbaka");
        assert_eq!(last(&engine).by.as_deref(), Some(by));
        unflag(&engine, "BMN-2026-0001", by, now()).unwrap();
        assert_eq!(last(&engine).what, "flag taken off (was: ring tillbaka)");
        let e = unflag(&engine, "BMN-2026-0001", by, now()).unwrap_err();
        assert_eq!(e.to_string(), "case BMN-2026-0001 is not flagged");
        let to = reassign(&engine, "BMN-2026-0001", "O2@kommun.test", by, now()).unwrap();
        assert_eq!(to.email, "o2@kommun.test");
        assert_eq!(
            last(&engine).what,
            "reassigned from Olle <o1@kommun.test> to Ada <o2@kommun.test>"
        );
        // The manager may take it (and give it back).
        let to = reassign(&engine, "BMN-2026-0001", "M@kommun.test", by, now()).unwrap();
        assert_eq!(to.email, "m@kommun.test");
        reassign(&engine, "BMN-2026-0001", "o2@kommun.test", by, now()).unwrap();
        let e = reassign(&engine, "BMN-2026-0001", "x@kommun.test", by, now()).unwrap_err();
        assert!(
            e.to_string()
                .contains("is not an officer or the manager of"),
            "{e}"
        );
        // A number typed in lower case finds its case, as on the command line.
        flag(&engine, "bmn-2026-0001", "igen", by, now()).unwrap();
        assert_eq!(last(&engine).what, "flagged: igen");
        let e = flag(&engine, "BMN-2026-0099", "x", by, now()).unwrap_err();
        assert!(matches!(e, AdminError::NoCase(_)));
        crate::app::caseops::close(&engine, "BMN-2026-0001", ("", None), Some(by), now()).unwrap();
        let e = reassign(&engine, "BMN-2026-0001", "o1@kommun.test", by, now()).unwrap_err();
        assert_eq!(e.to_string(), "case BMN-2026-0001 is closed");
    }

    #[test]
    fn a_coming_absence_is_withdrawn_and_todays_ends_as_officer_back_ends_it() {
        let dir = tempfile::tempdir().unwrap();
        let engine = test_engine(dir.path(), "");
        let day = |d| NaiveDate::from_ymd_opt(2026, 12, d).unwrap();
        let away = |from, to| {
            let a = admin::Away {
                officer: "o1@kommun.test".into(),
                substitute: "o2@kommun.test".into(),
                from,
                to,
            };
            admin::away(&engine, a, now()).unwrap();
        };
        // now() is 2026-12-03.
        away(day(10), day(11));
        let ended = end_absence(&engine, "O1@kommun.test", day(10), now()).unwrap();
        assert!(
            matches!(ended, Ended::Withdrawn(ref a) if a.to == day(11)),
            "{ended:?}"
        );
        assert!(engine.store.absences().unwrap().is_empty());
        let e = end_absence(&engine, "o1@kommun.test", day(10), now()).unwrap_err();
        assert_eq!(
            e.to_string(),
            "o1@kommun.test has no absence from 2026-12-10 set at run time"
        );
        away(day(1), day(9));
        let Ended::Back(back) = end_absence(&engine, "o1@kommun.test", day(1), now()).unwrap()
        else {
            panic!("today's absence ends as officer back ends it");
        };
        assert_eq!(back.ends, Some(day(2)));
        let left = engine.store.absences().unwrap();
        assert_eq!(left.len(), 1);
        assert_eq!((left[0].1.from, left[0].1.to), (day(1), day(2)));
        let e = end_absence(&engine, "o1@kommun.test", day(1), now()).unwrap_err();
        assert_eq!(
            e.to_string(),
            "o1@kommun.test's absence 2026-12-01 – 2026-12-02 is over"
        );
    }
}
