//! The report mailed to `report_to`: a short text body, the HTML page and the CSV table
//! attached (so the page prints as it is and the table opens in a spreadsheet).

use crate::config::Config;
use crate::mail::outgoing::About;
use crate::mail::outgoing::{mailbox, marked, text_part, Automatic, ComposeError, Outgoing};
use crate::model::{ids, Kind, Language};
use chrono::{DateTime, NaiveDate, Utc};
use lettre::message::header::ContentType;
use lettre::message::{Attachment, Message, MultiPart};

/// What one report mail carries.
#[derive(Debug)]
pub struct ReportMail<'a> {
    /// `*` for every department, else the department's id.
    pub scope: &'a str,
    /// The title's name: the department's, or the municipality's whole ("alla förvaltningar").
    pub name: &'a str,
    /// The period reported.
    pub from: NaiveDate,
    /// Its last day (included).
    pub to: NaiveDate,
    /// Who gets it.
    pub recipients: &'a [String],
    /// The department mailbox its bounces go to (the envelope sender).
    pub envelope_from: &'a str,
    /// The language of its text.
    pub lang: Language,
    /// The rendered page.
    pub html: String,
    /// The rendered table.
    pub csv: String,
}

/// The mail's text. It is read by politicians, not by the people who run kvittens: it says in
/// one plain sentence what the figures are, and points at nothing they cannot open.
fn body(lang: Language, name: &str, period: &str) -> String {
    match lang {
        Language::Sv => format!(
            "Rapporten till nämnden för {name}, perioden {period}, är bifogad: som webbsida \
(öppna och skriv ut) och som tabell (CSV).\n\nSiffrorna visar hur invånarnas e-post till \
förvaltningen har tagits emot och besvarats under perioden: hur många e-brev som kom in och \
blev ärenden, hur snabbt kvittenser och svar gick ut, klagomål och felanmälningar, och hur många \
ärenden som är öppna och försenade nu.\n"
        ),
        Language::En => format!(
            "The report to the board (nämnd) for {name}, the period {period}, is attached: as a \
web page (open and print) and as a table (CSV).\n\nThe figures show how residents' e-mail to \
the department was received and answered in the period: how many mails came in and became \
cases, how quickly receipts and answers went out, complaints and fault reports, and how many \
cases are open and overdue now.\n"
        ),
    }
}

/// The mail. Its Message-ID is derived from the scope and the period, so the same report is
/// the same mail.
///
/// # Errors
/// A [`ComposeError`] when an address is refused or the mail cannot be built.
pub fn report_mail(
    cfg: &Config,
    r: &ReportMail<'_>,
    now: DateTime<Utc>,
) -> Result<Outgoing, ComposeError> {
    let about = About::Report(r.scope.to_string());
    let stamp = r.from.and_hms_opt(0, 0, 0).map_or(now, |t| t.and_utc());
    let scope_id = if r.scope == "*" { "all" } else { r.scope };
    let id = ids::staff_mail_id("report", scope_id, stamp, cfg.id_domain());
    let period = format!("{} – {}", r.from, r.to);
    let subject = match r.lang {
        Language::Sv => format!("Rapport till nämnden: {}, {period}", r.name),
        Language::En => format!("Report to the board: {}, {period}", r.name),
    };
    let body = body(r.lang, r.name, &period);
    let mut b = Message::builder()
        .from(cfg.smtp.from.clone())
        .subject(subject.replace(['\r', '\n'], " "));
    for to in r.recipients {
        b = b.to(mailbox(None, to)?);
    }
    let b = marked(
        b,
        &id,
        now,
        Automatic::Generated,
        r.envelope_from,
        &about.to_string(),
    );
    let file = format!("rapport-{scope_id}-{}-{}", r.from, r.to);
    let html_type =
        ContentType::parse("text/html; charset=utf-8").map_err(ComposeError::ContentType)?;
    let csv_type =
        ContentType::parse("text/csv; charset=utf-8").map_err(ComposeError::ContentType)?;
    let msg = b
        .multipart(
            MultiPart::mixed()
                .singlepart(text_part(body))
                .singlepart(Attachment::new(format!("{file}.html")).body(r.html.clone(), html_type))
                .singlepart(Attachment::new(format!("{file}.csv")).body(r.csv.clone(), csv_type)),
        )
        .map_err(ComposeError::Mail)?;
    Ok(Outgoing {
        id,
        about,
        kind: Kind::Report,
        envelope_from: r.envelope_from.to_string(),
        to: r.recipients.to_vec(),
        bytes: msg.formatted(),
        received: None,
        copy: false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_text_says_what_the_figures_are_and_points_at_no_manual() {
        for lang in [Language::Sv, Language::En] {
            let text = body(lang, "Bygg", "2026-12-01 – 2026-12-31");
            assert!(text.contains("2026-12-01 – 2026-12-31"), "{text}");
            for inside in [
                "README",
                "kvittens keeps",
                "kvittens sparar",
                "daily totals",
            ] {
                assert!(!text.contains(inside), "{inside}: {text}");
            }
        }
        assert!(body(Language::Sv, "Bygg", "p").contains("Siffrorna visar hur invånarnas e-post"));
        assert!(body(Language::En, "Bygg", "p").contains("The figures show how residents' e-mail"));
    }
}
