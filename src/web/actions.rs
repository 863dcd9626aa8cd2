//! What a user does: each action is a form posted to `/cases/{number}/{action}` (or to
//! `/absences`), checked for its origin and CSRF token, permitted by
//! [`crate::rules::permit`], done by the same `app` function as the command line with the user
//! as the actor (so it lands in the timeline with their address), logged to the audit trail,
//! and answered with a redirect to the case's page (303, so a reload does not post again).
//!
//! The actions on a case are one table, [`CASE_ACTIONS`]: another action is one more row (its
//! function) and one more form on the case page (`pages/case.hbs`).

use super::auth::User;
use super::pages::{blocking, forbidden};
use super::{audit, csrf, Web};
use crate::app::admin::{self, AdminError};
use crate::app::engine::Engine;
use crate::app::{caseops, casework};
use crate::model::ContactWay;
use crate::rules::permit::{may, Deed};
use axum::extract::{Form, Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, NaiveDate, Utc};
use std::collections::HashMap;

/// A posted form's fields.
pub type Fields = HashMap<String, String>;

/// An action on case `number` with the form's fields, by `by` at `now`; says what it did, for
/// the audit trail.
pub type CaseAction = fn(&Engine, &str, &Fields, &str, DateTime<Utc>) -> Result<String, AdminError>;

/// The actions on a case, by the last segment of their path.
pub const CASE_ACTIONS: &[(&str, CaseAction)] = &[
    ("close", close),
    ("postpone", postpone),
    ("contact", contact),
    ("measure", measure),
    ("move", move_case),
    ("flag", flag),
    ("unflag", unflag),
    ("reassign", reassign),
];

fn field<'a>(fields: &'a Fields, name: &str) -> &'a str {
    fields.get(name).map_or("", |v| v.trim())
}

fn refused(why: impl Into<String>) -> AdminError {
    AdminError::Engine(crate::app::error::AppError::Refused(why.into()))
}

/// A date field written `YYYY-MM-DD` (what `<input type="date">` sends).
fn date(fields: &Fields, name: &str) -> Result<NaiveDate, AdminError> {
    let text = field(fields, name);
    NaiveDate::parse_from_str(text, "%Y-%m-%d").map_err(|_| {
        refused(format!(
            "{name}: {text:?} is not a date; write YYYY-MM-DD, e.g. 2026-12-24"
        ))
    })
}

/// Closes with the note and the outcome (kept on the case and counted in the report), as
/// `case close --note --outcome`.
fn close(
    e: &Engine,
    n: &str,
    f: &Fields,
    by: &str,
    now: DateTime<Utc>,
) -> Result<String, AdminError> {
    let (note, outcome) = (field(f, "note"), field(f, "outcome"));
    caseops::close(e, n, (note, Some(outcome)), Some(by), now)?;
    Ok(format!("outcome {outcome:?}: {note}"))
}

/// Postpones with the reason, which the resident's delay notice carries (förvaltningslagen
/// § 11; the application refuses it without one), as `case postpone`.
fn postpone(
    e: &Engine,
    n: &str,
    f: &Fields,
    by: &str,
    now: DateTime<Utc>,
) -> Result<String, AdminError> {
    let (to, note) = (date(f, "to")?, field(f, "note"));
    let used = admin::postpone(e, n, to, note, Some(by), now)?;
    Ok(format!("to {used}: {note}"))
}

/// Records a contact with the resident (how, the day, what was said), as `case contact`.
fn contact(
    e: &Engine,
    n: &str,
    f: &Fields,
    by: &str,
    now: DateTime<Utc>,
) -> Result<String, AdminError> {
    let way = field(f, "way");
    let way = ContactWay::from_key(way).ok_or_else(|| {
        let known: Vec<&str> = ContactWay::ALL.iter().map(|w| w.key()).collect();
        refused(format!("way: {way:?} is not one of {}", known.join(", ")))
    })?;
    let on = match field(f, "on") {
        "" => None,
        _ => Some(date(f, "on")?),
    };
    let made = caseops::NewContact {
        way,
        on,
        note: field(f, "note").to_string(),
    };
    let done = caseops::contact(e, n, &made, by, now)?;
    Ok(format!("by {} on {}", way.key(), done.on))
}

/// Records a measure taken, as `case measure`.
fn measure(
    e: &Engine,
    n: &str,
    f: &Fields,
    by: &str,
    now: DateTime<Utc>,
) -> Result<String, AdminError> {
    let note = field(f, "note");
    caseops::measure(e, n, note, by, now)?;
    Ok(note.to_string())
}

/// Moves the case to another department (förvaltningslagen § 4), as `case move`.
fn move_case(
    e: &Engine,
    n: &str,
    f: &Fields,
    by: &str,
    now: DateTime<Utc>,
) -> Result<String, AdminError> {
    let moved = caseops::move_case(e, n, field(f, "department"), by, now)?;
    Ok(format!(
        "from {} to {}, to {}",
        moved.from, moved.to, moved.officer.email
    ))
}

fn flag(
    e: &Engine,
    n: &str,
    f: &Fields,
    by: &str,
    now: DateTime<Utc>,
) -> Result<String, AdminError> {
    let why = field(f, "why");
    casework::flag(e, n, why, by, now)?;
    Ok(why.to_string())
}

fn unflag(
    e: &Engine,
    n: &str,
    _: &Fields,
    by: &str,
    now: DateTime<Utc>,
) -> Result<String, AdminError> {
    casework::unflag(e, n, by, now)?;
    Ok(String::new())
}

fn reassign(
    e: &Engine,
    n: &str,
    f: &Fields,
    by: &str,
    now: DateTime<Utc>,
) -> Result<String, AdminError> {
    let to = casework::reassign(e, n, field(f, "officer"), by, now)?;
    Ok(to.email)
}

/// 303 to `to`.
fn see_other(to: &str) -> Response {
    (StatusCode::SEE_OTHER, [(header::LOCATION, to.to_string())]).into_response()
}

/// Whether the form came from our page with the user's token; logs a refusal.
fn genuine(web: &Web, user: &User, headers: &HeaderMap, fields: &Fields, action: &str) -> bool {
    let base = web.engine.cfg().web.base_url.clone();
    let origin = csrf::same_origin(headers, base.as_deref());
    let token = web
        .engine
        .web_key()
        .is_ok_and(|k| csrf::valid(&k, &user.viewer.email, field(fields, csrf::FIELD)));
    if !(origin && token) {
        let why = if origin {
            "bad CSRF token"
        } else {
            "not from the page's origin"
        };
        audit::refused(&user.viewer.email, action, "", why);
    }
    origin && token
}

/// The page for an action the application refused, with its words.
fn not_done(web: &Web, user: &User, e: &AdminError, back: &str) -> Response {
    let status = match e {
        AdminError::NoCase(_) => StatusCode::NOT_FOUND,
        AdminError::Store(_) => StatusCode::INTERNAL_SERVER_ERROR,
        _ => StatusCode::UNPROCESSABLE_ENTITY,
    };
    web.pages.message(
        status,
        user,
        user.lang.word("refused"),
        &e.to_string(),
        back,
    )
}

/// `POST /cases/{number}/{action}`.
pub async fn on_case(
    State(web): State<Web>,
    user: User,
    Path((number, action)): Path<(String, String)>,
    headers: HeaderMap,
    Form(fields): Form<Fields>,
) -> Response {
    let Some((name, act)) = CASE_ACTIONS.iter().find(|(a, _)| *a == action) else {
        return super::pages::not_found(State(web), user).await;
    };
    let number = crate::model::ids::typed_case_number(&number);
    let back = format!("/cases/{number}");
    if !genuine(&web, &user, &headers, &fields, name) {
        return forbidden(&web, &user);
    }
    let (engine, n) = (web.engine.clone(), number.clone());
    let case = match blocking(move || admin::case(&engine, &n)).await {
        Some(Ok(c)) => c,
        Some(Err(e)) => return not_done(&web, &user, &e, "/cases"),
        None => return forbidden(&web, &user),
    };
    let deed = Deed::ActOnCase {
        department: &case.department,
        officer: &case.officer.email,
    };
    if !may(&user.viewer, deed) {
        audit::refused(&user.viewer.email, name, &number, "not permitted");
        return forbidden(&web, &user);
    }
    let (engine, n, by, act) = (
        web.engine.clone(),
        number.clone(),
        user.viewer.email.clone(),
        *act,
    );
    match blocking(move || act(&engine, &n, &fields, &by, Utc::now())).await {
        Some(Ok(detail)) => {
            audit::acted(&user.viewer.email, name, &number, &detail);
            web.engine.outbox_bell().notify_one();
            see_other(&back)
        }
        Some(Err(e)) => {
            audit::refused(&user.viewer.email, name, &number, &e.to_string());
            not_done(&web, &user, &e, &back)
        }
        None => forbidden(&web, &user),
    }
}

/// The department of `email` (an officer or the manager there), when the user may set or end
/// their absence.
fn absence_department(web: &Web, user: &User, email: &str) -> Option<String> {
    let cfg = web.engine.cfg();
    let dept = cfg
        .departments
        .iter()
        .find(|d| d.officer(email).is_some() || d.manager.email.eq_ignore_ascii_case(email))?;
    let deed = Deed::SetAbsence {
        department: &dept.id,
        officer: email,
    };
    may(&user.viewer, deed).then(|| dept.id.clone())
}

/// `POST /absences`: an absence with its substitute, checked as `officer away` checks it
/// ([`admin::away`]).
pub async fn set_absence(
    State(web): State<Web>,
    user: User,
    headers: HeaderMap,
    Form(fields): Form<Fields>,
) -> Response {
    if !genuine(&web, &user, &headers, &fields, "away") {
        return forbidden(&web, &user);
    }
    let officer = field(&fields, "officer").to_lowercase();
    if absence_department(&web, &user, &officer).is_none() {
        audit::refused(&user.viewer.email, "away", &officer, "not permitted");
        return forbidden(&web, &user);
    }
    let asked = (|| {
        Ok::<_, AdminError>(admin::Away {
            officer: officer.clone(),
            substitute: field(&fields, "substitute").to_string(),
            from: date(&fields, "from")?,
            to: date(&fields, "to")?,
        })
    })();
    let engine = web.engine.clone();
    let done = match asked {
        Ok(a) => blocking(move || admin::away(&engine, a, Utc::now())).await,
        Err(e) => Some(Err(e)),
    };
    match done {
        Some(Ok(a)) => {
            let detail = format!("{} to {}, substitute {}", a.from, a.to, a.substitute);
            audit::acted(&user.viewer.email, "away", &a.officer, &detail);
            see_other("/absences")
        }
        Some(Err(e)) => {
            audit::refused(&user.viewer.email, "away", &officer, &e.to_string());
            not_done(&web, &user, &e, "/absences")
        }
        None => forbidden(&web, &user),
    }
}

/// `POST /absences/end`: ends an absence set at run time — today's as `officer back` ends it,
/// a coming one withdrawn ([`casework::end_absence`]).
pub async fn end_absence(
    State(web): State<Web>,
    user: User,
    headers: HeaderMap,
    Form(fields): Form<Fields>,
) -> Response {
    if !genuine(&web, &user, &headers, &fields, "back") {
        return forbidden(&web, &user);
    }
    let officer = field(&fields, "officer").to_lowercase();
    if absence_department(&web, &user, &officer).is_none() {
        audit::refused(&user.viewer.email, "back", &officer, "not permitted");
        return forbidden(&web, &user);
    }
    let from = match date(&fields, "from") {
        Ok(d) => d,
        Err(e) => return not_done(&web, &user, &e, "/absences"),
    };
    let (engine, o) = (web.engine.clone(), officer.clone());
    match blocking(move || casework::end_absence(&engine, &o, from, Utc::now())).await {
        Some(Ok(ended)) => {
            let detail = match ended {
                casework::Ended::Back(b) => {
                    format!("back; absence from {} ends {:?}", b.was.from, b.ends)
                }
                casework::Ended::Withdrawn(a) => format!("withdrawn: {} to {}", a.from, a.to),
            };
            audit::acted(&user.viewer.email, "back", &officer, &detail);
            see_other("/absences")
        }
        Some(Err(e)) => {
            audit::refused(&user.viewer.email, "back", &officer, &e.to_string());
            not_done(&web, &user, &e, "/absences")
        }
        None => forbidden(&web, &user),
    }
}
