//! The points of a sweep: the grid of the axes' values, or random draws from each axis's own
//! stream.

use super::{Axis, AxisFile, Sampling, SpecFile, MAX_RUNS};
use serde_json::Value;

/// Every point's axis values, in order, or (path, message).
pub(super) fn points_of(
    spec: &SpecFile,
    axes: &[Axis],
) -> Result<Vec<Vec<Value>>, (String, String)> {
    match spec.sampling {
        Sampling::Grid => {
            let mut total: u64 = 1;
            for a in &spec.axes {
                let n = a.values.as_ref().map_or(1, Vec::len) as u64;
                total = total.saturating_mul(n);
            }
            if total > MAX_RUNS {
                return Err((
                    "axes".into(),
                    format!("the grid has more than {MAX_RUNS} points"),
                ));
            }
            let mut out: Vec<Vec<Value>> = vec![Vec::new()];
            for a in &spec.axes {
                let vals = a.values.as_deref().unwrap_or_default();
                out = out
                    .into_iter()
                    .flat_map(|prefix| {
                        vals.iter().map(move |v| {
                            let mut p = prefix.clone();
                            p.push(v.clone());
                            p
                        })
                    })
                    .collect();
            }
            Ok(out)
        }
        Sampling::Random { points } => {
            if points == 0 || points > MAX_RUNS {
                return Err((
                    "sampling.random.points".into(),
                    format!("1 to {MAX_RUNS} points"),
                ));
            }
            let mut streams: Vec<_> = axes
                .iter()
                .map(|a| twsim_sim::rng::stream(spec.seed, &format!("sweep/sample/{}", a.name)))
                .collect();
            let mut out = Vec::new();
            for _ in 0..points {
                let mut p = Vec::new();
                for (a, rng) in spec.axes.iter().zip(streams.iter_mut()) {
                    let u = twsim_sim::rng::unit(rng);
                    p.push(sample(a, u));
                }
                out.push(p);
            }
            Ok(out)
        }
    }
}

/// The value of axis `a` for the uniform draw `u` in [0, 1).
fn sample(a: &AxisFile, u: f64) -> Value {
    if let Some(vals) = &a.values {
        let i = ((u * vals.len() as f64) as usize).min(vals.len() - 1);
        return vals[i].clone();
    }
    let [lo, hi] = a.uniform.as_ref().expect("validated: values or uniform");
    let (l, h) = (
        super::numeric(lo).unwrap_or_default(),
        super::numeric(hi).unwrap_or_default(),
    );
    match lo {
        // Durations are drawn in whole microseconds.
        Value::String(_) => {
            let (l, h) = ((l * 1e6).round() as u64, (h * 1e6).round() as u64);
            let us = l + ((u * (h - l + 1) as f64) as u64).min(h - l);
            Value::String(format!("{us}us"))
        }
        _ => serde_json::Number::from_f64(l + u * (h - l))
            .map(Value::Number)
            .unwrap_or(Value::Null),
    }
}
