//! Scenario files: the JSON format shared by `twsim run` and the demos.
//!
//! The field-by-field reference is `docs/scenario-format.md`. Loading has two stages, ripgrep
//! style: [`parse`] deserialises the raw file (unknown fields are errors, so typos never pass
//! silently) and [`Scenario::resolve`] validates it into a [`Resolved`] scenario with names
//! turned into indices, durations into microseconds and step times made absolute. Every error
//! names the file, the JSON path (`steps[3].addr`) and the line:column of the offending value.

use crate::locate::locate;
use crate::wire::TcpFlags;
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::net::{Ipv4Addr, SocketAddr};
use twsim_model::{Duration, Errno, Family, Profile};

/// An error in a scenario file. Displays as `FILE:LINE:COL: PATH: MESSAGE`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScenarioError {
    /// The file name as given by the user (or `<embedded NAME>` for demos).
    pub file: String,
    /// JSON path of the offending value, e.g. `steps[3].addr`; empty for the whole document.
    pub path: String,
    /// 1-based line, if known.
    pub line: usize,
    /// 1-based column, if known.
    pub column: usize,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for ScenarioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}: ", self.file, self.line, self.column)?;
        if !self.path.is_empty() {
            write!(f, "{}: ", self.path)?;
        }
        f.write_str(&self.message)
    }
}

impl std::error::Error for ScenarioError {}

/// A duration written with units (`"4us"`, `"10ms"`, `"30s"`, `"2min"`), parsed by humantime.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dur(pub Duration);

impl<'de> Deserialize<'de> for Dur {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        parse_duration(&s)
            .map(Dur)
            .map_err(serde::de::Error::custom)
    }
}

/// Parses a duration with units. Errors name the text and the accepted form.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let t = s.trim();
    if t.starts_with('-') {
        return Err(format!("duration {s:?} is negative"));
    }
    let d = humantime::parse_duration(t).map_err(|e| {
        format!("bad duration {s:?} ({e}); write a number with a unit: \"4us\", \"10ms\", \"30s\", \"2min\"")
    })?;
    let us = u64::try_from(d.as_micros()).map_err(|_| format!("duration {s:?} is too long"))?;
    if us > 365 * 24 * 3_600_000_000 {
        return Err(format!(
            "duration {s:?} is longer than a year of virtual time"
        ));
    }
    Ok(Duration::from_micros(us))
}

/// When a step runs: absolute (`"90s"`) or relative to the previous step's completion (`"+1s"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum At {
    /// Absolute virtual time.
    Absolute(Duration),
    /// After the previous step completed.
    Relative(Duration),
}

impl<'de> Deserialize<'de> for At {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        match s.trim().strip_prefix('+') {
            Some(rest) => parse_duration(rest).map(At::Relative),
            None => parse_duration(&s).map(At::Absolute),
        }
        .map_err(serde::de::Error::custom)
    }
}

/// The raw scenario document.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// Short name.
    pub name: String,
    /// What the scenario shows.
    #[serde(default)]
    pub description: Option<String>,
    /// The source it reproduces (seed article, RFC section).
    #[serde(default)]
    pub source: Option<String>,
    /// Run seed (default 1); `--seed` overrides.
    #[serde(default)]
    pub seed: Option<u64>,
    /// Default profile of the hosts (default `linux`).
    #[serde(default)]
    pub os: Option<String>,
    /// MSL the endpoints assume (default: the profile's).
    #[serde(default)]
    pub msl: Option<Dur>,
    /// Stop the run this long after the last step completes if it is not quiet by then
    /// (default 1 h).
    #[serde(default)]
    pub linger_after_steps: Option<Dur>,
    /// The hosts.
    pub hosts: Vec<HostSpec>,
    /// Routes, faults and the network's maximum segment lifetime.
    #[serde(default)]
    pub network: NetworkSpec,
    /// The socket-call script.
    pub steps: Vec<StepSpec>,
    /// Runs of the same script under other settings (each one a separate run).
    #[serde(default)]
    pub variants: Vec<VariantSpec>,
    /// Outcome checks evaluated after the run.
    #[serde(default)]
    pub checks: Vec<CheckSpec>,
    /// TIME-WAIT policy overrides for every host (e.g. `{"rst": "ignore"}`: RFC 1337 on Linux).
    #[serde(default)]
    pub time_wait: Option<TimeWaitSpec>,
    /// Ephemeral port range `[first, last]` for every host (a host may override it).
    #[serde(default)]
    pub ephemeral_ports: Option<[u16; 2]>,
}

/// A host.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HostSpec {
    /// Unique name.
    pub name: String,
    /// IPv4 address.
    pub addr: String,
    /// Profile override.
    #[serde(default)]
    pub os: Option<String>,
    /// TIME-WAIT policy overrides for this host (on top of the scenario's).
    #[serde(default)]
    pub time_wait: Option<TimeWaitSpec>,
    /// Ephemeral port range `[first, last]` replacing the profile's (Linux
    /// `net.ipv4.ip_local_port_range`).
    #[serde(default)]
    pub ephemeral_ports: Option<[u16; 2]>,
}

/// Overrides of a profile's TIME-WAIT behaviour (time-wait.md's policy columns).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimeWaitSpec {
    /// Timer restart rule: `duplicate_fin`, `any_segment`, `literal`, `retransmitted_fin`,
    /// `out_of_window`.
    #[serde(default)]
    pub restart: Option<String>,
    /// RST rule: `kill_in_window` (RFC 793), `kill_exact` (Linux), `challenge_ack` (RFC 5961),
    /// `ignore` (RFC 1337).
    #[serde(default)]
    pub rst: Option<String>,
    /// SYN rule: `rfc793`, `linux`, `rfc1122`, `bsd`, `silent`, `rfc6191`.
    #[serde(default)]
    pub syn: Option<String>,
    /// A fixed TIME-WAIT length replacing the profile's (`"0s"`: no TIME-WAIT at all).
    #[serde(default)]
    pub length: Option<Dur>,
    /// Minimum spacing of rate-limited ACKs, or `"off"`.
    #[serde(default)]
    pub ack_rate_limit: Option<String>,
}

/// The network.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetworkSpec {
    /// Segments older than this are dropped (MSL_net; default 2 min, RFC 793).
    #[serde(default)]
    pub max_lifetime: Option<Dur>,
    /// Routes; a segment takes the first whose `from`/`to` match (default: one 1 ms route).
    #[serde(default)]
    pub routes: Vec<RouteSpec>,
    /// Fault rules, tried in order; the first that applies decides.
    #[serde(default)]
    pub faults: Vec<FaultSpec>,
}

/// A route.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteSpec {
    /// Unique name.
    pub name: String,
    /// One-way delay: a duration, or a distribution (`{"uniform": [min, max]}`,
    /// `{"normal": {"mean", "sd", "min", "max"}}`, `{"exponential": {"mean", "min", "max"}}`,
    /// `{"empirical": [durations…]}` or `{"empirical": "file"}` with one duration per line).
    pub delay: DelaySpec,
    /// Random loss probability in [0, 1].
    #[serde(default)]
    pub loss: Option<f64>,
    /// Probability in [0, 1] that the route also delivers a copy of a segment, with its own
    /// delay.
    #[serde(default)]
    pub duplicate: Option<f64>,
    /// Only segments from this host take the route by default.
    #[serde(default)]
    pub from: Option<String>,
    /// Only segments to this host take the route by default.
    #[serde(default)]
    pub to: Option<String>,
}

/// A route's delay as written in the file.
#[derive(Debug, Clone)]
pub enum DelaySpec {
    /// A fixed delay.
    Fixed(Dur),
    /// A distribution.
    Dist(DistSpec),
}

/// A delay distribution (exactly one field).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DistSpec {
    /// `[min, max]`.
    #[serde(default)]
    pub uniform: Option<[Dur; 2]>,
    /// Truncated normal.
    #[serde(default)]
    pub normal: Option<NormalSpec>,
    /// Shifted, capped exponential.
    #[serde(default)]
    pub exponential: Option<ExpSpec>,
    /// Observed delays, inline or in a file (one duration per line, `#` comments).
    #[serde(default)]
    pub empirical: Option<EmpiricalSpec>,
}

/// Truncated normal parameters.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NormalSpec {
    /// Mean.
    pub mean: Dur,
    /// Standard deviation.
    pub sd: Dur,
    /// Lower bound (default 0).
    #[serde(default)]
    pub min: Option<Dur>,
    /// Upper bound (default mean + 6 sd).
    #[serde(default)]
    pub max: Option<Dur>,
}

/// Exponential parameters.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExpSpec {
    /// Mean of the exponential part.
    pub mean: Dur,
    /// Floor added to every draw (default 0).
    #[serde(default)]
    pub min: Option<Dur>,
    /// Cap (default min + 20 means).
    #[serde(default)]
    pub max: Option<Dur>,
}

/// Empirical delays.
#[derive(Debug, Clone)]
pub enum EmpiricalSpec {
    /// Inline list.
    List(Vec<Dur>),
    /// A file, relative to the scenario file.
    File(String),
}

impl<'de> Deserialize<'de> for DelaySpec {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = DelaySpec;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a duration such as \"10ms\" or a distribution object")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<DelaySpec, E> {
                parse_duration(v)
                    .map(|d| DelaySpec::Fixed(Dur(d)))
                    .map_err(E::custom)
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                map: A,
            ) -> Result<DelaySpec, A::Error> {
                DistSpec::deserialize(serde::de::value::MapAccessDeserializer::new(map))
                    .map(DelaySpec::Dist)
            }
        }
        d.deserialize_any(V)
    }
}

impl<'de> Deserialize<'de> for EmpiricalSpec {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = EmpiricalSpec;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a list of durations or a file name")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<EmpiricalSpec, E> {
                Ok(EmpiricalSpec::File(v.to_string()))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                seq: A,
            ) -> Result<EmpiricalSpec, A::Error> {
                Vec::<Dur>::deserialize(serde::de::value::SeqAccessDeserializer::new(seq))
                    .map(EmpiricalSpec::List)
            }
        }
        d.deserialize_any(V)
    }
}

/// A fault rule.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultSpec {
    /// Which segments.
    #[serde(rename = "match")]
    pub matcher: MatchSpec,
    /// What happens to them.
    pub action: ActionSpec,
}

/// Segment selector of a fault rule.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MatchSpec {
    /// Sending host.
    #[serde(default)]
    pub from: Option<String>,
    /// Receiving host.
    #[serde(default)]
    pub to: Option<String>,
    /// Route the segment would take.
    #[serde(default)]
    pub route: Option<String>,
    /// Exact set of SYN/FIN/RST/ACK flags, `|`-separated (`"ACK"`, `"FIN|ACK"`); PSH ignored.
    #[serde(default)]
    pub flags: Option<String>,
    /// Whether the segment carries payload.
    #[serde(default)]
    pub has_payload: Option<bool>,
    /// Only after a segment with these flags (contained) crossed the wire on the same
    /// connection, in either direction (`"FIN"`).
    #[serde(default)]
    pub after: Option<String>,
    /// Only the nth matching segment (1-based).
    #[serde(default)]
    pub nth: Option<u32>,
    /// Only segments sent at or after this time.
    #[serde(default)]
    pub from_time: Option<Dur>,
    /// Only segments sent before this time.
    #[serde(default)]
    pub until_time: Option<Dur>,
    /// Apply with this probability (drawn from the rule's own random stream).
    #[serde(default)]
    pub probability: Option<f64>,
}

/// A fault action: `"drop"`, `{"delay": "…"}`, `{"via": "route"}`, `{"duplicate_via": "route"}`.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum ActionSpec {
    /// `"drop"`.
    Word(String),
    /// An object with one key.
    Object(ActionObject),
}

/// The object form of a fault action.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActionObject {
    /// Extra delay.
    #[serde(default)]
    pub delay: Option<Dur>,
    /// Send on this route instead.
    #[serde(default)]
    pub via: Option<String>,
    /// Send normally, and a copy on this route.
    #[serde(default)]
    pub duplicate_via: Option<String>,
}

/// One socket call.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StepSpec {
    /// When (default: when the previous step completed).
    #[serde(default)]
    pub at: Option<At>,
    /// Which host.
    pub host: String,
    /// Which process (default `main`).
    #[serde(default)]
    pub proc: Option<String>,
    /// The call.
    pub call: String,
    /// Socket name.
    #[serde(default)]
    pub sock: Option<String>,
    /// Address family of a new socket: `"inet"` (default) or `"inet6"`.
    #[serde(default)]
    pub family: Option<String>,
    /// Option name for setsockopt.
    #[serde(default)]
    pub opt: Option<String>,
    /// Option value: 0/1, or `{"on":1,"secs":0}` for SO_LINGER.
    #[serde(default)]
    pub value: Option<serde_json::Value>,
    /// Address `a.b.c.d:port` or `[v6]:port` for bind/connect/wait-bindable.
    #[serde(default)]
    pub addr: Option<String>,
    /// listen() backlog (default 128).
    #[serde(default)]
    pub backlog: Option<u32>,
    /// Name for the accepted socket.
    #[serde(default, rename = "as")]
    pub as_name: Option<String>,
    /// Child process name for fork.
    #[serde(default)]
    pub child: Option<String>,
    /// Data to send (UTF-8 text).
    #[serde(default)]
    pub data: Option<String>,
    /// Maximum bytes for recv (default: all available).
    #[serde(default)]
    pub bytes: Option<u32>,
    /// shutdown direction: `"write"`, `"read"`, `"both"`.
    #[serde(default)]
    pub how: Option<String>,
    /// wait condition: `"state"`, `"bindable"`, `"closed"` (no connection left on the host).
    #[serde(default)]
    pub until: Option<String>,
    /// Target state for `wait until state` (RFC 9293 names: `"TIME-WAIT"`, `"CLOSED"`, …).
    #[serde(default)]
    pub state: Option<String>,
    /// Plain wait: let this much time pass.
    #[serde(default, rename = "for")]
    pub for_: Option<Dur>,
    /// Deadline for blocking calls.
    #[serde(default)]
    pub timeout: Option<Dur>,
    /// Expected result: `"ok"` or an errno name.
    #[serde(default)]
    pub expect: Option<String>,
    /// Expected received text, for recv.
    #[serde(default)]
    pub expect_data: Option<String>,
    /// A sentence printed in the timeline (teaching notes).
    #[serde(default)]
    pub note: Option<String>,
}

/// A variant: the same script under other settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VariantSpec {
    /// Name shown in output and used as file-name suffix.
    pub name: String,
    /// Profile for every host.
    #[serde(default)]
    pub os: Option<String>,
    /// MSL.
    #[serde(default)]
    pub msl: Option<Dur>,
    /// Seed.
    #[serde(default)]
    pub seed: Option<u64>,
    /// Expectations that differ in this variant: step index (as a string) → `"ok"` or an
    /// errno name, replacing that step's `expect`.
    #[serde(default)]
    pub expect: BTreeMap<String, String>,
    /// TIME-WAIT policy overrides for every host in this variant (after the scenario's).
    #[serde(default)]
    pub time_wait: Option<TimeWaitSpec>,
}

/// An outcome check evaluated after the run.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckSpec {
    /// Host whose TIME-WAIT records are checked.
    pub host: String,
    /// Local port of the records (default: any port).
    #[serde(default)]
    pub port: Option<u16>,
    /// Expected number of TIME-WAIT records on that port (default: at least one).
    #[serde(default)]
    pub time_wait_count: Option<usize>,
    /// Expected lifetime of each: a duration, or `"profile"` for the profile's T_TW.
    #[serde(default)]
    pub time_wait_duration: Option<String>,
    /// Expected number of timer restarts of each.
    #[serde(default)]
    pub time_wait_restarts: Option<u32>,
}

/// Parses a scenario document. `file` is only used in error messages.
pub fn parse(file: &str, src: &str) -> Result<Scenario, ScenarioError> {
    let de = &mut serde_json::Deserializer::from_str(src);
    let res: Result<Scenario, _> = serde_path_to_error::deserialize(&mut *de);
    let err = |path: String, inner: serde_json::Error| {
        let msg = inner.to_string();
        // serde_json appends " at line L column C"; keep the message without it.
        let msg = msg.split(" at line ").next().unwrap_or(&msg).to_string();
        // serde_path_to_error writes `?` for a position it could not name.
        let path = match path.as_str() {
            "." => String::new(),
            p => p.trim_end_matches(".?").trim_end_matches('?').to_string(),
        };
        // A value that is well-formed JSON but wrong for its field (a bad duration, an
        // out-of-range number) is reported by serde after the value; point at the value.
        let located = (inner.classify() == serde_json::error::Category::Data && !path.is_empty())
            .then(|| {
                if msg.starts_with("unknown field") {
                    crate::locate::locate_key(src, &path)
                } else {
                    locate(src, &path)
                }
            })
            .flatten();
        let (line, column) = located.unwrap_or((inner.line(), inner.column()));
        ScenarioError {
            file: file.to_string(),
            path,
            line: line.max(1),
            column: column.max(1),
            message: msg,
        }
    };
    let sc = res.map_err(|e| {
        let path = e.path().to_string();
        err(path, e.into_inner())
    })?;
    // Anything but white space after the document is an error.
    de.end().map_err(|e| err(String::new(), e))?;
    Ok(sc)
}

/// Overrides applied on top of a scenario (command line, variant).
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    /// Seed.
    pub seed: Option<u64>,
    /// Profile for every host.
    pub os: Option<Profile>,
    /// MSL.
    pub msl: Option<Duration>,
}

/// A validated host.
#[derive(Debug, Clone)]
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
}

impl TimeWaitOverride {
    fn merge(self, o: TimeWaitOverride) -> TimeWaitOverride {
        TimeWaitOverride {
            restart: o.restart.or(self.restart),
            rst: o.rst.or(self.rst),
            syn: o.syn.or(self.syn),
            length: o.length.or(self.length),
            ack_rate_limit: o.ack_rate_limit.or(self.ack_rate_limit),
        }
    }
}

impl Host {
    /// The host's rules: its profile's, with the scenario's TIME-WAIT overrides applied.
    pub fn config(&self) -> twsim_model::ProfileConfig {
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
        if let Some(r) = self.ephemeral {
            c.ephemeral = r;
        }
        c
    }
}

fn time_wait_override(
    ctx: &Ctx,
    path: &str,
    spec: &Option<TimeWaitSpec>,
) -> Result<TimeWaitOverride, ScenarioError> {
    let Some(t) = spec else {
        return Ok(TimeWaitOverride::default());
    };
    fn pick<T: Copy>(
        ctx: &Ctx,
        path: &str,
        v: &Option<String>,
        names: &[(&str, T)],
    ) -> Result<Option<T>, ScenarioError> {
        let Some(v) = v else { return Ok(None) };
        names
            .iter()
            .find(|(n, _)| n == v)
            .map(|(_, x)| Some(*x))
            .ok_or_else(|| {
                let known: Vec<&str> = names.iter().map(|(n, _)| *n).collect();
                ctx.err(
                    path,
                    format!("unknown rule {v:?} (known: {})", known.join(", ")),
                )
            })
    }
    use twsim_model::time_wait::{RstInTimeWait, SynInTimeWait, TimerRestart};
    let ack_rate_limit = match t.ack_rate_limit.as_deref() {
        None => None,
        Some("off") => Some(None),
        Some(d) => {
            Some(Some(parse_duration(d).map_err(|e| {
                ctx.err(&format!("{path}.ack_rate_limit"), e)
            })?))
        }
    };
    Ok(TimeWaitOverride {
        restart: pick(
            ctx,
            &format!("{path}.restart"),
            &t.restart,
            &TimerRestart::NAMES,
        )?,
        rst: pick(ctx, &format!("{path}.rst"), &t.rst, &RstInTimeWait::NAMES)?,
        syn: pick(ctx, &format!("{path}.syn"), &t.syn, &SynInTimeWait::NAMES)?,
        length: t.length.map(|d| d.0),
        ack_rate_limit,
    })
}

/// A validated route.
#[derive(Debug, Clone)]
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
#[derive(Debug, Clone)]
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
    State(String, String),
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
#[derive(Debug, Clone)]
pub struct Step {
    /// Index in the file.
    pub index: usize,
    /// Scheduled time: absolute, or relative to the previous completion.
    pub at: Option<At>,
    /// Host index.
    pub host: usize,
    /// Process name.
    pub proc: String,
    /// The call.
    pub call: Call,
    /// Deadline for blocking calls.
    pub timeout: Option<Duration>,
    /// Expected errno, `None` inside = expect success.
    pub expect: Option<Option<Errno>>,
    /// Expected received data.
    pub expect_data: Option<String>,
    /// Teaching note.
    pub note: Option<String>,
}

/// A validated check.
#[derive(Debug, Clone)]
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
#[derive(Debug, Clone)]
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
    /// Steps.
    pub steps: Vec<Step>,
    /// Checks.
    pub checks: Vec<Check>,
    /// How long to keep running after the last step if not quiet.
    pub linger_after_steps: Duration,
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

struct Ctx<'a> {
    file: &'a str,
    src: &'a str,
}

impl Ctx<'_> {
    fn err(&self, path: &str, message: impl Into<String>) -> ScenarioError {
        let (line, column) = locate(self.src, path).unwrap_or((1, 1));
        ScenarioError {
            file: self.file.to_string(),
            path: path.to_string(),
            line,
            column,
            message: message.into(),
        }
    }
}

fn profile(ctx: &Ctx, path: &str, name: &str) -> Result<Profile, ScenarioError> {
    Profile::from_name(name).ok_or_else(|| {
        ctx.err(
            path,
            format!(
                "unknown profile {name:?} (known: {})",
                Profile::known_names()
            ),
        )
    })
}

fn delay_dist(
    ctx: &Ctx,
    path: &str,
    d: &DelaySpec,
) -> Result<crate::delay::DelayDist, ScenarioError> {
    use crate::delay::DelayDist;
    let spec = match d {
        DelaySpec::Fixed(d) => return Ok(DelayDist::Fixed(d.0)),
        DelaySpec::Dist(s) => s,
    };
    let n = [
        spec.uniform.is_some(),
        spec.normal.is_some(),
        spec.exponential.is_some(),
        spec.empirical.is_some(),
    ]
    .iter()
    .filter(|x| **x)
    .count();
    if n != 1 {
        return Err(ctx.err(
            path,
            "a delay distribution needs exactly one of uniform, normal, exponential, empirical",
        ));
    }
    if let Some([a, b]) = &spec.uniform {
        if b.0 < a.0 {
            return Err(ctx.err(
                &format!("{path}.uniform"),
                "uniform [min, max] needs min <= max",
            ));
        }
        return Ok(DelayDist::Uniform { min: a.0, max: b.0 });
    }
    if let Some(nm) = &spec.normal {
        let min = nm.min.map_or(Duration::ZERO, |d| d.0);
        let max = nm
            .max
            .map_or(nm.mean.0 + nm.sd.0.saturating_mul(6), |d| d.0);
        if !(min <= nm.mean.0 && nm.mean.0 <= max) {
            return Err(ctx.err(&format!("{path}.normal"), "normal needs min <= mean <= max"));
        }
        return Ok(DelayDist::Normal {
            mean: nm.mean.0,
            sd: nm.sd.0,
            min,
            max,
        });
    }
    if let Some(e) = &spec.exponential {
        let min = e.min.map_or(Duration::ZERO, |d| d.0);
        let max = e.max.map_or(min + e.mean.0.saturating_mul(20), |d| d.0);
        if max < min {
            return Err(ctx.err(
                &format!("{path}.exponential"),
                "exponential needs min <= max",
            ));
        }
        return Ok(DelayDist::Exponential {
            mean: e.mean.0,
            min,
            max,
        });
    }
    let list = match spec.empirical.as_ref().expect("counted above") {
        EmpiricalSpec::List(v) => v.iter().map(|d| d.0).collect::<Vec<_>>(),
        EmpiricalSpec::File(f) => {
            let base = std::path::Path::new(ctx.file)
                .parent()
                .unwrap_or(std::path::Path::new("."));
            let full = base.join(f);
            let text = std::fs::read_to_string(&full).map_err(|e| {
                ctx.err(
                    &format!("{path}.empirical"),
                    format!("cannot read {}: {e}", full.display()),
                )
            })?;
            let mut v = Vec::new();
            for (i, line) in text.lines().enumerate() {
                let line = line.split('#').next().unwrap_or("").trim();
                if line.is_empty() {
                    continue;
                }
                v.push(parse_duration(line).map_err(|e| {
                    ctx.err(
                        &format!("{path}.empirical"),
                        format!("{}:{}: {e}", full.display(), i + 1),
                    )
                })?);
            }
            v
        }
    };
    if list.is_empty() {
        return Err(ctx.err(
            &format!("{path}.empirical"),
            "an empirical distribution needs at least one delay",
        ));
    }
    Ok(DelayDist::Empirical(list))
}

fn prob(ctx: &Ctx, path: &str, p: Option<f64>) -> Result<Option<f64>, ScenarioError> {
    match p {
        Some(p) if !(0.0..=1.0).contains(&p) || p.is_nan() => {
            Err(ctx.err(path, format!("probability {p} is outside [0, 1]")))
        }
        p => Ok(p),
    }
}

impl Scenario {
    /// The variant names, in file order (empty if the scenario has none).
    pub fn variant_names(&self) -> Vec<String> {
        self.variants.iter().map(|v| v.name.clone()).collect()
    }

    /// Validates the scenario for one variant (`None` = the base scenario) with `ov` applied
    /// last. `src` is the file text, for error positions.
    pub fn resolve(
        &self,
        file: &str,
        src: &str,
        variant: Option<usize>,
        ov: &Overrides,
    ) -> Result<Resolved, ScenarioError> {
        let ctx = Ctx { file, src };
        let mut default_os = match &self.os {
            Some(n) => profile(&ctx, "os", n)?,
            None => Profile::Linux,
        };
        let mut seed = self.seed.unwrap_or(1);
        let mut msl = self.msl.map(|d| d.0);
        let mut host_os_forced = false;
        let mut names = BTreeSet::new();
        for (i, v) in self.variants.iter().enumerate() {
            if !names.insert(v.name.as_str()) {
                return Err(ctx.err(
                    &format!("variants[{i}].name"),
                    format!("duplicate variant name {:?}", v.name),
                ));
            }
        }
        let variant_name = match variant {
            Some(i) => {
                let v = &self.variants[i];
                if let Some(os) = &v.os {
                    default_os = profile(&ctx, &format!("variants[{i}].os"), os)?;
                    host_os_forced = true;
                }
                seed = v.seed.unwrap_or(seed);
                msl = v.msl.map(|d| d.0).or(msl);
                Some(v.name.clone())
            }
            None => None,
        };
        if let Some(os) = ov.os {
            default_os = os;
            host_os_forced = true;
        }
        let mut tw_all = time_wait_override(&ctx, "time_wait", &self.time_wait)?;
        if let Some(vi) = variant {
            tw_all = tw_all.merge(time_wait_override(
                &ctx,
                &format!("variants[{vi}].time_wait"),
                &self.variants[vi].time_wait,
            )?);
        }
        seed = ov.seed.unwrap_or(seed);
        msl = ov.msl.or(msl);
        if msl == Some(Duration::ZERO) {
            return Err(ctx.err("msl", "msl must be greater than zero"));
        }

        // hosts
        if self.hosts.is_empty() {
            return Err(ctx.err("hosts", "a scenario needs at least one host"));
        }
        let mut hosts: Vec<Host> = Vec::new();
        let mut host_ix = BTreeMap::new();
        for (i, h) in self.hosts.iter().enumerate() {
            let p = format!("hosts[{i}]");
            if host_ix.insert(h.name.clone(), i).is_some() {
                return Err(ctx.err(
                    &format!("{p}.name"),
                    format!("duplicate host name {:?}", h.name),
                ));
            }
            let addr: Ipv4Addr = h.addr.parse().map_err(|_| {
                ctx.err(
                    &format!("{p}.addr"),
                    format!("{:?} is not an IPv4 address", h.addr),
                )
            })?;
            if addr.is_unspecified() || addr.is_broadcast() || addr.is_multicast() {
                return Err(ctx.err(
                    &format!("{p}.addr"),
                    format!("{addr} cannot be a host address"),
                ));
            }
            if let Some(other) = hosts.iter().find(|o| o.addr == addr) {
                return Err(ctx.err(
                    &format!("{p}.addr"),
                    format!("address {addr} is already host {:?}'s", other.name),
                ));
            }
            let prof = match (&h.os, host_os_forced) {
                (Some(n), false) => profile(&ctx, &format!("{p}.os"), n)?,
                (Some(n), true) => {
                    profile(&ctx, &format!("{p}.os"), n)?;
                    default_os
                }
                (None, _) => default_os,
            };
            let tw = tw_all.merge(time_wait_override(
                &ctx,
                &format!("{p}.time_wait"),
                &h.time_wait,
            )?);
            let ephemeral = match h.ephemeral_ports.or(self.ephemeral_ports) {
                None => None,
                Some([first, last]) if first == 0 || first > last => {
                    let at = if h.ephemeral_ports.is_some() {
                        format!("{p}.ephemeral_ports")
                    } else {
                        "ephemeral_ports".into()
                    };
                    return Err(ctx.err(
                        &at,
                        format!("[{first}, {last}] is not a port range (1 <= first <= last)"),
                    ));
                }
                Some([first, last]) => Some(twsim_model::profile::PortRange { first, last }),
            };
            hosts.push(Host {
                name: h.name.clone(),
                addr,
                profile: prof,
                time_wait: tw,
                ephemeral,
            });
        }
        let host = |path: &str, name: &str| {
            host_ix
                .get(name)
                .copied()
                .ok_or_else(|| ctx.err(path, format!("unknown host {name:?}")))
        };

        // routes
        let mut routes = Vec::new();
        for (i, r) in self.network.routes.iter().enumerate() {
            let p = format!("network.routes[{i}]");
            if routes.iter().any(|o: &Route| o.name == r.name) {
                return Err(ctx.err(
                    &format!("{p}.name"),
                    format!("duplicate route name {:?}", r.name),
                ));
            }
            routes.push(Route {
                name: r.name.clone(),
                delay: delay_dist(&ctx, &format!("{p}.delay"), &r.delay)?,
                loss: prob(&ctx, &format!("{p}.loss"), r.loss)?.unwrap_or(0.0),
                duplicate: prob(&ctx, &format!("{p}.duplicate"), r.duplicate)?.unwrap_or(0.0),
                from: r
                    .from
                    .as_deref()
                    .map(|n| host(&format!("{p}.from"), n))
                    .transpose()?,
                to: r
                    .to
                    .as_deref()
                    .map(|n| host(&format!("{p}.to"), n))
                    .transpose()?,
            });
        }
        if routes.is_empty() {
            routes.push(Route {
                name: "default".into(),
                delay: crate::delay::DelayDist::Fixed(Duration::from_millis(1)),
                loss: 0.0,
                duplicate: 0.0,
                from: None,
                to: None,
            });
        }
        let route = |path: &str, name: &str| {
            routes
                .iter()
                .position(|r| r.name == name)
                .ok_or_else(|| ctx.err(path, format!("unknown route {name:?}")))
        };

        // faults
        let mut faults = Vec::new();
        for (i, f) in self.network.faults.iter().enumerate() {
            let p = format!("network.faults[{i}]");
            let m = &f.matcher;
            let mp = format!("{p}.match");
            let flags = |field: &str, v: &Option<String>| {
                v.as_deref()
                    .map(|s| TcpFlags::parse(s).map_err(|e| ctx.err(&format!("{mp}.{field}"), e)))
                    .transpose()
            };
            let action = match &f.action {
                ActionSpec::Word(w) if w == "drop" => Action::Drop,
                ActionSpec::Word(w) => {
                    return Err(ctx.err(&format!("{p}.action"), format!("unknown action {w:?} (use \"drop\", {{\"delay\":…}}, {{\"via\":…}} or {{\"duplicate_via\":…}})")))
                }
                ActionSpec::Object(o) => match (&o.delay, &o.via, &o.duplicate_via) {
                    (Some(d), None, None) => Action::Delay(d.0),
                    (None, Some(r), None) => Action::Via(route(&format!("{p}.action.via"), r)?),
                    (None, None, Some(r)) => Action::DuplicateVia(route(&format!("{p}.action.duplicate_via"), r)?),
                    _ => return Err(ctx.err(&format!("{p}.action"), "an action object needs exactly one of delay, via, duplicate_via")),
                },
            };
            if m.nth == Some(0) {
                return Err(ctx.err(&format!("{mp}.nth"), "nth counts from 1"));
            }
            faults.push(Fault {
                from: m
                    .from
                    .as_deref()
                    .map(|n| host(&format!("{mp}.from"), n))
                    .transpose()?,
                to: m
                    .to
                    .as_deref()
                    .map(|n| host(&format!("{mp}.to"), n))
                    .transpose()?,
                route: m
                    .route
                    .as_deref()
                    .map(|n| route(&format!("{mp}.route"), n))
                    .transpose()?,
                flags: flags("flags", &m.flags)?,
                has_payload: m.has_payload,
                after: flags("after", &m.after)?,
                nth: m.nth,
                from_time: m.from_time.map(|d| d.0),
                until_time: m.until_time.map(|d| d.0),
                probability: prob(&ctx, &format!("{mp}.probability"), m.probability)?,
                action,
            });
        }

        // steps
        if self.steps.is_empty() {
            return Err(ctx.err("steps", "a scenario needs at least one step"));
        }
        let mut socks: Vec<BTreeSet<String>> = vec![BTreeSet::new(); hosts.len()];
        let mut procs: Vec<BTreeSet<String>> =
            vec![BTreeSet::from(["main".to_string()]); hosts.len()];
        let mut steps = Vec::new();
        let mut last_abs = Duration::ZERO;
        for (i, s) in self.steps.iter().enumerate() {
            let p = format!("steps[{i}]");
            let h = host(&format!("{p}.host"), &s.host)?;
            let proc = s.proc.clone().unwrap_or_else(|| "main".into());
            if !procs[h].contains(&proc) {
                return Err(ctx.err(
                    &format!("{p}.proc"),
                    format!(
                        "unknown process {proc:?} on host {:?} (processes come from fork)",
                        s.host
                    ),
                ));
            }
            if let Some(At::Absolute(t)) = s.at {
                if t < last_abs {
                    return Err(ctx.err(
                        &format!("{p}.at"),
                        format!("absolute time {t} is before an earlier step's {last_abs}"),
                    ));
                }
                last_abs = t;
            }
            let need = |field: &str, v: &Option<String>| {
                v.clone()
                    .ok_or_else(|| ctx.err(&p, format!("call {:?} needs field {field:?}", s.call)))
            };
            let sock = |socks: &BTreeSet<String>| -> Result<String, ScenarioError> {
                let n = need("sock", &s.sock)?;
                if !socks.contains(&n) {
                    return Err(ctx.err(&format!("{p}.sock"), format!("unknown socket {n:?} on host {:?} (create it with socket or accept first)", s.host)));
                }
                Ok(n)
            };
            let new_name = |socks: &mut BTreeSet<String>, field: &str, n: String| {
                if !socks.insert(n.clone()) {
                    return Err(ctx.err(
                        &format!("{p}.{field}"),
                        format!("duplicate socket name {n:?} on host {:?}", s.host),
                    ));
                }
                Ok(n)
            };
            let addr = |field: &str| -> Result<SocketAddr, ScenarioError> {
                let a = need(field, &s.addr)?;
                match a.parse::<SocketAddr>() {
                    Ok(SocketAddr::V6(v6)) if v6.scope_id() != 0 || v6.flowinfo() != 0 => Err(ctx
                        .err(
                            &format!("{p}.addr"),
                            format!("{a:?}: scope ids and flow labels are not supported"),
                        )),
                    Ok(sa) => Ok(sa),
                    _ => Err(ctx.err(
                        &format!("{p}.addr"),
                        format!(
                            "{a:?} is not an IPv4 address:port (a.b.c.d:port) or an IPv6 one \
                             ([::1]:port)"
                        ),
                    )),
                }
            };
            if s.family.is_some() && s.call != "socket" {
                return Err(ctx.err(
                    &format!("{p}.family"),
                    format!("\"family\" belongs to socket, not {:?}", s.call),
                ));
            }
            let call = match s.call.as_str() {
                "socket" => {
                    let family = match s.family.as_deref() {
                        None | Some("inet") => Family::Inet,
                        Some("inet6") => Family::Inet6,
                        Some(other) => return Err(ctx.err(&format!("{p}.family"), format!("unknown address family {other:?} (inet, inet6)"))),
                    };
                    Call::Socket(new_name(&mut socks[h], "sock", need("sock", &s.sock)?)?, family)
                }
                "setsockopt" => {
                    let n = sock(&socks[h])?;
                    let opt = need("opt", &s.opt)?;
                    let vpath = format!("{p}.value");
                    let flag = || match &s.value {
                        Some(serde_json::Value::Number(n)) if n.as_u64() == Some(0) => Ok(false),
                        Some(serde_json::Value::Number(n)) if n.as_u64() == Some(1) => Ok(true),
                        Some(serde_json::Value::Bool(b)) => Ok(*b),
                        _ => Err(ctx.err(&vpath, format!("{opt} takes 0 or 1"))),
                    };
                    let o = match opt.as_str() {
                        "SO_REUSEADDR" => SockOpt::ReuseAddr(flag()?),
                        "SO_REUSEPORT" => SockOpt::ReusePort(flag()?),
                        "SO_LINGER" => SockOpt::Linger(linger(&ctx, &vpath, &s.value)?),
                        "IPV6_V6ONLY" => SockOpt::V6Only(flag()?),
                        other => return Err(ctx.err(&format!("{p}.opt"), format!("unknown or unsupported option {other:?} (supported: SO_REUSEADDR, SO_REUSEPORT, SO_LINGER, IPV6_V6ONLY)"))),
                    };
                    Call::SetSockOpt(n, o)
                }
                "bind" => Call::Bind(sock(&socks[h])?, addr("addr")?),
                "listen" => Call::Listen(sock(&socks[h])?, s.backlog.unwrap_or(128)),
                "connect" => Call::Connect(sock(&socks[h])?, addr("addr")?),
                "accept" => {
                    let l = sock(&socks[h])?;
                    let a = new_name(&mut socks[h], "as", need("as", &s.as_name)?)?;
                    Call::Accept(l, a)
                }
                "send" => Call::Send(sock(&socks[h])?, need("data", &s.data)?.into_bytes()),
                "recv" => Call::Recv(sock(&socks[h])?, s.bytes),
                "shutdown" => {
                    let n = sock(&socks[h])?;
                    let (r, w) = match s.how.as_deref().unwrap_or("write") {
                        "read" => (true, false),
                        "write" => (false, true),
                        "both" => (true, true),
                        other => return Err(ctx.err(&format!("{p}.how"), format!("unknown shutdown direction {other:?} (read, write, both)"))),
                    };
                    Call::Shutdown(n, r, w)
                }
                "close" => Call::Close(sock(&socks[h])?),
                "fork" => {
                    let c = need("child", &s.child)?;
                    if !procs[h].insert(c.clone()) {
                        return Err(ctx.err(&format!("{p}.child"), format!("process {c:?} already exists on host {:?}", s.host)));
                    }
                    Call::Fork(c)
                }
                "exit" => Call::Exit,
                "wait" => Call::Wait(match (s.until.as_deref(), s.for_) {
                    (None, Some(d)) => WaitFor::Time(d.0),
                    (Some("state"), None) => {
                        let st = need("state", &s.state)?.to_ascii_uppercase().replace('_', "-");
                        let Ok(st) = st.parse::<twsim_model::TcpState>() else {
                            return Err(ctx.err(&format!("{p}.state"), format!("unknown state {st:?} (RFC 9293 names: {})", twsim_model::TcpState::known_names())));
                        };
                        WaitFor::State(sock(&socks[h])?, st.name().to_string())
                    }
                    (Some("bindable"), None) => WaitFor::Bindable(sock(&socks[h])?, addr("addr")?),
                    (Some(u), None) => return Err(ctx.err(&format!("{p}.until"), format!("unknown wait condition {u:?} (state, bindable)"))),
                    (None, None) => return Err(ctx.err(&p, "wait needs \"for\" or \"until\"")),
                    (Some(_), Some(_)) => return Err(ctx.err(&p, "wait takes \"for\" or \"until\", not both")),
                }),
                other => return Err(ctx.err(&format!("{p}.call"), format!("unknown call {other:?} (socket, setsockopt, bind, listen, connect, accept, send, recv, shutdown, close, fork, exit, wait)"))),
            };
            if matches!(call, Call::Exit) {
                procs[h].remove(&proc);
            }
            let expect = match s.expect.as_deref() {
                None => None,
                Some("ok") | Some("OK") => Some(None),
                Some(e) => Some(Some(Errno::from_name(e).ok_or_else(|| {
                    ctx.err(&format!("{p}.expect"), format!("unknown expectation {e:?} (\"ok\" or an errno name such as EADDRINUSE)"))
                })?)),
            };
            steps.push(Step {
                index: i,
                at: s.at,
                host: h,
                proc,
                call,
                timeout: s.timeout.map(|d| d.0),
                expect,
                expect_data: s.expect_data.clone(),
                note: s.note.clone(),
            });
        }

        if let Some(vi) = variant {
            for (k, e) in &self.variants[vi].expect {
                let p = format!("variants[{vi}].expect.{k}");
                let i: usize = k.parse().ok().filter(|i| *i < steps.len()).ok_or_else(|| {
                    ctx.err(
                        &p,
                        format!("{k:?} is not a step index (0..{})", steps.len()),
                    )
                })?;
                steps[i].expect = match e.as_str() {
                    "ok" | "OK" => Some(None),
                    name => Some(Some(Errno::from_name(name).ok_or_else(|| {
                        ctx.err(&p, format!("unknown expectation {name:?} (\"ok\" or an errno name such as EADDRINUSE)"))
                    })?)),
                };
            }
        }

        let mut checks = Vec::new();
        for (i, c) in self.checks.iter().enumerate() {
            let p = format!("checks[{i}]");
            let duration = match c.time_wait_duration.as_deref() {
                None => None,
                Some("profile") => Some(None),
                Some(d) => {
                    Some(Some(parse_duration(d).map_err(|e| {
                        ctx.err(&format!("{p}.time_wait_duration"), e)
                    })?))
                }
            };
            checks.push(Check {
                host: host(&format!("{p}.host"), &c.host)?,
                port: c.port,
                count: c.time_wait_count,
                duration,
                restarts: c.time_wait_restarts,
            });
        }

        Ok(Resolved {
            name: self.name.clone(),
            variant: variant_name,
            description: self.description.clone(),
            source: self.source.clone(),
            seed,
            msl,
            hosts,
            max_lifetime: self
                .network
                .max_lifetime
                .map_or(Duration::from_secs(120), |d| d.0),
            routes,
            faults,
            steps,
            checks,
            linger_after_steps: self
                .linger_after_steps
                .map_or(Duration::from_secs(3600), |d| d.0),
        })
    }
}

fn linger(
    ctx: &Ctx,
    path: &str,
    v: &Option<serde_json::Value>,
) -> Result<Option<u32>, ScenarioError> {
    let bad = || ctx.err(path, "SO_LINGER takes {\"on\": 0|1, \"secs\": N}");
    let obj = v.as_ref().and_then(|v| v.as_object()).ok_or_else(bad)?;
    if obj.keys().any(|k| k != "on" && k != "secs") {
        return Err(bad());
    }
    let on = obj
        .get("on")
        .and_then(|v| v.as_u64().or(v.as_bool().map(u64::from)))
        .ok_or_else(bad)?;
    let secs = obj
        .get("secs")
        .map(|v| v.as_u64().ok_or_else(bad))
        .transpose()?
        .unwrap_or(0);
    match on {
        0 => Ok(None),
        1 => Ok(Some(u32::try_from(secs).map_err(|_| bad())?)),
        _ => Err(bad()),
    }
}
