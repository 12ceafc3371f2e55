//! The BSD bind rule (`in_pcbbind_setup`), through the rfc793 profile.

mod common;

use common::*;

// ------------------------------------------------------------------------------------------
// BSD rule (rfc793 profile)
// ------------------------------------------------------------------------------------------

#[test]
fn bsd_ra_binds_over_established_and_time_wait_whatever_the_other_flag() {
    for (l, n) in RA_COMBOS {
        check(
            &format!(
                "
                profile rfc793
                l = socket{}
                bind l 127.0.0.1:8080
                listen l
                c = accept l 127.0.0.1:8080 127.0.0.1:40000
                d = accept l 127.0.0.1:8080 127.0.0.1:40001
                tw d
                close l
                n = socket{}
                bind n 127.0.0.1:8080
                ",
                ra(l),
                ra(n)
            ),
            &format!(
                "
                bind l 127.0.0.1:8080 -> ok
                listen l -> ok
                c = accept l 127.0.0.1:8080 127.0.0.1:40000 -> ok
                d = accept l 127.0.0.1:8080 127.0.0.1:40001 -> ok
                tw d -> expires 240.000s
                bind n 127.0.0.1:8080 -> {}
                ",
                // only the new socket's flag matters
                outcome(n)
            ),
        );
    }
}

#[test]
fn bsd_without_ra_any_overlap_fails() {
    check(
        "
        profile rfc793
        a = socket ra
        bind a 0.0.0.0:8080
        b = socket
        bind b 127.0.0.1:8080
        c = socket
        connect c 10.0.0.2:80 src=10.0.0.1 hint=3
        tw c
        checkbind 10.0.0.1:49155
        checkbind 0.0.0.0:49155
        checkbind 127.0.0.1:49155
        checkbind 0.0.0.0:49155 ra
        time 240s
        checkbind 0.0.0.0:49155
        ",
        "
        bind a 0.0.0.0:8080 -> ok
        bind b 127.0.0.1:8080 -> EADDRINUSE
        connect c 10.0.0.2:80 src=10.0.0.1 hint=3 -> 10.0.0.1:49155
        tw c -> expires 240.000s
        checkbind 10.0.0.1:49155 -> EADDRINUSE
        checkbind 0.0.0.0:49155 -> EADDRINUSE
        checkbind 127.0.0.1:49155 -> ok
        checkbind 0.0.0.0:49155 ra -> ok
        time 240s -> expired c
        checkbind 0.0.0.0:49155 -> ok
        ",
    );
}

#[test]
fn bsd_ra_against_unconnected_sockets_only_exact_address_conflicts() {
    check(
        "
        profile rfc793
        l = socket ra
        bind l 127.0.0.1:8080
        listen l
        checkbind 127.0.0.1:8080 ra
        checkbind 0.0.0.0:8080 ra
        checkbind 0.0.0.0:8080
        w = socket ra
        bind w 0.0.0.0:9090
        listen w
        checkbind 0.0.0.0:9090 ra
        checkbind 10.0.0.1:9090 ra
        b = socket
        bind b 10.0.0.1:7070
        checkbind 10.0.0.1:7070 ra   # bound, not listening: still unconnected
        checkbind 127.0.0.1:7070 ra
        ",
        "
        bind l 127.0.0.1:8080 -> ok
        listen l -> ok
        checkbind 127.0.0.1:8080 ra -> EADDRINUSE
        checkbind 0.0.0.0:8080 ra -> ok
        checkbind 0.0.0.0:8080 -> EADDRINUSE
        bind w 0.0.0.0:9090 -> ok
        listen w -> ok
        checkbind 0.0.0.0:9090 ra -> EADDRINUSE
        checkbind 10.0.0.1:9090 ra -> ok
        bind b 10.0.0.1:7070 -> ok
        checkbind 10.0.0.1:7070 ra -> EADDRINUSE
        checkbind 127.0.0.1:7070 ra -> ok
        ",
    );
}

#[test]
fn bsd_listen_does_not_recheck() {
    // Linux C1 / D contrast: BSD refuses the second bind of C1 already, and lets a wildcard
    // and a specific socket both listen.
    check(
        "
        profile rfc793
        s1 = socket ra
        s2 = socket ra
        bind s1 127.0.0.1:8080
        bind s2 127.0.0.1:8080
        w = socket ra
        bind w 0.0.0.0:8080
        listen w
        listen s1
        listeners 127.0.0.1:8080
        ",
        "
        bind s1 127.0.0.1:8080 -> ok
        bind s2 127.0.0.1:8080 -> EADDRINUSE
        bind w 0.0.0.0:8080 -> ok
        listen w -> ok
        listen s1 -> ok
        listeners 127.0.0.1:8080 -> s1 w
        ",
    );
}

#[test]
fn bsd_reuseport_alone_is_an_exact_lookup() {
    // bind-rules.md: only a socket "without RA/RP" does the wildcard lookup
    // (FreeBSD in_pcbbind_setup sets INPLOOKUP_WILDCARD only without both options).
    check(
        "
        profile rfc793
        l = socket
        bind l 127.0.0.1:8080
        listen l
        c = accept l 127.0.0.1:8080 127.0.0.1:40000
        close l
        checkbind 127.0.0.1:8080
        checkbind 127.0.0.1:8080 rp
        b = socket
        bind b 10.0.0.1:9090
        checkbind 0.0.0.0:9090 rp
        checkbind 10.0.0.1:9090 rp
        p = socket rp
        bind p 10.0.0.1:7070
        checkbind 10.0.0.1:7070 rp
        checkbind 10.0.0.1:7070 rp uid=5
        ",
        "
        bind l 127.0.0.1:8080 -> ok
        listen l -> ok
        c = accept l 127.0.0.1:8080 127.0.0.1:40000 -> ok
        checkbind 127.0.0.1:8080 -> EADDRINUSE
        checkbind 127.0.0.1:8080 rp -> ok
        bind b 10.0.0.1:9090 -> ok
        checkbind 0.0.0.0:9090 rp -> ok
        checkbind 10.0.0.1:9090 rp -> EADDRINUSE
        bind p 10.0.0.1:7070 -> ok
        checkbind 10.0.0.1:7070 rp -> ok
        checkbind 10.0.0.1:7070 rp uid=5 -> EADDRINUSE
        ",
    );
}
