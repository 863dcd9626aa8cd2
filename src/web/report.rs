//! `/report`: the report to the nämnd (the municipal board a department answers to) for a
//! period the user chooses, shown in the page and downloadable as HTML and CSV. The figures
//! and both renderings are the report's own (`app::report`, which reads the daily totals, and
//! `mail::report`): the page adds the form and who may read which report
//! ([`crate::rules::permit::Deed::SeeReport`]), nothing that counts.
//!
//! The HTML report is one self-contained page with its own inline style, as it is mailed and
//! archived; the page shows it in a frame from `/report/file`, whose response alone allows
//! inline style (no script, nothing from elsewhere) and framing by the page itself.

use super::auth::User;
use super::pages::{blocking, forbidden};
use super::{audit, headers, Web};
use crate::app::report::{self, Query as ReportQuery};
use crate::mail::report::Format;
use crate::rules::permit::{may, Deed};
use axum::extract::{Query, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{Datelike, NaiveDate, Utc};
use serde::Deserialize;
use serde_json::{json, Value};

/// The query of `/report` and `/report/file`.
#[derive(Debug, Default, Deserialize)]
pub struct Asked {
    /// The first day, `YYYY-MM-DD`; absent: the first of this month.
    #[serde(default)]
    pub from: Option<String>,
    /// The last day, `YYYY-MM-DD`; absent: today.
    #[serde(default)]
    pub to: Option<String>,
    /// A department id; empty for every department and the total.
    #[serde(default)]
    pub department: Option<String>,
    /// For `/report/file`: `html` or `csv`.
    #[serde(default)]
    pub format: Option<String>,
    /// For `/report/file`: shown in the page's frame rather than downloaded.
    #[serde(default)]
    pub view: Option<String>,
}

/// What the user asked, read: the report's query, or why it cannot be read.
fn read(web: &Web, user: &User, asked: &Asked) -> Result<ReportQuery, String> {
    let cfg = web.engine.cfg();
    let today = (cfg.departments.first()).map_or_else(
        || Utc::now().date_naive(),
        |d| d.calendar.local_date(Utc::now()),
    );
    let day = |name: &str, text: Option<&str>, default: NaiveDate| match text.map(str::trim) {
        None | Some("") => Ok(default),
        Some(t) => NaiveDate::parse_from_str(t, "%Y-%m-%d")
            .map_err(|_| format!("{name}: {t:?} is not a date; write YYYY-MM-DD, e.g. 2026-03-31")),
    };
    let from = day(
        "from",
        asked.from.as_deref(),
        today.with_day(1).unwrap_or(today),
    )?;
    let to = day("to", asked.to.as_deref(), today)?;
    let department = match asked.department.as_deref().map(str::trim) {
        Some("") => None,
        Some(d) => Some(d.to_string()),
        // Not chosen yet: all for those who may, else the user's first department.
        None if may(&user.viewer, Deed::SeeReport(None)) => None,
        None => reportable(web, user).into_iter().next(),
    };
    Ok(ReportQuery {
        from,
        to,
        department,
    })
}

/// The departments whose report `user` may read, in config order.
fn reportable(web: &Web, user: &User) -> Vec<String> {
    (web.engine.cfg().departments.iter())
        .filter(|d| may(&user.viewer, Deed::SeeReport(Some(&d.id))))
        .map(|d| d.id.clone())
        .collect()
}

/// The query string of `q`, for the frame and the download links.
fn query_string(q: &ReportQuery) -> String {
    format!(
        "from={}&to={}&department={}",
        q.from,
        q.to,
        q.department.as_deref().unwrap_or_default()
    )
}

/// `/report`: the form, and the chosen report in a frame with its downloads.
pub async fn page(State(web): State<Web>, user: User, Query(asked): Query<Asked>) -> Response {
    let mine = reportable(&web, &user);
    if mine.is_empty() {
        audit::refused(&user.viewer.email, "report", "", "not permitted");
        return forbidden(&web, &user);
    }
    let t = user.lang;
    let q = match read(&web, &user, &asked) {
        Ok(q) => q,
        Err(why) => {
            let (status, title) = (StatusCode::UNPROCESSABLE_ENTITY, t.word("refused"));
            return web.pages.message(status, &user, title, &why, "/report");
        }
    };
    if !may(&user.viewer, Deed::SeeReport(q.department.as_deref())) {
        audit::refused(&user.viewer.email, "report", &scope(&q), "not permitted");
        return forbidden(&web, &user);
    }
    let cfg = web.engine.cfg();
    let departments: Vec<Value> = (cfg.departments.iter())
        .filter(|d| mine.contains(&d.id))
        .map(|d| json!({"id": d.id, "name": d.name, "selected": q.department.as_deref() == Some(d.id.as_str())}))
        .collect();
    let qs = query_string(&q);
    let data = json!({
        "from": q.from.to_string(),
        "to": q.to.to_string(),
        "all": may(&user.viewer, Deed::SeeReport(None)),
        "departments": departments,
        "frame": format!("/report/file?{qs}&format=html&view=1"),
        "html": format!("/report/file?{qs}&format=html"),
        "csv": format!("/report/file?{qs}&format=csv"),
    });
    let mut response = web
        .pages
        .page(StatusCode::OK, &user, t.word("report"), "report", data);
    // This page alone frames a page of its own: the report.
    response.headers_mut().insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(headers::CSP_FRAMING_REPORT),
    );
    response
}

/// The report's scope for the audit trail and the file name: a department id or `alla`.
fn scope(q: &ReportQuery) -> String {
    q.department.clone().unwrap_or_else(|| "alla".to_string())
}

/// `/report/file`: the report as HTML or CSV — a download, or with `view=1` the HTML shown in
/// `/report`'s frame.
pub async fn file(State(web): State<Web>, user: User, Query(asked): Query<Asked>) -> Response {
    let t = user.lang;
    let refused = |why: &str| {
        let (status, title) = (StatusCode::UNPROCESSABLE_ENTITY, t.word("refused"));
        web.pages.message(status, &user, title, why, "/report")
    };
    let q = match read(&web, &user, &asked) {
        Ok(q) => q,
        Err(why) => return refused(&why),
    };
    if !may(&user.viewer, Deed::SeeReport(q.department.as_deref())) {
        audit::refused(&user.viewer.email, "report", &scope(&q), "not permitted");
        return forbidden(&web, &user);
    }
    let (format, kind, ext) = match asked.format.as_deref() {
        Some("csv") => (Format::Csv, "text/csv; charset=utf-8", "csv"),
        Some("html") | None => (Format::Html, "text/html; charset=utf-8", "html"),
        Some(other) => return refused(&format!("format: {other:?} is not html or csv")),
    };
    let (engine, query) = (web.engine.clone(), q.clone());
    let rendered = blocking(move || report::render(&engine, &query, format, Utc::now())).await;
    let body = match rendered {
        Some(Ok(b)) => b,
        Some(Err(e)) => return refused(&e.to_string()),
        None => return refused("the page's worker stopped"),
    };
    audit::viewed(
        &user.viewer.email,
        "report",
        &format!("{} {}–{} {ext}", scope(&q), q.from, q.to),
    );
    let view = asked.view.is_some() && format == Format::Html;
    let disposition = if view {
        "inline".to_string()
    } else {
        format!(
            "attachment; filename=\"kvittens-rapport-{}-{}-{}.{ext}\"",
            scope(&q),
            q.from,
            q.to
        )
    };
    let mut response = (StatusCode::OK, body).into_response();
    let h = response.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(kind));
    if let Ok(v) = HeaderValue::from_str(&disposition) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(headers::CSP_REPORT),
    );
    h.insert(
        header::X_FRAME_OPTIONS,
        HeaderValue::from_static("SAMEORIGIN"),
    );
    response
}
