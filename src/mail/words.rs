//! How kvittens writes a case for people: dates and times in the resident's or the staff's
//! language, spans of time, and the values every template can use. Shared by the receipt and
//! the staff mails.

use crate::config::Department;
use crate::model::calendar::Calendar;
use crate::model::span::Span;
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

/// A number as a count in running text: one to nine in words, larger numbers in digits, as
/// Swedish and English style guides (Myndigheternas skrivregler, TT-språket) write them. In
/// Swedish the common-gender form ("en"), which every unit of time here takes.
fn count_word(n: u64, lang: Language) -> String {
    const SV: [&str; 10] = [
        "noll", "en", "två", "tre", "fyra", "fem", "sex", "sju", "åtta", "nio",
    ];
    const EN: [&str; 10] = [
        "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine",
    ];
    match (lang, usize::try_from(n)) {
        (Language::Sv, Ok(i)) if i < SV.len() => SV[i].to_string(),
        (Language::En, Ok(i)) if i < EN.len() => EN[i].to_string(),
        _ => n.to_string(),
    }
}

/// A unit of time in the singular and the plural ("vecka", "veckor").
type Unit = (&'static str, &'static str);

/// A configured span as a resident or officer reads it: "tre arbetsdagar", "en vecka",
/// "10 arbetsdagar", "72 timmar" / "three working days", "one week", "10 working days". A
/// calendar span takes the largest unit that divides it whole (`"14d"` is "två veckor").
pub fn span_words(span: Span, lang: Language) -> String {
    let sv = lang == Language::Sv;
    let (n, (one, many)) = match span {
        Span::WorkingDays(n) if sv => (u64::from(n), ("arbetsdag", "arbetsdagar")),
        Span::WorkingDays(n) => (u64::from(n), ("working day", "working days")),
        Span::Calendar(secs) => {
            let secs = secs.max(0).unsigned_abs();
            let units: [(u64, Unit, Unit); 5] = [
                (7 * 86_400, ("vecka", "veckor"), ("week", "weeks")),
                (86_400, ("dag", "dagar"), ("day", "days")),
                (3600, ("timme", "timmar"), ("hour", "hours")),
                (60, ("minut", "minuter"), ("minute", "minutes")),
                (1, ("sekund", "sekunder"), ("second", "seconds")),
            ];
            let (size, sv_words, en_words) = units
                .into_iter()
                .find(|(size, _, _)| secs > 0 && secs % size == 0)
                .unwrap_or(units[4]);
            (secs / size, if sv { sv_words } else { en_words })
        }
    };
    let unit = if n == 1 { one } else { many };
    format!("{} {unit}", count_word(n, lang))
}

/// The span a case's reply deadline was counted with: a catalogued fault's `within`, else its
/// category's `reply_within` (a complaint's is a week unless set) — the same span the deadline
/// was counted with, so that the words and the date agree.
fn reply_span(dept: &Department, case: &Case) -> Span {
    fault_of(dept, case).map_or_else(|| dept.reply_within_for(case.category), |t| t.within)
}

/// The span a case's expected decision date was counted with: a catalogued fault's `within`,
/// else the department's `decide_within` for its category.
fn decide_span(dept: &Department, case: &Case) -> Span {
    match fault_of(dept, case) {
        Some(t) => t.within,
        None => (dept.decide_within.get(&case.category).copied())
            .unwrap_or_else(|| dept.reply_within_for(case.category)),
    }
}

/// The catalogue entry of a case's fault type, while the config still has it.
fn fault_of<'d>(dept: &'d Department, case: &Case) -> Option<&'d crate::config::FaultType> {
    let name = case.fault_type.as_deref()?;
    dept.fault_types.iter().find(|t| t.name == name)
}

/// The `fault` value of a fault report of a catalogued type (else null): its type, measure,
/// date, span and responsible unit.
fn fault_data(dept: &Department, case: &Case, lang: Language) -> serde_json::Value {
    match fault_of(dept, case) {
        Some(t) => json!({
            "type": t.name,
            "measure": t.measure,
            "within": span_words(t.within, lang),
            "date": written_date(&dept.calendar, case.decision_due, lang),
            "responsible": t.responsible,
        }),
        None => serde_json::Value::Null,
    }
}

/// The values templates can use. Every key is always present (null when empty), so strict mode
/// only trips on real typos.
/// A command line for staff to copy from a mail and run as printed: `kvittens SUB --config
/// FILE ARGS`, with the config file the daemon runs with (made absolute from the daemon's
/// working directory, and quoted for a POSIX shell when it needs to be), so that it reaches
/// the same store from any directory.
pub fn kvittens_command(cfg: &crate::config::Config, sub: &str, args: &str) -> String {
    let file = std::path::absolute(&cfg.file).unwrap_or_else(|_| cfg.file.clone());
    let file = file.to_string_lossy();
    let quoted = shlex::try_quote(&file).map_or_else(|_| file.to_string(), |q| q.into_owned());
    format!("kvittens {sub} --config {quoted} {args}")
}

/// The commands a staff mail about `case` may print, for the templates: `close_command`
/// (`case close`, the template adds `--note`), `contact_command` (`case contact`, the template
/// adds `--by` and `--note`: a phone call or a visit leaves no mail for kvittens to see, so a
/// complaint's contact is recorded by hand), `postpone_command` (`case postpone`, the template
/// adds `--to` and `--note`) and `show_command` (`case show`).
pub fn case_commands(cfg: &crate::config::Config, case: &Case, data: &mut serde_json::Value) {
    let n = &case.number;
    data["close_command"] = json!(kvittens_command(cfg, "case close", n));
    data["contact_command"] = json!(kvittens_command(cfg, "case contact", n));
    data["postpone_command"] = json!(kvittens_command(cfg, "case postpone", n));
    data["show_command"] = json!(kvittens_command(cfg, "case show", n));
}

pub fn template_data(dept: &Department, case: &Case, lang: Language) -> serde_json::Value {
    let cal = &dept.calendar;
    let resident_display = resident_display(case, lang);
    let mut data = base_data(dept, case, lang);
    // The category, and the configured spans in words, so that no template writes a span of
    // its own ("tre dagar") that the config may not keep.
    let extra = json!({
        "is_question": case.category == Category::Question,
        "is_application": case.category == Category::Application,
        "is_fault_report": case.category == Category::FaultReport,
        "fault": fault_data(dept, case, lang),
        "reply_within": span_words(reply_span(dept, case), lang),
        "decide_within": span_words(decide_span(dept, case), lang),
        // A complaint's contact with the resident is its reply deadline, counted with the
        // complaint category's span (a week unless set), not the department's own.
        "complaint_within": span_words(dept.reply_within_for(Category::Complaint), lang),
        "resident": { "name": case.resident.name, "email": case.resident.email, "display": resident_display },
        "received": written_time(cal, case.received, lang),
    });
    if let (Some(data), serde_json::Value::Object(extra)) = (data.as_object_mut(), extra) {
        data.extend(extra);
    }
    data
}

/// The values of [`template_data`] that every mail about a case has had from the start.
fn base_data(dept: &Department, case: &Case, lang: Language) -> serde_json::Value {
    let cal = &dept.calendar;
    json!({
        "department": { "id": dept.id, "name": dept.name, "email": dept.email, "phone": dept.phone, "web": dept.web },
        "case": { "number": case.number, "subject": case.subject },
        "category": category_word(case.category, lang),
        "is_complaint": case.category == Category::Complaint,
        "officer": case.officer,
        "substitute_for": case.substitute_for,
        "manager": dept.manager,
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
        // Filled in for staff mails (see `case_commands`).
        "close_command": null,
        "contact_command": null,
        "postpone_command": null,
        "show_command": null,
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

#[cfg(test)]
mod tests {
    use super::*;

    fn words(span: &str, lang: Language) -> String {
        span_words(span.parse().unwrap(), lang)
    }

    #[test]
    fn spans_are_written_as_people_write_them() {
        for (span, sv, en) in [
            ("3wd", "tre arbetsdagar", "three working days"),
            ("1wd", "en arbetsdag", "one working day"),
            ("10wd", "10 arbetsdagar", "10 working days"),
            ("1w", "en vecka", "one week"),
            ("2w", "två veckor", "two weeks"),
            ("14d", "två veckor", "two weeks"),
            ("3d", "tre dagar", "three days"),
            ("1d", "en dag", "one day"),
            ("9d", "nio dagar", "nine days"),
            ("12d", "12 dagar", "12 days"),
            ("4h", "fyra timmar", "four hours"),
            ("90m", "90 minuter", "90 minutes"),
            ("1m", "en minut", "one minute"),
            ("20s", "20 sekunder", "20 seconds"),
            ("0s", "noll sekunder", "zero seconds"),
        ] {
            assert_eq!(words(span, Language::Sv), sv, "{span}");
            assert_eq!(words(span, Language::En), en, "{span}");
        }
    }
}
