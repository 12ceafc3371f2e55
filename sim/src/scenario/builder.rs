//! Building a scenario in Rust instead of writing its JSON: [`ScenarioBuilder`] and one small
//! builder per part of the document ([`HostBuilder`], [`RouteBuilder`], [`FaultBuilder`],
//! [`MatchBuilder`], [`StepBuilder`], [`VariantBuilder`], [`CheckBuilder`],
//! [`TimeWaitBuilder`]).
//!
//! A builder writes the scenario document itself (a `serde_json::Value` with the keys of
//! `docs/scenario-format.md`) and [`ScenarioBuilder::build`] loads it through
//! [`parse`](super::parse) and [`Scenario::resolve`], the path a scenario file takes. The
//! two ways in therefore accept and refuse exactly the same scenarios and give equal
//! [`Resolved`] values; a builder never validates anything on its own. Every duration is a
//! [`Duration`] (microseconds, written `"<N>us"` in the document), every other value is
//! written as the file format spells it (profile and errno names, addresses `a.b.c.d:port`,
//! flags `"FIN|ACK"`, state names `"TIME-WAIT"`).
//!
//! Errors come back as the file format's [`ScenarioError`]: file `<builder>`, the JSON path
//! of the bad value (`steps[3].addr`) and its line:column in [`ScenarioBuilder::to_json`].
//!
//! Follow-up: fields this module has no method for yet (for instance a future top-level
//! `workloads`) can be set with [`ScenarioBuilder::field`]; they are validated like any other.
//!
//! ```
//! use twsim_sim::scenario::{HostBuilder, ScenarioBuilder, StepBuilder};
//! use twsim_model::Duration;
//!
//! let sc = ScenarioBuilder::new("restart")
//!     .os("linux")
//!     .host(HostBuilder::new("server", "10.0.0.2"))
//!     .host(HostBuilder::new("client", "10.0.0.1"))
//!     .step(StepBuilder::socket("server", "L"))
//!     .step(StepBuilder::bind("server", "L", "0.0.0.0:9099").expect_ok())
//!     .step(StepBuilder::listen("server", "L"))
//!     .step(StepBuilder::socket("client", "C"))
//!     .step(StepBuilder::connect("client", "C", "10.0.0.2:9099").expect_ok())
//!     .step(StepBuilder::accept("server", "L", "A"))
//!     .step(StepBuilder::close("server", "A").after(Duration::from_secs(1)))
//!     .build()
//!     .expect("a valid scenario");
//! assert_eq!(sc.hosts.len(), 2);
//! assert_eq!(sc.steps.len(), 7);
//!
//! // The same validation as a file: an unknown host is refused with its JSON path.
//! let err = ScenarioBuilder::new("bad")
//!     .host(HostBuilder::new("a", "10.0.0.1"))
//!     .step(StepBuilder::socket("b", "s"))
//!     .build()
//!     .unwrap_err();
//! assert_eq!(err.path, "steps[0].host");
//! ```

use super::error::ScenarioError;
use super::format::Scenario;
use super::resolved::{Overrides, Resolved};
use serde_json::{json, Map, Value};
use twsim_model::Duration;

/// The file name [`ScenarioBuilder`]'s errors carry.
pub const BUILDER_FILE: &str = "<builder>";

/// A duration as the file format writes it: whole microseconds, `"<N>us"`.
fn dur(d: Duration) -> Value {
    Value::String(format!("{}us", d.micros()))
}

/// A JSON object under construction.
#[derive(Debug, Clone, Default, PartialEq)]
struct Obj(Map<String, Value>);

impl Obj {
    fn set(mut self, key: &str, v: impl Into<Value>) -> Self {
        self.0.insert(key.to_string(), v.into());
        self
    }
    fn push(mut self, key: &str, v: Value) -> Self {
        let slot = self
            .0
            .entry(key.to_string())
            .or_insert_with(|| Value::Array(Vec::new()));
        if let Value::Array(a) = slot {
            a.push(v);
        }
        self
    }
    fn value(&self) -> Value {
        Value::Object(self.0.clone())
    }
}

/// A whole scenario (`docs/scenario-format.md`, top level). Methods that name a list's item
/// (`host`, `route`, `fault`, `step`, `variant`, `check`) append to that list in call order.
#[derive(Debug, Clone, PartialEq)]
pub struct ScenarioBuilder(Obj);

impl ScenarioBuilder {
    /// A scenario named `name` with no hosts and no steps (both lists are written, empty).
    pub fn new(name: impl Into<String>) -> Self {
        ScenarioBuilder(
            Obj::default()
                .set("name", name.into())
                .set("hosts", Value::Array(Vec::new()))
                .set("steps", Value::Array(Vec::new())),
        )
    }

    /// What the scenario shows (`description`).
    pub fn description(self, s: impl Into<String>) -> Self {
        ScenarioBuilder(self.0.set("description", s.into()))
    }

    /// The source it reproduces (`source`).
    pub fn source(self, s: impl Into<String>) -> Self {
        ScenarioBuilder(self.0.set("source", s.into()))
    }

    /// Run seed (`seed`, default 1).
    pub fn seed(self, seed: u64) -> Self {
        ScenarioBuilder(self.0.set("seed", seed))
    }

    /// Default profile of the hosts by name (`os`: `"linux"`, `"rfc793"`, `"freebsd"` …, see
    /// `twsim_model::Profile::name`).
    pub fn os(self, profile: impl Into<String>) -> Self {
        ScenarioBuilder(self.0.set("os", profile.into()))
    }

    /// The MSL every endpoint assumes (`msl`, µs; default: each profile's).
    pub fn msl(self, msl: Duration) -> Self {
        ScenarioBuilder(self.0.set("msl", dur(msl)))
    }

    /// How long to keep running after the last step if not quiet (`linger_after_steps`, µs;
    /// default 1 h).
    pub fn linger_after_steps(self, d: Duration) -> Self {
        ScenarioBuilder(self.0.set("linger_after_steps", dur(d)))
    }

    /// TIME-WAIT policy overrides for every host (`time_wait`).
    pub fn time_wait(self, tw: TimeWaitBuilder) -> Self {
        ScenarioBuilder(self.0.set("time_wait", tw.0.value()))
    }

    /// Ephemeral port range `[first, last]` of every host (`ephemeral_ports`).
    pub fn ephemeral_ports(self, first: u16, last: u16) -> Self {
        ScenarioBuilder(self.0.set("ephemeral_ports", json!([first, last])))
    }

    /// ISN policy of every host (`isn`): see [`Isn`].
    pub fn isn(self, isn: Isn) -> Self {
        ScenarioBuilder(self.0.set("isn", isn.value()))
    }

    /// Appends a host (`hosts[]`).
    pub fn host(self, h: HostBuilder) -> Self {
        ScenarioBuilder(self.0.push("hosts", h.0.value()))
    }

    /// The network's maximum segment lifetime (`network.max_lifetime`, µs; default 2 min).
    pub fn max_lifetime(self, d: Duration) -> Self {
        self.network(|n| n.set("max_lifetime", dur(d)))
    }

    /// Appends a route (`network.routes[]`; without any, one 1 ms route named `default`).
    pub fn route(self, r: RouteBuilder) -> Self {
        self.network(|n| n.push("routes", r.0.value()))
    }

    /// Appends a fault rule (`network.faults[]`).
    pub fn fault(self, f: FaultBuilder) -> Self {
        self.network(|n| n.push("faults", f.value()))
    }

    fn network(self, f: impl FnOnce(Obj) -> Obj) -> Self {
        let mut top = self.0;
        let net = match top.0.remove("network") {
            Some(Value::Object(m)) => Obj(m),
            _ => Obj::default(),
        };
        ScenarioBuilder(top.set("network", f(net).value()))
    }

    /// Appends a step to the script (`steps[]`).
    pub fn step(self, s: StepBuilder) -> Self {
        ScenarioBuilder(self.0.push("steps", s.0.value()))
    }

    /// Appends a variant (`variants[]`).
    pub fn variant(self, v: VariantBuilder) -> Self {
        ScenarioBuilder(self.0.push("variants", v.0.value()))
    }

    /// Appends an outcome check (`checks[]`).
    pub fn check(self, c: CheckBuilder) -> Self {
        ScenarioBuilder(self.0.push("checks", c.0.value()))
    }

    /// Sets a top-level field this builder has no method for, as the file would write it
    /// (validated by [`ScenarioBuilder::build`] like every other field; an unknown key is an
    /// error).
    pub fn field(self, key: &str, value: Value) -> Self {
        ScenarioBuilder(self.0.set(key, value))
    }

    /// The scenario document.
    pub fn to_value(&self) -> Value {
        self.0.value()
    }

    /// The scenario document as pretty-printed JSON: a scenario file `twsim run` reads, and
    /// the text the positions of [`ScenarioBuilder::build`]'s errors refer to.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(&self.to_value()).expect("a JSON value serialises")
    }

    /// The parsed document ([`parse`](super::parse) of [`ScenarioBuilder::to_json`]), for
    /// its variant names or to resolve it several ways.
    ///
    /// # Errors
    ///
    /// What [`parse`](super::parse) refuses (a value of the wrong type, an unknown field).
    pub fn scenario(&self) -> Result<Scenario, ScenarioError> {
        super::parse(BUILDER_FILE, &self.to_json())
    }

    /// The validated base scenario: [`ScenarioBuilder::build_with`]`(None, &Overrides::default())`.
    ///
    /// # Errors
    ///
    /// The first invalid value, as [`Scenario::resolve`] reports it for a file.
    pub fn build(&self) -> Result<Resolved, ScenarioError> {
        self.build_with(None, &Overrides::default())
    }

    /// The validated scenario for `variant` (`None` = the base scenario; `Some(i)` = the
    /// i-th variant appended) with `ov` applied last, exactly as a file with this document
    /// would resolve.
    ///
    /// # Errors
    ///
    /// A [`ScenarioError`] naming [`BUILDER_FILE`], the JSON path and the position in
    /// [`ScenarioBuilder::to_json`]; a variant index past the last variant is an error at
    /// `variants` (a file's resolve would panic).
    pub fn build_with(
        &self,
        variant: Option<usize>,
        ov: &Overrides,
    ) -> Result<Resolved, ScenarioError> {
        let src = self.to_json();
        let sc = super::parse(BUILDER_FILE, &src)?;
        if let Some(i) = variant.filter(|i| *i >= sc.variants.len()) {
            return Err(ScenarioError {
                file: BUILDER_FILE.to_string(),
                path: "variants".to_string(),
                line: 1,
                column: 1,
                message: format!("no variant {i} (the scenario has {})", sc.variants.len()),
            });
        }
        sc.resolve(BUILDER_FILE, &src, variant, ov)
    }
}

/// An ISN policy (`isn`): how a host chooses each connection's initial sequence number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Isn {
    /// `"random"`: the stack's own generator (smoltcp's, seeded from the run seed).
    Random,
    /// `"rfc793-clock"`: ISS = ⌊t / 4 µs⌋ mod 2³² (RFC 793 §3.3).
    Rfc793Clock,
    /// `"rfc6528"`: clock plus a keyed hash of the 4-tuple (RFC 6528).
    Rfc6528,
    /// `{"constant": N}`: every connection gets ISS N.
    Constant(u32),
    /// `{"scripted": [N, …]}`: the host's k-th connection gets entry k, cycling.
    Scripted(Vec<u32>),
}

impl Isn {
    fn value(&self) -> Value {
        match self {
            Isn::Random => json!("random"),
            Isn::Rfc793Clock => json!("rfc793-clock"),
            Isn::Rfc6528 => json!("rfc6528"),
            Isn::Constant(n) => json!({ "constant": n }),
            Isn::Scripted(v) => json!({ "scripted": v }),
        }
    }
}

/// TIME-WAIT policy overrides (`time_wait`): each method sets one rule by its file name
/// (`docs/scenario-format.md`, "TIME-WAIT overrides"; the rules' sources are in
/// `twsim_model::time_wait`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TimeWaitBuilder(Obj);

impl TimeWaitBuilder {
    /// No override.
    pub fn new() -> Self {
        Self::default()
    }
    /// `restart`: `duplicate_fin`, `any_segment`, `literal`, `retransmitted_fin`,
    /// `out_of_window`, `never`.
    pub fn restart(self, rule: &str) -> Self {
        TimeWaitBuilder(self.0.set("restart", rule))
    }
    /// `rst`: `kill_in_window` (RFC 793), `kill_exact` (Linux), `challenge_ack` (RFC 5961),
    /// `ignore` (RFC 1337), `challenge_inexact` (XNU).
    pub fn rst(self, rule: &str) -> Self {
        TimeWaitBuilder(self.0.set("rst", rule))
    }
    /// `syn`: `rfc793`, `linux`, `rfc1122`, `bsd`, `silent`, `rfc6191`, `xnu`.
    pub fn syn(self, rule: &str) -> Self {
        TimeWaitBuilder(self.0.set("syn", rule))
    }
    /// `length`: a fixed TIME-WAIT length replacing the profile's (µs; zero: no TIME-WAIT).
    pub fn length(self, d: Duration) -> Self {
        TimeWaitBuilder(self.0.set("length", dur(d)))
    }
    /// `ack_rate_limit`: minimum spacing of rate-limited ACKs (µs), `None` for `"off"`.
    pub fn ack_rate_limit(self, d: Option<Duration>) -> Self {
        TimeWaitBuilder(self.0.set("ack_rate_limit", d.map_or(json!("off"), dur)))
    }
    /// `paws`: PAWS in TIME-WAIT (RFC 7323 §5.3) on or off.
    pub fn paws(self, on: bool) -> Self {
        TimeWaitBuilder(self.0.set("paws", on))
    }
    /// `bare_ack`: `ack`, `restart_silently`, `drop_exact`, `drop_in_window`.
    pub fn bare_ack(self, rule: &str) -> Self {
        TimeWaitBuilder(self.0.set("bare_ack", rule))
    }
    /// `no_ack`: `process`, `drop_acceptable`, `drop`.
    pub fn no_ack(self, rule: &str) -> Self {
        TimeWaitBuilder(self.0.set("no_ack", rule))
    }
    /// `data`: `ack`, `reset`.
    pub fn data(self, rule: &str) -> Self {
        TimeWaitBuilder(self.0.set("data", rule))
    }
}

/// A host (`hosts[]`).
#[derive(Debug, Clone, PartialEq)]
pub struct HostBuilder(Obj);

impl HostBuilder {
    /// A host named `name` with IPv4 address `addr` (`"10.0.0.1"`).
    pub fn new(name: impl Into<String>, addr: impl Into<String>) -> Self {
        HostBuilder(
            Obj::default()
                .set("name", name.into())
                .set("addr", addr.into()),
        )
    }
    /// Its profile by name (`os`), replacing the scenario's.
    pub fn os(self, profile: impl Into<String>) -> Self {
        HostBuilder(self.0.set("os", profile.into()))
    }
    /// TIME-WAIT overrides on top of the scenario's (`time_wait`).
    pub fn time_wait(self, tw: TimeWaitBuilder) -> Self {
        HostBuilder(self.0.set("time_wait", tw.0.value()))
    }
    /// Ephemeral port range `[first, last]` (`ephemeral_ports`).
    pub fn ephemeral_ports(self, first: u16, last: u16) -> Self {
        HostBuilder(self.0.set("ephemeral_ports", json!([first, last])))
    }
    /// ISN policy of this host (`isn`).
    pub fn isn(self, isn: Isn) -> Self {
        HostBuilder(self.0.set("isn", isn.value()))
    }
}

/// A route's one-way delay (`routes[].delay`), all times in µs.
#[derive(Debug, Clone, PartialEq)]
pub enum Delay {
    /// A fixed delay.
    Fixed(Duration),
    /// Uniform in `[min, max]`.
    Uniform(Duration, Duration),
    /// Normal with `mean` and standard deviation `sd`, truncated to `[min, max]` (defaults
    /// 0 and mean + 6 sd).
    Normal {
        /// Mean.
        mean: Duration,
        /// Standard deviation.
        sd: Duration,
        /// Lower bound.
        min: Option<Duration>,
        /// Upper bound.
        max: Option<Duration>,
    },
    /// `min` plus an exponential of mean `mean`, capped at `max` (defaults 0 and min + 20
    /// means).
    Exponential {
        /// Mean of the exponential part.
        mean: Duration,
        /// Floor.
        min: Option<Duration>,
        /// Cap.
        max: Option<Duration>,
    },
    /// Observed delays, drawn uniformly.
    Empirical(Vec<Duration>),
}

impl Delay {
    fn value(&self) -> Value {
        let opt = |o: Obj, k: &str, d: &Option<Duration>| match d {
            Some(d) => o.set(k, dur(*d)),
            None => o,
        };
        match self {
            Delay::Fixed(d) => dur(*d),
            Delay::Uniform(a, b) => json!({ "uniform": [dur(*a), dur(*b)] }),
            Delay::Normal { mean, sd, min, max } => {
                let o = Obj::default().set("mean", dur(*mean)).set("sd", dur(*sd));
                json!({ "normal": opt(opt(o, "min", min), "max", max).value() })
            }
            Delay::Exponential { mean, min, max } => {
                let o = Obj::default().set("mean", dur(*mean));
                json!({ "exponential": opt(opt(o, "min", min), "max", max).value() })
            }
            Delay::Empirical(v) => {
                json!({ "empirical": v.iter().map(|d| dur(*d)).collect::<Vec<_>>() })
            }
        }
    }
}

/// A route (`network.routes[]`).
#[derive(Debug, Clone, PartialEq)]
pub struct RouteBuilder(Obj);

impl RouteBuilder {
    /// A route named `name` with one-way delay `delay`.
    pub fn new(name: impl Into<String>, delay: Delay) -> Self {
        RouteBuilder(
            Obj::default()
                .set("name", name.into())
                .set("delay", delay.value()),
        )
    }
    /// Random loss probability in [0, 1] (`loss`).
    pub fn loss(self, p: f64) -> Self {
        RouteBuilder(self.0.set("loss", p))
    }
    /// Probability in [0, 1] of also delivering a copy (`duplicate`).
    pub fn duplicate(self, p: f64) -> Self {
        RouteBuilder(self.0.set("duplicate", p))
    }
    /// Only segments from this host take the route by default (`from`).
    pub fn from(self, host: impl Into<String>) -> Self {
        RouteBuilder(self.0.set("from", host.into()))
    }
    /// Only segments to this host take the route by default (`to`).
    pub fn to(self, host: impl Into<String>) -> Self {
        RouteBuilder(self.0.set("to", host.into()))
    }
}

/// The selector of a fault rule (`faults[].match`); empty matches every segment.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MatchBuilder(Obj);

impl MatchBuilder {
    /// Matches every segment.
    pub fn new() -> Self {
        Self::default()
    }
    /// Sending host (`from`).
    pub fn from(self, host: impl Into<String>) -> Self {
        MatchBuilder(self.0.set("from", host.into()))
    }
    /// Receiving host (`to`).
    pub fn to(self, host: impl Into<String>) -> Self {
        MatchBuilder(self.0.set("to", host.into()))
    }
    /// Route the segment would take (`route`).
    pub fn route(self, route: impl Into<String>) -> Self {
        MatchBuilder(self.0.set("route", route.into()))
    }
    /// Exact SYN/FIN/RST/ACK flags, `|`-separated (`flags`: `"FIN|ACK"`).
    pub fn flags(self, flags: impl Into<String>) -> Self {
        MatchBuilder(self.0.set("flags", flags.into()))
    }
    /// Whether the segment carries payload (`has_payload`).
    pub fn has_payload(self, yes: bool) -> Self {
        MatchBuilder(self.0.set("has_payload", yes))
    }
    /// Only after a segment with these flags crossed the wire on the connection (`after`).
    pub fn after(self, flags: impl Into<String>) -> Self {
        MatchBuilder(self.0.set("after", flags.into()))
    }
    /// Only the nth matching segment, 1-based (`nth`).
    pub fn nth(self, n: u32) -> Self {
        MatchBuilder(self.0.set("nth", n))
    }
    /// Only segments sent at or after this time (`from_time`, µs).
    pub fn from_time(self, t: Duration) -> Self {
        MatchBuilder(self.0.set("from_time", dur(t)))
    }
    /// Only segments sent before this time (`until_time`, µs).
    pub fn until_time(self, t: Duration) -> Self {
        MatchBuilder(self.0.set("until_time", dur(t)))
    }
    /// Apply with this probability (`probability`).
    pub fn probability(self, p: f64) -> Self {
        MatchBuilder(self.0.set("probability", p))
    }
}

/// A fault rule (`network.faults[]`): a [`MatchBuilder`] and what happens to the segments
/// it selects.
#[derive(Debug, Clone, PartialEq)]
pub struct FaultBuilder {
    matcher: MatchBuilder,
    action: Value,
}

impl FaultBuilder {
    /// Drop the segments (`"drop"`).
    pub fn drop(m: MatchBuilder) -> Self {
        FaultBuilder {
            matcher: m,
            action: json!("drop"),
        }
    }
    /// Add this much delay (`{"delay": …}`, µs).
    pub fn delay(m: MatchBuilder, d: Duration) -> Self {
        FaultBuilder {
            matcher: m,
            action: json!({ "delay": dur(d) }),
        }
    }
    /// Send on another route (`{"via": route}`).
    pub fn via(m: MatchBuilder, route: impl Into<String>) -> Self {
        FaultBuilder {
            matcher: m,
            action: json!({ "via": route.into() }),
        }
    }
    /// Deliver normally and send a copy on another route (`{"duplicate_via": route}`).
    pub fn duplicate_via(m: MatchBuilder, route: impl Into<String>) -> Self {
        FaultBuilder {
            matcher: m,
            action: json!({ "duplicate_via": route.into() }),
        }
    }
    fn value(&self) -> Value {
        json!({ "match": self.matcher.0.value(), "action": self.action })
    }
}

/// One socket call of the script (`steps[]`). Constructors name the call; methods add the
/// optional fields.
#[derive(Debug, Clone, PartialEq)]
pub struct StepBuilder(Obj);

impl StepBuilder {
    fn call(host: impl Into<String>, call: &str) -> Self {
        StepBuilder(Obj::default().set("host", host.into()).set("call", call))
    }
    fn on(host: impl Into<String>, call: &str, sock: impl Into<String>) -> Self {
        Self::call(host, call).set("sock", sock.into())
    }
    fn set(self, k: &str, v: impl Into<Value>) -> Self {
        StepBuilder(self.0.set(k, v))
    }

    /// `socket()` named `sock` (family `inet`; see [`StepBuilder::inet6`]).
    pub fn socket(host: impl Into<String>, sock: impl Into<String>) -> Self {
        Self::on(host, "socket", sock)
    }
    /// `setsockopt()` of `SO_REUSEADDR`, `SO_REUSEPORT` or `IPV6_V6ONLY` to 0 or 1.
    pub fn setsockopt(
        host: impl Into<String>,
        sock: impl Into<String>,
        opt: &str,
        on: bool,
    ) -> Self {
        Self::on(host, "setsockopt", sock)
            .set("opt", opt)
            .set("value", u8::from(on))
    }
    /// `setsockopt(SO_LINGER)`: `None` off, `Some(secs)` on with that linger time.
    pub fn linger(host: impl Into<String>, sock: impl Into<String>, secs: Option<u32>) -> Self {
        let v = match secs {
            Some(s) => json!({ "on": 1, "secs": s }),
            None => json!({ "on": 0, "secs": 0 }),
        };
        Self::on(host, "setsockopt", sock)
            .set("opt", "SO_LINGER")
            .set("value", v)
    }
    /// `bind()` to `addr` (`"0.0.0.0:9099"`).
    pub fn bind(host: impl Into<String>, sock: impl Into<String>, addr: impl Into<String>) -> Self {
        Self::on(host, "bind", sock).set("addr", addr.into())
    }
    /// `listen()` (backlog 128 unless [`StepBuilder::backlog`]).
    pub fn listen(host: impl Into<String>, sock: impl Into<String>) -> Self {
        Self::on(host, "listen", sock)
    }
    /// `connect()` to `addr`; blocks until ESTABLISHED, a reset or the deadline.
    pub fn connect(
        host: impl Into<String>,
        sock: impl Into<String>,
        addr: impl Into<String>,
    ) -> Self {
        Self::on(host, "connect", sock).set("addr", addr.into())
    }
    /// `accept()` on listener `sock`, naming the new socket `as_name`; blocks.
    pub fn accept(
        host: impl Into<String>,
        sock: impl Into<String>,
        as_name: impl Into<String>,
    ) -> Self {
        Self::on(host, "accept", sock).set("as", as_name.into())
    }
    /// `send()` of `data` (UTF-8 text).
    pub fn send(host: impl Into<String>, sock: impl Into<String>, data: impl Into<String>) -> Self {
        Self::on(host, "send", sock).set("data", data.into())
    }
    /// `recv()` of everything available (see [`StepBuilder::bytes`]); blocks.
    pub fn recv(host: impl Into<String>, sock: impl Into<String>) -> Self {
        Self::on(host, "recv", sock)
    }
    /// `shutdown()` of `how`: `"write"`, `"read"` or `"both"`.
    pub fn shutdown(host: impl Into<String>, sock: impl Into<String>, how: &str) -> Self {
        Self::on(host, "shutdown", sock).set("how", how)
    }
    /// `close()`.
    pub fn close(host: impl Into<String>, sock: impl Into<String>) -> Self {
        Self::on(host, "close", sock)
    }
    /// `fork()` of the step's process into `child`.
    pub fn fork(host: impl Into<String>, child: impl Into<String>) -> Self {
        Self::call(host, "fork").set("child", child.into())
    }
    /// `exit()` of the step's process.
    pub fn exit(host: impl Into<String>) -> Self {
        Self::call(host, "exit")
    }
    /// `wait` for a fixed time (`for`, µs).
    pub fn wait_for(host: impl Into<String>, d: Duration) -> Self {
        Self::call(host, "wait").set("for", dur(d))
    }
    /// `wait until state`: socket `sock` reaches `state` (RFC 9293 name, `"TIME-WAIT"`).
    pub fn wait_state(host: impl Into<String>, sock: impl Into<String>, state: &str) -> Self {
        Self::on(host, "wait", sock)
            .set("until", "state")
            .set("state", state)
    }
    /// `wait until bindable`: socket `sock` could bind `addr`.
    pub fn wait_bindable(
        host: impl Into<String>,
        sock: impl Into<String>,
        addr: impl Into<String>,
    ) -> Self {
        Self::on(host, "wait", sock)
            .set("until", "bindable")
            .set("addr", addr.into())
    }

    /// Starts at this absolute virtual time (`at`, µs), or at once if it has passed.
    pub fn at(self, t: Duration) -> Self {
        self.set("at", dur(t))
    }
    /// Starts this long after the previous step completed (`at: "+…"`, µs).
    pub fn after(self, d: Duration) -> Self {
        self.set("at", format!("+{}us", d.micros()))
    }
    /// Runs in process `proc` (default `main`).
    pub fn proc(self, proc: impl Into<String>) -> Self {
        self.set("proc", proc.into())
    }
    /// An `inet6` socket (model and kernel replay only; the simulation refuses it).
    pub fn inet6(self) -> Self {
        self.set("family", "inet6")
    }
    /// listen() backlog.
    pub fn backlog(self, n: u32) -> Self {
        self.set("backlog", n)
    }
    /// recv() reads at most `n` bytes.
    pub fn bytes(self, n: u32) -> Self {
        self.set("bytes", n)
    }
    /// Deadline of a blocking call (µs).
    pub fn timeout(self, d: Duration) -> Self {
        self.set("timeout", dur(d))
    }
    /// Expects success (`expect: "ok"`).
    pub fn expect_ok(self) -> Self {
        self.set("expect", "ok")
    }
    /// Expects this errno (`expect`: `"EADDRINUSE"`, …).
    pub fn expect_err(self, errno: &str) -> Self {
        self.set("expect", errno)
    }
    /// Expects recv() to return this text (`expect_data`).
    pub fn expect_data(self, text: impl Into<String>) -> Self {
        self.set("expect_data", text.into())
    }
    /// A sentence for the timeline (`note`).
    pub fn note(self, text: impl Into<String>) -> Self {
        self.set("note", text.into())
    }
}

/// A variant (`variants[]`): the same script under other settings.
#[derive(Debug, Clone, PartialEq)]
pub struct VariantBuilder(Obj);

impl VariantBuilder {
    /// A variant named `name` (1 to 64 of A-Z a-z 0-9 . _ + -).
    pub fn new(name: impl Into<String>) -> Self {
        VariantBuilder(Obj::default().set("name", name.into()))
    }
    /// Profile of every host (`os`).
    pub fn os(self, profile: impl Into<String>) -> Self {
        VariantBuilder(self.0.set("os", profile.into()))
    }
    /// MSL (`msl`, µs).
    pub fn msl(self, d: Duration) -> Self {
        VariantBuilder(self.0.set("msl", dur(d)))
    }
    /// Seed (`seed`).
    pub fn seed(self, seed: u64) -> Self {
        VariantBuilder(self.0.set("seed", seed))
    }
    /// Step `step`'s expectation in this variant (`"ok"` or an errno name).
    pub fn expect(mut self, step: usize, outcome: &str) -> Self {
        let m = match self.0 .0.remove("expect") {
            Some(Value::Object(m)) => Obj(m),
            _ => Obj::default(),
        };
        self.0 = self
            .0
            .set("expect", m.set(&step.to_string(), outcome).value());
        self
    }
    /// TIME-WAIT overrides of every host (`time_wait`).
    pub fn time_wait(self, tw: TimeWaitBuilder) -> Self {
        VariantBuilder(self.0.set("time_wait", tw.0.value()))
    }
    /// ISN policy of every host (`isn`).
    pub fn isn(self, isn: Isn) -> Self {
        VariantBuilder(self.0.set("isn", isn.value()))
    }
}

/// An outcome check on TIME-WAIT records (`checks[]`).
#[derive(Debug, Clone, PartialEq)]
pub struct CheckBuilder(Obj);

impl CheckBuilder {
    /// Checks `host`'s TIME-WAIT records (at least one unless [`CheckBuilder::count`]).
    pub fn new(host: impl Into<String>) -> Self {
        CheckBuilder(Obj::default().set("host", host.into()))
    }
    /// Only records of this local port.
    pub fn port(self, port: u16) -> Self {
        CheckBuilder(self.0.set("port", port))
    }
    /// Exactly this many records (`time_wait_count`).
    pub fn count(self, n: usize) -> Self {
        CheckBuilder(self.0.set("time_wait_count", n))
    }
    /// Each lived exactly `d` (`time_wait_duration`, µs).
    pub fn lived(self, d: Duration) -> Self {
        CheckBuilder(self.0.set("time_wait_duration", dur(d)))
    }
    /// Each lived exactly its profile's TIME-WAIT length (`"profile"`).
    pub fn lived_profile_length(self) -> Self {
        CheckBuilder(self.0.set("time_wait_duration", "profile"))
    }
    /// Each was restarted exactly `n` times (`time_wait_restarts`).
    pub fn restarts(self, n: u32) -> Self {
        CheckBuilder(self.0.set("time_wait_restarts", n))
    }
}

#[cfg(test)]
mod tests;
