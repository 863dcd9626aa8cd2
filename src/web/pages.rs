//! The pages a user reads: the overview, the cases, one case, the ignored mail and the
//! absences. Each shows only what [`crate::rules::permit`] lets the user see, reads through
//! `app`, and logs a view of personal data to the audit trail.

use super::auth::User;
use super::{audit, csrf, Web};
use crate::app::admin::{self, AdminError, Filter};
use crate::config::Department;
use crate::model::{Case, Category, Contact, State as CaseState};
use crate::rules::permit::{may, Deed};
use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{json, Value};

/// Runs `f` (which reads the store) on the blocking pool.
pub(super) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> Option<T> {
    tokio::task::spawn_blocking(f).await.ok()
}

/// Reads with `f` (through `app`) on the blocking pool; a failure is answered with the error
/// page, its cause logged.
async fn load<T, E>(
    web: &Web,
    user: &User,
    f: impl FnOnce() -> Result<T, E> + Send + 'static,
) -> Result<T, Response>
where
    T: Send + 'static,
    E: std::fmt::Display + Send + 'static,
{
    match blocking(f).await {
        Some(Ok(v)) => Ok(v),
        Some(Err(e)) => Err(failed(web, user, &e)),
        None => Err(failed(web, user, &"the page's worker stopped")),
    }
}

/// A time in `dept`'s zone, as the command line writes it: `2026-12-03 16:00`.
pub(super) fn local(dept: Option<&Department>, at: DateTime<Utc>) -> String {
    match dept {
        Some(d) => at
            .with_timezone(&d.calendar.tz)
            .format("%Y-%m-%d %H:%M")
            .to_string(),
        None => at.format("%Y-%m-%d %H:%M UTC").to_string(),
    }
}

/// The ids of the departments `user` sees.
fn visible(web: &Web, user: &User) -> Vec<String> {
    (web.engine.cfg().departments.iter())
        .filter(|d| may(&user.viewer, Deed::SeeDepartment(&d.id)))
        .map(|d| d.id.clone())
        .collect()
}

/// The page for a store that failed: the log has the cause.
fn failed(web: &Web, user: &User, e: &dyn std::fmt::Display) -> Response {
    tracing::error!(error = %e, "the web page could not read the cases");
    let t = user.lang;
    web.pages.message(
        StatusCode::INTERNAL_SERVER_ERROR,
        user,
        t.word("refused"),
        &e.to_string(),
        "/",
    )
}

/// 403 with the page's words.
pub(super) fn forbidden(web: &Web, user: &User) -> Response {
    let t = user.lang;
    web.pages.message(
        StatusCode::FORBIDDEN,
        user,
        t.word("forbidden"),
        t.word("forbidden_text"),
        "/",
    )
}

/// 404 with the page's words (also every path the page does not have).
pub async fn not_found(State(web): State<Web>, user: User) -> Response {
    let t = user.lang;
    web.pages.message(
        StatusCode::NOT_FOUND,
        &user,
        t.word("not_found"),
        t.word("not_found_text"),
        "/",
    )
}

/// `/style.css`.
pub async fn style(_user: User) -> Response {
    (
        [(header::CONTENT_TYPE, "text/css; charset=utf-8")],
        super::render::STYLE,
    )
        .into_response()
}

/// `/`: per department and officer the open, due today, overdue, flagged and § 12 cases, and
/// the week's receipts and answers in time (from the daily totals) with a chart.
pub async fn overview(State(web): State<Web>, user: User) -> Response {
    let ids = visible(&web, &user);
    let engine = web.engine.clone();
    let found = load(&web, &user, move || {
        crate::app::overview::overview(&engine, &ids, Utc::now())
    });
    let departments = match found.await {
        Ok(d) => d,
        Err(page) => return page,
    };
    audit::viewed(&user.viewer.email, "overview", "");
    let lang = user.lang;
    let figures = |f: &crate::app::overview::Figures| json!({"open": f.open, "due_today": f.due_today, "overdue": f.overdue, "flagged": f.flagged, "six_months": f.six_months});
    let data: Vec<Value> = departments
        .iter()
        .map(|d| {
            json!({
                "id": d.id,
                "name": d.name,
                "figures": figures(&d.figures),
                "officers": d.officers.iter().map(|(o, f)| json!({"name": o.name, "email": o.email, "figures": figures(f)})).collect::<Vec<_>>(),
                "week": d.week.iter().map(|w| json!({"date": w.date.to_string(), "received": w.received, "receipts": w.receipts, "answered_in_time": w.answered_in_time})).collect::<Vec<_>>(),
                "chart": super::chart::week(&d.week, lang),
            })
        })
        .collect();
    web.pages.page(
        StatusCode::OK,
        &user,
        lang.word("overview"),
        "overview",
        json!({ "departments": data }),
    )
}

/// The query of `/cases`: as the command line's `cases` (`--department ID`, a filter).
#[derive(Debug, Default, Deserialize)]
pub struct CasesQuery {
    /// A department id; empty or absent for every department the user sees.
    #[serde(default)]
    pub department: Option<String>,
    /// `all`, `open`, `overdue`, `answered`, `closed` or `flagged`; absent: `open`.
    #[serde(default)]
    pub filter: Option<String>,
}

const FILTERS: &[(&str, Filter, &str)] = &[
    ("open", Filter::Open, "open"),
    ("overdue", Filter::Overdue, "overdue"),
    ("flagged", Filter::Flagged, "flagged"),
    ("answered", Filter::Answered, "answered"),
    ("closed", Filter::Closed, "closed"),
    ("all", Filter::All, "all"),
];

/// The word for a case's state.
fn state_word(user: &User, s: CaseState) -> &'static str {
    user.lang.word(match s {
        CaseState::Open => "state_open",
        CaseState::Answered => "state_answered",
        CaseState::Closed => "state_closed",
    })
}

/// The word for a category.
fn category_word(user: &User, c: Category) -> String {
    let sv = user.lang == super::i18n::Lang::Sv;
    match (c, sv) {
        (Category::Question, true) => "fråga",
        (Category::Question, false) => "question",
        (Category::Application, true) => "ansökan",
        (Category::Application, false) => "application",
        (Category::FaultReport, true) => "felanmälan",
        (Category::FaultReport, false) => "fault report",
        (Category::Complaint, true) => "klagomål",
        (Category::Complaint, false) => "complaint",
    }
    .to_string()
}

fn person(name: Option<&str>, email: &str) -> String {
    match name.filter(|n| !n.trim().is_empty()) {
        Some(n) if !email.is_empty() => format!("{n} <{email}>"),
        Some(n) => n.to_string(),
        None => email.to_string(),
    }
}

/// `/cases`: the cases of the departments the user sees, filtered as the command line's.
pub async fn cases(State(web): State<Web>, user: User, Query(q): Query<CasesQuery>) -> Response {
    let ids = visible(&web, &user);
    let department = q.department.filter(|d| !d.is_empty());
    if department.as_ref().is_some_and(|d| !ids.contains(d)) {
        return forbidden(&web, &user);
    }
    let wanted = q.filter.as_deref().unwrap_or("open");
    let filter = FILTERS
        .iter()
        .find(|(k, _, _)| *k == wanted)
        .map_or(Filter::Open, |f| f.1);
    let (engine, dept) = (web.engine.clone(), department.clone());
    let now = Utc::now();
    let found = load(&web, &user, move || {
        admin::cases(&engine, dept.as_deref(), filter, now)
    });
    let list = match found.await {
        Ok(l) => l,
        Err(page) => return page,
    };
    audit::viewed(
        &user.viewer.email,
        "cases",
        &format!("{}:{wanted}", department.as_deref().unwrap_or("*")),
    );
    let cfg = web.engine.cfg();
    let rows: Vec<Value> = list
        .iter()
        .filter(|c| ids.contains(&c.department))
        .map(|c| {
            let d = cfg.department(&c.department);
            json!({
                "number": c.number,
                "state": state_word(&user, c.state),
                "flagged": c.flagged.is_some(),
                "category": category_word(&user, c.category),
                "officer": c.officer.name,
                "resident": person(c.resident.name.as_deref(), &c.resident.email),
                "reply_due": local(d, c.reply_due),
                "due_word": due_word(&user, c),
                "late": c.state == CaseState::Open && c.reply_due < now,
                "subject": c.subject,
            })
        })
        .collect();
    let departments: Vec<Value> = (cfg.departments.iter())
        .filter(|d| ids.contains(&d.id))
        .map(|d| json!({"id": d.id, "name": d.name, "selected": department.as_deref() == Some(d.id.as_str())}))
        .collect();
    let filters: Vec<Value> = FILTERS
        .iter()
        .map(|(k, _, word)| json!({"value": k, "label": user.lang.word(word), "selected": *k == wanted}))
        .collect();
    let data =
        json!({"count": rows.len(), "cases": rows, "departments": departments, "filters": filters});
    web.pages.page(
        StatusCode::OK,
        &user,
        user.lang.word("cases"),
        "cases",
        data,
    )
}

/// `/cases/{number}`: one case, its timeline with who did what, and the actions the user may
/// take on it.
pub async fn case(State(web): State<Web>, user: User, Path(number): Path<String>) -> Response {
    let (engine, n) = (web.engine.clone(), number.clone());
    // `admin::case` reads the number as typed, in any case (`model::ids::typed_case_number`).
    let found = blocking(move || admin::case(&engine, &n)).await;
    let case = match found {
        Some(Ok(c)) => c,
        Some(Err(AdminError::NoCase(_))) => {
            let t = user.lang;
            return web.pages.message(
                StatusCode::NOT_FOUND,
                &user,
                t.word("not_found"),
                t.word("not_found_text"),
                "/cases",
            );
        }
        Some(Err(e)) => return failed(&web, &user, &e),
        None => return failed(&web, &user, &"the page's worker stopped"),
    };
    if !may(&user.viewer, Deed::SeeDepartment(&case.department)) {
        audit::refused(&user.viewer.email, "view", &case.number, "not permitted");
        return forbidden(&web, &user);
    }
    audit::viewed(&user.viewer.email, "case", &case.number);
    let data = case_data(&web, &user, &case);
    let title = format!("{} {}", user.lang.word("number"), case.number);
    web.pages.page(StatusCode::OK, &user, &title, "case", data)
}

fn contact(c: &Contact) -> String {
    format!("{} <{}>", c.name, c.email)
}

/// What the case page shows of `case` to `user`: its facts, its contacts and measures, its
/// timeline, and the forms of the actions the user may take.
fn case_data(web: &Web, user: &User, case: &Case) -> Value {
    let cfg = web.engine.cfg();
    let dept = cfg.department(&case.department);
    let now = Utc::now();
    let may_act = may(
        &user.viewer,
        Deed::ActOnCase {
            department: &case.department,
            officer: &case.officer.email,
        },
    );
    let events: Vec<Value> = case
        .events
        .iter()
        .map(|e| json!({"at": local(dept, e.at), "what": e.what, "by": e.by}))
        .collect();
    let contacts: Vec<Value> = case
        .contacts
        .iter()
        .map(|c| json!({"way": way_word(user, c.way), "on": c.on.to_string(), "note": c.note, "by": c.by}))
        .collect();
    let measures: Vec<Value> = case
        .measures
        .iter()
        .map(|m| json!({"at": local(dept, m.at), "note": m.note, "by": m.by}))
        .collect();
    let token = form_token(web, user);
    json!({
        "case": facts(user, case, dept, now),
        "department": dept.map_or(case.department.clone(), |d| d.name.clone()),
        "zone": dept.map_or("UTC".to_string(), |d| d.calendar.tz.name().to_string()),
        "contacts": contacts,
        "measures": measures,
        "events": events,
        "may_act": may_act,
        "forms": forms(&cfg, user, case, dept, now),
        "csrf": token,
    })
}

/// The user's token for the page's forms (see [`csrf`]); empty when the store cannot give
/// the key, and then every form is refused.
fn form_token(web: &Web, user: &User) -> String {
    web.engine
        .web_key()
        .map(|k| csrf::token(&k, &user.viewer.email))
        .unwrap_or_default()
}

/// What the case's reply deadline is for, in the page's words: "Svar senast", "Kontakt senast"
/// (a complaint: the manager's contact), "Åtgärdat senast" (a catalogued fault).
fn due_word(user: &User, case: &Case) -> &'static str {
    user.lang.word(match case.due() {
        crate::model::Due::Answer => "reply_due",
        crate::model::Due::Contact => "contact_due",
        crate::model::Due::Done => "done_due",
    })
}

/// The facts at the top of the case page.
fn facts(user: &User, case: &Case, dept: Option<&Department>, now: DateTime<Utc>) -> Value {
    json!({
        "number": case.number,
        "state": state_word(user, case.state),
        "category": category_word(user, case.category),
        "fault_type": case.fault_type,
        "subject": case.subject,
        "resident": person(case.resident.name.as_deref(), &case.resident.email),
        "officer": contact(&case.officer),
        "substitute_for": case.substitute_for.as_ref().map(contact),
        "received": local(dept, case.received),
        "reply_due": local(dept, case.reply_due),
        "due_word": due_word(user, case),
        "late": case.state == CaseState::Open && case.reply_due < now,
        "decision_due": local(dept, case.decision_due),
        "flagged": case.flagged,
        "six_months": case.six_months.map(|at| local(dept, at)),
        "outcome": case.outcome,
    })
}

/// What the action forms offer: the case's state, the officers to reassign to, the
/// departments to move to, the ways of contact, and the days a date field allows.
fn forms(
    cfg: &crate::config::Config,
    user: &User,
    case: &Case,
    dept: Option<&Department>,
    now: DateTime<Utc>,
) -> Value {
    // The manager first, then every officer: a case handed to a substitute (a complaint while
    // the manager was away) must be able to go back to the manager.
    let mut people: Vec<&crate::model::Contact> = Vec::new();
    if let Some(d) = dept {
        for c in std::iter::once(&d.manager).chain(d.officers.iter().map(|o| &o.contact)) {
            if !people
                .iter()
                .any(|p| p.email.eq_ignore_ascii_case(&c.email))
            {
                people.push(c);
            }
        }
    }
    let officers: Vec<Value> = people
        .into_iter()
        .filter(|c| !c.email.eq_ignore_ascii_case(&case.officer.email))
        .map(|c| json!({"name": c.name, "email": c.email}))
        .collect();
    let departments: Vec<Value> = (cfg.departments.iter())
        .filter(|d| d.id != case.department)
        .map(|d| json!({"id": d.id, "name": d.name}))
        .collect();
    let ways: Vec<Value> = crate::model::ContactWay::ALL
        .iter()
        .map(|w| json!({"key": w.key(), "word": way_word(user, *w)}))
        .collect();
    let today = dept.map_or_else(|| now.date_naive(), |d| d.calendar.local_date(now));
    let day = |d: Option<chrono::NaiveDate>| d.map(|d| d.to_string()).unwrap_or_default();
    json!({
        "open": case.state == CaseState::Open,
        "not_closed": case.state != CaseState::Closed,
        "officers": officers,
        "departments": departments,
        "ways": ways,
        "today": today.to_string(),
        "tomorrow": day(today.succ_opt()),
        "arrived": day(dept.map(|d| d.calendar.local_date(case.received))),
    })
}

/// The word for a way of contact.
fn way_word(user: &User, w: crate::model::ContactWay) -> &'static str {
    user.lang.word(match w {
        crate::model::ContactWay::Phone => "way_phone",
        crate::model::ContactWay::Visit => "way_visit",
        crate::model::ContactWay::Mail => "way_mail",
        crate::model::ContactWay::Letter => "way_letter",
    })
}

/// `/ignored`: the mail that opened no case, and why — of the departments whose ignored mail
/// the user sees.
pub async fn ignored(State(web): State<Web>, user: User) -> Response {
    let cfg = web.engine.cfg();
    let ids: Vec<String> = (cfg.departments.iter())
        .filter(|d| may(&user.viewer, Deed::SeeIgnored(&d.id)))
        .map(|d| d.id.clone())
        .collect();
    if ids.is_empty() && !user.viewer.sees_all() {
        return forbidden(&web, &user);
    }
    let engine = web.engine.clone();
    let found = load(&web, &user, move || {
        crate::app::registrar::ignored_list(&engine, None, None)
    });
    let list = match found.await {
        Ok(l) => l,
        Err(page) => return page,
    };
    audit::viewed(&user.viewer.email, "ignored", "");
    let all = user.viewer.sees_all();
    let mails: Vec<Value> = list
        .iter()
        .filter(|l| all || ids.contains(&l.mail.department))
        .map(|l| {
            let m = &l.mail;
            let from = m
                .from
                .as_ref()
                .map_or(String::new(), |p| person(p.name.as_deref(), &p.email));
            json!({
                "id": m.id, "at": l.local_time, "mailbox": m.mailbox, "from": from,
                "reason": m.reason, "subject": m.subject, "detail": m.detail, "case": m.case,
            })
        })
        .collect();
    web.pages.page(
        StatusCode::OK,
        &user,
        user.lang.word("ignored"),
        "ignored",
        json!({ "mails": mails }),
    )
}

/// `/absences`: each department's current and coming absences (hänvisning) of its manager and
/// officers with their substitutes, as `officer list` shows them ([`admin::staffing`]), and the
/// form to set one — for oneself, or as manager or admin for the department's people.
pub async fn absences(State(web): State<Web>, user: User) -> Response {
    let engine = web.engine.clone();
    let now = Utc::now();
    let found = load(&web, &user, move || admin::staffing(&engine, None, now));
    let staffing = match found.await {
        Ok(s) => s,
        Err(page) => return page,
    };
    audit::viewed(&user.viewer.email, "absences", "");
    let cfg = web.engine.cfg();
    let departments: Vec<Value> = staffing
        .iter()
        .filter(|s| may(&user.viewer, Deed::SeeDepartment(&s.department)))
        .filter_map(|s| Some(absences_of(&user, cfg.department(&s.department)?, s)))
        .collect();
    let token = form_token(&web, &user);
    let data = json!({"departments": departments, "csrf": token});
    web.pages.page(
        StatusCode::OK,
        &user,
        user.lang.word("absences"),
        "absences",
        data,
    )
}

/// One department's part of the absences page.
fn absences_of(user: &User, d: &Department, staffing: &admin::Staffing) -> Value {
    let name_of = |email: &str| {
        d.colleague(email)
            .map_or(email.to_string(), |c| contact(&c))
    };
    let may_set = |email: &str| {
        may(
            &user.viewer,
            Deed::SetAbsence {
                department: &d.id,
                officer: email,
            },
        )
    };
    let mut rows = Vec::new();
    for m in &staffing.members {
        let email = m.contact.email.as_str();
        for l in m.away.iter().chain(&m.later) {
            let a = &l.absence;
            rows.push(json!({
                "officer": contact(&m.contact), "email": email,
                "from": a.from.to_string(), "to": a.to.to_string(),
                "substitute": name_of(&a.substitute), "planned": l.planned,
                "may_end": !l.planned && may_set(email),
            }));
        }
    }
    // Who may stand in: an officer for an officer; for the manager also `escalate_to`
    // (`admin::away` refuses anyone else, with the reason).
    let mut substitutes: Vec<Value> = (d.officers.iter())
        .map(|o| json!({"name": o.contact.name, "email": o.contact.email}))
        .collect();
    if let Some(e) = &d.follow_up.escalate_to {
        substitutes.push(json!({"name": e.name, "email": e.email}));
    }
    let who: Vec<Value> = (staffing.members.iter())
        .filter(|m| may_set(&m.contact.email))
        .map(|m| json!({"name": m.contact.name, "email": m.contact.email}))
        .collect();
    json!({
        "id": d.id, "name": d.name, "absences": rows, "who": who,
        "substitutes": substitutes, "today": staffing.today.to_string(),
    })
}
