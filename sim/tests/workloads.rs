//! Workloads against the analytic model of time-wait.md: the port-exhaustion knee
//! P / (T_conn + T_TW) and Little's law for TIME-WAIT occupancy, E[N_TW] = λ · T_TW.

use twsim_sim::engine::{run, RunOptions, RunReport};
use twsim_sim::scenario::{parse, Overrides};

fn run_src(src: &str, seed: Option<u64>) -> RunReport {
    let sc = parse("test.json", src).unwrap_or_else(|e| panic!("{e}"));
    let ov = Overrides {
        seed,
        ..Overrides::default()
    };
    let r = sc
        .resolve("test.json", src, None, &ov)
        .unwrap_or_else(|e| panic!("{e}"));
    run(
        &r,
        RunOptions {
            quiet: true,
            ..RunOptions::default()
        },
    )
}

fn example(name: &str) -> String {
    std::fs::read_to_string(format!("{}/../examples/{name}", env!("CARGO_MANIFEST_DIR")))
        .expect("example exists")
}

/// Linux, 5 ms one way, client ports `first..=last`, `n` connects at `rate`, client closes.
fn exhaustion(first: u16, last: u16, n: u64, rate: &str) -> String {
    format!(
        r#"{{"name":"x","os":"linux","ephemeral_ports":[{first},{last}],
            "hosts":[{{"name":"server","addr":"10.0.0.2"}},{{"name":"client","addr":"10.0.0.1"}}],
            "network":{{"routes":[{{"name":"lan","delay":"5ms"}}]}},
            "workloads":[{{"name":"w","client":"client","server":"server","to":"10.0.0.2:80",
                "connections":{n},"rate":"{rate}","request":10,"response":100}}],
            "linger_after_steps":"1s"}}"#
    )
}

#[test]
fn the_port_exhaustion_example_fails_connect_28233_with_eaddrnotavail() {
    let r = run_src(&example("port-exhaustion.json"), None);
    let w = &r.workloads[0];
    // ip_local_port_range 32768..=60999: P ports, each held 60 s by the client's TIME-WAIT.
    let p = 60999 - 32768 + 1;
    assert_eq!(w.attempted, 28233);
    assert_eq!(w.connected, p);
    assert_eq!(w.failed.get("EADDRNOTAVAIL"), Some(&(28233 - p)));
    let (n, at, e) = w.first_failure.expect("a connect failed");
    assert_eq!((n, e), (p + 1, "EADDRNOTAVAIL"));
    // Arrival P at 500/s: ⌊P · 2000 µs⌋, long before the first record expires (60 s).
    assert_eq!(at.micros(), p * 2000);
    assert_eq!(w.completed, p);
    assert_eq!(w.bytes_delivered, p * 1100);
    // Handshake: one round trip of 2 × 5 ms.
    assert_eq!(w.latency.quantile_us(0.5), Some(10_000));
    let client = r.occupancy.iter().find(|o| o.host == "client").unwrap();
    assert_eq!(client.max as u64, p);
    // Counted, not listed: nothing of a finished workload connection is kept.
    assert_eq!(client.records, p);
    assert!(r.time_wait.is_empty());
}

#[test]
fn above_the_knee_connects_fail_below_it_none_do() {
    // P = 100 ports, T_TW = 60 s, T_conn ≈ 30 ms: knee = 100 / 60.03 s ≈ 1.666/s.
    let above = run_src(&exhaustion(40000, 40099, 150, "2/s"), None);
    let w = &above.workloads[0];
    assert_eq!(
        w.first_failure.map(|f| (f.0, f.2)),
        Some((101, "EADDRNOTAVAIL"))
    );
    // Connect k (1-based) arrives at (k−1)/2 s; port of connect j frees at (j−1)/2 s + 60.03 s,
    // so connects 101..=150 (arriving before 74.5 s < 60.03 s + 50 s) each find none free
    // except those after the first expiry: connect 122 at 60.5 s takes connect 1's port.
    let failed = w.failed["EADDRNOTAVAIL"];
    assert!(failed > 0 && failed < 50, "{failed}");
    assert_eq!(w.connected + failed, 150);
    let below = run_src(&exhaustion(40000, 40099, 150, "1.5/s"), None);
    let w = &below.workloads[0];
    assert!(w.failed.is_empty(), "{:?}", w.failed);
    assert_eq!(w.completed, 150);
}

#[test]
fn time_wait_occupancy_follows_littles_law() {
    // The example: Poisson arrivals at λ = 200/s, T_TW = 10 s: E[N] = 2000.
    let r = run_src(&example("time-wait-occupancy.json"), None);
    let client = r.occupancy.iter().find(|o| o.host == "client").unwrap();
    let mean = client.steady_mean().expect("a steady window");
    assert!((mean - 2000.0).abs() < 0.05 * 2000.0, "{mean}");
    assert!(client.max as f64 >= mean);
    let server = r.occupancy.iter().find(|o| o.host == "server").unwrap();
    assert_eq!(server.max, 0);
    // Periodic arrivals at 100/s, T_TW = 2 s: between 200 and 201 records at every instant
    // of the steady window, so the time-average is 200 to within one record.
    let src = r#"{"name":"p","os":"linux",
        "hosts":[{"name":"server","addr":"10.0.0.2"},
                 {"name":"client","addr":"10.0.0.1","time_wait":{"length":"2s"}}],
        "network":{"routes":[{"name":"lan","delay":"1ms"}]},
        "workloads":[{"name":"w","client":"client","server":"server","to":"10.0.0.2:80",
            "duration":"10s","rate":"100/s"}],
        "linger_after_steps":"1s"}"#;
    let r = run_src(src, None);
    let client = r.occupancy.iter().find(|o| o.host == "client").unwrap();
    let mean = client.steady_mean().expect("a steady window");
    assert!((mean - 200.0).abs() <= 1.0, "{mean}");
    assert!((200..=201).contains(&client.max), "{}", client.max);
}

#[test]
fn poisson_arrivals_come_from_the_seed() {
    let src = example("time-wait-occupancy.json");
    let a = run_src(&src, Some(3));
    let b = run_src(&src, Some(3));
    let c = run_src(&src, Some(4));
    assert_eq!(a.workloads[0].attempted, b.workloads[0].attempted);
    assert_eq!(a.occupancy[1].area, b.occupancy[1].area);
    assert_ne!(a.occupancy[1].area, c.occupancy[1].area);
    // 40 s at 200/s: 8000 expected, standard deviation √8000 ≈ 89.
    let n = a.workloads[0].attempted as f64;
    assert!((n - 8000.0).abs() < 5.0 * 89.5, "{n}");
}

#[test]
fn a_refused_server_and_a_fixed_port_are_counted_by_errno() {
    // No listener: a step's socket holds the server's port without listening.
    let src = r#"{"name":"r","os":"linux",
        "hosts":[{"name":"server","addr":"10.0.0.2"},{"name":"client","addr":"10.0.0.1"}],
        "steps":[{"host":"server","call":"socket","sock":"S"},
                 {"host":"server","call":"bind","sock":"S","addr":"10.0.0.2:80"}],
        "workloads":[{"name":"w","client":"client","server":"server","to":"10.0.0.2:80",
            "connections":3,"rate":"10/s","start":"10ms"},
            {"name":"f","client":"client","server":"server","to":"10.0.0.2:81",
            "connections":3,"rate":"10/s","from_port":5000}],
        "linger_after_steps":"1s"}"#;
    let r = run_src(src, None);
    let w = &r.workloads[0];
    assert_eq!(w.setup_error.as_deref(), Some("bind: EADDRINUSE"));
    assert_eq!(w.failed.get("ECONNREFUSED"), Some(&3));
    // The same local port each time: the client's TIME-WAIT holds it after the first.
    let f = &r.workloads[1];
    assert_eq!(f.connected, 1);
    assert_eq!(f.failed.get("EADDRINUSE"), Some(&2));
}

#[test]
fn think_time_delays_the_close_and_a_killed_server_refuses() {
    // 10/s for 1 s, each client thinking 5 s before closing: every exchange completes, and the
    // last close (hence the last TIME-WAIT, 60 s on linux) comes after 0.9 s + 5 s.
    let src = r#"{"name":"t","os":"linux",
        "hosts":[{"name":"server","addr":"10.0.0.2"},{"name":"client","addr":"10.0.0.1"}],
        "network":{"routes":[{"name":"lan","delay":"1ms"}]},
        "workloads":[{"name":"w","client":"client","server":"server","to":"10.0.0.2:80",
            "duration":"1s","rate":"10/s","request":5,"response":7,"think":"5s"}],
        "linger_after_steps":"0s"}"#;
    let r = run_src(src, None);
    let w = &r.workloads[0];
    assert_eq!((w.attempted, w.completed, w.bytes_delivered), (10, 10, 120));
    assert!(r.ended_at.micros() >= 5_900_000, "{}", r.ended_at);
    assert!(r.ended_at.micros() < 6_000_000, "{}", r.ended_at);
    // The workload's server process is killed at 0.55 s by a step naming it: its listener
    // closes, and later connects are refused.
    let src = r#"{"name":"k","os":"linux",
        "hosts":[{"name":"server","addr":"10.0.0.2"},{"name":"client","addr":"10.0.0.1"}],
        "network":{"routes":[{"name":"lan","delay":"1ms"}]},
        "steps":[{"at":"550ms","host":"server","proc":"w","call":"exit"}],
        "workloads":[{"name":"w","client":"client","server":"server","to":"10.0.0.2:80",
            "connections":10,"rate":"10/s"}],
        "linger_after_steps":"1s"}"#;
    let r = run_src(src, None);
    let w = &r.workloads[0];
    assert_eq!(w.connected, 6);
    assert_eq!(w.failed.get("ECONNREFUSED"), Some(&4));
    assert_eq!(w.first_failure.map(|f| f.0), Some(7));
}
