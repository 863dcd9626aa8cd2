//! The start-up check of the templates: each is rendered once with sample values, so that a
//! typo in a custom template stops kvittens at start rather than the first resident's receipt.

use crate::config::{Config, Department};
use crate::mail::compose::{notice_data, NoticeFacts};
use crate::mail::outgoing::ComposeError;
use crate::mail::templates::Templates;
use crate::mail::words::template_data;
use crate::model::{Case, Category, Language};
use crate::rules::decide::Reason;
use chrono::{DateTime, Utc};
use serde_json::json;

/// Loads the templates (`[daemon] templates`, else the built-in ones) and renders each once,
/// so that a mistake stops the start, the reload or the command before any mail is read.
///
/// # Errors
/// The template that cannot be read or rendered.
pub fn load_templates(cfg: &Config) -> Result<Templates, ComposeError> {
    let templates = Templates::load(cfg.templates.as_deref())?;
    check_templates(cfg, &templates)?;
    Ok(templates)
}

/// Renders every template once with sample values, so a mistake stops the start-up.
///
/// # Errors
/// The first template that fails to render with the sample values.
pub fn check_templates(cfg: &Config, templates: &Templates) -> Result<(), ComposeError> {
    let Some(dept) = cfg.departments.first() else {
        return Ok(());
    };
    let now = Utc::now();
    let case = sample_case(dept, now);
    for name in crate::mail::templates::names() {
        let lang = if name.ends_with(".en") {
            Language::En
        } else {
            Language::Sv
        };
        let data = if name.starts_with("digest.") {
            crate::mail::notices::digest_data(dept, std::slice::from_ref(&case), now, lang)
        } else {
            // The values the follow-up mails fill in, so their templates are checked too.
            let mut data = template_data(dept, &case, lang);
            data["recipient"] = json!(dept.manager);
            data["on_behalf_of"] = json!(dept.officers[0].contact);
            data["late_by"] = json!("1 dag");
            data["level"] = json!(1);
            data["note"] = json!("Test");
            data["open_for"] = json!("183 dagar");
            data["from_department"] =
                json!({ "id": dept.id, "name": dept.name, "email": dept.email });
            data
        };
        templates.render(&name, &data)?;
    }
    // The officer notice's other branch: a receipt withheld, a flagged case, a note.
    let why = Reason {
        code: "no_auto_reply",
        detail: "Test".into(),
    };
    let facts = NoticeFacts {
        no_receipt: Some(&why),
        header_only: Some("Test"),
        note: "Test",
    };
    let mut flagged = case;
    flagged.flagged = Some("Test".into());
    for lang in ["sv", "en"] {
        let data = notice_data(cfg, dept, &flagged, &facts);
        templates.render(&format!("officer-notice.{lang}"), &data)?;
    }
    Ok(())
}

/// A case with sample values, for rendering the templates once at start-up.
pub(crate) fn sample_case(dept: &Department, now: DateTime<Utc>) -> Case {
    Case {
        number: crate::model::ids::case_number(&dept.case_prefix, 2026, 1),
        department: dept.id.clone(),
        category: Category::Question,
        language: Language::Sv,
        resident: crate::model::Person {
            name: Some("Test Testsson".into()),
            email: "test@example.org".into(),
        },
        subject: "Test".into(),
        officer: dept.officers[0].contact.clone(),
        substitute_for: Some(dept.officers[0].contact.clone()),
        received: now,
        reply_due: now,
        decision_due: now + chrono::Duration::days(3),
        message_ids: vec![],
        state: crate::model::State::Open,
        events: vec![],
        answered_at: None,
        delay_told: false,
        flagged: None,
        no_receipt: None,
        fault_type: None,
        contacts: Vec::new(),
        measures: Vec::new(),
        outcome: None,
        six_months: None,
        six_months_scheduled: false,
    }
}
