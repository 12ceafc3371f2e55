//! `twsim plot`: a metric of a summary CSV against one parameter, through plotters' SVG
//! backend: the mean with its 95% confidence band and, where the sweep has one, the analytic
//! curve (dashed). Other axes split the points into one series each.

use super::spec::numeric;
use plotters::prelude::*;
use serde_json::Value;
use std::collections::BTreeMap;

/// Series colours (the "tab10" qualitative palette), in order.
const SERIES: [RGBColor; 8] = [
    RGBColor(31, 119, 180),
    RGBColor(214, 39, 40),
    RGBColor(44, 160, 44),
    RGBColor(148, 103, 189),
    RGBColor(255, 127, 14),
    RGBColor(140, 86, 75),
    RGBColor(23, 190, 207),
    RGBColor(127, 127, 127),
];

/// One row of a summary CSV, as the plot needs it.
#[derive(Debug, Clone)]
struct Row {
    params: Vec<(String, String)>,
    metric: String,
    mean: f64,
    ci: Option<(f64, f64)>,
    analytic: Option<f64>,
}

/// The axes and rows of a summary CSV ([`super::stats::csv`]).
fn read(name: &str, text: &str) -> Result<(Vec<String>, Vec<Row>), String> {
    let mut rd = csv::Reader::from_reader(text.as_bytes());
    let head: Vec<String> = rd
        .headers()
        .map_err(|e| format!("{name}: {e}"))?
        .iter()
        .map(String::from)
        .collect();
    let tail = super::stats::SUMMARY_COLUMNS;
    if head.len() < tail.len() + 2 || head[0] != "point" || head[head.len() - tail.len()..] != tail
    {
        return Err(format!(
            "{name}:1: not a sweep summary (the header is point,AXIS…,{})",
            tail.join(",")
        ));
    }
    let axes: Vec<String> = head[1..head.len() - tail.len()].to_vec();
    let mut rows = Vec::new();
    for (i, rec) in rd.records().enumerate() {
        let line = i + 2;
        let rec = rec.map_err(|e| format!("{name}:{line}: {e}"))?;
        let num = |k: usize| -> Result<Option<f64>, String> {
            let s = &rec[k];
            if s.is_empty() {
                return Ok(None);
            }
            s.parse::<f64>()
                .map(Some)
                .map_err(|_| format!("{name}:{line}: {}: {s:?} is not a number", head[k]))
        };
        let base = 1 + axes.len();
        let mean = num(base + 2)?.ok_or_else(|| format!("{name}:{line}: no mean"))?;
        let ci = match (num(base + 4)?, num(base + 5)?) {
            (Some(l), Some(h)) => Some((l, h)),
            _ => None,
        };
        rows.push(Row {
            params: axes
                .iter()
                .enumerate()
                .map(|(k, a)| (a.clone(), rec[1 + k].to_string()))
                .collect(),
            metric: rec[base].to_string(),
            mean,
            ci,
            analytic: num(base + 6)?,
        });
    }
    if rows.is_empty() {
        return Err(format!("{name}: the summary has no rows"));
    }
    Ok((axes, rows))
}

/// The numeric value of a CSV cell: a number, or a duration in seconds.
fn cell_value(s: &str) -> Option<f64> {
    s.parse::<f64>()
        .ok()
        .or_else(|| numeric(&Value::String(s.to_string())))
}

/// The SVG of `y` (default: the first metric) against `x` (default: the first axis) of the
/// summary CSV `text` read from `name`.
///
/// # Errors
///
/// A file that is not a summary, an axis or metric it does not have, an axis whose values are
/// neither numbers nor durations.
pub fn svg(name: &str, text: &str, x: Option<&str>, y: Option<&str>) -> Result<String, String> {
    let (axes, rows) = read(name, text)?;
    let x = match x {
        Some(x) if axes.iter().any(|a| a == x) => x.to_string(),
        Some(x) => {
            return Err(format!(
                "--x: {name} has no axis {x:?} (it has {})",
                axes.join(", ")
            ))
        }
        None => axes[0].clone(),
    };
    let metrics: Vec<&str> = {
        let mut m: Vec<&str> = Vec::new();
        for r in &rows {
            if !m.contains(&r.metric.as_str()) {
                m.push(&r.metric);
            }
        }
        m
    };
    let y = match y {
        Some(y) if metrics.contains(&y) => y.to_string(),
        Some(y) => {
            return Err(format!(
                "--y: {name} has no metric {y:?} (it has {})",
                metrics.join(", ")
            ))
        }
        None => metrics[0].to_string(),
    };
    let durations = rows.iter().any(|r| {
        r.params
            .iter()
            .any(|(k, v)| *k == x && v.parse::<f64>().is_err())
    });
    // One series per combination of the other axes.
    let mut series: BTreeMap<String, Vec<(f64, &Row)>> = BTreeMap::new();
    let mut order: Vec<String> = Vec::new();
    for r in rows.iter().filter(|r| r.metric == y) {
        let (_, xv) = r
            .params
            .iter()
            .find(|(k, _)| *k == x)
            .expect("every row has every axis");
        let xf = cell_value(xv).ok_or_else(|| {
            format!("--x {x}: {xv:?} is neither a number nor a duration; plot another axis")
        })?;
        let label = r
            .params
            .iter()
            .filter(|(k, _)| *k != x)
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(", ");
        if !series.contains_key(&label) {
            order.push(label.clone());
        }
        series.entry(label).or_default().push((xf, r));
    }
    for pts in series.values_mut() {
        pts.sort_by(|a, b| a.0.total_cmp(&b.0));
    }
    let all = series.values().flatten();
    let (mut x0, mut x1, mut y0, mut y1) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
    for (xf, r) in all {
        x0 = x0.min(*xf);
        x1 = x1.max(*xf);
        for v in [
            Some(r.mean),
            r.ci.map(|c| c.0),
            r.ci.map(|c| c.1),
            r.analytic,
        ]
        .into_iter()
        .flatten()
        {
            y0 = y0.min(v);
            y1 = y1.max(v);
        }
    }
    if x1 <= x0 {
        x1 = x0 + 1.0;
    }
    let pad = ((y1 - y0) * 0.05).max(1e-9);
    let (y0, y1) = (y0 - pad, y1 + pad);
    // The legend goes where the first series is not: below a rising curve, above a falling one.
    let legend_at = match order.first().map(|l| &series[l]) {
        Some(pts) if pts.len() > 1 && pts[pts.len() - 1].1.mean > pts[0].1.mean => {
            SeriesLabelPosition::LowerRight
        }
        _ => SeriesLabelPosition::UpperRight,
    };
    let mut buf = String::new();
    {
        let root = SVGBackend::with_string(&mut buf, (800, 500)).into_drawing_area();
        let e = |e: DrawingAreaErrorKind<_>| format!("plot: {e}");
        root.fill(&WHITE).map_err(e)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(format!("{y} against {x}"), ("sans-serif", 22))
            .margin(15)
            .x_label_area_size(45)
            .y_label_area_size(70)
            .build_cartesian_2d(x0..x1, y0..y1)
            .map_err(e)?;
        chart
            .configure_mesh()
            .x_desc(if durations {
                format!("{x} (s)")
            } else {
                x.clone()
            })
            .y_desc(format!("{y} (mean, 95% CI)"))
            .draw()
            .map_err(e)?;
        for (i, label) in order.iter().enumerate() {
            let pts = &series[label];
            let color = SERIES[i % SERIES.len()].to_rgba();
            let band: Vec<(f64, f64)> = pts
                .iter()
                .filter_map(|(x, r)| r.ci.map(|c| (*x, c.0)))
                .chain(
                    pts.iter()
                        .rev()
                        .filter_map(|(x, r)| r.ci.map(|c| (*x, c.1))),
                )
                .collect();
            if band.len() > 2 {
                chart
                    .draw_series(std::iter::once(Polygon::new(band, color.mix(0.2).filled())))
                    .map_err(e)?;
            }
            let name = if label.is_empty() {
                "simulated".to_string()
            } else {
                label.clone()
            };
            chart
                .draw_series(LineSeries::new(
                    pts.iter().map(|(x, r)| (*x, r.mean)),
                    color.stroke_width(2),
                ))
                .map_err(e)?
                .label(name)
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
                });
            chart
                .draw_series(
                    pts.iter()
                        .map(|(x, r)| Circle::new((*x, r.mean), 3, color.filled())),
                )
                .map_err(e)?;
            let curve: Vec<(f64, f64)> = pts
                .iter()
                .filter_map(|(x, r)| r.analytic.map(|a| (*x, a)))
                .collect();
            if !curve.is_empty() {
                let dark = BLACK.mix(0.8);
                let s = chart
                    .draw_series(DashedLineSeries::new(curve, 6, 4, dark.stroke_width(1)))
                    .map_err(e)?;
                if i == 0 {
                    s.label("analytic").legend(move |(x, y)| {
                        PathElement::new(vec![(x, y), (x + 20, y)], dark.stroke_width(1))
                    });
                }
            }
        }
        chart
            .configure_series_labels()
            .position(legend_at)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .draw()
            .map_err(e)?;
        root.present().map_err(e)?;
    }
    Ok(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    const CSV: &str = "point,tw,metric,n,mean,std_error,ci95_low,ci95_high,analytic\n\
        0,1s,p,10,0.5,0.1,0.3,0.7,0.45\n\
        0,1s,q,10,3,0,3,3,\n\
        1,2s,p,10,0.25,0.1,0.05,0.45,0.2\n\
        1,2s,q,10,4,0,4,4,\n";

    #[test]
    fn draws_the_first_metric_against_the_first_axis() {
        let s = svg("s.csv", CSV, None, None).unwrap();
        assert!(s.starts_with("<svg"), "{}", &s[..40]);
        assert!(s.contains("p against tw"));
        assert!(s.contains("tw (s)"));
        assert!(s.contains("analytic"));
        let q = svg("s.csv", CSV, Some("tw"), Some("q")).unwrap();
        assert!(q.contains("q against tw") && !q.contains(">analytic<"));
    }

    #[test]
    fn unknown_names_are_refused() {
        assert!(svg("s.csv", CSV, Some("nope"), None)
            .unwrap_err()
            .contains("no axis"));
        assert!(svg("s.csv", CSV, None, Some("nope"))
            .unwrap_err()
            .contains("no metric"));
        assert!(svg("s.csv", "a,b\n1,2\n", None, None)
            .unwrap_err()
            .contains("not a sweep summary"));
    }
}
