//! Linux bind/listen/connect rules: the cases observed on a real Linux 6.18 kernel
//! (bind-rules.md, cases A–F), as scripts run by the shared runner ([`common::check`]),
//! and a check of the runner itself.

mod common;

use common::*;

// ------------------------------------------------------------------------------------------
// The runner itself
// ------------------------------------------------------------------------------------------

#[test]
fn runner_reports_mismatches() {
    let r = std::panic::catch_unwind(|| {
        check(
            "
            a = socket
            bind a 127.0.0.1:80
            ",
            "bind a 127.0.0.1:80 -> EADDRINUSE",
        )
    });
    assert!(r.is_err(), "a wrong expectation must fail the check");
    assert_eq!(trim_indent("\n    x\n      y\n\n"), "x\n  y");
}

// ------------------------------------------------------------------------------------------
// Linux: the observed cases
// ------------------------------------------------------------------------------------------

#[test]
fn linux_a11_listener_closed_child_established_both_ra() {
    check(
        "
        l = socket ra
        bind l 127.0.0.1:8080
        listen l
        c = accept l 127.0.0.1:8080 127.0.0.1:40000
        state c                         # the child inherits the listener's SO_REUSEADDR
        close l
        n = socket ra
        bind n 127.0.0.1:8080
        listen n
        listeners 127.0.0.1:8080
        c2 = accept n 127.0.0.1:8080 127.0.0.1:40001
        state c2
        ",
        "
        bind l 127.0.0.1:8080 -> ok
        listen l -> ok
        c = accept l 127.0.0.1:8080 127.0.0.1:40000 -> ok
        state c -> CONNECTED 127.0.0.1:8080<->127.0.0.1:40000 ra
        bind n 127.0.0.1:8080 -> ok
        listen n -> ok
        listeners 127.0.0.1:8080 -> n
        c2 = accept n 127.0.0.1:8080 127.0.0.1:40001 -> ok
        state c2 -> CONNECTED 127.0.0.1:8080<->127.0.0.1:40001 ra
        ",
    );
}

#[test]
fn linux_a_listener_closed_child_established_ra_combos() {
    for (l, n) in RA_COMBOS {
        let script = format!(
            "
            l = socket{}
            bind l 127.0.0.1:8080
            listen l
            c = accept l 127.0.0.1:8080 127.0.0.1:40000
            close l
            n = socket{}
            bind n 127.0.0.1:8080
            ",
            ra(l),
            ra(n)
        );
        let expected = format!(
            "
            bind l 127.0.0.1:8080 -> ok
            listen l -> ok
            c = accept l 127.0.0.1:8080 127.0.0.1:40000 -> ok
            bind n 127.0.0.1:8080 -> {}
            ",
            outcome(l && n)
        );
        check(&script, &expected);
    }
}

#[test]
fn linux_afl_worker_still_holds_the_listener() {
    // The listener is not closed (a forked worker inherited it): RA does not help.
    check(
        "
        l = socket ra
        bind l 127.0.0.1:8080
        listen l
        c = accept l 127.0.0.1:8080 127.0.0.1:40000
        n = socket ra
        bind n 127.0.0.1:8080
        ",
        "
        bind l 127.0.0.1:8080 -> ok
        listen l -> ok
        c = accept l 127.0.0.1:8080 127.0.0.1:40000 -> ok
        bind n 127.0.0.1:8080 -> EADDRINUSE
        ",
    );
}

#[test]
fn linux_b_server_side_time_wait_ra_combos() {
    for (l, n) in RA_COMBOS {
        let script = format!(
            "
            l = socket{}
            bind l 127.0.0.1:8080
            listen l
            c = accept l 127.0.0.1:8080 127.0.0.1:40000
            tw c
            close l
            state c
            n = socket{}
            bind n 127.0.0.1:8080
            ",
            ra(l),
            ra(n)
        );
        let expected = format!(
            "
            bind l 127.0.0.1:8080 -> ok
            listen l -> ok
            c = accept l 127.0.0.1:8080 127.0.0.1:40000 -> ok
            tw c -> expires 60.000s
            state c -> TIME-WAIT 127.0.0.1:8080<->127.0.0.1:40000 until 60.000s{}
            bind n 127.0.0.1:8080 -> {}
            ",
            ra(l),
            outcome(l && n)
        );
        check(&script, &expected);
        if l && n {
            continue;
        }
        // The port frees exactly when the TIME-WAIT record expires.
        let script = format!(
            "{script}
            time 59999ms
            bind n 127.0.0.1:8080
            poll
            time 60s
            state c
            bind n 127.0.0.1:8080
            "
        );
        let expected = trim_indent(&expected)
            + "\n"
            + &trim_indent(
                "
            time 59999ms -> nothing expired
            bind n 127.0.0.1:8080 -> EADDRINUSE
            poll -> 60.000s
            time 60s -> expired c
            state c -> gone
            bind n 127.0.0.1:8080 -> ok
            ",
            );
        check(&script, &expected);
    }
}

#[test]
fn linux_b_time_wait_without_ra_frees_the_port_for_a_plain_bind() {
    check(
        "
        l = socket
        bind l 127.0.0.1:8080
        listen l
        c = accept l 127.0.0.1:8080 127.0.0.1:40000
        tw c
        close l
        checkbind 127.0.0.1:8080
        checkbind 0.0.0.0:8080 ra
        time 60s
        checkbind 127.0.0.1:8080
        checkbind 0.0.0.0:8080
        poll
        ",
        "
        bind l 127.0.0.1:8080 -> ok
        listen l -> ok
        c = accept l 127.0.0.1:8080 127.0.0.1:40000 -> ok
        tw c -> expires 60.000s
        checkbind 127.0.0.1:8080 -> EADDRINUSE
        checkbind 0.0.0.0:8080 ra -> EADDRINUSE
        time 60s -> expired c
        checkbind 127.0.0.1:8080 -> ok
        checkbind 0.0.0.0:8080 -> ok
        poll -> none
        ",
    );
}

#[test]
fn linux_b_lis_time_wait_with_the_listener_still_listening() {
    check(
        "
        l = socket ra
        bind l 127.0.0.1:8080
        listen l
        c = accept l 127.0.0.1:8080 127.0.0.1:40000
        tw c
        n = socket ra
        bind n 127.0.0.1:8080
        time 60s
        bind n 127.0.0.1:8080          # the listener alone still blocks
        close l
        bind n 127.0.0.1:8080
        ",
        "
        bind l 127.0.0.1:8080 -> ok
        listen l -> ok
        c = accept l 127.0.0.1:8080 127.0.0.1:40000 -> ok
        tw c -> expires 60.000s
        bind n 127.0.0.1:8080 -> EADDRINUSE
        time 60s -> expired c
        bind n 127.0.0.1:8080 -> EADDRINUSE
        bind n 127.0.0.1:8080 -> ok
        ",
    );
}

#[test]
fn linux_c1_two_ra_sockets_bound_only_the_first_may_listen() {
    check(
        "
        s1 = socket ra
        s2 = socket ra
        bind s1 127.0.0.1:8080
        bind s2 127.0.0.1:8080
        listen s1
        listen s2
        state s2
        listeners 127.0.0.1:8080
        ",
        "
        bind s1 127.0.0.1:8080 -> ok
        bind s2 127.0.0.1:8080 -> ok
        listen s1 -> ok
        listen s2 -> EADDRINUSE
        state s2 -> BOUND 127.0.0.1:8080 ra
        listeners 127.0.0.1:8080 -> s1
        ",
    );
}

#[test]
fn linux_c2_listener_blocks_every_ra_combination() {
    for (r1, r2) in RA_COMBOS {
        check(
            &format!(
                "
                s1 = socket{}
                bind s1 127.0.0.1:8080
                listen s1
                s2 = socket{}
                bind s2 127.0.0.1:8080
                ",
                ra(r1),
                ra(r2)
            ),
            "
            bind s1 127.0.0.1:8080 -> ok
            listen s1 -> ok
            bind s2 127.0.0.1:8080 -> EADDRINUSE
            ",
        );
    }
}

#[test]
fn linux_c3_bound_socket_needs_ra_on_both() {
    for (r1, r2) in RA_COMBOS {
        check(
            &format!(
                "
                s1 = socket{}
                bind s1 127.0.0.1:8080
                s2 = socket{}
                bind s2 127.0.0.1:8080
                ",
                ra(r1),
                ra(r2)
            ),
            &format!(
                "
                bind s1 127.0.0.1:8080 -> ok
                bind s2 127.0.0.1:8080 -> {}
                ",
                outcome(r1 && r2)
            ),
        );
    }
}

#[test]
fn linux_d_wildcard_and_loopback_every_order() {
    let orders = [("0.0.0.0", "127.0.0.1"), ("127.0.0.1", "0.0.0.0")];
    for (a1, a2) in orders {
        for (r1, r2) in RA_COMBOS {
            for s1_listens_first in [false, true] {
                for s2_listens_first in [false, true] {
                    let mut script = format!("s1 = socket{}\ns2 = socket{}\n", ra(r1), ra(r2));
                    let mut expected = String::new();
                    let mut step = |cmd: String, result: &str| {
                        script.push_str(&cmd);
                        script.push('\n');
                        expected.push_str(&format!("{cmd} -> {result}\n"));
                    };
                    step(format!("bind s1 {a1}:8080"), "ok");
                    if s1_listens_first {
                        step("listen s1".into(), "ok");
                    }
                    let both = r1 && r2 && !s1_listens_first;
                    step(format!("bind s2 {a2}:8080"), outcome(both));
                    if both {
                        // Both bound, neither listening: whichever listens second fails.
                        let (first, second) = if s2_listens_first {
                            ("s2", "s1")
                        } else {
                            ("s1", "s2")
                        };
                        step(format!("listen {first}"), "ok");
                        step(format!("listen {second}"), "EADDRINUSE");
                    }
                    check(&script, &expected);
                }
            }
        }
    }
}

#[test]
fn linux_d_unrelated_addresses_do_not_overlap() {
    check(
        "
        s1 = socket
        s2 = socket
        bind s1 127.0.0.1:8080
        bind s2 10.0.0.1:8080
        listen s1
        listen s2
        listeners 10.0.0.1:8080
        ",
        "
        bind s1 127.0.0.1:8080 -> ok
        bind s2 10.0.0.1:8080 -> ok
        listen s1 -> ok
        listen s2 -> ok
        listeners 10.0.0.1:8080 -> s2
        ",
    );
}

#[test]
fn linux_e1_reuseport_listeners_same_uid() {
    check(
        "
        s1 = socket rp uid=1000
        s2 = socket rp uid=1000
        bind s1 127.0.0.1:8080
        listen s1
        bind s2 127.0.0.1:8080
        listen s2
        listeners 127.0.0.1:8080
        ",
        "
        bind s1 127.0.0.1:8080 -> ok
        listen s1 -> ok
        bind s2 127.0.0.1:8080 -> ok
        listen s2 -> ok
        listeners 127.0.0.1:8080 -> s1 s2
        ",
    );
}

#[test]
fn linux_e2_reuseport_needs_both_sockets_and_the_same_uid() {
    for (o1, o2) in [("rp", ""), ("", "rp"), ("rp ra", "ra")] {
        check(
            &format!(
                "
                s1 = socket {o1}
                bind s1 127.0.0.1:8080
                listen s1
                s2 = socket {o2}
                bind s2 127.0.0.1:8080
                "
            ),
            "
            bind s1 127.0.0.1:8080 -> ok
            listen s1 -> ok
            bind s2 127.0.0.1:8080 -> EADDRINUSE
            ",
        );
    }
    // Different uid, the other socket not in TIME-WAIT: EADDRINUSE, listening or not.
    check(
        "
        s1 = socket rp uid=1000
        s2 = socket rp uid=1001
        s3 = socket rp uid=1000
        bind s1 127.0.0.1:8080
        bind s2 127.0.0.1:8080
        checkbind 127.0.0.1:8080 rp uid=1001
        bind s3 127.0.0.1:8080
        ",
        "
        bind s1 127.0.0.1:8080 -> ok
        bind s2 127.0.0.1:8080 -> EADDRINUSE
        checkbind 127.0.0.1:8080 rp uid=1001 -> EADDRINUSE
        bind s3 127.0.0.1:8080 -> ok
        ",
    );
    // Different uid but the other socket is in TIME-WAIT: allowed.
    check(
        "
        l = socket rp uid=1000
        bind l 127.0.0.1:8080
        listen l
        c = accept l 127.0.0.1:8080 127.0.0.1:40000
        tw c
        close l
        checkbind 127.0.0.1:8080 rp uid=1001
        checkbind 127.0.0.1:8080 uid=1001
        ",
        "
        bind l 127.0.0.1:8080 -> ok
        listen l -> ok
        c = accept l 127.0.0.1:8080 127.0.0.1:40000 -> ok
        tw c -> expires 60.000s
        checkbind 127.0.0.1:8080 rp uid=1001 -> ok
        checkbind 127.0.0.1:8080 uid=1001 -> EADDRINUSE
        ",
    );
}

#[test]
fn linux_f1_client_side_time_wait_port() {
    for (old, new) in RA_COMBOS {
        let script = format!(
            "
            host 127.0.0.1
            c = socket{}
            connect c 127.0.0.1:80
            tw c
            n = socket{}
            bind n 127.0.0.1:32768
            ",
            ra(old),
            ra(new)
        );
        let expected = format!(
            "
            connect c 127.0.0.1:80 -> 127.0.0.1:32768
            tw c -> expires 60.000s
            bind n 127.0.0.1:32768 -> {}
            ",
            outcome(old && new)
        );
        check(&script, &expected);
    }
}

#[test]
fn linux_f11_bind_over_client_time_wait_then_recycle() {
    // The table refuses the busy 4-tuple; recycling the TIME-WAIT (tcp_twsk_unique) is the
    // caller's decision: it removes the record and connects again.
    check(
        "
        host 127.0.0.1
        c = socket ra
        connect c 127.0.0.1:80
        tw c
        n = socket ra
        bind n 127.0.0.1:32768
        connect n 127.0.0.1:80
        lookup 127.0.0.1:32768 127.0.0.1:80
        close c
        connect n 127.0.0.1:80
        lookup 127.0.0.1:32768 127.0.0.1:80
        poll
        ",
        "
        connect c 127.0.0.1:80 -> 127.0.0.1:32768
        tw c -> expires 60.000s
        bind n 127.0.0.1:32768 -> ok
        connect n 127.0.0.1:80 -> EADDRNOTAVAIL
        lookup 127.0.0.1:32768 127.0.0.1:80 -> c
        connect n 127.0.0.1:80 -> 127.0.0.1:32768
        lookup 127.0.0.1:32768 127.0.0.1:80 -> n
        poll -> none
        ",
    );
}

#[test]
fn linux_f4_two_ra_sockets_on_one_address_connect_to_one_server() {
    check(
        "
        a = socket ra
        b = socket ra
        bind a 127.0.0.1:40000
        bind b 127.0.0.1:40000
        connect a 127.0.0.1:80
        connect b 127.0.0.1:80
        state b
        connect b 127.0.0.1:81
        ",
        "
        bind a 127.0.0.1:40000 -> ok
        bind b 127.0.0.1:40000 -> ok
        connect a 127.0.0.1:80 -> 127.0.0.1:40000
        connect b 127.0.0.1:80 -> EADDRNOTAVAIL
        state b -> BOUND 127.0.0.1:40000 ra
        connect b 127.0.0.1:81 -> 127.0.0.1:40000
        ",
    );
}

#[test]
fn linux_wildcard_bound_socket_connects_from_the_source_address() {
    check(
        "
        a = socket
        bind a 0.0.0.0:40000
        connect a 10.0.0.2:80 src=10.0.0.1
        state a
        lookup 10.0.0.1:40000 10.0.0.2:80
        ",
        "
        bind a 0.0.0.0:40000 -> ok
        connect a 10.0.0.2:80 src=10.0.0.1 -> 10.0.0.1:40000
        state a -> CONNECTED 10.0.0.1:40000<->10.0.0.2:80
        lookup 10.0.0.1:40000 10.0.0.2:80 -> a
        ",
    );
}
