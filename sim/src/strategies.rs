//! [proptest](https://docs.rs/proptest/1) strategies for twsim scenarios (feature `proptest`).
//!
//! Every strategy builds its value through the [`crate::scenario`] builders from plain numbers
//! and choices, so every value it generates, and every value it shrinks to, is a scenario
//! [`ScenarioBuilder::build`] accepts (`scenario_builds` in this module's tests holds that over
//! thousands of cases). Socket names are created before they are used; routes and hosts are
//! referred to by names that exist. What a call then returns (EADDRINUSE, ECONNREFUSED …) is
//! the simulation's business, not the generator's.
//!
//! The pieces:
//!
//! - [`profile`], [`isn`], [`time_wait`]: a host's rules;
//! - [`delay`], [`route`], [`fault`], [`network`]: routes with delay distributions, loss and
//!   duplication, and fault rules (drop, delay, divert, copy onto a slow route) between the
//!   hosts `server` (10.0.0.2) and `client` (10.0.0.1);
//! - [`calls`]: a socket-call script over those two hosts, valid for every profile (IPv4
//!   only, so the full simulation runs it), mixing listens, connects, accepts, data, closes
//!   and waits;
//! - [`reuse_calls`]: a client reusing one 4-tuple `rounds` times, closing first, the next
//!   round binding the port as soon as it is bindable: the script that exercises TIME-WAIT;
//! - [`scenario`]: all of it, one [`ScenarioBuilder`].
//!
//! A builder's setters replace what was set before, so a property can generate a scenario and
//! then fix what it is about: `.time_wait(TimeWaitBuilder::new().rst("ignore"))`,
//! `.max_lifetime(…)`.
//!
//! ```
//! use proptest::prelude::*;
//! use proptest::test_runner::{Config, TestRunner};
//! use twsim_sim::engine::{run, RunOptions};
//! use twsim_sim::strategies::{scenario, ScenarioShape};
//!
//! let mut runner = TestRunner::new(Config { cases: 8, ..Config::default() });
//! runner
//!     .run(&scenario(ScenarioShape::default()), |b| {
//!         let sc = b.build().expect("generated scenarios are valid");
//!         let report = run(&sc, RunOptions { quiet: true, ..RunOptions::default() });
//!         // A run that was not stopped reached every step (one that was stopped may have
//!         // reached them all: an ACK storm can stop it while it lingers after the last).
//!         prop_assert!(report.aborted.is_some() || report.unreached == 0);
//!         Ok(())
//!     })
//!     .unwrap();
//! ```

use crate::scenario::{
    Delay, FaultBuilder, HostBuilder, Isn, MatchBuilder, RouteBuilder, ScenarioBuilder,
    StepBuilder, TimeWaitBuilder,
};
use proptest::prelude::*;
use proptest::sample::select;
use twsim_model::{Duration, Profile};

/// The server host's name and address in generated scenarios.
pub const SERVER: (&str, &str) = ("server", "10.0.0.2");
/// The client host's name and address in generated scenarios.
pub const CLIENT: (&str, &str) = ("client", "10.0.0.1");
/// The port the server listens on.
pub const SERVER_PORT: u16 = 80;
/// The client port [`reuse_calls`] binds in every round.
pub const REUSED_PORT: u16 = 40000;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// Any profile (`Profile::ALL`), shrinking towards `linux`.
pub fn profile() -> impl Strategy<Value = Profile> {
    select(Profile::ALL.to_vec())
}

/// An ISN policy: random, the RFC 793 clock, RFC 6528, a constant or a short scripted list,
/// shrinking towards `random`.
pub fn isn() -> impl Strategy<Value = Isn> {
    prop_oneof![
        Just(Isn::Random),
        Just(Isn::Rfc793Clock),
        Just(Isn::Rfc6528),
        any::<u32>().prop_map(Isn::Constant),
        proptest::collection::vec(any::<u32>(), 1..4).prop_map(Isn::Scripted),
    ]
}

/// TIME-WAIT overrides: each rule left to the profile or replaced by one of its values, and
/// a fixed length of 0 to 5 s (µs), or none.
pub fn time_wait() -> impl Strategy<Value = TimeWaitBuilder> {
    let rule = |names: &'static [&'static str]| proptest::option::of(select(names));
    (
        rule(&[
            "kill_in_window",
            "kill_exact",
            "challenge_ack",
            "ignore",
            "challenge_inexact",
        ]),
        rule(&[
            "rfc793", "linux", "rfc1122", "bsd", "silent", "rfc6191", "xnu",
        ]),
        rule(&[
            "duplicate_fin",
            "any_segment",
            "literal",
            "retransmitted_fin",
            "out_of_window",
            "never",
        ]),
        proptest::option::of(0u64..5_000),
        proptest::option::of(any::<bool>()),
    )
        .prop_map(|(rst, syn, restart, length, paws)| {
            let mut tw = TimeWaitBuilder::new();
            if let Some(r) = rst {
                tw = tw.rst(r);
            }
            if let Some(r) = syn {
                tw = tw.syn(r);
            }
            if let Some(r) = restart {
                tw = tw.restart(r);
            }
            if let Some(l) = length {
                tw = tw.length(ms(l));
            }
            if let Some(p) = paws {
                tw = tw.paws(p);
            }
            tw
        })
}

/// A one-way delay of at most `max_ms` milliseconds (at least 1): fixed, uniform, truncated
/// normal, shifted exponential or empirical, shrinking towards a fixed delay.
pub fn delay(max_ms: u64) -> impl Strategy<Value = Delay> {
    let max_ms = max_ms.max(1);
    prop_oneof![
        (1..=max_ms).prop_map(|d| Delay::Fixed(ms(d))),
        (1..=max_ms, 1..=max_ms).prop_map(|(a, b)| Delay::Uniform(ms(a.min(b)), ms(a.max(b)))),
        (1..=max_ms, 0..=max_ms / 4).prop_map(move |(mean, sd)| Delay::Normal {
            mean: ms(mean),
            sd: ms(sd),
            min: Some(ms(0)),
            max: Some(ms(max_ms)),
        }),
        (1..=max_ms).prop_map(move |mean| Delay::Exponential {
            mean: ms(mean),
            min: None,
            max: Some(ms(max_ms)),
        }),
        proptest::collection::vec(1..=max_ms, 1..5)
            .prop_map(|v| Delay::Empirical(v.into_iter().map(ms).collect())),
    ]
}

/// A route named `name` with a delay of at most `max_delay_ms`, loss in [0, 0.2) and
/// duplication in [0, 0.3) (both shrinking to 0), for every segment.
pub fn route(name: &str, max_delay_ms: u64) -> impl Strategy<Value = RouteBuilder> {
    let name = name.to_string();
    (delay(max_delay_ms), 0.0..0.2f64, 0.0..0.3f64).prop_map(move |(d, loss, dup)| {
        let mut r = RouteBuilder::new(name.clone(), d);
        if loss > 0.0 {
            r = r.loss(loss);
        }
        if dup > 0.0 {
            r = r.duplicate(dup);
        }
        r
    })
}

/// A fault rule between [`SERVER`] and [`CLIENT`] whose actions name only routes among
/// `routes`: a selector of sender, flags, payload, `after` a FIN, `nth`, a probability, and
/// one of drop, extra delay, `via` or `duplicate_via`.
pub fn fault(routes: Vec<String>) -> impl Strategy<Value = FaultBuilder> {
    let host = proptest::option::of(select(vec![SERVER.0, CLIENT.0]));
    let flags = proptest::option::of(select(vec![
        "SYN", "SYN|ACK", "ACK", "FIN|ACK", "RST", "RST|ACK",
    ]));
    (
        host,
        flags,
        proptest::option::of(any::<bool>()),
        any::<bool>(),
        proptest::option::of(1u32..4),
        proptest::option::of(0.0..1.0f64),
        0u8..4,
        select(routes),
        0u64..2_000,
    )
        .prop_map(
            |(from, flags, payload, after_fin, nth, p, action, route, extra)| {
                let mut m = MatchBuilder::new();
                if let Some(h) = from {
                    m = m.from(h);
                }
                if let Some(f) = flags {
                    m = m.flags(f);
                }
                if let Some(x) = payload {
                    m = m.has_payload(x);
                }
                if after_fin {
                    m = m.after("FIN");
                }
                if let Some(n) = nth {
                    m = m.nth(n);
                }
                if let Some(p) = p {
                    m = m.probability(p);
                }
                match action {
                    0 => FaultBuilder::drop(m),
                    1 => FaultBuilder::delay(m, ms(extra)),
                    2 => FaultBuilder::via(m, route),
                    _ => FaultBuilder::duplicate_via(m, route),
                }
            },
        )
}

/// A network between [`SERVER`] and [`CLIENT`], applied to a scenario with
/// [`Network::apply`].
#[derive(Debug, Clone)]
pub struct Network {
    /// Segments older than this are dropped (µs).
    pub max_lifetime: Duration,
    /// The routes: `fast` first (every segment's default), then `slow`, and maybe `mid`.
    pub routes: Vec<RouteBuilder>,
    /// Fault rules, in order.
    pub faults: Vec<FaultBuilder>,
}

impl Network {
    /// `b` with this network's lifetime, routes and faults (appended to any it has).
    pub fn apply(self, b: ScenarioBuilder) -> ScenarioBuilder {
        let mut b = b.max_lifetime(self.max_lifetime);
        for r in self.routes {
            b = b.route(r);
        }
        for f in self.faults {
            b = b.fault(f);
        }
        b
    }
}

/// A network: a `fast` route of at most `max_fast_ms` and a `slow` one of at most
/// `max_slow_ms` (plus, sometimes, a `mid` one), with loss and duplication; up to
/// `max_faults` fault rules; a network lifetime of 1 s to 4 min.
pub fn network(
    max_fast_ms: u64,
    max_slow_ms: u64,
    max_faults: usize,
) -> impl Strategy<Value = Network> {
    let names = vec!["fast".to_string(), "slow".to_string()];
    (
        route("fast", max_fast_ms),
        route("slow", max_slow_ms),
        proptest::option::of(route("mid", max_slow_ms.max(2) / 2)),
        proptest::collection::vec(fault(names.clone()), 0..=max_faults),
        1u64..240,
    )
        .prop_map(|(fast, slow, mid, faults, life_s)| {
            let mut routes = vec![fast, slow];
            routes.extend(mid);
            Network {
                max_lifetime: Duration::from_secs(life_s),
                routes,
                faults,
            }
        })
}

/// One operation of [`calls`], before names are assigned.
#[derive(Debug, Clone)]
enum Op {
    Socket(bool),
    ReuseAddr(bool, u8),
    Linger(bool, u8, Option<u32>),
    Bind(bool, u8, u8),
    Listen(u8),
    Connect(u8, u8),
    Accept(u8),
    Send(bool, u8, u8),
    Recv(bool, u8),
    Shutdown(bool, u8),
    Close(bool, u8),
    Wait(u16),
    Pair(u8),
    CloseBoth(bool),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        2 => any::<bool>().prop_map(Op::Socket),
        1 => (any::<bool>(), any::<u8>()).prop_map(|(s, i)| Op::ReuseAddr(s, i)),
        1 => (any::<bool>(), any::<u8>(), proptest::option::of(0u32..3)).prop_map(|(s, i, l)| Op::Linger(s, i, l)),
        2 => (any::<bool>(), any::<u8>(), 0u8..3).prop_map(|(s, i, a)| Op::Bind(s, i, a)),
        2 => any::<u8>().prop_map(Op::Listen),
        3 => (any::<u8>(), 0u8..3).prop_map(|(i, p)| Op::Connect(i, p)),
        2 => any::<u8>().prop_map(Op::Accept),
        2 => (any::<bool>(), any::<u8>(), 1u8..64).prop_map(|(s, i, n)| Op::Send(s, i, n)),
        2 => (any::<bool>(), any::<u8>()).prop_map(|(s, i)| Op::Recv(s, i)),
        1 => (any::<bool>(), any::<u8>()).prop_map(|(s, i)| Op::Shutdown(s, i)),
        2 => (any::<bool>(), any::<u8>()).prop_map(|(s, i)| Op::Close(s, i)),
        1 => (0u16..3000).prop_map(Op::Wait),
        4 => any::<u8>().prop_map(Op::Pair),
        3 => any::<bool>().prop_map(Op::CloseBoth),
    ]
}

/// A script of `len` random operations between [`SERVER`] and [`CLIENT`] after a prelude
/// (a server listening on port 80, two client sockets): sockets, SO_REUSEADDR and
/// SO_LINGER, binds, listens, connects (timeout 3 s), accepts (2 s), sends, receives (1 s),
/// shutdowns, closes, waits, and connection pairs closed by either end. Every socket name is
/// created before it is used; shrinking removes operations and keeps it so. Blocking calls
/// have short deadlines, so a script never waits long for a call that cannot complete.
pub fn calls(len: std::ops::Range<usize>) -> impl Strategy<Value = Vec<StepBuilder>> {
    proptest::collection::vec(op(), len).prop_map(|ops| script(&ops))
}

fn script(ops: &[Op]) -> Vec<StepBuilder> {
    let (srv, cli) = (SERVER.0, CLIENT.0);
    let host = |server: bool| if server { srv } else { cli };
    let mut names: [Vec<String>; 2] = [vec!["C0".into(), "C00".into()], vec!["S0".into()]];
    let mut listeners = vec!["S0".to_string()];
    let mut pairs: Vec<(String, String)> = Vec::new();
    let mut n = 0;
    let mut steps = vec![
        StepBuilder::socket(srv, "S0"),
        StepBuilder::bind(srv, "S0", format!("0.0.0.0:{SERVER_PORT}")),
        StepBuilder::listen(srv, "S0").backlog(4),
        StepBuilder::socket(cli, "C0"),
        StepBuilder::socket(cli, "C00"),
    ];
    let pick =
        |v: &Vec<String>, i: u8| (!v.is_empty()).then(|| v[usize::from(i) % v.len()].clone());
    let t = Duration::from_secs;
    for o in ops {
        match *o {
            Op::Socket(s) => {
                n += 1;
                let name = format!("{}{n}", if s { "S" } else { "C" });
                steps.push(StepBuilder::socket(host(s), name.clone()));
                names[usize::from(s)].push(name);
            }
            Op::ReuseAddr(s, i) => {
                if let Some(x) = pick(&names[usize::from(s)], i) {
                    steps.push(StepBuilder::setsockopt(host(s), x, "SO_REUSEADDR", true));
                }
            }
            Op::Linger(s, i, l) => {
                if let Some(x) = pick(&names[usize::from(s)], i) {
                    steps.push(StepBuilder::linger(host(s), x, l));
                }
            }
            Op::Bind(s, i, a) => {
                if let Some(x) = pick(&names[usize::from(s)], i) {
                    let addr = match (s, a) {
                        (true, 0) => format!("0.0.0.0:{SERVER_PORT}"),
                        (true, 1) => format!("{}:{SERVER_PORT}", SERVER.1),
                        (true, _) => format!("{}:0", SERVER.1),
                        (false, 0) => format!("{}:5000", CLIENT.1),
                        (false, 1) => "0.0.0.0:5000".to_string(),
                        (false, _) => format!("{}:0", CLIENT.1),
                    };
                    steps.push(StepBuilder::bind(host(s), x, addr));
                }
            }
            Op::Listen(i) => {
                if let Some(x) = pick(&names[1], i) {
                    steps.push(StepBuilder::listen(srv, x.clone()));
                    listeners.push(x);
                }
            }
            Op::Connect(i, p) => {
                if let Some(x) = pick(&names[0], i) {
                    let port = [SERVER_PORT, SERVER_PORT, SERVER_PORT + 1][usize::from(p)];
                    steps.push(
                        StepBuilder::connect(cli, x, format!("{}:{port}", SERVER.1)).timeout(t(3)),
                    );
                }
            }
            Op::Accept(i) => {
                if let Some(l) = pick(&listeners, i) {
                    n += 1;
                    let a = format!("A{n}");
                    steps.push(StepBuilder::accept(srv, l, a.clone()).timeout(t(2)));
                    names[1].push(a);
                }
            }
            Op::Send(s, i, len) => {
                if let Some(x) = pick(&names[usize::from(s)], i) {
                    steps.push(StepBuilder::send(host(s), x, "d".repeat(usize::from(len))));
                }
            }
            Op::Recv(s, i) => {
                if let Some(x) = pick(&names[usize::from(s)], i) {
                    steps.push(StepBuilder::recv(host(s), x).timeout(t(1)));
                }
            }
            Op::Shutdown(s, i) => {
                if let Some(x) = pick(&names[usize::from(s)], i) {
                    steps.push(StepBuilder::shutdown(host(s), x, "write"));
                }
            }
            Op::Close(s, i) => {
                if let Some(x) = pick(&names[usize::from(s)], i) {
                    steps.push(StepBuilder::close(host(s), x));
                }
            }
            Op::Wait(w) => steps.push(StepBuilder::wait_for(cli, ms(u64::from(w)))),
            Op::Pair(i) => {
                let Some(l) = pick(&listeners, i) else {
                    continue;
                };
                n += 1;
                let (c, a) = (format!("P{n}"), format!("Q{n}"));
                steps.push(StepBuilder::socket(cli, c.clone()));
                steps.push(
                    StepBuilder::connect(cli, c.clone(), format!("{}:{SERVER_PORT}", SERVER.1))
                        .timeout(t(3)),
                );
                steps.push(StepBuilder::accept(srv, l, a.clone()).timeout(t(2)));
                names[0].push(c.clone());
                names[1].push(a.clone());
                pairs.push((c, a));
            }
            Op::CloseBoth(server_first) => {
                let Some((c, a)) = pairs.pop() else { continue };
                let (first, second) = if server_first {
                    (StepBuilder::close(srv, a), StepBuilder::close(cli, c))
                } else {
                    (StepBuilder::close(cli, c), StepBuilder::close(srv, a))
                };
                steps.push(first);
                steps.push(second.after(ms(50)));
            }
        }
    }
    steps
}

/// A client that connects from [`CLIENT`]:[`REUSED_PORT`] to [`SERVER`]:[`SERVER_PORT`]
/// `rounds` times: each round waits until the port is bindable (at most 20 min), waits
/// `reuse_after_ms` more, binds, connects, sends `bytes` bytes, closes first (so the client
/// holds TIME-WAIT), and the server reads and closes. Consecutive incarnations of one 4-tuple
/// are what TIME-WAIT protects.
pub fn reuse_calls(
    rounds: std::ops::RangeInclusive<usize>,
) -> impl Strategy<Value = Vec<StepBuilder>> {
    (rounds, 0u64..2_000, 1usize..3_000)
        .prop_map(|(rounds, reuse_after_ms, bytes)| reuse_script(rounds, reuse_after_ms, bytes))
}

fn reuse_script(rounds: usize, reuse_after_ms: u64, bytes: usize) -> Vec<StepBuilder> {
    let (srv, cli) = (SERVER.0, CLIENT.0);
    let t = Duration::from_secs;
    let local = format!("{}:{REUSED_PORT}", CLIENT.1);
    let mut steps = vec![
        StepBuilder::socket(srv, "L"),
        StepBuilder::bind(srv, "L", format!("0.0.0.0:{SERVER_PORT}")),
        StepBuilder::listen(srv, "L"),
    ];
    let data = "x".repeat(bytes);
    for r in 0..rounds {
        let (c, a) = (format!("C{r}"), format!("A{r}"));
        steps.extend([
            StepBuilder::socket(cli, c.clone()),
            StepBuilder::wait_bindable(cli, c.clone(), local.clone()).timeout(t(1200)),
            StepBuilder::bind(cli, c.clone(), local.clone()).after(ms(reuse_after_ms)),
            StepBuilder::connect(cli, c.clone(), format!("{}:{SERVER_PORT}", SERVER.1))
                .timeout(t(10)),
            StepBuilder::accept(srv, "L", a.clone()).timeout(t(10)),
            StepBuilder::send(cli, c.clone(), data.clone()),
            StepBuilder::recv(srv, a.clone())
                .bytes(4000)
                .timeout(t(2))
                .after(ms(200)),
            StepBuilder::close(cli, c),
            StepBuilder::recv(srv, a.clone()).bytes(4000).timeout(t(2)),
            StepBuilder::close(srv, a),
        ]);
    }
    steps
}

/// What [`scenario`] generates.
#[derive(Debug, Clone)]
pub struct ScenarioShape {
    /// Largest delay of the fast route, ms.
    pub max_fast_ms: u64,
    /// Largest delay of the slow route, ms.
    pub max_slow_ms: u64,
    /// Most fault rules.
    pub max_faults: usize,
    /// Number of random operations of a [`calls`] script.
    pub ops: std::ops::Range<usize>,
    /// Rounds of a [`reuse_calls`] script.
    pub rounds: std::ops::RangeInclusive<usize>,
    /// Whether to add random [`time_wait`] overrides.
    pub time_wait_overrides: bool,
    /// Which scripts.
    pub scripts: Scripts,
}

/// The scripts [`scenario`] generates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scripts {
    /// [`calls`] or [`reuse_calls`], evenly.
    Both,
    /// Random socket calls only ([`calls`]).
    Calls,
    /// Port reuse only ([`reuse_calls`]).
    Reuse,
}

impl Default for ScenarioShape {
    /// Fast route ≤ 40 ms, slow ≤ 30 s, ≤ 3 faults, 0 to 24 operations, 2 or 3 rounds, TIME-WAIT
    /// overrides on, both kinds of script.
    fn default() -> Self {
        ScenarioShape {
            max_fast_ms: 40,
            max_slow_ms: 30_000,
            max_faults: 3,
            ops: 0..24,
            rounds: 2..=3,
            time_wait_overrides: true,
            scripts: Scripts::Both,
        }
    }
}

/// A whole scenario named `prop`: hosts [`SERVER`] and [`CLIENT`] under one [`profile`]
/// (sometimes a second one for the client), an [`isn`] policy, a seed, maybe [`time_wait`]
/// overrides, a [`network`], and a random [`calls`] script or a [`reuse_calls`] one
/// ([`ScenarioShape::scripts`]).
/// Every value builds ([`ScenarioBuilder::build`]) and runs in the full simulation.
pub fn scenario(shape: ScenarioShape) -> impl Strategy<Value = ScenarioBuilder> {
    let tw: BoxedStrategy<Option<TimeWaitBuilder>> = if shape.time_wait_overrides {
        proptest::option::of(time_wait()).boxed()
    } else {
        Just(None).boxed()
    };
    let script = match shape.scripts {
        Scripts::Both => {
            prop_oneof![calls(shape.ops.clone()), reuse_calls(shape.rounds.clone())].boxed()
        }
        Scripts::Calls => calls(shape.ops.clone()).boxed(),
        Scripts::Reuse => reuse_calls(shape.rounds.clone()).boxed(),
    };
    (
        profile(),
        proptest::option::of(profile()),
        isn(),
        any::<u64>(),
        tw,
        network(shape.max_fast_ms, shape.max_slow_ms, shape.max_faults),
        script,
    )
        .prop_map(|(os, client_os, isn, seed, tw, net, steps)| {
            let mut client = HostBuilder::new(CLIENT.0, CLIENT.1);
            if let Some(p) = client_os {
                client = client.os(p.name());
            }
            let mut b = ScenarioBuilder::new("prop")
                .os(os.name())
                .seed(seed)
                .isn(isn)
                .host(HostBuilder::new(SERVER.0, SERVER.1))
                .host(client);
            if let Some(tw) = tw {
                b = b.time_wait(tw);
            }
            b = net.apply(b);
            for s in steps {
                b = b.step(s);
            }
            b
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::{run, RunOptions};
    use proptest::strategy::ValueTree;
    use proptest::test_runner::{Config, TestRunner};

    proptest! {
        #![proptest_config(Config { cases: 512, ..Config::default() })]

        /// Every generated scenario is valid.
        #[test]
        fn scenario_builds(b in scenario(ScenarioShape::default())) {
            let r = b.build();
            prop_assert!(r.is_ok(), "{}\n{}", r.unwrap_err(), b.to_json());
        }
    }

    /// Shrinking keeps scenarios valid: walk a tree down by `simplify` and back up by
    /// `complicate`, building every value on the way.
    #[test]
    fn shrunk_scenarios_stay_valid() {
        let mut runner = TestRunner::deterministic();
        let s = scenario(ScenarioShape::default());
        for _ in 0..20 {
            let mut tree = s.new_tree(&mut runner).unwrap();
            for i in 0..200 {
                let b = tree.current();
                if let Err(e) = b.build() {
                    panic!("{e}\n{}", b.to_json());
                }
                let moved = if i % 3 == 2 {
                    tree.complicate()
                } else {
                    tree.simplify()
                };
                if !moved {
                    break;
                }
            }
        }
    }

    /// Generated scenarios run, and reach what they are for: connections, data and TIME-WAIT
    /// records, across profiles.
    #[test]
    fn generated_scenarios_run_and_make_time_wait_records() {
        let mut runner = TestRunner::deterministic();
        let s = scenario(ScenarioShape {
            max_slow_ms: 2_000,
            ..ScenarioShape::default()
        });
        let (mut records, mut connected) = (0, 0);
        for _ in 0..24 {
            let b = s.new_tree(&mut runner).unwrap().current();
            let rep = run(
                &b.build().unwrap(),
                RunOptions {
                    quiet: true,
                    ..RunOptions::default()
                },
            );
            records += rep.time_wait.len();
            connected += rep
                .steps
                .iter()
                .filter(|s| {
                    matches!(s.step.call, crate::scenario::Call::Connect(..)) && s.result.is_ok()
                })
                .count();
        }
        assert!(
            records > 0 && connected > 0,
            "{records} records, {connected} connects"
        );
    }
}
