//! `twsim bench`: connection lifecycles per wall-clock second, the simulator beside the bare
//! two-interface smoltcp harness ([`twsim_sim::bare`]) doing the same exchange, in the same
//! process. A lifecycle is: handshake, a 16-byte request, a 64-byte response, close by the
//! client first, and the client's TIME-WAIT expiry. Wall time is read here only, never inside
//! the simulation.

use std::fmt::Write;
use std::time::Instant as Wall;
use twsim_sim::bare::run_bare_lifecycles;
use twsim_sim::engine::{run as simulate, RunOptions};
use twsim_sim::scenario::{parse, Overrides};

/// The lifecycle scenario for the simulator: `n` sequential lifecycles between a client and
/// a server 1 ms apart, each waiting for the client's TIME-WAIT to end.
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

/// Runs `n` lifecycles through the simulator. Panics if the run does not complete: the
/// scenario is generated here, so a failure is a bug.
pub fn measure_sim(n: u64) -> Figures {
    let src = lifecycle_scenario(n);
    let sc = parse("<bench>", &src).expect("generated scenario parses");
    let r = sc
        .resolve("<bench>", &src, None, &Overrides::default())
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
        "benchmark scenario failed:\n{}",
        twsim_sim::report::text(&rep)
    );
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

/// Runs both measurements and prints them.
pub fn run(n: u64) {
    let bare = measure_bare(n);
    let sim = measure_sim(n);
    let mut s = String::new();
    let _ = writeln!(s, "connection lifecycles (handshake, 16 B request, 64 B response, client close, TIME-WAIT expiry), n = {n}");
    for (name, f) in [("bare smoltcp harness", &bare), ("twsim simulator", &sim)] {
        let _ = writeln!(
            s,
            "  {name:<22} {:>10.0} lifecycles/s  {:>7.3} s  {:>5.2} segments/lifecycle",
            f.rate(),
            f.seconds,
            f.segments as f64 / f.lifecycles as f64
        );
    }
    let _ = writeln!(
        s,
        "  simulator / bare = {:.1}%",
        100.0 * sim.rate() / bare.rate()
    );
    print!("{s}");
}

/// Model-only figures: address-table calls per second with `n` sockets in the table, and heap
/// bytes per TIME-WAIT record.
pub mod model {
    use std::net::{IpAddr, Ipv4Addr, SocketAddr};
    use std::time::Instant as Wall;
    use twsim_model::{
        AddressTable, Duration, FourTuple, Instant, Profile, SeqNum, TimeWaitRecord,
    };

    /// Heap bytes currently allocated by the process (the binary's counting allocator).
    pub type HeapProbe = fn() -> usize;

    /// The measurements.
    pub struct ModelFigures {
        /// Sockets in the table while calls were timed.
        pub sockets: usize,
        /// Table calls timed.
        pub calls: u64,
        /// Wall-clock seconds.
        pub seconds: f64,
        /// Heap bytes per TIME-WAIT record (entry, indexes, record), measured.
        pub bytes_per_time_wait: f64,
        /// `size_of::<TimeWaitRecord>()`.
        pub record_size: usize,
    }

    fn ip(a: u8, b: u8, c: u8, d: u8) -> IpAddr {
        IpAddr::V4(Ipv4Addr::new(a, b, c, d))
    }

    /// Fills a linux table with `n` TIME-WAIT records (distinct 4-tuples to 64 servers), then
    /// times `socket` + `bind` (a port that conflicts, then a free one) + `connect` (automatic
    /// port) + `remove` cycles against it.
    pub fn measure(n: usize, cycles: u64, heap: HeapProbe) -> ModelFigures {
        let local = ip(10, 0, 0, 1);
        let mut t = AddressTable::new(Profile::Linux.config(), vec![local]);
        let before = heap();
        let now = Instant::ZERO;
        for i in 0..n {
            let id = t.socket(0);
            let remote = SocketAddr::new(ip(10, 1, (i % 64) as u8, 1), 80);
            let l = t
                .connect(id, local, remote, i as u32, now)
                .expect("the table has room for the records");
            let rec = TimeWaitRecord::new(
                FourTuple::new(l, remote),
                1,
                SeqNum(1),
                SeqNum(1),
                65535,
                now,
                Duration::from_secs(60),
            );
            t.enter_time_wait(id, rec).expect("connected just above");
        }
        let bytes = heap().saturating_sub(before) as f64 / n.max(1) as f64;
        let mut calls = 0u64;
        #[allow(clippy::disallowed_methods)] // wall time is what a benchmark measures
        let t0 = Wall::now();
        for k in 0..cycles {
            let id = t.socket(0);
            // a port in the ephemeral range that TIME-WAIT records use: a conflict check
            let busy = SocketAddr::new(local, 32768 + (k % 28_000) as u16);
            let _ = t.bind(id, busy, 0);
            let _ = t.bind(id, SocketAddr::new(local, 8000 + (k % 500) as u16), 0);
            let id2 = t.socket(0);
            let remote = SocketAddr::new(ip(10, 2, (k % 200) as u8, 1), 443);
            let _ = t.connect(id2, local, remote, k as u32, now);
            t.remove(id);
            t.remove(id2);
            calls += 6;
        }
        let seconds = t0.elapsed().as_secs_f64();
        ModelFigures {
            sockets: t.len(),
            calls,
            seconds,
            bytes_per_time_wait: bytes,
            record_size: std::mem::size_of::<TimeWaitRecord>(),
        }
    }
}
