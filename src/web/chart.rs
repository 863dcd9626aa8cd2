//! The overview's week chart: per day the receipts that went and the cases answered in time,
//! as bars, drawn with plotters' SVG backend into the page (no image file, no script). The
//! table under it says the same in text, for screen readers (WCAG 2.1 SC 1.1.1).

use super::i18n::Lang;
use crate::app::overview::Day;
use plotters::prelude::*;

/// The chart's size in SVG pixels (it scales down on a phone).
const SIZE: (u32, u32) = (640, 260);

/// Receipts: the page's link blue.
const RECEIPTS: RGBColor = RGBColor(0x0b, 0x4f, 0x9c);
/// Answered in time: a green with 5:1 contrast on white.
const IN_TIME: RGBColor = RGBColor(0x2e, 0x7d, 0x32);

/// The chart of `days` as an `<svg>` element with a text label; empty when it cannot be drawn
/// (the table still says it all).
pub fn week(days: &[Day], lang: Lang) -> String {
    let mut svg = String::new();
    if draw(&mut svg, days, lang).is_err() {
        return String::new();
    }
    let label = super::render::escape(lang.word("chart_label"));
    svg.replacen(
        "<svg ",
        &format!("<svg role=\"img\" aria-label=\"{label}\" "),
        1,
    )
}

fn draw(svg: &mut String, days: &[Day], lang: Lang) -> Result<(), Box<dyn std::error::Error>> {
    let root = SVGBackend::with_string(svg, SIZE).into_drawing_area();
    root.fill(&WHITE)?;
    let top = days
        .iter()
        .map(|d| d.receipts.max(d.answered_in_time))
        .max()
        .unwrap_or(0)
        .max(1) as u32;
    // Three slots per day: receipts, answered in time, a gap.
    let slots = days.len() as u32 * 3;
    let mut chart = ChartBuilder::on(&root)
        .margin(12)
        .x_label_area_size(28)
        .y_label_area_size(36)
        .build_cartesian_2d(0u32..slots, 0u32..top + top.div_ceil(5))?;
    let label = |slot: &u32| {
        let i = (*slot / 3) as usize;
        match days.get(i) {
            Some(d) if slot % 3 == 1 => d.date.format("%d/%m").to_string(),
            _ => String::new(),
        }
    };
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(slots as usize)
        .x_label_formatter(&label)
        .y_labels(top.min(10) as usize + 1)
        .y_label_formatter(&|v| v.to_string())
        .light_line_style(RGBColor(0xe5, 0xe7, 0xea))
        .draw()?;
    let bars = |offset: u32, value: fn(&Day) -> u64, color: RGBColor| {
        days.iter().enumerate().map(move |(i, d)| {
            let x = i as u32 * 3 + offset;
            Rectangle::new([(x, 0), (x + 1, value(d) as u32)], color.filled())
        })
    };
    chart
        .draw_series(bars(0, |d| d.receipts, RECEIPTS))?
        .label(lang.word("receipts"))
        .legend(|(x, y)| Rectangle::new([(x, y - 5), (x + 10, y + 5)], RECEIPTS.filled()));
    chart
        .draw_series(bars(1, |d| d.answered_in_time, IN_TIME))?
        .label(lang.word("answered_in_time"))
        .legend(|(x, y)| Rectangle::new([(x, y - 5), (x + 10, y + 5)], IN_TIME.filled()));
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.9))
        .border_style(RGBColor(0x6b, 0x72, 0x80))
        .draw()?;
    root.present()?;
    Ok(())
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
