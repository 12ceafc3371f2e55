//! The summary: per point and metric, n, mean, standard error and a 95% confidence interval
//! (Student t with n − 1 degrees of freedom), beside the analytic value where the sweep has
//! one. Written as CSV (`docs/sweep-format.md`), computed from the sorted records only, so a
//! merge of shards summarises exactly as the whole sweep does.

use super::record::Record;
use serde_json::Value;
use statrs::distribution::{ContinuousCDF, StudentsT};

/// The summary CSV's columns after `point` and the parameters, in order.
pub const SUMMARY_COLUMNS: [&str; 7] = [
    "metric",
    "n",
    "mean",
    "std_error",
    "ci95_low",
    "ci95_high",
    "analytic",
];

/// One row of the summary.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// The point's index.
    pub point: u64,
    /// The point's axis values, in axis order.
    pub params: Vec<(String, Value)>,
    /// The metric.
    pub metric: String,
    /// Number of replications.
    pub n: u64,
    /// Sample mean.
    pub mean: f64,
    /// Standard error of the mean (s / √n); `None` for n = 1.
    pub std_error: Option<f64>,
    /// The 95% confidence interval mean ± t(0.975, n − 1)·SE; `None` for n = 1.
    pub ci95: Option<(f64, f64)>,
    /// The analytic value, if the sweep has one for this metric.
    pub analytic: Option<f64>,
}

/// The 0.975 quantile of Student's t with `df` degrees of freedom.
pub fn t975(df: u64) -> f64 {
    StudentsT::new(0.0, 1.0, df as f64)
        .expect("df > 0")
        .inverse_cdf(0.975)
}

/// The rows for `records` (sorted by point and replication, as the results file is).
///
/// # Errors
///
/// When the records do not share one set of axes and metrics, or a metric is not a number.
pub fn summarize(records: &[Record]) -> Result<Vec<Row>, String> {
    let Some(first) = records.first() else {
        return Ok(Vec::new());
    };
    let axes = first.params.keys();
    let metrics = first.metrics.keys();
    let mut rows = Vec::new();
    let mut i = 0;
    while i < records.len() {
        let p = records[i].point;
        let j = i + records[i..].iter().take_while(|r| r.point == p).count();
        let group = &records[i..j];
        for r in group {
            if r.params.keys() != axes || r.metrics.keys() != metrics || r.params != group[0].params
            {
                return Err(format!(
                    "point {p} replication {}: its axes or metrics differ from point {}'s (results of different sweeps?)",
                    r.replication, first.point
                ));
            }
        }
        for m in &metrics {
            let xs: Vec<f64> = group
                .iter()
                .map(|r| r.metrics.get(m).and_then(Value::as_f64))
                .collect::<Option<_>>()
                .ok_or_else(|| format!("point {p}: metric {m:?} is not a number"))?;
            let n = xs.len() as u64;
            let mean = xs.iter().sum::<f64>() / n as f64;
            let (std_error, ci95) = if n > 1 {
                let var = xs.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / (n - 1) as f64;
                let se = (var / n as f64).sqrt();
                let h = t975(n - 1) * se;
                (Some(se), Some((mean - h, mean + h)))
            } else {
                (None, None)
            };
            rows.push(Row {
                point: p,
                params: group[0].params.0.clone(),
                metric: m.to_string(),
                n,
                mean,
                std_error,
                ci95,
                analytic: group[0].analytic.get(m).and_then(Value::as_f64),
            });
        }
        i = j;
    }
    Ok(rows)
}

/// The CSV text of `rows`: `point,AXIS…,metric,n,mean,std_error,ci95_low,ci95_high,analytic`;
/// an axis's value as written in the spec (a string without its quotes), empty cells where a
/// value does not exist.
pub fn csv(rows: &[Row]) -> Vec<u8> {
    let mut w = csv::Writer::from_writer(Vec::new());
    let f = |x: Option<f64>| x.map(|x| x.to_string()).unwrap_or_default();
    if let Some(r) = rows.first() {
        let mut head = vec!["point".to_string()];
        head.extend(r.params.iter().map(|(k, _)| k.clone()));
        head.extend(SUMMARY_COLUMNS.map(String::from));
        w.write_record(&head).expect("writes to memory");
    }
    for r in rows {
        let mut rec = vec![r.point.to_string()];
        rec.extend(r.params.iter().map(|(_, v)| match v {
            Value::String(s) => s.clone(),
            v => v.to_string(),
        }));
        rec.push(r.metric.clone());
        rec.push(r.n.to_string());
        rec.push(r.mean.to_string());
        rec.push(f(r.std_error));
        rec.push(f(r.ci95.map(|c| c.0)));
        rec.push(f(r.ci95.map(|c| c.1)));
        rec.push(f(r.analytic));
        w.write_record(&rec).expect("writes to memory");
    }
    w.into_inner().expect("writes to memory")
}

#[cfg(test)]
mod tests {
    use super::super::record::Ordered;
    use super::*;

    fn rec(point: u64, rep: u64, x: f64) -> Record {
        Record {
            point,
            replication: rep,
            seed: rep,
            params: Ordered(vec![("d".into(), Value::from(format!("{point}s")))]),
            metrics: Ordered(vec![("m".into(), Value::from(x))]),
            analytic: Ordered(vec![("m".into(), Value::from(0.5))]),
        }
    }

    #[test]
    fn t_quantiles_match_the_tables() {
        // Student t 0.975 quantiles from the standard tables.
        for (df, t) in [
            (1, 12.706),
            (4, 2.776),
            (9, 2.262),
            (29, 2.045),
            (1000, 1.962),
        ] {
            assert!((t975(df) - t).abs() < 1e-3, "df {df}: {}", t975(df));
        }
    }

    #[test]
    fn mean_error_and_interval() {
        let rs = vec![
            rec(0, 0, 1.0),
            rec(0, 1, 2.0),
            rec(0, 2, 3.0),
            rec(1, 0, 7.0),
        ];
        let rows = summarize(&rs).unwrap();
        assert_eq!(rows.len(), 2);
        let r = &rows[0];
        assert_eq!((r.n, r.mean), (3, 2.0));
        // s = 1, SE = 1/√3, t(0.975, 2) = 4.303.
        let se = 1.0 / 3f64.sqrt();
        assert!((r.std_error.unwrap() - se).abs() < 1e-12);
        assert!((r.ci95.unwrap().1 - (2.0 + 4.302_652_7 * se)).abs() < 1e-6);
        assert_eq!(rows[1].std_error, None);
        let text = String::from_utf8(csv(&rows)).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0],
            "point,d,metric,n,mean,std_error,ci95_low,ci95_high,analytic"
        );
        assert_eq!(lines[2], "1,1s,m,1,7,,,,0.5");
    }

    #[test]
    fn mixed_sweeps_are_refused() {
        let mut b = rec(1, 0, 1.0);
        b.metrics = Ordered(vec![("other".into(), Value::from(1))]);
        assert!(summarize(&[rec(0, 0, 1.0), b]).is_err());
    }
}
