//! Rendering a [`RunReport`]: the human timeline and summary, and the `--json` summary.

use crate::engine::{Detail, RunReport};
use crate::event::HostInfo;
use crate::host::Hazards;
use serde::Serialize;
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
    let h = &r.hazards;
    if *h != Hazards::default() {
        let _ = writeln!(s, "   hazards: {}", hazard_line(h));
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

/// The hazards of a run in one line: the stale-arrival funnel beside its expectation, then
/// each hazard's count.
fn hazard_line(h: &Hazards) -> String {
    let mut parts = vec![format!(
        "{} stale arrival(s) (SEQ ok {}, ACK ok {}, PAWS ok {}; expected accepted {:.3}; written {})",
        h.stale_arrivals,
        h.stale_seq_ok,
        h.stale_ack_ok,
        h.stale_paws_ok,
        h.expected_accepted,
        h.stale_written
    )];
    if h.corruption_events > 0 {
        parts.push(format!(
            "H1 {} corrupted byte(s) in {} event(s), first at stream offset {}",
            h.corrupted_bytes,
            h.corruption_events,
            h.first_corrupt_offset.unwrap_or(0)
        ));
    }
    for (n, what) in [
        (h.ack_wars, "H2 ACK war(s)"),
        (h.h3_resets, "H3 reset(s)"),
        (h.assassinations, "assassination(s)"),
        (h.lastack_resets, "LAST-ACK reset(s)"),
    ] {
        if n > 0 {
            parts.push(format!("{n} {what}"));
        }
    }
    parts.join("; ")
}

/// One run's line in the closing comparison of several runs ([`compare`]).
#[derive(Debug, Clone)]
pub struct CompareRow {
    run: String,
    os: String,
    time_wait: String,
    hazards: Hazards,
    ok: bool,
}

impl CompareRow {
    /// Whether the run saw any stale arrival or hazard.
    pub fn has_hazards(&self) -> bool {
        self.hazards != Hazards::default()
    }

    /// The row of a run.
    pub fn of(r: &RunReport) -> CompareRow {
        let mut os: Vec<&str> = r.hosts.iter().map(|h| h.2).collect();
        os.dedup();
        let mut tw: Vec<String> = r.hosts.iter().map(|h| h.3.to_string()).collect();
        tw.dedup();
        CompareRow {
            run: r.variant.clone().unwrap_or_else(|| r.name.clone()),
            os: os.join("/"),
            time_wait: tw.join("/"),
            hazards: r.hazards,
            ok: r.ok(),
        }
    }
}

/// A table comparing several runs side by side: profile, TIME-WAIT length, the stale-arrival
/// funnel and every hazard, so a hazard and the control that prevents it read on one screen.
pub fn compare(rows: &[CompareRow]) -> String {
    let head = [
        "run",
        "os",
        "TIME-WAIT",
        "stale",
        "accepted",
        "expected",
        "corrupted B",
        "assassin.",
        "ACK wars",
        "H3",
        "LAST-ACK RST",
        "result",
    ];
    let body: Vec<[String; 12]> = rows
        .iter()
        .map(|r| {
            let h = &r.hazards;
            [
                r.run.clone(),
                r.os.clone(),
                r.time_wait.clone(),
                h.stale_arrivals.to_string(),
                h.stale_paws_ok.to_string(),
                format!("{:.3}", h.expected_accepted),
                h.corrupted_bytes.to_string(),
                h.assassinations.to_string(),
                h.ack_wars.to_string(),
                h.h3_resets.to_string(),
                h.lastack_resets.to_string(),
                if r.ok { "OK" } else { "FAILED" }.to_string(),
            ]
        })
        .collect();
    let width = |i: usize| {
        body.iter()
            .map(|r| r[i].chars().count())
            .chain([head[i].len()])
            .max()
            .unwrap_or(0)
    };
    let widths: Vec<usize> = (0..head.len()).map(width).collect();
    let mut s = String::from("== compared\n");
    let line = |cells: Vec<&str>| {
        let mut l = String::from("  ");
        for (i, c) in cells.iter().enumerate() {
            let pad = widths[i] - c.chars().count();
            if i < 3 {
                l.push_str(&format!(" {c}{}", " ".repeat(pad)));
            } else {
                l.push_str(&format!(" {}{c}", " ".repeat(pad)));
            }
        }
        l.trim_end().to_string()
    };
    let _ = writeln!(s, "{}", line(head.to_vec()));
    for r in &body {
        let _ = writeln!(s, "{}", line(r.iter().map(String::as_str).collect()));
    }
    s
}

/// The machine-readable summary (`--json`) of one run, documented field by field in
/// `docs/json-summary.md`. Serialised through [`serde_json::Value`], so keys are sorted.
/// Times are virtual, in µs since the start of the run.
#[derive(Debug, Serialize)]
pub struct Summary<'a> {
    /// Scenario name.
    pub scenario: &'a str,
    /// Variant name.
    pub variant: Option<&'a str>,
    /// Run seed.
    pub seed: u64,
    /// Whether every expectation and check held and the script ran to its end.
    pub ok: bool,
    /// When the run stopped (µs).
    pub ended_at_us: u64,
    /// Segments put on the wire, copies included.
    pub segments: u64,
    /// Why the run stopped early.
    pub aborted: Option<&'a str>,
    /// Steps never reached.
    pub unreached_steps: usize,
    /// The hosts.
    pub hosts: Vec<HostInfo>,
    /// One entry per completed step.
    pub steps: Vec<StepSummary<'a>>,
    /// Every TIME-WAIT record of the run.
    pub time_wait: Vec<TimeWaitLife<'a>>,
    /// The scenario's checks.
    pub checks: Vec<CheckSummary<'a>>,
    /// Stale-segment hazards, from ground truth (`host::Hazards`).
    pub hazards: crate::host::Hazards,
}

/// A step of the `--json` summary (`docs/json-summary.md`, `steps[]`).
#[derive(Debug, Serialize)]
pub struct StepSummary<'a> {
    /// Index in `steps`.
    pub index: usize,
    /// Host name.
    pub host: &'a str,
    /// Process.
    pub proc: &'a str,
    /// The call as text.
    pub call: &'a str,
    /// The socket the call acts on (`engine::call_socket`); `None` for fork, exit and a plain
    /// wait.
    pub sock: Option<&'a str>,
    /// The address the call names (bind, connect, wait until bindable), as text.
    pub addr: Option<String>,
    /// When it started (µs).
    pub started_at_us: u64,
    /// When it completed (µs).
    pub done_at_us: u64,
    /// `ok` or the POSIX errno name.
    pub result: &'static str,
    /// What a successful call returned, as text; `None` for an error or when the call
    /// returns nothing but success (socket, setsockopt, shutdown, close, fork, exit).
    pub detail: Option<String>,
    /// The expectation (`ok` or an errno name).
    pub expect: Option<&'static str>,
    /// Whether the expectations held.
    pub met: Option<bool>,
}

/// A TIME-WAIT record of the `--json` summary.
#[derive(Debug, Serialize)]
pub struct TimeWaitLife<'a> {
    /// Host name.
    pub host: &'a str,
    /// The 4-tuple as text.
    pub tuple: &'a str,
    /// Incarnation of the 4-tuple.
    pub incarnation: u32,
    /// When it began (µs).
    pub entered_at_us: u64,
    /// When it ended (µs), `None` if alive at the end.
    pub ended_at_us: Option<u64>,
    /// How long it lived (µs).
    pub lived_us: Option<u64>,
    /// End reason, or `alive`.
    pub reason: &'static str,
    /// Timer restarts.
    pub restarts: u32,
}

/// A check of the `--json` summary.
#[derive(Debug, Serialize)]
pub struct CheckSummary<'a> {
    /// What was checked.
    pub what: &'a str,
    /// Whether it held.
    pub ok: bool,
}

impl<'a> Summary<'a> {
    /// The summary of a run.
    pub fn of(r: &'a RunReport) -> Summary<'a> {
        Summary {
            scenario: &r.name,
            variant: r.variant.as_deref(),
            seed: r.seed,
            ok: r.ok(),
            ended_at_us: r.ended_at.micros(),
            segments: r.segments,
            aborted: r.aborted.as_deref(),
            unreached_steps: r.unreached,
            hosts: r
                .hosts
                .iter()
                .map(|(n, a, os, tw)| HostInfo {
                    name: n.clone(),
                    addr: a.clone(),
                    os,
                    time_wait: *tw,
                })
                .collect(),
            steps: r
                .steps
                .iter()
                .map(|x| StepSummary {
                    index: x.index,
                    host: &x.host,
                    proc: &x.proc,
                    call: &x.call,
                    sock: x.sock.as_deref(),
                    addr: x.addr.map(|a| a.to_string()),
                    started_at_us: x.started_at.micros(),
                    done_at_us: x.done_at.micros(),
                    result: match &x.result {
                        Ok(_) => "ok",
                        Err(e) => e.name(),
                    },
                    detail: x
                        .result
                        .as_ref()
                        .ok()
                        .filter(|d| **d != Detail::None)
                        .map(|d| d.to_string()),
                    expect: x.expect.map(|e| e.map_or("ok", |e| e.name())),
                    met: x.met,
                })
                .collect(),
            time_wait: r
                .time_wait
                .iter()
                .map(|t| TimeWaitLife {
                    host: &t.host,
                    tuple: &t.tuple,
                    incarnation: t.incarnation,
                    entered_at_us: t.entered_at.micros(),
                    ended_at_us: t.ended_at.map(|e| e.micros()),
                    lived_us: t.lived.map(|d| d.micros()),
                    reason: t.reason,
                    restarts: t.restarts,
                })
                .collect(),
            checks: r
                .checks
                .iter()
                .map(|c| CheckSummary {
                    what: &c.what,
                    ok: c.ok,
                })
                .collect(),
            hazards: r.hazards,
        }
    }
}

/// The machine-readable summary (`--json`) as a JSON value (keys sorted).
pub fn json(r: &RunReport) -> serde_json::Value {
    serde_json::to_value(Summary::of(r)).expect("the summary serialises to JSON")
}
