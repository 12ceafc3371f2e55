//! Every profile: names, numbers and spellings; TIME-WAIT lengths; the TIME-WAIT segment
//! policy per profile (a transition table, snapshotted).

mod common;

use common::*;

// ------------------------------------------------------------------------------------------
// Every profile: names, numbers and spellings
// ------------------------------------------------------------------------------------------

/// One line per profile with everything `Profile::config` fixes that is a plain number or
/// name. A change to any profile shows up here as a diff.
#[test]
fn profile_table_snapshot() {
    let msl = |d: Duration| d.to_string();
    let lines: Vec<String> = Profile::ALL
        .iter()
        .map(|p| {
            let c = p.config();
            format!(
                "{} bind={:?} choice={:?} ephemeral={}-{} connect={} msl={} inuse={} access={} refused={}",
                p.name(),
                c.bind,
                c.listener_choice,
                c.ephemeral.first,
                c.ephemeral.last,
                c.connect_timeout,
                msl(c.default_msl),
                Errno::EADDRINUSE.display_for(c.errno_style),
                Errno::EACCES.display_for(c.errno_style),
                Errno::ECONNREFUSED.display_for(c.errno_style),
            )
        })
        .collect();
    let expected = trim_indent(
        "
        linux bind=Linux choice=ReuseportHash ephemeral=32768-60999 connect=127.000s msl=60.000s inuse=EADDRINUSE access=EACCES refused=ECONNREFUSED
        rfc793 bind=Bsd choice=Exact ephemeral=49152-65535 connect=180.000s msl=120.000s inuse=EADDRINUSE access=EACCES refused=ECONNREFUSED
        freebsd bind=Bsd choice=Exact ephemeral=10000-65535 connect=75.000s msl=30.000s inuse=EADDRINUSE access=EACCES refused=ECONNREFUSED
        macos bind=Bsd choice=Exact ephemeral=49152-65535 connect=75.000s msl=15.000s inuse=EADDRINUSE access=EACCES refused=ECONNREFUSED
        windows-nt4 bind=WindowsClassic choice=Random ephemeral=1025-5000 connect=21.000s msl=120.000s inuse=WSAEADDRINUSE (10048) access=WSAEACCES (10013) refused=WSAECONNREFUSED (10061)
        windows-95 bind=WindowsClassic choice=Random ephemeral=1025-5000 connect=21.000s msl=120.000s inuse=WSAEADDRINUSE (10048) access=WSAEACCES (10013) refused=WSAECONNREFUSED (10061)
        windows-2000 bind=WindowsClassic choice=Random ephemeral=1025-5000 connect=21.000s msl=120.000s inuse=WSAEADDRINUSE (10048) access=WSAEACCES (10013) refused=WSAECONNREFUSED (10061)
        windows-2003 bind=Windows2003 choice=Random ephemeral=1025-5000 connect=21.000s msl=60.000s inuse=WSAEADDRINUSE (10048) access=WSAEACCES (10013) refused=WSAECONNREFUSED (10061)
        solaris bind=Solaris choice=Exact ephemeral=32768-65535 connect=180.000s msl=30.000s inuse=EADDRINUSE access=EACCES refused=ECONNREFUSED
        hpux bind=Bsd choice=Exact ephemeral=49152-65535 connect=75.000s msl=30.000s inuse=EADDRINUSE (226) access=EACCES refused=ECONNREFUSED
        stratus-os-tcp bind=Bsd choice=Exact ephemeral=49152-65535 connect=75.000s msl=30.000s inuse=e$tcp_address_in_use (4932) access=EACCES refused=ECONNREFUSED
        stratus-stcp bind=Bsd choice=Exact ephemeral=49152-65535 connect=75.000s msl=1.000s inuse=e$streams_EADDRINUSE (6066) access=EACCES refused=ECONNREFUSED
        smoltcp bind=Smoltcp choice=FirstCreated ephemeral=49152-65535 connect=75.000s msl=5.000s inuse=EADDRINUSE access=EACCES refused=ECONNREFUSED
        ",
    );
    assert_eq!(lines.join("\n"), expected);
    assert_eq!(Profile::ALL.len(), 13);
    for name in [
        "freebsd",
        "macos",
        "windows-nt4",
        "windows-95",
        "windows-2000",
        "windows-2003",
        "solaris",
        "hpux",
        "stratus-os-tcp",
        "stratus-stcp",
        "smoltcp",
    ] {
        let p = Profile::from_name(name).unwrap_or_else(|| panic!("{name} is not a profile"));
        assert_eq!(p.name(), name);
        assert!(Profile::known_names().contains(name));
    }
    assert_eq!(
        Profile::known_names(),
        "linux, rfc793, freebsd, macos, windows-nt4, windows-95, windows-2000, windows-2003, \
         solaris, hpux, stratus-os-tcp, stratus-stcp, smoltcp"
    );
}

#[test]
fn time_wait_length_per_profile_msl_and_linger() {
    // (profile, msl 30 s, msl 2 min, linger 0, linger 5 s) with msl 30 s for the linger columns.
    let expected = [
        ("linux", 60, 60, 60, 60),
        ("rfc793", 60, 240, 60, 60),
        ("freebsd", 60, 240, 60, 60),
        ("macos", 60, 240, 60, 60),
        ("windows-nt4", 240, 240, 240, 240),
        ("windows-95", 240, 240, 240, 240),
        ("windows-2000", 240, 240, 240, 240),
        ("windows-2003", 120, 120, 120, 120),
        ("solaris", 60, 60, 60, 60),
        ("hpux", 60, 60, 60, 60),
        ("stratus-os-tcp", 60, 60, 60, 60),
        ("stratus-stcp", 2, 2, 0, 5),
        ("smoltcp", 10, 10, 10, 10),
    ];
    for (name, m30, m120, l0, l5) in expected {
        let c = Profile::from_name(name).unwrap().config();
        let s = Duration::from_secs;
        let got = (
            c.time_wait_duration(s(30)),
            c.time_wait_duration(s(120)),
            c.time_wait_for(s(30), Some(0)),
            c.time_wait_for(s(30), Some(5)),
            c.time_wait_for(s(30), None),
        );
        assert_eq!(got, (s(m30), s(m120), s(l0), s(l5), s(m30)), "{name}");
        assert_eq!(c.linger_zero_aborts(), name != "stratus-stcp", "{name}");
    }
    // The profile's own MSL gives the documented TIME-WAIT: FreeBSD 2 × 30 s, macOS 2 × 15 s,
    // the Stratus article's 2 × 30 s and 2 × 1 s.
    for (name, secs) in [
        ("freebsd", 60),
        ("macos", 30),
        ("rfc793", 240),
        ("stratus-os-tcp", 60),
        ("stratus-stcp", 2),
    ] {
        let c = Profile::from_name(name).unwrap().config();
        assert_eq!(
            c.time_wait_duration(c.default_msl),
            Duration::from_secs(secs),
            "{name}"
        );
    }
}

// ------------------------------------------------------------------------------------------
// TIME-WAIT segment policy per profile (a transition table, snapshotted)
// ------------------------------------------------------------------------------------------

/// What a fresh record (RCV.NXT 1000, window 65535, see [`tw_record`]) does with each probe
/// segment under `profile`: `action` plus `+R` when the timer restarted.
fn time_wait_row(profile: Profile) -> String {
    let policy = profile.config().time_wait;
    let tuple = FourTuple::new(sa("10.0.0.1:80"), sa("10.0.0.2:50000"));
    let seg = |seq: u32| SegmentInfo {
        seq: SeqNum(seq),
        ack: Some(SeqNum(5000)),
        syn: false,
        fin: false,
        rst: false,
        payload_len: 0,
        tsval: None,
    };
    let probes: [(&str, SegmentInfo, bool); 11] = [
        (
            "fin",
            SegmentInfo {
                fin: true,
                ..seg(999)
            },
            true,
        ),
        (
            "data",
            SegmentInfo {
                payload_len: 10,
                ..seg(1000)
            },
            true,
        ),
        ("ack-in", seg(1000), true),
        ("old", seg(100), true),
        (
            "rst=",
            SegmentInfo {
                rst: true,
                ack: None,
                ..seg(1000)
            },
            true,
        ),
        (
            "rst~",
            SegmentInfo {
                rst: true,
                ack: None,
                ..seg(1500)
            },
            true,
        ),
        (
            "rst-out",
            SegmentInfo {
                rst: true,
                ack: None,
                ..seg(100)
            },
            true,
        ),
        (
            "syn-in",
            SegmentInfo {
                syn: true,
                ack: None,
                ..seg(2000)
            },
            true,
        ),
        (
            "syn-in-nolisten",
            SegmentInfo {
                syn: true,
                ack: None,
                ..seg(2000)
            },
            false,
        ),
        (
            "syn-beyond",
            SegmentInfo {
                syn: true,
                ack: None,
                ..seg(900_000)
            },
            true,
        ),
        (
            "syn-old",
            SegmentInfo {
                syn: true,
                ack: None,
                ..seg(10)
            },
            true,
        ),
    ];
    let now = Instant::from_micros(5_000_000);
    let cells: Vec<String> = probes
        .iter()
        .map(|(name, s, listener)| {
            let mut r = tw_record(tuple, Instant::ZERO, Duration::from_secs(60));
            let d = r.on_segment(s, now, &policy, *listener);
            let action = match d.action {
                TwAction::Ack => "ack".to_string(),
                TwAction::Drop => "drop".to_string(),
                TwAction::Kill => "kill".to_string(),
                TwAction::RstAndKill => "rst+kill".to_string(),
                TwAction::AcceptSyn { iss: None } => "accept".to_string(),
                TwAction::AcceptSyn { iss: Some(i) } => format!("accept(iss={i})"),
            };
            assert_eq!(
                d.restarted,
                r.expires_at() == now + r.length,
                "{profile:?} {name}"
            );
            format!("{name}={action}{}", if d.restarted { "+R" } else { "" })
        })
        .collect();
    format!("{}: {}", profile.name(), cells.join(" "))
}

#[test]
fn time_wait_policy_per_profile() {
    let got: Vec<String> = Profile::ALL.iter().map(|p| time_wait_row(*p)).collect();
    // RFC 793 p.69–75 for the profiles without a source of their own; FreeBSD tcp_twcheck;
    // XNU tcp_input for macOS; tcp_timewait_state_process for Linux; smoltcp 0.14 as
    // measured. `ack-in`, a bare ACK with SEQ = RCV.NXT: no reply under Linux (rescheduled),
    // FreeBSD and XNU.
    let rfc793 = "fin=ack+R data=ack+R ack-in=ack old=ack rst==kill rst~=kill rst-out=drop \
                  syn-in=rst+kill syn-in-nolisten=rst+kill syn-beyond=ack syn-old=ack";
    let freebsd = "fin=ack+R data=ack ack-in=drop old=ack rst==drop rst~=drop rst-out=drop \
                   syn-in=accept syn-in-nolisten=accept syn-beyond=accept syn-old=drop";
    let xnu = "fin=ack data=rst+kill ack-in=drop old=ack rst==drop rst~=ack rst-out=drop \
               syn-in=ack syn-in-nolisten=ack syn-beyond=accept syn-old=ack";
    let expected: Vec<String> = [
        (
            "linux",
            "fin=ack+R data=ack+R ack-in=drop+R old=ack+R rst==kill rst~=drop rst-out=drop \
             syn-in=accept(iss=70537) syn-in-nolisten=ack syn-beyond=accept(iss=70537) syn-old=ack",
        ),
        ("rfc793", rfc793),
        ("freebsd", freebsd),
        ("macos", xnu),
        ("windows-nt4", rfc793),
        ("windows-95", rfc793),
        ("windows-2000", rfc793),
        ("windows-2003", rfc793),
        ("solaris", rfc793),
        ("hpux", rfc793),
        ("stratus-os-tcp", rfc793),
        ("stratus-stcp", rfc793),
        (
            "smoltcp",
            "fin=ack+R data=ack ack-in=ack old=ack+R rst==kill rst~=kill rst-out=drop \
             syn-in=drop syn-in-nolisten=drop syn-beyond=drop syn-old=drop",
        ),
    ]
    .iter()
    .map(|(n, row)| format!("{n}: {row}"))
    .collect();
    assert_eq!(got.join("\n"), expected.join("\n"));
}

#[test]
fn smoltcp_rate_limits_fin_reacks_but_still_restarts() {
    let tuple = FourTuple::new(sa("10.0.0.1:80"), sa("10.0.0.2:50000"));
    let fin = SegmentInfo {
        seq: SeqNum(999),
        ack: Some(SeqNum(5000)),
        syn: false,
        fin: true,
        rst: false,
        payload_len: 0,
        tsval: None,
    };
    let data = SegmentInfo {
        fin: false,
        payload_len: 5,
        seq: SeqNum(900),
        ..fin
    };
    for (profile, second_fin) in [
        (Profile::Smoltcp, TwAction::Drop),
        (Profile::Linux, TwAction::Ack),
    ] {
        let policy = profile.config().time_wait;
        let mut r = tw_record(tuple, Instant::ZERO, Duration::from_secs(10));
        let t = |ms: u64| Instant::from_micros(ms * 1000);
        assert_eq!(
            r.on_segment(&fin, t(100), &policy, false).action,
            TwAction::Ack
        );
        let d = r.on_segment(&fin, t(600), &policy, false);
        assert_eq!(d.action, second_fin, "{profile:?}");
        assert!(
            d.restarted,
            "{profile:?}: the timer restarts whether or not the ACK goes out"
        );
        assert_eq!(r.expires_at(), t(600) + Duration::from_secs(10));
        // Out-of-window data is never rate-limited.
        assert_eq!(
            r.on_segment(&data, t(700), &policy, false).action,
            TwAction::Ack
        );
        assert_eq!(
            r.on_segment(&fin, t(1_700), &policy, false).action,
            TwAction::Ack
        );
    }
}
