//! Grouped bar charts as inline SVG, drawn with `plotters`' SVG backend: the report to the
//! nämnd (bars per ISO week) and the web page's overview (bars per day) draw with this one
//! function, so a page needs no script, font file or image beside it.

use plotters::prelude::*;

/// One group of bars along the x axis: its label and one value per [`Series`], in order.
#[derive(Clone, Debug)]
pub struct Group {
    /// Written under the group (`v. 11`, `03/12`).
    pub label: String,
    /// The height of each series' bar, in counted mails or cases.
    pub values: Vec<u64>,
}

/// One series of bars: its colour and its name in the legend.
#[derive(Clone, Copy, Debug)]
pub struct Series<'a> {
    /// The bars' fill; also how a test finds them in the SVG (see [`fill_attr`]).
    pub fill: RGBColor,
    /// The legend's text (not drawn when the chart has no legend).
    pub name: &'a str,
}

/// A chart to draw: its size in SVG pixels, its groups and series, and whether the legend is
/// drawn in the SVG (upper left) or left to the page around it.
#[derive(Clone, Copy, Debug)]
pub struct Bars<'a> {
    /// Width and height, in SVG pixels.
    pub size: (u32, u32),
    /// The groups, left to right.
    pub groups: &'a [Group],
    /// The series, in the order of each group's values.
    pub series: &'a [Series<'a>],
    /// Whether the SVG carries the legend.
    pub legend: bool,
}

/// The chart as an `<svg>` element: every group has one bar per series, also of height zero,
/// so the SVG holds exactly one shape of each series' colour per group (plus one in the
/// legend, when drawn).
///
/// # Errors
/// When plotters cannot draw (it reports no such case for an in-memory SVG; kept as text).
pub fn svg(bars: &Bars<'_>) -> Result<String, String> {
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, bars.size).into_drawing_area();
        draw(&root, bars).map_err(|e| e.to_string())?;
        root.present().map_err(|e| e.to_string())?;
    }
    Ok(out)
}

fn draw(
    root: &DrawingArea<SVGBackend<'_>, plotters::coord::Shift>,
    bars: &Bars<'_>,
) -> Result<(), DrawingAreaErrorKind<std::io::Error>> {
    root.fill(&WHITE)?;
    let n = bars.groups.len().max(1);
    let top = bars
        .groups
        .iter()
        .flat_map(|g| g.values.iter().copied())
        .max()
        .unwrap_or(0)
        .max(1) as f64;
    let mut chart = ChartBuilder::on(root)
        .margin(10)
        .x_label_area_size(30)
        .y_label_area_size(40)
        .build_cartesian_2d(0f64..n as f64, 0f64..top * 1.15)?;
    // Ticks every half group; only the middle of a group gets its label.
    let label = |x: &f64| {
        bars.groups
            .get(x.floor() as usize)
            .filter(|_| (x - x.floor() - 0.5).abs() < 1e-9)
            .map(|g| g.label.clone())
            .unwrap_or_default()
    };
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(2 * n + 1)
        .x_label_formatter(&label)
        // Whole numbers only: no more ticks than counts, or small charts repeat a label.
        .y_labels(top.min(10.0) as usize + 1)
        .y_label_formatter(&|y: &f64| format!("{y:.0}"))
        .light_line_style(RGBColor(0xe5, 0xe7, 0xea))
        .draw()?;
    let width = 0.8 / bars.series.len().max(1) as f64;
    for (s, series) in bars.series.iter().enumerate() {
        let fill = series.fill;
        let rects = bars.groups.iter().enumerate().map(move |(i, g)| {
            let x = i as f64 + 0.1 + s as f64 * width;
            let value = g.values.get(s).copied().unwrap_or(0) as f64;
            Rectangle::new([(x, 0.0), (x + width * 0.95, value)], fill.filled())
        });
        let drawn = chart.draw_series(rects)?;
        if bars.legend {
            drawn
                .label(series.name)
                .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 10, y + 5)], fill.filled()));
        }
    }
    if bars.legend {
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .background_style(WHITE.mix(0.9))
            .border_style(RGBColor(0x6b, 0x72, 0x80))
            .draw()?;
    }
    Ok(())
}

/// How a series' colour is written in the SVG (`fill="#1F5FA8"`).
pub fn fill_attr(c: RGBColor) -> String {
    format!("fill=\"#{:02X}{:02X}{:02X}\"", c.0, c.1, c.2)
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: RGBColor = RGBColor(1, 2, 3);
    const B: RGBColor = RGBColor(4, 5, 6);

    fn groups(n: u64) -> Vec<Group> {
        (0..n)
            .map(|i| Group {
                label: format!("g{i}"),
                values: vec![i, 1],
            })
            .collect()
    }

    #[test]
    fn every_group_has_one_bar_per_series_and_its_label() {
        let g = groups(4);
        let series = [Series { fill: A, name: "a" }, Series { fill: B, name: "b" }];
        let svg = svg(&Bars {
            size: (600, 200),
            groups: &g,
            series: &series,
            legend: false,
        })
        .unwrap();
        assert!(svg.starts_with("<svg"), "{svg:.60}");
        assert_eq!(svg.matches(&fill_attr(A)).count(), 4, "{svg}");
        assert_eq!(svg.matches(&fill_attr(B)).count(), 4);
        assert!(svg.contains("\ng2\n") && svg.contains("\ng3\n"), "{svg}");
        assert!(!svg.contains("\na\n"), "no legend asked for: {svg}");
    }

    #[test]
    fn the_legend_adds_one_shape_per_series_and_its_name() {
        let g = groups(7);
        let series = [
            Series {
                fill: A,
                name: "Bekräftelser",
            },
            Series {
                fill: B,
                name: "I tid",
            },
        ];
        let svg = svg(&Bars {
            size: (600, 200),
            groups: &g,
            series: &series,
            legend: true,
        })
        .unwrap();
        assert_eq!(svg.matches(&fill_attr(A)).count(), 8, "{svg}");
        assert!(
            svg.contains("Bekräftelser") && svg.contains("I tid"),
            "{svg}"
        );
        assert!(svg.contains("\ng6\n"), "{svg}");
    }
}
