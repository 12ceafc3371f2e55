//! Model replay: IPv6 loopback per host or shared, dual-stack listeners, family rules.

use super::*;
use crate::scenario::{parse, Overrides};

/// A two-host scenario (server 10.0.0.2, client 10.0.0.1) with `steps`, one JSON object each.
fn scenario(steps: &[String]) -> Resolved {
    let doc = format!(
        r#"{{"name": "replay-test",
            "hosts": [{{"name": "server", "addr": "10.0.0.2"}}, {{"name": "client", "addr": "10.0.0.1"}}],
            "steps": [{}]}}"#,
        steps.join(",")
    );
    parse("<test>", &doc)
        .expect("parses")
        .resolve("<test>", &doc, None, &Overrides::default())
        .expect("resolves")
}

fn results(out: &[ReplayStep]) -> Vec<Option<Errno>> {
    out.iter().map(|s| s.result.err()).collect()
}

/// `::1` is every host's own loopback: with a table per host two hosts bind it and a
/// connect to it stays on the connecting host; with one table (one kernel) the second
/// bind conflicts and the connect reaches the other host's listener.
#[test]
fn loopback6_is_each_hosts_own_unless_one_kernel_plays_them_all() {
    let sc = scenario(&[
        r#"{ "host": "server", "call": "socket", "sock": "L", "family": "inet6" }"#.to_string(),
        r#"{ "host": "server", "call": "bind", "sock": "L", "addr": "[::1]:80" }"#.to_string(),
        r#"{ "host": "server", "call": "listen", "sock": "L" }"#.to_string(),
        r#"{ "host": "client", "call": "socket", "sock": "B", "family": "inet6" }"#.to_string(),
        r#"{ "host": "client", "call": "bind", "sock": "B", "addr": "[::1]:80" }"#.to_string(),
        r#"{ "host": "client", "call": "socket", "sock": "C", "family": "inet6" }"#.to_string(),
        r#"{ "host": "client", "call": "connect", "sock": "C", "addr": "[::1]:80" }"#.to_string(),
    ]);
    let own = replay_model(&sc);
    assert_eq!(results(&own)[4], None);
    assert_eq!(results(&own)[6], Some(Errno::ECONNREFUSED));
    let shared = replay_model_with(&sc, true);
    assert_eq!(results(&shared)[4], Some(Errno::EADDRINUSE));
    assert_eq!(results(&shared)[6], None);
    assert!(
        shared[6].detail.starts_with("connected [::1]:"),
        "{}",
        shared[6].detail
    );
}

/// A dual-stack listener takes IPv4 and v4-mapped clients; the 4-tuple is the IPv4 one
/// whichever family spelled it. A listen on an unbound IPv6 socket binds `[::]`.
#[test]
fn dual_stack_listener_and_v4_mapped_clients() {
    let sc = scenario(&[
        r#"{ "host": "server", "call": "socket", "sock": "L", "family": "inet6" }"#.to_string(),
        r#"{ "host": "server", "call": "listen", "sock": "L" }"#.to_string(),
        r#"{ "host": "client", "call": "socket", "sock": "C", "family": "inet6" }"#.to_string(),
        r#"{ "host": "client", "call": "bind", "sock": "C", "addr": "[::ffff:10.0.0.1]:5000" }"#
            .to_string(),
        r#"{ "host": "server", "call": "socket", "sock": "M", "family": "inet6" }"#.to_string(),
        r#"{ "host": "server", "call": "bind", "sock": "M", "addr": "[::ffff:10.0.0.1]:5000" }"#
            .to_string(),
    ]);
    let out = replay_model(&sc);
    assert!(
        out[1].detail.starts_with("listening on [::]:"),
        "{}",
        out[1].detail
    );
    assert_eq!(results(&out)[3], None);
    // Another host's v4-mapped address is not the server's.
    assert_eq!(results(&out)[5], Some(Errno::EADDRNOTAVAIL));

    let port: u16 = out[1].detail.rsplit(':').next().unwrap().parse().unwrap();
    let sc = scenario(&[
        r#"{ "host": "server", "call": "socket", "sock": "L", "family": "inet6" }"#.to_string(),
        format!(r#"{{ "host": "server", "call": "bind", "sock": "L", "addr": "[::]:{port}"}}"#),
        r#"{ "host": "server", "call": "listen", "sock": "L" }"#.to_string(),
        r#"{ "host": "client", "call": "socket", "sock": "C", "family": "inet6" }"#.to_string(),
        r#"{ "host": "client", "call": "setsockopt", "sock": "C", "opt": "SO_REUSEADDR", "value": 1 }"#.to_string(),
        r#"{ "host": "client", "call": "bind", "sock": "C", "addr": "[::ffff:10.0.0.1]:5000" }"#.to_string(),
        format!(r#"{{ "host": "client", "call": "connect", "sock": "C", "addr": "[::ffff:10.0.0.2]:{port}"}}"#),
        r#"{ "host": "server", "call": "accept", "sock": "L", "as": "A" }"#.to_string(),
        r#"{ "host": "client", "call": "socket", "sock": "D" }"#.to_string(),
        r#"{ "host": "client", "call": "setsockopt", "sock": "D", "opt": "SO_REUSEADDR", "value": 1 }"#.to_string(),
        r#"{ "host": "client", "call": "bind", "sock": "D", "addr": "10.0.0.1:5000" }"#.to_string(),
        format!(r#"{{ "host": "client", "call": "connect", "sock": "D", "addr": "10.0.0.2:{port}"}}"#),
    ]);
    let out = replay_model(&sc);
    assert_eq!(
        out[6].detail,
        format!("connected 10.0.0.1:5000<->10.0.0.2:{port}")
    );
    assert_eq!(
        out[7].detail,
        format!("accepted 10.0.0.2:{port}<->10.0.0.1:5000")
    );
    // SO_REUSEADDR on both lets an IPv4 socket bind the address, but the same 4-tuple
    // spelled in IPv4 is taken.
    assert_eq!(results(&out)[10], None);
    assert_eq!(results(&out)[11], Some(Errno::EADDRNOTAVAIL));
}

#[test]
fn family_rules_for_bind_and_connect() {
    let v4 = "10.0.0.2:80".parse().unwrap();
    let v6 = "[::1]:80".parse().unwrap();
    let mapped: SocketAddr = "[::ffff:10.0.0.2]:80".parse().unwrap();
    assert_eq!(family_mismatch(Family::Inet, v6), Some(Errno::EAFNOSUPPORT));
    assert_eq!(family_mismatch(Family::Inet6, v4), Some(Errno::EINVAL));
    assert_eq!(family_mismatch(Family::Inet6, mapped), None);
    assert_eq!(
        inet6_connect_refusal(true, None, mapped),
        Some(Errno::ENETUNREACH)
    );
    assert_eq!(
        inet6_connect_refusal(false, Some(v6), mapped),
        Some(Errno::ENETUNREACH)
    );
    assert_eq!(
        inet6_connect_refusal(false, Some(mapped), v6),
        Some(Errno::EAFNOSUPPORT)
    );
    assert_eq!(
        inet6_connect_refusal(false, Some("[::]:0".parse().unwrap()), mapped),
        None
    );
    assert!(host_owns(Ipv4Addr::new(10, 0, 0, 2), mapped.ip()));
    assert!(!host_owns(Ipv4Addr::new(10, 0, 0, 1), mapped.ip()));
    assert!(host_owns(Ipv4Addr::new(10, 0, 0, 1), v6.ip()));
}
