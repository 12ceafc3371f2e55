//! bind/listen errors (M2, M3), non-local addresses, IPv6 and v4-mapped overlap, and the
//! listener lookup order.

mod common;

use common::*;

#[test]
fn m2_bind_twice_and_other_state_errors() {
    for profile in ["linux", "rfc793"] {
        check(
            &format!(
                "
                profile {profile}
                a = socket
                bind a 127.0.0.1:8080
                bind a 127.0.0.1:8081
                listen a
                listen a
                connect a 127.0.0.1:80
                b = socket
                connect b 127.0.0.1:80 hint=7
                listen b
                bind b 127.0.0.1:9000
                connect b 127.0.0.1:81
                "
            ),
            &format!(
                "
                bind a 127.0.0.1:8080 -> ok
                bind a 127.0.0.1:8081 -> EINVAL
                listen a -> ok
                listen a -> ok
                connect a 127.0.0.1:80 -> {}
                connect b 127.0.0.1:80 hint=7 -> 127.0.0.1:{}
                listen b -> EINVAL
                bind b 127.0.0.1:9000 -> EINVAL
                connect b 127.0.0.1:81 -> EISCONN
                ",
                // connect() on a listener: Linux inet_stream_connect (not in CLOSE: EISCONN,
                // observed on a 6.18 kernel); FreeBSD soconnect (SO_ACCEPTCONN: EOPNOTSUPP).
                if profile == "linux" {
                    "EISCONN"
                } else {
                    "EOPNOTSUPP"
                },
                // Linux starts at the destination's offset (0 in a table without a port
                // secret) whatever the call's draw; BSD in_pcb_lport starts at the draw.
                if profile == "linux" { 32768 } else { 49159 }
            ),
        );
    }
}

#[test]
fn m3_listen_without_bind_picks_an_ephemeral_port() {
    check(
        "
        l = socket
        listen l
        m = socket
        listen m hint=1
        state m
        ",
        "
        listen l -> 0.0.0.0:32769
        listen m hint=1 -> 0.0.0.0:32771
        state m -> LISTEN 0.0.0.0:32771
        ",
    );
    check(
        "
        profile rfc793
        l = socket
        listen l
        ",
        "
        listen l -> 0.0.0.0:49152
        ",
    );
    for hint in [0, 1, 2, 28_231, 28_232, 1 << 31, u32::MAX - 1, u32::MAX] {
        let mut t = AddressTable::new(Profile::Linux.config(), vec![ip("127.0.0.1")]);
        let s = t.socket(0);
        let a = t.listen(s, hint).unwrap();
        assert!((32768..=60999).contains(&a.port()), "hint {hint}: {a}");
        assert_eq!(a.port() % 2, 1, "linux bind(port 0) tries odd ports first");
        assert!(a.ip().is_unspecified());
        assert_eq!(
            t.listeners_for(SocketAddr::new(ip("127.0.0.1"), a.port())),
            vec![s]
        );
    }
}

#[test]
fn non_local_address_is_not_available() {
    for profile in ["linux", "rfc793"] {
        check(
            &format!(
                "
                profile {profile}
                a = socket ra
                bind a 10.9.9.9:8080
                checkbind 10.9.9.9:8080
                bind a [::1]:8080
                state a
                bind a 10.0.0.1:8080
                "
            ),
            "
            bind a 10.9.9.9:8080 -> EADDRNOTAVAIL
            checkbind 10.9.9.9:8080 -> EADDRNOTAVAIL
            bind a [::1]:8080 -> EADDRNOTAVAIL
            state a -> UNBOUND ra
            bind a 10.0.0.1:8080 -> ok
            ",
        );
    }
}

#[test]
fn ipv6_wildcard_overlaps_ipv4_unless_v6only() {
    check(
        "
        host 127.0.0.1 ::1
        a = socket
        bind a 0.0.0.0:8080
        b = socket
        bind b [::]:8080
        c = socket v6only
        bind c [::]:8080
        d = socket
        bind d [::1]:8080
        ",
        "
        bind a 0.0.0.0:8080 -> ok
        bind b [::]:8080 -> EADDRINUSE
        bind c [::]:8080 -> ok
        bind d [::1]:8080 -> EADDRINUSE
        ",
    );
}

/// Observed on Linux 6.18 (tests/matrix/*-ipv6-*): a v4-mapped address is its IPv4 address
/// (also for 4-tuples), a v6-only socket cannot bind one, and an IPv4 destination prefers an
/// IPv4 listener to an IPv6 one on the same address (`compute_score`), exact addresses first.
#[test]
fn ipv6_mapped_addresses_and_listener_families() {
    check(
        "
        host 127.0.0.1 ::1
        m = socket v6only
        bind m [::ffff:127.0.0.1]:8080
        w6 = socket rp
        bind w6 [::]:8080
        listen w6
        w4 = socket rp
        bind w4 0.0.0.0:8080
        listen w4
        listeners 127.0.0.1:8080
        listeners [::ffff:127.0.0.1]:8080
        listeners [::1]:8080
        x6 = socket rp
        bind x6 [::ffff:127.0.0.1]:8080
        listen x6
        x4 = socket rp
        bind x4 127.0.0.1:8080
        listen x4
        listeners 127.0.0.1:8080
        c = socket
        connect c [::ffff:127.0.0.1]:80 src=::ffff:127.0.0.1 hint=0
        lookup 127.0.0.1:32768 127.0.0.1:80
        ",
        "
        bind m [::ffff:127.0.0.1]:8080 -> EINVAL
        bind w6 [::]:8080 -> ok
        listen w6 -> ok
        bind w4 0.0.0.0:8080 -> ok
        listen w4 -> ok
        listeners 127.0.0.1:8080 -> w4 w6
        listeners [::ffff:127.0.0.1]:8080 -> w4 w6
        listeners [::1]:8080 -> w6
        bind x6 [::ffff:127.0.0.1]:8080 -> ok
        listen x6 -> ok
        bind x4 127.0.0.1:8080 -> ok
        listen x4 -> ok
        listeners 127.0.0.1:8080 -> x4 x6 w4 w6
        connect c [::ffff:127.0.0.1]:80 src=::ffff:127.0.0.1 hint=0 -> 127.0.0.1:32768
        lookup 127.0.0.1:32768 127.0.0.1:80 -> c
        ",
    );
}

#[test]
fn listeners_for_prefers_the_exact_address() {
    // Linux: only SO_REUSEPORT lets a wildcard and a specific listener coexist.
    check(
        "
        w = socket rp
        bind w 0.0.0.0:8080
        listen w
        s = socket rp
        bind s 127.0.0.1:8080
        listen s
        listeners 127.0.0.1:8080
        listeners 10.0.0.1:8080
        listeners 127.0.0.1:8081
        close s
        listeners 127.0.0.1:8080
        ",
        "
        bind w 0.0.0.0:8080 -> ok
        listen w -> ok
        bind s 127.0.0.1:8080 -> ok
        listen s -> ok
        listeners 127.0.0.1:8080 -> s w
        listeners 10.0.0.1:8080 -> w
        listeners 127.0.0.1:8081 -> none
        listeners 127.0.0.1:8080 -> w
        ",
    );
    // BSD: a wildcard and a specific listener may coexist with SO_REUSEADDR.
    check(
        "
        profile rfc793
        w = socket
        bind w 0.0.0.0:8080
        listen w
        s = socket ra
        bind s 127.0.0.1:8080
        listen s
        listeners 127.0.0.1:8080
        listeners 10.0.0.1:8080
        ",
        "
        bind w 0.0.0.0:8080 -> ok
        listen w -> ok
        bind s 127.0.0.1:8080 -> ok
        listen s -> ok
        listeners 127.0.0.1:8080 -> s w
        listeners 10.0.0.1:8080 -> w
        ",
    );
}
