//! Scenario-wide settings (profile, seed, MSL, TIME-WAIT overrides, ISN policy), with the
//! chosen variant and the command-line overrides applied, and the variant's replacement
//! expectations.

use super::super::error::{Ctx, ScenarioError};
use super::super::format::{Scenario, TimeWaitSpec, VariantSpec};
use super::super::resolved::{Overrides, Step, TimeWaitOverride};
use super::super::values::{expectation, parse_duration, profile};
use super::isn::isn_policy;
use std::collections::BTreeSet;
use std::sync::Arc;
use twsim_model::time_wait::{
    BareAckInTimeWait, DataInTimeWait, NoAckInTimeWait, RstInTimeWait, SynInTimeWait, TimerRestart,
};
use twsim_model::{Duration, IsnPolicy, Profile};

/// What applies to every host, after the variant and the overrides.
pub(super) struct Settings {
    /// Profile of hosts that do not name theirs (or of every host if forced).
    pub(super) default_os: Profile,
    /// A variant or the command line chose the profile: it replaces the hosts' own `os`.
    pub(super) host_os_forced: bool,
    /// TIME-WAIT overrides of the scenario and the variant (each host adds its own).
    pub(super) time_wait: TimeWaitOverride,
    /// ISN policy: the variant's, else the scenario's (`None`: neither sets one; a host's own
    /// replaces it).
    pub(super) isn: Option<IsnPolicy>,
    /// Run seed.
    pub(super) seed: u64,
    /// MSL (`None`: each profile's default).
    pub(super) msl: Option<Duration>,
    /// The variant's name.
    pub(super) variant: Option<String>,
}

/// The settings of `sc` for `variant` (an index into `sc.variants`) with `ov` applied last.
/// Also refuses unsafe names, duplicate variant names and a zero MSL, where each is written.
pub(super) fn settings(
    ctx: &Ctx,
    sc: &Scenario,
    variant: Option<usize>,
    ov: &Overrides,
) -> Result<Settings, ScenarioError> {
    let mut default_os = sc
        .os
        .as_deref()
        .map(|n| profile(ctx, "os", n))
        .transpose()?
        .unwrap_or_default();
    let mut seed = sc.seed.unwrap_or(1);
    let mut msl = sc.msl.map(|d| d.0);
    let mut host_os_forced = false;
    safe_name(ctx, "name", &sc.name)?;
    variant_names_and_msl(ctx, &sc.variants)?;
    // A zero MSL is refused where it is written.
    if msl == Some(Duration::ZERO) {
        return Err(ctx.err("msl", "msl must be greater than zero"));
    }
    let variant_name = match variant {
        Some(i) => {
            let v = &sc.variants[i];
            if let Some(os) = &v.os {
                default_os = profile(ctx, &format!("variants[{i}].os"), os)?;
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
    let mut time_wait = time_wait_override(ctx, "time_wait", &sc.time_wait)?;
    let mut isn = isn_policy(ctx, "isn", &sc.isn)?;
    if let Some(vi) = variant {
        time_wait = time_wait.merge(time_wait_override(
            ctx,
            &format!("variants[{vi}].time_wait"),
            &sc.variants[vi].time_wait,
        )?);
        isn = isn_policy(ctx, &format!("variants[{vi}].isn"), &sc.variants[vi].isn)?.or(isn);
    }
    seed = ov.seed.unwrap_or(seed);
    if ov.msl == Some(Duration::ZERO) {
        // Not in the file: the command line's `--msl` (which the CLI checks first).
        return Err(ctx.err("", "the msl override (--msl) must be greater than zero"));
    }
    msl = ov.msl.or(msl);
    Ok(Settings {
        default_os,
        host_os_forced,
        time_wait,
        isn,
        seed,
        msl,
        variant: variant_name,
    })
}

/// Longest scenario or variant name, in characters.
pub const MAX_NAME_CHARS: usize = 64;

/// Whether `name` may be used in an output file name: 1 to [`MAX_NAME_CHARS`] ASCII letters,
/// digits, `.`, `_`, `+` and `-` (no path separator, so nothing is written outside the
/// output's folder).
pub fn is_safe_name(name: &str) -> bool {
    (1..=MAX_NAME_CHARS).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'+' | b'-'))
}

/// Refuses a scenario or variant name that is not [`is_safe_name`].
fn safe_name(ctx: &Ctx, path: &str, name: &str) -> Result<(), ScenarioError> {
    if is_safe_name(name) {
        return Ok(());
    }
    Err(ctx.err(
        path,
        format!(
            "name {name:?} is used in output file names: write 1 to {MAX_NAME_CHARS} letters, \
             digits, '.', '_', '+' or '-'"
        ),
    ))
}

/// Refuses unsafe or repeated variant names and a variant's zero MSL (every variant, whichever
/// runs).
fn variant_names_and_msl(ctx: &Ctx, variants: &[VariantSpec]) -> Result<(), ScenarioError> {
    let mut names = BTreeSet::new();
    for (i, v) in variants.iter().enumerate() {
        safe_name(ctx, &format!("variants[{i}].name"), &v.name)?;
        if v.msl.is_some_and(|d| d.0 == Duration::ZERO) {
            return Err(ctx.err(
                &format!("variants[{i}].msl"),
                "msl must be greater than zero",
            ));
        }
        if !names.insert(v.name.as_str()) {
            return Err(ctx.err(
                &format!("variants[{i}].name"),
                format!("duplicate variant name {:?}", v.name),
            ));
        }
    }
    Ok(())
}

/// The TIME-WAIT overrides written at `path` (rule names, length, ACK rate limit).
pub(super) fn time_wait_override(
    ctx: &Ctx,
    path: &str,
    spec: &Option<TimeWaitSpec>,
) -> Result<TimeWaitOverride, ScenarioError> {
    let Some(t) = spec else {
        return Ok(TimeWaitOverride::default());
    };
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
        restart: rule(
            ctx,
            &format!("{path}.restart"),
            &t.restart,
            &TimerRestart::NAMES,
        )?,
        rst: rule(ctx, &format!("{path}.rst"), &t.rst, &RstInTimeWait::NAMES)?,
        syn: rule(ctx, &format!("{path}.syn"), &t.syn, &SynInTimeWait::NAMES)?,
        length: t.length.map(|d| d.0),
        ack_rate_limit,
        paws: t.paws,
        bare_ack: rule(
            ctx,
            &format!("{path}.bare_ack"),
            &t.bare_ack,
            &BareAckInTimeWait::NAMES,
        )?,
        no_ack: rule(
            ctx,
            &format!("{path}.no_ack"),
            &t.no_ack,
            &NoAckInTimeWait::NAMES,
        )?,
        data: rule(
            ctx,
            &format!("{path}.data"),
            &t.data,
            &DataInTimeWait::NAMES,
        )?,
    })
}

/// The rule named `v` among `names`.
fn rule<T: Copy>(
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

/// Replaces the `expect` of the steps that variant `vi` names (step index as a string).
pub(super) fn expectations(
    ctx: &Ctx,
    vi: usize,
    v: &VariantSpec,
    steps: &mut [Arc<Step>],
) -> Result<(), ScenarioError> {
    for (k, e) in &v.expect {
        let p = format!("variants[{vi}].expect.{k}");
        let i: usize = k.parse().ok().filter(|i| *i < steps.len()).ok_or_else(|| {
            ctx.err(
                &p,
                format!("{k:?} is not a step index (0..{})", steps.len()),
            )
        })?;
        // Not yet shared: make_mut changes the step in place.
        Arc::make_mut(&mut steps[i]).expect = Some(expectation(ctx, &p, e)?);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::tests::{error, resolve_with};
    use crate::scenario::Overrides;
    use twsim_model::time_wait::RstInTimeWait;
    use twsim_model::{Duration, Errno, IsnPolicy, Profile, SeqNum};

    const VARIANTS: &str = r#"{"name": "v", "os": "freebsd", "seed": 7, "msl": "30s",
        "time_wait": {"rst": "ignore"},
        "hosts": [{"name": "a", "addr": "10.0.0.1", "os": "windows-2003"}],
        "steps": [{"host": "a", "call": "socket", "sock": "s", "expect": "ok"}],
        "variants": [{"name": "linux", "os": "linux", "seed": 9,
                      "expect": {"0": "EADDRINUSE"}, "time_wait": {"length": "1s"}}]}"#;

    #[test]
    fn the_variant_then_the_overrides_apply_on_top_of_the_file() {
        let base = resolve_with(VARIANTS, None, &Overrides::default()).unwrap();
        assert_eq!((base.seed, base.msl), (7, Some(Duration::from_secs(30))));
        assert_eq!(base.hosts[0].profile, Profile::Windows2003);
        assert_eq!(base.steps[0].expect, Some(None));
        let v = resolve_with(VARIANTS, Some(0), &Overrides::default()).unwrap();
        assert_eq!(v.variant.as_deref(), Some("linux"));
        assert_eq!(v.seed, 9);
        assert_eq!(
            v.hosts[0].profile,
            Profile::Linux,
            "a variant's os is forced"
        );
        assert_eq!(v.steps[0].expect, Some(Some(Errno::EADDRINUSE)));
        let tw = v.hosts[0].time_wait;
        assert_eq!(tw.rst, Some(RstInTimeWait::Ignore));
        assert_eq!(tw.length, Some(Duration::from_secs(1)));
        let ov = Overrides {
            seed: Some(3),
            os: Some(Profile::FreeBsd),
            msl: Some(Duration::from_secs(1)),
        };
        let o = resolve_with(VARIANTS, Some(0), &ov).unwrap();
        assert_eq!((o.seed, o.msl), (3, Some(Duration::from_secs(1))));
        assert_eq!(o.hosts[0].profile, Profile::FreeBsd);
    }

    /// Hosts `a` (no `isn`) and `b` (its own), the scenario's `isn` and two variants: `v`
    /// with an `isn`, `w` without.
    const ISN: &str = r#"{"name": "i", "isn": "rfc793-clock",
        "hosts": [{"name": "a", "addr": "10.0.0.1"},
                  {"name": "b", "addr": "10.0.0.2", "isn": {"scripted": [7, 8]}}],
        "steps": [{"host": "a", "call": "exit"}],
        "variants": [{"name": "v", "isn": {"constant": 9}}, {"name": "w"}]}"#;

    #[test]
    fn the_most_specific_isn_wins_host_then_variant_then_scenario() {
        let isns = |src: &str, v| {
            let r = resolve_with(src, v, &Overrides::default()).unwrap();
            r.hosts.into_iter().map(|h| h.isn).collect::<Vec<_>>()
        };
        let b = IsnPolicy::Scripted(vec![SeqNum(7), SeqNum(8)]);
        assert_eq!(isns(ISN, None), [IsnPolicy::Rfc793Clock, b.clone()]);
        assert_eq!(
            isns(ISN, Some(0)),
            [IsnPolicy::Constant(SeqNum(9)), b.clone()]
        );
        assert_eq!(isns(ISN, Some(1)), [IsnPolicy::Rfc793Clock, b.clone()]);
        // Without the scenario's: the variant's, else the default.
        let no_top = ISN.replace(r#""isn": "rfc793-clock","#, "");
        assert_eq!(isns(&no_top, None), [IsnPolicy::Random, b.clone()]);
        assert_eq!(
            isns(&no_top, Some(0)),
            [IsnPolicy::Constant(SeqNum(9)), b.clone()]
        );
        assert_eq!(isns(&no_top, Some(1)), [IsnPolicy::Random, b]);
        // The command-line overrides do not touch it.
        let ov = Overrides {
            seed: Some(3),
            os: Some(Profile::FreeBsd),
            msl: None,
        };
        let r = resolve_with(ISN, Some(0), &ov).unwrap();
        assert_eq!(r.hosts[0].isn, IsnPolicy::Constant(SeqNum(9)));
    }

    #[test]
    fn isn_errors_name_where_the_policy_is_written() {
        let e = |src: &str, v| {
            let e = resolve_with(src, v, &Overrides::default()).unwrap_err();
            format!("{}: {}", e.path, e.message)
        };
        let top = ISN.replace(r#""rfc793-clock""#, r#""rfc793""#);
        assert!(e(&top, None).starts_with("isn: unknown ISN policy \"rfc793\""));
        let variant = ISN.replace(r#"{"constant": 9}"#, r#"{"scripted": []}"#);
        assert_eq!(
            e(&variant, Some(0)),
            "variants[0].isn.scripted: a scripted ISN list needs at least one sequence number"
        );
        let host = ISN.replace(r#"{"scripted": [7, 8]}"#, r#"{}"#);
        assert!(e(&host, None).starts_with("hosts[1].isn: an ISN object needs exactly one key"));
    }

    #[test]
    fn settings_errors() {
        let e = |extra: &str| {
            error(&format!(
                r#"{{"name": "e", {extra}
                "hosts": [{{"name": "a", "addr": "10.0.0.1"}}],
                "steps": [{{"host": "a", "call": "exit"}}]}}"#
            ))
        };
        assert_eq!(e(r#""msl": "0s","#), "msl: msl must be greater than zero");
        assert_eq!(
            e(r#""variants": [{"name": "x"}, {"name": "y", "msl": "0s"}],"#),
            "variants[1].msl: msl must be greater than zero",
            "a variant's zero MSL is refused whichever variant runs"
        );
        assert!(e(r#""variants": [{"name": "../../x"}],"#)
            .starts_with("variants[0].name: name \"../../x\" is used in output file names"));
        assert!(e(r#""os": "plan9","#).starts_with("os: unknown profile \"plan9\""));
        assert_eq!(
            e(r#""variants": [{"name": "x"}, {"name": "x"}],"#),
            "variants[1].name: duplicate variant name \"x\""
        );
        assert!(e(r#""time_wait": {"syn": "maybe"},"#)
            .starts_with("time_wait.syn: unknown rule \"maybe\" (known: "));
        assert!(e(r#""time_wait": {"ack_rate_limit": "often"},"#)
            .starts_with("time_wait.ack_rate_limit: bad duration \"often\""));
    }

    #[test]
    fn variant_expectations_name_existing_steps() {
        let src = |expect: &str| {
            format!(
                r#"{{"name": "e", "hosts": [{{"name": "a", "addr": "10.0.0.1"}}],
                "steps": [{{"host": "a", "call": "exit"}}],
                "variants": [{{"name": "x", "expect": {expect}}}]}}"#
            )
        };
        let e = |expect: &str| {
            let e = resolve_with(&src(expect), Some(0), &Overrides::default()).unwrap_err();
            format!("{}: {}", e.path, e.message)
        };
        assert_eq!(
            e(r#"{"1": "ok"}"#),
            "variants[0].expect.1: \"1\" is not a step index (0..1)"
        );
        assert!(e(r#"{"0": "EWHAT"}"#)
            .starts_with("variants[0].expect.0: unknown expectation \"EWHAT\""));
    }
}
