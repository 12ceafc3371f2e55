//! Streamed outputs against the same outputs kept in memory: for every example (each
//! variant), the trace, the pcap, the pcapng and the timeline written to sinks as the run goes
//! are byte for byte what a recorder keeping them in memory produces, and the `--json`
//! summary written element by element is the pretty-printed `report::json` value. A sink
//! that fails is reported by `Recorder::finish`, naming the output, without stopping the run.

mod common;

use std::io::{self, Write};
use std::sync::{Arc, Mutex};
use twsim_sim::engine::{run, run_with, RunOptions, RunReport};
use twsim_sim::report;
use twsim_sim::scenario::Resolved;
use twsim_sim::trace::{Output, Recorder, Sink, Sinks};

/// A writer whose bytes the test reads after the run.
#[derive(Clone, Default)]
struct Shared(Arc<Mutex<Vec<u8>>>);

impl Write for Shared {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Shared {
    fn sink(&self) -> Sink {
        Sink::stream(Box::new(self.clone()))
    }
    fn bytes(&self) -> Vec<u8> {
        self.0.lock().unwrap().clone()
    }
}

/// A writer that takes `room` bytes, then fails.
struct Full {
    room: usize,
}

impl Write for Full {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.room == 0 {
            return Err(io::Error::new(io::ErrorKind::StorageFull, "device full"));
        }
        let n = buf.len().min(self.room);
        self.room -= n;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Every example's runs (base scenario or each variant).
fn examples() -> Vec<(String, Resolved)> {
    common::example_runs()
}

fn everything() -> RunOptions {
    RunOptions {
        trace: true,
        pcap: true,
        quiet: false,
    }
}

#[test]
fn streamed_outputs_equal_the_outputs_kept_in_memory() {
    // port-exhaustion's 28 233 connections take the workload paths time-wait-occupancy
    // takes, at 14 times the cost.
    for (name, sc) in examples()
        .into_iter()
        .filter(|(n, _)| !n.contains("port-exhaustion"))
    {
        let mut kept = run(&sc, everything());
        let (trace, pcap, ng, timeline) = (
            Shared::default(),
            Shared::default(),
            Shared::default(),
            Shared::default(),
        );
        let rec = Recorder::with_sinks(Sinks {
            trace: Some(trace.sink()),
            pcap: Some(pcap.sink()),
            pcapng: Some(ng.sink()),
            timeline: Some(timeline.sink()),
        });
        let mut streamed = run_with(&sc, everything(), rec);
        streamed.recorder.finish().unwrap();
        let t = kept.recorder.take_trace().unwrap();
        assert!(t.len() > 100, "{name}: a trace was recorded");
        assert!(t == trace.bytes(), "{name}: trace");
        assert!(
            kept.recorder.take_pcap().unwrap() == pcap.bytes(),
            "{name}: pcap"
        );
        assert!(
            kept.recorder.take_pcapng().unwrap() == ng.bytes(),
            "{name}: pcapng"
        );
        // Streamed outputs are not kept.
        assert_eq!(streamed.recorder.take_trace(), None, "{name}");
        assert!(streamed.recorder.timeline.is_empty(), "{name}");
        // The streamed timeline and the summary are the text of the run kept in memory.
        let mut text = String::from_utf8(timeline.bytes()).unwrap();
        assert!(text.lines().count() > 5, "{name}: {text}");
        text.push_str(&report::summary_text(&streamed));
        assert_eq!(text, report::text(&kept), "{name}");
    }
}

/// `report::write_json` of `runs`, as text.
fn written(runs: &[&RunReport]) -> String {
    let mut out = Vec::new();
    report::write_json(&mut out, runs).unwrap();
    String::from_utf8(out).unwrap()
}

#[test]
fn the_json_summary_written_element_by_element_is_the_pretty_printed_value() {
    let quiet = RunOptions {
        quiet: true,
        ..RunOptions::default()
    };
    let reports: Vec<RunReport> = examples().iter().map(|(_, sc)| run(sc, quiet)).collect();
    let mut with_lists = 0;
    for r in &reports {
        let v = report::json(r);
        if !v["steps"].as_array().unwrap().is_empty()
            && !v["time_wait"].as_array().unwrap().is_empty()
        {
            with_lists += 1;
        }
        assert_eq!(
            written(&[r]),
            serde_json::to_string_pretty(&v).unwrap(),
            "{}",
            r.name
        );
    }
    assert!(
        with_lists > 5,
        "examples with steps and records: {with_lists}"
    );
    // Several runs: an array of the same objects.
    let all: Vec<&RunReport> = reports.iter().take(3).collect();
    let values: Vec<serde_json::Value> = all.iter().map(|r| report::json(r)).collect();
    assert_eq!(
        written(&all),
        serde_json::to_string_pretty(&serde_json::Value::Array(values)).unwrap()
    );
}

#[test]
fn a_failing_sink_is_reported_by_finish_and_the_run_completes() {
    let (_, sc) = examples()
        .into_iter()
        .find(|(n, _)| n.contains("/restart-time-wait.json"))
        .expect("the restart-time-wait example");
    let kept = run(&sc, everything());
    for (which, sinks) in [
        (
            Output::Trace,
            Sinks {
                trace: Some(Sink::stream(Box::new(Full { room: 1000 }))),
                ..Sinks::default()
            },
        ),
        (
            Output::PcapNg,
            Sinks {
                trace: Some(Sink::memory()),
                pcapng: Some(Sink::stream(Box::new(Full { room: 10 }))),
                ..Sinks::default()
            },
        ),
    ] {
        let mut rep = run_with(&sc, everything(), Recorder::with_sinks(sinks));
        let e = rep.recorder.finish().unwrap_err();
        assert_eq!(e.output, which);
        assert_eq!(e.error.kind(), io::ErrorKind::StorageFull);
        // The run itself is unaffected.
        assert_eq!(report::json(&rep), report::json(&kept));
    }
}
