use super::*;
use crate::profile::Profile;

fn record() -> TimeWaitRecord {
    let r = TimeWaitRecord::new(
        FourTuple::new(
            "10.0.0.1:40000".parse().unwrap(),
            "10.0.0.2:80".parse().unwrap(),
        ),
        1,
        SeqNum(1000),
        SeqNum(5000),
        4096,
        Instant::from_micros(0),
        Duration::from_secs(60),
    );
    assert_eq!(r.expires_at(), Instant::from_micros(60_000_000));
    r
}

fn seg(seq: u32) -> SegmentInfo {
    SegmentInfo {
        seq: SeqNum(seq),
        ack: Some(SeqNum(1000)),
        syn: false,
        fin: false,
        rst: false,
        payload_len: 0,
        tsval: None,
    }
}

#[test]
fn retransmitted_fin_is_acked_and_restarts_under_default_policies() {
    for p in [Profile::Linux, Profile::Rfc793] {
        let mut r = record();
        let fin = SegmentInfo {
            fin: true,
            ..seg(4999)
        };
        let now = Instant::from_micros(10_000_000);
        let d = r.on_segment(&fin, now, &p.config().time_wait, false);
        assert_eq!(d.action, TwAction::Ack, "{p:?}");
        assert!(d.restarted);
        assert_eq!(r.expires_at(), now + Duration::from_secs(60));
        assert_eq!(r.restarts(), 1);
    }
}

#[test]
fn literal_reading_acks_retransmitted_fin_without_restart() {
    let mut r = record();
    let mut policy = Profile::Rfc793.config().time_wait;
    policy.restart = TimerRestart::Literal;
    let fin = SegmentInfo {
        fin: true,
        ..seg(4999)
    };
    let d = r.on_segment(&fin, Instant::from_micros(1), &policy, false);
    assert_eq!(d.action, TwAction::Ack);
    assert!(!d.restarted);
    assert_eq!(r.expires_at(), Instant::from_micros(60_000_000));
}

#[test]
fn rst_rules_differ_per_policy() {
    let rst = |s| SegmentInfo {
        rst: true,
        ack: None,
        ..seg(s)
    };
    let now = Instant::from_micros(1);
    let linux = Profile::Linux.config().time_wait;
    let rfc793 = Profile::Rfc793.config().time_wait;
    assert_eq!(
        record().on_segment(&rst(5000), now, &linux, false).action,
        TwAction::Kill
    );
    assert_eq!(
        record().on_segment(&rst(5001), now, &linux, false).action,
        TwAction::Drop
    );
    assert_eq!(
        record().on_segment(&rst(5001), now, &rfc793, false).action,
        TwAction::Kill
    );
    assert_eq!(
        record().on_segment(&rst(4000), now, &rfc793, false).action,
        TwAction::Drop
    );
    let rfc1337 = TimeWaitPolicy {
        rst: RstInTimeWait::Ignore,
        ..rfc793
    };
    assert_eq!(
        record().on_segment(&rst(5000), now, &rfc1337, false).action,
        TwAction::Drop
    );
}

#[test]
fn linux_syn_reopens_only_with_listener_and_newer_seq() {
    let syn = |s| SegmentInfo {
        syn: true,
        ack: None,
        ..seg(s)
    };
    let now = Instant::from_micros(1);
    let linux = Profile::Linux.config().time_wait;
    assert_eq!(
        record().on_segment(&syn(6000), now, &linux, true).action,
        TwAction::AcceptSyn {
            iss: Some(SeqNum(1000 + 65537))
        }
    );
    assert_eq!(
        record().on_segment(&syn(6000), now, &linux, false).action,
        TwAction::Ack
    );
    assert_eq!(
        record().on_segment(&syn(10), now, &linux, true).action,
        TwAction::Ack
    );
}

#[test]
fn rfc793_in_window_syn_is_answered_with_reset() {
    let syn = |s| SegmentInfo {
        syn: true,
        ack: None,
        ..seg(s)
    };
    let rfc793 = Profile::Rfc793.config().time_wait;
    let now = Instant::from_micros(1);
    assert_eq!(
        record().on_segment(&syn(5100), now, &rfc793, true).action,
        TwAction::RstAndKill
    );
    assert_eq!(
        record().on_segment(&syn(10), now, &rfc793, true).action,
        TwAction::Ack
    );
}

#[test]
fn linux_rate_limits_pure_acks_but_not_fins() {
    let linux = Profile::Linux.config().time_wait;
    let mut r = record();
    let t0 = Instant::from_micros(1_000);
    assert_eq!(
        r.on_segment(&seg(1), t0, &linux, false).action,
        TwAction::Ack
    );
    assert_eq!(
        r.on_segment(&seg(1), t0 + Duration::from_millis(100), &linux, false)
            .action,
        TwAction::Drop
    );
    let fin = SegmentInfo {
        fin: true,
        ..seg(4999)
    };
    assert_eq!(
        r.on_segment(&fin, t0 + Duration::from_millis(200), &linux, false)
            .action,
        TwAction::Ack
    );
    assert_eq!(
        r.on_segment(&seg(1), t0 + Duration::from_millis(600), &linux, false)
            .action,
        TwAction::Ack
    );
}

#[test]
fn window_test_wraps_around() {
    let mut r = record();
    r.rcv_nxt = SeqNum(u32::MAX - 1);
    assert!(r.acceptable(&seg(u32::MAX)));
    assert!(r.acceptable(&seg(3)));
    assert!(!r.acceptable(&seg(u32::MAX - 2)));
    let syn = SegmentInfo {
        syn: true,
        ack: None,
        ..seg(3)
    };
    let linux = Profile::Linux.config().time_wait;
    assert_eq!(
        r.clone()
            .on_segment(&syn, Instant::from_micros(1), &linux, true)
            .action,
        TwAction::AcceptSyn {
            iss: Some(SeqNum(1000 + 65537))
        },
        "SEQ 3 is after RCV.NXT 2³²−2"
    );
}
