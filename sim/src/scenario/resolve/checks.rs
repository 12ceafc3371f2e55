//! Outcome checks: which host's TIME-WAIT records are checked, and what is expected of them.

use super::super::error::{Ctx, ScenarioError};
use super::super::format::CheckSpec;
use super::super::resolved::{Check, Host};
use super::super::values::parse_duration;
use super::hosts::host_index;

/// The checks, in file order.
pub(super) fn checks(
    ctx: &Ctx,
    specs: &[CheckSpec],
    hosts: &[Host],
) -> Result<Vec<Check>, ScenarioError> {
    let mut checks = Vec::new();
    for (i, c) in specs.iter().enumerate() {
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
            host: host_index(ctx, hosts, &format!("{p}.host"), &c.host)?,
            port: c.port,
            count: c.time_wait_count,
            duration,
            restarts: c.time_wait_restarts,
        });
    }
    Ok(checks)
}

#[cfg(test)]
mod tests {
    use super::super::tests::{error, resolve};
    use twsim_model::Duration;

    fn checks(checks: &str) -> String {
        format!(
            r#"{{"name": "c", "hosts": [{{"name": "a", "addr": "10.0.0.1"}}],
            "steps": [{{"host": "a", "call": "exit"}}], "checks": {checks}}}"#
        )
    }

    #[test]
    fn checks_read_durations_and_hosts() {
        let r = resolve(&checks(
            r#"[{"host": "a", "port": 80, "time_wait_duration": "profile"},
                {"host": "a", "time_wait_duration": "60s", "time_wait_restarts": 1}]"#,
        ))
        .unwrap();
        assert_eq!(r.checks[0].port, Some(80));
        assert_eq!(r.checks[0].duration, Some(None));
        assert_eq!(r.checks[1].duration, Some(Some(Duration::from_secs(60))));
        assert_eq!(r.checks[1].restarts, Some(1));
    }

    #[test]
    fn check_errors() {
        assert_eq!(
            error(&checks(r#"[{"host": "b"}]"#)),
            "checks[0].host: unknown host \"b\""
        );
        assert!(
            error(&checks(r#"[{"host": "b", "time_wait_duration": "long"}]"#))
                .starts_with("checks[0].time_wait_duration: bad duration \"long\""),
            "the duration is checked before the host"
        );
    }
}
