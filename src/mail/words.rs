//! How kvittens writes a case for people: dates and times in the resident's or the staff's
//! language, spans of time, and the values every template can use. Shared by the receipt and
//! the staff mails.

use crate::config::Department;
use crate::model::calendar::Calendar;
use crate::model::{Case, Category, Language};
use chrono::{DateTime, Duration, Utc};
use serde_json::json;

/// The date as a person writes it: "torsdag 3 december 2026" / "Thursday 3 December 2026".
pub fn written_date(cal: &Calendar, t: DateTime<Utc>, lang: Language) -> String {
    let local = t.with_timezone(&cal.tz);
    match lang {
        Language::Sv => local
            .format_localized("%A %-d %B %Y", chrono::Locale::sv_SE)
            .to_string(),
        Language::En => local
            .format_localized("%A %-d %B %Y", chrono::Locale::en_GB)
            .to_string(),
    }
}

/// The date and time: "torsdag 3 december 2026 kl. 17:00".
pub fn written_time(cal: &Calendar, t: DateTime<Utc>, lang: Language) -> String {
    let local = t.with_timezone(&cal.tz);
    match lang {
        Language::Sv => format!(
            "{} kl. {}",
            written_date(cal, t, lang),
            local.format("%H:%M")
        ),
        Language::En => format!(
            "{} at {}",
            written_date(cal, t, lang),
            local.format("%H:%M")
        ),
    }
}

fn category_word(c: Category, lang: Language) -> &'static str {
    match (lang, c) {
        (Language::Sv, Category::Question) => "en fråga",
        (Language::Sv, Category::Application) => "en ansökan",
        (Language::Sv, Category::FaultReport) => "en felanmälan",
        (Language::Sv, Category::Complaint) => "ett klagomål",
        (Language::En, Category::Question) => "a question",
        (Language::En, Category::Application) => "an application",
        (Language::En, Category::FaultReport) => "a fault report",
        (Language::En, Category::Complaint) => "a complaint",
    }
}

/// The values templates can use. Every key is always present (null when empty), so strict mode
/// only trips on real typos.
pub fn template_data(dept: &Department, case: &Case, lang: Language) -> serde_json::Value {
    let cal = &dept.calendar;
    let resident_display = resident_display(case, lang);
    json!({
        "department": { "id": dept.id, "name": dept.name, "email": dept.email, "phone": dept.phone, "web": dept.web },
        "case": { "number": case.number, "subject": case.subject },
        "category": category_word(case.category, lang),
        "is_complaint": case.category == Category::Complaint,
        "officer": case.officer,
        "substitute_for": case.substitute_for,
        "manager": dept.manager,
        "resident": { "name": case.resident.name, "email": case.resident.email, "display": resident_display },
        "received": written_time(cal, case.received, lang),
        "reply_date": written_date(cal, case.reply_due, lang),
        "expected_date": written_date(cal, case.decision_due, lang),
        "decision_differs": cal.local_date(case.decision_due) != cal.local_date(case.reply_due),
        "reply_time": written_time(cal, case.reply_due, lang),
        // Filled in by the follow-up mails; present (null) everywhere so strict mode holds.
        "recipient": null,
        "on_behalf_of": null,
        "late_by": null,
        "level": null,
        "complaint": case.category == Category::Complaint,
        "note": null,
        // Why a person should look at the case (e.g. only its header could be read).
        "flagged": case.flagged,
        // Filled in by the officer notice (see `NoticeFacts`).
        "receipt_sent": true,
        "no_receipt_reason": null,
        "no_receipt_detail": null,
        "receipt_command": null,
        "flag_summary": null,
        "flag_detail": null,
        // The case's web page (`[web] base_url`), set in staff mail.
        "case_url": null,
    })
}

/// How staff mail names the resident: "Name <address>", or, for a case whose mail had no
/// address that could be read (decide's `no_address`), words saying so instead of an empty
/// field — an officer reading a blank "From:" cannot tell a bug from a missing sender.
fn resident_display(case: &Case, lang: Language) -> String {
    let email = &case.resident.email;
    let name = case
        .resident
        .name
        .as_deref()
        .filter(|n| !n.trim().is_empty());
    if email.is_empty() {
        let none = match lang {
            Language::Sv => "ingen adress kunde läsas",
            Language::En => "no address could be read",
        };
        return match (name, lang) {
            (Some(n), _) => format!("{n} ({none})"),
            (None, Language::Sv) => format!("okänd avsändare ({none})"),
            (None, Language::En) => format!("unknown sender ({none})"),
        };
    }
    match name {
        Some(n) => format!("{n} <{email}>"),
        None => email.clone(),
    }
}

/// "2 dagar 3 timmar" / "2 days 3 hours".
pub fn written_span(d: Duration, lang: Language) -> String {
    let mins = d.num_minutes().max(0);
    let (days, hours, minutes) = (mins / 1440, mins / 60 % 24, mins % 60);
    let (dw, hw, mw) = match lang {
        Language::Sv => (("dag", "dagar"), ("timme", "timmar"), ("minut", "minuter")),
        Language::En => (("day", "days"), ("hour", "hours"), ("minute", "minutes")),
    };
    let part =
        |n: i64, (one, many): (&str, &str)| format!("{n} {}", if n == 1 { one } else { many });
    let mut parts = Vec::new();
    if days > 0 {
        parts.push(part(days, dw));
    }
    if hours > 0 {
        parts.push(part(hours, hw));
    }
    if days == 0 && (minutes > 0 || parts.is_empty()) {
        parts.push(part(minutes, mw));
    }
    parts.join(" ")
}
