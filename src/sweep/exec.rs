//! Running a sweep (`twsim sweep`) and merging shards (`twsim merge`).
//!
//! Runs are numbered `point × replications + replication`; `--shard K/N` takes the runs whose
//! number is K − 1 modulo N. Runs go to a rayon pool of `--jobs` threads; results are appended
//! to the output in run order (never completion order) as they become available, so an
//! interrupted sweep leaves a prefix that a rerun resumes: runs already in the output are
//! checked against the spec and skipped. At the end the whole file is rewritten sorted by
//! (point, replication), and the summary written beside it, both through
//! [`crate::output::write_all`].

use super::record::{parse_all, Ordered, Record};
use super::spec::{Source, Sweep};
use super::{run_seed, stats};
use crate::output;
use rayon::prelude::*;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use twsim_sim::engine::{run, RunOptions};
use twsim_sim::report;
use twsim_sim::scenario::Overrides;

/// `--shard K/N`: the K-th of N slices (1 ≤ K ≤ N).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    /// 1-based slice number.
    pub k: u64,
    /// Number of slices.
    pub n: u64,
}

impl std::str::FromStr for Shard {
    type Err = String;
    fn from_str(s: &str) -> Result<Shard, String> {
        let bad = || format!("{s:?}: a shard is K/N with 1 <= K <= N, e.g. 2/8");
        let (k, n) = s.split_once('/').ok_or_else(bad)?;
        let (k, n): (u64, u64) = (
            k.trim().parse().map_err(|_| bad())?,
            n.trim().parse().map_err(|_| bad())?,
        );
        if k == 0 || n == 0 || k > n {
            return Err(bad());
        }
        Ok(Shard { k, n })
    }
}

/// How to run.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// Worker threads (at least 1).
    pub jobs: usize,
    /// Only this slice of the runs.
    pub shard: Option<Shard>,
    /// Draw a progress bar on stderr (drawn only when stderr is a terminal).
    pub progress: bool,
}

/// What a sweep did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Done {
    /// Runs found in the output and skipped.
    pub resumed: u64,
    /// Runs run now.
    pub ran: u64,
}

/// One run: the point's scenario with the replication's seed, its metrics.
///
/// # Errors
///
/// When a metric's pointer names nothing in the run's `--json` summary, or not a number or
/// boolean.
pub fn run_one(sw: &Sweep, point: usize, rep: u64) -> Result<Record, String> {
    let p = &sw.points[point];
    let seed = run_seed(sw.seed, point as u64, rep);
    let ov = Overrides {
        seed: Some(seed),
        ..Overrides::default()
    };
    let sc = p
        .scenario
        .resolve(&sw.scenario_file, &p.text, sw.variant, &ov)
        .map_err(|e| e.to_string())?;
    let rep_ = run(
        &sc,
        RunOptions {
            trace: false,
            pcap: false,
            quiet: true,
        },
    );
    let summary = report::json(&rep_);
    let mut metrics = Vec::new();
    for m in &sw.metrics {
        let v: Value = match &m.source {
            Source::Ok => Value::from(u8::from(rep_.ok())),
            Source::TimeWaitRecords => Value::from(
                summary
                    .get("time_wait")
                    .and_then(Value::as_array)
                    .map_or(0, Vec::len),
            ),
            Source::FailedSteps => Value::from(
                summary
                    .get("steps")
                    .and_then(Value::as_array)
                    .map_or(0, |s| {
                        s.iter()
                            .filter(|s| s.get("met") == Some(&Value::Bool(false)))
                            .count()
                    }),
            ),
            Source::Pointer(ptr) => match summary.pointer(ptr) {
                Some(Value::Bool(b)) => Value::from(u8::from(*b)),
                Some(v @ Value::Number(_)) => v.clone(),
                Some(other) => {
                    return Err(format!(
                        "{}: metric {:?}: {ptr} is {other} in the run's summary, not a number (point {point}, replication {rep})",
                        sw.file, m.name
                    ))
                }
                None if m.default.is_some() => m.default.clone().expect("checked"),
                None => {
                    return Err(format!(
                        "{}: metric {:?}: {ptr} names nothing in the run's --json summary (point {point}, replication {rep}; a metric's \"default\" gives the value of an absent key)",
                        sw.file, m.name
                    ))
                }
            },
        };
        let v = if m.indicator {
            Value::from(u8::from(v.as_f64().unwrap_or(0.0) > 0.0))
        } else {
            v
        };
        metrics.push((m.name.clone(), v));
    }
    Ok(expected(sw, point, rep, Ordered(metrics)))
}

/// The record of (point, rep) with `metrics`: what its other fields must be.
fn expected(sw: &Sweep, point: usize, rep: u64, metrics: Ordered) -> Record {
    let p = &sw.points[point];
    Record {
        point: point as u64,
        replication: rep,
        seed: run_seed(sw.seed, point as u64, rep),
        params: Ordered(
            sw.axes
                .iter()
                .zip(&p.values)
                .map(|(a, v)| (a.name.clone(), v.clone()))
                .collect(),
        ),
        metrics,
        analytic: Ordered(
            sw.analytic
                .iter()
                .zip(&p.analytic)
                .filter_map(|(a, x)| {
                    serde_json::Number::from_f64(*x).map(|n| (a.metric.clone(), Value::Number(n)))
                })
                .collect(),
        ),
    }
}

/// Whether `r` is a run of `sw`: its point and replication exist, and its seed, parameters,
/// metric names and analytic values are the ones `sw` gives it.
fn belongs(sw: &Sweep, r: &Record) -> bool {
    if r.point >= sw.points.len() as u64 || r.replication >= sw.replications {
        return false;
    }
    let want = expected(sw, r.point as usize, r.replication, r.metrics.clone());
    want == *r
        && r.metrics.keys()
            == sw
                .metrics
                .iter()
                .map(|m| m.name.as_str())
                .collect::<Vec<_>>()
}

/// Runs `sw` (its shard), resuming from `out` when it holds runs of this sweep, and writes
/// `out` (sorted) and the summary.
///
/// # Errors
///
/// An output path that cannot be written, an `out` that holds lines of another sweep or that
/// is not a results file, a metric that is not a number in a run.
pub fn sweep(
    sw: &Sweep,
    out: &Path,
    summary: Option<&Path>,
    opts: Options,
) -> Result<Done, String> {
    let mut paths = vec![out.to_path_buf()];
    paths.extend(summary.map(Path::to_path_buf));
    output::check_all(&paths).map_err(|e| e.to_string())?;
    let name = out.display().to_string();
    // Resume: the runs already in the output.
    let mut have: BTreeMap<(u64, u64), Record> = BTreeMap::new();
    let mut tail = None;
    if out.exists() {
        let text = std::fs::read_to_string(out).map_err(|e| format!("{name}: {e}"))?;
        let (recs, t) = parse_all(&name, &text)?;
        tail = t;
        for r in recs {
            if !belongs(sw, &r) {
                return Err(format!(
                    "{name}: point {} replication {} is not a run of {} (another sweep's results, or the spec changed); write to another file",
                    r.point, r.replication, sw.file
                ));
            }
            if have.insert(r.key(), r).is_some() {
                return Err(format!("{name}: a run appears twice"));
            }
        }
    }
    let reps = sw.replications;
    let total = sw.points.len() as u64 * reps;
    let todo: Vec<(usize, u64)> = (0..total)
        .filter(|i| opts.shard.is_none_or(|s| i % s.n == s.k - 1))
        .map(|i| ((i / reps) as usize, i % reps))
        .filter(|&(p, r)| !have.contains_key(&(p as u64, r)))
        .collect();
    let resumed = have.len() as u64;
    // Each result with its line, serialised by the worker that ran it.
    let mut fresh: Vec<(Record, String)> = Vec::with_capacity(todo.len());
    if let Some(&(p, r)) = todo.first() {
        // The first run shows a bad metric before anything is written.
        let first = run_one(sw, p, r)?;
        let line = first.line();
        fresh.push((first, line));
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(out)
            .map_err(|e| format!("{name}: cannot write: {e}"))?;
        if let Some(at) = tail {
            file.set_len(at as u64)
                .map_err(|e| format!("{name}: cannot write: {e}"))?;
        }
        // Buffered: a killed sweep loses at most the unflushed lines, which a rerun runs again.
        let mut file = std::io::BufWriter::new(file);
        let append = |file: &mut std::io::BufWriter<std::fs::File>, line: &str, flush: bool| {
            writeln!(file, "{line}")
                .and_then(|()| if flush { file.flush() } else { Ok(()) })
                .map_err(|e| format!("{name}: cannot write: {e}"))
        };
        append(&mut file, &fresh[0].1, true)?;
        let bar = if opts.progress {
            indicatif::ProgressBar::with_draw_target(
                Some(todo.len() as u64),
                indicatif::ProgressDrawTarget::stderr(),
            )
        } else {
            indicatif::ProgressBar::hidden()
        };
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{elapsed_precise} [{bar:40}] {pos}/{len} runs, ETA {eta}",
            )
            .expect("a valid template")
            .progress_chars("=> "),
        );
        bar.inc(1);
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(opts.jobs.max(1))
            .build()
            .map_err(|e| format!("--jobs: {e}"))?;
        let stop = AtomicBool::new(false);
        let rest = &todo[1..];
        type Done = Result<(Record, String), String>;
        let (tx, rx) = mpsc::channel::<(usize, Done)>();
        let mut failure = None;
        std::thread::scope(|s| {
            let stop = &stop;
            s.spawn(move || {
                pool.install(|| {
                    rest.par_iter()
                        .enumerate()
                        .for_each_with(tx, |tx, (i, &(p, r))| {
                            if !stop.load(Ordering::Relaxed) {
                                let res = run_one(sw, p, r).map(|rec| {
                                    let line = rec.line();
                                    (rec, line)
                                });
                                let _ = tx.send((i, res));
                            }
                        });
                });
            });
            // Results in run order: the next one is written as soon as it exists.
            let mut pending: BTreeMap<usize, (Record, String)> = BTreeMap::new();
            let mut next = 0;
            for (i, res) in rx {
                match res {
                    Ok(rec) => {
                        pending.insert(i, rec);
                    }
                    Err(e) => {
                        stop.store(true, Ordering::Relaxed);
                        failure.get_or_insert(e);
                        continue;
                    }
                }
                while let Some(rec) = pending.remove(&next) {
                    if failure.is_none() {
                        if let Err(e) = append(&mut file, &rec.1, next % 1024 == 1023) {
                            stop.store(true, Ordering::Relaxed);
                            failure = Some(e);
                        }
                    }
                    fresh.push(rec);
                    next += 1;
                    bar.inc(1);
                }
            }
        });
        bar.finish_and_clear();
        if let Some(e) = failure {
            let _ = file.flush();
            return Err(e);
        }
        file.flush()
            .map_err(|e| format!("{name}: cannot write: {e}"))?;
    }
    let ran = fresh.len() as u64;
    let mut lines: BTreeMap<(u64, u64), String> = BTreeMap::new();
    for (r, line) in fresh {
        lines.insert(r.key(), line);
        have.insert(r.key(), r);
    }
    let all: Vec<Record> = have.into_values().collect();
    let text: Vec<String> = all
        .iter()
        .map(|r| lines.remove(&r.key()).unwrap_or_else(|| r.line()))
        .collect();
    write_results(&all, &text, out, summary)?;
    Ok(Done { resumed, ran })
}

/// Writes `lines` (the sorted `records`' lines) to `out` and the records' summary to
/// `summary`, all or nothing.
fn write_results(
    records: &[Record],
    lines: &[String],
    out: &Path,
    summary: Option<&Path>,
) -> Result<(), String> {
    let mut text = String::with_capacity(lines.iter().map(|l| l.len() + 1).sum());
    for l in lines {
        text.push_str(l);
        text.push('\n');
    }
    let mut files = vec![(out.to_path_buf(), text.into_bytes())];
    if let Some(s) = summary {
        let rows = stats::summarize(records).map_err(|e| format!("{}: {e}", out.display()))?;
        files.push((s.to_path_buf(), stats::csv(&rows)));
    }
    output::write_all(&files).map_err(|e| e.to_string())
}

/// `twsim merge`: the union of the results in `parts` (each run once; a run found in two parts
/// must be the same line), sorted, to `out`, with its summary. Merging the shards 1/N … N/N of
/// a sweep gives exactly the unsharded results.
///
/// # Errors
///
/// A part that cannot be read or is not a results file (named with its line), a run that two
/// parts give differently, parts of different sweeps, an output that cannot be written.
pub fn merge(parts: &[PathBuf], out: &Path, summary: Option<&Path>) -> Result<u64, String> {
    let mut paths = vec![out.to_path_buf()];
    paths.extend(summary.map(Path::to_path_buf));
    output::check_all(&paths).map_err(|e| e.to_string())?;
    let mut all: BTreeMap<(u64, u64), Record> = BTreeMap::new();
    let mut seen_files = BTreeSet::new();
    for p in parts {
        let name = p.display().to_string();
        if !seen_files.insert(p.clone()) {
            return Err(format!("{name}: named twice"));
        }
        let text = std::fs::read_to_string(p).map_err(|e| format!("{name}: {e}"))?;
        let (recs, tail) = parse_all(&name, &text)?;
        if tail.is_some() {
            return Err(format!(
                "{name}: the last line is unfinished (an interrupted sweep: rerun it to resume)"
            ));
        }
        for r in recs {
            match all.get(&r.key()) {
                Some(prev) if *prev != r => {
                    return Err(format!(
                    "{name}: point {} replication {} differs from the same run in an earlier part",
                    r.point, r.replication
                ))
                }
                _ => {
                    all.insert(r.key(), r);
                }
            }
        }
    }
    let records: Vec<Record> = all.into_values().collect();
    // Parts of different sweeps show as records that do not share axes and metrics.
    stats::summarize(&records)?;
    let lines: Vec<String> = records.iter().map(Record::line).collect();
    write_results(&records, &lines, out, summary)?;
    Ok(records.len() as u64)
}
