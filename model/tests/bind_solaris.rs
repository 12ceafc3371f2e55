//! The Solaris / illumos bind rule (`tcp_bindi`).

mod common;

use common::*;

// ------------------------------------------------------------------------------------------
// Solaris (tcp_bindi)
// ------------------------------------------------------------------------------------------

#[test]
fn solaris_without_reuseaddr_any_overlap_conflicts_time_wait_included() {
    check(
        "
        profile solaris
        l = socket ra
        bind l 0.0.0.0:8080
        listen l
        c = accept l 10.0.0.1:8080 10.0.0.2:50000
        d = accept l 10.0.0.1:8080 10.0.0.2:50001
        tw d
        checkbind 10.0.0.1:8080
        close l
        checkbind 10.0.0.1:8080          # the ESTABLISHED child
        checkbind 127.0.0.1:8080         # no overlap with 10.0.0.1
        close c
        checkbind 10.0.0.1:8080          # TIME-WAIT alone
        checkbind 0.0.0.0:8080
        time 60s
        checkbind 10.0.0.1:8080
        ",
        "
        bind l 0.0.0.0:8080 -> ok
        listen l -> ok
        c = accept l 10.0.0.1:8080 10.0.0.2:50000 -> ok
        d = accept l 10.0.0.1:8080 10.0.0.2:50001 -> ok
        tw d -> expires 60.000s
        checkbind 10.0.0.1:8080 -> EADDRINUSE
        checkbind 10.0.0.1:8080 -> EADDRINUSE
        checkbind 127.0.0.1:8080 -> ok
        checkbind 10.0.0.1:8080 -> EADDRINUSE
        checkbind 0.0.0.0:8080 -> EADDRINUSE
        time 60s -> expired d
        checkbind 10.0.0.1:8080 -> ok
        ",
    );
}

#[test]
fn solaris_with_reuseaddr_only_the_same_address_in_listen_or_bound() {
    check(
        "
        profile solaris
        l = socket
        bind l 10.0.0.1:8080
        listen l
        checkbind 10.0.0.1:8080 ra       # same address, LISTEN
        checkbind 0.0.0.0:8080 ra        # overlapping, not the same address
        b = socket
        bind b 10.0.0.1:9090
        checkbind 10.0.0.1:9090 ra       # same address, BOUND
        c = accept l 10.0.0.1:8080 10.0.0.2:50000
        d = accept l 10.0.0.1:8080 10.0.0.2:50001
        tw d
        close l
        checkbind 10.0.0.1:8080 ra       # ESTABLISHED and TIME-WAIT do not conflict
        checkbind 10.0.0.1:8080          # ... without SO_REUSEADDR they do
        w = socket ra
        bind w 0.0.0.0:8080
        s = socket ra
        bind s 10.0.0.1:8080
        listen w
        listen s                         # listen() does not re-check
        choose 10.0.0.1:8080 10.0.0.3:1
        ",
        "
        bind l 10.0.0.1:8080 -> ok
        listen l -> ok
        checkbind 10.0.0.1:8080 ra -> EADDRINUSE
        checkbind 0.0.0.0:8080 ra -> ok
        bind b 10.0.0.1:9090 -> ok
        checkbind 10.0.0.1:9090 ra -> EADDRINUSE
        c = accept l 10.0.0.1:8080 10.0.0.2:50000 -> ok
        d = accept l 10.0.0.1:8080 10.0.0.2:50001 -> ok
        tw d -> expires 60.000s
        checkbind 10.0.0.1:8080 ra -> ok
        checkbind 10.0.0.1:8080 -> EADDRINUSE
        bind w 0.0.0.0:8080 -> ok
        bind s 10.0.0.1:8080 -> ok
        listen w -> ok
        listen s -> ok
        choose 10.0.0.1:8080 10.0.0.3:1 -> s
        ",
    );
}

#[test]
fn solaris_exclbind_conflicts_up_to_established_and_reuseport_is_ignored() {
    check(
        "
        profile solaris
        l = socket ra ex
        bind l 0.0.0.0:8080
        listen l
        checkbind 10.0.0.1:8080 ra        # SO_EXCLBIND on the listener
        c = accept l 10.0.0.1:8080 10.0.0.2:50000
        d = accept l 10.0.0.1:8080 10.0.0.2:50001
        tw d
        close l
        checkbind 10.0.0.1:8080 ra        # the ESTABLISHED child still has it
        close c
        checkbind 10.0.0.1:8080 ra        # TIME-WAIT does not
        checkbind 10.0.0.1:8080 ra ex
        m = socket ra
        bind m 0.0.0.0:7070
        checkbind 10.0.0.1:7070 ra        # plain SO_REUSEADDR: other address, ok
        checkbind 10.0.0.1:7070 ra ex     # SO_EXCLBIND on the new socket
        p = socket rp
        bind p 10.0.0.1:6060
        checkbind 10.0.0.1:6060 rp
        ",
        "
        bind l 0.0.0.0:8080 -> ok
        listen l -> ok
        checkbind 10.0.0.1:8080 ra -> EADDRINUSE
        c = accept l 10.0.0.1:8080 10.0.0.2:50000 -> ok
        d = accept l 10.0.0.1:8080 10.0.0.2:50001 -> ok
        tw d -> expires 60.000s
        checkbind 10.0.0.1:8080 ra -> EADDRINUSE
        checkbind 10.0.0.1:8080 ra -> ok
        checkbind 10.0.0.1:8080 ra ex -> ok
        bind m 0.0.0.0:7070 -> ok
        checkbind 10.0.0.1:7070 ra -> ok
        checkbind 10.0.0.1:7070 ra ex -> EADDRINUSE
        bind p 10.0.0.1:6060 -> ok
        checkbind 10.0.0.1:6060 rp -> EADDRINUSE
        ",
    );
}

// ------------------------------------------------------------------------------------------
// BSD-derived profiles and smoltcp
// ------------------------------------------------------------------------------------------

#[test]
fn bsd_derived_profiles_follow_the_bsd_rule() {
    // FreeBSD and macOS from their sources; HP-UX and Stratus by assumption.
    for profile in ["freebsd", "macos", "hpux", "stratus-os-tcp", "stratus-stcp"] {
        check(
            &format!(
                "
                profile {profile}
                l = socket
                bind l 0.0.0.0:8080
                listen l
                c = accept l 10.0.0.1:8080 10.0.0.2:50000
                checkbind 10.0.0.1:8080           # the listener: wildcard lookup
                checkbind 10.0.0.1:8080 ra        # only the new socket's flag matters
                checkbind 0.0.0.0:8080 ra         # same address as the listener
                close l
                checkbind 10.0.0.1:8080           # the connected child, wildcard lookup
                checkbind 0.0.0.0:8080 ra         # connected sockets never conflict
                s1 = socket ra
                bind s1 10.0.0.1:9090
                s2 = socket ra
                bind s2 10.0.0.1:9090             # unconnected, same address
                w = socket ra
                bind w 0.0.0.0:9090
                listen w
                listen s1
                choose 10.0.0.1:9090 10.0.0.2:1
                "
            ),
            "
            bind l 0.0.0.0:8080 -> ok
            listen l -> ok
            c = accept l 10.0.0.1:8080 10.0.0.2:50000 -> ok
            checkbind 10.0.0.1:8080 -> EADDRINUSE
            checkbind 10.0.0.1:8080 ra -> ok
            checkbind 0.0.0.0:8080 ra -> EADDRINUSE
            checkbind 10.0.0.1:8080 -> EADDRINUSE
            checkbind 0.0.0.0:8080 ra -> ok
            bind s1 10.0.0.1:9090 -> ok
            bind s2 10.0.0.1:9090 -> EADDRINUSE
            bind w 0.0.0.0:9090 -> ok
            listen w -> ok
            listen s1 -> ok
            choose 10.0.0.1:9090 10.0.0.2:1 -> s1
            ",
        );
    }
}

#[test]
fn smoltcp_bind_and_listen_never_conflict() {
    check(
        "
        profile smoltcp
        a = socket
        b = socket
        bind a 10.0.0.1:8080
        bind b 10.0.0.1:8080
        listen a
        listen b
        c = accept a 10.0.0.1:8080 10.0.0.2:50000
        tw c
        d = socket
        bind d 0.0.0.0:8080
        listeners 10.0.0.1:8080
        e = socket
        bind e 10.0.0.1:40000
        connect e 10.0.0.2:50000 src=10.0.0.1
        f = socket
        bind f 10.0.0.1:8080
        connect f 10.0.0.2:50000        # the 4-tuple still has one owner
        ",
        "
        bind a 10.0.0.1:8080 -> ok
        bind b 10.0.0.1:8080 -> ok
        listen a -> ok
        listen b -> ok
        c = accept a 10.0.0.1:8080 10.0.0.2:50000 -> ok
        tw c -> expires 10.000s
        bind d 0.0.0.0:8080 -> ok
        listeners 10.0.0.1:8080 -> a b
        bind e 10.0.0.1:40000 -> ok
        connect e 10.0.0.2:50000 src=10.0.0.1 -> 10.0.0.1:40000
        bind f 10.0.0.1:8080 -> ok
        connect f 10.0.0.2:50000 -> EADDRNOTAVAIL
        ",
    );
}

#[test]
fn accepted_sockets_cannot_listen() {
    for profile in Profile::ALL {
        let mut t = AddressTable::new(profile.config(), host());
        let l = t.socket(0);
        t.bind(l, sa("10.0.0.1:8080"), 0).unwrap();
        t.listen(l, 0).unwrap();
        let c = t
            .accept_child(l, FourTuple::new(sa("10.0.0.1:8080"), sa("10.0.0.2:1")))
            .unwrap();
        let e = t.get(c).unwrap();
        assert_eq!(
            (e.accepted_from, e.bound_addr),
            (Some(l), Some(sa("10.0.0.1:8080")))
        );
        t.disconnected(c);
        assert_eq!(t.listen(c, 0), Err(Errno::EINVAL), "{profile:?}");
    }
}

// ------------------------------------------------------------------------------------------
// The teaching story "restart-time-wait" on every profile
// ------------------------------------------------------------------------------------------

#[test]
fn restart_after_server_side_time_wait_on_every_profile() {
    // The server closed first (its side holds TIME-WAIT) and exited. Restart without
    // SO_REUSEADDR, and with it on both the old and the new socket (Linux needs both).
    // (profile, restart without RA, restart with RA, seconds until the port is free)
    let expected = [
        ("linux", "EADDRINUSE", "ok", 60),
        ("rfc793", "EADDRINUSE", "ok", 240),
        ("freebsd", "EADDRINUSE", "ok", 60),
        ("macos", "EADDRINUSE", "ok", 30),
        ("windows-nt4", "EADDRINUSE", "ok", 240),
        ("windows-95", "EADDRINUSE", "ok", 240),
        ("windows-2000", "ok", "ok", 0),
        ("windows-2003", "ok", "ok", 0),
        ("solaris", "EADDRINUSE", "ok", 60),
        ("hpux", "EADDRINUSE", "ok", 60),
        ("stratus-os-tcp", "EADDRINUSE", "ok", 60),
        ("stratus-stcp", "EADDRINUSE", "ok", 2),
        ("smoltcp", "ok", "ok", 0),
    ];
    assert_eq!(expected.len(), Profile::ALL.len());
    for (name, plain, with_ra, free_after) in expected {
        for (opt, want) in [("", plain), ("ra", with_ra)] {
            let mut script = format!(
                "
                profile {name}
                l = socket {opt}
                bind l 0.0.0.0:8080
                listen l
                c = accept l 10.0.0.1:8080 10.0.0.2:50000
                tw c
                close l
                n = socket {opt}
                bind n 0.0.0.0:8080
                "
            );
            let tw = Profile::from_name(name).unwrap().config();
            let tw = tw.time_wait_duration(tw.default_msl);
            let mut expect = format!(
                "
                bind l 0.0.0.0:8080 -> ok
                listen l -> ok
                c = accept l 10.0.0.1:8080 10.0.0.2:50000 -> ok
                tw c -> expires {tw}
                bind n 0.0.0.0:8080 -> {want}
                "
            );
            if want != "ok" {
                assert_eq!(tw, Duration::from_secs(free_after), "{name}");
                let before = tw.micros() / 1000 - 1;
                script = trim_indent(&script) + "\n";
                expect = trim_indent(&expect) + "\n";
                script.push_str(&format!(
                    "time {before}ms\nbind n 0.0.0.0:8080\ntime {free_after}s\nbind n 0.0.0.0:8080\n"
                ));
                expect.push_str(&format!(
                    "time {before}ms -> nothing expired\nbind n 0.0.0.0:8080 -> EADDRINUSE\n\
                     time {free_after}s -> expired c\nbind n 0.0.0.0:8080 -> ok\n"
                ));
            }
            check(&script, &expect);
        }
    }
}
