//! What an operator reads: the case table, a case's timeline, and one line per admin outcome.
//! Times are shown in the department's local time (receipts and deadlines are Swedish local
//! time, and so is what staff read), the zone named once.

use crate::app::admin::{Away, Back, Imported, Leave, Opened, Purged, Staffing};
use crate::app::person::Erased;
use crate::app::registrar::Listed;
use crate::config::Config;
use crate::model::{Case, Due, State};
use chrono::{DateTime, NaiveDate, Utc};
use std::fmt::Write;

/// `time` in the local time of `department` ("2026-12-03 16:00"), with seconds when `seconds`;
/// in UTC, said so, for a department no longer configured.
fn local_time(cfg: &Config, department: &str, time: DateTime<Utc>, seconds: bool) -> String {
    let format = if seconds {
        "%Y-%m-%d %H:%M:%S"
    } else {
        "%Y-%m-%d %H:%M"
    };
    match cfg.department(department) {
        Some(d) => time
            .with_timezone(&d.calendar.tz)
            .format(format)
            .to_string(),
        None => format!("{} UTC", time.format(format)),
    }
}

/// `; times in ZONES` for the time zones the times of `cases` are shown in, or nothing.
fn zones<'a>(cfg: &Config, cases: impl Iterator<Item = &'a Case>) -> String {
    let mut names: Vec<&str> = cases
        .filter_map(|c| cfg.department(&c.department))
        .map(|d| d.calendar.tz.name())
        .collect();
    names.sort_unstable();
    names.dedup();
    if names.is_empty() {
        String::new()
    } else {
        format!("; times in {}", names.join(", "))
    }
}

/// What a case's reply deadline is called in the lists: "answer by", "contact by" (a
/// complaint), "done by" (a catalogued fault).
fn due_words(c: &Case) -> &'static str {
    match c.due() {
        Due::Answer => "answer by",
        Due::Contact => "contact by",
        Due::Done => "done by",
    }
}

/// `kvittens cases`: one line per case — number, state, `flagged` when a person should look
/// at it, category, resident, reply deadline in local time and what it is for (`LATE` past
/// it), subject — and a count naming the time zone.
pub(super) fn case_table(cfg: &Config, list: &[Case], now: DateTime<Utc>) -> String {
    let mut out = String::new();
    for c in list {
        let late = if c.state == State::Open && c.reply_due < now {
            " LATE"
        } else {
            ""
        };
        let _ = writeln!(
            out,
            "{}  {:<8}  {:<7}  {:<12}  {:<28}  {} {}{late}  {}",
            c.number,
            c.state.word().to_string(),
            if c.flagged.is_some() { "flagged" } else { "" },
            c.category.key(),
            c.resident.email,
            due_words(c),
            local_time(cfg, &c.department, c.reply_due, false),
            c.subject
        );
    }
    let _ = writeln!(out, "{} case(s){}", list.len(), zones(cfg, list.iter()));
    out
}

/// `kvittens cases --json` and `export`: one case per line, as `import` reads them (`flagged`
/// holding why or null).
///
/// # Errors
/// When a case cannot be written as JSON (not for cases read from the store).
pub(super) fn case_lines(list: &[Case]) -> serde_json::Result<String> {
    let mut out = String::new();
    for c in list {
        out.push_str(&serde_json::to_string(c)?);
        out.push('\n');
    }
    Ok(out)
}

/// `kvittens case show`: the case, its times in the department's local time (the zone named
/// once, on the first line), why it is flagged, and its timeline to the second.
pub(super) fn case_sheet(cfg: &Config, c: &Case) -> String {
    let zone = zones(cfg, std::iter::once(c));
    let at = |t: DateTime<Utc>, seconds: bool| local_time(cfg, &c.department, t, seconds);
    let mut out = String::new();
    let (number, state, category) = (&c.number, c.state.word(), c.category.key());
    let _ = writeln!(out, "{number}  ({state}, {category}){zone}");
    let _ = writeln!(out, "resident: {}", c.resident.email);
    let _ = writeln!(out, "subject:  {}", c.subject);
    let _ = writeln!(out, "officer:  {} <{}>", c.officer.name, c.officer.email);
    let _ = writeln!(out, "received: {}", at(c.received, false));
    let due = format!("{}:", due_words(c));
    let _ = writeln!(out, "{due:<9} {}", at(c.reply_due, false));
    let _ = writeln!(out, "decision: {}", at(c.decision_due, false));
    if let Some(why) = &c.flagged {
        let _ = writeln!(out, "flagged:  {why}");
    }
    if let Some(outcome) = &c.outcome {
        let _ = writeln!(out, "outcome:  {outcome}");
    }
    if let Some(t) = c.six_months {
        let _ = writeln!(
            out,
            "six months open since {} (förvaltningslagen § 12)",
            at(t, false)
        );
    }
    for e in &c.events {
        let by =
            e.by.as_ref()
                .map(|b| format!(" (by {b})"))
                .unwrap_or_default();
        let _ = writeln!(out, "  {}  {}{by}", at(e.at, true), e.what);
    }
    out
}

/// `case close`.
pub(super) fn closed(number: &str) -> String {
    format!("{number} closed\n")
}

/// `case postpone`: the date used, and why it is not the one asked for when it is not. It is
/// the date the resident was promised: an application's decision, any other case's reply.
pub(super) fn postponed(number: &str, asked: NaiveDate, to: NaiveDate) -> String {
    let moved = if asked == to {
        String::new()
    } else {
        format!(" ({asked} is not a working day, so the next one)")
    };
    format!("{number}: promised date moved to {to}{moved}; the resident is told\n")
}

/// `case contact`.
pub(super) fn contacted(number: &str, done: &crate::app::caseops::Contacted) -> String {
    let state = match (done.answered, done.in_time) {
        (true, true) => "; the case is answered, in time",
        (true, false) => "; the case is answered, after its reply deadline",
        (false, _) => "",
    };
    format!("{number}: contact on {} recorded{state}\n", done.on)
}

/// `case measure`.
pub(super) fn measured(number: &str) -> String {
    format!("{number}: measure recorded\n")
}

/// `case move`.
pub(super) fn moved(cfg: &Config, number: &str, m: &crate::app::caseops::Moved) -> String {
    let due = local_time(cfg, &m.to, m.reply_due, false);
    let told = match &m.resident_not_told {
        None => "the resident is told".to_string(),
        Some(why) => format!("the resident is not told: {why}"),
    };
    format!(
        "{number} moved from {} to {}; officer {} <{}>, reply by {due}; {told}\n",
        m.from, m.to, m.officer.name, m.officer.email
    )
}

/// `case receipt`.
pub(super) fn receipt_queued(number: &str, to: &str) -> String {
    format!("{number}: receipt to {to} queued; the case is no longer flagged\n")
}

/// `import`.
pub(super) fn imported(i: Imported) -> String {
    format!("{} case(s) imported, {} already there\n", i.new, i.already)
}

/// `purge`: one line per case, then the counts of cases and of ignored mail.
pub(super) fn purged(p: &Purged, dry_run: bool) -> String {
    let (each, all) = if dry_run {
        ("would purge", " would be purged")
    } else {
        ("purged", " purged")
    };
    let mut out = String::new();
    for number in &p.cases {
        let _ = writeln!(out, "{each} {number}");
    }
    let _ = writeln!(out, "{} case(s){all}", p.cases.len());
    let _ = writeln!(out, "{} ignored mail(s){all}", p.ignored.len());
    out
}

/// `ignored open`.
pub(super) fn opened(id: u64, o: &Opened) -> String {
    format!(
        "{}: opened from ignored mail {id}, officer {}; {}\n",
        o.case.number, o.case.officer.email, o.receipt
    )
}

/// `officer away`.
pub(super) fn away(a: &Away) -> String {
    let Away {
        officer,
        substitute,
        from,
        to,
    } = a;
    format!("{officer} is away {from} – {to}; {substitute} covers\n")
}

/// `officer back`.
pub(super) fn back(b: &Back) -> String {
    let Back { officer, was, ends } = b;
    let (from, to) = (was.from, was.to);
    match ends {
        Some(day) => format!("{officer} is back: the absence {from} – {to} now ends {day}\n"),
        None => format!("{officer} is back: the absence {from} – {to} is removed\n"),
    }
}

/// One absence in `officer list`: its days, who stands in, and `(config)` when it is the
/// config's (ended only there).
fn leave(l: &Leave) -> String {
    let a = &l.absence;
    let planned = if l.planned { " (config)" } else { "" };
    let who = match &l.substitute_name {
        Some(name) => format!("{name} <{}>", a.substitute),
        None => a.substitute.clone(),
    };
    format!("{} – {}, {who} stands in{planned}", a.from, a.to)
}

/// `officer list`: per department its manager and officers, who is away today and until
/// when, who stands in, and the absences to come. Dates are the department's local days.
pub(super) fn staffing(list: &[Staffing]) -> String {
    let mut out = String::new();
    for d in list {
        let _ = writeln!(out, "{} ({}), today {}", d.name, d.department, d.today);
        for m in &d.members {
            let role = if m.manager { "manager" } else { "officer" };
            let who = format!("{} <{}>", m.contact.name, m.contact.email);
            let now = match (&m.away, &m.stands_in) {
                (Some(l), Some(s)) => format!(
                    "away until {}, {} <{}> stands in{}",
                    l.absence.to,
                    s.name,
                    s.email,
                    if l.planned { " (config)" } else { "" }
                ),
                (Some(l), None) => format!("away: {}", leave(l)),
                (None, _) => "in".to_string(),
            };
            let _ = writeln!(out, "  {role:<7}  {who:<40}  {now}");
            for l in &m.later {
                let _ = writeln!(out, "           later: {}", leave(l));
            }
        }
    }
    out
}

/// `person erase`.
pub(super) fn erased(e: &Erased) -> String {
    if e.nothing() {
        return format!("nothing is held about {}; nothing erased\n", e.address);
    }
    let cases = if e.cases.is_empty() {
        "none".to_string()
    } else {
        e.cases.join(", ")
    };
    format!(
        "{}: erased. Cases anonymised (kept for the registry): {cases}; ignored mail removed: {}; unsent mail removed: {}\n",
        e.address, e.ignored, e.mails
    )
}

/// How much of a reason's detail `kvittens ignored` shows in its line (characters): the
/// header or sender that was seen fits; the JSON output has all of it.
const DETAIL_CHARS: usize = 72;

/// `text` on one line of at most `max` characters: line breaks and other control characters
/// become spaces (a detail may quote a folded header), runs of spaces one, and what goes past
/// `max` is cut with "…".
fn one_line(text: &str, max: usize) -> String {
    let words: Vec<&str> = text
        .split(|c: char| c.is_control() || c.is_whitespace())
        .filter(|w| !w.is_empty())
        .collect();
    let line = words.join(" ");
    if line.chars().count() <= max {
        return line;
    }
    let cut: String = line.chars().take(max.saturating_sub(1)).collect();
    format!("{}…", cut.trim_end())
}

/// The ignored list as `kvittens ignored` prints it: a line per mail with its id, local time,
/// mailbox, sender, reason, subject and what exactly was seen (cut to the line), and a count;
/// or, with `json`, one JSON object per line with the detail whole.
pub fn ignored(list: &[Listed], json: bool) -> String {
    let mut out = String::new();
    for Listed {
        mail: e,
        local_time,
    } in list
    {
        if json {
            let mut v = serde_json::to_value(e).unwrap_or_default();
            v["received_local"] = serde_json::json!(local_time);
            let _ = writeln!(out, "{v}");
            continue;
        }
        let sender = match (&e.from, &e.reply_to) {
            (Some(f), Some(r)) if f.email != r.email => {
                format!("{} (reply-to {})", f.email, r.email)
            }
            (Some(f), _) => f.email.clone(),
            (None, Some(r)) => format!("(reply-to {})", r.email),
            (None, None) => "(no sender)".to_string(),
        };
        let case = e
            .case
            .as_ref()
            .map(|c| format!("  → {c}"))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "{:>5}  {local_time}  {:<24}  {:<32}  {:<16}  {}{case}  ({})",
            e.id,
            e.mailbox,
            sender,
            e.reason,
            e.subject.as_deref().unwrap_or("(no subject)"),
            one_line(&e.detail, DETAIL_CHARS)
        );
    }
    if !json {
        let _ = writeln!(out, "{} ignored mail(s)", list.len());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_case_says_what_its_deadline_is_for() {
        let cfg = crate::testkit::Sample {
            department: crate::testkit::GATUBELYSNING,
            ..crate::testkit::Sample::default()
        }
        .config();
        let of = |category, fault: Option<&str>| Case {
            category,
            fault_type: fault.map(str::to_string),
            ..crate::testkit::case("BMN-2026-0001", &[])
        };
        use crate::model::Category::{Application, Complaint, FaultReport, Question};
        for (case, words) in [
            (of(Complaint, None), "contact by"),
            (of(FaultReport, Some("Gatubelysning")), "done by"),
            (of(FaultReport, None), "answer by"),
            (of(Question, None), "answer by"),
            (of(Application, None), "answer by"),
        ] {
            let table = case_table(&cfg, std::slice::from_ref(&case), chrono::Utc::now());
            assert!(table.contains(&format!("  {words} ")), "{table}");
            let sheet = case_sheet(&cfg, &case);
            assert!(sheet.contains(&format!("\n{words}:")), "{sheet}");
            for other in ["answer by", "contact by", "done by", "reply by"] {
                if other != words {
                    assert!(!table.contains(other) && !sheet.contains(other), "{other}");
                }
            }
        }
    }

    #[test]
    fn a_detail_is_cut_to_one_line() {
        assert_eq!(
            one_line("Auto-Submitted: auto-replied", 72),
            "Auto-Submitted: auto-replied"
        );
        assert_eq!(
            one_line("X-Loop:\r\n\t desk@x  \u{7}y", 72),
            "X-Loop: desk@x y"
        );
        let long = "Return-Path: ".to_string() + &"å".repeat(100);
        let cut = one_line(&long, 20);
        assert_eq!(cut.chars().count(), 20, "{cut}");
        assert!(
            cut.starts_with("Return-Path: ååå") && cut.ends_with('…'),
            "{cut}"
        );
        assert_eq!(one_line("", 10), "");
    }

    #[test]
    fn a_substitute_is_named_when_the_config_knows_them() {
        let mut l = Leave {
            absence: crate::model::Absence {
                from: "2026-12-08".parse().unwrap(),
                to: "2026-12-09".parse().unwrap(),
                substitute: "kd@kommun.test".into(),
            },
            planned: false,
            substitute_name: Some("Kommundirektör".into()),
        };
        assert_eq!(
            leave(&l),
            "2026-12-08 – 2026-12-09, Kommundirektör <kd@kommun.test> stands in"
        );
        l.substitute_name = None;
        assert_eq!(
            leave(&l),
            "2026-12-08 – 2026-12-09, kd@kommun.test stands in"
        );
    }

    #[test]
    fn an_erasure_of_nothing_says_nothing_was_held() {
        let none = Erased {
            address: "x@example.se".into(),
            ..Erased::default()
        };
        assert_eq!(
            erased(&none),
            "nothing is held about x@example.se; nothing erased\n"
        );
        let one = Erased {
            record: true,
            ..none
        };
        assert!(erased(&one).contains(": erased."), "{}", erased(&one));
    }
}
