//! Hosts: unique names and addresses, profiles, TIME-WAIT overrides, ephemeral port ranges,
//! ISN policies; and the lookup of a host by name for the later steps.

use super::super::error::{Ctx, ScenarioError};
use super::super::format::{HostSpec, Scenario};
use super::super::resolved::Host;
use super::super::values::profile;
use super::isn::isn_policy;
use super::variants::{time_wait_override, Settings};
use std::net::Ipv4Addr;
use twsim_model::profile::PortRange;

/// The hosts of `sc` (at least one), in file order.
pub(super) fn hosts(
    ctx: &Ctx,
    sc: &Scenario,
    settings: &Settings,
) -> Result<Vec<Host>, ScenarioError> {
    if sc.hosts.is_empty() {
        return Err(ctx.err("hosts", "a scenario needs at least one host"));
    }
    let mut hosts: Vec<Host> = Vec::new();
    for (i, h) in sc.hosts.iter().enumerate() {
        let host = host(ctx, &format!("hosts[{i}]"), h, &hosts, sc, settings)?;
        hosts.push(host);
    }
    Ok(hosts)
}

/// Host `h`, written at `p`, after the hosts `earlier`.
fn host(
    ctx: &Ctx,
    p: &str,
    h: &HostSpec,
    earlier: &[Host],
    sc: &Scenario,
    settings: &Settings,
) -> Result<Host, ScenarioError> {
    if earlier.iter().any(|o| o.name == h.name) {
        return Err(ctx.err(
            &format!("{p}.name"),
            format!("duplicate host name {:?}", h.name),
        ));
    }
    let addr = address(ctx, p, h, earlier)?;
    let prof = match (&h.os, settings.host_os_forced) {
        (Some(n), false) => profile(ctx, &format!("{p}.os"), n)?,
        (Some(n), true) => {
            profile(ctx, &format!("{p}.os"), n)?;
            settings.default_os
        }
        (None, _) => settings.default_os,
    };
    let tw = settings.time_wait.merge(time_wait_override(
        ctx,
        &format!("{p}.time_wait"),
        &h.time_wait,
    )?);
    let ephemeral = ephemeral_ports(ctx, p, h.ephemeral_ports, sc.ephemeral_ports)?;
    // The most specific policy wins: the host's, else the variant's, else the scenario's.
    let isn = isn_policy(ctx, &format!("{p}.isn"), &h.isn)?
        .or_else(|| settings.isn.clone())
        .unwrap_or_default();
    Ok(Host {
        name: h.name.clone(),
        addr,
        profile: prof,
        time_wait: tw,
        ephemeral,
        isn,
    })
}

/// The IPv4 address of host `h`: a unicast address no earlier host has.
fn address(ctx: &Ctx, p: &str, h: &HostSpec, earlier: &[Host]) -> Result<Ipv4Addr, ScenarioError> {
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
    if let Some(other) = earlier.iter().find(|o| o.addr == addr) {
        return Err(ctx.err(
            &format!("{p}.addr"),
            format!("address {addr} is already host {:?}'s", other.name),
        ));
    }
    Ok(addr)
}

/// The host's ephemeral port range: its own, else the scenario's, else none (the profile's).
fn ephemeral_ports(
    ctx: &Ctx,
    p: &str,
    own: Option<[u16; 2]>,
    scenario: Option<[u16; 2]>,
) -> Result<Option<PortRange>, ScenarioError> {
    match own.or(scenario) {
        None => Ok(None),
        Some([first, last]) if first == 0 || first > last => {
            let at = if own.is_some() {
                format!("{p}.ephemeral_ports")
            } else {
                "ephemeral_ports".into()
            };
            Err(ctx.err(
                &at,
                format!("[{first}, {last}] is not a port range (1 <= first <= last)"),
            ))
        }
        Some([first, last]) => Ok(Some(PortRange { first, last })),
    }
}

/// The index of the host named `name`, referred to at `path`.
pub(super) fn host_index(
    ctx: &Ctx,
    hosts: &[Host],
    path: &str,
    name: &str,
) -> Result<usize, ScenarioError> {
    hosts
        .iter()
        .position(|h| h.name == name)
        .ok_or_else(|| ctx.err(path, format!("unknown host {name:?}")))
}

/// The index of the host named `name` if there is one, referred to at `path`.
pub(super) fn opt_host_index(
    ctx: &Ctx,
    hosts: &[Host],
    path: &str,
    name: &Option<String>,
) -> Result<Option<usize>, ScenarioError> {
    name.as_deref()
        .map(|n| host_index(ctx, hosts, path, n))
        .transpose()
}

#[cfg(test)]
mod tests {
    use super::super::tests::{error, resolve};
    use twsim_model::profile::PortRange;

    fn hosts_error(hosts: &str) -> String {
        error(&format!(
            r#"{{"name": "h", "hosts": {hosts}, "steps": [{{"host": "a", "call": "exit"}}]}}"#
        ))
    }

    #[test]
    fn host_errors() {
        assert_eq!(
            hosts_error("[]"),
            "hosts: a scenario needs at least one host"
        );
        assert_eq!(
            hosts_error(r#"[{"name": "a", "addr": "10.0.0"}]"#),
            "hosts[0].addr: \"10.0.0\" is not an IPv4 address"
        );
        assert_eq!(
            hosts_error(r#"[{"name": "a", "addr": "0.0.0.0"}]"#),
            "hosts[0].addr: 0.0.0.0 cannot be a host address"
        );
        assert_eq!(
            hosts_error(
                r#"[{"name": "a", "addr": "10.0.0.1"}, {"name": "b", "addr": "10.0.0.1"}]"#
            ),
            "hosts[1].addr: address 10.0.0.1 is already host \"a\"'s"
        );
        assert!(
            hosts_error(r#"[{"name": "a", "addr": "10.0.0.1", "os": "dos"}]"#)
                .starts_with("hosts[0].os: unknown profile \"dos\"")
        );
        assert_eq!(
            hosts_error(r#"[{"name": "a", "addr": "10.0.0.1", "ephemeral_ports": [9, 8]}]"#),
            "hosts[0].ephemeral_ports: [9, 8] is not a port range (1 <= first <= last)"
        );
    }

    #[test]
    fn a_host_range_replaces_the_scenario_range() {
        let r = resolve(
            r#"{"name": "h", "ephemeral_ports": [1000, 1999],
            "hosts": [{"name": "a", "addr": "10.0.0.1"},
                      {"name": "b", "addr": "10.0.0.2", "ephemeral_ports": [5, 6]}],
            "steps": [{"host": "a", "call": "exit"}]}"#,
        )
        .unwrap();
        assert_eq!(
            r.hosts[0].ephemeral,
            Some(PortRange {
                first: 1000,
                last: 1999
            })
        );
        assert_eq!(r.hosts[1].ephemeral, Some(PortRange { first: 5, last: 6 }));
        let e = error(
            r#"{"name": "h", "ephemeral_ports": [0, 5],
            "hosts": [{"name": "a", "addr": "10.0.0.1"}],
            "steps": [{"host": "a", "call": "exit"}]}"#,
        );
        assert_eq!(
            e,
            "ephemeral_ports: [0, 5] is not a port range (1 <= first <= last)"
        );
    }
}
