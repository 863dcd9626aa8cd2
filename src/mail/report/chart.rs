//! The report's chart: per ISO week, the mails received and the cases answered by their reply
//! deadline, as grouped bars in an inline SVG (drawn with `plotters`' SVG backend, so the HTML
//! page needs no script, font or file beside it).

use super::say;
use crate::model::Language;
use crate::rules::report::Week;
use plotters::prelude::*;

/// The bars' colours: received, answered in time. Also how a test finds the bars.
pub const RECEIVED_FILL: RGBColor = RGBColor(0x1f, 0x5f, 0xa8);
/// See [`RECEIVED_FILL`].
pub const IN_TIME_FILL: RGBColor = RGBColor(0x3c, 0x9a, 0x4a);

/// Width and height of the chart, in SVG pixels.
const SIZE: (u32, u32) = (720, 280);

/// The chart of `weeks` as an `<svg>` element: two bars per week (received, answered in time),
/// one of each also for a week with nothing (of height zero), so every week has its pair. The
/// legend is the page's (HTML), so the SVG holds exactly one shape of each colour per week.
///
/// # Errors
/// When plotters cannot draw (it reports no such case for an in-memory SVG; kept as text).
pub fn svg(weeks: &[Week], lang: Language) -> Result<String, String> {
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, SIZE).into_drawing_area();
        draw(&root, weeks, lang).map_err(|e| e.to_string())?;
        root.present().map_err(|e| e.to_string())?;
    }
    Ok(out)
}

fn draw(
    root: &DrawingArea<SVGBackend<'_>, plotters::coord::Shift>,
    weeks: &[Week],
    lang: Language,
) -> Result<(), DrawingAreaErrorKind<std::io::Error>> {
    root.fill(&WHITE)?;
    let n = weeks.len().max(1);
    let top = weeks
        .iter()
        .map(|w| w.received.max(w.answered_in_time))
        .max()
        .unwrap_or(0)
        .max(1) as f64;
    let mut chart = ChartBuilder::on(root)
        .margin(10)
        .x_label_area_size(30)
        .y_label_area_size(40)
        .build_cartesian_2d(0f64..n as f64, 0f64..top * 1.1)?;
    let label = |x: &f64| {
        let i = x.floor() as usize;
        weeks
            .get(i)
            .filter(|_| (x - x.floor() - 0.5).abs() < 1e-9)
            .map(|w| format!("{} {}", say(lang, "v.", "wk"), w.week))
            .unwrap_or_default()
    };
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(2 * n + 1)
        .x_label_formatter(&label)
        .y_label_formatter(&|y: &f64| format!("{y:.0}"))
        .draw()?;
    let bar = |i: usize, offset: f64, value: u64, fill: RGBColor| {
        let x = i as f64 + offset;
        Rectangle::new([(x, 0.0), (x + 0.38, value as f64)], fill.filled())
    };
    chart.draw_series(
        weeks
            .iter()
            .enumerate()
            .map(|(i, w)| bar(i, 0.1, w.received, RECEIVED_FILL)),
    )?;
    chart.draw_series(
        weeks
            .iter()
            .enumerate()
            .map(|(i, w)| bar(i, 0.5, w.answered_in_time, IN_TIME_FILL)),
    )?;
    Ok(())
}

/// How [`RECEIVED_FILL`] and [`IN_TIME_FILL`] are written in the SVG (`fill="#1F5FA8"`).
pub fn fill_attr(c: RGBColor) -> String {
    format!("fill=\"#{:02X}{:02X}{:02X}\"", c.0, c.1, c.2)
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
