//! The `--json` summary against its reference, `docs/json-summary.md`: every key of every
//! example's summary is documented in its section, every documented key is produced, and no
//! summary holds an empty string; each step's `sock` and `addr` are the call's.

mod common;

use serde_json::Value;
use std::collections::BTreeSet;
use twsim_sim::engine::{run, RunOptions};
use twsim_sim::report;

const DOC: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../docs/json-summary.md"
));

/// The sections of the reference: each `## name` heading and the keys its table documents
/// (the first cell of each row, in backquotes).
fn documented() -> Vec<(String, BTreeSet<String>)> {
    let mut out: Vec<(String, BTreeSet<String>)> = Vec::new();
    for line in DOC.lines() {
        if let Some(h) = line.strip_prefix("## ") {
            out.push((h.trim().to_string(), BTreeSet::new()));
        } else if let Some(row) = line.strip_prefix("| `") {
            let key = row.split('`').next().unwrap().to_string();
            out.last_mut()
                .expect("a table under a section")
                .1
                .insert(key);
        }
    }
    out
}

/// Every example's summaries, one per run (base scenario or each variant), as `--json` prints
/// them.
fn summaries() -> Vec<(String, Value)> {
    let mut out = Vec::new();
    for (name, r) in common::example_runs() {
        // A quiet run's summary is as complete as a recorded one's.
        for quiet in [false, true] {
            let rep = run(
                &r,
                RunOptions {
                    quiet,
                    ..RunOptions::default()
                },
            );
            out.push((format!("{name} quiet={quiet}"), report::json(&rep)));
        }
    }
    out
}

fn keys(v: &Value) -> BTreeSet<String> {
    v.as_object().expect("an object").keys().cloned().collect()
}

/// The string values anywhere in `v` that are empty, with their paths.
fn empty_strings(v: &Value, path: &str, out: &mut Vec<String>) {
    match v {
        Value::String(s) if s.is_empty() => out.push(path.to_string()),
        Value::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                empty_strings(x, &format!("{path}[{i}]"), out);
            }
        }
        Value::Object(m) => {
            for (k, x) in m {
                empty_strings(x, &format!("{path}.{k}"), out);
            }
        }
        _ => {}
    }
}

#[test]
fn every_key_is_documented_both_ways_and_no_string_is_empty() {
    let doc = documented();
    let section = |name: &str| -> &BTreeSet<String> {
        &doc.iter()
            .find(|(h, _)| h == name)
            .unwrap_or_else(|| panic!("docs/json-summary.md has no section `## {name}`"))
            .1
    };
    // Every key produced, per section.
    let mut seen: Vec<(String, BTreeSet<String>)> = [
        "run",
        "hosts[]",
        "steps[]",
        "time_wait[]",
        "checks[]",
        "hazards",
        "workloads[]",
        "time_wait_occupancy[]",
    ]
    .iter()
    .map(|s| (s.to_string(), BTreeSet::new()))
    .collect();
    let mut add = |name: &str, v: &Value| {
        let s = &mut seen.iter_mut().find(|(h, _)| h == name).unwrap().1;
        s.extend(keys(v));
    };
    let mut reasons = BTreeSet::new();
    let mut nulls = BTreeSet::new();
    for (what, s) in summaries() {
        add("run", &s);
        add("hazards", &s["hazards"]);
        for (list, sec) in [
            ("hosts", "hosts[]"),
            ("steps", "steps[]"),
            ("time_wait", "time_wait[]"),
            ("checks", "checks[]"),
            ("workloads", "workloads[]"),
            ("time_wait_occupancy", "time_wait_occupancy[]"),
        ] {
            for item in s[list].as_array().unwrap() {
                add(sec, item);
                for (k, v) in item.as_object().unwrap() {
                    if v.is_null() {
                        nulls.insert(format!("{list}.{k}"));
                    }
                }
            }
        }
        for t in s["time_wait"].as_array().unwrap() {
            reasons.insert(t["reason"].as_str().unwrap().to_string());
        }
        let mut empty = Vec::new();
        empty_strings(&s, "", &mut empty);
        assert!(empty.is_empty(), "{what}: empty strings at {empty:?}");
        for step in s["steps"].as_array().unwrap() {
            let call = step["call"].as_str().unwrap();
            assert!(!call.is_empty(), "{what}: step without call text");
            // The socket and the address are the ones the call text names.
            if let Some(sock) = step["sock"].as_str() {
                assert!(call.contains(sock), "{what}: {call} does not name {sock}");
            }
            if let Some(addr) = step["addr"].as_str() {
                assert!(call.contains(addr), "{what}: {call} does not name {addr}");
            }
            let ok = step["result"] == "ok";
            assert!(ok || step["detail"].is_null(), "{what}: detail of an error");
        }
    }
    for (name, keys) in &seen {
        let doc = section(name);
        for k in keys {
            assert!(
                doc.contains(k),
                "docs/json-summary.md, section `{name}`: key `{k}` is not documented"
            );
        }
        for k in doc {
            assert!(
                keys.contains(k),
                "docs/json-summary.md, section `{name}`: documents `{k}`, which no summary has"
            );
        }
    }
    // The examples exercise what the reference describes: records that expire, that are
    // assassinated and that a SYN reopens, and steps with no socket, no address, no detail.
    for r in ["expired", "assassinated", "reused_by_syn"] {
        assert!(
            reasons.contains(r),
            "no example ends a TIME-WAIT record as {r}"
        );
    }
    for n in [
        "steps.sock",
        "steps.addr",
        "steps.detail",
        "steps.expect",
        "steps.met",
    ] {
        assert!(nulls.contains(n), "no example has a null {n}");
    }
    let documented_sections: BTreeSet<&str> = doc.iter().map(|(h, _)| h.as_str()).collect();
    let produced: BTreeSet<&str> = seen.iter().map(|(h, _)| h.as_str()).collect();
    assert_eq!(
        documented_sections, produced,
        "sections of docs/json-summary.md"
    );
}
