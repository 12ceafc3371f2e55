//! The scenario file format: serde structs with `deny_unknown_fields`, so a misspelt field is
//! an error rather than a silently ignored one. Field documentation here is the reference
//! that `docs/scenario-format.md` expands on. Nothing here is validated beyond its JSON type;
//! [`Scenario::resolve`] does that.
//!
//! Every struct is read from a JSON object only: serde's derived impl would also read one from
//! an array, by field position (a host as `["server", "10.0.0.2"]`), so each derives with
//! `#[serde(remote = "Self")]` and `object_only!` implements `Deserialize` over a map alone.

use super::values::{parse_duration, At, Dur, Seq};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::fmt;

/// `Deserialize` for structs derived with `#[serde(remote = "Self")]`, reading them from a JSON
/// object only (`expecting` names what was expected in the error for anything else).
macro_rules! object_only {
    ($($t:ty => $what:literal,)*) => {$(
        impl<'de> Deserialize<'de> for $t {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                struct V;
                impl<'de> serde::de::Visitor<'de> for V {
                    type Value = $t;
                    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                        f.write_str($what)
                    }
                    fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<$t, A::Error> {
                        // The derived (inherent) function, reading the object's members.
                        <$t>::deserialize(serde::de::value::MapAccessDeserializer::new(map))
                    }
                }
                d.deserialize_map(V)
            }
        }
    )*};
}

object_only! {
    Scenario => "a scenario object",
    HostSpec => "a host object",
    IsnObject => "an ISN object",
    TimeWaitSpec => "a time_wait object",
    NetworkSpec => "a network object",
    RouteSpec => "a route object",
    DistSpec => "a delay distribution object",
    NormalSpec => "a normal distribution object",
    ExpSpec => "an exponential distribution object",
    FaultSpec => "a fault object",
    MatchSpec => "a match object",
    ActionObject => "a fault action object",
    StepSpec => "a step object",
    VariantSpec => "a variant object",
    CheckSpec => "a check object",
    WorkloadSpec => "a workload object",
    PoissonSpec => "a poisson rate object",
}

/// The raw scenario document.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, remote = "Self")]
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
    /// The socket-call script (may be empty when there are workloads).
    #[serde(default)]
    pub steps: super::steps::Steps,
    /// Workloads: generated client populations and the servers that serve them.
    #[serde(default)]
    pub workloads: Vec<WorkloadSpec>,
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
    /// ISN policy of every host (default `"random"`; a variant, then a host, may override it).
    #[serde(default)]
    pub isn: Option<IsnSpec>,
}

/// A host.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, remote = "Self")]
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
    /// ISN policy of this host, replacing the variant's and the scenario's.
    #[serde(default)]
    pub isn: Option<IsnSpec>,
}

/// An ISN policy as written: a word (`"random"`, `"rfc793-clock"`, `"rfc6528"`) or an object
/// with one key (`{"constant": N}`, `{"scripted": [N, …]}`). The word and the number of keys
/// are checked by [`Scenario::resolve`]; each N is checked here (0 ≤ N ≤ 4294967295).
#[derive(Debug, Clone)]
pub enum IsnSpec {
    /// A policy named by a word.
    Word(String),
    /// An object with one key.
    Object(IsnObject),
}

/// The object form of an ISN policy (exactly one field).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, remote = "Self")]
pub struct IsnObject {
    /// Every connection gets this ISS.
    #[serde(default)]
    pub constant: Option<Seq>,
    /// The host's k-th connection gets entry k, cycling (at least one entry).
    #[serde(default)]
    pub scripted: Option<Vec<Seq>>,
}

impl<'de> Deserialize<'de> for IsnSpec {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = IsnSpec;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(
                    "an ISN policy: \"random\", \"rfc793-clock\", \"rfc6528\", \
                     {\"constant\": N} or {\"scripted\": [N, …]}",
                )
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<IsnSpec, E> {
                Ok(IsnSpec::Word(v.to_string()))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<IsnSpec, A::Error> {
                IsnObject::deserialize(serde::de::value::MapAccessDeserializer::new(map))
                    .map(IsnSpec::Object)
            }
        }
        d.deserialize_any(V)
    }
}

/// Overrides of a profile's TIME-WAIT behaviour (time-wait.md's policy columns).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, remote = "Self")]
pub struct TimeWaitSpec {
    /// Timer restart rule: `duplicate_fin`, `any_segment`, `literal`, `retransmitted_fin`,
    /// `out_of_window`, `never`.
    #[serde(default)]
    pub restart: Option<String>,
    /// RST rule: `kill_in_window` (RFC 793), `kill_exact` (Linux), `challenge_ack` (RFC 5961),
    /// `ignore` (RFC 1337), `challenge_inexact` (XNU).
    #[serde(default)]
    pub rst: Option<String>,
    /// SYN rule: `rfc793`, `linux`, `rfc1122`, `bsd`, `silent`, `rfc6191`, `xnu`.
    #[serde(default)]
    pub syn: Option<String>,
    /// A fixed TIME-WAIT length replacing the profile's (`"0s"`: no TIME-WAIT at all).
    #[serde(default)]
    pub length: Option<Dur>,
    /// Minimum spacing of rate-limited ACKs, or `"off"`.
    #[serde(default)]
    pub ack_rate_limit: Option<String>,
    /// PAWS in TIME-WAIT (RFC 7323 §5.3) on or off.
    #[serde(default)]
    pub paws: Option<bool>,
    /// Exact-duplicate-ACK rule: `ack`, `restart_silently` (Linux), `drop_exact` (FreeBSD),
    /// `drop_in_window` (XNU).
    #[serde(default)]
    pub bare_ack: Option<String>,
    /// Rule for segments without ACK: `process`, `drop_acceptable` (RFC 793), `drop` (FreeBSD).
    #[serde(default)]
    pub no_ack: Option<String>,
    /// Rule for data at or beyond RCV.NXT: `ack`, `reset` (XNU).
    #[serde(default)]
    pub data: Option<String>,
}

/// The network.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, remote = "Self")]
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
#[serde(deny_unknown_fields, remote = "Self")]
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
#[serde(deny_unknown_fields, remote = "Self")]
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
#[serde(deny_unknown_fields, remote = "Self")]
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
#[serde(deny_unknown_fields, remote = "Self")]
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
#[serde(deny_unknown_fields, remote = "Self")]
pub struct FaultSpec {
    /// Which segments.
    #[serde(rename = "match")]
    pub matcher: MatchSpec,
    /// What happens to them.
    pub action: ActionSpec,
}

/// Segment selector of a fault rule.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, remote = "Self")]
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
#[serde(deny_unknown_fields, remote = "Self")]
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
#[serde(deny_unknown_fields, remote = "Self")]
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
    /// A sentence printed in the timeline beside the step's result (teaching notes): a
    /// string, printed unless the result contradicts the step's expectation, or an object from
    /// outcome (`"ok"` or an errno name) to the sentence printed for that outcome.
    #[serde(default)]
    pub note: Option<NoteSpec>,
    /// Whether this is the story's key call, whose result and time the closing comparison of
    /// a demo shows for every run.
    #[serde(default)]
    pub key: bool,
}

/// A step's `note`: one sentence, or one per outcome.
#[derive(Debug, Clone)]
pub enum NoteSpec {
    /// Printed unless the result contradicts the step's expectation.
    Text(String),
    /// Outcome (`"ok"` or an errno name) → the sentence printed for it.
    ByOutcome(BTreeMap<String, String>),
}

impl<'de> Deserialize<'de> for NoteSpec {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = NoteSpec;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(
                    "a sentence, or an object from outcome (\"ok\" or an errno name) to a sentence",
                )
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<NoteSpec, E> {
                Ok(NoteSpec::Text(v.to_string()))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<NoteSpec, A::Error> {
                let mut out = BTreeMap::new();
                while let Some((k, v)) = map.next_entry::<String, String>()? {
                    out.insert(k, v);
                }
                Ok(NoteSpec::ByOutcome(out))
            }
        }
        d.deserialize_any(V)
    }
}

/// A variant: the same script under other settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, remote = "Self")]
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
    /// ISN policy of every host in this variant, replacing the scenario's (a host's own
    /// replaces it).
    #[serde(default)]
    pub isn: Option<IsnSpec>,
}

/// An outcome check evaluated after the run.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, remote = "Self")]
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::test_support::v;

    use twsim_model::Duration;

    #[test]
    fn a_delay_is_a_duration_or_a_distribution() {
        let d = |v| serde_json::from_value::<DelaySpec>(v);
        assert!(matches!(
            d(v(r#""10ms""#)).unwrap(),
            DelaySpec::Fixed(Dur(x)) if x == Duration::from_millis(10)
        ));
        let DelaySpec::Dist(s) = d(v(r#"{"uniform": ["1ms", "2ms"]}"#)).unwrap() else {
            panic!("a distribution")
        };
        assert!(s.uniform.is_some() && s.normal.is_none());
        assert!(d(v(r#"10"#)).is_err());
        assert!(d(v(r#"{"uniform": ["1ms", "2ms"], "bogus": 1}"#)).is_err());
    }

    #[test]
    fn empirical_delays_are_a_list_or_a_file() {
        let e = |v| serde_json::from_value::<EmpiricalSpec>(v).unwrap();
        assert!(matches!(e(v(r#"["1ms", "3ms"]"#)), EmpiricalSpec::List(v) if v.len() == 2));
        assert!(matches!(e(v(r#""delays.txt""#)), EmpiricalSpec::File(f) if f == "delays.txt"));
    }

    #[test]
    fn fault_actions_are_a_word_or_an_object() {
        let a = |v| serde_json::from_value::<ActionSpec>(v).unwrap();
        assert!(matches!(a(v(r#""drop""#)), ActionSpec::Word(w) if w == "drop"));
        assert!(matches!(
            a(v(r#"{"via": "slow"}"#)),
            ActionSpec::Object(ActionObject { via: Some(_), .. })
        ));
    }
}

/// A workload: a client population on host `client` opening connections to `to` (a server
/// on host `server`, which the workload also runs: listen, accept, serve). Validated by
/// [`Scenario::resolve`]; see `docs/scenario-format.md` "Workloads".
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, remote = "Self")]
pub struct WorkloadSpec {
    /// Unique name (also its processes' name on both hosts).
    pub name: String,
    /// Host of the clients.
    pub client: String,
    /// Host of the server.
    pub server: String,
    /// The server's address, `"IPv4:port"` (an address of the server host).
    pub to: String,
    /// How many connections (exactly one of `connections` and `duration`).
    #[serde(default)]
    pub connections: Option<u64>,
    /// For how long connections are opened, from `start`.
    #[serde(default)]
    pub duration: Option<Dur>,
    /// Arrival rate: `"470/s"` (periodic) or `{"poisson": "470/s"}`.
    pub rate: RateSpec,
    /// When the server starts listening and the first connection opens (default `"0s"`).
    #[serde(default)]
    pub start: Option<Dur>,
    /// Local port of every connection: `"auto"` (default: an ephemeral port) or a number.
    #[serde(default)]
    pub from_port: Option<FromPortSpec>,
    /// Bytes the client sends once connected (default 0).
    #[serde(default)]
    pub request: Option<u64>,
    /// Bytes the server sends back once it has the whole request (default 0).
    #[serde(default)]
    pub response: Option<u64>,
    /// Who closes first: `"client"` (default) or `"server"`.
    #[serde(default)]
    pub closes_first: Option<String>,
    /// Time the first closer waits after the exchange before closing (default `"0s"`).
    #[serde(default)]
    pub think: Option<Dur>,
    /// Connect deadline (default: the client profile's connect timeout).
    #[serde(default)]
    pub connect_timeout: Option<Dur>,
    /// The listener's backlog (default 128).
    #[serde(default)]
    pub backlog: Option<u32>,
}

/// An arrival rate as written: `"N/s"` (periodic) or `{"poisson": "N/s"}`.
#[derive(Debug, Clone)]
pub enum RateSpec {
    /// Evenly spaced arrivals.
    Periodic(String),
    /// Exponential inter-arrival times.
    Poisson(PoissonSpec),
}

/// The object form of a rate.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, remote = "Self")]
pub struct PoissonSpec {
    /// The mean rate, `"N/s"`.
    pub poisson: String,
}

impl<'de> Deserialize<'de> for RateSpec {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = RateSpec;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a rate: \"N/s\" or {\"poisson\": \"N/s\"}")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<RateSpec, E> {
                Ok(RateSpec::Periodic(v.to_string()))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<RateSpec, A::Error> {
                PoissonSpec::deserialize(serde::de::value::MapAccessDeserializer::new(map))
                    .map(RateSpec::Poisson)
            }
        }
        d.deserialize_any(V)
    }
}

/// A workload's local port as written: `"auto"` or a port number.
#[derive(Debug, Clone)]
pub enum FromPortSpec {
    /// A word (only `"auto"` is valid; checked by [`Scenario::resolve`]).
    Word(String),
    /// A fixed port.
    Port(u64),
}

impl<'de> Deserialize<'de> for FromPortSpec {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = FromPortSpec;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("\"auto\" or a port number")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<FromPortSpec, E> {
                Ok(FromPortSpec::Word(v.to_string()))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<FromPortSpec, E> {
                Ok(FromPortSpec::Port(v))
            }
        }
        d.deserialize_any(V)
    }
}
