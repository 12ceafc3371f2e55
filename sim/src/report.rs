//! Rendering a [`RunReport`]: the human timeline and summary, and the `--json` summary.

use crate::engine::{Detail, Occupancy, RunReport, StepResult, TimeWaitSummary, WorkloadStats};
use crate::event::HostInfo;
use crate::host::Hazards;
use serde::Serialize;
use std::fmt::Write;

/// The heading, timeline and summary as text, for stdout: [`crate::trace::heading`], the
/// timeline kept in memory (empty when it was streamed), then [`summary_text`].
pub fn text(r: &RunReport) -> String {
    let mut s = crate::trace::heading(&r.name, r.variant.as_deref(), r.seed, &r.hosts);
    for (t, host, line) in &r.recorder.timeline {
        s.push_str(&crate::trace::timeline_line(*t, host, line));
        s.push('\n');
    }
    s.push_str(&summary_text(r));
    s
}

/// The summary as text (what follows the timeline): TIME-WAIT records (the first 50), the
/// workloads and occupancy, unmet expectations, checks, hazards, the closing line.
pub fn summary_text(r: &RunReport) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "-- summary");
    for t in r.time_wait.iter().take(MAX_TIME_WAIT_LINES) {
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
    if r.time_wait.len() > MAX_TIME_WAIT_LINES {
        let _ = writeln!(
            s,
            "   … and {} more TIME-WAIT records (all of them in --json)",
            r.time_wait.len() - MAX_TIME_WAIT_LINES
        );
    }
    for w in &r.workloads {
        let _ = writeln!(s, "   {}", workload_line(w));
    }
    for o in &r.occupancy {
        let _ = writeln!(s, "   {}", occupancy_line(o, r.ended_at));
    }
    let unmet: Vec<_> = r.steps.iter().filter(|x| x.met == Some(false)).collect();
    let reference = r.reference.map(|p| p.name());
    for x in &unmet {
        match reference {
            Some(p) => {
                let _ = writeln!(
                    s,
                    "   differs from {p}: step {} on {}: {}",
                    x.index(),
                    x.host,
                    x.call()
                );
            }
            None => {
                let _ = writeln!(s, "   UNMET step {} on {}: {}", x.index(), x.host, x.call());
            }
        }
    }
    for c in &r.checks {
        let verdict = match (c.ok, reference) {
            (true, _) => "ok".to_string(),
            (false, Some(p)) => format!("differs from {p}"),
            (false, None) => "FAILED".to_string(),
        };
        let _ = writeln!(s, "   check {verdict}: {}", c.what);
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
    let met = match reference {
        Some(p) => format!("outcomes as under {p}"),
        None => "expectations met".to_string(),
    };
    let _ = writeln!(
        s,
        "   {} segments, ended t={}; {}/{} {met}, {}/{} checks -> {}",
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

/// TIME-WAIT records listed one per line in the text summary; the rest are counted.
const MAX_TIME_WAIT_LINES: usize = 50;

/// Errno counts as `EADDRNOTAVAIL 1, ETIMEDOUT 2`.
fn counts(m: &std::collections::BTreeMap<&'static str, u64>) -> String {
    m.iter()
        .map(|(k, v)| format!("{k} {v}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A µs value as a duration.
fn us(v: u64) -> twsim_model::Duration {
    twsim_model::Duration::from_micros(v)
}

/// One workload in one line: connects, failures, exchanges, latency, bytes.
fn workload_line(w: &WorkloadStats) -> String {
    let mut line = format!(
        "workload {}: {} connects, {} ok, {} failed",
        w.name,
        w.attempted,
        w.connected,
        w.failed.values().sum::<u64>()
    );
    if !w.failed.is_empty() {
        let _ = write!(line, " ({})", counts(&w.failed));
    }
    if let Some((n, at, e)) = w.first_failure {
        let _ = write!(line, ", first failure: connect {n} at t={at} ({e})");
    }
    let _ = write!(line, "; {} exchanges completed", w.completed);
    if !w.broken.is_empty() {
        let _ = write!(
            line,
            ", {} broken ({})",
            w.broken.values().sum::<u64>(),
            counts(&w.broken)
        );
    }
    if let (Some(mean), Some(p50), Some(p99)) = (
        w.latency.mean_us(),
        w.latency.quantile_us(0.5),
        w.latency.quantile_us(0.99),
    ) {
        let _ = write!(
            line,
            "; connect latency mean {} p50 {} p99 {}",
            us(mean.round() as u64),
            us(p50),
            us(p99)
        );
    }
    let _ = write!(line, "; {} bytes delivered", w.bytes_delivered);
    if let Some(e) = &w.setup_error {
        let _ = write!(line, "; server not listening ({e})");
    }
    line
}

/// One host's TIME-WAIT occupancy in one line.
fn occupancy_line(o: &Occupancy, end: twsim_model::Instant) -> String {
    let mut line = format!(
        "TIME-WAIT occupancy {}: {} workload records, max {} alive, time-average {:.2}",
        o.host,
        o.records,
        o.max,
        mean_over_run(o, end)
    );
    if let (Some(m), Some(to)) = (o.steady_mean(), o.steady_to) {
        let _ = write!(line, ", {m:.2} from t={} to t={to}", o.steady_from);
    }
    line
}

/// Time-average of the TIME-WAIT count from 0 to `end` (0 for an empty run).
fn mean_over_run(o: &Occupancy, end: twsim_model::Instant) -> f64 {
    if end.micros() == 0 {
        0.0
    } else {
        o.area as f64 / end.micros() as f64
    }
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
    scenario: String,
    variant: Option<String>,
    os: String,
    time_wait: String,
    /// The key steps (`"key": true`): the call, and its result with its completion time.
    key: Vec<(String, String)>,
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
        let key = r
            .steps
            .iter()
            .filter(|s| s.key())
            .map(|s| {
                let res = match &s.result {
                    Ok(_) => "ok",
                    Err(e) => e.name(),
                };
                (s.call(), format!("{res} at {}", s.done_at))
            })
            .collect();
        CompareRow {
            scenario: r.name.clone(),
            variant: r.variant.clone(),
            os: os.join("/"),
            time_wait: tw.join("/"),
            key,
            hazards: r.hazards,
            ok: r.ok(),
        }
    }
}

/// A table comparing several runs side by side, one row per run: profile, TIME-WAIT length,
/// the result and completion time (virtual, seconds) of each key step (`"key": true`) when
/// some run has one, the stale-arrival funnel and every hazard when some run has one, and
/// whether the run met its expectations. Runs of several scenarios are named
/// `scenario [variant]`; each scenario's key calls are listed under the table.
pub fn compare(rows: &[CompareRow]) -> String {
    let mut scenarios: Vec<&str> = Vec::new();
    for r in rows {
        if !scenarios.contains(&r.scenario.as_str()) {
            scenarios.push(&r.scenario);
        }
    }
    let keys = rows.iter().map(|r| r.key.len()).max().unwrap_or(0);
    let hazards = rows.iter().any(CompareRow::has_hazards);
    let mut head: Vec<String> = ["run", "os", "TIME-WAIT"].map(String::from).to_vec();
    for k in 0..keys {
        head.push(if keys == 1 {
            "key call".to_string()
        } else {
            format!("key call {}", k + 1)
        });
    }
    if hazards {
        head.extend(
            [
                "stale",
                "accepted",
                "expected",
                "corrupted B",
                "assassin.",
                "ACK wars",
                "H3",
                "LAST-ACK RST",
            ]
            .map(String::from),
        );
    }
    head.push("result".into());
    let left = 3 + keys;
    let body: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            let run = match (&r.variant, scenarios.len() > 1) {
                (Some(v), true) => format!("{} [{v}]", r.scenario),
                (Some(v), false) => v.clone(),
                (None, _) => r.scenario.clone(),
            };
            let mut cells = vec![run, r.os.clone(), r.time_wait.clone()];
            for k in 0..keys {
                cells.push(r.key.get(k).map_or("-".to_string(), |(_, v)| v.clone()));
            }
            if hazards {
                let h = &r.hazards;
                cells.extend([
                    h.stale_arrivals.to_string(),
                    h.stale_paws_ok.to_string(),
                    format!("{:.3}", h.expected_accepted),
                    h.corrupted_bytes.to_string(),
                    h.assassinations.to_string(),
                    h.ack_wars.to_string(),
                    h.h3_resets.to_string(),
                    h.lastack_resets.to_string(),
                ]);
            }
            cells.push(if r.ok { "OK" } else { "FAILED" }.to_string());
            cells
        })
        .collect();
    let width = |i: usize| {
        body.iter()
            .map(|r| r[i].chars().count())
            .chain([head[i].chars().count()])
            .max()
            .unwrap_or(0)
    };
    let widths: Vec<usize> = (0..head.len()).map(width).collect();
    let mut s = String::from("== compared\n");
    let line = |cells: &[String]| {
        let mut l = String::from("  ");
        for (i, c) in cells.iter().enumerate() {
            let pad = widths[i] - c.chars().count();
            if i < left {
                l.push_str(&format!(" {c}{}", " ".repeat(pad)));
            } else {
                l.push_str(&format!(" {}{c}", " ".repeat(pad)));
            }
        }
        l.trim_end().to_string()
    };
    let _ = writeln!(s, "{}", line(&head));
    for r in &body {
        let _ = writeln!(s, "{}", line(r));
    }
    for sc in &scenarios {
        let Some(r) = rows.iter().find(|r| r.scenario == *sc && !r.key.is_empty()) else {
            continue;
        };
        let calls: Vec<&str> = r.key.iter().map(|(c, _)| c.as_str()).collect();
        let _ = writeln!(s, "   key call of {sc}: {}", calls.join("; "));
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
    /// What the scenario shows (its `description`).
    pub description: Option<&'a str>,
    /// The source it reproduces (its `source`).
    pub source: Option<&'a str>,
    /// The story's reference profile, when the expectations were the story's outcomes under
    /// it rather than requirements (a demo run with `--os`); null otherwise.
    pub reference: Option<&'static str>,
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
    /// Every TIME-WAIT record of the run's script sockets (workload connections' records are
    /// counted in `time_wait_occupancy`).
    pub time_wait: Vec<TimeWaitLife<'a>>,
    /// The scenario's checks.
    pub checks: Vec<CheckSummary<'a>>,
    /// Stale-segment hazards, from ground truth (`host::Hazards`).
    pub hazards: crate::host::Hazards,
    /// What each workload did (empty without workloads).
    pub workloads: Vec<WorkloadSummary<'a>>,
    /// TIME-WAIT occupancy per host (empty without workloads).
    pub time_wait_occupancy: Vec<OccupancySummary<'a>>,
}

/// A workload in the `--json` summary.
#[derive(Debug, Serialize)]
pub struct WorkloadSummary<'a> {
    /// Workload name.
    pub name: &'a str,
    /// Connects attempted.
    pub attempted: u64,
    /// Connects that reached ESTABLISHED.
    pub connected: u64,
    /// Failed connects by errno name.
    pub failed: &'a std::collections::BTreeMap<&'static str, u64>,
    /// The first failed connect (1-based index among the attempts, µs, errno), if any.
    pub first_failure: Option<FirstFailure>,
    /// Exchanges that ended early, by errno name (`EOF`: end of stream too early).
    pub broken: &'a std::collections::BTreeMap<&'static str, u64>,
    /// Exchanges completed (the client read the whole response).
    pub completed: u64,
    /// Request bytes the server read plus response bytes the client read.
    pub bytes_delivered: u64,
    /// Connect latency (`connect()` to ESTABLISHED), µs.
    pub connect_latency: Latency,
    /// Why the server could not listen.
    pub setup_error: Option<&'a str>,
}

/// The first failed connect of a workload.
#[derive(Debug, Serialize)]
pub struct FirstFailure {
    /// 1-based index among the workload's connects.
    pub connect: u64,
    /// When it failed (µs).
    pub at_us: u64,
    /// Errno name.
    pub errno: &'static str,
}

/// Connect latency statistics, µs (`null` when no connect completed). p50 and p99 are the
/// lower edges of fixed histogram buckets at most 1/256 wide (`engine::Histogram`).
#[derive(Debug, Serialize)]
pub struct Latency {
    /// Completed connects.
    pub count: u64,
    /// Exact mean, µs.
    pub mean_us: Option<f64>,
    /// Median, µs.
    pub p50_us: Option<u64>,
    /// 99th percentile, µs.
    pub p99_us: Option<u64>,
    /// Largest, µs.
    pub max_us: Option<u64>,
}

/// One host's TIME-WAIT occupancy in the `--json` summary.
#[derive(Debug, Serialize)]
pub struct OccupancySummary<'a> {
    /// Host name.
    pub host: &'a str,
    /// Most records alive together.
    pub max: usize,
    /// TIME-WAIT records of workload connections (not listed in `time_wait`).
    pub records: u64,
    /// Time-average count from 0 to the end of the run.
    pub mean: f64,
    /// Time-average count over the steady window (`null` if empty).
    pub steady_mean: Option<f64>,
    /// Steady window start (µs): the first workload's start plus this host's TIME-WAIT
    /// length.
    pub steady_from_us: u64,
    /// Steady window end (µs): the last workload arrival.
    pub steady_to_us: Option<u64>,
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
    pub call: String,
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

impl<'a> StepSummary<'a> {
    /// The summary of a step's result.
    pub fn of(x: &'a StepResult) -> StepSummary<'a> {
        StepSummary {
            index: x.index(),
            host: &x.host,
            proc: x.proc(),
            call: x.call(),
            sock: x.sock(),
            addr: x.addr().map(|a| a.to_string()),
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
            expect: x.expect().map(|e| e.map_or("ok", |e| e.name())),
            met: x.met,
        }
    }
}

impl<'a> TimeWaitLife<'a> {
    /// The summary of a TIME-WAIT record's life.
    pub fn of(t: &'a TimeWaitSummary) -> TimeWaitLife<'a> {
        TimeWaitLife {
            host: &t.host,
            tuple: &t.tuple,
            incarnation: t.incarnation,
            entered_at_us: t.entered_at.micros(),
            ended_at_us: t.ended_at.map(|e| e.micros()),
            lived_us: t.lived.map(|d| d.micros()),
            reason: t.reason,
            restarts: t.restarts,
        }
    }
}

impl<'a> Summary<'a> {
    /// The summary of a run.
    pub fn of(r: &'a RunReport) -> Summary<'a> {
        Summary {
            steps: r.steps.iter().map(StepSummary::of).collect(),
            time_wait: r.time_wait.iter().map(TimeWaitLife::of).collect(),
            ..Summary::head(r)
        }
    }

    /// The summary of a run without its steps and TIME-WAIT records (empty lists).
    fn head(r: &'a RunReport) -> Summary<'a> {
        Summary {
            scenario: &r.name,
            variant: r.variant.as_deref(),
            description: r.description.as_deref(),
            source: r.source.as_deref(),
            reference: r.reference.map(|p| p.name()),
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
            steps: Vec::new(),
            time_wait: Vec::new(),
            checks: r
                .checks
                .iter()
                .map(|c| CheckSummary {
                    what: &c.what,
                    ok: c.ok,
                })
                .collect(),
            hazards: r.hazards,
            workloads: r
                .workloads
                .iter()
                .map(|w| WorkloadSummary {
                    name: &w.name,
                    attempted: w.attempted,
                    connected: w.connected,
                    failed: &w.failed,
                    first_failure: w.first_failure.map(|(n, at, e)| FirstFailure {
                        connect: n,
                        at_us: at.micros(),
                        errno: e,
                    }),
                    broken: &w.broken,
                    completed: w.completed,
                    bytes_delivered: w.bytes_delivered,
                    connect_latency: Latency {
                        count: w.latency.count(),
                        mean_us: w.latency.mean_us(),
                        p50_us: w.latency.quantile_us(0.5),
                        p99_us: w.latency.quantile_us(0.99),
                        max_us: w.latency.max_us(),
                    },
                    setup_error: w.setup_error.as_deref(),
                })
                .collect(),
            time_wait_occupancy: r
                .occupancy
                .iter()
                .map(|o| OccupancySummary {
                    host: &o.host,
                    max: o.max,
                    records: o.records,
                    mean: mean_over_run(o, r.ended_at),
                    steady_mean: o.steady_mean(),
                    steady_from_us: o.steady_from.micros(),
                    steady_to_us: o.steady_to.map(|t| t.micros()),
                })
                .collect(),
        }
    }
}

/// The machine-readable summary (`--json`) as a JSON value (keys sorted).
pub fn json(r: &RunReport) -> serde_json::Value {
    serde_json::to_value(Summary::of(r)).expect("the summary serialises to JSON")
}

/// Writes the `--json` summary of `runs` to `w`, pretty-printed (two-space indents, no final
/// newline): the object of [`json`] for one run, an array of them for several. The bytes are
/// those of [`json`]'s values pretty-printed, keys sorted, but each step and each TIME-WAIT
/// record becomes a value only while it is written, so memory does not grow with the length
/// of the summary.
///
/// # Errors
///
/// The first error writing to `w`.
pub fn write_json<W: std::io::Write>(w: W, runs: &[&RunReport]) -> serde_json::Result<()> {
    match runs {
        [one] => serde_json::to_writer_pretty(w, &Sorted(one)),
        _ => serde_json::to_writer_pretty(w, &runs.iter().map(|r| Sorted(r)).collect::<Vec<_>>()),
    }
}

/// A run's summary serialised with sorted keys, its long lists element by element.
struct Sorted<'a>(&'a RunReport);

impl Serialize for Sorted<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::{Error, SerializeMap};
        let r = self.0;
        let head = serde_json::to_value(Summary::head(r)).map_err(S::Error::custom)?;
        let serde_json::Value::Object(fields) = head else {
            return Err(S::Error::custom("a summary is an object"));
        };
        let mut map = s.serialize_map(Some(fields.len()))?;
        for (k, v) in &fields {
            match k.as_str() {
                "steps" => map.serialize_entry(k, &Each(&r.steps, StepSummary::of))?,
                "time_wait" => map.serialize_entry(k, &Each(&r.time_wait, TimeWaitLife::of))?,
                _ => map.serialize_entry(k, v)?,
            }
        }
        map.end()
    }
}

/// A list serialised element by element, each through a [`serde_json::Value`] (so its keys
/// are sorted) made by `F` only while it is written.
struct Each<'a, T, F>(&'a [T], F);

impl<'a, T, U: Serialize, F: Fn(&'a T) -> U> Serialize for Each<'a, T, F> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::{Error, SerializeSeq};
        let mut seq = s.serialize_seq(Some(self.0.len()))?;
        for x in self.0 {
            let v = serde_json::to_value((self.1)(x)).map_err(S::Error::custom)?;
            seq.serialize_element(&v)?;
        }
        seq.end()
    }
}
