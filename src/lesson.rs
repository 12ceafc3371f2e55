//! What a demo run teaches beside its story: how a run under another profile (`twsim demo
//! --os P`, `--variant V`) differs from the same script under the story's reference profile
//! (the scenario's own `os`, without variant), call by call, with the source of the rule.
//!
//! Both runs are [`RunReport`]s of the same script, so their steps line up by index. Times are
//! virtual times (µs resolution, printed in seconds).

use twsim_model::Profile;
use twsim_sim::engine::{RunReport, StepResult};

/// The result of a step as a word: `ok` or the POSIX errno name.
fn outcome(s: &StepResult) -> &'static str {
    match &s.result {
        Ok(_) => "ok",
        Err(e) => e.name(),
    }
}

/// The profiles of a run's hosts, deduplicated, in host order.
fn profiles(r: &RunReport) -> Vec<&'static str> {
    let mut v: Vec<&'static str> = Vec::new();
    for h in &r.hosts {
        if !v.contains(&h.2) {
            v.push(h.2);
        }
    }
    v
}

/// The lines saying how `run` differs from `reference` (the same script under the story's
/// reference profile): each host's TIME-WAIT length when it differs; the TIME-WAIT records
/// (host, life, end reason, restarts) when their number, hosts, end reasons or restarts
/// differ; every step whose result
/// differs, with both results and completion times; a key step (`"key": true`) whose result
/// is the same but completes at another time; a step that ran in one and not the other; then
/// the source of each profile of `run` that is not the reference's ([`Profile::citation`]).
/// Empty when nothing differs.
pub fn differences(run: &RunReport, reference: &RunReport) -> Vec<String> {
    let mut out = Vec::new();
    let pairs: Vec<_> = run.hosts.iter().zip(&reference.hosts).collect();
    let same = pairs
        .windows(2)
        .all(|w| w[0].0 .3 == w[1].0 .3 && w[0].1 .3 == w[1].1 .3);
    for (h, r) in &pairs {
        if h.3 != r.3 {
            let who = if same && pairs.len() > 1 {
                "every host".to_string()
            } else {
                h.0.clone()
            };
            out.push(format!(
                "{who}: TIME-WAIT lasts {}, not {} as under {}",
                h.3, r.3, r.2
            ));
            if same {
                break;
            }
        }
    }
    let lives = |r: &RunReport| -> Vec<String> {
        r.time_wait
            .iter()
            .map(|t| {
                let life = match t.ended_at {
                    Some(e) => format!("lived {} ({})", e - t.entered_at, t.reason),
                    None => "was still alive at the end".to_string(),
                };
                format!("{} {life}, {} restart(s)", t.host, t.restarts)
            })
            .collect()
    };
    // Lengths that differ only because the profile's TIME-WAIT does are said above.
    let shape = |r: &RunReport| -> Vec<(String, &'static str, u32)> {
        r.time_wait
            .iter()
            .map(|t| (t.host.clone(), t.reason, t.restarts))
            .collect()
    };
    let (mine, theirs) = (lives(run), lives(reference));
    if shape(run) != shape(reference) {
        out.push(format!(
            "TIME-WAIT records: {}; under {}: {}",
            if mine.is_empty() {
                "none".to_string()
            } else {
                mine.join("; ")
            },
            profiles(reference).join("/"),
            if theirs.is_empty() {
                "none".to_string()
            } else {
                theirs.join("; ")
            },
        ));
    }
    let there = |i: usize| reference.steps.iter().find(|s| s.index() == i);
    for s in &run.steps {
        let call = s.call();
        match there(s.index()) {
            Some(r) if outcome(r) != outcome(s) => out.push(format!(
                "step {} {call}: {} at t={}, where {} gives {} at t={}",
                s.index(),
                outcome(s),
                s.done_at,
                profiles(reference).join("/"),
                outcome(r),
                r.done_at
            )),
            Some(r) if s.key() && r.done_at != s.done_at => out.push(format!(
                "step {} {call}: {} at t={}, where {} completes it at t={}",
                s.index(),
                outcome(s),
                s.done_at,
                profiles(reference).join("/"),
                r.done_at
            )),
            Some(_) => {}
            None => out.push(format!(
                "step {} {call}: {} at t={}; it never ran under {}",
                s.index(),
                outcome(s),
                s.done_at,
                profiles(reference).join("/")
            )),
        }
    }
    for r in &reference.steps {
        if !run.steps.iter().any(|s| s.index() == r.index()) {
            out.push(format!(
                "step {} never ran here; under {} it gave {} at t={}",
                r.index(),
                profiles(reference).join("/"),
                outcome(r),
                r.done_at
            ));
        }
    }
    if !out.is_empty() {
        let theirs = profiles(reference);
        for p in profiles(run) {
            if theirs.contains(&p) {
                continue;
            }
            if let Some(prof) = Profile::from_name(p) {
                out.push(format!("source ({p}): {}", prof.citation()));
            }
        }
    }
    out
}

/// The block printed after a run: a heading naming both profiles, then [`differences`], or
/// one line saying every call returned what it does under the reference.
pub fn block(run: &RunReport, reference: &RunReport) -> String {
    let title = match &run.variant {
        Some(v) => format!("{} [{v}]", run.name),
        None => run.name.clone(),
    };
    let here = profiles(run).join("/");
    let there = profiles(reference).join("/");
    let lines = differences(run, reference);
    let mut s = format!("-- {title}: {here} beside the story's {there}\n");
    if lines.is_empty() {
        s.push_str(&format!(
            "   every call returns what it returns under {there}, at the same virtual time\n"
        ));
    }
    for l in lines {
        s.push_str(&format!("   {l}\n"));
    }
    s
}
