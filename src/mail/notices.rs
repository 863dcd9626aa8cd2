//! The mails of the follow-up: reminders, escalations, the request for a new decision date,
//! the delay notice to the resident, the complaint notice and the managers' digest. Pure code,
//! like `compose`: each returns finished bytes with a Message-ID derived from what it is about,
//! so a resend after a crash is the same mail.

use crate::config::{Config, Department};
use crate::mail::outgoing::{
    in_thread, mailbox, marked, text_part, About, Automatic, ComposeError, Outgoing,
};
use crate::mail::templates::Templates;
use crate::mail::words::{case_commands, template_data, written_date, written_span, written_time};
use crate::model::{ids, Case, Contact, Kind, Language, State};
use crate::rules::schedule::Action;
use chrono::{DateTime, Utc};
use lettre::Message;
use serde_json::{json, Value};

struct Staff<'a> {
    cfg: &'a Config,
    dept: &'a Department,
    templates: &'a Templates,
    now: DateTime<Utc>,
}

impl Staff<'_> {
    #[allow(clippy::too_many_arguments)]
    fn mail(
        &self,
        about: About,
        kind: Kind,
        template: &str,
        to: &Contact,
        cc: Option<&Contact>,
        subject: String,
        mut data: Value,
        stamp: DateTime<Utc>,
    ) -> Result<Outgoing, ComposeError> {
        let lang = self.dept.staff_language;
        // Staff mail about a case links to its web page, when `[web] base_url` is set.
        if let About::Case(number) = &about {
            data["case_url"] = json!(self.cfg.web.case_url(number));
        }
        let body = self
            .templates
            .render(&format!("{template}.{}", lang.code()), &data)?;
        let case = about.to_string();
        let id = ids::staff_mail_id(template, &case, stamp, self.cfg.id_domain());
        let b = Message::builder()
            .from(self.cfg.smtp.from.clone())
            .reply_to(mailbox(Some(&self.dept.name), &self.dept.email)?)
            .to(mailbox(Some(&to.name), &to.email)?)
            .subject(subject.replace(['\r', '\n'], " "));
        let (dept, now) = (&self.dept.email, self.now);
        let mut b = marked(b, &id, now, Automatic::Generated, dept, &case);
        let mut rcpt = vec![to.email.clone()];
        if let Some(cc) = cc.filter(|c| c.email != to.email) {
            b = b.cc(mailbox(Some(&cc.name), &cc.email)?);
            rcpt.push(cc.email.clone());
        }
        let msg = b.singlepart(text_part(body)).map_err(ComposeError::Mail)?;
        Ok(Outgoing {
            id,
            about,
            kind,
            envelope_from: self.dept.email.clone(),
            to: rcpt,
            bytes: msg.formatted(),
            received: None,
            copy: false,
        })
    }
}

/// The mail for one scheduled action on `case`.
///
/// # Errors
/// A [`ComposeError`] when the template fails or an address is refused.
pub fn for_action(
    cfg: &Config,
    dept: &Department,
    templates: &Templates,
    case: &Case,
    action: &Action,
    due_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<Outgoing, ComposeError> {
    let lang = dept.staff_language;
    let staff = Staff {
        cfg,
        dept,
        templates,
        now,
    };
    let mut data = template_data(dept, case, lang);
    case_commands(cfg, case, &mut data);
    let (kind, template, to, cc) = match action {
        Action::Remind { to, on_behalf_of } => {
            data["on_behalf_of"] = json!(on_behalf_of);
            (Kind::Reminder, "reminder", to, None)
        }
        Action::Escalate { to, cc, level } => {
            data["level"] = json!(level);
            data["late_by"] = json!(written_span(now - case.reply_due, lang));
            (Kind::Escalation, "escalation", to, cc.as_ref())
        }
        Action::AskForNewDate { to, cc } => (Kind::NewDate, "new-date", to, Some(cc)),
        Action::SixMonths { to, cc } => {
            data["open_for"] = json!(written_span(now - case.received, lang));
            (Kind::SixMonths, "six-months", to, Some(cc))
        }
    };
    data["recipient"] = json!(to);
    let subject = action_subject(kind, dept, case);
    staff.mail(
        About::Case(case.number.clone()),
        kind,
        template,
        to,
        cc,
        subject,
        data,
        due_at,
    )
}

/// The subject of a follow-up mail of `kind` about `case`, in the staff language.
fn action_subject(kind: Kind, dept: &Department, case: &Case) -> String {
    let lang = dept.staff_language;
    let n = &case.number;
    match (kind, lang) {
        (Kind::Reminder, Language::Sv) => format!(
            "Påminnelse: {n} ska besvaras senast {}",
            written_time(&dept.calendar, case.reply_due, lang)
        ),
        (Kind::Reminder, Language::En) => format!(
            "Reminder: {n} is to be answered by {}",
            written_time(&dept.calendar, case.reply_due, lang)
        ),
        (Kind::Escalation, Language::Sv) => format!("Försenat ärende {n}: {}", case.subject),
        (Kind::Escalation, Language::En) => format!("Overdue case {n}: {}", case.subject),
        (Kind::SixMonths, Language::Sv) => {
            format!("Ärende {n} har varit öppet i sex månader (förvaltningslagen 12 §)")
        }
        (Kind::SixMonths, Language::En) => {
            format!("Case {n} has been open six months (Administrative Procedure Act § 12)")
        }
        (_, Language::Sv) => format!("Beslutsdatum passerat i {n}: sätt ett nytt datum"),
        (_, Language::En) => format!("Decision date passed in {n}: set a new date"),
    }
}

/// A staff mail about `case` to one person, with `recipient` set for the template.
#[allow(clippy::too_many_arguments)]
fn case_mail(
    cfg: &Config,
    dept: &Department,
    templates: &Templates,
    case: &Case,
    (kind, template): (Kind, &str),
    to: &Contact,
    subject: String,
    (stamp, now): (DateTime<Utc>, DateTime<Utc>),
) -> Result<Outgoing, ComposeError> {
    let mut data = template_data(dept, case, dept.staff_language);
    case_commands(cfg, case, &mut data);
    data["recipient"] = json!(to);
    Staff {
        cfg,
        dept,
        templates,
        now,
    }
    .mail(
        About::Case(case.number.clone()),
        kind,
        template,
        to,
        None,
        subject,
        data,
        stamp,
    )
}

/// The notice to the manager of a new complaint (the policy: the manager takes it up).
///
/// # Errors
/// A [`ComposeError`] when the template fails or an address is refused.
pub fn complaint_notice(
    cfg: &Config,
    dept: &Department,
    templates: &Templates,
    case: &Case,
    now: DateTime<Utc>,
) -> Result<Outgoing, ComposeError> {
    let subject = match dept.staff_language {
        Language::Sv => format!("Klagomål {}: {}", case.number, case.subject),
        Language::En => format!("Complaint {}: {}", case.number, case.subject),
    };
    case_mail(
        cfg,
        dept,
        templates,
        case,
        (Kind::Complaint, "complaint"),
        &dept.manager,
        subject,
        (case.received, now),
    )
}

/// The notice to the officer that the receipt could not be delivered.
///
/// # Errors
/// A [`ComposeError`] when the template fails or an address is refused.
pub fn undeliverable(
    cfg: &Config,
    dept: &Department,
    templates: &Templates,
    case: &Case,
    now: DateTime<Utc>,
) -> Result<Outgoing, ComposeError> {
    let subject = match dept.staff_language {
        Language::Sv => format!("Kvittensen i {} kunde inte levereras", case.number),
        Language::En => format!("The receipt for {} could not be delivered", case.number),
    };
    case_mail(
        cfg,
        dept,
        templates,
        case,
        (Kind::Undeliverable, "undeliverable"),
        &case.officer,
        subject,
        (now, now),
    )
}

/// The notice to the resident that the decision is delayed, with the new date already set on
/// the case.
///
/// # Errors
/// A [`ComposeError`] when the template fails or an address is refused.
pub fn delay_notice(
    cfg: &Config,
    dept: &Department,
    templates: &Templates,
    case: &Case,
    note: &str,
    now: DateTime<Utc>,
) -> Result<Outgoing, ComposeError> {
    let lang = case.language;
    let mut data = template_data(dept, case, lang);
    data["note"] = if note.trim().is_empty() {
        Value::Null
    } else {
        json!(note)
    };
    let body = templates.render(&format!("delay.{}", lang.code()), &data)?;
    let id = ids::delay_id(&case.number, case.decision_due, cfg.id_domain());
    // The number is added once, bracketed, by `to_resident` (threading tools match it).
    let subject = match lang {
        Language::Sv => "Ditt ärende tar längre tid".to_string(),
        Language::En => "Your case is taking longer".to_string(),
    };
    to_resident(cfg, dept, case, (id, subject, body), Kind::Delay, now)
}

/// A mail from `dept` to `case`'s resident after the receipt (a delay notice, a move):
/// `Re`-threaded to the resident's first message, marked auto-generated (RFC 3834 §5), the
/// case number in the subject, copied to the department when it keeps copies.
///
/// # Errors
/// A [`ComposeError`] when an address is refused or the mail cannot be built.
fn to_resident(
    cfg: &Config,
    dept: &Department,
    case: &Case,
    (id, subject, body): (String, String, String),
    kind: Kind,
    now: DateTime<Utc>,
) -> Result<Outgoing, ComposeError> {
    let mut b = Message::builder()
        .from(cfg.smtp.from.clone())
        .reply_to(mailbox(Some(&dept.name), &dept.email)?)
        .to(mailbox(
            case.resident.name.as_deref(),
            &case.resident.email,
        )?)
        .subject(format!("{subject} [{}]", case.number));
    b = marked(b, &id, now, Automatic::Generated, &dept.email, &case.number);
    if let Some(first) = case.message_ids.first().filter(|m| !ids::looks_ours(m)) {
        b = in_thread(b, first, &[]);
    }
    let msg = b.singlepart(text_part(body)).map_err(ComposeError::Mail)?;
    Ok(Outgoing {
        id,
        about: About::Case(case.number.clone()),
        kind,
        envelope_from: dept.email.clone(),
        to: vec![case.resident.email.clone()],
        bytes: msg.formatted(),
        received: None,
        copy: dept.copies,
    })
}

/// The notice to the resident that their case has moved to another department
/// (förvaltningslagen 2017:900 § 4: a matter sent to the wrong authority is passed on, and the
/// sender told), with the case already moved: its new department, owner and dates. `from` is
/// the department it left. One per move: its Message-ID names the new department.
///
/// # Errors
/// A [`ComposeError`] when the template fails or an address is refused.
pub fn moved_notice(
    cfg: &Config,
    dept: &Department,
    from: &Department,
    templates: &Templates,
    case: &Case,
    now: DateTime<Utc>,
) -> Result<Outgoing, ComposeError> {
    let lang = case.language;
    let mut data = template_data(dept, case, lang);
    data["from_department"] = json!({ "id": from.id, "name": from.name, "email": from.email });
    let body = templates.render(&format!("moved.{}", lang.code()), &data)?;
    let id = ids::staff_mail_id(
        &format!("moved-{}", dept.id),
        &case.number,
        now,
        cfg.id_domain(),
    );
    let subject = match lang {
        Language::Sv => format!(
            "Ditt ärende {} har flyttats till {}",
            case.number, dept.name
        ),
        Language::En => format!("Your case {} has moved to {}", case.number, dept.name),
    };
    to_resident(cfg, dept, case, (id, subject, body), Kind::Moved, now)
}

/// The values of the digest template: the department's cases as the manager sees them on the
/// morning of `now`.
pub fn digest_data(dept: &Department, cases: &[Case], now: DateTime<Utc>, lang: Language) -> Value {
    let cal = &dept.calendar;
    let today = cal.local_date(now);
    let yesterday = today.pred_opt().unwrap_or(today);
    let row = |c: &Case| {
        json!({
            "number": c.number,
            "subject": c.subject,
            "resident": c.resident.email,
            "officer": c.officer.name,
            "reply_date": written_time(cal, c.reply_due, lang),
            // Set by `digest` when `[web] base_url` is.
            "case_url": null,
        })
    };
    let mine: Vec<&Case> = cases.iter().filter(|c| c.department == dept.id).collect();
    let open: Vec<&Case> = mine
        .iter()
        .copied()
        .filter(|c| c.state == State::Open)
        .collect();
    let overdue: Vec<Value> = open
        .iter()
        .filter(|c| c.reply_due < now)
        .map(|c| row(c))
        .collect();
    let due_today: Vec<Value> = open
        .iter()
        .filter(|c| c.reply_due >= now && cal.local_date(c.reply_due) == today)
        .map(|c| row(c))
        .collect();
    // Förvaltningslagen § 12: the resident may now demand a decision.
    let six_months: Vec<Value> = mine
        .iter()
        .filter(|c| c.six_months.is_some() && crate::rules::schedule::undecided(c))
        .map(|c| row(c))
        .collect();
    let answered: Vec<Value> = mine
        .iter()
        .filter(|c| {
            c.answered_at
                .is_some_and(|t| cal.local_date(t) == yesterday)
        })
        .map(|c| row(c))
        .collect();
    json!({
        "department": { "id": dept.id, "name": dept.name, "email": dept.email },
        "recipient": dept.manager,
        "date": written_date(cal, now, lang),
        "open": open.iter().map(|c| row(c)).collect::<Vec<_>>(),
        "open_count": open.len(),
        "overdue": overdue,
        "overdue_count": overdue.len(),
        "due_today": due_today,
        "due_today_count": due_today.len(),
        "answered_yesterday": answered,
        "answered_yesterday_count": answered.len(),
        "six_months": six_months,
        "six_months_count": six_months.len(),
    })
}

/// The manager's digest for the digest time `at`.
///
/// # Errors
/// A [`ComposeError`] when the template fails or an address is refused.
pub fn digest(
    cfg: &Config,
    dept: &Department,
    templates: &Templates,
    cases: &[Case],
    at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<Outgoing, ComposeError> {
    let lang = dept.staff_language;
    let mut data = digest_data(dept, cases, now, lang);
    // Each listed case links to its web page, when `[web] base_url` is set.
    for list in ["open", "overdue", "due_today", "answered_yesterday"] {
        if let Some(rows) = data[list].as_array_mut() {
            for row in rows {
                let url = row["number"].as_str().and_then(|n| cfg.web.case_url(n));
                row["case_url"] = json!(url);
            }
        }
    }
    let subject = match lang {
        Language::Sv => format!(
            "Dagens läge i {}: {} öppna, {} försenade",
            dept.name, data["open_count"], data["overdue_count"]
        ),
        Language::En => format!(
            "Today in {}: {} open, {} overdue",
            dept.name, data["open_count"], data["overdue_count"]
        ),
    };
    Staff {
        cfg,
        dept,
        templates,
        now,
    }
    .mail(
        About::Digest(dept.id.clone()),
        Kind::Digest,
        "digest",
        &dept.manager,
        None,
        subject,
        data,
        at,
    )
}

/// The template values of an officer's gathered notice ([`gathered`]): the officer, how many
/// cases, and a row for each with the values of its own notice (`case`, `category`,
/// `resident`, `received`, `reply_date`, `fault`, …) and `no_receipt`, `flagged`, `case_url`.
pub fn gathered_data(
    cfg: &Config,
    dept: &Department,
    officer: &Contact,
    cases: &[&Case],
    lang: Language,
) -> Value {
    let rows = (cases.iter())
        .map(|c| gathered_row(cfg, c, template_data(dept, c, lang)))
        .collect();
    gathered_with(dept, officer, rows)
}

/// A case's row of [`gathered_data`], made from its `template_data`.
pub fn gathered_row(cfg: &Config, c: &Case, mut row: Value) -> Value {
    row["no_receipt"] = json!(c.no_receipt);
    row["flagged"] = json!(c.flagged);
    row["case_url"] = json!(cfg.web.case_url(&c.number));
    row
}

/// [`gathered_data`] of the rows made by [`gathered_row`].
pub fn gathered_with(dept: &Department, officer: &Contact, rows: Vec<Value>) -> Value {
    let mut data = json!({
        "department": { "id": dept.id, "name": dept.name, "email": dept.email, "phone": dept.phone, "web": dept.web },
        "officer": officer,
        "count": rows.len(),
    });
    // Moved in, not serialized again: `json!` would copy every row.
    data["cases"] = Value::Array(rows);
    data
}

/// One mail to `officer` listing the new cases of a burst whose notices were held
/// ([`crate::rules::burst`]), each `(case, the resident's message)` attached as its own notice
/// would attach it. `at` is when the gathering was due (in the Message-ID, so that a resend
/// after a crash is the same mail).
///
/// # Errors
/// A [`ComposeError`] when the template fails, an address is refused, or there is no case.
pub fn gathered(
    cfg: &Config,
    dept: &Department,
    templates: &Templates,
    officer: &Contact,
    cases: &[(&Case, &[u8])],
    at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<Outgoing, ComposeError> {
    use lettre::message::MultiPart;
    let first = cases.first().ok_or(ComposeError::Encoding(
        "a gathered notice lists at least one case",
    ))?;
    let lang = dept.staff_language;
    let listed: Vec<&Case> = cases.iter().map(|(c, _)| *c).collect();
    let data = gathered_data(cfg, dept, officer, &listed, lang);
    let body = templates.render(&format!("notice-batch.{}", lang.code()), &data)?;
    let about = About::Gathered(first.0.number.clone());
    let written = about.to_string();
    let id = ids::staff_mail_id("notice-batch", &written, at, cfg.id_domain());
    let subject = match lang {
        Language::Sv => format!("{} nya ärenden i {}", cases.len(), dept.name),
        Language::En => format!("{} new cases in {}", cases.len(), dept.name),
    };
    let b = Message::builder()
        .from(cfg.smtp.from.clone())
        .reply_to(mailbox(Some(&dept.name), &dept.email)?)
        .to(mailbox(Some(&officer.name), &officer.email)?)
        .subject(subject.replace(['\r', '\n'], " "));
    let b = marked(b, &id, now, Automatic::Generated, &dept.email, &written);
    let mut parts = MultiPart::mixed().singlepart(text_part(body));
    for (c, message) in cases {
        let name = format!("{}.eml", c.number);
        parts = parts.singlepart(crate::mail::compose::attached_message(message, &name)?);
    }
    let msg = b.multipart(parts).map_err(ComposeError::Mail)?;
    Ok(Outgoing {
        id,
        about,
        kind: Kind::OfficerNotice,
        envelope_from: dept.email.clone(),
        to: vec![officer.email.clone()],
        bytes: msg.formatted(),
        received: None,
        copy: false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;

    #[test]
    fn spans_are_written_as_people_say_them() {
        assert_eq!(written_span(Duration::minutes(1), Language::Sv), "1 minut");
        assert_eq!(
            written_span(Duration::minutes(125), Language::Sv),
            "2 timmar 5 minuter"
        );
        assert_eq!(
            written_span(Duration::hours(49), Language::En),
            "2 days 1 hour"
        );
        assert_eq!(
            written_span(Duration::seconds(20), Language::En),
            "0 minutes"
        );
    }

    /// The text of a built mail.
    fn text(mail: &Outgoing) -> String {
        let parsed = mail_parser::MessageParser::default()
            .parse(&mail.bytes)
            .unwrap();
        parsed.body_text(0).unwrap_or_default().to_string()
    }

    #[test]
    fn staff_mail_links_to_the_case_page_when_the_web_page_has_an_address() {
        let mut cfg = crate::testkit::Sample::default().config();
        let templates = crate::mail::check::load_templates(&cfg).unwrap();
        let dept = cfg.departments[0].clone();
        let case = crate::testkit::case("BMN-2026-0001", &[]);
        let now = Utc::now();
        let remind = Action::Remind {
            to: dept.officers[0].contact.clone(),
            on_behalf_of: None,
        };
        let reminder = |cfg: &Config| for_action(cfg, &dept, &templates, &case, &remind, now, now);
        assert!(!text(&reminder(&cfg).unwrap()).contains("/cases/"));
        cfg.web.base_url = Some("https://kvittens.kommun.test".into());
        let url = "https://kvittens.kommun.test/cases/BMN-2026-0001";
        let body = text(&reminder(&cfg).unwrap());
        assert!(
            body.contains(&format!("Ärendet på webben: {url}")),
            "{body}"
        );
        // The staff mails the complaint and § 12 rules added link to it as well.
        let complaint = complaint_notice(&cfg, &dept, &templates, &case, now).unwrap();
        assert!(text(&complaint).contains(url), "{}", text(&complaint));
        let six = Action::SixMonths {
            to: dept.manager.clone(),
            cc: dept.officers[0].contact.clone(),
        };
        let six = for_action(&cfg, &dept, &templates, &case, &six, now, now).unwrap();
        assert!(text(&six).contains(url), "{}", text(&six));
        let mut open = case.clone();
        open.reply_due = now + Duration::days(1);
        let d = digest(&cfg, &dept, &templates, &[open], now, now).unwrap();
        assert!(text(&d).contains(url), "{}", text(&d));
    }
}
