//! `twsim sweep`, `merge` and `plot` through the CLI: results independent of `--jobs` and of
//! sharding, resume, bad input, and the shipped studies against their analytic curves.

mod common;

use common::*;
use std::path::Path;

const CORRUPTION: &str = "examples/studies/corruption/sweep.json";
const ASSASSINATION: &str = "examples/studies/assassination/sweep.json";

fn read(p: &str) -> Vec<u8> {
    std::fs::read(p).unwrap_or_else(|e| panic!("{p}: {e}"))
}

#[test]
fn jobs_do_not_change_the_results() {
    let t = Tmp::new("sweep", "jobs");
    let (a, b) = (t.path("j1.jsonl"), t.path("j2.jsonl"));
    let (sa, sb) = (t.path("j1.csv"), t.path("j2.csv"));
    ok(
        &twsim(&[
            "sweep",
            CORRUPTION,
            "-o",
            &a,
            "--summary",
            &sa,
            "--jobs",
            "1",
        ]),
        "jobs 1",
    );
    ok(
        &twsim(&[
            "sweep",
            CORRUPTION,
            "-o",
            &b,
            "--summary",
            &sb,
            "--jobs",
            "2",
        ]),
        "jobs 2",
    );
    assert_eq!(read(&a), read(&b));
    assert_eq!(read(&sa), read(&sb));
    // Not on a terminal: no progress bar, nothing on stderr or stdout.
    let o = twsim(&["sweep", CORRUPTION, "-o", &a, "--jobs", "2"]);
    ok(&o, "rerun");
    assert!(o.stderr.is_empty() && o.stdout.is_empty(), "{o:?}");
    assert_eq!(read(&a), read(&b), "a complete output is left as it was");
    let text = String::from_utf8(read(&a)).unwrap();
    // 27 points × 400 replications, in (point, replication) order.
    assert_eq!(text.lines().count(), 27 * 400);
    let first = text.lines().next().unwrap();
    assert!(
        first.starts_with(r#"{"point":0,"replication":0,"seed":"#)
            && first.contains(r#""params":{"time_wait":"1s","route_delay":"5s"}"#),
        "{first}"
    );
    let last = text.lines().last().unwrap();
    assert!(
        last.starts_with(r#"{"point":26,"replication":399,"#),
        "{last}"
    );
}

#[test]
fn shards_merged_equal_the_whole() {
    let t = Tmp::new("sweep", "shards");
    let whole = t.path("whole.jsonl");
    ok(
        &twsim(&[
            "sweep",
            ASSASSINATION,
            "-o",
            &whole,
            "--summary",
            &t.path("whole.csv"),
        ]),
        "whole",
    );
    for n in [2u32, 7] {
        let mut parts = Vec::new();
        for k in 1..=n {
            let p = t.path(&format!("part-{k}-of-{n}.jsonl"));
            ok(
                &twsim(&[
                    "sweep",
                    ASSASSINATION,
                    "-o",
                    &p,
                    "--shard",
                    &format!("{k}/{n}"),
                ]),
                "shard",
            );
            parts.push(p);
        }
        // Each shard holds its own runs only, all of them.
        let sizes: Vec<usize> = parts
            .iter()
            .map(|p| String::from_utf8(read(p)).unwrap().lines().count())
            .collect();
        assert_eq!(sizes.iter().sum::<usize>(), 10 * 400, "{sizes:?}");
        let merged = t.path(&format!("merged-{n}.jsonl"));
        let msum = t.path(&format!("merged-{n}.csv"));
        // In any order.
        let mut args = vec!["merge"];
        args.extend(parts.iter().rev().map(String::as_str));
        args.extend(["-o", &merged, "--summary", &msum]);
        ok(&twsim(&args), "merge");
        assert_eq!(read(&merged), read(&whole), "{n} shards");
        assert_eq!(read(&msum), read(&t.path("whole.csv")), "{n} shards");
    }
}

#[test]
fn an_interrupted_sweep_resumes_to_the_same_results() {
    let t = Tmp::new("sweep", "resume");
    let whole = t.path("whole.jsonl");
    ok(&twsim(&["sweep", ASSASSINATION, "-o", &whole]), "whole");
    let full = read(&whole);
    // Cut in the middle of a line, as a killed sweep leaves it.
    let part = t.path("part.jsonl");
    std::fs::write(&part, &full[..full.len() / 3 + 17]).unwrap();
    ok(
        &twsim(&["sweep", ASSASSINATION, "-o", &part, "--jobs", "2"]),
        "resume",
    );
    assert_eq!(read(&part), full);
    // Lines of another sweep are refused, and the file is left as it was.
    let other = t.path("other.jsonl");
    ok(
        &twsim(&["sweep", CORRUPTION, "-o", &other, "--shard", "1/50"]),
        "other",
    );
    let before = read(&other);
    let e = bad(
        &twsim(&["sweep", ASSASSINATION, "-o", &other]),
        "another sweep's results",
    );
    assert!(e.contains("is not a run of"), "{e}");
    assert_eq!(read(&other), before);
}

#[test]
fn merge_refuses_conflicts_and_other_sweeps() {
    let t = Tmp::new("sweep", "merge");
    let (a, c) = (t.path("a.jsonl"), t.path("c.jsonl"));
    ok(
        &twsim(&["sweep", ASSASSINATION, "-o", &a, "--shard", "1/20"]),
        "a",
    );
    // Runs (point 0, replications 1, 101, …) that the first part does not have.
    ok(
        &twsim(&["sweep", CORRUPTION, "-o", &c, "--shard", "2/100"]),
        "c",
    );
    let out = t.path("m.jsonl");
    let e = bad(&twsim(&["merge", &a, &c, "-o", &out]), "two sweeps");
    assert!(e.contains("different sweeps"), "{e}");
    // The same run with another result.
    let text = String::from_utf8(read(&a)).unwrap();
    let first = text.lines().next().unwrap();
    let changed = first.replace(r#""time_wait_records":1"#, r#""time_wait_records":2"#);
    assert_ne!(changed, first);
    let b = t.path("b.jsonl");
    std::fs::write(&b, format!("{changed}\n")).unwrap();
    let e = bad(&twsim(&["merge", &a, &b, "-o", &out]), "conflict");
    assert!(e.contains("differs from the same run"), "{e}");
    let e = bad(&twsim(&["merge", &a, &a, "-o", &out]), "twice");
    assert!(e.contains("named twice"), "{e}");
    assert!(!Path::new(&out).exists());
}

/// Writes `spec` as `sweep.json` beside a copy of the assassination study's base.
fn spec_file(t: &Tmp, spec: &str) -> String {
    std::fs::copy(
        Path::new(ROOT).join("examples/studies/assassination/base.json"),
        t.0.join("base.json"),
    )
    .unwrap();
    let p = t.path("sweep.json");
    std::fs::write(&p, spec).unwrap();
    p
}

#[test]
fn bad_specs_are_refused_with_their_position() {
    let t = Tmp::new("sweep", "bad");
    let good = r#"{"name": "s", "base": "base.json", "seed": 1, "replications": 2,
 "axes": [{"name": "d", "pointer": "/network/routes/1/delay/exponential/mean", "values": ["5s", "10s"]}],
 "metrics": [{"name": "a", "pointer": "/hazards/assassinations"}]}"#;
    let out = t.path("out.jsonl");
    let p = spec_file(&t, good);
    ok(&twsim(&["sweep", &p, "-o", &out]), "the good spec");
    std::fs::remove_file(&out).unwrap();
    for (what, from, to, want) in [
        (
            "unknown field",
            r#""seed": 1"#,
            r#""seed": 1, "sed": 2"#,
            "1:47: sed: unknown field",
        ),
        (
            "pointer",
            "/exponential/mean",
            "/exponential/mea",
            "2:36: axes[0].pointer: ",
        ),
        (
            "axis value",
            r#""10s""#,
            r#""ten""#,
            "2:97: axes[0].values[1]: point 1 (d=\"ten\"): the scenario refuses it",
        ),
        (
            "metric",
            r#""pointer": "/hazards/assassinations""#,
            r#""derived": "nope""#,
            "3:39: metrics[0].derived: unknown derived metric",
        ),
        (
            "replications",
            r#""replications": 2"#,
            r#""replications": 0"#,
            "1:63: replications: at least one",
        ),
        (
            "base",
            r#""base.json""#,
            r#""missing.json""#,
            "1:23: base: ",
        ),
        (
            "reciprocal of a duration",
            r#""values": ["5s", "10s"]"#,
            r#""write_as": "reciprocal_duration", "values": ["5s", "10s"]"#,
            "2:126: axes[0].values[0]: \"5s\": reciprocal_duration takes positive numbers",
        ),
        (
            "default of a derived metric",
            r#""pointer": "/hazards/assassinations""#,
            r#""derived": "ok", "default": 0"#,
            "3:56: metrics[0].default: a number, and only with pointer",
        ),
        (
            "rate of a duration",
            r#""values": ["5s", "10s"]"#,
            r#""write_as": "per_second", "values": ["5s", "10s"]"#,
            "2:117: axes[0].values[0]: \"5s\": per_second takes positive numbers",
        ),
        (
            "a part of an axis that does not exist",
            r#""pointer": "/hazards/assassinations"}]"#,
            r#""pointer": "/hazards/assassinations"}], "analytic": [{"metric": "a", "formula": "little_occupancy", "params": {"rate": "e/0", "t_tw": "1s"}}]"#,
            "3:147: analytic[0].params.rate: \"e/0\" is neither an axis, AXIS/POINTER nor a duration",
        ),
        (
            "grid with a range",
            r#""values": ["5s", "10s"]"#,
            r#""uniform": ["5s", "10s"]"#,
            "2:91: axes[0].uniform: a grid takes values",
        ),
    ] {
        let spec = good.replacen(from, to, 1);
        assert_ne!(spec, good, "{what}");
        let p = spec_file(&t, &spec);
        let e = bad(&twsim(&["sweep", &p, "-o", &out]), what);
        assert!(e.contains(&format!("sweep.json:{want}")), "{what}: {e}");
        assert!(!Path::new(&out).exists(), "{what}: no output");
    }
    // The base's own errors: in the spec under `base` when inline, in the base file otherwise.
    let inline = r#"{"name": "s", "seed": 1, "replications": 1,
 "base": {"name": "x", "hosts": [{"name": "a", "addr": "10.0.0.1"}],
          "steps": [{"host": "nobody", "call": "socket", "sock": "S"}]},
 "axes": [{"name": "m", "pointer": "/name", "values": ["y"]}],
 "metrics": [{"name": "ok", "derived": "ok"}]}"#;
    let p = spec_file(&t, inline);
    let e = bad(&twsim(&["sweep", &p, "-o", &out]), "inline base");
    assert!(
        e.contains("sweep.json:3:30: base.steps[0].host: unknown host \"nobody\""),
        "{e}"
    );
    let p = spec_file(&t, good);
    let base = std::fs::read_to_string(t.0.join("base.json")).unwrap();
    let broken = base.replacen(r#""host": "client""#, r#""host": "nobody""#, 1);
    assert_ne!(broken, base);
    std::fs::write(t.0.join("base.json"), broken).unwrap();
    let e = bad(&twsim(&["sweep", &p, "-o", &out]), "base file");
    assert!(
        e.contains("base.json:") && e.contains(": steps[3].host: unknown host \"nobody\""),
        "{e}"
    );
    assert!(!Path::new(&out).exists());
    // A metric that is not a number is found by the first run, before anything is written.
    let p = spec_file(&t, &good.replace("/hazards/assassinations", "/scenario"));
    let e = bad(&twsim(&["sweep", &p, "-o", &out]), "a string metric");
    assert!(e.contains("not a number"), "{e}");
    assert!(!Path::new(&out).exists());
    // Flags are clap's: its own error line, status 2.
    for shard in ["0/3", "4/3", "1", "a/b"] {
        let o = twsim(&["sweep", &p, "-o", &out, "--shard", shard]);
        let e = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{shard}: {e}");
        assert!(e.contains("--shard") && e.contains("a shard is K/N"), "{e}");
    }
}

#[test]
fn random_sampling_draws_inside_the_ranges_and_repeats() {
    let t = Tmp::new("sweep", "random");
    let spec = r#"{"name": "r", "base": "base.json", "seed": 9, "replications": 1,
 "sampling": {"random": {"points": 30}},
 "axes": [{"name": "d", "pointer": "/network/routes/1/delay/exponential/mean", "uniform": ["5s", "20s"]},
          {"name": "msl", "pointer": "/msl", "values": ["15s", "30s"]}],
 "metrics": [{"name": "ok", "derived": "ok"}]}"#;
    let p = spec_file(&t, spec);
    let (a, b) = (t.path("a.jsonl"), t.path("b.jsonl"));
    ok(&twsim(&["sweep", &p, "-o", &a]), "a");
    ok(&twsim(&["sweep", &p, "-o", &b, "--jobs", "1"]), "b");
    assert_eq!(read(&a), read(&b));
    let text = String::from_utf8(read(&a)).unwrap();
    let mut msl = std::collections::BTreeSet::new();
    for l in text.lines() {
        let v: serde_json::Value = serde_json::from_str(l).unwrap();
        let d = v["params"]["d"].as_str().unwrap();
        let us: u64 = d.strip_suffix("us").unwrap().parse().unwrap();
        assert!((5_000_000..=20_000_000).contains(&us), "{d}");
        msl.insert(v["params"]["msl"].as_str().unwrap().to_string());
    }
    assert_eq!(text.lines().count(), 30);
    assert_eq!(msl.len(), 2, "both values drawn");
}

/// (mean, n, ci95 low, ci95 high, analytic) of every row of `metric` in a summary CSV.
fn rows(csv: &str, metric: &str) -> Vec<(f64, f64, f64, f64, f64)> {
    let mut lines = csv.lines();
    let head: Vec<&str> = lines.next().unwrap().split(',').collect();
    let col = |name: &str| head.iter().position(|h| *h == name).unwrap();
    let (m, n, mean, lo, hi, an) = (
        col("metric"),
        col("n"),
        col("mean"),
        col("ci95_low"),
        col("ci95_high"),
        col("analytic"),
    );
    lines
        .map(|l| l.split(',').collect::<Vec<_>>())
        .filter(|c| c[m] == metric)
        .map(|c| {
            let f = |i: usize| c[i].parse::<f64>().unwrap();
            (f(mean), f(n), f(lo), f(hi), f(an))
        })
        .collect()
}

/// The study's estimates agree with its analytic curve: at least 85% of the points' 95%
/// confidence intervals hold the analytic value (5% are expected outside), and every estimate
/// lies within 4 binomial standard errors of it. Where every replication gave the same
/// outcome the Student t interval has no width; there the exact 95% bound for zero events in
/// n trials, the rule of three (3/n), stands in for it.
///
/// The study's figure in `docs/figures/FIGURE.svg` (shown in the READMEs) must be what
/// `twsim plot` draws from the summary; `TWSIM_BLESS=1` rewrites it.
fn agrees(spec: &str, metric: &str, figure: &str) {
    let t = Tmp::new("sweep", metric);
    let sum = t.path("s.csv");
    ok(
        &twsim(&["sweep", spec, "-o", &t.path("r.jsonl"), "--summary", &sum]),
        spec,
    );
    plot_is_kept_figure(&t, &sum, figure);
    let rs = rows(&String::from_utf8(read(&sum)).unwrap(), metric);
    assert!(rs.len() >= 10, "{spec}: {} points", rs.len());
    let inside = rs
        .iter()
        .filter(|&&(mean, n, lo, hi, p)| {
            if lo == hi && mean == 0.0 {
                p <= 3.0 / n
            } else if lo == hi && mean == 1.0 {
                p >= 1.0 - 3.0 / n
            } else {
                lo <= p && p <= hi
            }
        })
        .count();
    assert!(
        inside * 100 >= rs.len() * 85,
        "{spec}: only {inside} of {} intervals hold the analytic value",
        rs.len()
    );
    for (mean, n, _, _, p) in &rs {
        let se = (p * (1.0 - p) / n).sqrt() + 1.0 / n;
        assert!(
            (mean - p).abs() <= 4.0 * se,
            "{spec}: estimate {mean}, analytic {p} (n {n})"
        );
    }
    // The curve is not flat: the study spans the probabilities it claims to test.
    let (lo, hi) = rs
        .iter()
        .fold((1.0f64, 0.0f64), |(l, h), r| (l.min(r.4), h.max(r.4)));
    assert!(lo < 0.1 && hi > 0.9, "{spec}: analytic range {lo}..{hi}");
}

#[test]
fn corruption_study_agrees_with_its_analytic_curve() {
    agrees(CORRUPTION, "corrupted", "corruption");
}

#[test]
fn assassination_study_agrees_with_its_analytic_curve() {
    agrees(ASSASSINATION, "assassinated", "assassination");
}

#[test]
fn plot_draws_an_svg_from_a_summary() {
    let t = Tmp::new("sweep", "plot");
    let sum = t.path("s.csv");
    ok(
        &twsim(&[
            "sweep",
            ASSASSINATION,
            "-o",
            &t.path("r.jsonl"),
            "--summary",
            &sum,
        ]),
        "sweep",
    );
    let fig = t.path("f.svg");
    ok(&twsim(&["plot", &sum, "-o", &fig]), "plot");
    let svg = String::from_utf8(read(&fig)).unwrap();
    assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
    assert!(
        svg.contains("assassinated against stale_rate"),
        "defaults: first metric, first axis"
    );
    assert!(svg.contains("<polygon"), "the confidence band");
    assert!(
        svg.contains("\nanalytic\n</text>"),
        "the analytic curve's legend"
    );
    let fig2 = t.path("g.svg");
    ok(
        &twsim(&["plot", &sum, "--y", "time_wait_records", "-o", &fig2]),
        "plot --y",
    );
    assert!(String::from_utf8(read(&fig2))
        .unwrap()
        .contains("time_wait_records against"));
    let e = bad(
        &twsim(&["plot", &sum, "--y", "nope", "-o", &t.path("h.svg")]),
        "unknown metric",
    );
    assert!(e.contains("no metric \"nope\""), "{e}");
    assert!(!Path::new(&t.path("h.svg")).exists());
}
