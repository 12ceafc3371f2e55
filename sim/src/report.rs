//! Rendering a [`RunReport`]: the human timeline and summary, and the `--json` summary.

use crate::engine::RunReport;
use serde_json::json;
use std::fmt::Write;

/// The timeline and summary as text, for stdout.
pub fn text(r: &RunReport) -> String {
    let mut s = String::new();
    let title = match &r.variant {
        Some(v) => format!("{} [{v}]", r.name),
        None => r.name.clone(),
    };
    let _ = writeln!(s, "== {title} (seed {})", r.seed);
    for (name, addr, os, tw) in &r.hosts {
        let _ = writeln!(s, "   host {name} {addr} os={os} TIME-WAIT={tw}");
    }
    for (t, host, line) in &r.recorder.timeline {
        let _ = writeln!(s, "{:>12}  {host:<8} {line}", t.to_string());
    }
    let _ = writeln!(s, "-- summary");
    for t in &r.time_wait {
        let end = match t.ended_at {
            Some(e) => format!("ended t={e} ({}, lived {})", t.reason, e - t.entered_at),
            None => "still alive at the end".into(),
        };
        let _ = writeln!(
            s,
            "   TIME-WAIT {} {}: began t={}, {end}, {} restart(s)",
            t.host, t.tuple, t.entered_at, t.restarts
        );
    }
    let unmet: Vec<_> = r.steps.iter().filter(|x| x.met == Some(false)).collect();
    for x in &unmet {
        let _ = writeln!(s, "   UNMET step {} on {}: {}", x.index, x.host, x.call);
    }
    for c in &r.checks {
        let _ = writeln!(
            s,
            "   check {}: {}",
            if c.ok { "ok" } else { "FAILED" },
            c.what
        );
    }
    if r.unreached > 0 {
        let _ = writeln!(s, "   {} step(s) never ran", r.unreached);
    }
    if let Some(a) = &r.aborted {
        let _ = writeln!(s, "   run aborted: {a}");
    }
    let expects = r.steps.iter().filter(|x| x.met.is_some()).count();
    let _ = writeln!(
        s,
        "   {} segments, ended t={}; {}/{} expectations met, {}/{} checks -> {}",
        r.segments,
        r.ended_at,
        expects - unmet.len(),
        expects,
        r.checks.iter().filter(|c| c.ok).count(),
        r.checks.len(),
        if r.ok() { "OK" } else { "FAILED" }
    );
    s
}

/// The machine-readable summary (`--json`).
pub fn json(r: &RunReport) -> serde_json::Value {
    json!({
        "scenario": r.name,
        "variant": r.variant,
        "seed": r.seed,
        "ok": r.ok(),
        "ended_at_us": r.ended_at.micros(),
        "segments": r.segments,
        "aborted": r.aborted,
        "unreached_steps": r.unreached,
        "hosts": r.hosts.iter().map(|(n, a, os, tw)| json!({"name": n, "addr": a, "os": os, "time_wait_us": tw.micros()})).collect::<Vec<_>>(),
        "steps": r.steps.iter().map(|x| json!({
            "index": x.index, "host": x.host, "proc": x.proc, "call": x.call,
            "started_at_us": x.started_at.micros(), "done_at_us": x.done_at.micros(),
            "result": match &x.result { Ok(_) => "ok".to_string(), Err(e) => e.name().to_string() },
            "detail": x.result.as_ref().ok().map(|d| d.to_string()),
            "expect": x.expect.map(|e| e.map_or("ok", |e| e.name())),
            "met": x.met,
        })).collect::<Vec<_>>(),
        "time_wait": r.time_wait.iter().map(|t| json!({
            "host": t.host, "tuple": t.tuple, "incarnation": t.incarnation,
            "entered_at_us": t.entered_at.micros(), "ended_at_us": t.ended_at.map(|e| e.micros()),
            "lived_us": t.ended_at.map(|e| (e - t.entered_at).micros()), "reason": t.reason, "restarts": t.restarts,
        })).collect::<Vec<_>>(),
        "checks": r.checks.iter().map(|c| json!({"what": c.what, "ok": c.ok})).collect::<Vec<_>>(),
    })
}
