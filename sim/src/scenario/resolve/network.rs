//! The network: routes with their delay distributions, loss and duplication, and the fault
//! rules that refer to hosts and routes by name.

use super::super::error::{Ctx, ScenarioError};
use super::super::format::{
    ActionSpec, DelaySpec, DistSpec, EmpiricalSpec, FaultSpec, NetworkSpec, RouteSpec,
};
use super::super::input::read_input;
use super::super::resolved::{Action, Fault, Host, Route};
use super::super::values::{parse_duration, prob};
use super::hosts::opt_host_index;
use crate::delay::DelayDist;
use crate::wire::TcpFlags;
use twsim_model::Duration;

/// The routes (the file's, or one 1 ms route named `default` if it has none).
pub(super) fn routes(
    ctx: &Ctx,
    net: &NetworkSpec,
    hosts: &[Host],
) -> Result<Vec<Route>, ScenarioError> {
    let mut routes: Vec<Route> = Vec::new();
    for (i, r) in net.routes.iter().enumerate() {
        let p = format!("network.routes[{i}]");
        if routes.iter().any(|o| o.name == r.name) {
            return Err(ctx.err(
                &format!("{p}.name"),
                format!("duplicate route name {:?}", r.name),
            ));
        }
        routes.push(route(ctx, &p, r, hosts)?);
    }
    if routes.is_empty() {
        routes.push(Route {
            name: "default".into(),
            delay: DelayDist::Fixed(Duration::from_millis(1)),
            loss: 0.0,
            duplicate: 0.0,
            from: None,
            to: None,
        });
    }
    Ok(routes)
}

fn route(ctx: &Ctx, p: &str, r: &RouteSpec, hosts: &[Host]) -> Result<Route, ScenarioError> {
    Ok(Route {
        name: r.name.clone(),
        delay: delay_dist(ctx, &format!("{p}.delay"), &r.delay)?,
        loss: prob(ctx, &format!("{p}.loss"), r.loss)?.unwrap_or(0.0),
        duplicate: prob(ctx, &format!("{p}.duplicate"), r.duplicate)?.unwrap_or(0.0),
        from: opt_host_index(ctx, hosts, &format!("{p}.from"), &r.from)?,
        to: opt_host_index(ctx, hosts, &format!("{p}.to"), &r.to)?,
    })
}

/// A route's delay distribution, written at `path`.
fn delay_dist(ctx: &Ctx, path: &str, d: &DelaySpec) -> Result<DelayDist, ScenarioError> {
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
    if let Some(d) = parametric(ctx, path, spec)? {
        return Ok(d);
    }
    let list = match spec.empirical.as_ref().expect("counted above") {
        EmpiricalSpec::List(v) => v.iter().map(|d| d.0).collect::<Vec<_>>(),
        EmpiricalSpec::File(f) => empirical_file(ctx, path, f)?,
    };
    if list.is_empty() {
        return Err(ctx.err(
            &format!("{path}.empirical"),
            "an empirical distribution needs at least one delay",
        ));
    }
    Ok(DelayDist::Empirical(list))
}

/// The uniform, normal or exponential distribution of `spec` (`None`: it is empirical).
fn parametric(ctx: &Ctx, path: &str, spec: &DistSpec) -> Result<Option<DelayDist>, ScenarioError> {
    if let Some([a, b]) = &spec.uniform {
        if b.0 < a.0 {
            return Err(ctx.err(
                &format!("{path}.uniform"),
                "uniform [min, max] needs min <= max",
            ));
        }
        return Ok(Some(DelayDist::Uniform { min: a.0, max: b.0 }));
    }
    if let Some(nm) = &spec.normal {
        let min = nm.min.map_or(Duration::ZERO, |d| d.0);
        let max = nm
            .max
            .map_or(nm.mean.0 + nm.sd.0.saturating_mul(6), |d| d.0);
        if !(min <= nm.mean.0 && nm.mean.0 <= max) {
            return Err(ctx.err(&format!("{path}.normal"), "normal needs min <= mean <= max"));
        }
        return Ok(Some(DelayDist::Normal {
            mean: nm.mean.0,
            sd: nm.sd.0,
            min,
            max,
        }));
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
        return Ok(Some(DelayDist::Exponential {
            mean: e.mean.0,
            min,
            max,
        }));
    }
    Ok(None)
}

/// The delays in file `f` (relative to the scenario file): one duration per line, `#`
/// comments and blank lines skipped. The name must be a relative path without `..`, and the
/// file must lie inside the scenario's folder (also after following symbolic links); it is read
/// with [`read_input`] (a regular file, size-capped, UTF-8).
fn empirical_file(ctx: &Ctx, path: &str, f: &str) -> Result<Vec<Duration>, ScenarioError> {
    use std::path::{Component, Path};
    let at = format!("{path}.empirical");
    let bad = |what: String| ctx.err(&at, what);
    let rel = Path::new(f);
    if f.is_empty()
        || !rel
            .components()
            .all(|c| matches!(c, Component::Normal(_) | Component::CurDir))
    {
        return Err(bad(format!(
            "delay file {f:?} must be a relative path inside the scenario's folder (no \"..\", \
             no absolute path)"
        )));
    }
    let base = match Path::new(ctx.file).parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let full = base.join(rel);
    let shown = full.display().to_string();
    let canon = |p: &Path| {
        p.canonicalize()
            .map_err(|e| bad(format!("{shown}: cannot read: {e}")))
    };
    let (base_c, full_c) = (canon(base)?, canon(&full)?);
    if !full_c.starts_with(&base_c) {
        return Err(bad(format!(
            "{shown}: the delay file resolves outside the scenario's folder"
        )));
    }
    let text = read_input(&full_c).map_err(|e| bad(format!("{shown}: {e}")))?;
    let mut v = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        v.push(parse_duration(line).map_err(|e| bad(format!("{shown}:{}: {e}", i + 1)))?);
    }
    Ok(v)
}

/// The fault rules, in order.
pub(super) fn faults(
    ctx: &Ctx,
    net: &NetworkSpec,
    hosts: &[Host],
    routes: &[Route],
) -> Result<Vec<Fault>, ScenarioError> {
    net.faults
        .iter()
        .enumerate()
        .map(|(i, f)| fault(ctx, &format!("network.faults[{i}]"), f, hosts, routes))
        .collect()
}

fn fault(
    ctx: &Ctx,
    p: &str,
    f: &FaultSpec,
    hosts: &[Host],
    routes: &[Route],
) -> Result<Fault, ScenarioError> {
    let m = &f.matcher;
    let mp = format!("{p}.match");
    let flags = |field: &str, v: &Option<String>| {
        v.as_deref()
            .map(|s| TcpFlags::parse(s).map_err(|e| ctx.err(&format!("{mp}.{field}"), e)))
            .transpose()
    };
    let action = action(ctx, p, &f.action, routes)?;
    if m.nth == Some(0) {
        return Err(ctx.err(&format!("{mp}.nth"), "nth counts from 1"));
    }
    Ok(Fault {
        from: opt_host_index(ctx, hosts, &format!("{mp}.from"), &m.from)?,
        to: opt_host_index(ctx, hosts, &format!("{mp}.to"), &m.to)?,
        route: m
            .route
            .as_deref()
            .map(|n| route_index(ctx, routes, &format!("{mp}.route"), n))
            .transpose()?,
        flags: flags("flags", &m.flags)?,
        has_payload: m.has_payload,
        after: flags("after", &m.after)?,
        nth: m.nth,
        from_time: m.from_time.map(|d| d.0),
        until_time: m.until_time.map(|d| d.0),
        probability: prob(ctx, &format!("{mp}.probability"), m.probability)?,
        action,
    })
}

/// The action of the fault rule at `p`.
fn action(ctx: &Ctx, p: &str, a: &ActionSpec, routes: &[Route]) -> Result<Action, ScenarioError> {
    Ok(match a {
        ActionSpec::Word(w) if w == "drop" => Action::Drop,
        ActionSpec::Word(w) => {
            return Err(ctx.err(&format!("{p}.action"), format!("unknown action {w:?} (use \"drop\", {{\"delay\":…}}, {{\"via\":…}} or {{\"duplicate_via\":…}})")))
        }
        ActionSpec::Object(o) => match (&o.delay, &o.via, &o.duplicate_via) {
            (Some(d), None, None) => Action::Delay(d.0),
            (None, Some(r), None) => {
                Action::Via(route_index(ctx, routes, &format!("{p}.action.via"), r)?)
            }
            (None, None, Some(r)) => Action::DuplicateVia(route_index(
                ctx,
                routes,
                &format!("{p}.action.duplicate_via"),
                r,
            )?),
            _ => {
                return Err(ctx.err(
                    &format!("{p}.action"),
                    "an action object needs exactly one of delay, via, duplicate_via",
                ))
            }
        },
    })
}

/// The index of the route named `name`, referred to at `path`.
fn route_index(
    ctx: &Ctx,
    routes: &[Route],
    path: &str,
    name: &str,
) -> Result<usize, ScenarioError> {
    routes
        .iter()
        .position(|r| r.name == name)
        .ok_or_else(|| ctx.err(path, format!("unknown route {name:?}")))
}

#[cfg(test)]
mod tests {
    use super::super::super::resolved::Action;
    use super::super::tests::{error, resolve};
    use crate::delay::DelayDist;
    use twsim_model::Duration;

    fn net(network: &str) -> String {
        format!(
            r#"{{"name": "n", "network": {network},
            "hosts": [{{"name": "a", "addr": "10.0.0.1"}}, {{"name": "b", "addr": "10.0.0.2"}}],
            "steps": [{{"host": "a", "call": "exit"}}]}}"#
        )
    }

    #[test]
    fn routes_and_faults_refer_to_hosts_and_routes_by_name() {
        let r = resolve(&net(
            r#"{"routes": [{"name": "ab", "delay": {"uniform": ["1ms", "2ms"]}, "from": "a",
                            "to": "b", "loss": 0.5},
                           {"name": "slow", "delay": "1s"}],
                "faults": [{"match": {"to": "b", "route": "ab", "flags": "FIN|ACK", "nth": 2},
                            "action": {"via": "slow"}},
                           {"match": {}, "action": "drop"}]}"#,
        ))
        .unwrap();
        assert_eq!((r.routes[0].from, r.routes[0].to), (Some(0), Some(1)));
        assert_eq!(r.routes[0].loss, 0.5);
        assert!(matches!(r.routes[0].delay, DelayDist::Uniform { .. }));
        assert!(matches!(r.routes[1].delay, DelayDist::Fixed(d) if d == Duration::from_secs(1)));
        assert_eq!((r.faults[0].to, r.faults[0].route), (Some(1), Some(0)));
        assert_eq!(r.faults[0].action, Action::Via(1));
        assert_eq!(r.faults[1].action, Action::Drop);
    }

    #[test]
    fn network_errors() {
        let e = |n: &str| error(&net(n));
        assert_eq!(
            e(r#"{"routes": [{"name": "x", "delay": "1ms"}, {"name": "x", "delay": "1ms"}]}"#),
            "network.routes[1].name: duplicate route name \"x\""
        );
        assert_eq!(
            e(r#"{"routes": [{"name": "x", "delay": {}}]}"#),
            "network.routes[0].delay: a delay distribution needs exactly one of uniform, \
             normal, exponential, empirical"
        );
        assert_eq!(
            e(
                r#"{"routes": [{"name": "x", "delay": {"normal": {"mean": "1ms", "sd": "1ms", "min": "2ms"}}}]}"#
            ),
            "network.routes[0].delay.normal: normal needs min <= mean <= max"
        );
        assert_eq!(
            e(r#"{"routes": [{"name": "x", "delay": {"empirical": []}}]}"#),
            "network.routes[0].delay.empirical: an empirical distribution needs at least one \
             delay"
        );
        assert_eq!(
            e(r#"{"routes": [{"name": "x", "delay": "1ms", "to": "c"}]}"#),
            "network.routes[0].to: unknown host \"c\""
        );
        assert_eq!(
            e(r#"{"faults": [{"match": {"nth": 0}, "action": {"via": "nope"}}]}"#),
            "network.faults[0].action.via: unknown route \"nope\"",
            "the action is checked before the match"
        );
        assert_eq!(
            e(r#"{"faults": [{"match": {"nth": 0}, "action": "drop"}]}"#),
            "network.faults[0].match.nth: nth counts from 1"
        );
        assert_eq!(
            e(r#"{"faults": [{"match": {}, "action": {"delay": "1s", "via": "default"}}]}"#),
            "network.faults[0].action: an action object needs exactly one of delay, via, \
             duplicate_via"
        );
        assert_eq!(
            e(r#"{"faults": [{"match": {"probability": 2}, "action": "drop"}]}"#),
            "network.faults[0].match.probability: probability 2 is outside [0, 1]"
        );
    }
}
