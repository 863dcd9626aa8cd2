//! What the people who run kvittens ask of the cases — list, show, close, postpone, import,
//! purge, open from ignored mail, send a withheld receipt, record an absence — decided and
//! recorded here, where case state is owned. Each returns what happened as a value; the words
//! an operator reads are written by `ops::control`, which only formats.

use crate::app::edit::EditError;
use crate::app::engine::Engine;
use crate::app::registrar::ReceiptTo;
use crate::model::{ids, Absence};
use crate::model::{Case, State};
use crate::store::{Pruned, StoreError};
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Why an admin action did not happen. Each says what the operator can change; the cause, where
/// there is one, is kept as the [`std::error::Error::source`].
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// No case has this number.
    #[error("no case {0}")]
    NoCase(String),
    /// A command named a department the config does not have.
    #[error("{0}")]
    NoDepartment(String),
    /// `purge` needs `[daemon] retention` to know what is old.
    #[error("no [daemon] retention is configured: nothing is purged")]
    NoRetention,
    /// A line of an import file is not a case as `export` writes it.
    #[error("{}:{line}", file.display())]
    ImportLine {
        /// The file, as the operator named it.
        file: PathBuf,
        /// Its line, from 1.
        line: usize,
        /// What the JSON reader said.
        source: serde_json::Error,
    },
    /// An imported case belongs to a department the config does not have: it would be
    /// neither reminded nor escalated.
    #[error("{}:{line}: case {case} belongs to department {department:?}, which is not configured", file.display())]
    ImportDepartment {
        /// The file, as the operator named it.
        file: PathBuf,
        /// Its line, from 1.
        line: usize,
        /// The case number.
        case: String,
        /// The department the case names.
        department: String,
    },
    /// An absence that cannot be recorded (dates the wrong way round, an address that is no
    /// officer, an officer covering for themselves): why, in the command's words.
    #[error("{0}")]
    Absence(String),
    /// The store could not be read or written.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// What the engine refused, with its own words (a closed case, a date passed, …).
    #[error(transparent)]
    Engine(#[from] crate::app::error::AppError),
}

impl From<EditError> for AdminError {
    fn from(e: EditError) -> Self {
        match e {
            EditError::Store(e) => AdminError::Store(e),
            EditError::Refused(why) => {
                AdminError::Engine(crate::app::error::AppError::Refused(why))
            }
        }
    }
}

/// Which cases [`cases`] lists.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Filter {
    /// Every case.
    All,
    /// Waiting for the officer.
    Open,
    /// Open and past the reply deadline.
    Overdue,
    /// Answered by staff.
    Answered,
    /// Closed by hand.
    Closed,
    /// Flagged for a person: a receipt withheld (an unverified sender, a request for none, the
    /// daily cap, the loop breaker, no address), undeliverable, or a message read by its header
    /// only. `case receipt` takes a withheld receipt's flag off.
    Flagged,
}

impl Filter {
    /// Whether `c` is one of these at `now` (overdue means open past the reply deadline).
    pub fn admits(self, c: &Case, now: DateTime<Utc>) -> bool {
        match self {
            Filter::All => true,
            Filter::Open => c.state == State::Open,
            Filter::Overdue => c.state == State::Open && c.reply_due < now,
            Filter::Answered => c.state == State::Answered,
            Filter::Closed => c.state == State::Closed,
            Filter::Flagged => c.flagged.is_some(),
        }
    }
}

/// The configured id of the department a command named (`Bygg` → `bygg`); refuses one the
/// config does not have, naming those it has: a typo in `--department` must not read as
/// "no cases".
///
/// # Errors
/// [`AdminError::NoDepartment`], worded by [`crate::config::Config::find_department`].
pub fn known_department(cfg: &crate::config::Config, id: &str) -> Result<String, AdminError> {
    cfg.find_department(id)
        .map(|d| d.id.clone())
        .map_err(AdminError::NoDepartment)
}

/// The cases of `department` (all when `None`) that `filter` admits at `now`, in store order.
///
/// # Errors
/// [`AdminError::NoDepartment`] for a department not configured; [`AdminError::Store`] when
/// the store cannot be read.
pub fn cases(
    engine: &Engine,
    department: Option<&str>,
    filter: Filter,
    now: DateTime<Utc>,
) -> Result<Vec<Case>, AdminError> {
    let department = department
        .map(|id| known_department(&engine.cfg(), id))
        .transpose()?;
    let department = department.as_deref();
    let found = match filter {
        // The open ones through the index of open cases: a handful among many answered.
        Filter::Open | Filter::Overdue => open_cases(engine, department)?,
        _ => engine.store.cases()?,
    };
    Ok(found
        .into_iter()
        .filter(|c| department.is_none_or(|d| c.department == d))
        .filter(|c| filter.admits(c, now))
        .collect())
}

/// The open cases of `department` (all when `None`), in number order, read through the index
/// of open cases.
fn open_cases(engine: &Engine, department: Option<&str>) -> Result<Vec<Case>, StoreError> {
    let mut numbers = Vec::new();
    engine.store.open_cases(&mut |c| {
        if department.is_none_or(|d| c.department == d) {
            numbers.push(c.number);
        }
    })?;
    numbers.sort_unstable();
    let mut cases = Vec::with_capacity(numbers.len());
    for number in numbers {
        cases.extend(engine.store.case(&number)?);
    }
    Ok(cases)
}

/// Case `number` with its timeline.
///
/// # Errors
/// [`AdminError::NoCase`] when there is none; [`AdminError::Store`] when the store fails.
pub fn case(engine: &Engine, number: &str) -> Result<Case, AdminError> {
    let number = &ids::typed_case_number(number);
    engine
        .store
        .case(number)?
        .ok_or_else(|| AdminError::NoCase(number.to_string()))
}

/// Closes case `number` by hand: no more reminders or escalations. The timeline says so, with
/// `note` when one is given. With an outcome and who closed it: [`crate::app::caseops::close`].
///
/// # Errors
/// [`AdminError::NoCase`] when there is none; [`AdminError::Engine`] when it is closed already;
/// [`AdminError::Store`] when the store fails.
pub fn close(
    engine: &Engine,
    number: &str,
    note: &str,
    now: DateTime<Utc>,
) -> Result<(), AdminError> {
    crate::app::caseops::close(engine, number, (note, None), None, now)
}

/// Moves case `number`'s decision date to the end of `to` — or of the next working day when
/// `to` is none — and queues one delay notice to the resident with the reason `note`
/// (förvaltningslagen 11 §: a resident is told when a decision will be late, and why).
/// Returns the date used.
///
/// # Errors
/// [`AdminError::NoCase`]; [`AdminError::Engine`] for no reason given, a closed case or a
/// date passed.
pub fn postpone(
    engine: &Engine,
    number: &str,
    to: NaiveDate,
    note: &str,
    by: Option<&str>,
    now: DateTime<Utc>,
) -> Result<NaiveDate, AdminError> {
    engine
        .postpone(&ids::typed_case_number(number), to, note, by, now)?
        .ok_or_else(|| AdminError::NoCase(number.to_string()))
}

/// What an import did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Imported {
    /// Cases new to the store, now in it with their open deadlines scheduled.
    pub new: usize,
    /// Cases the store had already, kept as they were.
    pub already: usize,
}

/// Reads cases from `text`, JSON lines as `export` writes them (`file` names it in errors), and
/// stores those the store lacks, scheduling the deadlines still ahead of `now`. Nothing is
/// stored unless every line is a case of a configured department. The numbers imported are
/// never handed out again.
///
/// # Errors
/// [`AdminError::ImportLine`], [`AdminError::ImportDepartment`], [`AdminError::Store`].
pub fn import(
    engine: &Engine,
    file: &Path,
    text: &str,
    now: DateTime<Utc>,
) -> Result<Imported, AdminError> {
    let cases = parse_cases(engine, file, text)?;
    let total = cases.len();
    let mut new = Vec::new();
    for case in cases {
        if engine.store.case(&case.number)?.is_none() {
            new.push(case);
        }
    }
    let cfg = engine.cfg();
    let mut dues = Vec::new();
    for case in new.iter().filter(|c| c.state == State::Open) {
        if let Some(dept) = cfg.department(&case.department) {
            dues.extend(
                crate::rules::schedule::case_dues(dept, case)
                    .into_iter()
                    .filter(|d| d.at > now),
            );
        }
    }
    engine.store.put_many(&new, &dues)?;
    for case in &new {
        if let Some((prefix, year, seq)) = number_parts(&case.number) {
            engine.store.raise_seq(prefix, year, seq)?;
        }
    }
    Ok(Imported {
        new: new.len(),
        already: total - new.len(),
    })
}

/// Every non-blank line of `text` as a case of a configured department.
fn parse_cases(engine: &Engine, file: &Path, text: &str) -> Result<Vec<Case>, AdminError> {
    let cfg = engine.cfg();
    let mut cases = Vec::new();
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let case: Case = serde_json::from_str(line).map_err(|source| AdminError::ImportLine {
            file: file.to_path_buf(),
            line: n + 1,
            source,
        })?;
        if cfg.department(&case.department).is_none() {
            return Err(AdminError::ImportDepartment {
                file: file.to_path_buf(),
                line: n + 1,
                case: case.number,
                department: case.department,
            });
        }
        cases.push(case);
    }
    Ok(cases)
}

/// A case number `PREFIX-YEAR-SEQ` in its parts; `None` for one of another shape (an import
/// from elsewhere), which then raises no counter.
fn number_parts(number: &str) -> Option<(&str, i32, u64)> {
    let mut parts = number.rsplitn(3, '-');
    let seq = parts.next()?.parse().ok()?;
    let year = parts.next()?.parse().ok()?;
    Some((parts.next()?, year, seq))
}

/// What a purge removed (or, dry, would remove).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Purged {
    /// The numbers of the answered and closed cases past the retention.
    pub cases: Vec<String>,
    /// The ids of the ignored mails past it.
    pub ignored: Vec<u64>,
}

/// Removes answered and closed cases and ignored mail older than `[daemon] retention` (GDPR
/// art. 5.1 e: kept no longer than needed), or with `dry_run` only says which.
///
/// # Errors
/// [`AdminError::NoRetention`] when none is configured; [`AdminError::Store`].
pub fn purge(engine: &Engine, dry_run: bool, now: DateTime<Utc>) -> Result<Purged, AdminError> {
    let retention = engine.cfg().retention.ok_or(AdminError::NoRetention)?;
    let cases = crate::app::retention::purge(engine, retention, now, dry_run)?;
    let cutoff = crate::app::retention::cutoff(retention, now);
    let ignored = crate::app::registrar::purge_ignored(engine, cutoff, dry_run)?;
    Ok(Purged { cases, ignored })
}

/// A case opened from ignored mail.
#[derive(Clone, Debug)]
pub struct Opened {
    /// The new case.
    pub case: Box<Case>,
    /// What became of its receipt: `receipt to ADDRESS queued`, or `no receipt` with why.
    pub receipt: String,
}

/// Opens a case from ignored mail `id` (a person overrules the machine's decision); the receipt
/// goes to the sender when `receipt`, to `to` instead when given, or not at all.
///
/// # Errors
/// [`AdminError::Engine`] when there is no such mail or it opened a case already.
pub fn open_ignored(
    engine: &Engine,
    id: u64,
    note: &str,
    receipt: bool,
    to: Option<&str>,
    now: DateTime<Utc>,
) -> Result<Opened, AdminError> {
    let receipt_to = match (receipt, to) {
        (false, _) => ReceiptTo::None,
        (true, Some(address)) => ReceiptTo::Address(address),
        (true, None) => ReceiptTo::Sender,
    };
    let case = engine.open_ignored(id, note, receipt_to, now)?;
    let receipt = engine.receipt_outcome(&case);
    Ok(Opened { case, receipt })
}

/// Queues case `number`'s withheld receipt after all (once) and takes its flag off. Returns the
/// address it goes to.
///
/// # Errors
/// [`AdminError::Engine`] when there is no such case or it has had its receipt.
pub fn receipt(engine: &Engine, number: &str, now: DateTime<Utc>) -> Result<String, AdminError> {
    Ok(engine.receipt_after_all(&ids::typed_case_number(number), now)?)
}

/// An absence recorded: `officer` away `from`–`to` (both days included), `substitute` covering.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Away {
    /// The officer's (or manager's) address, lower case.
    pub officer: String,
    /// The substitute's address, lower case.
    pub substitute: String,
    /// First day away.
    pub from: NaiveDate,
    /// Last day away.
    pub to: NaiveDate,
}

/// Records an absence (hänvisning) of an officer or a manager: new cases, reminders — and for
/// a manager complaint notices, escalations, requests for a new date and the digest — go to
/// the substitute meanwhile. An officer's substitute is an officer of the same department; a
/// manager's also may be the department's `escalate_to`.
///
/// # Errors
/// [`AdminError::Absence`] with the reason: dates the wrong way round, an absence wholly in
/// the past (by the department's calendar at `now`), an address that is no officer or manager,
/// a substitute who is no colleague, or who is away at the same time; [`AdminError::Store`].
pub fn away(engine: &Engine, away: Away, now: DateTime<Utc>) -> Result<Away, AdminError> {
    let (officer, substitute) = (away.officer.to_lowercase(), away.substitute.to_lowercase());
    let (from, to) = (away.from, away.to);
    let refuse = |why: String| Err(AdminError::Absence(why));
    if from > to {
        return refuse(format!("--to {to} is before --from {from}"));
    }
    let cfg = engine.cfg();
    let Some((dept, manager)) = staff_of(&cfg, &officer) else {
        return refuse(format!(
            "{officer} is neither an officer nor a manager in {}",
            cfg.file.display()
        ));
    };
    let today = dept.calendar.local_date(now);
    if to < today {
        return refuse(format!(
            "the absence {from} – {to} lies wholly in the past (today is {today}): nothing to record"
        ));
    }
    let fits = if manager {
        dept.colleague(&substitute).is_some()
    } else {
        dept.officer(&substitute).is_some()
    };
    if !fits {
        let (name, id) = (&dept.name, &dept.id);
        let who = if manager {
            "an officer or the escalate_to"
        } else {
            "an officer"
        };
        return refuse(format!("{substitute} is not {who} of {name} ({id})"));
    }
    if officer == substitute {
        return refuse("an officer cannot substitute for themselves".to_string());
    }
    let recorded = engine.store.absences()?;
    if let Some(was) = absences_of(dept, &recorded, &officer)
        .into_iter()
        .find(|a| a.absence.from <= to && from <= a.absence.to)
    {
        let (a, how) = (
            &was.absence,
            if was.planned {
                "planned in the config"
            } else {
                "recorded with officer away"
            },
        );
        return refuse(format!(
            "{officer} is away {} – {} already ({how}; standing in: {}), which overlaps {from} – {to}: end it with officer back, or give dates outside it",
            a.from, a.to, a.substitute
        ));
    }
    if let Some(busy) = absences_of(dept, &recorded, &substitute)
        .into_iter()
        .find(|a| a.absence.from <= to && from <= a.absence.to)
    {
        let a = &busy.absence;
        return refuse(format!(
            "{substitute} is away {} – {} themselves (standing in: {}), at the same time as {from} – {to}: choose a substitute who is in",
            a.from, a.to, a.substitute
        ));
    }
    // Someone who stands in for a colleague over these days cannot go away unnoticed: the
    // colleague's mail would go to an absent person (hänvisning to no one).
    let colleagues = dept
        .officers
        .iter()
        .map(|o| o.contact.email.to_lowercase())
        .chain(std::iter::once(dept.manager.email.to_lowercase()));
    for colleague in colleagues.filter(|c| *c != officer) {
        if let Some(cover) = absences_of(dept, &recorded, &colleague)
            .into_iter()
            .find(|a| {
                a.absence.substitute.eq_ignore_ascii_case(&officer)
                    && a.absence.from <= to
                    && from <= a.absence.to
            })
        {
            let a = &cover.absence;
            return refuse(format!(
                "{officer} stands in for {colleague} {} – {}, which overlaps {from} – {to}: give {colleague} another substitute first",
                a.from, a.to
            ));
        }
    }
    let substitute_for = Absence {
        from,
        to,
        substitute: substitute.clone(),
    };
    engine.store.add_absence(&officer, &substitute_for)?;
    Ok(Away {
        officer,
        substitute,
        from,
        to,
    })
}

/// The department where `email` is an officer or the manager, and whether the manager.
fn staff_of<'a>(
    cfg: &'a crate::config::Config,
    email: &str,
) -> Option<(&'a crate::config::Department, bool)> {
    cfg.departments.iter().find_map(|d| {
        if d.officer(email).is_some() {
            Some((d, false))
        } else {
            d.manager
                .email
                .eq_ignore_ascii_case(email)
                .then_some((d, true))
        }
    })
}

/// One absence of a person, planned in the config or recorded at run time.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Leave {
    /// The days and who stands in.
    pub absence: Absence,
    /// Written in the config (`absent = [...]`): ended only by editing it.
    pub planned: bool,
    /// The substitute's name, when the config knows the address (an officer, the manager,
    /// `escalate_to`): `officer list` names people, not bare addresses.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub substitute_name: Option<String>,
}

/// Every absence of `email` in `dept`: the config's, then those recorded at run time.
fn absences_of(
    dept: &crate::config::Department,
    recorded: &[(String, Absence)],
    email: &str,
) -> Vec<Leave> {
    let name_of = |address: &str| dept.colleague(address).map(|c| c.name);
    let planned = dept
        .officer(email)
        .map(|o| o.absent.clone())
        .unwrap_or_default()
        .into_iter()
        .map(|absence| Leave {
            substitute_name: name_of(&absence.substitute),
            absence,
            planned: true,
        });
    let runtime = recorded
        .iter()
        .filter(|(e, _)| e.eq_ignore_ascii_case(email))
        .map(|(_, a)| Leave {
            substitute_name: name_of(&a.substitute),
            absence: a.clone(),
            planned: false,
        });
    planned.chain(runtime).collect()
}

/// An absence ended by `officer back`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Back {
    /// The officer's (or manager's) address, lower case.
    pub officer: String,
    /// The absence as it was recorded.
    pub was: Absence,
    /// The day it now ends on, or `None` when it began today and is gone.
    pub ends: Option<NaiveDate>,
}

/// Ends `email`'s absence that covers today (by the department's calendar at `now`): it now
/// ended yesterday, or — begun today — is removed. Their cases' reminders go to them again
/// from now on, and new cases take their turn.
///
/// # Errors
/// [`AdminError::Absence`] when the address is nobody's in the config, when no absence covers
/// today, or when the one that does is planned in the config (edit it there and reload);
/// [`AdminError::Store`].
pub fn back(engine: &Engine, email: &str, now: DateTime<Utc>) -> Result<Back, AdminError> {
    let officer = email.trim().to_lowercase();
    let cfg = engine.cfg();
    let refuse = |why: String| Err(AdminError::Absence(why));
    let Some((dept, _)) = staff_of(&cfg, &officer) else {
        return refuse(format!(
            "{officer} is neither an officer nor a manager in {}",
            cfg.file.display()
        ));
    };
    let today = dept.calendar.local_date(now);
    let recorded = engine.store.absences()?;
    let current: Vec<Leave> = absences_of(dept, &recorded, &officer)
        .into_iter()
        .filter(|l| l.absence.covers(today))
        .collect();
    let Some(leave) = current.iter().find(|l| !l.planned) else {
        return match current.first() {
            Some(l) => refuse(format!(
                "{officer} is away {} – {} by the config ({}): remove it there and reload",
                l.absence.from,
                l.absence.to,
                cfg.file.display()
            )),
            None => refuse(format!("{officer} is not away today ({today})")),
        };
    };
    let was = leave.absence.clone();
    let ends = today.pred_opt().filter(|y| *y >= was.from);
    match ends {
        Some(yesterday) => {
            let shortened = Absence {
                to: yesterday,
                ..was.clone()
            };
            engine.store.add_absence(&officer, &shortened)?;
        }
        None => engine.store.remove_absence(&officer, was.from)?,
    }
    Ok(Back { officer, was, ends })
}

/// One person of a department as `officer list` shows them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    /// Name and address.
    pub contact: crate::model::Contact,
    /// Whether this is the department's manager.
    pub manager: bool,
    /// The absence covering today, if any.
    pub away: Option<Leave>,
    /// Who stands in today (the substitute's name and address), when away.
    pub stands_in: Option<crate::model::Contact>,
    /// Absences still to come, by first day.
    pub later: Vec<Leave>,
}

/// A department's people as `officer list` shows them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Staffing {
    /// The department's id.
    pub department: String,
    /// Its name.
    pub name: String,
    /// Today, by its calendar.
    pub today: NaiveDate,
    /// The manager first, then the officers in round-robin order.
    pub members: Vec<Member>,
}

/// Each department's manager and officers (of `department` only, when given), who is away
/// today and until when, who stands in, and the absences to come — the config's and those
/// recorded at run time together.
///
/// # Errors
/// [`AdminError::NoDepartment`]; [`AdminError::Store`].
pub fn staffing(
    engine: &Engine,
    department: Option<&str>,
    now: DateTime<Utc>,
) -> Result<Vec<Staffing>, AdminError> {
    let cfg = engine.cfg();
    let department = department
        .map(|id| known_department(&cfg, id))
        .transpose()?;
    let department = department.as_deref();
    let recorded = engine.store.absences()?;
    let mut all = Vec::new();
    for dept in cfg
        .departments
        .iter()
        .filter(|d| department.is_none_or(|id| d.id == id))
    {
        let today = dept.calendar.local_date(now);
        let people = std::iter::once((&dept.manager, true))
            .chain(dept.officers.iter().map(|o| (&o.contact, false)));
        let members = people
            .map(|(contact, manager)| {
                let mut leaves = absences_of(dept, &recorded, &contact.email);
                leaves.retain(|l| l.absence.to >= today);
                leaves.sort_by_key(|l| l.absence.from);
                let away = leaves.iter().find(|l| l.absence.covers(today)).cloned();
                let stands_in = away
                    .as_ref()
                    .and_then(|l| dept.colleague(&l.absence.substitute));
                leaves.retain(|l| l.absence.from > today);
                Member {
                    contact: contact.clone(),
                    manager,
                    away,
                    stands_in,
                    later: leaves,
                }
            })
            .collect();
        all.push(Staffing {
            department: dept.id.clone(),
            name: dept.name.clone(),
            today,
            members,
        });
    }
    Ok(all)
}

/// Whether the store answers a read: the one probe behind `/healthz` and the systemd watchdog,
/// so that both mean the same by "the store works".
///
/// # Errors
/// The store's error when it cannot be read.
pub fn store_readable(engine: &Engine) -> Result<(), StoreError> {
    engine.store.cursor("-").map(|_| ())
}

/// The gauges read from the store: open and overdue cases per department (only those
/// configured), mail waiting in the outbox, mail being sent.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Gauges {
    /// Per configured department id: (open, open past the reply deadline).
    pub cases: Vec<(String, i64, i64)>,
    /// Mail waiting to be sent; `None` when the store could not say.
    pub outbox: Option<i64>,
    /// Mail being sent; `None` when the store could not say.
    pub in_flight: Option<i64>,
}

/// The gauges as the store has them at `now`, from the index of open cases (no case is read,
/// so a scrape costs the same with 100 000 answered cases as with none). What cannot be read
/// is left out (a `/metrics` scrape shows the last value rather than failing); `/healthz`
/// reports the store itself.
pub fn gauges(engine: &Engine, now: DateTime<Utc>) -> Gauges {
    let mut open: std::collections::HashMap<String, (i64, i64)> = Default::default();
    let counted = engine.store.open_cases(&mut |c| {
        let entry = open.entry(c.department).or_default();
        entry.0 += 1;
        entry.1 += i64::from(c.reply_due < now);
    });
    let cases = match counted {
        Ok(()) => engine
            .cfg()
            .departments
            .iter()
            .map(|d| {
                let (o, late) = open.get(&d.id).copied().unwrap_or_default();
                (d.id.clone(), o, late)
            })
            .collect(),
        Err(_) => Vec::new(),
    };
    Gauges {
        cases,
        outbox: engine.store.pending().ok().map(|p| p.len() as i64),
        in_flight: engine.store.in_flight().ok().map(|n| n as i64),
    }
}

/// When the clock must next wake: the earliest schedule entry or digest of any department.
///
/// # Errors
/// [`StoreError`] when the schedule cannot be read.
pub fn next_wake(engine: &Engine, now: DateTime<Utc>) -> Result<Option<DateTime<Utc>>, StoreError> {
    let mut next = engine.store.next_due()?;
    for dept in &engine.cfg().departments {
        if let Some(d) = engine.next_digest(dept, now)? {
            next = Some(next.map_or(d, |n| n.min(d)));
        }
    }
    Ok(next)
}

/// What the daily housekeeping did, each part with its own outcome (one failing does not hide
/// what the others did).
#[derive(Debug)]
pub struct Housekept {
    /// Loop breaker records that say nothing any more, removed.
    pub loop_records: Result<usize, StoreError>,
    /// "Handled" marks older than [`crate::app::retention::MARK_AGE`] and old daily receipt
    /// counts, removed.
    pub marks: Result<Pruned, StoreError>,
    /// Undecided cases that had no six-month check in the schedule (opened before this
    /// version), given one (förvaltningslagen § 12).
    pub six_months: Result<usize, StoreError>,
    /// The retention's purge, when `[daemon] retention` is set.
    pub purged: Option<Result<Purged, AdminError>>,
    /// Whether the run was recorded; `None` when the purge failed (it is tried again at the
    /// next wake, not a day later).
    pub recorded: Option<Result<(), StoreError>>,
}

/// Once a day (a day after the last recorded run): prunes the loop breaker's stale records,
/// old "handled" marks and daily receipt counts and, with `[daemon] retention`, purges what is
/// past it (with the marks of the cases purged). `None` when not due.
///
/// # Errors
/// [`StoreError`] when the last run cannot be read (nothing is done then).
pub fn housekeeping(engine: &Engine, now: DateTime<Utc>) -> Result<Option<Housekept>, StoreError> {
    if let Some(last) = engine.store.last_housekeeping()? {
        if now - last < chrono::Duration::days(1) {
            return Ok(None);
        }
    }
    let loop_records = engine.store.prune_sender_records(now);
    let marks = engine.prune_marks(now);
    let six_months = crate::app::caseops::schedule_six_months(engine);
    let purged = engine.cfg().retention.map(|_| purge(engine, false, now));
    let recorded = match &purged {
        Some(Err(_)) => None,
        _ => Some(engine.store.set_housekeeping(now)),
    };
    Ok(Some(Housekept {
        loop_records,
        marks,
        six_months,
        purged,
        recorded,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::test_engine;
    use chrono::TimeZone;

    /// A case as `export` writes it, open, received at `received`.
    fn exported(number: &str, department: &str, received: DateTime<Utc>) -> String {
        let due = received + chrono::Duration::days(30);
        serde_json::json!({
            "number": number, "department": department, "state": "open",
            "category": "question", "language": "sv",
            "resident": {"name": "Sara Berg", "email": "sara@example.se"},
            "officer": {"name": "Olle Handläggare", "email": "o1@kommun.test"},
            "subject": "Bygglov", "received": received, "reply_due": due,
            "decision_due": due, "events": [], "message_ids": [],
        })
        .to_string()
    }

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 3, 12, 0, 0).unwrap()
    }

    #[test]
    fn import_stores_new_cases_once_and_closing_one_logs_the_note() {
        let dir = tempfile::tempdir().unwrap();
        let engine = test_engine(dir.path(), "");
        let file = dir.path().join("cases.jsonl");
        let text = format!("{}\n\n", exported("BMN-2026-0041", "bygg", now()));
        let first = import(&engine, &file, &text, now()).unwrap();
        assert_eq!(first, Imported { new: 1, already: 0 });
        let again = import(&engine, &file, &text, now()).unwrap();
        assert_eq!(again, Imported { new: 0, already: 1 });
        close(&engine, "BMN-2026-0041", "duplicate", now()).unwrap();
        let c = case(&engine, "BMN-2026-0041").unwrap();
        assert_eq!(c.state, State::Closed);
        assert_eq!(c.events.last().unwrap().what, "closed by hand: duplicate");
        let twice = close(&engine, "BMN-2026-0041", "again", now()).unwrap_err();
        assert!(twice.to_string().contains("closed already"), "{twice}");
        let c = case(&engine, "BMN-2026-0041").unwrap();
        assert_eq!(c.events.last().unwrap().what, "closed by hand: duplicate");
        assert_eq!(cases(&engine, None, Filter::Open, now()).unwrap().len(), 0);
        assert_eq!(
            cases(&engine, Some("bygg"), Filter::Closed, now())
                .unwrap()
                .len(),
            1
        );
        assert!(matches!(
            cases(&engine, Some("other"), Filter::All, now()),
            Err(AdminError::NoDepartment(_))
        ));
    }

    #[test]
    fn an_import_with_a_bad_line_stores_nothing_and_names_the_line() {
        let dir = tempfile::tempdir().unwrap();
        let engine = test_engine(dir.path(), "");
        let file = dir.path().join("cases.jsonl");
        let good = exported("BMN-2026-0041", "bygg", now());
        let bad = format!("{good}\n{{not json\n");
        let e = import(&engine, &file, &bad, now()).unwrap_err();
        assert!(matches!(e, AdminError::ImportLine { line: 2, .. }), "{e:?}");
        assert!(
            std::error::Error::source(&e).is_some(),
            "the JSON error is kept"
        );
        let foreign = format!("{good}\n{}\n", exported("SOC-2026-0001", "soc", now()));
        let e = import(&engine, &file, &foreign, now()).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!(
                "{}:2: case SOC-2026-0001 belongs to department \"soc\", which is not configured",
                file.display()
            )
        );
        assert!(engine.store.cases().unwrap().is_empty());
    }

    #[test]
    fn a_missing_case_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let engine = test_engine(dir.path(), "");
        let e = close(&engine, "BMN-2026-0099", "", now()).unwrap_err();
        assert_eq!(e.to_string(), "no case BMN-2026-0099");
        assert!(matches!(case(&engine, "X"), Err(AdminError::NoCase(n)) if n == "X"));
        let to = NaiveDate::from_ymd_opt(2027, 1, 10).unwrap();
        let e = postpone(&engine, "BMN-2026-0099", to, "late", None, now()).unwrap_err();
        assert_eq!(e.to_string(), "no case BMN-2026-0099");
    }

    #[test]
    fn purge_needs_a_retention() {
        let dir = tempfile::tempdir().unwrap();
        let engine = test_engine(dir.path(), "");
        let e = purge(&engine, true, now()).unwrap_err();
        assert!(matches!(e, AdminError::NoRetention));
        let dir = tempfile::tempdir().unwrap();
        let engine = test_engine(dir.path(), "retention = \"30d\"");
        assert_eq!(purge(&engine, false, now()).unwrap(), Purged::default());
    }

    #[test]
    fn an_absence_is_checked_and_recorded_in_lower_case() {
        let dir = tempfile::tempdir().unwrap();
        let engine = test_engine(dir.path(), "");
        let day = |d| NaiveDate::from_ymd_opt(2026, 12, d).unwrap();
        let ask = |officer: &str, substitute: &str, from, to| Away {
            officer: officer.into(),
            substitute: substitute.into(),
            from,
            to,
        };
        let refused = |a: Away| away(&engine, a, now()).unwrap_err().to_string();
        assert_eq!(
            refused(ask("o1@kommun.test", "o2@kommun.test", day(9), day(8))),
            "--to 2026-12-08 is before --from 2026-12-09"
        );
        assert!(
            refused(ask("x@kommun.test", "o2@kommun.test", day(8), day(9)))
                .starts_with("x@kommun.test is neither an officer nor a manager in ")
        );
        assert_eq!(
            refused(ask("o1@kommun.test", "x@kommun.test", day(8), day(9))),
            "x@kommun.test is not an officer of Bygg- och miljöförvaltningen (bygg)"
        );
        assert_eq!(
            refused(ask("o1@kommun.test", "O1@kommun.test", day(8), day(9))),
            "an officer cannot substitute for themselves"
        );
        // Wholly in the past (today is 2026-12-03); one that ends today is not.
        assert_eq!(
            refused(ask("o1@kommun.test", "o2@kommun.test", day(1), day(2))),
            "the absence 2026-12-01 – 2026-12-02 lies wholly in the past (today is 2026-12-03): nothing to record"
        );
        let done = away(
            &engine,
            ask("O1@Kommun.test", "o2@kommun.test", day(8), day(9)),
            now(),
        )
        .unwrap();
        assert_eq!(done.officer, "o1@kommun.test");
        assert_eq!(engine.store.absences().unwrap().len(), 1);
        // A second absence of o1 over any of those days is refused, naming the first.
        for (from, to) in [(day(8), day(9)), (day(9), day(11)), (day(4), day(8))] {
            assert_eq!(
                refused(ask("o1@kommun.test", "o2@kommun.test", from, to)),
                format!("o1@kommun.test is away 2026-12-08 – 2026-12-09 already (recorded with officer away; standing in: o2@kommun.test), which overlaps {from} – {to}: end it with officer back, or give dates outside it")
            );
        }
        assert_eq!(engine.store.absences().unwrap().len(), 1);
        // Later, o1's absence names its substitute by the config's name.
        let listed = staffing(&engine, Some("bygg"), now()).unwrap();
        let o1 = &listed[0].members[1];
        assert_eq!(o1.later[0].substitute_name.as_deref(), Some("Ada"));
        // o1 is away on the 9th: o1 cannot stand in for o2 then, but can after.
        assert_eq!(
            refused(ask("o2@kommun.test", "o1@kommun.test", day(9), day(12))),
            "o1@kommun.test is away 2026-12-08 – 2026-12-09 themselves (standing in: o2@kommun.test), at the same time as 2026-12-09 – 2026-12-12: choose a substitute who is in"
        );
        away(
            &engine,
            ask("o2@kommun.test", "o1@kommun.test", day(10), day(12)),
            now(),
        )
        .unwrap();
    }

    #[test]
    fn a_manager_is_away_too_and_their_substitute_gets_the_managers_mail() {
        let dir = tempfile::tempdir().unwrap();
        let engine = test_engine(dir.path(), "");
        let day = |d| NaiveDate::from_ymd_opt(2026, 12, d).unwrap();
        let boss = Away {
            officer: "m@kommun.test".into(),
            substitute: "o2@kommun.test".into(),
            from: day(1),
            to: day(10),
        };
        away(&engine, boss, now()).unwrap();
        let cfg = engine.cfg();
        let dept = cfg.department("bygg").unwrap();
        let recorded = engine.store.absences().unwrap();
        let acting = crate::rules::schedule::manager(dept, now(), &recorded);
        assert_eq!(acting.email, "o2@kommun.test");
        let later = now() + chrono::Duration::days(10);
        let back_then = crate::rules::schedule::manager(dept, later, &recorded);
        assert_eq!(back_then.email, "m@kommun.test");
        let listed = staffing(&engine, Some("bygg"), now()).unwrap();
        let m = &listed[0].members[0];
        assert!(m.manager && m.away.is_some());
        assert_eq!(m.stands_in.as_ref().unwrap().email, "o2@kommun.test");
        assert!(listed[0].members[1].away.is_none());
        // Back today: the absence now ended yesterday, and the manager gets their mail again.
        let b = back(&engine, "M@kommun.test", now()).unwrap();
        assert_eq!(b.ends, Some(day(2)));
        let recorded = engine.store.absences().unwrap();
        assert_eq!(
            crate::rules::schedule::manager(dept, now(), &recorded).email,
            "m@kommun.test"
        );
        let again = back(&engine, "m@kommun.test", now())
            .unwrap_err()
            .to_string();
        assert_eq!(again, "m@kommun.test is not away today (2026-12-03)");
        let e = staffing(&engine, Some("byg"), now())
            .unwrap_err()
            .to_string();
        let cfg = engine.cfg();
        assert_eq!(
            e,
            format!(
                "no department \"byg\" in {}; the departments are: bygg ({})",
                cfg.file.display(),
                cfg.departments[0].name
            )
        );
    }

    #[test]
    fn back_on_the_first_day_removes_the_absence() {
        let dir = tempfile::tempdir().unwrap();
        let engine = test_engine(dir.path(), "");
        let day = |d| NaiveDate::from_ymd_opt(2026, 12, d).unwrap();
        let a = Away {
            officer: "o1@kommun.test".into(),
            substitute: "o2@kommun.test".into(),
            from: day(3),
            to: day(5),
        };
        away(&engine, a, now()).unwrap();
        let b = back(&engine, "o1@kommun.test", now()).unwrap();
        assert_eq!(b.ends, None);
        assert!(engine.store.absences().unwrap().is_empty());
    }

    #[test]
    fn a_case_number_is_found_in_any_case_and_a_department_must_exist() {
        let dir = tempfile::tempdir().unwrap();
        let engine = test_engine(dir.path(), "");
        let file = dir.path().join("cases.jsonl");
        import(
            &engine,
            &file,
            &exported("BMN-2026-0041", "bygg", now()),
            now(),
        )
        .unwrap();
        assert_eq!(
            case(&engine, " bmn-2026-0041").unwrap().number,
            "BMN-2026-0041"
        );
        close(&engine, "Bmn-2026-0041", "", now()).unwrap();
        let e = cases(&engine, Some("plan"), Filter::All, now()).unwrap_err();
        let cfg = engine.cfg();
        assert_eq!(
            e.to_string(),
            format!(
                "no department \"plan\" in {}; the departments are: bygg ({})",
                cfg.file.display(),
                cfg.departments[0].name
            )
        );
    }

    #[test]
    fn housekeeping_runs_once_a_day_and_purges_what_the_retention_lets_go() {
        let dir = tempfile::tempdir().unwrap();
        let engine = test_engine(dir.path(), "retention = \"30d\"");
        let file = dir.path().join("cases.jsonl");
        let old = now() - chrono::Duration::days(60);
        import(
            &engine,
            &file,
            &exported("BMN-2026-0041", "bygg", old),
            now(),
        )
        .unwrap();
        close(&engine, "BMN-2026-0041", "", old).unwrap();
        let done = housekeeping(&engine, now()).unwrap().expect("due at first");
        let purged = done.purged.unwrap().unwrap();
        assert_eq!(purged.cases, vec!["BMN-2026-0041".to_string()]);
        assert!(matches!(done.recorded, Some(Ok(()))));
        assert!(engine.store.case("BMN-2026-0041").unwrap().is_none());
        let later = now() + chrono::Duration::hours(23);
        assert!(
            housekeeping(&engine, later).unwrap().is_none(),
            "not due again"
        );
        let next_day = now() + chrono::Duration::days(1);
        assert!(housekeeping(&engine, next_day).unwrap().is_some());
        // Nothing scheduled but the department's daily digest, still ahead.
        let next = next_wake(&engine, now()).unwrap();
        assert!(next.is_some_and(|t| t > now() && t - now() <= chrono::Duration::days(1)));
    }

    #[test]
    fn the_store_probe_and_gauges_read_the_store() {
        let dir = tempfile::tempdir().unwrap();
        let engine = test_engine(dir.path(), "");
        store_readable(&engine).unwrap();
        let file = dir.path().join("cases.jsonl");
        let received = now() - chrono::Duration::days(40);
        import(
            &engine,
            &file,
            &exported("BMN-2026-0041", "bygg", received),
            now(),
        )
        .unwrap();
        let g = gauges(&engine, now());
        assert_eq!(g.cases, vec![("bygg".to_string(), 1, 1)]);
        assert_eq!(g.outbox, Some(0));
        assert_eq!(g.in_flight, Some(0));
    }
}
