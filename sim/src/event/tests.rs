//! The format reference documents every record type and field; optional fields follow the
//! compatibility rule.

use super::*;
use std::net::SocketAddrV4;
use twsim_model::{Duration, FourTuple, Instant, SeqNum, TcpState};

const DOC: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../docs/trace-format.md"
));

/// One event of every shape, with every optional field present.
fn samples() -> Vec<Event> {
    let a: SocketAddrV4 = "10.0.0.1:40000".parse().unwrap();
    let b: SocketAddrV4 = "10.0.0.2:80".parse().unwrap();
    let t = FourTuple::new(a.into(), b.into());
    let seg = SegFields {
        src: a,
        dst: b,
        flags: "S.".into(),
        seq: SeqNum(1),
        ack: Some(SeqNum(2)),
        len: 0,
        win: 512,
    };
    let at = Instant::from_micros(5);
    let d = Duration::from_micros(7);
    let close = |k| Event::Close(Close::new(k, Some("A".into()), Some(t)));
    vec![
        Event::Run(RunStart {
            scenario: "s".into(),
            variant: Some("v".into()),
            seed: 1,
            version: "0",
            max_lifetime: d,
            hosts: vec![HostInfo {
                name: "h".into(),
                addr: "10.0.0.1".into(),
                os: "linux",
                time_wait: d,
            }],
            routes: vec![RouteInfo {
                name: "r".into(),
                delay_us: Some(1),
                delay: "1us".into(),
                loss: 0.0,
                duplicate: 0.0,
            }],
        }),
        Event::Segment(SegmentEvent::Sent {
            seg: seg.clone(),
            id: 1,
            dup_of: Some(0),
            from: "a".into(),
            to: "b".into(),
            route: "r".into(),
            deliver_at: at,
            fault: Some(0),
        }),
        Event::Segment(SegmentEvent::Dropped {
            seg: seg.clone(),
            id: 1,
            from: "a".into(),
            to: "b".into(),
            reason: "fault",
            route: "r".into(),
            fault: Some(0),
        }),
        Event::Segment(SegmentEvent::Delivered {
            seg,
            id: 1,
            dup_of: Some(0),
            route: "r".into(),
            age: d,
            stale: Some(true),
            incarnation: Some(1),
            outcome: "delivered",
            readable: Some(11),
        }),
        Event::State(StateChange {
            sock: "A".into(),
            tuple: t,
            from: TcpState::Closed,
            to: TcpState::SynSent,
            incarnation: 1,
            iss: Some(SeqNum(7)),
            cause: StateCause::Connect,
        }),
        Event::TimeWait(TimeWaitEvent::Created {
            sock: "A".into(),
            tuple: t,
            incarnation: 1,
            snd_nxt: SeqNum(1),
            rcv_nxt: SeqNum(2),
            rcv_wnd: 3,
            expires_at: at,
            length: d,
        }),
        Event::TimeWait(TimeWaitEvent::Segment {
            tuple: t,
            flags: ".".into(),
            seq: SeqNum(1),
            action: "ack",
            restarted: false,
            expires_at_us: Some(1),
            rule: "r",
        }),
        Event::TimeWait(TimeWaitEvent::Returned {
            tuple: t,
            incarnation: 1,
            entered_at: at,
            expires_at: at,
            rule: "r",
        }),
        Event::TimeWait(TimeWaitEvent::Skipped {
            tuple: t,
            rule: "r",
        }),
        Event::TimeWait(TimeWaitEvent::Ended(TimeWaitEnd {
            event: "expired",
            sock: "A".into(),
            tuple: t,
            incarnation: 1,
            entered_at: at,
            lived: d,
            restarts: 0,
        })),
        Event::NoSocket(NoSocket {
            tuple: t.to_string(),
            flags: "R".into(),
            why: "w".into(),
            rule: "r",
            local: b,
        }),
        close(CloseKind::Listener),
        close(CloseKind::LingerZero),
        Event::Drop(HostDrop {
            reason: "listen queue full",
            tuple: Some(t),
        }),
        Event::Call(CallDone {
            step: 0,
            proc: "main".into(),
            call: "close(A)".into(),
            started_at: at,
            result: "ok",
            detail: Some("x".into()),
            shown: "ok".into(),
            expect: Some("ok"),
            met: Some(true),
            expect_shown: Some("ok".into()),
            note: Some("n".into()),
            reference: None,
        }),
        Event::End(RunEnd {
            steps: 1,
            unreached: 0,
            segments: 2,
            aborted: Some("x".into()),
        }),
        Event::Hazard(Hazard {
            tuple: t,
            incarnation: 2,
            what: HazardKind::OldDuplicateDelivered {
                from_incarnation: 1,
                bytes: 11,
                offset: 0,
            },
        }),
        Event::Hazard(Hazard {
            tuple: t,
            incarnation: 2,
            what: HazardKind::AckWar {
                acks: 10,
                since: at,
            },
        }),
        Event::Hazard(Hazard {
            tuple: t,
            incarnation: 2,
            what: HazardKind::AckWarEnd {
                acks: 12,
                duration: Duration::from_millis(5),
            },
        }),
        Event::Hazard(Hazard {
            tuple: t,
            incarnation: 2,
            what: HazardKind::H3Reset,
        }),
        Event::Error(Internal {
            what: "w",
            tuple: t,
        }),
    ]
}

/// The part of the format reference under the heading of record type `kind`.
fn section(kind: &str) -> &'static str {
    let head = format!("## `{kind}`");
    let start = DOC
        .find(&head)
        .unwrap_or_else(|| panic!("docs/trace-format.md has no section {head}"));
    let rest = &DOC[start + head.len()..];
    &rest[..rest.find("\n## ").unwrap_or(rest.len())]
}

#[test]
fn every_record_type_and_field_is_documented() {
    let samples = samples();
    for kind in TRACE_TYPES {
        assert!(
            samples.iter().any(|e| e.kind() == Some(kind)),
            "no sample of {kind}"
        );
    }
    // Both ways: every documented record type is one the simulator produces.
    let documented: Vec<&str> = DOC
        .lines()
        .filter_map(|l| l.strip_prefix("## `"))
        .filter_map(|l| l.split('`').next())
        .collect();
    for kind in &documented {
        assert!(
            TRACE_TYPES.contains(kind),
            "docs/trace-format.md documents `{kind}`, which no Event produces"
        );
    }
    for e in &samples {
        let kind = e.kind().expect("trace record");
        assert!(
            TRACE_TYPES.contains(&kind),
            "{kind} is missing from TRACE_TYPES"
        );
        let sec = section(kind);
        let data = e.data().expect("trace record");
        let obj = data.as_object().expect("data is an object");
        for (key, value) in obj {
            assert!(
                sec.contains(&format!("`{key}`")) || sec.contains(&format!("`{key}[]`")),
                "docs/trace-format.md, section `{kind}`: field `{key}` is not documented"
            );
            if key == "event" {
                let v = value.as_str().expect("event is a string");
                assert!(
                    sec.contains(&format!("`{v}`")),
                    "docs/trace-format.md, section `{kind}`: event `{v}` is not documented"
                );
            }
            for nested in value.as_array().into_iter().flatten() {
                for k in nested.as_object().into_iter().flat_map(|o| o.keys()) {
                    assert!(
                        sec.contains(&format!("`{k}`")),
                        "docs/trace-format.md, section `{kind}`: field `{key}[].{k}` is not documented"
                    );
                }
            }
        }
        assert!(!e.text().is_empty() || matches!(e, Event::Run(_) | Event::End(_)));
    }
}

#[test]
fn optional_fields_are_null_except_in_close_and_drop() {
    let listener = Event::Close(Close::new(CloseKind::Listener, Some("L".into()), None));
    let data = listener.data().unwrap();
    assert_eq!(data, serde_json::json!({"sock": "L", "what": "listener"}));
    let end = Event::End(RunEnd {
        steps: 0,
        unreached: 0,
        segments: 0,
        aborted: None,
    });
    assert!(end.data().unwrap()["aborted"].is_null());
    assert!(Event::Stopped { call: "x".into() }.data().is_none());
}
