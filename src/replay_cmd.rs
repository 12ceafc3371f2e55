//! `twsim replay`: a scenario's socket calls against the address-table model alone (instant),
//! under one profile or all of them side by side (`--all-os`), or on this machine's real
//! kernel beside the `linux` profile's prediction (`--kernel`).

use serde::ser::{Serialize, SerializeMap, Serializer};
use std::fmt::Write;
use twsim_model::{Errno, ErrnoStyle, Profile};
use twsim_sim::engine::describe;
use twsim_sim::replay::{replay_model, replay_model_with, ReplayStep};
use twsim_sim::scenario::{Overrides, Resolved};

/// What a replay printed and whether it passed.
pub struct Outcome<'a> {
    /// Text for stdout.
    pub text: String,
    /// JSON summary.
    pub json: Json<'a>,
    /// Every expectation held and (kernel mode) the kernel agreed with the model.
    pub ok: bool,
}

/// A replay's JSON summary: a value, or a model replay's steps, written out as that value
/// would be (`{"mode", "ok", "scenario", "steps", "variant"}`, keys in order) without building
/// it: a script of many steps is held as its `ReplayStep`s (32 bytes each) rather than as a
/// `serde_json::Value` per step (about 600 bytes).
pub enum Json<'a> {
    /// Built whole.
    Value(serde_json::Value),
    /// A model replay of `sc`.
    Model {
        /// The scenario replayed.
        sc: &'a Resolved,
        /// Its steps' results.
        steps: Vec<ReplayStep>,
        /// Every expectation held.
        ok: bool,
    },
}

impl Serialize for Json<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Json::Value(v) => v.serialize(s),
            Json::Model { sc, steps, ok } => {
                let mut m = s.serialize_map(Some(5))?;
                m.serialize_entry("mode", "model")?;
                m.serialize_entry("ok", ok)?;
                m.serialize_entry("scenario", &sc.name)?;
                m.serialize_entry("steps", &StepsJson(sc, steps))?;
                m.serialize_entry("variant", &sc.variant)?;
                m.end()
            }
        }
    }
}

/// A model replay's steps as [`step_json`] writes them, one at a time.
struct StepsJson<'a>(&'a Resolved, &'a [ReplayStep]);

impl Serialize for StepsJson<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let StepsJson(sc, steps) = *self;
        s.collect_seq(steps.iter().map(|r| {
            StepJson {
                call: describe(&sc.steps[r.index].call),
                detail: (!r.detail.is_empty()).then_some(r.detail.as_str()),
                expect: sc.steps[r.index]
                    .expect
                    .map(|e| e.map_or("ok", |e| e.name())),
                host: &sc.hosts[r.host].name,
                met: met(sc, r),
                proc: &sc.steps[r.index].proc,
                result: match &r.result {
                    Ok(()) => "ok",
                    Err(e) => e.name(),
                },
                step: r.index,
            }
        }))
    }
}

/// One step of a model replay's JSON summary: [`step_json`]'s fields, in its (sorted) order.
#[derive(serde::Serialize)]
struct StepJson<'a> {
    call: String,
    detail: Option<&'a str>,
    expect: Option<&'static str>,
    host: &'a str,
    met: Option<bool>,
    proc: &'a str,
    result: &'static str,
    step: usize,
}

fn shown(r: &Result<(), Errno>, style: ErrnoStyle) -> String {
    match r {
        Ok(()) => "ok".into(),
        Err(e) => e.display_for(style),
    }
}

fn met(sc: &Resolved, s: &ReplayStep) -> Option<bool> {
    sc.steps[s.index]
        .expect
        .map(|e| e == s.result.as_ref().err().copied())
}

fn step_json(sc: &Resolved, s: &ReplayStep) -> serde_json::Value {
    serde_json::json!({
        "step": s.index,
        "host": sc.hosts[s.host].name,
        "proc": sc.steps[s.index].proc,
        "call": describe(&sc.steps[s.index].call),
        "result": match &s.result { Ok(()) => "ok", Err(e) => e.name() },
        // Nothing to say is null, as in the run summary: no field is an empty string.
        "detail": (!s.detail.is_empty()).then_some(&s.detail),
        "expect": sc.steps[s.index].expect.map(|e| e.map_or("ok", |e| e.name())),
        "met": met(sc, s),
    })
}

fn call_text(sc: &Resolved, i: usize) -> String {
    let st = &sc.steps[i];
    let proc = if st.proc == "main" {
        String::new()
    } else {
        format!("[{}] ", st.proc)
    };
    format!("{proc}{}", describe(&st.call))
}

/// Model replay of one resolved scenario: its text, or with `json` its JSON summary (the other
/// is left empty: `String::new()` or `null`), so that a script of many steps is written out
/// once, not also held in the form not shown.
pub fn model(sc: &Resolved, json: bool) -> Outcome<'_> {
    let steps = replay_model(sc);
    let mut text = String::new();
    let ok = steps.iter().all(|s| met(sc, s) != Some(false));
    if json {
        let json = Json::Model { sc, steps, ok };
        return Outcome { text, json, ok };
    }
    let title = sc
        .variant
        .as_ref()
        .map_or(sc.name.clone(), |v| format!("{} [{v}]", sc.name));
    let oses: Vec<&str> = sc.hosts.iter().map(|h| h.profile.name()).collect();
    let _ = writeln!(text, "== {title}: model replay (os {})", oses.join(", "));
    for s in &steps {
        let style = sc.hosts[s.host].profile.config().errno_style;
        let m = met(sc, s);
        let expect = match sc.steps[s.index].expect {
            None => String::new(),
            Some(e) => format!(" (expected {})", shown(&e.map_or(Ok(()), Err), style)),
        };
        let mark = match m {
            Some(true) => " \u{2713}",
            Some(false) => " \u{2717} UNEXPECTED",
            None => "",
        };
        let detail = if s.detail.is_empty() {
            String::new()
        } else {
            format!(": {}", s.detail)
        };
        let _ = writeln!(
            text,
            "{:>4}  {:<8} {} = {}{detail}{expect}{mark}",
            s.index,
            sc.hosts[s.host].name,
            call_text(sc, s.index),
            shown(&s.result, style)
        );
    }
    Outcome {
        text,
        json: Json::Value(serde_json::Value::Null),
        ok,
    }
}

/// The same script under every profile, one column each (a teaching view). Expectations are
/// not checked: they belong to the scenario's own profile.
pub fn all_os(
    resolve: &dyn Fn(&Overrides) -> Result<Resolved, String>,
) -> Result<Outcome<'static>, String> {
    let mut cols: Vec<(Profile, Resolved, Vec<ReplayStep>)> = Vec::new();
    for p in Profile::ALL {
        let sc = resolve(&Overrides {
            os: Some(p),
            ..Overrides::default()
        })?;
        let steps = replay_model(&sc);
        cols.push((p, sc, steps));
    }
    let sc0 = &cols[0].1;
    let calls: Vec<String> = (0..sc0.steps.len())
        .map(|i| {
            format!(
                "{} {}",
                sc0.hosts[sc0.steps[i].host].name,
                call_text(sc0, i)
            )
        })
        .collect();
    let wcall = calls
        .iter()
        .map(|c| c.chars().count())
        .max()
        .unwrap_or(4)
        .max(4);
    let cells: Vec<Vec<String>> = cols
        .iter()
        .map(|(p, _, steps)| {
            let style = p.config().errno_style;
            steps.iter().map(|s| shown(&s.result, style)).collect()
        })
        .collect();
    let widths: Vec<usize> = cols
        .iter()
        .zip(&cells)
        .map(|((p, _, _), c)| {
            c.iter()
                .map(|x| x.chars().count())
                .max()
                .unwrap_or(0)
                .max(p.name().len())
        })
        .collect();
    let mut text = String::new();
    let _ = writeln!(text, "== {}: model replay under every profile", sc0.name);
    let _ = write!(text, "{:>4}  {:<wcall$}", "step", "call");
    for ((p, _, _), w) in cols.iter().zip(&widths) {
        let _ = write!(text, "  {:<w$}", p.name());
    }
    text.push('\n');
    for (i, call) in calls.iter().enumerate() {
        let _ = write!(text, "{i:>4}  {call:<wcall$}");
        for (c, w) in cells.iter().zip(&widths) {
            let _ = write!(text, "  {:<w$}", c[i]);
        }
        text.push('\n');
    }
    let json = serde_json::json!({
        "scenario": sc0.name, "mode": "all-os",
        "profiles": cols.iter().map(|(p, sc, steps)| serde_json::json!({
            "os": p.name(), "steps": steps.iter().map(|s| step_json(sc, s)).collect::<Vec<_>>()
        })).collect::<Vec<_>>(),
    });
    Ok(Outcome {
        text,
        json: Json::Value(json),
        ok: true,
    })
}

/// The script on the real kernel beside the `linux` profile's prediction (one address table
/// for every host, as one kernel plays them all). Not OK on any disagreement or unmet
/// expectation.
#[cfg(target_os = "linux")]
pub fn kernel(sc: &Resolved) -> Result<Outcome<'static>, String> {
    if sc.hosts.iter().any(|h| h.profile != Profile::Linux) {
        return Err(
            "--kernel compares with the linux profile: run it with --os linux or a linux scenario"
                .into(),
        );
    }
    let (kern, in_ns) = twsim_kernel::replay::replay(sc, false).map_err(|e| e.to_string())?;
    let model = replay_model_with(sc, true);
    let mut text = String::new();
    let title = sc
        .variant
        .as_ref()
        .map_or(sc.name.clone(), |v| format!("{} [{v}]", sc.name));
    let _ = writeln!(
        text,
        "== {title}: kernel ({}) vs linux profile",
        if in_ns {
            "private network namespace"
        } else {
            "current network namespace"
        }
    );
    let (mut disagree, mut unmet) = (0, 0);
    let mut rows = Vec::new();
    for (k, m) in kern.iter().zip(&model) {
        let same = k.result == m.result;
        let km = met(sc, k);
        disagree += usize::from(!same);
        unmet += usize::from(km == Some(false));
        let mark = match (same, km) {
            (false, _) => "  \u{2717} DISAGREE",
            (true, Some(false)) => "  \u{2717} UNEXPECTED",
            _ => "",
        };
        let _ = writeln!(
            text,
            "{:>4}  {:<8} {:<44} kernel {:<14} model {:<14}{mark}",
            k.index,
            sc.hosts[k.host].name,
            call_text(sc, k.index),
            shown(&k.result, ErrnoStyle::Posix),
            shown(&m.result, ErrnoStyle::Posix)
        );
        let mut j = step_json(sc, k);
        j["model"] = serde_json::json!(match &m.result {
            Ok(()) => "ok",
            Err(e) => e.name(),
        });
        j["agree"] = serde_json::json!(same);
        rows.push(j);
    }
    let ok = disagree == 0 && unmet == 0;
    let _ = writeln!(
        text,
        "   {} steps, {disagree} disagreement(s), {unmet} unmet expectation(s) -> {}",
        kern.len(),
        if ok { "OK" } else { "FAILED" }
    );
    let json = serde_json::json!({
        "scenario": sc.name, "variant": sc.variant, "mode": "kernel", "namespace": in_ns, "ok": ok,
        "disagreements": disagree, "unmet": unmet, "steps": rows,
    });
    Ok(Outcome {
        text,
        json: Json::Value(json),
        ok,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use twsim_sim::scenario::parse;

    /// The model replay's JSON, written step by step, is the value built whole from
    /// [`step_json`]: the same keys, values and order.
    #[test]
    fn the_streamed_model_summary_is_the_value_built_whole() {
        let src = include_str!("../examples/restart-time-wait-reuseaddr.json");
        let sc = parse("f.json", src).unwrap();
        for v in [None].into_iter().chain((0..sc.variants.len()).map(Some)) {
            let r = sc.resolve("f.json", src, v, &Overrides::default()).unwrap();
            let out = model(&r, true);
            let steps = replay_model(&r);
            assert!(steps.len() > 5);
            let whole = serde_json::json!({
                "scenario": r.name, "variant": r.variant, "mode": "model", "ok": out.ok,
                "steps": steps.iter().map(|s| step_json(&r, s)).collect::<Vec<_>>(),
            });
            assert_eq!(
                serde_json::to_string_pretty(&out.json).unwrap(),
                serde_json::to_string_pretty(&whole).unwrap()
            );
            assert!(out.text.is_empty(), "the text is not built for --json");
        }
    }
}
