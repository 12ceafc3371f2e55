//! `twsim bench`: connection lifecycles per wall-clock second, the simulator beside the bare
//! two-interface smoltcp harness ([`bare`]) and the real kernel on loopback ([`kernel`]) doing
//! the same exchange, in the same process. A lifecycle is: handshake, a 16-byte request, a
//! 64-byte response, close by the client first, and (simulator and bare harness, in virtual
//! time) the client's TIME-WAIT expiry. `twsim bench --model` measures the address-table model
//! alone ([`model`]); `twsim bench --scale N` how the simulator's time grows with live
//! TIME-WAIT records ([`scale`]). Wall time is read here only, never inside the simulation.

pub mod bare;
pub mod kernel;
pub mod model;
pub mod scale;

use bare::run_bare_lifecycles;
use std::fmt::Write;
use std::time::Instant as Wall;
use twsim_sim::engine::{run as simulate, RunOptions};
use twsim_sim::scenario::{parse, Overrides};

/// The lifecycle scenario for the simulator, as a workload (how a study runs many
/// connections): `n` connections one minute apart (the client's 60 s TIME-WAIT ends as the
/// next connection opens), 1 ms one way, each the bench's exchange from an automatic port.
pub fn lifecycle_workload(n: u64) -> String {
    format!(
        r#"{{"name":"bench-lifecycles","os":"linux","hosts":[{{"name":"server","addr":"10.0.0.2"}},{{"name":"client","addr":"10.0.0.1"}}],
"network":{{"routes":[{{"name":"lan","delay":"1ms"}}]}},
"workloads":[{{"name":"bench","client":"client","server":"server","to":"10.0.0.2:80","connections":{n},"rate":"1/min","request":16,"response":64,"closes_first":"client"}}]}}"#
    )
}

/// The lifecycle scenario for the simulator as a socket-call script (11 steps per
/// lifecycle): `n` sequential lifecycles between a client and a server 1 ms apart, each
/// waiting for the client's TIME-WAIT to end.
pub fn lifecycle_scenario(n: u64) -> String {
    let mut steps = String::new();
    let step = |s: &mut String, body: &str| {
        if !s.is_empty() {
            s.push_str(",\n");
        }
        s.push_str(body);
    };
    step(
        &mut steps,
        r#"{"host":"server","call":"socket","sock":"L"}"#,
    );
    step(
        &mut steps,
        r#"{"host":"server","call":"bind","sock":"L","addr":"0.0.0.0:80","expect":"ok"}"#,
    );
    step(
        &mut steps,
        r#"{"host":"server","call":"listen","sock":"L","expect":"ok"}"#,
    );
    for i in 0..n {
        for body in [
            format!(r#"{{"host":"client","call":"socket","sock":"C{i}"}}"#),
            format!(
                r#"{{"host":"client","call":"connect","sock":"C{i}","addr":"10.0.0.2:80","expect":"ok"}}"#
            ),
            format!(r#"{{"host":"server","call":"accept","sock":"L","as":"A{i}","expect":"ok"}}"#),
            format!(
                r#"{{"host":"client","call":"send","sock":"C{i}","data":"GET / HTTP/1.0\r\n","expect":"ok"}}"#
            ),
            format!(r#"{{"host":"server","call":"recv","sock":"A{i}","bytes":16,"expect":"ok"}}"#),
            format!(
                r#"{{"host":"server","call":"send","sock":"A{i}","data":"{}","expect":"ok"}}"#,
                "x".repeat(64)
            ),
            format!(r#"{{"host":"client","call":"recv","sock":"C{i}","bytes":64,"expect":"ok"}}"#),
            format!(r#"{{"host":"client","call":"close","sock":"C{i}","expect":"ok"}}"#),
            format!(r#"{{"host":"server","call":"recv","sock":"A{i}","expect":"ok"}}"#),
            format!(r#"{{"host":"server","call":"close","sock":"A{i}","expect":"ok"}}"#),
            format!(
                r#"{{"host":"client","call":"wait","until":"state","sock":"C{i}","state":"CLOSED","expect":"ok"}}"#
            ),
        ] {
            step(&mut steps, &body);
        }
    }
    format!(
        r#"{{"name":"bench-lifecycles","os":"linux","hosts":[{{"name":"server","addr":"10.0.0.2"}},{{"name":"client","addr":"10.0.0.1"}}],
"network":{{"routes":[{{"name":"lan","delay":"1ms"}}]}},"steps":[
{steps}]}}"#
    )
}

/// One measurement.
pub struct Figures {
    /// Lifecycles completed.
    pub lifecycles: u64,
    /// Segments put on the wire.
    pub segments: u64,
    /// Wall-clock seconds.
    pub seconds: f64,
}

impl Figures {
    /// Lifecycles per wall-clock second.
    pub fn rate(&self) -> f64 {
        self.lifecycles as f64 / self.seconds
    }
}

/// Runs a generated scenario `src` (named `label`) quietly and times the run alone (parsing
/// and validation excluded): the report and the wall-clock seconds. Panics if the run does not
/// complete: the scenario is generated here, so a failure is a bug.
pub fn time_quiet_run(label: &str, src: &str) -> (twsim_sim::engine::RunReport, f64) {
    let sc = parse(label, src).expect("generated scenario parses");
    let r = sc
        .resolve(label, src, None, &Overrides::default())
        .expect("generated scenario is valid");
    #[allow(clippy::disallowed_methods)] // wall time is what a benchmark measures
    let t0 = Wall::now();
    let rep = simulate(
        &r,
        RunOptions {
            quiet: true,
            ..RunOptions::default()
        },
    );
    let seconds = t0.elapsed().as_secs_f64();
    assert!(
        rep.ok(),
        "{label} failed:\n{}",
        twsim_sim::report::text(&rep)
    );
    (rep, seconds)
}

/// Runs `n` lifecycles through the simulator as a workload ([`lifecycle_workload`]).
/// Panics unless every exchange completed.
pub fn measure_sim(n: u64) -> Figures {
    let (rep, seconds) = time_quiet_run("<bench>", &lifecycle_workload(n));
    let done = rep.workloads.first().map_or(0, |w| w.completed);
    assert_eq!(done, n, "every lifecycle completes");
    Figures {
        lifecycles: n,
        segments: rep.segments,
        seconds,
    }
}

/// Runs `n` lifecycles through the simulator as a script ([`lifecycle_scenario`]).
pub fn measure_sim_script(n: u64) -> Figures {
    let (rep, seconds) = time_quiet_run("<bench>", &lifecycle_scenario(n));
    Figures {
        lifecycles: n,
        segments: rep.segments,
        seconds,
    }
}

/// Runs `n` lifecycles through the bare harness.
pub fn measure_bare(n: u64) -> Figures {
    #[allow(clippy::disallowed_methods)] // wall time is what a benchmark measures
    let t0 = Wall::now();
    let r = run_bare_lifecycles(n, 1);
    Figures {
        lifecycles: r.lifecycles,
        segments: r.segments,
        seconds: t0.elapsed().as_secs_f64(),
    }
}

/// Runs the three measurements and prints them; the last two lines are the ratios
/// `simulator / bare = X%` and `simulator / kernel = Y×`.
pub fn run(n: u64) {
    let bare = measure_bare(n);
    let sim = measure_sim(n);
    let script = measure_sim_script(n);
    let kernel = kernel::measure(n);
    let mut s = String::new();
    let _ = writeln!(s, "connection lifecycles (handshake, 16 B request, 64 B response, client close, TIME-WAIT expiry), n = {n}");
    for (name, f) in [
        ("bare smoltcp harness", &bare),
        ("twsim simulator", &sim),
        ("  (as a step script)", &script),
    ] {
        let _ = writeln!(
            s,
            "  {name:<22} {:>10.0} lifecycles/s  {:>7.3} s  {:>5.2} segments/lifecycle",
            f.rate(),
            f.seconds,
            f.segments as f64 / f.lifecycles as f64
        );
    }
    match &kernel {
        Ok(k) => {
            let _ = writeln!(
                s,
                "  {:<22} {:>10.0} lifecycles/s  {:>7.3} s  (std::net on 127.0.0.1; its TIME-WAITs stay in the kernel)",
                "kernel loopback",
                k.rate(),
                k.seconds
            );
        }
        Err(why) => {
            let _ = writeln!(s, "  {:<22} skipped: {why}", "kernel loopback");
        }
    }
    let _ = writeln!(
        s,
        "simulator / bare = {:.1}%",
        100.0 * sim.rate() / bare.rate()
    );
    match &kernel {
        Ok(k) => {
            let _ = writeln!(s, "simulator / kernel = {:.2}×", sim.rate() / k.rate());
        }
        Err(_) => {
            let _ = writeln!(s, "simulator / kernel = n/a (kernel baseline skipped)");
        }
    }
    print!("{s}");
}

/// How many times `--scale` runs each size (alternating N and 4N); it reports the medians.
pub const SCALE_REPEATS: usize = 5;

/// The median of `runs` by time.
fn median(mut runs: Vec<scale::ScaleFigures>) -> scale::ScaleFigures {
    runs.sort_by(|a, b| a.seconds.total_cmp(&b.seconds));
    runs.swap_remove(runs.len() / 2)
}

/// Times the scale scenario with `n` and `4n` connections, [`SCALE_REPEATS`] times each
/// (alternating, so that a slow moment of a shared machine hits both sizes alike), and prints
/// every time, the medians and their ratio; the last line is `time(4N) / time(N) = R`.
pub fn run_scale(n: usize) {
    let (mut smalls, mut larges) = (Vec::new(), Vec::new());
    for _ in 0..SCALE_REPEATS {
        smalls.push(scale::measure(n));
        larges.push(scale::measure(4 * n));
    }
    let times = |v: &[scale::ScaleFigures]| {
        v.iter()
            .map(|f| format!("{:.3}", f.seconds))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let (small_times, large_times) = (times(&smalls), times(&larges));
    let small = median(smalls);
    let large = median(larges);
    let mut s = String::new();
    let _ = writeln!(
        s,
        "scale: connections 1 ms apart (socket, connect, accept, client close, server close), 100 µs route, linux, TIME-WAIT 60 s"
    );
    for (label, f, all) in [("N", &small, small_times), ("4N", &large, large_times)] {
        let _ = writeln!(
            s,
            "  {label:<2} = {:>7} connections  {:>8.3} s (median of {all} s)  {:>9.0} connections/s  {} TIME-WAIT records, {} alive together",
            f.connections,
            f.seconds,
            f.connections as f64 / f.seconds,
            f.time_waits,
            f.alive_at_end
        );
    }
    let _ = writeln!(
        s,
        "time(4N) / time(N) = {:.2} (medians; linear would be 4)",
        large.seconds / small.seconds
    );
    print!("{s}");
}
