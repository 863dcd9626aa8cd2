//! The report's chart: per ISO week, the mails received and the cases answered by their reply
//! deadline, as grouped bars in an inline SVG ([`crate::mail::chart`]).

use super::say;
use crate::mail::chart::{self, Bars, Group, Series};
use crate::model::Language;
use crate::rules::report::Week;
use plotters::style::RGBColor;

/// The bars' colours: received, answered in time. Also how a test finds the bars.
pub const RECEIVED_FILL: RGBColor = RGBColor(0x1f, 0x5f, 0xa8);
/// See [`RECEIVED_FILL`].
pub const IN_TIME_FILL: RGBColor = RGBColor(0x3c, 0x9a, 0x4a);

/// The chart of `weeks` as an `<svg>` element: two bars per week (received, answered in time),
/// one of each also for a week with nothing (of height zero), so every week has its pair. The
/// legend is the page's (HTML), so the SVG holds exactly one shape of each colour per week.
///
/// # Errors
/// When plotters cannot draw (it reports no such case for an in-memory SVG; kept as text).
pub fn svg(weeks: &[Week], lang: Language) -> Result<String, String> {
    let groups: Vec<Group> = weeks
        .iter()
        .map(|w| Group {
            label: format!("{} {}", say(lang, "v.", "wk"), w.week),
            values: vec![w.received, w.answered_in_time],
        })
        .collect();
    let series = [
        Series {
            fill: RECEIVED_FILL,
            name: say(lang, "Inkomna", "Received"),
        },
        Series {
            fill: IN_TIME_FILL,
            name: say(lang, "Besvarade i tid", "Answered in time"),
        },
    ];
    chart::svg(&Bars {
        size: (720, 280),
        groups: &groups,
        series: &series,
        legend: false,
    })
}

/// How [`RECEIVED_FILL`] and [`IN_TIME_FILL`] are written in the SVG (`fill="#1F5FA8"`).
pub fn fill_attr(c: RGBColor) -> String {
    chart::fill_attr(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_week_has_its_two_bars_and_the_chart_is_one_svg() {
        let weeks: Vec<Week> = (10..13)
            .map(|week| Week {
                year: 2026,
                week,
                received: u64::from(week),
                answered_in_time: 1,
            })
            .collect();
        let svg = svg(&weeks, Language::Sv).unwrap();
        assert!(svg.starts_with("<svg"), "{}", &svg[..60.min(svg.len())]);
        // One bar per week and series.
        assert_eq!(svg.matches(&fill_attr(RECEIVED_FILL)).count(), 3, "{svg}");
        assert_eq!(svg.matches(&fill_attr(IN_TIME_FILL)).count(), 3);
        assert!(svg.contains("v. 11"), "{svg}");
    }
}
