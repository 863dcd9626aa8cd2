//! Builds the mails kvittens sends — the receipt to the resident and the notice to the officer —
//! as finished RFC 5322 bytes with their envelope. Pure code: the result goes to the store's
//! outbox first and is sent from there, so a resend after a crash sends the very same bytes.

use crate::calendar::Calendar;
use crate::case::Case;
use crate::config::{Config, Department};
use crate::decide::{Category, Language};
use crate::templates::{TemplateError, Templates};
use chrono::{DateTime, Utc};
use lettre::message::header::{ContentType, HeaderName, HeaderValue};
use lettre::message::{Attachment, Mailbox, MultiPart, SinglePart};
use lettre::Message;
use serde::{Deserialize, Serialize};
use serde_json::json;

/// What an outgoing mail is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// The receipt (kvittens) to the resident.
    Receipt,
    /// The new-case notice to the officer.
    OfficerNotice,
    /// A reminder to the officer before the deadline.
    Reminder,
    /// A late case, told to a manager.
    Escalation,
    /// The manager asked to set a new decision date.
    NewDate,
    /// The resident told of a delayed decision.
    Delay,
    /// A complaint, told to the manager at once.
    Complaint,
    /// The manager's daily digest.
    Digest,
    /// The officer told that a receipt bounced.
    Undeliverable,
}

impl Kind {
    /// A word for logs and timelines.
    pub fn word(self) -> &'static str {
        match self {
            Kind::Receipt => "receipt",
            Kind::OfficerNotice => "officer notice",
            Kind::Reminder => "reminder",
            Kind::Escalation => "escalation",
            Kind::NewDate => "request for a new decision date",
            Kind::Delay => "delay notice",
            Kind::Complaint => "complaint notice to the manager",
            Kind::Digest => "digest",
            Kind::Undeliverable => "undeliverable receipt notice",
        }
    }
}

/// A finished mail, ready for SMTP.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Outgoing {
    /// Its Message-ID (without brackets); also its key in the outbox.
    pub id: String,
    /// The case it belongs to.
    pub case: String,
    /// What it is.
    pub kind: Kind,
    /// MAIL FROM: the department mailbox, so bounces come back where kvittens watches.
    pub envelope_from: String,
    /// RCPT TO.
    pub to: Vec<String>,
    /// The message.
    pub bytes: Vec<u8>,
    /// For a receipt: when the resident's mail reached the mailbox (for the latency metric).
    #[serde(default)]
    pub received: Option<DateTime<Utc>>,
    /// Whether a copy goes to the department mailbox (`envelope_from`) in the same SMTP
    /// transaction: the department's record of what it told the resident, and kvittens' proof
    /// that the mail went when a crash hid the server's answer (see the store's outbox).
    #[serde(default)]
    pub copy: bool,
}

/// Why a mail could not be built.
#[derive(Debug, thiserror::Error)]
pub enum ComposeError {
    /// A template failed to render.
    #[error(transparent)]
    Template(#[from] TemplateError),
    /// An address or header was refused by the mail builder.
    #[error("cannot build the mail: {0}")]
    Build(String),
}

fn build_err(e: impl std::fmt::Display) -> ComposeError {
    ComposeError::Build(e.to_string())
}

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
    let resident_display = match &case.resident.name {
        Some(n) => format!("{n} <{}>", case.resident.email),
        None => case.resident.email.clone(),
    };
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
    })
}

/// The receipt's subject: `Re: <subject> [BMN-2026-0042]`, or a neutral one when the resident's
/// subject is empty or could not be decoded.
pub fn receipt_subject(case: &Case) -> String {
    let mut s = case.subject.trim();
    for prefix in ["re:", "sv:", "aw:", "vs:", "fw:", "fwd:"] {
        if s.get(..prefix.len())
            .is_some_and(|p| p.eq_ignore_ascii_case(prefix))
        {
            s = s[prefix.len()..].trim_start();
        }
    }
    let s = s.replace(['\r', '\n'], " ");
    let tag = format!("[{}]", case.number);
    if s.is_empty() || s.contains('\u{FFFD}') {
        let neutral = match case.language {
            Language::Sv => "Ditt meddelande",
            Language::En => "Your message",
        };
        format!("{neutral} {tag}")
    } else if s.contains(&tag) {
        format!("Re: {s}")
    } else {
        format!("Re: {s} {tag}")
    }
}

/// The Message-ID of a case's receipt or officer notice: derived from the case, so it is the
/// same on every attempt.
pub fn message_id(cfg: &Config, case: &str, kind: Kind) -> String {
    let word = if kind == Kind::Receipt {
        "receipt"
    } else {
        "assigned"
    };
    format!("kvittens.{word}.{case}@{}", cfg.id_domain())
}

/// A plain-text part sent as 8bit: readable in the raw mail, and Postfix converts it where a
/// receiving server lacks 8BITMIME. Falls back to the library's choice (quoted-printable) for
/// text that 8bit cannot carry (very long lines).
pub(crate) fn text_part(body: String) -> SinglePart {
    use lettre::message::header::ContentTransferEncoding;
    match lettre::message::Body::new_with_encoding(body.clone(), ContentTransferEncoding::EightBit)
    {
        Ok(b) => SinglePart::builder()
            .header(ContentType::TEXT_PLAIN)
            .body(b),
        Err(_) => SinglePart::plain(body),
    }
}

pub(crate) fn header(name: &'static str, value: impl Into<String>) -> HeaderValue {
    HeaderValue::new(HeaderName::new_from_ascii_str(name), value.into())
}

/// A Message-ID that is safe to put back in a header.
pub(crate) fn safe_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() < 500
        && id
            .chars()
            .all(|c| c.is_ascii_graphic() && c != '<' && c != '>')
}

pub(crate) fn mailbox(name: Option<&str>, email: &str) -> Result<Mailbox, ComposeError> {
    Ok(Mailbox::new(
        name.map(str::to_string),
        email.parse().map_err(build_err)?,
    ))
}

/// The receipt for a new case. `thread` is the resident's Message-ID and references.
pub fn receipt(
    cfg: &Config,
    dept: &Department,
    case: &Case,
    thread: (&Option<String>, &[String]),
    templates: &Templates,
    now: DateTime<Utc>,
) -> Result<Outgoing, ComposeError> {
    let body = templates.render(
        &format!("receipt.{}", case.language.code()),
        &template_data(dept, case, case.language),
    )?;
    let id = message_id(cfg, &case.number, Kind::Receipt);
    let mut b = Message::builder()
        .from(cfg.smtp.from.clone())
        .reply_to(mailbox(Some(&dept.name), &dept.email)?)
        .to(mailbox(
            case.resident.name.as_deref(),
            &case.resident.email,
        )?)
        .subject(receipt_subject(case))
        .message_id(Some(format!("<{id}>")))
        .date(now.into())
        .raw_header(header("Auto-Submitted", "auto-replied"))
        .raw_header(header("X-Auto-Response-Suppress", "All"))
        .raw_header(header("Precedence", "bulk"))
        .raw_header(header("X-Kvittens-Loop", dept.email.clone()))
        .raw_header(header("X-Kvittens-Case", case.number.clone()));
    let (resident_id, references) = thread;
    if let Some(mid) = resident_id.as_deref().filter(|m| safe_id(m)) {
        let mut refs: Vec<String> = references
            .iter()
            .filter(|r| safe_id(r))
            .map(|r| format!("<{r}>"))
            .collect();
        refs.truncate(20);
        refs.push(format!("<{mid}>"));
        b = b.in_reply_to(format!("<{mid}>")).references(refs.join(" "));
    }
    let msg = b.singlepart(text_part(body)).map_err(build_err)?;
    Ok(Outgoing {
        id,
        case: case.number.clone(),
        kind: Kind::Receipt,
        envelope_from: dept.email.clone(),
        to: vec![case.resident.email.clone()],
        bytes: msg.formatted(),
        received: Some(case.received),
        copy: dept.copies,
    })
}

/// The notice to the assigned officer, with the resident's message attached.
pub fn officer_notice(
    cfg: &Config,
    dept: &Department,
    case: &Case,
    original: &[u8],
    templates: &Templates,
    now: DateTime<Utc>,
) -> Result<Outgoing, ComposeError> {
    // Staff mail is in Swedish: the municipality's working language.
    let body = templates.render(
        "officer-notice.sv",
        &template_data(dept, case, Language::Sv),
    )?;
    let id = message_id(cfg, &case.number, Kind::OfficerNotice);
    let subject = format!(
        "Nytt ärende {}: {}",
        case.number,
        case.subject.replace(['\r', '\n'], " ")
    );
    let attachment = Attachment::new(format!("{}.eml", case.number)).body(
        original.to_vec(),
        ContentType::parse("message/rfc822").map_err(build_err)?,
    );
    let msg = Message::builder()
        .from(cfg.smtp.from.clone())
        .reply_to(mailbox(
            case.resident.name.as_deref(),
            &case.resident.email,
        )?)
        .to(mailbox(Some(&case.officer.name), &case.officer.email)?)
        .subject(subject)
        .message_id(Some(format!("<{id}>")))
        .date(now.into())
        .raw_header(header("Auto-Submitted", "auto-generated"))
        .raw_header(header("X-Auto-Response-Suppress", "All"))
        .raw_header(header("X-Kvittens-Loop", dept.email.clone()))
        .raw_header(header("X-Kvittens-Case", case.number.clone()))
        .multipart(
            MultiPart::mixed()
                .singlepart(text_part(body))
                .singlepart(attachment),
        )
        .map_err(build_err)?;
    Ok(Outgoing {
        id,
        case: case.number.clone(),
        kind: Kind::OfficerNotice,
        envelope_from: dept.email.clone(),
        to: vec![case.officer.email.clone()],
        bytes: msg.formatted(),
        received: None,
        copy: false,
    })
}

/// Renders every template once with sample values, so a mistake stops the start-up.
pub fn check_templates(cfg: &Config, templates: &Templates) -> Result<(), ComposeError> {
    let Some(dept) = cfg.departments.first() else {
        return Ok(());
    };
    let now = Utc::now();
    let case = Case {
        number: crate::case::case_number(&dept.case_prefix, 2026, 1),
        department: dept.id.clone(),
        category: Category::Question,
        language: Language::Sv,
        resident: crate::message::Person {
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
        state: crate::case::State::Open,
        events: vec![],
        answered_at: None,
        delay_told: false,
        flagged: None,
    };
    for name in crate::templates::NAMES {
        let lang = if name.ends_with(".en") {
            Language::En
        } else {
            Language::Sv
        };
        let data = if name.starts_with("digest.") {
            crate::notices::digest_data(dept, std::slice::from_ref(&case), now, lang)
        } else {
            // The values the follow-up mails fill in, so their templates are checked too.
            let mut data = template_data(dept, &case, lang);
            data["recipient"] = json!(dept.manager);
            data["on_behalf_of"] = json!(dept.officers[0].contact);
            data["late_by"] = json!("1 dag");
            data["level"] = json!(1);
            data["note"] = json!("Test");
            data
        };
        templates.render(name, &data)?;
    }
    Ok(())
}
