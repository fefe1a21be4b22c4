//! SVG charts with plotters (SVG backend: text is emitted as `<text>`, so no system fonts or C
//! libraries are needed). Two shapes cover the report: lines over categories (sizes, N) and
//! grouped bars (workloads x systems). Missing values are skipped, never drawn as zero.

use anyhow::{anyhow, Result};
use plotters::prelude::*;
use std::path::Path;

const WIDTH_PX: u32 = 860;
const HEIGHT_PX: u32 = 420;

pub struct Series {
    pub name: String,
    pub values: Vec<Option<f64>>,
    pub dashed: bool,
    /// Palette index; defaults to the series' position.
    pub color: Option<usize>,
}

fn y_range(series: &[Series], log: bool, hline: Option<f64>) -> (f64, f64) {
    let vals: Vec<f64> = series
        .iter()
        .flat_map(|s| s.values.iter().flatten().copied())
        .chain(hline)
        .filter(|v| v.is_finite() && (!log || *v > 0.0))
        .collect();
    let (lo, hi) = vals.iter().fold((f64::INFINITY, 0.0f64), |(lo, hi), &v| {
        (lo.min(v), hi.max(v))
    });
    if vals.is_empty() {
        return (if log { 0.1 } else { 0.0 }, 1.0);
    }
    if log {
        (lo / 2.0, hi * 2.0)
    } else {
        (0.0, hi * 1.15)
    }
}

/// Axis numbers without noise: 1200, 35, 2.5, 0.25.
fn number(v: f64) -> String {
    let a = v.abs();
    if a >= 100.0 || a == 0.0 {
        format!("{v:.0}")
    } else if a >= 10.0 {
        format!("{v:.1}").trim_end_matches(".0").to_owned()
    } else if a >= 1.0 {
        let s = format!("{v:.2}");
        s.trim_end_matches('0').trim_end_matches('.').to_owned()
    } else {
        let s = format!("{v:.3}");
        s.trim_end_matches('0').trim_end_matches('.').to_owned()
    }
}

fn color(i: usize) -> RGBColor {
    const C: [RGBColor; 8] = [
        RGBColor(31, 119, 180),
        RGBColor(255, 127, 14),
        RGBColor(44, 160, 44),
        RGBColor(214, 39, 40),
        RGBColor(148, 103, 189),
        RGBColor(140, 86, 75),
        RGBColor(227, 119, 194),
        RGBColor(127, 127, 127),
    ];
    C[i % C.len()]
}

fn e<E: std::fmt::Debug>(err: E) -> anyhow::Error {
    anyhow!("plot: {err:?}")
}

/// Lines over categorical x (one point per category per series).
pub fn lines(
    path: &Path,
    title: &str,
    x: &[String],
    y_desc: &str,
    log_y: bool,
    series: &[Series],
) -> Result<()> {
    let root = SVGBackend::new(path, (WIDTH_PX, HEIGHT_PX)).into_drawing_area();
    root.fill(&WHITE).map_err(e)?;
    let (lo, hi) = y_range(series, log_y, None);
    let n = x.len();
    let xs = x.to_vec();
    let fmt = move |v: &SegmentValue<usize>| match v {
        SegmentValue::CenterOf(i) | SegmentValue::Exact(i) => {
            xs.get(*i).cloned().unwrap_or_default()
        }
        SegmentValue::Last => String::new(),
    };
    macro_rules! body {
        ($chart:ident) => {{
            $chart
                .configure_mesh()
                .x_labels(n)
                .x_label_formatter(&fmt)
                .y_desc(y_desc)
                .y_labels(8)
                .y_label_formatter(&|v: &f64| number(*v))
                .light_line_style(WHITE.mix(0.0))
                .draw()
                .map_err(e)?;
            for (k, s) in series.iter().enumerate() {
                let c = color(s.color.unwrap_or(k));
                let pts: Vec<(SegmentValue<usize>, f64)> = s
                    .values
                    .iter()
                    .enumerate()
                    .filter_map(|(i, v)| {
                        v.filter(|v| !log_y || *v > 0.0)
                            .map(|v| (SegmentValue::CenterOf(i), v))
                    })
                    .collect();
                let style = ShapeStyle::from(&c).stroke_width(2);
                if s.dashed {
                    $chart
                        .draw_series(DashedLineSeries::new(pts.clone(), 6, 4, style))
                        .map_err(e)?
                        .label(s.name.clone())
                        .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], c));
                } else {
                    $chart
                        .draw_series(LineSeries::new(pts.clone(), style))
                        .map_err(e)?
                        .label(s.name.clone())
                        .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], c));
                }
                $chart
                    .draw_series(pts.iter().map(|p| Circle::new(p.clone(), 3, c.filled())))
                    .map_err(e)?;
            }
            $chart
                .configure_series_labels()
                .position(SeriesLabelPosition::UpperLeft)
                .background_style(WHITE.mix(0.85))
                .border_style(BLACK)
                .draw()
                .map_err(e)?;
        }};
    }
    let mut builder = ChartBuilder::on(&root);
    builder
        .caption(title, ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(70);
    if log_y {
        let mut chart = builder
            .build_cartesian_2d((0..n.max(1) - 1).into_segmented(), (lo..hi).log_scale())
            .map_err(e)?;
        body!(chart);
    } else {
        let mut chart = builder
            .build_cartesian_2d((0..n.max(1) - 1).into_segmented(), lo..hi)
            .map_err(e)?;
        body!(chart);
    }
    root.present().map_err(e)?;
    Ok(())
}

/// Grouped bars: one group per category, one bar per series; optional horizontal reference.
pub fn bars(
    path: &Path,
    title: &str,
    groups: &[String],
    y_desc: &str,
    log_y: bool,
    series: &[Series],
    hline: Option<f64>,
) -> Result<()> {
    let root = SVGBackend::new(path, (WIDTH_PX.max(120 * groups.len() as u32), HEIGHT_PX))
        .into_drawing_area();
    root.fill(&WHITE).map_err(e)?;
    let (lo, hi) = y_range(series, log_y, hline);
    let per = series.len() + 1; // slots per group: one per series plus a gap
    let slots = groups.len() * per;
    let gs = groups.to_vec();
    let nseries = series.len();
    let fmt = move |v: &SegmentValue<usize>| match v {
        SegmentValue::CenterOf(i) | SegmentValue::Exact(i) => {
            // Label the middle bar of each group with the group's name.
            if i % per == nseries / 2 {
                gs.get(i / per).cloned().unwrap_or_default()
            } else {
                String::new()
            }
        }
        SegmentValue::Last => String::new(),
    };
    macro_rules! body {
        ($chart:ident, $base:expr) => {{
            $chart
                .configure_mesh()
                .x_labels(slots)
                .x_label_formatter(&fmt)
                .disable_x_mesh()
                .y_desc(y_desc)
                .y_labels(8)
                .y_label_formatter(&|v: &f64| number(*v))
                .light_line_style(WHITE.mix(0.0))
                .draw()
                .map_err(e)?;
            for (k, s) in series.iter().enumerate() {
                let c = color(s.color.unwrap_or(k));
                $chart
                    .draw_series(s.values.iter().enumerate().filter_map(|(g, v)| {
                        let v = v.filter(|v| !log_y || *v > 0.0)?;
                        let slot = g * per + k;
                        Some(Rectangle::new(
                            [
                                (SegmentValue::Exact(slot), $base),
                                (SegmentValue::Exact(slot + 1), v),
                            ],
                            c.filled(),
                        ))
                    }))
                    .map_err(e)?
                    .label(s.name.clone())
                    .legend(move |(x, y)| {
                        Rectangle::new([(x, y - 5), (x + 12, y + 5)], c.filled())
                    });
            }
            if let Some(h) = hline {
                $chart
                    .draw_series(DashedLineSeries::new(
                        vec![(SegmentValue::Exact(0), h), (SegmentValue::Exact(slots), h)],
                        6,
                        4,
                        ShapeStyle::from(&BLACK).stroke_width(1),
                    ))
                    .map_err(e)?;
            }
            $chart
                .configure_series_labels()
                .position(SeriesLabelPosition::UpperRight)
                .background_style(WHITE.mix(0.85))
                .border_style(BLACK)
                .draw()
                .map_err(e)?;
        }};
    }
    let mut builder = ChartBuilder::on(&root);
    builder
        .caption(title, ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(70);
    if log_y {
        let mut chart = builder
            .build_cartesian_2d((0..slots.max(1) - 1).into_segmented(), (lo..hi).log_scale())
            .map_err(e)?;
        body!(chart, lo);
    } else {
        let mut chart = builder
            .build_cartesian_2d((0..slots.max(1) - 1).into_segmented(), lo..hi)
            .map_err(e)?;
        body!(chart, 0.0);
    }
    root.present().map_err(e)?;
    Ok(())
}
