//! A spec's `analytic` list: each curve's formula and where each of its parameters comes from
//! (a constant, an axis's value, or a number inside an axis's value), validated against the
//! axes and metrics, and evaluated at every point.

use super::super::analytic::{self, Formula};
use super::{numeric, AnalyticFile, Axis, Metric};
use serde_json::Value;
use twsim_sim::scenario::ScenarioError;

/// One analytic curve: a formula of [`super::super::analytic`] evaluated at every point.
#[derive(Debug, Clone)]
pub struct Analytic {
    /// The metric it predicts.
    pub metric: String,
    /// The formula.
    pub formula: Formula,
    /// Each formula parameter: a constant, or the numeric value of an axis (by index).
    pub params: Vec<(String, ParamSource)>,
}

/// A formula parameter's value.
#[derive(Debug, Clone)]
pub enum ParamSource {
    /// A constant (seconds for durations).
    Const(f64),
    /// The numeric value of this axis at the point.
    Axis(usize),
    /// The numeric value at this JSON Pointer inside the axis's value at the point: `"ports/0"`
    /// names the first number of an axis `ports` whose values are arrays such as
    /// `[32768, 60999]`.
    AxisPart(usize, String),
}

impl Analytic {
    /// Its value at the point whose axis values are `values` (in axis order); NaN where a
    /// parameter is not a number or a duration, or the formula is undefined there.
    pub fn eval(&self, values: &[Value]) -> f64 {
        let args: Vec<(String, f64)> = self
            .params
            .iter()
            .map(|(k, s)| {
                let x = match s {
                    ParamSource::Const(x) => *x,
                    ParamSource::Axis(a) => numeric(&values[*a]).unwrap_or(f64::NAN),
                    ParamSource::AxisPart(a, ptr) => values[*a]
                        .pointer(ptr)
                        .and_then(numeric)
                        .unwrap_or(f64::NAN),
                };
                (k.clone(), x)
            })
            .collect();
        self.formula.eval(&args)
    }
}

/// The curves of `spec`, or the error `bad(path, message)` at the first problem: an unknown
/// metric, formula or parameter, a missing parameter, a value that is neither a number, a
/// duration, an axis nor `AXIS/POINTER`.
pub(super) fn curves(
    spec: &[AnalyticFile],
    metrics: &[Metric],
    axes: &[Axis],
    bad: &dyn Fn(&str, String) -> ScenarioError,
) -> Result<Vec<Analytic>, ScenarioError> {
    let mut curves = Vec::new();
    for (i, a) in spec.iter().enumerate() {
        let p = format!("analytic[{i}]");
        if !metrics.iter().any(|m| m.name == a.metric) {
            return Err(bad(
                &format!("{p}.metric"),
                format!("no metric named {:?}", a.metric),
            ));
        }
        let Some(formula) = Formula::from_name(&a.formula) else {
            return Err(bad(
                &format!("{p}.formula"),
                format!(
                    "unknown formula {:?} (known: {})",
                    a.formula,
                    analytic::known_names()
                ),
            ));
        };
        let mut params = Vec::new();
        for (k, v) in &a.params {
            let pp = format!("{p}.params.{k}");
            if !formula.params().contains(&k.as_str()) {
                return Err(bad(
                    &pp,
                    format!(
                        "{} has no parameter {k:?} (it takes {})",
                        a.formula,
                        formula.params().join(", ")
                    ),
                ));
            }
            let axis = |name: &str| axes.iter().position(|x| x.name == name);
            let src = match v {
                Value::String(s) => match (axis(s), numeric(v), s.split_once('/')) {
                    (Some(ix), _, _) => ParamSource::Axis(ix),
                    (None, Some(x), _) => ParamSource::Const(x),
                    (None, None, Some((name, rest))) if axis(name).is_some() => {
                        let ix = axis(name).expect("checked");
                        ParamSource::AxisPart(ix, format!("/{rest}"))
                    }
                    _ => {
                        return Err(bad(
                            &pp,
                            format!("{s:?} is neither an axis, AXIS/POINTER nor a duration"),
                        ))
                    }
                },
                Value::Number(_) => ParamSource::Const(numeric(v).unwrap_or(f64::NAN)),
                _ => return Err(bad(&pp, "a number, a duration or an axis name".into())),
            };
            params.push((k.clone(), src));
        }
        for need in formula.params() {
            if !params.iter().any(|(k, _)| k == need) {
                return Err(bad(
                    &format!("{p}.params"),
                    format!("{} needs the parameter {need:?}", a.formula),
                ));
            }
        }
        curves.push(Analytic {
            metric: a.metric.clone(),
            formula,
            params,
        });
    }
    Ok(curves)
}
