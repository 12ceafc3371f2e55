use super::*;

#[test]
fn time_wait_lengths_follow_the_sources() {
    let msl = Duration::from_secs(30);
    assert_eq!(
        Profile::Linux.config().time_wait_duration(msl),
        Duration::from_secs(60)
    );
    assert_eq!(
        Profile::Rfc793.config().time_wait_duration(msl),
        Duration::from_secs(60)
    );
    assert_eq!(
        Profile::Rfc793
            .config()
            .time_wait_duration(Duration::from_secs(120)),
        Duration::from_secs(240)
    );
}

/// The rules that were once conditions on the Linux bind rules keep their values: Linux
/// has all of them, no other profile has any, and `connect()` on a listener fails as
/// before (EISCONN on Linux, EOPNOTSUPP under the BSD rules, EINVAL elsewhere).
#[test]
fn linux_only_rules_are_set_for_linux_only() {
    for p in Profile::ALL {
        let c = p.config();
        let linux = c.bind == BindRules::Linux;
        assert_eq!(linux, p == Profile::Linux);
        assert_eq!(c.bind_odd_ports_first, linux, "{p:?}");
        assert_eq!(c.connect_even_ports_first, linux, "{p:?}");
        assert_eq!(c.connect_shares_ports, linux, "{p:?}");
        assert_eq!(c.listen_rechecks_bind, linux, "{p:?}");
        assert_eq!(c.listen_after_connect, linux, "{p:?}");
        assert_eq!(c.release_unlocked_port_on_disconnect, linux, "{p:?}");
        assert_eq!(c.recycle_time_wait_on_bound_connect, linux, "{p:?}");
        assert_eq!(c.tw_reuse_loopback_after.is_some(), linux, "{p:?}");
        assert_eq!(c.accept_queue_one_more, linux, "{p:?}");
        let on_listener = match c.bind {
            BindRules::Linux => Errno::EISCONN,
            BindRules::Bsd => Errno::EOPNOTSUPP,
            _ => Errno::EINVAL,
        };
        assert_eq!(c.connect_on_listener, on_listener, "{p:?}");
    }
    let linux = Profile::Linux.config();
    assert_eq!(linux.accept_queue_limit(0), 1);
    assert_eq!(linux.accept_queue_limit(5), 6);
    let bsd = Profile::FreeBsd.config();
    assert_eq!(bsd.accept_queue_limit(0), 1);
    assert_eq!(bsd.accept_queue_limit(5), 5);
}

#[test]
fn names_round_trip() {
    for p in Profile::ALL {
        assert_eq!(Profile::from_name(p.name()), Some(p));
    }
    assert_eq!(Profile::from_name("plan9"), None);
    assert_eq!(Profile::Linux.config().ephemeral.len(), 28_232);
}
