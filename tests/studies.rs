//! The port-exhaustion and TIME-WAIT-occupancy studies (`examples/studies/`) against their
//! analytic curves: reduced versions of each sweep (fewer points and replications, built from
//! the shipped spec and base), and the full runs' summaries kept beside them, which must agree
//! with the curves and draw the figures in `docs/figures/`.
//!
//! Port exhaustion is deterministic (periodic arrivals, fixed delays, no loss: the seed changes
//! the ISNs and which ports are drawn, not how many are free), so its counts must equal the
//! formula's exactly. Occupancy is a time-average of a Poisson process, held to Little's law
//! within 4 standard errors computed from the process itself (below), not from the sample.

mod common;

use common::*;
use serde_json::{json, Value};
use std::path::Path;

const PORTS: &str = "examples/studies/port-exhaustion";
const OCCUPANCY: &str = "examples/studies/time-wait-occupancy";

fn json_of(path: &str) -> Value {
    let p = Path::new(ROOT).join(path);
    let text = std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// Runs the study `dir`'s spec and base after `edit` changed them (in a temp folder), and
/// returns its summary's rows.
fn run_reduced(t: &Tmp, dir: &str, edit: impl FnOnce(&mut Value, &mut Value)) -> Vec<Row> {
    let (mut spec, mut base) = (
        json_of(&format!("{dir}/sweep.json")),
        json_of(&format!("{dir}/base.json")),
    );
    edit(&mut spec, &mut base);
    std::fs::write(t.path("base.json"), base.to_string()).unwrap();
    std::fs::write(t.path("sweep.json"), spec.to_string()).unwrap();
    let sum = t.path("s.csv");
    ok(
        &twsim(&[
            "sweep",
            &t.path("sweep.json"),
            "-o",
            &t.path("r.jsonl"),
            "--summary",
            &sum,
        ]),
        dir,
    );
    rows(&std::fs::read_to_string(&sum).unwrap())
}

/// One row of a summary CSV.
#[derive(Debug, Clone)]
struct Row {
    params: Vec<(String, String)>,
    metric: String,
    n: f64,
    mean: f64,
    std_error: Option<f64>,
    ci: Option<(f64, f64)>,
    analytic: Option<f64>,
}

impl Row {
    fn param(&self, k: &str) -> &str {
        &self.params.iter().find(|(n, _)| n == k).expect("an axis").1
    }
    /// A numeric axis value: a number, or a duration in whole `s`, `ms` or `us`.
    fn num(&self, k: &str) -> f64 {
        let v = self.param(k);
        v.parse().unwrap_or_else(|_| {
            let (x, unit) = v.split_at(v.find(|c: char| c.is_alphabetic()).expect("unit"));
            let x: f64 = x.parse().expect("a number");
            x * match unit {
                "s" => 1.0,
                "ms" => 1e-3,
                "us" => 1e-6,
                u => panic!("unit {u}"),
            }
        })
    }
}

fn rows(csv: &str) -> Vec<Row> {
    let mut rd = csv::Reader::from_reader(csv.as_bytes());
    let head: Vec<String> = rd.headers().unwrap().iter().map(String::from).collect();
    let m = head.iter().position(|h| h == "metric").unwrap();
    rd.records()
        .map(|r| {
            let r = r.unwrap();
            let f = |i: usize| (!r[i].is_empty()).then(|| r[i].parse::<f64>().unwrap());
            Row {
                params: (1..m)
                    .map(|i| (head[i].clone(), r[i].to_string()))
                    .collect(),
                metric: r[m].to_string(),
                n: f(m + 1).unwrap(),
                mean: f(m + 2).unwrap(),
                std_error: f(m + 3),
                ci: f(m + 4).zip(f(m + 5)),
                analytic: f(m + 6),
            }
        })
        .collect()
}

fn metric<'a>(rs: &'a [Row], name: &str) -> Vec<&'a Row> {
    rs.iter().filter(|r| r.metric == name).collect()
}

/// Every point's counts equal the formula's, every replication the same (no spread), and
/// every connect is accounted for (attempted = connected + failed with EADDRNOTAVAIL).
fn exact(rs: &[Row]) {
    for r in rs.iter().filter(|r| r.metric != "attempted") {
        assert_eq!(Some(r.mean), r.analytic, "{r:?}");
        assert!(r.std_error.is_none_or(|s| s == 0.0), "{r:?}");
    }
    let (a, c, f) = (
        metric(rs, "attempted"),
        metric(rs, "connected"),
        metric(rs, "failed"),
    );
    assert_eq!((a.len(), c.len()), (f.len(), f.len()));
    for ((a, c), f) in a.iter().zip(&c).zip(&f) {
        assert_eq!(a.mean, c.mean + f.mean, "{a:?}");
    }
}

/// Whether a connect fails at rate `rate` (per second) over `ports` ports held for `hold_us`
/// each: the capacity P / H of time-wait.md, strictly exceeded (a port is free again at the
/// instant its record ends).
fn above_knee(rate: f64, ports: f64, hold_us: f64) -> bool {
    rate * hold_us > ports * 1e6
}

#[test]
fn port_exhaustion_counts_follow_the_cycles_at_the_knee() {
    // 100 ports: the knee P / H = 100 / 1.0006 s = 99.94/s lies between 80/s and 100/s; with
    // T_TW = 999.4 ms, H = 1 s exactly, so at 100/s every port is free again at the instant
    // the 100th later connect arrives, and none fails.
    let t = Tmp::new("studies", "ports-knee");
    let rs = run_reduced(&t, PORTS, |spec, base| {
        base["ephemeral_ports"] = json!([40000, 40099]);
        base["workloads"][0]["duration"] = json!("3s");
        spec["replications"] = json!(3);
        spec["axes"][0]["values"] = json!([80, 100, 125, 200]);
        spec["axes"][1]["values"] = json!([[40000, 40099]]);
        spec["axes"]
            .as_array_mut()
            .unwrap()
            .push(json!({"name": "tw", "pointer": "/hosts/1/time_wait/length",
                         "values": ["1s", "999400us"]}));
        for a in spec["analytic"].as_array_mut().unwrap() {
            a["params"]["duration"] = json!("3s");
            a["params"]["t_tw"] = json!("tw");
        }
    });
    exact(&rs);
    let failed = metric(&rs, "failed");
    assert_eq!(failed.len(), 8);
    for r in &failed {
        assert_eq!(r.n, 3.0);
        let hold_us = 600.0 + (r.num("tw") * 1e6).round();
        let above = above_knee(r.num("rate"), 100.0, hold_us);
        assert_eq!(r.mean > 0.0, above, "{r:?}");
    }
    // Both sides of the knee, and the tie, are exercised.
    let at_100: Vec<f64> = failed
        .iter()
        .filter(|r| r.num("rate") == 100.0)
        .map(|r| r.mean)
        .collect();
    assert!(
        at_100.len() == 2 && at_100[0] > 0.0 && at_100[1] == 0.0,
        "{at_100:?}"
    );
}

#[test]
fn port_exhaustion_study_agrees_exactly_on_both_ranges() {
    // The shipped study at two of its rates: 20 000/s is between the IANA knee (16 374/s) and
    // the Linux one (28 215/s), 31 250/s above both.
    let t = Tmp::new("studies", "ports");
    let rs = run_reduced(&t, PORTS, |spec, _| {
        spec["axes"][0]["values"] = json!([20000, 31250]);
    });
    exact(&rs);
    let failed = metric(&rs, "failed");
    assert_eq!(failed.len(), 4);
    for r in &failed {
        let p = if r.param("ports") == "[32768,60999]" {
            28232.0
        } else {
            16384.0
        };
        assert_eq!(
            r.mean > 0.0,
            above_knee(r.num("rate"), p, 1_000_600.0),
            "{r:?}"
        );
    }
}

/// The standard deviation of the time-average over a window of `w` seconds of the number of
/// records alive when records start at Poisson rate `rate` and live `t_tw` each (an M/D/∞
/// count): by Campbell's theorem the variance is (rate/w²)·∫ℓ(s)² ds, ℓ(s) the part of a record
/// started at s that lies inside the window, = (rate·t_tw²/w)·(1 − t_tw/(3w)) for w ≥ t_tw.
fn occupancy_sd(rate: f64, t_tw: f64, w: f64) -> f64 {
    (rate * t_tw * t_tw / w * (1.0 - t_tw / (3.0 * w))).sqrt()
}

/// Every point's occupancy within 4 standard errors (the process's, over `n` replications) of
/// λ·T_TW, and the sample's standard error within a factor 2 of it; `duration` is the
/// workload's, the steady window the part after T_TW.
fn littles_law(rs: &[Row], duration: f64) {
    let occ = metric(rs, "occupancy");
    assert!(!occ.is_empty());
    for r in occ {
        let (rate, t_tw) = (r.num("close_rate"), r.num("time_wait"));
        let want = r.analytic.expect("an analytic value");
        assert_eq!(want, rate * t_tw);
        let se = occupancy_sd(rate, t_tw, duration - t_tw) / r.n.sqrt();
        assert!(
            (r.mean - want).abs() <= 4.0 * se,
            "{r:?}: {} standard errors",
            (r.mean - want) / se
        );
        let s = r.std_error.expect("replications");
        assert!(s > se / 2.0 && s < 2.0 * se, "{r:?}: SE {s}, expected {se}");
    }
    // Every connection left one record: a Poisson count of mean λ·D.
    for r in metric(rs, "records") {
        let lambda_d = r.num("close_rate") * duration;
        let se = (lambda_d / r.n).sqrt();
        assert!((r.mean - lambda_d).abs() <= 4.0 * se, "{r:?}");
    }
}

#[test]
fn occupancy_study_follows_littles_law() {
    let t = Tmp::new("studies", "occupancy");
    let rs = run_reduced(&t, OCCUPANCY, |spec, base| {
        base["workloads"][0]["duration"] = json!("6s");
        spec["replications"] = json!(10);
        spec["axes"][0]["values"] = json!([50, 200, 800]);
        spec["axes"][1]["values"] = json!(["1s"]);
    });
    assert_eq!(metric(&rs, "occupancy").len(), 3);
    littles_law(&rs, 6.0);
}

/// The full run's summary kept in the study's folder draws `docs/figures/FIGURE.svg`
/// (`TWSIM_BLESS=1` rewrites it), and its rows.
fn kept(dir: &str, figure: &str) -> Vec<Row> {
    let sum = Path::new(ROOT).join(dir).join("summary.csv");
    let t = Tmp::new("studies", figure);
    plot_is_kept_figure(&t, &sum.display().to_string(), figure);
    rows(&std::fs::read_to_string(&sum).unwrap())
}

#[test]
fn the_kept_full_runs_agree_and_draw_the_figures() {
    let spec = json_of(&format!("{PORTS}/sweep.json"));
    let rs = kept(PORTS, "port-exhaustion");
    exact(&rs);
    let rates = spec["axes"][0]["values"].as_array().unwrap().len();
    assert_eq!(metric(&rs, "failed").len(), 2 * rates, "every point kept");
    let rs = kept(OCCUPANCY, "time-wait-occupancy");
    let spec = json_of(&format!("{OCCUPANCY}/sweep.json"));
    let base = json_of(&format!("{OCCUPANCY}/base.json"));
    assert_eq!(base["workloads"][0]["duration"], "12s");
    littles_law(&rs, 12.0);
    let occ = metric(&rs, "occupancy");
    assert_eq!(occ.len(), 12, "every point kept");
    assert_eq!(occ[0].n, spec["replications"].as_f64().unwrap());
    // With this many points the 95% intervals are checked too: at least 85% hold λ·T_TW.
    let inside = occ
        .iter()
        .filter(|r| {
            r.ci.is_some_and(|(l, h)| l <= r.analytic.unwrap() && r.analytic.unwrap() <= h)
        })
        .count();
    assert!(inside * 100 >= occ.len() * 85, "{inside} of {}", occ.len());
}
