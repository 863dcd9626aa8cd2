//! The report to the nämnd as bytes: a self-contained printable HTML page ([`html`], with an
//! inline SVG chart drawn by the `plotters` crate, [`chart`]), a CSV table ([`table`]), and the
//! mail that carries both to `report_to` ([`mailing`]). It lives in `mail` because, like a
//! receipt, it is bytes rendered from values: the figures come from `rules::report` (pure), and
//! `app::report` gathers what they are made of — so every import points down.
//!
//! PDF is not made: no well-kept Rust crate renders this page (tables, an SVG chart) to PDF
//! without laying out every line by hand; a browser prints the HTML to PDF as it is.

pub mod chart;
pub mod html;
pub mod mailing;
pub mod reasons;
pub mod table;

use crate::model::Language;

/// The output formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// One printable HTML page.
    Html,
    /// One row per department and period, and a total row.
    Csv,
}

/// `sv` or `en`, for a person reading the report.
pub(crate) fn say(lang: Language, sv: &'static str, en: &'static str) -> &'static str {
    match lang {
        Language::Sv => sv,
        Language::En => en,
    }
}

/// A share as a person reads it ("67 %"); a dash when there is nothing to share.
pub(crate) fn percent(share: Option<f64>) -> String {
    share.map_or_else(|| "–".to_string(), |s| format!("{:.0} %", s * 100.0))
}

/// A span of seconds as a person reads it: "45 s", "12 min", "3 h 5 min", "2 d 4 h".
pub(crate) fn span(secs: u64, lang: Language) -> String {
    let (d, h, m) = (secs / 86_400, secs % 86_400 / 3_600, secs % 3_600 / 60);
    let (dd, hh) = (say(lang, "d", "d"), say(lang, "tim", "h"));
    match (d, h, m) {
        (0, 0, 0) => format!("{secs} s"),
        (0, 0, m) => format!("{m} min"),
        (0, h, m) => format!("{h} {hh} {m} min"),
        (d, h, _) => format!("{d} {dd} {h} {hh}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_and_shares_read_as_a_person_writes_them() {
        assert_eq!(span(45, Language::En), "45 s");
        assert_eq!(span(12 * 60 + 5, Language::En), "12 min");
        assert_eq!(span(3 * 3600 + 5 * 60, Language::Sv), "3 tim 5 min");
        assert_eq!(span(2 * 86_400 + 4 * 3600, Language::En), "2 d 4 h");
        assert_eq!(percent(Some(2.0 / 3.0)), "67 %");
        assert_eq!(percent(None), "–");
    }
}
