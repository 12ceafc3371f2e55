//! The bound on virtual time: a run must end before [`MAX_VIRTUAL_TIME`], so that every time
//! stays exact in the trace, in smoltcp's signed microseconds and in the pcap's 32-bit
//! seconds. Each duration is at most a year; what could pass the bound is their sum over the
//! script, checked here before anything runs.

use super::super::error::{Ctx, ScenarioError};
use super::super::resolved::{Call, Step, WaitFor};
use super::super::steps::Steps;
use super::super::values::At;
use std::sync::Arc;
use twsim_model::{Duration, Profile, DEFAULT_WAIT_TIMEOUT};

/// The latest virtual time a run may reach: 100 years of 365 days.
pub const MAX_VIRTUAL_TIME: Duration = Duration::from_secs(100 * 365 * 24 * 3600);

/// Refuses a script whose steps could take the run past [`MAX_VIRTUAL_TIME`]. A step starts at
/// most its `at` after the previous one completed and completes at most its deadline (its
/// `timeout`, else the longest default deadline of any profile) plus its `wait for` after it
/// started; the run ends at most `linger` after the last step. The error points at the step
/// where this bound first passes the limit.
pub(super) fn bounded(
    ctx: &Ctx,
    specs: &Steps,
    steps: &[Arc<Step>],
    linger: Duration,
) -> Result<(), ScenarioError> {
    let default_deadline = Profile::ALL
        .iter()
        .map(|p| p.config().connect_timeout)
        .fold(DEFAULT_WAIT_TIMEOUT, Duration::max);
    let limit = MAX_VIRTUAL_TIME.micros();
    let too_late = |path: String, total: u64| {
        ctx.err(
            &path,
            format!(
                "the run could pass {} years of virtual time here (the script's times, \
                 deadlines and waits add up to {} s); virtual time is limited so that it stays \
                 exact in the trace and the pcap",
                limit / (365 * 24 * 3600 * 1_000_000),
                total / 1_000_000
            ),
        )
    };
    let mut total: u64 = 0;
    for (i, step) in steps.iter().enumerate() {
        let at = match step.at {
            Some(At::Absolute(d) | At::Relative(d)) => d.micros(),
            None => 0,
        };
        let wait = match &step.call {
            Call::Wait(WaitFor::Time(d)) => d.micros(),
            _ => 0,
        };
        let deadline = step.timeout.unwrap_or(default_deadline).micros();
        total = total
            .saturating_add(at)
            .saturating_add(wait)
            .saturating_add(deadline);
        if total > limit {
            let spec = match specs.get(i) {
                Some(read) => super::script::spec(ctx, i, read)?,
                None => return Err(too_late(format!("steps[{i}]"), total)),
            };
            let field = if spec.at.is_some() {
                "at"
            } else if spec.for_.is_some() {
                "for"
            } else if spec.timeout.is_some() {
                "timeout"
            } else {
                return Err(too_late(format!("steps[{i}]"), total));
            };
            return Err(too_late(format!("steps[{i}].{field}"), total));
        }
    }
    total = total.saturating_add(linger.micros());
    if total > limit {
        return Err(too_late("linger_after_steps".into(), total));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::tests::error;

    #[test]
    fn a_script_that_could_pass_the_limit_is_refused_where_it_does() {
        let steps = |n: usize| {
            let step = r#"{"host": "a", "call": "wait", "for": "365days"}"#;
            format!(
                r#"{{"name": "t", "hosts": [{{"name": "a", "addr": "10.0.0.1"}}],
                "steps": [{}]}}"#,
                vec![step; n].join(", ")
            )
        };
        assert!(super::super::tests::resolve(&steps(99)).is_ok());
        let e = error(&steps(101));
        assert!(
            e.starts_with("steps[99].for: the run could pass 100 years of virtual time here"),
            "{e}"
        );
    }
}
