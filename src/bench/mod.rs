//! `twsim bench`: connection lifecycles per wall-clock second, the simulator beside the bare
//! two-interface smoltcp harness ([`bare`]) and the real kernel on loopback ([`kernel`]) doing
//! the same exchange, in the same process. A lifecycle is: handshake, a 16-byte request, a
//! 64-byte response, close by the client first, and (simulator and bare harness, in virtual
//! time) the client's TIME-WAIT expiry. The simulator's endpoints and the bare harness send
//! the same segments (flags, payloads, options: RFC 7323 timestamps on each, as Linux sends
//! them); a test compares them. `twsim bench --model` measures the address-table model
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

/// How many paired rounds `twsim bench` runs: each round times the bare harness and the
/// simulator back to back (in alternating order), so that a slow moment of a shared machine
/// hits both sides of a pair alike.
pub const ROUNDS: usize = 7;

/// How many lifecycles each round of the kernel baseline runs for `n` of the simulator's: a
/// twentieth (at least one), 1 000 for the default 20 000. Each leaves a TIME-WAIT in the
/// kernel for 60 s, and the kernel's `connect(2)` slows down as they pile up (its ephemeral
/// port search walks the bind hash, `__inet_hash_connect`; [`kernel::time_wait_sockets`]
/// counts them): [`ROUNDS`] rounds of `n` would leave 140 000 and measure the last rounds
/// against them.
pub fn kernel_lifecycles(n: u64) -> u64 {
    (n / 20).max(1)
}

/// The median of `xs` (the upper median for an even count); `NaN` for none.
fn median_of(xs: &[f64]) -> f64 {
    let mut v = xs.to_vec();
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

/// Runs the measurements and prints them; the last two lines are the ratios
/// `simulator / bare = X%` and `simulator / kernel = Y×`.
///
/// [`ROUNDS`] rounds each time the simulator on `n` lifecycles between the bare harness on
/// `n` and the kernel on [`kernel_lifecycles`]`(n)`, in alternating order (bare, simulator,
/// kernel; then kernel, simulator, bare), so that the simulator is timed next to both of its
/// references and a slow moment of a shared machine hits the pair it falls in alike. Each
/// ratio printed is the median of the rounds' ratios; each rate the median of its side's
/// rounds. The step-script version runs once. Once the kernel baseline fails (no sockets,
/// ports exhausted) it is not tried again and the last line says why there is no ratio.
pub fn run(n: u64) {
    let (mut bares, mut sims, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
    let (mut kernels, mut kernel_ratios) = (Vec::new(), Vec::new());
    let mut kernel_skipped = None;
    let kn = kernel_lifecycles(n);
    let time_waits_before = kernel::time_wait_sockets();
    let mut kernel_round = |kernels: &mut Vec<kernel::KernelFigures>| {
        if kernel_skipped.is_none() {
            match kernel::measure(kn) {
                Ok(k) => kernels.push(k),
                Err(why) => kernel_skipped = Some(why),
            }
        }
    };
    let mut segments = (0, 0);
    for round in 0..ROUNDS {
        let before = kernels.len();
        let (bare, sim) = if round % 2 == 0 {
            let b = measure_bare(n);
            let s = measure_sim(n);
            kernel_round(&mut kernels);
            (b, s)
        } else {
            kernel_round(&mut kernels);
            let s = measure_sim(n);
            (measure_bare(n), s)
        };
        segments = (bare.segments, sim.segments);
        ratios.push(sim.rate() / bare.rate());
        if let Some(k) = kernels.get(before) {
            kernel_ratios.push(sim.rate() / k.rate());
        }
        bares.push(bare.rate());
        sims.push(sim.rate());
    }
    let kernel: Result<(), String> = kernel_skipped.map_or(Ok(()), Err);
    let script = measure_sim_script(n);
    let (bare_rate, sim_rate) = (median_of(&bares), median_of(&sims));
    let spread = |v: &[f64]| {
        let lo = v.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = v.iter().copied().fold(0.0, f64::max);
        (lo, hi)
    };
    let mut s = String::new();
    let _ = writeln!(s, "connection lifecycles (handshake, 16 B request, 64 B response, client close, TIME-WAIT expiry; TCP timestamps on every segment), n = {n}");
    let _ = writeln!(
        s,
        "  medians of {ROUNDS} rounds, each the bare harness, the simulator and the kernel back to back"
    );
    for (name, rate, v, segs) in [
        ("bare smoltcp harness", bare_rate, &bares, segments.0),
        ("twsim simulator", sim_rate, &sims, segments.1),
    ] {
        let (lo, hi) = spread(v);
        let _ = writeln!(
            s,
            "  {name:<22} {rate:>10.0} lifecycles/s  (rounds {lo:.0}..{hi:.0})  {:>5.2} segments/lifecycle",
            segs as f64 / n as f64
        );
    }
    let _ = writeln!(
        s,
        "  {:<22} {:>10.0} lifecycles/s  {:>7.3} s  {:>5.2} segments/lifecycle",
        "  (as a step script)",
        script.rate(),
        script.seconds,
        script.segments as f64 / script.lifecycles as f64
    );
    match &kernel {
        Ok(()) => {
            let rates: Vec<f64> = kernels.iter().map(|k| k.rate()).collect();
            let (lo, hi) = spread(&rates);
            let _ = writeln!(
                s,
                "  {:<22} {:>10.0} lifecycles/s  (rounds {lo:.0}..{hi:.0}, {kn} lifecycle{} each; std::net on 127.0.0.1, its TIME-WAITs stay in the kernel)",
                "kernel loopback",
                median_of(&rates),
                if kn == 1 { "" } else { "s" },
            );
        }
        Err(why) => {
            let _ = writeln!(s, "  {:<22} skipped: {why}", "kernel loopback");
        }
    }
    if let (Ok(()), Some(tw)) = (&kernel, time_waits_before) {
        let _ = writeln!(
            s,
            "    ({tw} TCP sockets in TIME-WAIT on this machine before the first round{})",
            if tw > 10_000 {
                "; the kernel connects more slowly with many: its rate is its best with none left by earlier commands, 60 s apart"
            } else {
                ""
            }
        );
    }
    let (lo, hi) = spread(&ratios);
    let _ = writeln!(
        s,
        "  simulator / bare by round: {:.1}%..{:.1}%",
        100.0 * lo,
        100.0 * hi
    );
    if kernel.is_ok() {
        let (lo, hi) = spread(&kernel_ratios);
        let _ = writeln!(s, "  simulator / kernel by round: {lo:.2}×..{hi:.2}×");
    }
    let _ = writeln!(s, "simulator / bare = {:.1}%", 100.0 * median_of(&ratios));
    match &kernel {
        Ok(()) => {
            let _ = writeln!(s, "simulator / kernel = {:.2}×", median_of(&kernel_ratios));
        }
        Err(_) => {
            let _ = writeln!(s, "simulator / kernel = n/a (kernel baseline skipped)");
        }
    }
    print!("{s}");
}

/// How many paired rounds `--scale` runs: each round times N and 4N back to back (in
/// alternating order); it reports the medians and the median of the rounds' ratios.
pub const SCALE_REPEATS: usize = 9;

/// The median of `runs` by time.
fn median(mut runs: Vec<scale::ScaleFigures>) -> scale::ScaleFigures {
    runs.sort_by(|a, b| a.seconds.total_cmp(&b.seconds));
    runs.swap_remove(runs.len() / 2)
}

/// Times the scale scenario with `n` and `4n` connections in [`SCALE_REPEATS`] paired rounds
/// (the two sizes back to back, in alternating order, so that a slow moment of a shared
/// machine hits both sides of a pair alike), and prints every time, the medians, and the
/// median of the rounds' ratios as the last line: `time(4N) / time(N) = R`.
pub fn run_scale(n: usize) {
    let (mut smalls, mut larges, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
    for round in 0..SCALE_REPEATS {
        let (small, large) = if round % 2 == 0 {
            let s = scale::measure(n);
            (s, scale::measure(4 * n))
        } else {
            let l = scale::measure(4 * n);
            (scale::measure(n), l)
        };
        ratios.push(large.seconds / small.seconds);
        smalls.push(small);
        larges.push(large);
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
        "time(4N) / time(N) = {:.2} (median of {SCALE_REPEATS} paired rounds; ratio of the medians {:.2}; linear would be 4)",
        median_of(&ratios),
        large.seconds / small.seconds
    );
    print!("{s}");
}

#[cfg(test)]
mod tests {
    use super::*;
    use smoltcp::wire::{Ipv4Address, Ipv4Packet, TcpPacket};

    /// One segment as the two sides of the comparison must agree on: its direction, flags,
    /// payload length and option bytes (RFC 7323 TSval and TSecr included). The ISN and the
    /// advertised window are the parts allowed to differ.
    #[derive(Debug, PartialEq, Eq)]
    struct Shape {
        to_server: bool,
        flags: String,
        payload: usize,
        options: Vec<u8>,
    }

    fn shape(to_server: bool, ip: &[u8]) -> Shape {
        let ip = Ipv4Packet::new_checked(ip).expect("an IPv4 packet");
        let tcp = TcpPacket::new_checked(ip.payload()).expect("a TCP segment");
        let flags = [
            (tcp.syn(), 'S'),
            (tcp.ack(), 'A'),
            (tcp.fin(), 'F'),
            (tcp.rst(), 'R'),
            (tcp.psh(), 'P'),
        ]
        .iter()
        .filter(|(on, _)| *on)
        .map(|(_, c)| *c)
        .collect();
        Shape {
            to_server,
            flags,
            payload: tcp.payload().len(),
            options: tcp.options().to_vec(),
        }
    }

    /// The packets of a classic pcap file (LINKTYPE_RAW), in order.
    fn pcap_packets(pcap: &[u8]) -> Vec<&[u8]> {
        let magic = u32::from_le_bytes(pcap[0..4].try_into().unwrap());
        assert!(
            magic == 0xa1b2_c3d4 || magic == 0xa1b2_3c4d,
            "a little-endian pcap file"
        );
        let mut out = Vec::new();
        let mut at = 24;
        while at < pcap.len() {
            let len = u32::from_le_bytes(pcap[at + 8..at + 12].try_into().unwrap()) as usize;
            out.push(&pcap[at + 16..at + 16 + len]);
            at += 16 + len;
        }
        out
    }

    /// The bare harness runs the simulator's exchange: one lifecycle of each, segment for
    /// segment, with the same flags, payloads and options (timestamps included).
    #[test]
    fn bare_harness_sends_the_simulators_segments() {
        let src = lifecycle_workload(1);
        let sc = parse("<bench>", &src).expect("parses");
        let r = sc
            .resolve("<bench>", &src, None, &Overrides::default())
            .expect("valid");
        let mut rep = simulate(
            &r,
            RunOptions {
                pcap: true,
                quiet: true,
                ..RunOptions::default()
            },
        );
        assert!(rep.ok());
        let pcap = rep.recorder.take_pcap().expect("pcap kept in memory");
        let server = Ipv4Address::new(10, 0, 0, 2);
        let sim: Vec<Shape> = pcap_packets(&pcap)
            .into_iter()
            .map(|p| {
                let to_server = Ipv4Packet::new_checked(p).unwrap().dst_addr() == server;
                shape(to_server, p)
            })
            .collect();
        let bare: Vec<Shape> = bare::wire_packets(1)
            .iter()
            .map(|(to_server, p)| shape(*to_server, p))
            .collect();
        assert_eq!(sim.len(), 9, "{sim:#?}");
        assert_eq!(bare, sim);
        assert!(
            sim.iter().all(|s| s.options.contains(&8)),
            "every segment carries a timestamp option: {sim:#?}"
        );
    }
}
