//! Windows address objects: KB 307175 (listener reuse on NT4 and Windows 2000) and KB
//! Q177074 (NT4 and Windows 95 refuse every connect while the old listener's children live).

mod common;

use common::*;

// ------------------------------------------------------------------------------------------
// KB 307175: listener reuse on NT4 and Windows 2000
// ------------------------------------------------------------------------------------------

/// The listener (with `lopt`) accepted a connection and closed; the connection is `state`
/// ("established" or "time-wait"); a new socket with `nopt` binds the port.
fn kb307175_rebind(profile: &str, lopt: &str, state: &str, nopt: &str) -> String {
    let tw = if state == "time-wait" { "tw c" } else { "" };
    run_script(&format!(
        "
        profile {profile}
        l = socket {lopt}
        bind l 0.0.0.0:8080
        listen l
        c = accept l 10.0.0.1:8080 10.0.0.2:50000
        {tw}
        close l
        n = socket {nopt}
        bind n 0.0.0.0:8080
        "
    ))
    .lines()
    .last()
    .unwrap()
    .rsplit(" -> ")
    .next()
    .unwrap()
    .to_string()
}

#[test]
fn kb307175_nt4_rebind_needs_reuseaddr_2000_does_not() {
    // (profile, listener option, connection state, new option) → bind result.
    let cases = [
        // NT4: "error 10048" unless SO_REUSEADDR, whatever the listener had.
        ("windows-nt4", "", "established", "", "EADDRINUSE"),
        ("windows-nt4", "ra", "established", "", "EADDRINUSE"),
        ("windows-nt4", "", "established", "ra", "ok"),
        ("windows-nt4", "ra", "established", "ra", "ok"),
        ("windows-nt4", "", "established", "ex", "EADDRINUSE"),
        // Assumed: a TIME-WAIT connection keeps the address object as well.
        ("windows-nt4", "", "time-wait", "", "EADDRINUSE"),
        ("windows-nt4", "", "time-wait", "ra", "ok"),
        // Windows 2000: "If you set SO_REUSADDR to False, the bind() function is still
        // returned successfully."
        ("windows-2000", "", "established", "", "ok"),
        ("windows-2000", "ra", "established", "", "ok"),
        ("windows-2000", "", "established", "ra", "ok"),
        ("windows-2000", "", "established", "ex", "ok"),
        ("windows-2000", "", "time-wait", "", "ok"),
        ("windows-2003", "", "established", "", "ok"),
        ("windows-2003", "", "time-wait", "", "ok"),
        // An exclusive listener's accepted connection blocks everybody while it is active
        // ("Using SO_REUSEADDR and SO_EXCLUSIVEADDRUSE"), on every version.
        ("windows-nt4", "ex", "established", "", "EADDRINUSE"),
        ("windows-nt4", "ex", "established", "ra", "EACCES"),
        ("windows-2000", "ex", "established", "", "EADDRINUSE"),
        ("windows-2000", "ex", "established", "ra", "EACCES"),
        ("windows-2000", "ex", "established", "ex", "EADDRINUSE"),
        ("windows-2003", "ex", "established", "ra", "EACCES"),
        // ... until it is no longer active (assumed: TIME-WAIT is not active) — except on
        // NT4, where TIME-WAIT keeps the object.
        ("windows-2000", "ex", "time-wait", "", "ok"),
        ("windows-2003", "ex", "time-wait", "ra", "ok"),
        ("windows-nt4", "ex", "time-wait", "ra", "EACCES"),
    ];
    let mut bad = Vec::new();
    for (profile, lopt, state, nopt, want) in cases {
        let got = kb307175_rebind(profile, lopt, state, nopt);
        if got != want {
            bad.push(format!(
                "{profile} listener[{lopt}] {state} new[{nopt}]: got {got}, want {want}"
            ));
        }
    }
    assert!(bad.is_empty(), "\n{}", bad.join("\n"));
}

#[test]
fn kb307175_listener_not_closed_needs_reuseaddr_on_both_versions() {
    // "If a listening socket is not closed, if you call the bind() function on the same
    // port, you receive an "error 10048" message in both Windows NT 4.0 and Windows 2000
    // unless you use SO_REUSADDR."
    for profile in ["windows-nt4", "windows-2000"] {
        check(
            &format!(
                "
                profile {profile}
                l = socket
                bind l 0.0.0.0:8080
                listen l
                c = accept l 10.0.0.1:8080 10.0.0.2:50000
                n = socket
                bind n 0.0.0.0:8080
                m = socket ra
                bind m 0.0.0.0:8080
                "
            ),
            "
            bind l 0.0.0.0:8080 -> ok
            listen l -> ok
            c = accept l 10.0.0.1:8080 10.0.0.2:50000 -> ok
            bind n 0.0.0.0:8080 -> EADDRINUSE
            bind m 0.0.0.0:8080 -> ok
            ",
        );
    }
}

#[test]
fn kb307175_accepted_connection_belongs_to_the_listeners_wildcard_address_object() {
    // NT4: the connection (local 10.0.0.1) still holds the wildcard address object, so a
    // bind of another specific address of the host conflicts with it.
    check(
        "
        profile windows-nt4
        l = socket
        bind l 0.0.0.0:8080
        listen l
        c = accept l 10.0.0.1:8080 10.0.0.2:50000
        close l
        checkbind 127.0.0.1:8080
        checkbind 127.0.0.1:8080 ra
        close c
        checkbind 127.0.0.1:8080
        ",
        "
        bind l 0.0.0.0:8080 -> ok
        listen l -> ok
        c = accept l 10.0.0.1:8080 10.0.0.2:50000 -> ok
        checkbind 127.0.0.1:8080 -> EADDRINUSE
        checkbind 127.0.0.1:8080 ra -> ok
        checkbind 127.0.0.1:8080 -> ok
        ",
    );
}

#[test]
fn kb307175_several_servers_listen_one_random_listener_accepts() {
    // "If you use SO_REUSADDR to bind multiple servers to the same port at the same time,
    // only one random listening socket accepts a connection request." listen() does not
    // re-check, unlike Linux.
    for profile in ["windows-nt4", "windows-2000"] {
        check(
            &format!(
                "
                profile {profile}
                a = socket ra
                b = socket ra
                c = socket ra
                bind a 0.0.0.0:8080
                bind b 0.0.0.0:8080
                bind c 0.0.0.0:8080
                listen a
                listen b
                listen c
                listeners 10.0.0.1:8080
                choose 10.0.0.1:8080 10.0.0.2:50000 rand=1
                choose 10.0.0.1:8080 10.0.0.2:50000 rand=0
                choose 10.0.0.1:8080 10.0.0.2:50001 rand=2
                choose 10.0.0.1:8080 10.0.0.2:50002 rand=4294967295
                close b
                choose 10.0.0.1:8080 10.0.0.2:50000 rand=2
                choose 10.0.0.1:8080 10.0.0.2:50000 rand=1
                "
            ),
            "
            bind a 0.0.0.0:8080 -> ok
            bind b 0.0.0.0:8080 -> ok
            bind c 0.0.0.0:8080 -> ok
            listen a -> ok
            listen b -> ok
            listen c -> ok
            listeners 10.0.0.1:8080 -> a b c
            choose 10.0.0.1:8080 10.0.0.2:50000 rand=1 -> b
            choose 10.0.0.1:8080 10.0.0.2:50000 rand=0 -> b
            choose 10.0.0.1:8080 10.0.0.2:50001 rand=2 -> b
            choose 10.0.0.1:8080 10.0.0.2:50002 rand=4294967295 -> b
            choose 10.0.0.1:8080 10.0.0.2:50000 rand=2 -> a
            choose 10.0.0.1:8080 10.0.0.2:50000 rand=1 -> a
            ",
        );
    }
    // Linux: the second listen() fails, so there is never a choice to make.
    check(
        "
        a = socket ra
        b = socket ra
        bind a 0.0.0.0:8080
        bind b 0.0.0.0:8080
        listen a
        listen b
        choose 10.0.0.1:8080 10.0.0.2:50000 rand=1
        ",
        "
        bind a 0.0.0.0:8080 -> ok
        bind b 0.0.0.0:8080 -> ok
        listen a -> ok
        listen b -> EADDRINUSE
        choose 10.0.0.1:8080 10.0.0.2:50000 rand=1 -> a
        ",
    );
}

// ------------------------------------------------------------------------------------------
// KB Q177074: NT4 refuses every connect while the old listener's children live
// ------------------------------------------------------------------------------------------

#[test]
fn q177074_rebind_succeeds_but_connects_are_refused_until_the_child_closes() {
    let rule = twsim_model::table::Q177074_RULE;
    check(
        "
        profile windows-nt4
        l = socket ra
        bind l 0.0.0.0:8080
        listen l
        c = accept l 10.0.0.1:8080 10.0.0.2:50000
        choose 10.0.0.1:8080 10.0.0.3:1
        close l                              # the server exits; the child keeps c
        stale
        choose 10.0.0.1:8080 10.0.0.3:1
        n = socket
        bind n 0.0.0.0:8080
        n2 = socket ra
        bind n2 0.0.0.0:8080
        listen n2
        choose 10.0.0.1:8080 10.0.0.3:1
        choose 127.0.0.1:8080 10.0.0.3:1
        o = socket
        bind o 0.0.0.0:9090
        listen o
        choose 10.0.0.1:9090 10.0.0.3:1      # other ports are not affected
        tw c                                 # the child's connection closes
        stale
        choose 10.0.0.1:8080 10.0.0.3:1
        ",
        &format!(
            "
            bind l 0.0.0.0:8080 -> ok
            listen l -> ok
            c = accept l 10.0.0.1:8080 10.0.0.2:50000 -> ok
            choose 10.0.0.1:8080 10.0.0.3:1 -> l
            stale -> 0.0.0.0:8080: c
            choose 10.0.0.1:8080 10.0.0.3:1 -> refuse: {rule}
            bind n 0.0.0.0:8080 -> EADDRINUSE
            bind n2 0.0.0.0:8080 -> ok
            listen n2 -> ok
            choose 10.0.0.1:8080 10.0.0.3:1 -> refuse: {rule}
            choose 127.0.0.1:8080 10.0.0.3:1 -> refuse: {rule}
            bind o 0.0.0.0:9090 -> ok
            listen o -> ok
            choose 10.0.0.1:9090 10.0.0.3:1 -> o
            tw c -> expires 240.000s
            stale -> none
            choose 10.0.0.1:8080 10.0.0.3:1 -> n2
            "
        ),
    );
}

#[test]
fn q177074_every_child_must_be_gone() {
    let rule = twsim_model::table::Q177074_RULE;
    for how in ["close", "tw", "disconnect"] {
        check(
            &format!(
                "
                profile windows-nt4
                l = socket ra
                bind l 10.0.0.1:8080
                listen l
                a = accept l 10.0.0.1:8080 10.0.0.2:50000
                b = accept l 10.0.0.1:8080 10.0.0.2:50001
                t = accept l 10.0.0.1:8080 10.0.0.2:50002
                tw t                       # already closing: not counted
                close l
                stale
                n = socket ra
                bind n 10.0.0.1:8080
                listen n
                {how} a
                stale
                choose 10.0.0.1:8080 10.0.0.3:1
                {how} b
                stale
                choose 10.0.0.1:8080 10.0.0.3:1
                "
            ),
            &format!(
                "
                bind l 10.0.0.1:8080 -> ok
                listen l -> ok
                a = accept l 10.0.0.1:8080 10.0.0.2:50000 -> ok
                b = accept l 10.0.0.1:8080 10.0.0.2:50001 -> ok
                t = accept l 10.0.0.1:8080 10.0.0.2:50002 -> ok
                tw t -> expires 240.000s
                stale -> 10.0.0.1:8080: a b
                bind n 10.0.0.1:8080 -> ok
                listen n -> ok{}
                stale -> 10.0.0.1:8080: b
                choose 10.0.0.1:8080 10.0.0.3:1 -> refuse: {rule}{}
                stale -> none
                choose 10.0.0.1:8080 10.0.0.3:1 -> n
                ",
                if how == "tw" {
                    "\n                tw a -> expires 240.000s"
                } else {
                    ""
                },
                if how == "tw" {
                    "\n                tw b -> expires 240.000s"
                } else {
                    ""
                },
            ),
        );
    }
}

#[test]
fn q177074_specific_old_listener_does_not_shadow_other_addresses() {
    check(
        "
        profile windows-nt4
        l = socket ra
        bind l 127.0.0.1:8080
        listen l
        c = accept l 127.0.0.1:8080 127.0.0.1:50000
        close l
        n = socket ra
        bind n 0.0.0.0:8080
        listen n
        choose 10.0.0.1:8080 10.0.0.3:1
        ",
        "
        bind l 127.0.0.1:8080 -> ok
        listen l -> ok
        c = accept l 127.0.0.1:8080 127.0.0.1:50000 -> ok
        bind n 0.0.0.0:8080 -> ok
        listen n -> ok
        choose 10.0.0.1:8080 10.0.0.3:1 -> n
        ",
    );
}

#[test]
fn q177074_is_nt4_and_windows_95_only() {
    // KB Q177074 applies to "Microsoft Windows NT 4.0" and "Microsoft Windows 95" (keyword
    // kbWinOS95): both refuse. The same story on every other profile: a new listener gets
    // the connection (Linux and BSD need SO_REUSEADDR as their rules say; smoltcp has no
    // rules).
    for profile in Profile::ALL {
        let nt4 = matches!(profile, Profile::WindowsNt4 | Profile::Windows95);
        let r = run_script(&format!(
            "
            profile {}
            l = socket ra
            bind l 0.0.0.0:8080
            listen l
            c = accept l 10.0.0.1:8080 10.0.0.2:50000
            close l
            stale
            n = socket ra
            bind n 0.0.0.0:8080
            listen n
            choose 10.0.0.1:8080 10.0.0.3:1
            ",
            profile.name()
        ));
        let last = r.lines().last().unwrap();
        assert_eq!(last.ends_with(" -> n"), !nt4, "{profile:?}: {r}");
        assert_eq!(r.contains("stale -> none"), !nt4, "{profile:?}: {r}");
    }
}
