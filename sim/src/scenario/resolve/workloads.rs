//! Workloads: the hosts and address they use, when and how often connections open, what each
//! connection exchanges and who closes it first.

use super::super::error::{Ctx, ScenarioError};
use super::super::format::{FromPortSpec, RateSpec, WorkloadSpec};
use super::super::resolved::{Arrivals, Host, Rate, Workload, WorkloadEnd};
use super::super::values::socket_addr;
use super::hosts::host_index;
use super::time::MAX_VIRTUAL_TIME;
use super::variants::is_safe_name;
use std::collections::BTreeSet;
use std::net::SocketAddr;
use twsim_model::Duration;

/// Largest `connections` accepted (each connection is simulated; the bound keeps counters and
/// arrival arithmetic far from overflow).
pub const MAX_CONNECTIONS: u64 = 1 << 40;

/// The workloads, in file order.
pub(super) fn workloads(
    ctx: &Ctx,
    specs: &[WorkloadSpec],
    hosts: &[Host],
    linger: Duration,
) -> Result<Vec<Workload>, ScenarioError> {
    let mut names = BTreeSet::new();
    specs
        .iter()
        .enumerate()
        .map(|(i, w)| {
            let p = format!("workloads[{i}]");
            if !is_safe_name(&w.name) {
                return Err(ctx.err(
                    &format!("{p}.name"),
                    format!(
                        "workload name {:?} must be 1 to 64 of A-Z a-z 0-9 . _ + -",
                        w.name
                    ),
                ));
            }
            if !names.insert(w.name.clone()) {
                return Err(ctx.err(
                    &format!("{p}.name"),
                    format!("duplicate workload name {:?}", w.name),
                ));
            }
            workload(ctx, &p, w, hosts, linger)
        })
        .collect()
}

fn workload(
    ctx: &Ctx,
    p: &str,
    w: &WorkloadSpec,
    hosts: &[Host],
    linger: Duration,
) -> Result<Workload, ScenarioError> {
    let client = host_index(ctx, hosts, &format!("{p}.client"), &w.client)?;
    let server = host_index(ctx, hosts, &format!("{p}.server"), &w.server)?;
    let to = match socket_addr(ctx, &format!("{p}.to"), &w.to)? {
        SocketAddr::V4(a) if *a.ip() == hosts[server].addr && a.port() != 0 => a,
        SocketAddr::V4(a) if a.port() == 0 => {
            return Err(ctx.err(
                &format!("{p}.to"),
                format!("{a}: the server's port must not be 0"),
            ))
        }
        a => {
            return Err(ctx.err(
                &format!("{p}.to"),
                format!(
                    "{a} is not an address of server host {:?} ({})",
                    w.server, hosts[server].addr
                ),
            ))
        }
    };
    let end = match (w.connections, w.duration) {
        (Some(0), None) => {
            return Err(ctx.err(
                &format!("{p}.connections"),
                "connections must be at least 1",
            ))
        }
        (Some(n), None) if n > MAX_CONNECTIONS => {
            return Err(ctx.err(
                &format!("{p}.connections"),
                format!("{n} connections: at most {MAX_CONNECTIONS}"),
            ))
        }
        (Some(n), None) => WorkloadEnd::Count(n),
        (None, Some(d)) if d.0 == Duration::ZERO => {
            return Err(ctx.err(&format!("{p}.duration"), "duration must be positive"))
        }
        (None, Some(d)) => WorkloadEnd::Duration(d.0),
        (Some(_), Some(_)) => {
            return Err(ctx.err(
                &format!("{p}.duration"),
                "give either \"connections\" or \"duration\", not both",
            ))
        }
        (None, None) => {
            return Err(ctx.err(
                p,
                "a workload needs \"connections\" (a count) or \"duration\"",
            ))
        }
    };
    let arrivals = match &w.rate {
        RateSpec::Periodic(s) => Arrivals::Periodic(rate(ctx, &format!("{p}.rate"), s)?),
        RateSpec::Poisson(o) => {
            Arrivals::Poisson(rate(ctx, &format!("{p}.rate.poisson"), &o.poisson)?)
        }
    };
    let from_port = match &w.from_port {
        None => None,
        Some(FromPortSpec::Word(s)) if s == "auto" => None,
        Some(FromPortSpec::Word(s)) => {
            return Err(ctx.err(
                &format!("{p}.from_port"),
                format!("unknown from_port {s:?} (\"auto\" or a port number 1 to 65535)"),
            ))
        }
        Some(FromPortSpec::Port(n)) => match u16::try_from(*n) {
            Ok(n) if n > 0 => Some(n),
            _ => {
                return Err(ctx.err(
                    &format!("{p}.from_port"),
                    format!("port {n} is not 1 to 65535"),
                ))
            }
        },
    };
    let client_closes = match w.closes_first.as_deref() {
        None | Some("client") => true,
        Some("server") => false,
        Some(o) => {
            return Err(ctx.err(
                &format!("{p}.closes_first"),
                format!("unknown closes_first {o:?} (client, server)"),
            ))
        }
    };
    if let Some(d) = w.connect_timeout {
        if d.0 == Duration::ZERO {
            return Err(ctx.err(
                &format!("{p}.connect_timeout"),
                "connect_timeout must be positive",
            ));
        }
    }
    let start = w.start.map_or(Duration::ZERO, |d| d.0);
    // Arrivals must end well inside the bound on virtual time (Poisson: by their mean).
    let span = match end {
        WorkloadEnd::Duration(d) => d.micros() as u128,
        WorkloadEnd::Count(n) => arrivals.rate().periodic_offset_us(n),
    };
    let room = MAX_VIRTUAL_TIME.micros() / 2 - linger.micros().min(MAX_VIRTUAL_TIME.micros() / 2);
    if start.micros() as u128 + span > room as u128 {
        return Err(ctx.err(
            p,
            "the workload's arrivals would run past half the 100-year bound on virtual time",
        ));
    }
    Ok(Workload {
        name: w.name.clone(),
        client,
        server,
        to,
        end,
        arrivals,
        start,
        from_port,
        request: w.request.unwrap_or(0),
        response: w.response.unwrap_or(0),
        client_closes,
        think: w.think.map_or(Duration::ZERO, |d| d.0),
        connect_timeout: w.connect_timeout.map(|d| d.0),
        backlog: w.backlog.unwrap_or(128),
    })
}

/// A rate `"N/s"`, `"N/ms"` or `"N/min"`, N a positive decimal with at most 6 decimals.
fn rate(ctx: &Ctx, path: &str, s: &str) -> Result<Rate, ScenarioError> {
    let bad = || {
        ctx.err(
            path,
            format!("{s:?} is not a rate (N/s, N/ms or N/min with N > 0, e.g. \"470/s\")"),
        )
    };
    let (n, unit) = s.trim().split_once('/').ok_or_else(bad)?;
    let unit_us: u64 = match unit.trim() {
        "s" => 1_000_000,
        "ms" => 1_000,
        "min" => 60_000_000,
        _ => return Err(bad()),
    };
    let n = n.trim();
    let (int, frac) = n.split_once('.').unwrap_or((n, ""));
    let digits_ok = |d: &str| d.bytes().all(|b| b.is_ascii_digit());
    if int.is_empty() || !digits_ok(int) || !digits_ok(frac) || frac.len() > 6 || int.len() > 9 {
        return Err(bad());
    }
    let scale = 10u64.pow(frac.len() as u32);
    let per = int.parse::<u64>().map_err(|_| bad())? * scale
        + if frac.is_empty() {
            0
        } else {
            frac.parse::<u64>().map_err(|_| bad())?
        };
    if per == 0 {
        return Err(bad());
    }
    Ok(Rate {
        per,
        per_us: unit_us * scale,
    })
}

#[cfg(test)]
mod tests {
    use super::super::tests::{error, resolve};
    use super::*;

    fn sc(workload: &str) -> String {
        format!(
            r#"{{"name": "w", "hosts": [{{"name": "s", "addr": "10.0.0.2"}},
                {{"name": "c", "addr": "10.0.0.1"}}],
            "workloads": [{workload}]}}"#
        )
    }

    #[test]
    fn workloads_resolve_with_defaults() {
        let r = resolve(&sc(
            r#"{"name": "web", "client": "c", "server": "s", "to": "10.0.0.2:80",
                "connections": 10, "rate": "2.5/s"}"#,
        ))
        .unwrap();
        let w = &r.workloads[0];
        assert_eq!((w.client, w.server), (1, 0));
        assert_eq!(w.end, WorkloadEnd::Count(10));
        assert_eq!(
            w.arrivals,
            Arrivals::Periodic(Rate {
                per: 25,
                per_us: 10_000_000
            })
        );
        assert_eq!(w.arrivals.rate().periodic_offset_us(3), 1_200_000);
        assert_eq!((w.from_port, w.client_closes, w.backlog), (None, true, 128));
        assert!(r.steps.is_empty());
        let r = resolve(&sc(
            r#"{"name": "web", "client": "c", "server": "s", "to": "10.0.0.2:80",
                "duration": "1min", "rate": {"poisson": "470/s"}, "from_port": 5000,
                "closes_first": "server", "think": "10ms", "start": "2s"}"#,
        ))
        .unwrap();
        let w = &r.workloads[0];
        assert_eq!(w.end, WorkloadEnd::Duration(Duration::from_secs(60)));
        assert_eq!(w.arrivals.rate().per_second(), 470.0);
        assert!(matches!(w.arrivals, Arrivals::Poisson(_)));
        assert_eq!((w.from_port, w.client_closes), (Some(5000), false));
        assert_eq!(w.start, Duration::from_secs(2));
    }

    #[test]
    fn workload_errors_name_the_field() {
        let e = |w: &str| error(&sc(w));
        let base = r#""name": "web", "client": "c", "server": "s", "to": "10.0.0.2:80""#;
        assert_eq!(
            e(&format!(r#"{{{base}, "connections": 1, "rate": "fast"}}"#)),
            "workloads[0].rate: \"fast\" is not a rate (N/s, N/ms or N/min with N > 0, e.g. \"470/s\")"
        );
        assert_eq!(
            e(&format!(r#"{{{base}, "connections": 1, "rate": {{"poisson": "0/s"}}}}"#)),
            "workloads[0].rate.poisson: \"0/s\" is not a rate (N/s, N/ms or N/min with N > 0, e.g. \"470/s\")"
        );
        assert_eq!(
            e(&format!(r#"{{{base}, "rate": "1/s"}}"#)),
            "workloads[0]: a workload needs \"connections\" (a count) or \"duration\""
        );
        assert_eq!(
            e(&format!(
                r#"{{{base}, "connections": 1, "duration": "1s", "rate": "1/s"}}"#
            )),
            "workloads[0].duration: give either \"connections\" or \"duration\", not both"
        );
        assert_eq!(
            e(
                r#"{"name": "web", "client": "c", "server": "s", "to": "10.0.0.1:80",
                 "connections": 1, "rate": "1/s"}"#
            ),
            "workloads[0].to: 10.0.0.1:80 is not an address of server host \"s\" (10.0.0.2)"
        );
        assert_eq!(
            e(&format!(
                r#"{{{base}, "connections": 1, "rate": "1/s", "from_port": 70000}}"#
            )),
            "workloads[0].from_port: port 70000 is not 1 to 65535"
        );
        assert_eq!(
            e(&format!(
                r#"{{{base}, "connections": 1, "rate": "1/s", "closes_first": "both"}}"#
            )),
            "workloads[0].closes_first: unknown closes_first \"both\" (client, server)"
        );
        assert_eq!(
            e(&format!(
                r#"{{{base}, "connections": 1, "rate": "1/s"}}, {{{base}, "connections": 1, "rate": "1/s"}}"#
            )),
            "workloads[1].name: duplicate workload name \"web\""
        );
        assert_eq!(
            e(&format!(r#"{{{base}, "connections": 1099511627776, "rate": "1/min"}}"#)),
            "workloads[0]: the workload's arrivals would run past half the 100-year bound on virtual time"
        );
    }
}
