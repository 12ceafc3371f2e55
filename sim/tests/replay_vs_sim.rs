//! Property: for fault-free scripts, the model-only replay and the full simulation (smoltcp
//! hosts, the network, the host layer) return the same result for every call.

use proptest::prelude::*;
use twsim_sim::engine::{run, RunOptions};
use twsim_sim::replay::replay_model;
use twsim_sim::scenario::{parse, Overrides};

#[derive(Debug, Clone)]
enum Op {
    Socket(bool),
    ReuseAddr(bool, u8),
    Linger0(bool, u8),
    Bind(bool, u8, u8),
    Listen(u8),
    Connect(u8, u8),
    Accept(u8),
    Send(bool, u8),
    Recv(bool, u8),
    Shutdown(bool, u8),
    Close(bool, u8),
    Wait(u8),
    /// A new client socket connects and the server accepts it (most scripts need connections).
    Pair(u8),
    /// Both ends of the newest pair close, `server_first` deciding who holds TIME-WAIT.
    CloseBoth(bool),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        2 => any::<bool>().prop_map(Op::Socket),
        1 => (any::<bool>(), any::<u8>()).prop_map(|(s, i)| Op::ReuseAddr(s, i)),
        1 => (any::<bool>(), any::<u8>()).prop_map(|(s, i)| Op::Linger0(s, i)),
        2 => (any::<bool>(), any::<u8>(), 0u8..3).prop_map(|(s, i, a)| Op::Bind(s, i, a)),
        2 => any::<u8>().prop_map(Op::Listen),
        3 => (any::<u8>(), 0u8..3).prop_map(|(i, p)| Op::Connect(i, p)),
        2 => any::<u8>().prop_map(Op::Accept),
        2 => (any::<bool>(), any::<u8>()).prop_map(|(s, i)| Op::Send(s, i)),
        2 => (any::<bool>(), any::<u8>()).prop_map(|(s, i)| Op::Recv(s, i)),
        1 => (any::<bool>(), any::<u8>()).prop_map(|(s, i)| Op::Shutdown(s, i)),
        2 => (any::<bool>(), any::<u8>()).prop_map(|(s, i)| Op::Close(s, i)),
        1 => (0u8..3).prop_map(Op::Wait),
        4 => any::<u8>().prop_map(Op::Pair),
        3 => any::<bool>().prop_map(Op::CloseBoth),
    ]
}

/// Turns ops into a valid script: names are created before use and never reused.
fn script(os: &str, prelude_ra: bool, ops: &[Op]) -> String {
    // A listening server and two client sockets to start from, so that most scripts make
    // connections; the random ops then bind, connect, exchange, close and wait.
    let mut names: [Vec<String>; 2] = [vec!["C0".into(), "C00".into()], vec!["S0".into()]];
    let mut listeners: Vec<String> = vec!["S0".into()];
    let mut n = 0;
    let mut pairs: Vec<(String, String)> = Vec::new();
    let mut steps = vec![
        r#"{"host":"server","call":"socket","sock":"S0"}"#.to_string(),
        format!(
            r#"{{"host":"server","call":"setsockopt","sock":"S0","opt":"SO_REUSEADDR","value":{}}}"#,
            u8::from(prelude_ra)
        ),
        r#"{"host":"server","call":"bind","sock":"S0","addr":"0.0.0.0:80"}"#.to_string(),
        r#"{"host":"server","call":"listen","sock":"S0","backlog":4}"#.to_string(),
        r#"{"host":"client","call":"socket","sock":"C0"}"#.to_string(),
        r#"{"host":"client","call":"socket","sock":"C00"}"#.to_string(),
    ];
    let host = |server: bool| if server { "server" } else { "client" };
    let pick = |v: &Vec<String>, i: u8| (!v.is_empty()).then(|| v[i as usize % v.len()].clone());
    for o in ops {
        match o {
            Op::Socket(s) => {
                n += 1;
                let name = format!("{}{n}", if *s { "S" } else { "C" });
                steps.push(format!(
                    r#"{{"host":"{}","call":"socket","sock":"{name}"}}"#,
                    host(*s)
                ));
                names[usize::from(*s)].push(name);
            }
            Op::ReuseAddr(s, i) | Op::Linger0(s, i) => {
                if let Some(x) = pick(&names[usize::from(*s)], *i) {
                    let (opt, v) = match o {
                        Op::ReuseAddr(..) => ("SO_REUSEADDR", "1".to_string()),
                        _ => ("SO_LINGER", r#"{"on":1,"secs":0}"#.to_string()),
                    };
                    steps.push(format!(r#"{{"host":"{}","call":"setsockopt","sock":"{x}","opt":"{opt}","value":{v}}}"#, host(*s)));
                }
            }
            Op::Bind(s, i, a) => {
                if let Some(x) = pick(&names[usize::from(*s)], *i) {
                    let addr = match (s, a) {
                        (true, 0) => "0.0.0.0:80",
                        (true, 1) => "10.0.0.2:80",
                        (true, _) => "10.0.0.2:0",
                        (false, 0) => "10.0.0.1:5000",
                        (false, 1) => "0.0.0.0:5000",
                        (false, _) => "10.0.0.1:0",
                    };
                    steps.push(format!(
                        r#"{{"host":"{}","call":"bind","sock":"{x}","addr":"{addr}"}}"#,
                        host(*s)
                    ));
                }
            }
            Op::Listen(i) => {
                if let Some(x) = pick(&names[1], *i) {
                    steps.push(format!(
                        r#"{{"host":"server","call":"listen","sock":"{x}"}}"#
                    ));
                    listeners.push(x);
                }
            }
            Op::Connect(i, p) => {
                if let Some(x) = pick(&names[0], *i) {
                    let port = [80, 80, 81][*p as usize];
                    steps.push(format!(r#"{{"host":"client","call":"connect","sock":"{x}","addr":"10.0.0.2:{port}","timeout":"3s"}}"#));
                }
            }
            Op::Accept(i) => {
                if let Some(x) = pick(&listeners, *i) {
                    n += 1;
                    let a = format!("A{n}");
                    steps.push(format!(r#"{{"host":"server","call":"accept","sock":"{x}","as":"{a}","timeout":"1s"}}"#));
                    names[1].push(a);
                }
            }
            Op::Send(s, i) | Op::Recv(s, i) | Op::Shutdown(s, i) | Op::Close(s, i) => {
                if let Some(x) = pick(&names[usize::from(*s)], *i) {
                    let call = match o {
                        Op::Send(..) => r#""call":"send","data":"abc""#,
                        Op::Recv(..) => r#""call":"recv","timeout":"1s""#,
                        Op::Shutdown(..) => r#""call":"shutdown","how":"write""#,
                        _ => r#""call":"close""#,
                    };
                    steps.push(format!(r#"{{"host":"{}",{call},"sock":"{x}"}}"#, host(*s)));
                }
            }
            Op::Pair(p) => {
                if let Some(l) = pick(&listeners, *p) {
                    n += 1;
                    let (c, a) = (format!("P{n}"), format!("Q{n}"));
                    let port = if *p % 4 == 0 { 81 } else { 80 };
                    steps.push(format!(
                        r#"{{"host":"client","call":"socket","sock":"{c}"}}"#
                    ));
                    steps.push(format!(r#"{{"host":"client","call":"connect","sock":"{c}","addr":"10.0.0.2:{port}","timeout":"3s"}}"#));
                    steps.push(format!(r#"{{"host":"server","call":"accept","sock":"{l}","as":"{a}","timeout":"1s"}}"#));
                    names[0].push(c.clone());
                    names[1].push(a.clone());
                    pairs.push((c, a));
                }
            }
            Op::CloseBoth(server_first) => {
                if let Some((c, a)) = pairs.pop() {
                    let (first, second) = if *server_first {
                        (("server", a), ("client", c))
                    } else {
                        (("client", c), ("server", a))
                    };
                    steps.push(format!(
                        r#"{{"host":"{}","call":"close","sock":"{}"}}"#,
                        first.0, first.1
                    ));
                    steps.push(format!(
                        r#"{{"host":"{}","call":"recv","sock":"{}","timeout":"1s"}}"#,
                        second.0, second.1
                    ));
                    steps.push(format!(
                        r#"{{"host":"{}","call":"close","sock":"{}"}}"#,
                        second.0, second.1
                    ));
                }
            }
            Op::Wait(k) => {
                let d = ["1s", "61s", "5min"][*k as usize];
                steps.push(format!(r#"{{"host":"server","call":"wait","for":"{d}"}}"#));
            }
        }
    }
    // Every call 100 ms after the previous one completed: the network settles between calls
    // (1 ms links), which is what the model's instantaneous exchanges assume.
    let steps: Vec<String> = steps
        .iter()
        .map(|s| s.replacen('{', r#"{"at":"+100ms","#, 1))
        .collect();
    format!(
        r#"{{"name":"prop","os":"{os}","msl":"30s","hosts":[{{"name":"server","addr":"10.0.0.2"}},{{"name":"client","addr":"10.0.0.1"}}],
"network":{{"routes":[{{"name":"lan","delay":"1ms"}}]}},"steps":[{}]}}"#,
        steps.join(",\n")
    )
}

fn compare(src: &str) -> Result<(), TestCaseError> {
    let sc = parse("prop.json", src).map_err(|e| TestCaseError::fail(e.to_string()))?;
    let r = sc
        .resolve("prop.json", src, None, &Overrides::default())
        .map_err(|e| TestCaseError::fail(e.to_string()))?;
    let model = replay_model(&r);
    let sim = run(&r, RunOptions::default());
    prop_assert_eq!(sim.unreached, 0, "the simulation did not finish the script");
    // No duplication, no reordering: ground truth never finds another incarnation's bytes.
    prop_assert_eq!(sim.hazards, twsim_sim::host::Hazards::default());
    if std::env::var("TWSIM_PROP_STATS").is_ok() {
        let ok = |p: &str| {
            sim.steps
                .iter()
                .filter(|s| s.call().starts_with(p) && s.result.is_ok())
                .count()
        };
        eprintln!(
            "steps={} connect_ok={} accept_ok={} tw={}",
            sim.steps.len(),
            ok("connect"),
            ok("accept"),
            sim.time_wait.len()
        );
    }
    for (m, s) in model.iter().zip(&sim.steps) {
        prop_assert_eq!(
            m.result,
            s.result.as_ref().map(|_| ()).map_err(|e| *e),
            "step {} ({}) differs: model {:?}, simulation {:?}\n{}\n{}",
            s.index(),
            s.call(),
            m.result,
            s.result,
            src,
            twsim_sim::report::text(&sim)
        );
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn model_replay_agrees_with_the_simulation(
        os in proptest::sample::select(twsim_model::Profile::ALL.to_vec()),
        ra in any::<bool>(),
        ops in proptest::collection::vec(op(), 1..30),
    ) {
        compare(&script(os.name(), ra, &ops))?;
    }
}
