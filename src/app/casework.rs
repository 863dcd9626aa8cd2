//! What a person does to a case or an absence, with who did it (handläggning): close,
//! postpone, flag and unflag, reassign to another officer, end an absence. The command line and
//! the web page change a case the same way whoever asks (`admin::close` is [`close`]; both
//! postponements end in `Engine::postpone_by`); each change lands in the case's
//! timeline with the person's address (`Case::log_by`). Who *may* do it is decided before, by
//! [`crate::rules::permit`].

use crate::app::admin::AdminError;
use crate::app::engine::Engine;
use crate::app::error::AppError;
use crate::model::{Case, Contact, State};
use crate::store::Effects;
use chrono::{DateTime, NaiveDate, Utc};

/// Logs `what` on `c`, with `by` when a person did it.
fn log(c: &mut Case, now: DateTime<Utc>, by: Option<&str>, what: String) {
    match by {
        Some(by) => c.log_by(now, by, what),
        None => c.log(now, what),
    }
}

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

/// Closes case `number` by hand: no more reminders or escalations. The timeline says so, with
/// `note` when one is given, and `by` when a person is named.
///
/// # Errors
/// [`AdminError::NoCase`] when there is none; [`AdminError::Engine`] when it is closed already;
/// [`AdminError::Store`] when the store fails.
pub fn close(
    engine: &Engine,
    number: &str,
    note: &str,
    by: Option<&str>,
    now: DateTime<Utc>,
) -> Result<(), AdminError> {
    change(engine, number, |c| {
        if c.state == State::Closed {
            // A second close would only add a second "closed by hand" to the timeline.
            return Err(format!("case {number} is closed already"));
        }
        c.state = State::Closed;
        let why = if note.trim().is_empty() {
            String::new()
        } else {
            format!(": {}", note.trim())
        };
        log(c, now, by, format!("closed by hand{why}"));
        Ok(Effects::default())
    })
}

/// Moves case `number`'s decision date to the end of `to` and queues one delay notice to the
/// resident with `note` as the reason (förvaltningslagen 2017:900 § 11: a resident is told when
/// a decision will be late, and why).
///
/// # Errors
/// [`AdminError::NoCase`]; [`AdminError::Engine`] for a closed case or a date passed.
pub fn postpone(
    engine: &Engine,
    number: &str,
    to: NaiveDate,
    note: &str,
    by: Option<&str>,
    now: DateTime<Utc>,
) -> Result<(), AdminError> {
    match engine.postpone_by(number, to, note.trim(), by, now) {
        Ok(true) => Ok(()),
        Ok(false) => Err(AdminError::NoCase(number.to_string())),
        Err(AppError::Refused(why)) if why == format!("no case {number}") => {
            Err(AdminError::NoCase(number.to_string()))
        }
        Err(e) => Err(e.into()),
    }
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
    let why = why.trim();
    if why.is_empty() {
        return Err(refused("say why the case is flagged"));
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
    change(engine, number, |c| {
        let Some(was) = c.flagged.take() else {
            return Err(format!("case {number} is not flagged"));
        };
        c.log_by(now, by, format!("flag taken off (was: {was})"));
        Ok(Effects::default())
    })
}

/// Gives case `number` to `officer`, another officer of its department. Reminders and
/// escalations follow the case's officer, so they go to the new one from now on. Returns the
/// new officer.
///
/// # Errors
/// [`AdminError::NoCase`]; [`AdminError::Engine`] for an address that is no officer of the
/// department, the officer it has, or a closed case.
pub fn reassign(
    engine: &Engine,
    number: &str,
    officer: &str,
    by: &str,
    now: DateTime<Utc>,
) -> Result<Contact, AdminError> {
    let cfg = engine.cfg();
    let case = crate::app::admin::case(engine, number)?;
    let dept = cfg.department(&case.department).ok_or_else(|| {
        refused(&format!(
            "case {number} belongs to department {:?}, which is not configured",
            case.department
        ))
    })?;
    let to = dept
        .officer(officer.trim())
        .map(|o| o.contact.clone())
        .ok_or_else(|| {
            refused(&format!(
                "{} is not an officer of {} ({})",
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

/// Ends `officer`'s absence that began (or begins) on `from`, as set at run time (`officer
/// away` or the web page): the officer gets new cases and reminders again from now. An absence
/// planned in the config is the config's to change.
///
/// # Errors
/// [`AdminError::Absence`] when there is no such absence; [`AdminError::Store`].
pub fn end_absence(engine: &Engine, officer: &str, from: NaiveDate) -> Result<(), AdminError> {
    let officer = officer.trim().to_lowercase();
    if engine.store.remove_absence(&officer, from)? {
        Ok(())
    } else {
        Err(AdminError::Absence(format!(
            "{officer} has no absence from {from} set at run time"
        )))
    }
}

fn refused(why: &str) -> AdminError {
    AdminError::Engine(AppError::Refused(why.to_string()))
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
        let e = reassign(&engine, "BMN-2026-0001", "x@kommun.test", by, now()).unwrap_err();
        assert!(e.to_string().contains("is not an officer of"), "{e}");
        let to = chrono::NaiveDate::from_ymd_opt(2027, 1, 15).unwrap();
        postpone(
            &engine,
            "BMN-2026-0001",
            to,
            "väntar på yttrande",
            Some(by),
            now(),
        )
        .unwrap();
        assert!(last(&engine).what.contains("(väntar på yttrande)"));
        assert_eq!(last(&engine).by.as_deref(), Some(by));
        close(&engine, "BMN-2026-0001", "klart", Some(by), now()).unwrap();
        assert_eq!(last(&engine).what, "closed by hand: klart");
        assert_eq!(last(&engine).by.as_deref(), Some(by));
        let e = reassign(&engine, "BMN-2026-0001", "o1@kommun.test", by, now()).unwrap_err();
        assert_eq!(e.to_string(), "case BMN-2026-0001 is closed");
        let e = close(&engine, "BMN-2026-0099", "", Some(by), now()).unwrap_err();
        assert!(matches!(e, AdminError::NoCase(_)));
        let e = postpone(&engine, "BMN-2026-0099", to, "x", Some(by), now()).unwrap_err();
        assert!(matches!(e, AdminError::NoCase(_)));
    }

    #[test]
    fn an_absence_set_at_run_time_can_be_ended() {
        let dir = tempfile::tempdir().unwrap();
        let engine = test_engine(dir.path(), "");
        let day = |d| NaiveDate::from_ymd_opt(2026, 12, d).unwrap();
        crate::app::admin::away(
            &engine,
            crate::app::admin::Away {
                officer: "o1@kommun.test".into(),
                substitute: "o2@kommun.test".into(),
                from: day(2),
                to: day(9),
            },
        )
        .unwrap();
        end_absence(&engine, "O1@kommun.test", day(2)).unwrap();
        assert!(engine.store.absences().unwrap().is_empty());
        let e = end_absence(&engine, "o1@kommun.test", day(2)).unwrap_err();
        assert_eq!(
            e.to_string(),
            "o1@kommun.test has no absence from 2026-12-02 set at run time"
        );
    }
}
