//! The validated scenario: what [`Scenario::resolve`](super::Scenario::resolve) returns. Names
//! are indices here (hosts, routes), durations are [`Duration`]s in microseconds, and every
//! value has been checked, so the engine and the replays never see an invalid one.

use super::error::{Ctx, ScenarioError};
use super::values::At;
use crate::wire::TcpFlags;
use std::net::{Ipv4Addr, SocketAddr};
use twsim_model::{Duration, Errno, Family, Instant, IsnPolicy, Profile, ProfileConfig, TcpState};

/// Overrides applied on top of a scenario (command line, variant).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Overrides {
    /// Seed.
    pub seed: Option<u64>,
    /// Profile for every host.
    pub os: Option<Profile>,
    /// MSL.
    pub msl: Option<Duration>,
}

/// A validated host.
#[derive(Debug, Clone, PartialEq)]
pub struct Host {
    /// Name.
    pub name: String,
    /// Address.
    pub addr: Ipv4Addr,
    /// Profile.
    pub profile: Profile,
    /// TIME-WAIT overrides applied on top of the profile.
    pub time_wait: TimeWaitOverride,
    /// Ephemeral port range replacing the profile's.
    pub ephemeral: Option<twsim_model::profile::PortRange>,
    /// How the host chooses each connection's ISS: the host's own `isn`, else the variant's,
    /// else the scenario's, else [`IsnPolicy::Random`] (the stack's own generator).
    pub isn: IsnPolicy,
}

/// Validated TIME-WAIT overrides (each `None` keeps the profile's rule).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TimeWaitOverride {
    /// Timer restart rule.
    pub restart: Option<twsim_model::time_wait::TimerRestart>,
    /// RST rule.
    pub rst: Option<twsim_model::time_wait::RstInTimeWait>,
    /// SYN rule.
    pub syn: Option<twsim_model::time_wait::SynInTimeWait>,
    /// Fixed length.
    pub length: Option<Duration>,
    /// ACK rate limit (`Some(None)`: off).
    pub ack_rate_limit: Option<Option<Duration>>,
    /// PAWS in TIME-WAIT.
    pub paws: Option<bool>,
    /// Exact-duplicate-ACK rule.
    pub bare_ack: Option<twsim_model::time_wait::BareAckInTimeWait>,
    /// Rule for segments without ACK.
    pub no_ack: Option<twsim_model::time_wait::NoAckInTimeWait>,
    /// Rule for data at or beyond RCV.NXT.
    pub data: Option<twsim_model::time_wait::DataInTimeWait>,
}

impl TimeWaitOverride {
    /// `o` on top of `self`: each rule `o` sets replaces `self`'s.
    pub(super) fn merge(self, o: TimeWaitOverride) -> TimeWaitOverride {
        TimeWaitOverride {
            restart: o.restart.or(self.restart),
            rst: o.rst.or(self.rst),
            syn: o.syn.or(self.syn),
            length: o.length.or(self.length),
            ack_rate_limit: o.ack_rate_limit.or(self.ack_rate_limit),
            paws: o.paws.or(self.paws),
            bare_ack: o.bare_ack.or(self.bare_ack),
            no_ack: o.no_ack.or(self.no_ack),
            data: o.data.or(self.data),
        }
    }
}

impl Host {
    /// The host's rules: its profile's, with the scenario's TIME-WAIT overrides applied.
    pub fn config(&self) -> ProfileConfig {
        let mut c = self.profile.config();
        let o = self.time_wait;
        if let Some(x) = o.restart {
            c.time_wait.restart = x;
        }
        if let Some(x) = o.rst {
            c.time_wait.rst = x;
        }
        if let Some(x) = o.syn {
            c.time_wait.syn = x;
        }
        if let Some(d) = o.length {
            c.time_wait_len = twsim_model::profile::TimeWaitLen::Fixed(d);
        }
        if let Some(x) = o.ack_rate_limit {
            c.time_wait.ack_rate_limit = x;
        }
        if let Some(x) = o.paws {
            c.time_wait.paws = x;
        }
        if let Some(x) = o.bare_ack {
            c.time_wait.bare_ack = x;
        }
        if let Some(x) = o.no_ack {
            c.time_wait.no_ack = x;
        }
        if let Some(x) = o.data {
            c.time_wait.data = x;
        }
        if let Some(r) = self.ephemeral {
            c.ephemeral = r;
        }
        c
    }

    /// The host's rules and clocks in a run whose scenario MSL is `scenario_msl`
    /// ([`Resolved::msl`]): [`Host::config`], the MSL the host assumes (the scenario's, else
    /// its profile's `default_msl`) and the length of a TIME-WAIT it enters after a plain
    /// close (`ProfileConfig::time_wait_duration` of that MSL: 2·MSL, or the fixed length of
    /// the profile or of a `time_wait.length` override). Both durations in microseconds.
    pub fn timing(&self, scenario_msl: Option<Duration>) -> HostTiming {
        let config = self.config();
        let msl = scenario_msl.unwrap_or(config.default_msl);
        let time_wait = config.time_wait_duration(msl);
        HostTiming {
            config,
            msl,
            time_wait,
        }
    }
}

/// A host's rules and clocks for one run, from [`Host::timing`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HostTiming {
    /// The host's rules ([`Host::config`]).
    pub config: ProfileConfig,
    /// The MSL the host assumes: the scenario's, else the profile's default.
    pub msl: Duration,
    /// TIME-WAIT length after a plain close (no SO_LINGER) under that MSL.
    pub time_wait: Duration,
}

/// A validated route.
#[derive(Debug, Clone, PartialEq)]
pub struct Route {
    /// Name.
    pub name: String,
    /// One-way delay distribution.
    pub delay: crate::delay::DelayDist,
    /// Loss probability.
    pub loss: f64,
    /// Duplication probability.
    pub duplicate: f64,
    /// Default for segments from this host index.
    pub from: Option<usize>,
    /// Default for segments to this host index.
    pub to: Option<usize>,
}

/// A fault action, validated.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Drop the segment.
    Drop,
    /// Add delay.
    Delay(Duration),
    /// Use another route.
    Via(usize),
    /// Deliver normally and send a copy on another route.
    DuplicateVia(usize),
}

/// A validated fault rule.
#[derive(Debug, Clone, PartialEq)]
pub struct Fault {
    /// Sending host index.
    pub from: Option<usize>,
    /// Receiving host index.
    pub to: Option<usize>,
    /// Route index.
    pub route: Option<usize>,
    /// Exact flags.
    pub flags: Option<TcpFlags>,
    /// Payload presence.
    pub has_payload: Option<bool>,
    /// Flags that must have crossed the wire on the connection first.
    pub after: Option<TcpFlags>,
    /// Which match (1-based).
    pub nth: Option<u32>,
    /// Window start.
    pub from_time: Option<Duration>,
    /// Window end (exclusive).
    pub until_time: Option<Duration>,
    /// Probability.
    pub probability: Option<f64>,
    /// Action.
    pub action: Action,
}

/// A socket option value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SockOpt {
    /// SO_REUSEADDR.
    ReuseAddr(bool),
    /// SO_REUSEPORT.
    ReusePort(bool),
    /// SO_LINGER: `None` = off, `Some(secs)`.
    Linger(Option<u32>),
    /// IPV6_V6ONLY (an IPv6 socket accepts IPv6 only, not IPv4 through v4-mapped addresses).
    V6Only(bool),
}

/// What `wait` waits for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WaitFor {
    /// A fixed time.
    Time(Duration),
    /// A socket reaching a state (RFC 9293 name, upper case).
    State(String, TcpState),
    /// The address becoming bindable by the socket (with its family and options).
    Bindable(String, SocketAddr),
}

/// A validated call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Call {
    /// socket() of a family
    Socket(String, Family),
    /// setsockopt()
    SetSockOpt(String, SockOpt),
    /// bind()
    Bind(String, SocketAddr),
    /// listen()
    Listen(String, u32),
    /// connect()
    Connect(String, SocketAddr),
    /// accept() into a new name
    Accept(String, String),
    /// send()
    Send(String, Vec<u8>),
    /// recv() up to n bytes
    Recv(String, Option<u32>),
    /// shutdown(): (read, write)
    Shutdown(String, bool, bool),
    /// close()
    Close(String),
    /// fork() into a child name
    Fork(String),
    /// exit()
    Exit,
    /// wait
    Wait(WaitFor),
}

/// A validated step.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    /// Index in the file.
    pub index: usize,
    /// Scheduled time: absolute, or relative to the previous completion.
    pub at: Option<At>,
    /// Host index.
    pub host: usize,
    /// Process name.
    pub proc: String,
    /// The step is the first to name `proc`, which no fork created: the process starts here,
    /// a freshly executed program holding no handles ([`twsim_model::Processes::start`]).
    pub starts: bool,
    /// The call.
    pub call: Call,
    /// Deadline for blocking calls.
    pub timeout: Option<Duration>,
    /// Expected errno, `None` inside = expect success.
    pub expect: Option<Option<Errno>>,
    /// Expected received data.
    pub expect_data: Option<String>,
    /// Teaching note.
    pub note: Option<Note>,
    /// The story's key call (shown in a demo's closing comparison).
    pub key: bool,
}

/// A validated teaching note ([`Step::note`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Note {
    /// One sentence, printed unless the result contradicts the step's expectation.
    Text(String),
    /// A sentence per outcome (`None` = success), printed for that outcome only.
    ByOutcome(Vec<(Option<Errno>, String)>),
}

impl Note {
    /// The sentence to print for a step that returned `result` (`None` = success), given
    /// whether its expectation held (`met`, `None` = nothing expected): a plain sentence
    /// narrates the expected outcome, so it is left out when the expectation failed.
    pub fn for_outcome(&self, result: Option<Errno>, met: Option<bool>) -> Option<&str> {
        match self {
            Note::Text(t) => (met != Some(false)).then_some(t.as_str()),
            Note::ByOutcome(v) => v
                .iter()
                .find(|(e, _)| *e == result)
                .map(|(_, t)| t.as_str()),
        }
    }
}

impl Step {
    /// The virtual time at which this step starts, given the time `prev_done` at which the
    /// previous step completed ([`Instant::ZERO`] for the first step): `prev_done` without
    /// `at`, otherwise [`At::start_time`] (an absolute time already passed means at once, a
    /// relative one is added to `prev_done`). Never before `prev_done`.
    ///
    /// The full simulation, the model replay and the kernel replay schedule steps with it.
    pub fn start_time(&self, prev_done: Instant) -> Instant {
        self.at.map_or(prev_done, |at| at.start_time(prev_done))
    }
}

/// A validated check.
#[derive(Debug, Clone, PartialEq)]
pub struct Check {
    /// Host index.
    pub host: usize,
    /// Port (None = any).
    pub port: Option<u16>,
    /// Expected count.
    pub count: Option<usize>,
    /// Expected duration; `None` inside = the profile's.
    pub duration: Option<Option<Duration>>,
    /// Expected restarts.
    pub restarts: Option<u32>,
}

/// A validated, runnable scenario (one variant).
#[derive(Debug, Clone, PartialEq)]
pub struct Resolved {
    /// Name.
    pub name: String,
    /// Variant name, if any.
    pub variant: Option<String>,
    /// Description.
    pub description: Option<String>,
    /// Source.
    pub source: Option<String>,
    /// Seed.
    pub seed: u64,
    /// MSL (None = each profile's default).
    pub msl: Option<Duration>,
    /// Hosts.
    pub hosts: Vec<Host>,
    /// Network maximum segment lifetime.
    pub max_lifetime: Duration,
    /// Routes (at least one).
    pub routes: Vec<Route>,
    /// Faults.
    pub faults: Vec<Fault>,
    /// Steps, each shared with its result once run ([`crate::engine::StepResult::step`]), so
    /// that a result does not copy what its step holds.
    pub steps: Vec<std::sync::Arc<Step>>,
    /// Checks.
    pub checks: Vec<Check>,
    /// How long to keep running after the last step if not quiet.
    pub linger_after_steps: Duration,
    /// When set, the steps' expectations are the story's under this reference profile, not
    /// requirements: a demo run under another profile (`--os`) shows an outcome that differs
    /// beside the reference's, and it does not make the run fail. `None` (every scenario as
    /// resolved): expectations are requirements.
    pub reference: Option<Profile>,
    /// Workloads, in file order.
    pub workloads: Vec<Workload>,
}

/// A validated workload (see [`crate::scenario::WorkloadSpec`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Workload {
    /// Name; also the name of its processes on the client and the server host.
    pub name: String,
    /// Client host index.
    pub client: usize,
    /// Server host index.
    pub server: usize,
    /// The server's address.
    pub to: std::net::SocketAddrV4,
    /// When connections stop being opened.
    pub end: WorkloadEnd,
    /// Arrival process.
    pub arrivals: Arrivals,
    /// When the server listens and the first connection opens (virtual time from 0).
    pub start: Duration,
    /// Fixed local port; `None`: an ephemeral port per connection.
    pub from_port: Option<u16>,
    /// Request bytes (client to server).
    pub request: u64,
    /// Response bytes (server to client), sent once the whole request arrived.
    pub response: u64,
    /// The client closes first (else the server does).
    pub client_closes: bool,
    /// Time the first closer waits after the exchange before closing.
    pub think: Duration,
    /// Connect deadline; `None`: the client profile's.
    pub connect_timeout: Option<Duration>,
    /// Listen backlog.
    pub backlog: u32,
}

/// When a workload stops opening connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WorkloadEnd {
    /// After this many connections.
    Count(u64),
    /// At `start` + this duration (arrivals strictly before it).
    Duration(Duration),
}

/// A rate of `per` events per `per_us` microseconds (`"2.5/s"` is 25 per 10 000 000 µs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    /// Events…
    pub per: u64,
    /// …per this many µs.
    pub per_us: u64,
}

impl Rate {
    /// Events per second.
    pub fn per_second(self) -> f64 {
        self.per as f64 * 1e6 / self.per_us as f64
    }

    /// The time of arrival `i` (0-based) after the start of a periodic process, µs, rounded
    /// down: ⌊i · per_us / per⌋ (exact integer arithmetic, no accumulated error).
    pub fn periodic_offset_us(self, i: u64) -> u128 {
        u128::from(i) * u128::from(self.per_us) / u128::from(self.per)
    }
}

/// A workload's arrival process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arrivals {
    /// Arrival i at start + ⌊i / rate⌋.
    Periodic(Rate),
    /// Exponential inter-arrival times of mean 1/rate, from the workload's own random stream
    /// (`rng::stream(seed, "workload/NAME")`).
    Poisson(Rate),
}

impl Arrivals {
    /// The rate.
    pub fn rate(self) -> Rate {
        match self {
            Arrivals::Periodic(r) | Arrivals::Poisson(r) => r,
        }
    }
}

/// A step that needs IPv6 ([`Resolved::uses_ipv6`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ipv6Use {
    /// Index of the step.
    pub step: usize,
    /// JSON path of the value that needs IPv6 (`steps[3].family`, `steps[4].addr`).
    pub path: String,
    /// What it is, e.g. `an inet6 socket`, `the IPv6 address [::1]:80`.
    pub what: String,
}

impl Resolved {
    /// Moves every host onto loopback for a real-kernel replay: host `i` whose address is not
    /// in 127.0.0.0/8 gets 127.0.0.(i + 2) (127.0.0.1 stays free for hosts already on it), and
    /// every bind, connect and `wait until bindable` address naming a moved host (IPv4 or
    /// v4-mapped IPv6) follows it. Other addresses are left as written. Returns the moves, in
    /// host order.
    pub fn map_loopback(&mut self) -> Vec<(Ipv4Addr, Ipv4Addr)> {
        let mut moves = Vec::new();
        for (i, h) in self.hosts.iter_mut().enumerate() {
            if !h.addr.is_loopback() {
                let to = Ipv4Addr::new(127, 0, 0, (i + 2).min(254) as u8);
                moves.push((h.addr, to));
                h.addr = to;
            }
        }
        let map = |a: &mut SocketAddr| {
            let ip = match a {
                SocketAddr::V4(v) => Some(*v.ip()),
                SocketAddr::V6(v) => v.ip().to_ipv4_mapped(),
            };
            if let Some((_, to)) = ip.and_then(|ip| moves.iter().find(|(from, _)| *from == ip)) {
                match a {
                    SocketAddr::V4(v) => v.set_ip(*to),
                    SocketAddr::V6(v) => v.set_ip(to.to_ipv6_mapped()),
                }
            }
        };
        for step in &mut self.steps {
            match &mut std::sync::Arc::make_mut(step).call {
                Call::Bind(_, a) | Call::Connect(_, a) | Call::Wait(WaitFor::Bindable(_, a)) => {
                    map(a)
                }
                _ => {}
            }
        }
        moves
    }

    /// The first step that needs IPv6: an `inet6` socket, or an IPv6 address in bind,
    /// connect or `wait until bindable`. Model replay and kernel replay accept IPv6; the full
    /// simulation does not (its smoltcp endpoints are IPv4-only), see
    /// [`Resolved::require_ipv4`].
    pub fn uses_ipv6(&self) -> Option<Ipv6Use> {
        self.steps.iter().find_map(|s| {
            let (field, what) = match &s.call {
                Call::Socket(_, Family::Inet6) => ("family", "an inet6 socket".to_string()),
                Call::Bind(_, a @ SocketAddr::V6(_))
                | Call::Connect(_, a @ SocketAddr::V6(_))
                | Call::Wait(WaitFor::Bindable(_, a @ SocketAddr::V6(_))) => {
                    ("addr", format!("the IPv6 address {a}"))
                }
                _ => return None,
            };
            Some(Ipv6Use {
                step: s.index,
                path: format!("steps[{}].{field}", s.index),
                what,
            })
        })
    }

    /// Refuses a scenario that needs IPv6 for the full simulation (`twsim run`, `twsim demo`),
    /// with the position of the first such step in `src` (the text this scenario was resolved
    /// from).
    pub fn require_ipv4(&self, file: &str, src: &str) -> Result<(), ScenarioError> {
        match self.uses_ipv6() {
            None => Ok(()),
            Some(u) => Err(Ctx { file, src }.err(
                &u.path,
                format!(
                    "{} needs IPv6, and the full simulation is IPv4-only (smoltcp endpoints); \
                     `twsim replay` and `twsim replay --kernel` run IPv6 scripts",
                    u.what
                ),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn map_loopback_moves_hosts_and_the_addresses_that_name_them() {
        let src = r#"{"name":"m","hosts":[{"name":"a","addr":"10.0.0.1"},{"name":"b","addr":"127.0.0.1"}],
            "steps":[{"host":"a","call":"socket","sock":"S"},
                     {"host":"a","call":"bind","sock":"S","addr":"10.0.0.1:40000"},
                     {"host":"a","call":"connect","sock":"S","addr":"10.0.0.9:80"}]}"#;
        let sc = crate::scenario::parse("m.json", src).expect("parses");
        let mut r = sc
            .resolve("m.json", src, None, &crate::scenario::Overrides::default())
            .expect("resolves");
        let moves = r.map_loopback();
        assert_eq!(
            moves,
            vec![(Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::new(127, 0, 0, 2))]
        );
        assert_eq!(r.hosts[1].addr, Ipv4Addr::new(127, 0, 0, 1));
        assert_eq!(
            r.steps[1].call,
            Call::Bind("S".into(), "127.0.0.2:40000".parse().unwrap())
        );
        // An address naming no host is left as written (the kernel replay refuses it).
        assert_eq!(
            r.steps[2].call,
            Call::Connect("S".into(), "10.0.0.9:80".parse().unwrap())
        );
    }
    use twsim_model::TimeWaitLen;

    fn host(profile: Profile, time_wait: TimeWaitOverride) -> Host {
        Host {
            name: "a".into(),
            addr: Ipv4Addr::new(10, 0, 0, 1),
            profile,
            time_wait,
            ephemeral: None,
            isn: IsnPolicy::Random,
        }
    }

    #[test]
    fn timing_takes_the_scenario_msl_else_the_profile_default() {
        let h = host(Profile::Linux, TimeWaitOverride::default());
        let t = h.timing(None);
        assert_eq!(t.config, h.config());
        assert_eq!(t.msl, t.config.default_msl);
        assert_eq!(
            t.time_wait,
            t.config.time_wait_duration(t.config.default_msl)
        );
        let msl = Duration::from_secs(7);
        let t = h.timing(Some(msl));
        assert_eq!(t.msl, msl);
        assert_eq!(t.time_wait, t.config.time_wait_duration(msl));
    }

    #[test]
    fn timing_applies_a_fixed_length_override() {
        let length = Duration::from_secs(3);
        let over = TimeWaitOverride {
            length: Some(length),
            ..TimeWaitOverride::default()
        };
        let t = host(Profile::FreeBsd, over).timing(Some(Duration::from_secs(60)));
        assert_eq!(t.config.time_wait_len, TimeWaitLen::Fixed(length));
        assert_eq!(t.msl, Duration::from_secs(60));
        assert_eq!(t.time_wait, length);
    }

    #[test]
    fn merge_keeps_rules_the_override_leaves_unset() {
        let a = TimeWaitOverride {
            length: Some(Duration::from_secs(1)),
            ack_rate_limit: Some(None),
            ..TimeWaitOverride::default()
        };
        let b = TimeWaitOverride {
            length: Some(Duration::from_secs(2)),
            ..TimeWaitOverride::default()
        };
        let m = a.merge(b);
        assert_eq!(m.length, Some(Duration::from_secs(2)));
        assert_eq!(m.ack_rate_limit, Some(None));
    }

    fn step(at: Option<At>) -> Step {
        Step {
            starts: false,
            index: 0,
            at,
            host: 0,
            proc: "main".into(),
            call: Call::Exit,
            timeout: None,
            expect: None,
            expect_data: None,
            note: None,
            key: false,
        }
    }

    #[test]
    fn start_time_without_at_is_the_previous_completion() {
        let prev = Instant::from_micros(5_000_000);
        assert_eq!(step(None).start_time(prev), prev);
        let abs = step(Some(At::Absolute(Duration::from_secs(9))));
        assert_eq!(abs.start_time(prev), Instant::from_micros(9_000_000));
        assert_eq!(
            abs.start_time(Instant::from_micros(10_000_000)).micros(),
            10_000_000
        );
        let rel = step(Some(At::Relative(Duration::from_millis(1))));
        assert_eq!(rel.start_time(prev), Instant::from_micros(5_001_000));
    }
}
