//! The sweep spec: its JSON format (`docs/sweep-format.md`) and its validation.
//!
//! A spec names a base scenario (a file beside the spec, or inline), parameter axes that set
//! any value of the scenario by JSON Pointer (RFC 6901), grid or random sampling, a number of
//! replications and the metrics to collect. [`load`] reads and validates all of it, resolves
//! every point's scenario once, and returns the [`Sweep`] that [`super::exec`] runs.
//! Errors are [`ScenarioError`]s: file, JSON path, line and column.

use serde::Deserialize;
use serde_json::Value;
use std::path::{Path, PathBuf};
use twsim_sim::locate::locate;
use twsim_sim::scenario::{self, Overrides, Resolved, Scenario, ScenarioError};

mod curves;
mod points;

pub use curves::{Analytic, ParamSource};
use points::points_of;

/// The spec as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SpecFile {
    name: String,
    #[serde(default)]
    #[allow(dead_code)] // documentation for the reader of the spec
    description: Option<String>,
    base: Value,
    #[serde(default)]
    variant: Option<String>,
    seed: u64,
    replications: u64,
    #[serde(default)]
    sampling: Sampling,
    axes: Vec<AxisFile>,
    metrics: Vec<MetricFile>,
    #[serde(default)]
    analytic: Vec<AnalyticFile>,
}

/// How points are chosen: every combination of the axes' values, or `points` random draws.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase", deny_unknown_fields)]
pub enum Sampling {
    /// The Cartesian product of every axis's `values`, the last axis varying fastest.
    #[default]
    Grid,
    /// `points` points, each axis drawn independently (uniformly from `values`, or from the
    /// `uniform` range) from the sub-stream `sweep/sample/AXIS` of the sweep's seed.
    Random {
        /// Number of points.
        points: u64,
    },
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AxisFile {
    name: String,
    pointer: String,
    #[serde(default)]
    values: Option<Vec<Value>>,
    #[serde(default)]
    uniform: Option<[Value; 2]>,
    #[serde(default)]
    write_as: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct MetricFile {
    name: String,
    #[serde(default)]
    pointer: Option<String>,
    #[serde(default)]
    derived: Option<String>,
    #[serde(default)]
    indicator: bool,
    #[serde(default)]
    default: Option<Value>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AnalyticFile {
    metric: String,
    formula: String,
    params: serde_json::Map<String, Value>,
}

/// Where a metric's value comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// A value of the run's `--json` summary, by JSON Pointer (a number, or a boolean as 1/0).
    Pointer(String),
    /// 1 when every expectation of the run held, else 0.
    Ok,
    /// The number of TIME-WAIT records the run created.
    TimeWaitRecords,
    /// The number of steps whose expectation failed.
    FailedSteps,
}

/// The derived metric names, for `derived`.
pub const DERIVED: &[&str] = &["ok", "time_wait_records", "failed_steps"];

/// One metric collected from every run.
#[derive(Debug, Clone)]
pub struct Metric {
    /// Column name in the results.
    pub name: String,
    /// Where the value comes from.
    pub source: Source,
    /// Record 1 when the value is greater than zero, else 0 (a probability's estimator).
    pub indicator: bool,
    /// A pointer metric's value (a number) when the pointer names nothing in a run's summary,
    /// such as an errno absent from `workloads/0/failed`, which lists only what happened;
    /// without it such a run is an error.
    pub default: Option<Value>,
}

/// One parameter axis.
#[derive(Debug, Clone)]
pub struct Axis {
    /// Name used in the results.
    pub name: String,
    /// RFC 6901 pointer into the base scenario.
    pub pointer: String,
    /// How a value is written at the pointer.
    pub write_as: WriteAs,
}

/// How an axis value is written into the scenario.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteAs {
    /// As it is.
    Value,
    /// A positive number x (a rate, per second) is written as the duration 1/x seconds, in
    /// whole microseconds (`"NNNus"`): a route's mean delay given as the rate of arrivals.
    ReciprocalDuration,
    /// A positive number x is written as the rate `"x/s"` (x as the spec writes it): a
    /// workload's `rate` or `rate.poisson`, swept as a number the analytic curves can use.
    PerSecond,
}

impl WriteAs {
    /// The JSON value written at the pointer for the axis value `v`, or `None` when `v` does
    /// not fit (not a positive number, or a reciprocal below 1 µs or above 100 years).
    /// Whether the scenario takes the value (a rate's at most 6 decimals) is checked when
    /// each point's scenario is resolved.
    pub fn write(self, v: &Value) -> Option<Value> {
        match self {
            WriteAs::Value => Some(v.clone()),
            WriteAs::ReciprocalDuration => {
                let x = v.as_f64().filter(|x| *x > 0.0)?;
                let us = (1e6 / x).round();
                (1.0..=3.2e15)
                    .contains(&us)
                    .then(|| Value::String(format!("{}us", us as u64)))
            }
            WriteAs::PerSecond => {
                v.as_f64().filter(|x| *x > 0.0)?;
                Some(Value::String(format!("{v}/s")))
            }
        }
    }
}

/// One point: a value per axis, and its scenario.
#[derive(Debug)]
pub struct Point {
    /// The value set at each axis's pointer, in axis order.
    pub values: Vec<Value>,
    /// The scenario with those values, parsed.
    pub scenario: Scenario,
    /// Its text (what `resolve` locates errors in).
    pub text: String,
    /// The analytic value of each [`Analytic`], in order.
    pub analytic: Vec<f64>,
}

/// A validated sweep, every point's scenario parsed and checked.
#[derive(Debug)]
pub struct Sweep {
    /// The spec's name.
    pub name: String,
    /// The spec file, as given.
    pub file: String,
    /// The file name scenarios are resolved under (the base file, or the spec).
    pub scenario_file: String,
    /// The variant index in the base scenario, if one is chosen.
    pub variant: Option<usize>,
    /// The base seed every run's seed derives from ([`super::run_seed`]).
    pub seed: u64,
    /// Replications per point.
    pub replications: u64,
    /// The axes.
    pub axes: Vec<Axis>,
    /// The metrics.
    pub metrics: Vec<Metric>,
    /// The analytic curves.
    pub analytic: Vec<Analytic>,
    /// The points, in order.
    pub points: Vec<Point>,
}

/// Most points a sweep may have, and most runs (points × replications).
pub const MAX_RUNS: u64 = 100_000_000;

/// The error at `path` of `src`, positioned on the value.
fn at(file: &str, src: &str, path: &str, message: String) -> ScenarioError {
    let (line, column) = locate(src, path).unwrap_or((1, 1));
    ScenarioError {
        file: file.to_string(),
        path: path.to_string(),
        line,
        column,
        message,
    }
}

/// The numeric value of a parameter value: a number, or a duration string in seconds.
pub fn numeric(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => scenario::parse_duration(s)
            .ok()
            .map(|d| d.micros() as f64 / 1e6),
        _ => None,
    }
}

/// Reads and validates the spec at `path`.
///
/// # Errors
///
/// A [`ScenarioError`] naming the spec (or the base scenario) file, the JSON path and the
/// line:column of the first problem: unknown fields, a pointer that names nothing in the base
/// scenario, an axis value the scenario refuses, a metric or formula that does not exist.
pub fn load(path: &Path) -> Result<Sweep, ScenarioError> {
    let file = path.display().to_string();
    let whole = |message: String| ScenarioError {
        file: file.clone(),
        path: String::new(),
        line: 1,
        column: 1,
        message,
    };
    let src = scenario::read_input(path).map_err(|e| whole(e.to_string()))?;
    let de = &mut serde_json::Deserializer::from_str(&src);
    let spec: SpecFile = serde_path_to_error::deserialize(&mut *de).map_err(|e| {
        let p = e.path().to_string();
        scenario::serde_error(&file, &src, p, e.into_inner())
    })?;
    let bad = |p: &str, m: String| at(&file, &src, p, m);

    if !scenario::is_safe_name(&spec.name) {
        return Err(bad(
            "name",
            format!(
                "{:?}: a sweep name is 1 to 64 of A-Z a-z 0-9 . _ + -",
                spec.name
            ),
        ));
    }
    if spec.replications == 0 {
        return Err(bad("replications", "at least one replication".into()));
    }
    // The base scenario: a file beside the spec, or the scenario itself.
    let (scenario_file, base, base_text, inline) = match &spec.base {
        Value::String(rel) => {
            let p = resolve_beside(path, rel);
            let name = p.display().to_string();
            let text = match scenario::read_input(&p) {
                Ok(t) => t,
                Err(e) => return Err(bad("base", format!("{name}: {e}"))),
            };
            // Parsed here for its errors' positions; the sweep works on its JSON value.
            scenario::parse(&name, &text)?;
            let v: Value = serde_json::from_str(&text).map_err(|e| bad("base", e.to_string()))?;
            (name, v, text, false)
        }
        v @ Value::Object(_) => {
            let text = serde_json::to_string_pretty(v).expect("values serialise");
            (file.clone(), v.clone(), text, true)
        }
        _ => {
            return Err(bad(
                "base",
                "a scenario file name (beside the spec) or the scenario object".into(),
            ))
        }
    };
    let variant_of = |sc: &Scenario| -> Result<Option<usize>, ScenarioError> {
        match &spec.variant {
            None => Ok(None),
            Some(v) => sc
                .variants
                .iter()
                .position(|x| &x.name == v)
                .map(Some)
                .ok_or_else(|| {
                    bad(
                        "variant",
                        format!("the base scenario has no variant named {v:?}"),
                    )
                }),
        }
    };
    // The base alone, before any axis changes it: its errors are the base's, positioned in
    // the base file, or in the spec under `base` when it is inline.
    {
        let base_err = |e: ScenarioError| {
            if inline {
                let p = if e.path.is_empty() {
                    "base".to_string()
                } else {
                    format!("base.{}", e.path)
                };
                bad(&p, e.message)
            } else {
                e
            }
        };
        let sc = scenario::parse(&scenario_file, &base_text).map_err(base_err)?;
        let v = variant_of(&sc)?;
        let r = sc
            .resolve(&scenario_file, &base_text, v, &Overrides::default())
            .map_err(base_err)?;
        r.require_ipv4(&scenario_file, &base_text)
            .map_err(base_err)?;
    }

    // Axes.
    if spec.axes.is_empty() {
        return Err(bad("axes", "at least one axis".into()));
    }
    let mut axes = Vec::new();
    for (i, a) in spec.axes.iter().enumerate() {
        let p = format!("axes[{i}]");
        if a.name.is_empty() || a.name == "point" || a.name == "metric" {
            return Err(bad(
                &format!("{p}.name"),
                format!(
                    "{:?}: an axis needs a name other than point or metric",
                    a.name
                ),
            ));
        }
        if axes.iter().any(|x: &Axis| x.name == a.name) {
            return Err(bad(
                &format!("{p}.name"),
                format!("two axes named {:?}", a.name),
            ));
        }
        if !a.pointer.starts_with('/') || base.pointer(&a.pointer).is_none() {
            return Err(bad(
                &format!("{p}.pointer"),
                format!(
                    "{:?} names no value of the base scenario (an RFC 6901 pointer such as \"/msl\" or \"/network/routes/1/delay\")",
                    a.pointer
                ),
            ));
        }
        match (&a.values, &a.uniform, spec.sampling) {
            (Some(_), Some(_), _) | (None, None, _) => {
                return Err(bad(&p, "give either values or uniform".into()))
            }
            (None, Some(_), Sampling::Grid) => {
                return Err(bad(
                    &format!("{p}.uniform"),
                    "a grid takes values; uniform ranges need \"sampling\": {\"random\": {\"points\": N}}"
                        .into(),
                ))
            }
            (Some(v), None, _) if v.is_empty() => {
                return Err(bad(&format!("{p}.values"), "at least one value".into()))
            }
            (None, Some([lo, hi]), _) => {
                let ok = match (lo, hi) {
                    (Value::Number(_), Value::Number(_)) => numeric(lo) <= numeric(hi),
                    (Value::String(_), Value::String(_)) => {
                        match (numeric(lo), numeric(hi)) {
                            (Some(l), Some(h)) => l <= h,
                            _ => false,
                        }
                    }
                    _ => false,
                };
                if !ok {
                    return Err(bad(
                        &format!("{p}.uniform"),
                        "two numbers, or two durations (\"1s\"), the first not above the second"
                            .into(),
                    ));
                }
            }
            _ => {}
        }
        let write_as = match a.write_as.as_deref() {
            None => WriteAs::Value,
            Some("reciprocal_duration") => WriteAs::ReciprocalDuration,
            Some("per_second") => WriteAs::PerSecond,
            Some(other) => {
                return Err(bad(
                    &format!("{p}.write_as"),
                    format!("unknown {other:?} (known: reciprocal_duration, per_second)"),
                ))
            }
        };
        if write_as != WriteAs::Value {
            let vals: Vec<(String, &Value)> = match (&a.values, &a.uniform) {
                (Some(vs), _) => vs
                    .iter()
                    .enumerate()
                    .map(|(j, v)| (format!("{p}.values[{j}]"), v))
                    .collect(),
                (None, Some(u)) => u
                    .iter()
                    .enumerate()
                    .map(|(j, v)| (format!("{p}.uniform[{j}]"), v))
                    .collect(),
                _ => Vec::new(),
            };
            for (vp, v) in vals {
                if write_as.write(v).is_none() {
                    return Err(bad(
                        &vp,
                        match write_as {
                            WriteAs::PerSecond => format!("{v}: per_second takes positive numbers (a rate per second)"),
                            _ => format!("{v}: reciprocal_duration takes positive numbers (a rate per second) whose reciprocal is 1 µs to 100 years"),
                        },
                    ));
                }
            }
        }
        axes.push(Axis {
            name: a.name.clone(),
            pointer: a.pointer.clone(),
            write_as,
        });
    }

    // Metrics.
    if spec.metrics.is_empty() {
        return Err(bad("metrics", "at least one metric".into()));
    }
    let mut metrics: Vec<Metric> = Vec::new();
    for (i, m) in spec.metrics.iter().enumerate() {
        let p = format!("metrics[{i}]");
        if m.name.is_empty() || metrics.iter().any(|x| x.name == m.name) {
            return Err(bad(
                &format!("{p}.name"),
                format!("{:?}: metric names are distinct and not empty", m.name),
            ));
        }
        let source = match (&m.pointer, &m.derived) {
            (Some(ptr), None) if ptr.starts_with('/') => Source::Pointer(ptr.clone()),
            (Some(ptr), None) => {
                return Err(bad(
                    &format!("{p}.pointer"),
                    format!("{ptr:?} is not a JSON Pointer (it starts with /)"),
                ))
            }
            (None, Some(d)) => match d.as_str() {
                "ok" => Source::Ok,
                "time_wait_records" => Source::TimeWaitRecords,
                "failed_steps" => Source::FailedSteps,
                _ => {
                    return Err(bad(
                        &format!("{p}.derived"),
                        format!(
                            "unknown derived metric {d:?} (known: {})",
                            DERIVED.join(", ")
                        ),
                    ))
                }
            },
            _ => return Err(bad(&p, "give either pointer or derived".into())),
        };
        match (&m.default, &source) {
            (None, _) | (Some(Value::Number(_)), Source::Pointer(_)) => {}
            (Some(_), _) => {
                return Err(bad(
                    &format!("{p}.default"),
                    "a number, and only with pointer".into(),
                ))
            }
        }
        metrics.push(Metric {
            name: m.name.clone(),
            source,
            indicator: m.indicator,
            default: m.default.clone(),
        });
    }

    // Analytic curves.
    let curves = curves::curves(&spec.analytic, &metrics, &axes, &bad)?;

    // Points.
    let combos = points_of(&spec, &axes).map_err(|(p, m)| bad(&p, m))?;
    if combos.len() as u64 > MAX_RUNS
        || (combos.len() as u64).saturating_mul(spec.replications) > MAX_RUNS
    {
        return Err(bad(
            "replications",
            format!(
                "{} points × {} replications is more than {MAX_RUNS} runs",
                combos.len(),
                spec.replications
            ),
        ));
    }
    let mut variant = None;
    let mut points = Vec::with_capacity(combos.len());
    for (ix, values) in combos.into_iter().enumerate() {
        let mut doc = base.clone();
        for (a, v) in axes.iter().zip(&values) {
            if let (Some(slot), Some(w)) = (doc.pointer_mut(&a.pointer), a.write_as.write(v)) {
                *slot = w;
            }
        }
        let text = serde_json::to_string_pretty(&doc).expect("values serialise");
        let describe = || {
            axes.iter()
                .zip(&values)
                .map(|(a, v)| format!("{}={v}", a.name))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let point_err = |e: ScenarioError| {
            // At the axis value the scenario refused, when the error lies under an axis.
            let under = axes.iter().position(|a| {
                let p = path_of_pointer(&a.pointer);
                e.path == p
                    || e.path.starts_with(&format!("{p}."))
                    || e.path.starts_with(&format!("{p}["))
            });
            let at_path = match under {
                Some(k) => match spec.axes[k]
                    .values
                    .as_ref()
                    .and_then(|vs| vs.iter().position(|v| *v == values[k]))
                {
                    Some(j) => format!("axes[{k}].values[{j}]"),
                    None => format!("axes[{k}]"),
                },
                None => "axes".to_string(),
            };
            bad(
                &at_path,
                format!(
                    "point {ix} ({}): the scenario refuses it: {}: {}",
                    describe(),
                    if e.path.is_empty() {
                        "document".to_string()
                    } else {
                        e.path.clone()
                    },
                    e.message
                ),
            )
        };
        let sc = scenario::parse(&scenario_file, &text).map_err(point_err)?;
        variant = variant_of(&sc)?;
        let r: Resolved = sc
            .resolve(&scenario_file, &text, variant, &Overrides::default())
            .map_err(point_err)?;
        r.require_ipv4(&scenario_file, &text).map_err(point_err)?;
        let analytic: Vec<f64> = curves.iter().map(|c| c.eval(&values)).collect();
        if let Some(k) = analytic.iter().position(|x| !x.is_finite()) {
            return Err(bad(
                &format!("analytic[{k}].params"),
                format!(
                    "at point {ix} ({}) a parameter is not a number or a duration",
                    describe()
                ),
            ));
        }
        points.push(Point {
            values,
            scenario: sc,
            text,
            analytic,
        });
    }
    Ok(Sweep {
        name: spec.name,
        file,
        scenario_file,
        variant,
        seed: spec.seed,
        replications: spec.replications,
        axes,
        metrics,
        analytic: curves,
        points,
    })
}

/// The scenario error path (`network.routes[1].delay`) of an RFC 6901 pointer
/// (`/network/routes/1/delay`).
fn path_of_pointer(pointer: &str) -> String {
    let mut out = String::new();
    for seg in pointer.split('/').skip(1) {
        let seg = seg.replace("~1", "/").replace("~0", "~");
        if !seg.is_empty() && seg.bytes().all(|b| b.is_ascii_digit()) {
            out.push_str(&format!("[{seg}]"));
        } else {
            if !out.is_empty() {
                out.push('.');
            }
            out.push_str(&seg);
        }
    }
    out
}

/// `rel` beside the spec file `spec`.
fn resolve_beside(spec: &Path, rel: &str) -> PathBuf {
    match spec.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.join(rel),
        _ => PathBuf::from(rel),
    }
}
