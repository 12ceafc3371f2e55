//! Which listener takes a connection request: exact, first created, random (Windows),
//! SO_REUSEPORT hash (Linux).

mod common;

use common::*;

// ------------------------------------------------------------------------------------------
// Listener choice on the other profiles
// ------------------------------------------------------------------------------------------

#[test]
fn exact_choice_prefers_the_specific_address_then_the_oldest() {
    for profile in [
        "freebsd",
        "macos",
        "rfc793",
        "solaris",
        "hpux",
        "stratus-stcp",
    ] {
        check(
            &format!(
                "
                profile {profile}
                w = socket ra
                bind w 0.0.0.0:8080
                listen w
                s = socket ra
                bind s 10.0.0.1:8080
                listen s
                choose 10.0.0.1:8080 10.0.0.2:1 rand=7
                choose 127.0.0.1:8080 10.0.0.2:1 rand=7
                close s
                choose 10.0.0.1:8080 10.0.0.2:1
                "
            ),
            "
            bind w 0.0.0.0:8080 -> ok
            listen w -> ok
            bind s 10.0.0.1:8080 -> ok
            listen s -> ok
            choose 10.0.0.1:8080 10.0.0.2:1 rand=7 -> s
            choose 127.0.0.1:8080 10.0.0.2:1 rand=7 -> w
            choose 10.0.0.1:8080 10.0.0.2:1 -> w
            ",
        );
    }
    // BSD SO_REUSEPORT duplicates: the oldest takes every connection.
    check(
        "
        profile freebsd
        a = socket rp
        b = socket rp
        bind a 10.0.0.1:8080
        bind b 10.0.0.1:8080
        listen b
        listen a
        choose 10.0.0.1:8080 10.0.0.2:1
        choose 10.0.0.1:8080 10.0.0.2:2
        ",
        "
        bind a 10.0.0.1:8080 -> ok
        bind b 10.0.0.1:8080 -> ok
        listen b -> ok
        listen a -> ok
        choose 10.0.0.1:8080 10.0.0.2:1 -> a
        choose 10.0.0.1:8080 10.0.0.2:2 -> a
        ",
    );
}

#[test]
fn smoltcp_first_created_listener_wins_whatever_its_address() {
    check(
        "
        profile smoltcp
        w = socket
        bind w 0.0.0.0:8080
        s = socket
        bind s 10.0.0.1:8080
        t = socket
        bind t 10.0.0.1:8080
        listen t
        listen s
        listen w
        choose 10.0.0.1:8080 10.0.0.2:1
        close w
        choose 10.0.0.1:8080 10.0.0.2:1
        choose 127.0.0.1:8080 10.0.0.2:1
        choose 127.0.0.1:9999 10.0.0.2:1
        ",
        "
        bind w 0.0.0.0:8080 -> ok
        bind s 10.0.0.1:8080 -> ok
        bind t 10.0.0.1:8080 -> ok
        listen t -> ok
        listen s -> ok
        listen w -> ok
        choose 10.0.0.1:8080 10.0.0.2:1 -> w
        choose 10.0.0.1:8080 10.0.0.2:1 -> s
        choose 127.0.0.1:8080 10.0.0.2:1 -> none
        choose 127.0.0.1:9999 10.0.0.2:1 -> none
        ",
    );
}

#[test]
fn linux_reuseport_group_is_chosen_by_a_hash_of_the_4_tuple() {
    let mut t = AddressTable::new(Profile::Linux.config(), host());
    let rp = SockOptions {
        reuseport: true,
        ..SockOptions::default()
    };
    let group: Vec<SocketId> = (0..4)
        .map(|_| {
            let s = t.socket(1000);
            t.set_options(s, rp).unwrap();
            t.bind(s, sa("0.0.0.0:8080"), 0).unwrap();
            t.listen(s, 0).unwrap();
            s
        })
        .collect();
    let local = sa("10.0.0.1:8080");
    let mut hits: BTreeMap<SocketId, u32> = BTreeMap::new();
    for port in 40000..40400u16 {
        let remote = SocketAddr::new(ip("10.0.0.2"), port);
        let v = t.choose_listener(local, remote, 0);
        // rand is not used: the same 4-tuple always goes to the same listener.
        assert_eq!(v, t.choose_listener(local, remote, 12345));
        let ListenerVerdict::Listener(id) = v else {
            panic!("{v:?}");
        };
        let h = twsim_model::table::tuple_hash(local, remote);
        assert_eq!(
            id,
            group[((u64::from(h) * 4) >> 32) as usize],
            "reciprocal_scale"
        );
        *hits.entry(id).or_default() += 1;
    }
    assert_eq!(hits.len(), 4, "every member gets connections: {hits:?}");
    assert!(hits.values().all(|n| (50..=150).contains(n)), "{hits:?}");
    // A listener on the exact address beats the wildcard group. Linux lets it bind beside the
    // group only with SO_REUSEPORT and the same uid; it forms a group of its own.
    let s = t.socket(1000);
    t.set_options(s, rp).unwrap();
    t.bind(s, local, 0).unwrap();
    t.listen(s, 0).unwrap();
    for port in 40000..40050u16 {
        let remote = SocketAddr::new(ip("10.0.0.2"), port);
        assert_eq!(
            t.choose_listener(local, remote, 0),
            ListenerVerdict::Listener(s)
        );
    }
    // Without SO_REUSEPORT on the best listener: the best listener, as Exact.
    let mut t = AddressTable::new(Profile::Linux.config(), host());
    let a = t.socket(0);
    t.listen(a, 0).unwrap();
    let port = t.get(a).unwrap().local.unwrap().port();
    let local = SocketAddr::new(ip("10.0.0.1"), port);
    assert_eq!(
        t.choose_listener(local, sa("10.0.0.2:1"), 9),
        ListenerVerdict::Listener(a)
    );
    assert_eq!(
        t.choose_listener(
            SocketAddr::new(ip("10.0.0.1"), port + 1),
            sa("10.0.0.2:1"),
            9
        ),
        ListenerVerdict::None
    );
}

#[test]
fn tuple_hash_depends_on_every_field() {
    let base = twsim_model::table::tuple_hash(sa("10.0.0.1:80"), sa("10.0.0.2:40000"));
    for (l, r) in [
        ("10.0.0.3:80", "10.0.0.2:40000"),
        ("10.0.0.1:81", "10.0.0.2:40000"),
        ("10.0.0.1:80", "10.0.0.4:40000"),
        ("10.0.0.1:80", "10.0.0.2:40001"),
        ("10.0.0.2:40000", "10.0.0.1:80"),
    ] {
        assert_ne!(
            twsim_model::table::tuple_hash(sa(l), sa(r)),
            base,
            "{l} {r}"
        );
    }
}
