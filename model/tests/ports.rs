//! Ports picked by `connect()` and `bind(port 0)`: ranges, parity, sharing, exhaustion.

mod common;

use common::*;

// ------------------------------------------------------------------------------------------
// Ports picked by connect() and bind(port 0)
// ------------------------------------------------------------------------------------------

#[test]
fn automatic_connect_ports_are_in_range_and_even_first_on_linux() {
    let server = sa("10.0.0.2:80");
    for hint in [0, 1, 2, 3, 28_231, 28_232, 1 << 31, u32::MAX - 1, u32::MAX]
        .into_iter()
        .chain(hints(50))
    {
        let mut t = AddressTable::new(Profile::Linux.config(), host());
        let s = t.socket(0);
        let l = t
            .connect(s, ip("10.0.0.1"), server, hint, Instant::ZERO)
            .unwrap();
        assert_eq!(l.ip(), ip("10.0.0.1"));
        assert!((32768..=60999).contains(&l.port()), "hint {hint}: {l}");
        assert_eq!(
            l.port() % 2,
            0,
            "hint {hint}: linux connect tries even ports first"
        );
        assert_eq!(
            t.get(s).unwrap().state,
            TableState::Connected { remote: server }
        );
        assert_eq!(t.lookup_tuple(&FourTuple::new(l, server)), Some(s));

        let mut t = AddressTable::new(Profile::Rfc793.config(), host());
        let s = t.socket(0);
        let l = t
            .connect(s, ip("10.0.0.1"), server, hint, Instant::ZERO)
            .unwrap();
        assert!((49152..=65535).contains(&l.port()), "hint {hint}: {l}");
        assert_eq!(u32::from(l.port()), 49152 + hint % 16384);
    }
}

#[test]
fn connects_to_one_remote_get_distinct_ports() {
    for profile in Profile::ALL {
        let mut t = AddressTable::new(profile.config(), host());
        let range = profile.config().ephemeral;
        let server = sa("10.0.0.2:80");
        let mut seen = BTreeSet::new();
        for (i, hint) in hints(500).enumerate() {
            // Linux: the same hash for every connect to one destination, as the kernel does.
            let hint = if profile == Profile::Linux { 777 } else { hint };
            let s = t.socket(0);
            let l = t
                .connect(s, ip("10.0.0.1"), server, hint, Instant::ZERO)
                .unwrap();
            assert!(range.contains(l.port()), "{profile:?}: {l}");
            assert!(seen.insert(l.port()), "{profile:?}: connect {i} reused {l}");
        }
        assert_eq!(t.len(), 500);
    }
}

/// Linux `__inet_hash_connect` (net/ipv4/inet_hashtables.c): a destination's scan starts at
/// its keyed offset (`secure_ipv4_port_ephemeral`) plus `table_perturb`, which then advances by
/// `max(i, get_random_u32_below(8) * 2) + 2`. Successive connects to one destination take even
/// ports 2 to 16 apart, as a 6.18 kernel gave 48332, 48340, 48352, 48362, 48374, 48386 to
/// successive connects on loopback; the key places each destination elsewhere, the same key
/// in the same place.
#[test]
fn linux_successive_connects_to_one_destination_take_nearby_ports() {
    let range = 60999 - 32768 + 1;
    let ports = |secret: u64, to: &str, n: usize| {
        let mut t = AddressTable::new(Profile::Linux.config(), host());
        t.set_port_secret(secret);
        hints(n)
            .map(|h| {
                let s = t.socket(0);
                t.connect(s, ip("10.0.0.1"), sa(to), h, Instant::ZERO)
                    .unwrap()
                    .port()
            })
            .collect::<Vec<u16>>()
    };
    let a = ports(0x5eed, "10.0.0.2:80", 200);
    let gaps: Vec<i64> = a
        .windows(2)
        .map(|w| (i64::from(w[1]) - i64::from(w[0])).rem_euclid(range))
        .collect();
    assert!(
        gaps.iter().all(|g| g % 2 == 0 && (2..=16).contains(g)),
        "{gaps:?}"
    );
    // The random part of the advance shows: not every gap is the smallest.
    assert!(gaps.iter().any(|g| *g > 2), "{gaps:?}");
    assert_eq!(ports(0x5eed, "10.0.0.2:80", 1)[0], a[0]);
    let elsewhere = [
        ports(0x5eed, "10.0.0.3:80", 1)[0],
        ports(0x5eed, "10.0.0.2:81", 1)[0],
        ports(0x5eee, "10.0.0.2:80", 1)[0],
    ];
    assert!(
        elsewhere.iter().all(|p| *p != a[0]),
        "{elsewhere:?} {}",
        a[0]
    );
}

#[test]
fn connects_to_different_remotes_may_share_a_port_on_linux_only() {
    for profile in Profile::ALL {
        let mut t = AddressTable::new(profile.config(), host());
        let (a, b) = (t.socket(0), t.socket(0));
        let la = t
            .connect(a, ip("10.0.0.1"), sa("10.0.0.2:80"), 100, Instant::ZERO)
            .unwrap();
        let lb = t
            .connect(b, ip("10.0.0.1"), sa("10.0.0.3:80"), 100, Instant::ZERO)
            .unwrap();
        assert_eq!(
            la == lb,
            profile == Profile::Linux,
            "{profile:?}: {la} {lb}"
        );
        assert_eq!(
            t.lookup_tuple(&FourTuple::new(la, sa("10.0.0.2:80"))),
            Some(a)
        );
        assert_eq!(
            t.lookup_tuple(&FourTuple::new(lb, sa("10.0.0.3:80"))),
            Some(b)
        );
    }
}

#[test]
fn linux_connect_skips_explicitly_bound_ports() {
    let mut t = tiny(Profile::Linux, 40000, 40009);
    let b = t.socket(0);
    t.bind(b, sa("10.0.0.1:40000"), 0).unwrap();
    let c = t.socket(0);
    let l = t
        .connect(c, ip("127.0.0.1"), sa("10.0.0.2:80"), 0, Instant::ZERO)
        .unwrap();
    assert_eq!(l, sa("127.0.0.1:40002"));
    // A port used only by connects is shared with a connect to another destination.
    let d = t.socket(0);
    let l = t
        .connect(d, ip("127.0.0.1"), sa("10.0.0.3:80"), 2, Instant::ZERO)
        .unwrap();
    assert_eq!(l, sa("127.0.0.1:40002"));
}

#[test]
fn connect_port_exhaustion() {
    for profile in Profile::ALL {
        let mut t = tiny(profile, 40000, 40009);
        let server = sa("10.0.0.2:80");
        let src = ip("10.0.0.1");
        let mut socks = Vec::new();
        let mut ports = BTreeSet::new();
        for hint in hints(10) {
            let s = t.socket(0);
            let l = t.connect(s, src, server, hint, Instant::ZERO).unwrap();
            ports.insert(l.port());
            socks.push(s);
        }
        assert_eq!(ports, (40000..=40009).collect(), "{profile:?}");
        let s = t.socket(0);
        assert_eq!(
            t.connect(s, src, server, 3, Instant::ZERO),
            Err(Errno::EADDRNOTAVAIL),
            "{profile:?}"
        );
        assert_eq!(t.get(s).unwrap().state, TableState::Unbound);

        // Another destination: Linux shares the ports, BSD has none left.
        let other = t.connect(s, src, sa("10.0.0.3:80"), 3, Instant::ZERO);
        match profile {
            Profile::Linux => assert!(other.is_ok(), "{other:?}"),
            _ => assert_eq!(other, Err(Errno::EADDRNOTAVAIL), "{profile:?}"),
        }

        // TIME-WAIT still holds the 4-tuple; removing the connection frees it.
        let victim = socks[4];
        let tuple = connection_tuple(&t, victim).unwrap();
        t.enter_time_wait(
            victim,
            tw_record(tuple, Instant::ZERO, Duration::from_secs(60)),
        )
        .unwrap();
        let n = t.socket(0);
        let later = Instant::ZERO + Duration::from_secs(60);
        assert_eq!(
            t.connect(n, src, server, 0, Instant::ZERO),
            Err(Errno::EADDRNOTAVAIL)
        );
        assert_eq!(t.handle_timeout(later).len(), 1);
        assert_eq!(
            t.connect(n, src, server, 0, later),
            Ok(tuple.local),
            "{profile:?}"
        );
        assert_eq!(t.connect(n, src, server, 0, later), Err(Errno::EISCONN));
        let m = t.socket(0);
        assert_eq!(
            t.connect(m, src, server, 0, later),
            Err(Errno::EADDRNOTAVAIL)
        );
        let freed = connection_tuple(&t, socks[7]).unwrap();
        t.remove(socks[7]);
        assert_eq!(
            t.connect(m, src, server, 9, later),
            Ok(freed.local),
            "{profile:?}"
        );
    }
}

#[test]
fn connect_finds_the_last_free_port_whatever_the_hint() {
    for profile in Profile::ALL {
        for free in 40000..=40009u16 {
            for hint in [0, 1, 5, 9, 1 << 31, u32::MAX - 2, u32::MAX - 1, u32::MAX] {
                let mut t = tiny(profile, 40000, 40009);
                for p in (40000..=40009).filter(|p| *p != free) {
                    let s = t.socket(0);
                    t.bind(s, SocketAddr::new(ip("0.0.0.0"), p), 0).unwrap();
                }
                let mut u = t.clone();
                let b = u.socket(0);
                let got = u.bind(b, sa("127.0.0.1:0"), hint);
                assert_eq!(got.map(|a| a.port()), Ok(free), "{profile:?} hint {hint}");
                let c = t.socket(0);
                let got = t.connect(c, ip("10.0.0.1"), sa("10.0.0.2:80"), hint, Instant::ZERO);
                assert_eq!(got.map(|l| l.port()), Ok(free), "{profile:?} hint {hint}");
                let b = t.socket(0);
                let got = t.bind(b, sa("0.0.0.0:0"), hint);
                assert_eq!(got, Err(Errno::EADDRINUSE), "{profile:?} hint {hint}");
            }
        }
    }
}

#[test]
fn bind_port_zero_exhaustion() {
    for profile in Profile::ALL {
        let mut t = tiny(profile, 40000, 40009);
        let mut bound = Vec::new();
        for hint in hints(10) {
            let s = t.socket(0);
            let a = t.bind(s, sa("0.0.0.0:0"), hint).unwrap();
            assert!(a.ip().is_unspecified());
            bound.push((s, a));
        }
        let ports: BTreeSet<u16> = bound.iter().map(|(_, a)| a.port()).collect();
        assert_eq!(ports, (40000..=40009).collect(), "{profile:?}");
        let s = t.socket(0);
        assert_eq!(t.bind(s, sa("0.0.0.0:0"), 1), Err(Errno::EADDRINUSE));
        assert_eq!(t.bind(s, sa("127.0.0.1:0"), 1), Err(Errno::EADDRINUSE));
        assert_eq!(t.listen(s, 1), Err(Errno::EADDRINUSE));
        assert_eq!(t.get(s).unwrap().local, None);
        let c = t.socket(0);
        assert_eq!(
            t.connect(c, ip("10.0.0.1"), sa("10.0.0.2:80"), 0, Instant::ZERO),
            Err(Errno::EADDRNOTAVAIL)
        );
        t.remove(bound[3].0);
        assert_eq!(t.bind(s, sa("0.0.0.0:0"), 0), Ok(bound[3].1), "{profile:?}");
    }
}

#[test]
fn bind_port_zero_tries_odd_ports_first_on_linux() {
    let mut t = tiny(Profile::Linux, 40000, 40009);
    let mut ports = Vec::new();
    for _ in 0..10 {
        let s = t.socket(0);
        ports.push(t.bind(s, sa("0.0.0.0:0"), 0).unwrap().port());
    }
    assert_eq!(
        ports,
        [40001, 40003, 40005, 40007, 40009, 40000, 40002, 40004, 40006, 40008]
    );
}

// ------------------------------------------------------------------------------------------
// TIME-WAIT expiry one record at a time
// ------------------------------------------------------------------------------------------

/// `expire_next`, called until `None`, ends what `handle_timeout` ends in the same order
/// (earliest deadline first, ties by socket id, across lengths), also when the table changes
/// between calls: a record that enters already due is ended in its place, one removed is not.
#[test]
fn expire_next_ends_what_handle_timeout_ends_in_its_order() {
    let src = ip("10.0.0.1");
    let server = sa("10.0.0.2:80");
    let mut t = AddressTable::new(Profile::Linux.config(), host());
    let t0 = Instant::ZERO;
    // Deadlines tied within and across two lengths, entered out of id order.
    let mut connected = Vec::new();
    for k in 0..12u32 {
        let s = t.socket(0);
        t.connect(s, src, server, k, t0).unwrap();
        connected.push(s);
    }
    for (k, &s) in connected.iter().enumerate().rev() {
        let tuple = connection_tuple(&t, s).unwrap();
        let (entered, length) = match k % 3 {
            0 => (t0, Duration::from_secs(60)),
            1 => (t0 + Duration::from_secs(30), Duration::from_secs(30)),
            _ => (
                t0 + Duration::from_secs(3 * k as u64),
                Duration::from_secs(30),
            ),
        };
        t.enter_time_wait(s, tw_record(tuple, entered, length))
            .unwrap();
    }
    let now = t0 + Duration::from_secs(60);
    // What is due, sorted here by (deadline, id).
    let mut due: Vec<(Instant, SocketId)> = t
        .time_wait_records()
        .map(|(id, r)| (r.expires_at(), id))
        .filter(|&(at, _)| at <= now)
        .collect();
    due.sort();
    let want: Vec<SocketId> = due.into_iter().map(|(_, id)| id).collect();
    assert!(want.len() >= 8 && want.len() < 12, "{want:?}");
    let mut a = t.clone();
    let got: Vec<SocketId> = std::iter::from_fn(|| a.expire_next(now).map(|(id, _)| id)).collect();
    assert_eq!(got, want);
    assert_eq!(a.time_wait_count(), t.time_wait_count() - want.len());
    let listed: Vec<SocketId> = t
        .clone()
        .handle_timeout(now)
        .into_iter()
        .map(|(id, _, _)| id)
        .collect();
    assert_eq!(listed, want);

    // Changes between calls: after the first record ends, one still due is removed and a new
    // one enters already due, with the earliest deadline of all.
    let mut b = t.clone();
    let first = b.expire_next(now).unwrap().0;
    assert_eq!(first, want[0]);
    let gone = want[3];
    assert!(b.remove(gone).is_some());
    let s = b.socket(0);
    b.connect(s, src, server, 99, now).unwrap();
    let tuple = connection_tuple(&b, s).unwrap();
    b.enter_time_wait(s, tw_record(tuple, t0, Duration::from_secs(1)))
        .unwrap();
    let rest: Vec<SocketId> = std::iter::from_fn(|| b.expire_next(now).map(|(id, _)| id)).collect();
    let mut expect = vec![s];
    expect.extend(want[1..].iter().copied().filter(|&id| id != gone));
    assert_eq!(rest, expect);
    assert!(b.expire_next(now).is_none());
}
