//! The report as one self-contained printable HTML page: inline CSS, an inline SVG chart per
//! section, no script, no font or image fetched from anywhere (it is mailed, archived and
//! printed as it is). Headings in Swedish, or in English when the report's staff language is.

use super::chart::{self, IN_TIME_FILL, RECEIVED_FILL};
use super::{percent, reasons, say, span};
use crate::model::{Category, Language};
use crate::rules::report::{share, Figures, TOTAL};
use handlebars::html_escape as esc;
use std::fmt::Write;

const STYLE: &str = "body{font-family:sans-serif;margin:2em;color:#111}\
h1{font-size:1.6em}h2{font-size:1.3em;border-bottom:2px solid #1f5fa8;margin-top:2em}\
h3{font-size:1.05em;margin:1.2em 0 .3em}table{border-collapse:collapse;margin:.3em 0}\
td,th{border:1px solid #bbb;padding:.2em .6em;text-align:left}td.n{text-align:right}\
.legend span{display:inline-block;width:.9em;height:.9em;margin:0 .3em 0 1em;vertical-align:middle}\
section{page-break-inside:avoid}@media print{body{margin:0}h2{page-break-before:auto}}";

/// One row of a table: label, value, and the share when there is one.
struct Row(String, String, Option<String>);

fn row(label: &str, value: impl ToString) -> Row {
    Row(label.to_string(), value.to_string(), None)
}

fn row_share(label: &str, value: u64, of: u64) -> Row {
    Row(
        label.to_string(),
        value.to_string(),
        Some(percent(share(value, of))),
    )
}

/// The page for `figures` (each department, then the total), titled with the period.
///
/// # Errors
/// When the chart cannot be drawn.
pub fn page(figures: &[Figures], lang: Language) -> Result<String, String> {
    let title = say(lang, "Rapport till nämnden", "Report to the board (nämnd)");
    let period = figures
        .first()
        .map(|f| format!("{} – {}", f.from, f.to))
        .unwrap_or_default();
    let mut out = String::new();
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"{}\"><head><meta charset=\"utf-8\"><title>{title} {period}</title>\
<style>{STYLE}</style></head><body>\n<h1>{title}</h1>\n<p>{} {period}</p>\n",
        lang.code(),
        say(lang, "Perioden", "The period"),
    );
    for f in figures {
        section(&mut out, f, lang)?;
    }
    out.push_str("</body></html>\n");
    Ok(out)
}

fn section(out: &mut String, f: &Figures, lang: Language) -> Result<(), String> {
    let name = if f.department == TOTAL {
        say(lang, "Totalt", "Total").to_string()
    } else {
        format!("{} ({})", esc(&f.name), esc(&f.department))
    };
    let _ = write!(
        out,
        "<section data-department=\"{}\">\n<h2>{name}</h2>\n",
        esc(&f.department)
    );
    for (heading, rows) in tables(f, lang) {
        table(out, heading, &rows);
    }
    let _ = write!(
        out,
        "<h3>{}</h3>\n<p class=\"legend\"><span style=\"background:#{:02x}{:02x}{:02x}\"></span>{}\
<span style=\"background:#{:02x}{:02x}{:02x}\"></span>{}</p>\n<figure data-weeks=\"{}\">{}</figure>\n</section>\n",
        say(lang, "Per vecka", "Per week"),
        RECEIVED_FILL.0, RECEIVED_FILL.1, RECEIVED_FILL.2,
        say(lang, "Inkomna e-brev", "Mails received"),
        IN_TIME_FILL.0, IN_TIME_FILL.1, IN_TIME_FILL.2,
        say(lang, "Besvarade inom svarstiden", "Answered by the reply deadline"),
        f.weeks.len(),
        chart::svg(&f.weeks, lang)?,
    );
    Ok(())
}

fn table(out: &mut String, heading: &str, rows: &[Row]) {
    let _ = write!(out, "<h3>{heading}</h3>\n<table>\n");
    for Row(label, value, share) in rows {
        let _ = writeln!(
            out,
            "<tr><th>{}</th><td class=\"n\">{}</td><td class=\"n\">{}</td></tr>",
            esc(label),
            esc(value),
            esc(share.as_deref().unwrap_or(""))
        );
    }
    out.push_str("</table>\n");
}

fn category_name(c: Category, lang: Language) -> &'static str {
    match c {
        Category::Question => say(lang, "Frågor", "Questions"),
        Category::Application => say(lang, "Ansökningar", "Applications"),
        Category::FaultReport => say(lang, "Felanmälningar", "Fault reports"),
        Category::Complaint => say(lang, "Klagomål", "Complaints"),
    }
}

/// The tables of one section, each with its heading.
fn tables(f: &Figures, lang: Language) -> Vec<(&'static str, Vec<Row>)> {
    let t = &f.sum;
    let s = |sv, en| say(lang, sv, en);
    let mut mails = vec![row(s("Inkomna e-brev", "Mails received"), t.received)];
    mails.push(row(s("Ärenden", "Cases"), f.cases));
    for c in Category::ALL {
        mails.push(row(&format!("– {}", category_name(c, lang)), f.category(c)));
    }
    mails.push(row(s("Utan ärende", "No case"), f.no_case));
    for (reason, n) in &t.no_case {
        mails.push(row(&format!("– {}", reasons::words(reason, lang)), n));
    }
    mails.push(row(
        s(
            "– varav senare öppnade som ärende",
            "– of them later opened as a case",
        ),
        t.no_case_opened,
    ));
    let receipts = vec![
        row(s("Kvittenser skickade", "Receipts sent"), t.receipts),
        row_share(
            s("inom en timme", "within one hour"),
            t.receipts_within_1h,
            t.receipts,
        ),
        row_share(
            s("samma dag", "the same day"),
            t.receipts_same_day,
            t.receipts,
        ),
        row_share(
            s("inom ett dygn", "within one day (24 h)"),
            t.receipts_within_1d,
            t.receipts,
        ),
        row(
            s("Den långsammaste", "The slowest"),
            span(t.receipt_slowest_secs, lang),
        ),
    ];
    let median = f.median_answer_minutes.map_or_else(
        || "–".to_string(),
        |m| span((m * 60.0).round() as u64, lang),
    );
    let answers = vec![
        row(s("Besvarade", "Answered"), t.answered),
        row_share(
            s("inom svarstiden", "by the reply deadline"),
            t.answered_in_time,
            t.answered,
        ),
        row(s("Mediantid till svar", "Median time to answer"), median),
        row(s("Försenade nu", "Overdue now"), f.overdue_now),
        row(s("Eskaleringar", "Escalations"), t.escalations),
    ];
    let mut complaints = vec![
        row(s("Klagomål", "Complaints"), f.complaints()),
        row_share(
            s("kontakt inom en vecka", "contacted within a week"),
            t.complaints_contacted_in_time,
            f.complaints(),
        ),
    ];
    for how in ["phone", "visit", "mail", "letter"] {
        let word = match how {
            "phone" => s("– per telefon", "– by phone"),
            "visit" => s("– genom besök", "– by visit"),
            "mail" => s("– per e-post", "– by mail"),
            _ => s("– per brev", "– by letter"),
        };
        complaints.push(row(word, t.contacts_by.get(how).copied().unwrap_or(0)));
    }
    complaints.push(row(
        s("Åtgärder registrerade", "Measures recorded"),
        t.measures,
    ));
    complaints.push(row(s("Öppna nu", "Still open now"), f.complaints_open_now));
    let mut faults = vec![row(s("Felanmälningar", "Fault reports"), f.fault_reports())];
    for (kind, n) in &t.fault_types {
        let kind = if kind.is_empty() {
            s("(ingen typ)", "(no type)")
        } else {
            kind
        };
        faults.push(row(&format!("– {kind}"), n));
    }
    faults.push(row_share(
        s("klara till utlovat datum", "done by the date given"),
        t.faults_done_in_time,
        t.faults_done,
    ));
    let mut closed = vec![row(s("Avslutade ärenden", "Closed cases"), f.closed)];
    for (outcome, n) in &f.closed_by_outcome {
        let outcome = if outcome.is_empty() {
            s("(inget utfall angivet)", "(no outcome given)")
        } else {
            outcome
        };
        closed.push(row(&format!("– {outcome}"), n));
    }
    let law = vec![
        row(
            s("Förseningsbesked (11 §)", "Delay notices (§ 11)"),
            t.delay_notices,
        ),
        row(
            s(
                "Ärenden öppna sex månader (12 §)",
                "Cases open six months (§ 12)",
            ),
            t.six_months,
        ),
        row(
            s("– öppna sex månader nu", "– open six months now"),
            f.six_months_open_now,
        ),
    ];
    vec![
        (s("E-brev och ärenden", "Mails and cases"), mails),
        (s("Kvittenser", "Receipts"), receipts),
        (s("Svar", "Answers"), answers),
        (s("Klagomål", "Complaints"), complaints),
        (s("Felanmälningar per typ", "Fault reports by type"), faults),
        (
            s("Avslutade ärenden efter utfall", "Closed cases by outcome"),
            closed,
        ),
        (
            s(
                "Förvaltningslagen (2017:900)",
                "The Administrative Procedure Act (2017:900)",
            ),
            law,
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::tally::DayTally;
    use crate::rules::report::{figures, Scope};
    use chrono::NaiveDate;

    #[test]
    fn the_page_is_self_contained_with_its_figures_and_a_chart_per_section() {
        let day = NaiveDate::from_ymd_opt(2026, 3, 2).unwrap();
        let mut t = DayTally {
            received: 7,
            ..DayTally::default()
        };
        t.cases.insert("complaint".into(), 2);
        t.no_case.insert("automatic".into(), 1);
        let depts = [("bygg".to_string(), "Bygg & <miljö>".to_string())];
        let scope = Scope {
            from: day,
            to: day,
            departments: &depts,
            only: None,
            now: chrono::Utc::now(),
        };
        let f = figures(&scope, &[("bygg".into(), day, t)], &[]);
        let html = page(&f, Language::Sv).unwrap();
        assert!(html.contains("Bygg &amp; &lt;miljö&gt;"));
        assert!(html.contains("<th>Inkomna e-brev</th><td class=\"n\">7</td>"));
        assert!(
            html.contains("<th>– automatiska utskick (studsar, frånvaromeddelanden, utskickslistor) (automatic)</th><td class=\"n\">1</td>"),
            "{html}"
        );
        assert_eq!(html.matches("<svg").count(), 2, "one chart per section");
        for outside in ["<script", " src=", "<link", "@import", "url("] {
            assert!(!html.contains(outside), "{outside}");
        }
        let en = page(&f, Language::En).unwrap();
        assert!(en.contains("<th>Mails received</th>"));
    }

    #[test]
    fn closed_cases_have_their_section_by_outcome() {
        let day = NaiveDate::from_ymd_opt(2026, 3, 2).unwrap();
        let mut t = DayTally::default();
        t.closed.insert("befogat".into(), 1);
        t.closed.insert("Befogat ".into(), 1);
        t.closed.insert(String::new(), 1);
        let depts = [("bygg".to_string(), "Bygg".to_string())];
        let scope = Scope {
            from: day,
            to: day,
            departments: &depts,
            only: Some("bygg"),
            now: chrono::Utc::now(),
        };
        let f = figures(&scope, &[("bygg".into(), day, t)], &[]);
        let sv = page(&f, Language::Sv).unwrap();
        assert!(
            sv.contains("<h3>Avslutade ärenden efter utfall</h3>"),
            "{sv}"
        );
        assert!(
            sv.contains("<th>Avslutade ärenden</th><td class=\"n\">3</td>"),
            "{sv}"
        );
        assert!(
            sv.contains("<th>– befogat</th><td class=\"n\">2</td>"),
            "{sv}"
        );
        assert!(
            sv.contains("<th>– (inget utfall angivet)</th><td class=\"n\">1</td>"),
            "{sv}"
        );
        let en = page(&f, Language::En).unwrap();
        assert!(en.contains("<h3>Closed cases by outcome</h3>"), "{en}");
        assert!(en.contains("<th>– (no outcome given)</th>"), "{en}");
    }
}
