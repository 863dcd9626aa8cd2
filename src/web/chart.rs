//! The overview's week chart: per day the receipts that went and the cases answered in time,
//! as grouped bars ([`crate::mail::chart`]) in the page (no image file, no script). The
//! table under it says the same in text, for screen readers (WCAG 2.1 SC 1.1.1).

use super::i18n::Lang;
use crate::app::overview::Day;
use crate::mail::chart::{self, Bars, Group, Series};
use plotters::style::RGBColor;

/// The chart's size in SVG pixels (it scales down on a phone).
const SIZE: (u32, u32) = (640, 260);

/// Receipts: the page's link blue.
const RECEIPTS: RGBColor = RGBColor(0x0b, 0x4f, 0x9c);
/// Answered in time: a green with 5:1 contrast on white.
const IN_TIME: RGBColor = RGBColor(0x2e, 0x7d, 0x32);

/// The chart of `days` as an `<svg>` element with a text label; empty when it cannot be drawn
/// (the table still says it all).
pub fn week(days: &[Day], lang: Lang) -> String {
    let groups: Vec<Group> = days
        .iter()
        .map(|d| Group {
            label: d.date.format("%d/%m").to_string(),
            values: vec![d.receipts, d.answered_in_time],
        })
        .collect();
    let series = [
        Series {
            fill: RECEIPTS,
            name: lang.word("receipts"),
        },
        Series {
            fill: IN_TIME,
            name: lang.word("answered_in_time"),
        },
    ];
    let bars = Bars {
        size: SIZE,
        groups: &groups,
        series: &series,
        legend: true,
    };
    let Ok(svg) = chart::svg(&bars) else {
        return String::new();
    };
    let label = super::render::escape(lang.word("chart_label"));
    svg.replacen(
        "<svg ",
        &format!("<svg role=\"img\" aria-label=\"{label}\" "),
        1,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;

    #[test]
    fn the_chart_is_labelled_svg_without_inline_style_or_script() {
        let days: Vec<Day> = (1..=7)
            .map(|d| Day {
                date: NaiveDate::from_ymd_opt(2026, 12, d).unwrap(),
                received: u64::from(d),
                receipts: u64::from(d),
                answered: 1,
                answered_in_time: 1,
            })
            .collect();
        let svg = week(&days, Lang::Sv);
        assert!(
            svg.starts_with("<svg role=\"img\" aria-label=\"Diagram: "),
            "{svg:.200}"
        );
        assert!(
            svg.contains("Bekräftelser") && svg.contains("03/12"),
            "{svg}"
        );
        assert!(!svg.contains("style=") && !svg.contains("<script"), "{svg}");
    }
}
