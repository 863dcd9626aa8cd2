//! The page's two languages: Swedish (the municipality's) and English. Chosen by the switch on
//! every page (`?lang=sv|en`, kept in a cookie for a year), else the browser's
//! `Accept-Language` (RFC 9110 §12.5.4), else Swedish. Every word the pages show is in [`WORDS`],
//! so that a page can never show half of one language.

use axum::http::header;
use axum::http::request::Parts;
use serde_json::{Map, Value};

/// The cookie that keeps the language switch's choice.
pub const COOKIE: &str = "kvittens_lang";

/// A page language.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lang {
    /// Swedish.
    Sv,
    /// English.
    En,
}

impl Lang {
    /// The language tag for `<html lang>` (WCAG 2.1 SC 3.1.1).
    pub fn code(self) -> &'static str {
        match self {
            Lang::Sv => "sv",
            Lang::En => "en",
        }
    }

    fn parse(tag: &str) -> Option<Lang> {
        let primary = tag.trim().split(['-', '_']).next()?.to_ascii_lowercase();
        match primary.as_str() {
            "sv" => Some(Lang::Sv),
            "en" => Some(Lang::En),
            _ => None,
        }
    }

    /// The language of a request: the `lang` query parameter, the cookie, `Accept-Language`.
    pub fn of(parts: &Parts) -> Lang {
        let query = parts.uri.query().unwrap_or_default();
        let asked = query
            .split('&')
            .find_map(|kv| kv.strip_prefix("lang="))
            .and_then(Lang::parse);
        asked
            .or_else(|| cookie(parts).and_then(Lang::parse))
            .or_else(|| {
                let accept = parts.headers.get(header::ACCEPT_LANGUAGE)?.to_str().ok()?;
                Lang::accepted(accept)
            })
            .unwrap_or(Lang::Sv)
    }

    /// The best of ours in an `Accept-Language` value, by its q-values.
    pub fn accepted(accept: &str) -> Option<Lang> {
        let mut best: Option<(f32, Lang)> = None;
        for item in accept.split(',') {
            let mut parts = item.split(';');
            let Some(lang) = parts.next().and_then(Lang::parse) else {
                continue;
            };
            let q = parts
                .find_map(|p| p.trim().strip_prefix("q="))
                .and_then(|q| q.trim().parse::<f32>().ok())
                .unwrap_or(1.0);
            if q > 0.0 && best.is_none_or(|(b, _)| q > b) {
                best = Some((q, lang));
            }
        }
        best.map(|(_, l)| l)
    }

    /// Every word of the pages in this language, for the templates' `t`.
    pub fn words(self) -> Value {
        let mut map = Map::new();
        for (key, sv, en) in WORDS {
            let word = if self == Lang::Sv { sv } else { en };
            map.insert((*key).to_string(), Value::from(*word));
        }
        Value::Object(map)
    }

    /// One word of [`WORDS`] (the key itself when missing, which a test rules out).
    pub fn word(self, key: &str) -> &'static str {
        WORDS
            .iter()
            .find(|(k, _, _)| *k == key)
            .map_or("", |(_, sv, en)| if self == Lang::Sv { sv } else { en })
    }
}

/// The `kvittens_lang` cookie's value.
fn cookie(parts: &Parts) -> Option<&str> {
    parts
        .headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|c| c.trim().strip_prefix(COOKIE)?.strip_prefix('='))
}

/// The words: key, Swedish, English.
pub const WORDS: &[(&str, &str, &str)] = &[
    ("skip", "Hoppa till innehållet", "Skip to content"),
    ("nav", "Huvudmeny", "Main menu"),
    ("overview", "Översikt", "Overview"),
    ("cases", "Ärenden", "Cases"),
    ("ignored", "Utan ärende", "Ignored mail"),
    ("absences", "Frånvaro", "Absences"),
    ("report", "Rapport till nämnden", "Report to the board"),
    ("download", "Ladda ner", "Download"),
    ("signed_in_as", "Inloggad som", "Signed in as"),
    ("language", "Språk", "Language"),
    ("department", "Förvaltning", "Department"),
    ("officer", "Handläggare", "Officer"),
    ("open", "Öppna", "Open"),
    ("due_today", "Förfaller i dag", "Due today"),
    ("overdue", "Försenade", "Overdue"),
    ("flagged", "Flaggade", "Flagged"),
    ("six_months", "Sex månader (12 §)", "Six months (§ 12)"),
    (
        "six_months_since",
        "öppet sex månader sedan",
        "open six months since",
    ),
    ("all", "Alla", "All"),
    ("answered", "Besvarade", "Answered"),
    ("closed", "Stängda", "Closed"),
    ("week", "Senaste veckan", "The last week"),
    (
        "week_caption",
        "E-brev in, bekräftelser och svar i tid per dag",
        "Mails in, receipts and answers in time per day",
    ),
    (
        "chart_caption",
        "Bekräftelser och besvarade i tid per dag",
        "Receipts and answers in time per day",
    ),
    ("day", "Dag", "Day"),
    ("received", "Inkomna e-brev", "Mails received"),
    ("receipts", "Bekräftelser", "Receipts"),
    ("answered_in_time", "Besvarade i tid", "Answered in time"),
    ("per_officer", "Per handläggare", "Per officer"),
    ("filter", "Visa", "Show"),
    ("show", "Visa", "Show"),
    ("all_departments", "Alla förvaltningar", "All departments"),
    ("number", "Ärende", "Case"),
    ("state", "Läge", "State"),
    ("state_open", "öppet", "open"),
    ("state_answered", "besvarat", "answered"),
    ("state_closed", "stängt", "closed"),
    ("category", "Kategori", "Category"),
    ("resident", "Invånare", "Resident"),
    ("reply_due", "Svar senast", "Reply by"),
    ("contact_due", "Kontakt senast", "Contact by"),
    ("done_due", "Åtgärdat senast", "Done by"),
    ("due", "Tidsgräns", "Deadline"),
    ("decision_due", "Beslut senast", "Decision by"),
    ("subject", "Ämne", "Subject"),
    ("late", "SEN", "LATE"),
    ("no_cases", "Inga ärenden.", "No cases."),
    ("times_in", "Tider i", "Times in"),
    ("timeline", "Händelser", "Timeline"),
    ("when", "När", "When"),
    ("what", "Vad", "What"),
    ("who", "Vem", "Who"),
    ("kvittens", "kvittens", "kvittens"),
    ("flag_reason", "Flaggad", "Flagged"),
    ("substitute_for", "Ersätter", "Stands in for"),
    ("actions", "Åtgärder", "Actions"),
    ("close", "Stäng ärendet", "Close the case"),
    ("note", "Anteckning", "Note"),
    ("postpone", "Skjut upp det utlovade datumet", "Postpone the promised date"),
    (
        "postpone_help",
        "Invånaren får ett meddelande om förseningen med skälet (förvaltningslagen 11 §).",
        "The resident is told of the delay with the reason (förvaltningslagen § 11).",
    ),
    ("new_date", "Nytt datum", "New date"),
    ("fault_type", "Feltyp", "Fault type"),
    ("outcome", "Utfall", "Outcome"),
    (
        "outcome_help",
        "Till exempel befogat eller obefogat; räknas i rapporten till nämnden.",
        "For example befogat (justified) or obefogat (unjustified); counted in the report to the board.",
    ),
    ("contacts", "Kontakter", "Contacts"),
    ("contact", "Registrera kontakt", "Record a contact"),
    (
        "contact_help",
        "Ett samtal eller besök med invånaren. Ett öppet ärende blir besvarat.",
        "A call or visit with the resident. An open case becomes answered.",
    ),
    ("way", "Hur", "How"),
    ("way_phone", "telefon", "phone"),
    ("way_visit", "besök", "visit"),
    ("way_mail", "e-post", "e-mail"),
    ("way_letter", "brev", "letter"),
    ("what_said", "Vad som sades", "What was said"),
    ("measures", "Åtgärder som vidtagits", "Measures taken"),
    ("measure", "Registrera åtgärd", "Record a measure"),
    ("what_done", "Vad som gjordes", "What was done"),
    ("move", "Flytta till en annan förvaltning", "Move to another department"),
    (
        "move_help",
        "Ärendet behåller sitt nummer; invånaren och den nya handläggaren får veta (förvaltningslagen 4 §).",
        "The case keeps its number; the resident and the new officer are told (förvaltningslagen § 4).",
    ),
    ("to_department", "Ny förvaltning", "New department"),
    ("person", "Medarbetare", "Staff member"),
    ("reason", "Skäl", "Reason"),
    ("flag", "Flagga", "Flag"),
    ("unflag", "Ta bort flaggan", "Take the flag off"),
    (
        "reassign",
        "Ge till en annan handläggare",
        "Reassign to another officer",
    ),
    ("to_officer", "Ny handläggare", "New officer"),
    (
        "no_actions",
        "Du kan se ärendet men inte ändra det.",
        "You can see this case but not change it.",
    ),
    ("received_at", "Inkom", "Received"),
    ("mailbox", "Brevlåda", "Mailbox"),
    ("sender", "Avsändare", "Sender"),
    ("why", "Varför", "Why"),
    ("seen", "Vad som sågs", "What was seen"),
    ("case_opened", "Ärende", "Case"),
    (
        "no_ignored",
        "Inget meddelande saknar ärende.",
        "No mail without a case.",
    ),
    (
        "ignored_help",
        "Meddelanden som inte blev något ärende, och varför: registratorns kontroll.",
        "Mail that opened no case, and why: the registrar's check.",
    ),
    ("absence_now", "Frånvaro", "Absence"),
    ("from", "Från", "From"),
    ("to", "Till", "To"),
    ("substitute", "Ersättare", "Substitute"),
    (
        "planned",
        "planerad i konfigurationen",
        "planned in the config",
    ),
    ("end", "Avsluta", "End"),
    ("set_absence", "Lägg in frånvaro", "Set an absence"),
    ("save", "Spara", "Save"),
    ("none", "ingen", "none"),
    ("no_absences", "Ingen frånvaro inlagd.", "No absence set."),
    ("refused", "Gick inte", "Not done"),
    ("back", "Tillbaka", "Back"),
    ("not_found", "Finns inte", "Not found"),
    (
        "not_found_text",
        "Sidan eller ärendet finns inte.",
        "There is no such page or case.",
    ),
    ("forbidden", "Ingen behörighet", "No access"),
    (
        "forbidden_text",
        "Du har inte behörighet till detta.",
        "You may not see or do this.",
    ),
    ("summary", "Sammanfattning", "Summary"),
    (
        "chart_label",
        "Diagram: bekräftelser och besvarade i tid per dag",
        "Chart: receipts and answers in time per day",
    ),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_language_picks_the_best_of_ours() {
        assert_eq!(Lang::accepted("en-GB,en;q=0.9,sv;q=0.8"), Some(Lang::En));
        assert_eq!(Lang::accepted("de, sv-SE;q=0.5, en;q=0.4"), Some(Lang::Sv));
        assert_eq!(Lang::accepted("fi, de"), None);
        assert_eq!(Lang::accepted("en;q=0, sv;q=0.1"), Some(Lang::Sv));
    }

    #[test]
    fn swedish_words_cite_a_section_the_swedish_way() {
        // "12 §", not "§ 12" (förvaltningslagen 12 §); the English words keep "§ 12".
        for (key, sv, _) in WORDS {
            let found = crate::testkit::section_sign_first(sv);
            assert!(found.is_none(), "{key}: {found:?}");
        }
        // A page names a section only through the words, never in its own text.
        let pages = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/web/pages");
        for entry in std::fs::read_dir(pages).unwrap() {
            let path = entry.unwrap().path();
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            assert!(!text.contains('§'), "{}", path.display());
        }
    }

    #[test]
    fn every_word_is_said_in_both_languages_once() {
        let mut keys: Vec<&str> = WORDS.iter().map(|(k, _, _)| *k).collect();
        keys.sort_unstable();
        let n = keys.len();
        keys.dedup();
        assert_eq!(keys.len(), n, "a key twice");
        assert!(WORDS
            .iter()
            .all(|(_, sv, en)| !sv.is_empty() && !en.is_empty()));
    }
}
