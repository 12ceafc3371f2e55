//! Values written as text in a scenario: durations, step times, socket addresses, errno
//! names, socket-option values, state names, probabilities, profile names and ISN policies
//! (with their 32-bit sequence numbers).
//!
//! The `Deserialize` impls here run inside [`super::parse`] (their errors become serde
//! errors, positioned by the parser); the `fn (ctx, path, …)` helpers run inside
//! [`super::Scenario::resolve`] and position their errors at `path`.

use super::error::{Ctx, ScenarioError};
use serde::Deserialize;
use std::fmt;
use std::net::SocketAddr;
use twsim_model::{Duration, Errno, Instant, Profile, SeqNum, TcpState};

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

/// Parses a duration with units (`"4us"`, `"10ms"`, `"30s"`, `"2min"`; humantime syntax,
/// surrounding white space ignored) into whole microseconds.
///
/// # Errors
///
/// A message naming the text when it is negative, not a number with a unit, or longer than
/// a year of virtual time.
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

/// A sequence number written as a JSON integer from 0 to 4294967295 (2³² − 1): an ISN of
/// `{"constant": N}` or `{"scripted": [N, …]}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Seq(pub SeqNum);

impl<'de> Deserialize<'de> for Seq {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = Seq;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a sequence number (an integer from 0 to 4294967295)")
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Seq, E> {
                u32::try_from(v)
                    .map(|n| Seq(SeqNum(n)))
                    .map_err(|_| E::invalid_value(serde::de::Unexpected::Unsigned(v), &self))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Seq, E> {
                u64::try_from(v)
                    .map_err(|_| E::invalid_value(serde::de::Unexpected::Signed(v), &self))
                    .and_then(|v| self.visit_u64(v))
            }
        }
        d.deserialize_u64(V)
    }
}

/// When a step runs: absolute (`"90s"`) or relative to the previous step's completion (`"+1s"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum At {
    /// Absolute virtual time.
    Absolute(Duration),
    /// After the previous step completed.
    Relative(Duration),
}

impl At {
    /// The virtual time at which a step scheduled `self` starts, given the time `prev_done`
    /// at which the previous step completed ([`Instant::ZERO`] for the first step).
    ///
    /// An absolute time that has already passed means "at once": the result is never before
    /// `prev_done`. A relative time is added to `prev_done` (saturating at [`Instant::MAX`]).
    /// A step without `at` starts at `prev_done`; see [`super::Step::start_time`].
    pub fn start_time(self, prev_done: Instant) -> Instant {
        match self {
            At::Absolute(t) => Instant::from_micros(t.micros()).max(prev_done),
            At::Relative(d) => prev_done + d,
        }
    }
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

/// A state name for `wait until state`, any case, `_` for `-` (`"time_wait"` → TIME-WAIT).
pub(super) fn state_name(ctx: &Ctx, path: &str, s: &str) -> Result<TcpState, ScenarioError> {
    let st = s.to_ascii_uppercase().replace('_', "-");
    st.parse::<TcpState>().map_err(|_| {
        ctx.err(
            path,
            format!(
                "unknown state {st:?} (RFC 9293 names: {})",
                TcpState::known_names()
            ),
        )
    })
}

/// A profile by name.
pub(super) fn profile(ctx: &Ctx, path: &str, name: &str) -> Result<Profile, ScenarioError> {
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

/// A probability in [0, 1] (NaN refused).
pub(super) fn prob(ctx: &Ctx, path: &str, p: Option<f64>) -> Result<Option<f64>, ScenarioError> {
    match p {
        Some(p) if !(0.0..=1.0).contains(&p) || p.is_nan() => {
            Err(ctx.err(path, format!("probability {p} is outside [0, 1]")))
        }
        p => Ok(p),
    }
}

/// An expected result: `"ok"`/`"OK"` (`None`) or an errno name.
pub(super) fn expectation(ctx: &Ctx, path: &str, s: &str) -> Result<Option<Errno>, ScenarioError> {
    match s {
        "ok" | "OK" => Ok(None),
        name => Errno::from_name(name).map(Some).ok_or_else(|| {
            ctx.err(
                path,
                format!(
                    "unknown expectation {name:?} (\"ok\" or an errno name such as EADDRINUSE)"
                ),
            )
        }),
    }
}

/// A socket address `a.b.c.d:port` or `[v6]:port` (no scope id, no flow label).
pub(super) fn socket_addr(ctx: &Ctx, path: &str, a: &str) -> Result<SocketAddr, ScenarioError> {
    match a.parse::<SocketAddr>() {
        Ok(SocketAddr::V6(v6)) if v6.scope_id() != 0 || v6.flowinfo() != 0 => Err(ctx.err(
            path,
            format!("{a:?}: scope ids and flow labels are not supported"),
        )),
        Ok(sa) => Ok(sa),
        _ => Err(ctx.err(
            path,
            format!(
                "{a:?} is not an IPv4 address:port (a.b.c.d:port) or an IPv6 one \
                 ([::1]:port)"
            ),
        )),
    }
}

/// A boolean socket option value: `0`, `1`, `false` or `true`; `opt` names the option in
/// the error.
pub(super) fn flag(
    ctx: &Ctx,
    path: &str,
    opt: &str,
    v: &Option<serde_json::Value>,
) -> Result<bool, ScenarioError> {
    match v {
        Some(serde_json::Value::Number(n)) if n.as_u64() == Some(0) => Ok(false),
        Some(serde_json::Value::Number(n)) if n.as_u64() == Some(1) => Ok(true),
        Some(serde_json::Value::Bool(b)) => Ok(*b),
        _ => Err(ctx.err(path, format!("{opt} takes 0 or 1"))),
    }
}

/// An `SO_LINGER` value `{"on": 0|1, "secs": N}`: `None` when off, `Some(secs)` when on.
pub(super) fn linger(
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::test_support::{v, CTX};

    #[test]
    fn durations_take_units_and_refuse_negative_or_huge_values() {
        assert_eq!(parse_duration("4us"), Ok(Duration::from_micros(4)));
        assert_eq!(parse_duration(" 10ms "), Ok(Duration::from_millis(10)));
        assert_eq!(parse_duration("2min"), Ok(Duration::from_secs(120)));
        assert_eq!(
            parse_duration("-1s"),
            Err("duration \"-1s\" is negative".into())
        );
        assert!(parse_duration("10")
            .unwrap_err()
            .starts_with("bad duration \"10\""));
        assert!(parse_duration("400days")
            .unwrap_err()
            .ends_with("is longer than a year of virtual time"));
    }

    #[test]
    fn at_reads_absolute_and_relative_times() {
        let at = |s: &str| serde_json::from_value::<At>(serde_json::Value::from(s)).unwrap();
        assert_eq!(at("90s"), At::Absolute(Duration::from_secs(90)));
        assert_eq!(at("+1s"), At::Relative(Duration::from_secs(1)));
        assert_eq!(at(" +1s"), At::Relative(Duration::from_secs(1)));
        assert!(serde_json::from_value::<At>(v(r#""+x""#)).is_err());
    }

    #[test]
    fn start_time_is_never_before_the_previous_completion() {
        let t = |s: u64| Instant::from_micros(s * 1_000_000);
        let d = Duration::from_secs;
        assert_eq!(At::Absolute(d(90)).start_time(t(10)), t(90));
        assert_eq!(At::Absolute(d(5)).start_time(t(10)), t(10));
        assert_eq!(At::Relative(d(1)).start_time(t(10)), t(11));
        assert_eq!(At::Relative(d(1)).start_time(Instant::MAX), Instant::MAX);
    }

    #[test]
    fn helpers_read_their_values_and_name_what_is_wrong() {
        assert_eq!(state_name(&CTX, "p", "time_wait"), Ok(TcpState::TimeWait));
        assert!(state_name(&CTX, "p", "WAITING").is_err());
        assert_eq!(expectation(&CTX, "p", "ok"), Ok(None));
        assert_eq!(expectation(&CTX, "p", "OK"), Ok(None));
        assert!(matches!(expectation(&CTX, "p", "EADDRINUSE"), Ok(Some(_))));
        let e = expectation(&CTX, "p", "EWHAT").unwrap_err();
        assert_eq!(e.path, "p");
        assert!(e.message.starts_with("unknown expectation \"EWHAT\""));
        assert_eq!(prob(&CTX, "p", Some(0.5)), Ok(Some(0.5)));
        assert!(prob(&CTX, "p", Some(f64::NAN)).is_err());
        assert!(prob(&CTX, "p", Some(1.5)).is_err());
        assert!(socket_addr(&CTX, "p", "10.0.0.1:80").is_ok());
        assert!(socket_addr(&CTX, "p", "[::1]:80").is_ok());
        assert!(socket_addr(&CTX, "p", "[fe80::1%2]:80").is_err());
        assert!(socket_addr(&CTX, "p", "10.0.0.1").is_err());
        assert_eq!(flag(&CTX, "p", "SO_REUSEADDR", &Some(v(r#"1"#))), Ok(true));
        assert_eq!(
            flag(&CTX, "p", "SO_REUSEADDR", &Some(v(r#"false"#))),
            Ok(false)
        );
        assert!(flag(&CTX, "p", "SO_REUSEADDR", &Some(v(r#"2"#))).is_err());
    }

    #[test]
    fn sequence_numbers_are_integers_from_0_to_2_pow_32_minus_1() {
        let seq = |text: &str| serde_json::from_value::<Seq>(v(text)).map_err(|e| e.to_string());
        assert_eq!(seq("0"), Ok(Seq(SeqNum(0))));
        assert_eq!(seq("4294967295"), Ok(Seq(SeqNum(u32::MAX))));
        let expected = "expected a sequence number (an integer from 0 to 4294967295)";
        assert_eq!(
            seq("4294967296"),
            Err(format!("invalid value: integer `4294967296`, {expected}"))
        );
        assert_eq!(
            seq("-1"),
            Err(format!("invalid value: integer `-1`, {expected}"))
        );
        assert_eq!(
            seq("1.5"),
            Err(format!("invalid type: floating point `1.5`, {expected}"))
        );
        assert_eq!(
            seq(r#""7""#),
            Err(format!("invalid type: string \"7\", {expected}"))
        );
    }

    #[test]
    fn linger_reads_on_and_secs() {
        let l = |v| linger(&CTX, "p", &Some(v));
        assert_eq!(l(v(r#"{"on": 1, "secs": 0}"#)), Ok(Some(0)));
        assert_eq!(l(v(r#"{"on": true, "secs": 5}"#)), Ok(Some(5)));
        assert_eq!(l(v(r#"{"on": 0}"#)), Ok(None));
        assert!(l(v(r#"{"on": 2}"#)).is_err());
        assert!(l(v(r#"{"on": 1, "sec": 5}"#)).is_err());
        assert!(linger(&CTX, "p", &None).is_err());
    }
}
