//! The TIME-WAIT decision table: every policy × every kind of segment → what the record does.
//!
//! time-wait.md gives the table by hand; [`render`] computes it from the code, so a snapshot of
//! its output in the repository (`model/tests/snapshots/time_wait_decisions.md`) shows every
//! behaviour change as a diff (s2n-quic style). Each cell is the action, `+R` when the timer
//! restarts, and the rule applied is listed per row below the table.

use crate::addr::FourTuple;
use crate::profile::{Profile, SynFinRule};
use crate::seq::{SeqNum, TsVal};
use crate::time::{Duration, Instant};
use crate::time_wait::{
    RstInTimeWait, SegmentInfo, SynInTimeWait, TimeWaitPolicy, TimeWaitRecord, TwAction, TwDecision,
};

/// RCV.NXT of the probe record.
pub const RCV_NXT: SeqNum = SeqNum(5_000);
/// SND.NXT of the probe record.
pub const SND_NXT: SeqNum = SeqNum(1_000);
/// RCV.WND of the probe record.
pub const RCV_WND: u32 = 4_096;
/// TS.Recent of the probe record in the timestamp rows.
pub const TS_RECENT: TsVal = TsVal(777);

/// One kind of incoming segment (a row of the table).
#[derive(Clone, Copy, Debug)]
pub struct Row {
    /// Row id as in time-wait.md (`1`, `4a`, `5-listener` …).
    pub id: &'static str,
    /// What the row is.
    pub what: &'static str,
    /// The segment.
    pub seg: SegmentInfo,
    /// Whether the record used timestamps (TS.Recent = [`TS_RECENT`]).
    pub timestamps: bool,
    /// Whether a listener exists for the local endpoint.
    pub listener: bool,
}

/// A named policy (a column).
#[derive(Clone, Copy, Debug)]
pub struct Column {
    /// Column name.
    pub name: &'static str,
    /// The policy.
    pub policy: TimeWaitPolicy,
    /// The host's SYN+FIN rule, applied before the record sees the segment.
    pub syn_fin: SynFinRule,
}

fn seg(seq: u32, payload_len: u32) -> SegmentInfo {
    SegmentInfo {
        seq: SeqNum(seq),
        ack: Some(SND_NXT),
        syn: false,
        fin: false,
        rst: false,
        payload_len,
        tsval: None,
    }
}

fn syn(seq: u32, tsval: Option<u32>) -> SegmentInfo {
    SegmentInfo {
        seq: SeqNum(seq),
        ack: None,
        syn: true,
        fin: false,
        rst: false,
        payload_len: 0,
        tsval: tsval.map(TsVal),
    }
}

fn rst(seq: u32) -> SegmentInfo {
    SegmentInfo {
        seq: SeqNum(seq),
        ack: None,
        syn: false,
        fin: false,
        rst: true,
        payload_len: 0,
        tsval: None,
    }
}

/// The rows: time-wait.md's table, SYN rows with and without a listener.
pub fn rows() -> Vec<Row> {
    let r = |id, what, seg, timestamps, listener| Row {
        id,
        what,
        seg,
        timestamps,
        listener,
    };
    let mut v = vec![
        r("1", "in-window data", seg(RCV_NXT.0, 100), false, false),
        r(
            "2",
            "retransmitted FIN",
            SegmentInfo {
                fin: true,
                ..seg(RCV_NXT.0 - 1, 0)
            },
            false,
            false,
        ),
        r(
            "3",
            "out-of-window old duplicate (data)",
            seg(RCV_NXT.0 - 2_000, 100),
            false,
            false,
        ),
        r(
            "3b",
            "out-of-window old duplicate (bare ACK)",
            seg(RCV_NXT.0 - 2_000, 0),
            false,
            false,
        ),
        r(
            "3c",
            "exact duplicate ACK (SEQ = RCV.NXT, ACK = SND.NXT, no data)",
            seg(RCV_NXT.0, 0),
            false,
            false,
        ),
        r(
            "3d",
            "bare ACK in window, SEQ > RCV.NXT",
            seg(RCV_NXT.0 + 100, 0),
            false,
            false,
        ),
        r(
            "1n",
            "in-window data without ACK",
            SegmentInfo {
                ack: None,
                ..seg(RCV_NXT.0, 100)
            },
            false,
            false,
        ),
        r(
            "2n",
            "retransmitted FIN without ACK",
            SegmentInfo {
                ack: None,
                fin: true,
                ..seg(RCV_NXT.0 - 1, 0)
            },
            false,
            false,
        ),
        r(
            "3n",
            "exact duplicate without ACK (no flags, SEQ = RCV.NXT)",
            SegmentInfo {
                ack: None,
                ..seg(RCV_NXT.0, 0)
            },
            false,
            false,
        ),
        r(
            "10",
            "SYN+FIN, SEQ > RCV.NXT (in window), no timestamps",
            SegmentInfo {
                fin: true,
                ..syn(RCV_NXT.0 + 100, None)
            },
            false,
            true,
        ),
        r(
            "10'",
            "SYN+FIN, SEQ > RCV.NXT (beyond the window), no timestamps",
            SegmentInfo {
                fin: true,
                ..syn(RCV_NXT.0 + 1_000_000, None)
            },
            false,
            true,
        ),
        r("4a", "RST with SEQ = RCV.NXT", rst(RCV_NXT.0), false, false),
        r(
            "4b",
            "RST in window, SEQ != RCV.NXT",
            rst(RCV_NXT.0 + 100),
            false,
            false,
        ),
        r(
            "4c",
            "RST out of window",
            rst(RCV_NXT.0 + 1_000_000),
            false,
            false,
        ),
    ];
    for listener in [true, false] {
        let l = |a: &'static str, b: &'static str| if listener { a } else { b };
        v.extend([
            r(
                l("5", "5-nl"),
                "SYN, SEQ > RCV.NXT (in window), no timestamps",
                syn(RCV_NXT.0 + 100, None),
                false,
                listener,
            ),
            r(
                l("5'", "5'-nl"),
                "SYN, SEQ > RCV.NXT (beyond the window), no timestamps",
                syn(RCV_NXT.0 + 1_000_000, None),
                false,
                listener,
            ),
            r(
                l("6", "6-nl"),
                "SYN, SEQ <= RCV.NXT, no timestamps",
                syn(RCV_NXT.0 - 2_000, None),
                false,
                listener,
            ),
            r(
                l("7", "7-nl"),
                "SYN, TSval > TS.Recent (SEQ <= RCV.NXT)",
                syn(RCV_NXT.0 - 2_000, Some(TS_RECENT.0 + 5)),
                true,
                listener,
            ),
            r(
                l("8", "8-nl"),
                "SYN, TSval = TS.Recent, SEQ > RCV.NXT",
                syn(RCV_NXT.0 + 100, Some(TS_RECENT.0)),
                true,
                listener,
            ),
            r(
                l("8'", "8'-nl"),
                "SYN, TSval = TS.Recent, SEQ <= RCV.NXT",
                syn(RCV_NXT.0 - 2_000, Some(TS_RECENT.0)),
                true,
                listener,
            ),
            r(
                l("9", "9-nl"),
                "SYN, TSval < TS.Recent (SEQ > RCV.NXT)",
                syn(RCV_NXT.0 + 100, Some(TS_RECENT.0 - 5)),
                true,
                listener,
            ),
        ]);
    }
    v
}

/// The columns: the policies of time-wait.md, then every profile's own.
pub fn columns() -> Vec<Column> {
    let base = Profile::Rfc793.config().time_wait;
    let linux = Profile::Linux.config().time_wait;
    let c = |name, policy| Column {
        name,
        policy,
        syn_fin: SynFinRule::AsSyn,
    };
    let mut v = vec![
        c("rfc793", base),
        c(
            "rfc1337",
            TimeWaitPolicy {
                rst: RstInTimeWait::Ignore,
                ..base
            },
        ),
        c(
            "rfc1122",
            TimeWaitPolicy {
                syn: SynInTimeWait::Rfc1122,
                ..base
            },
        ),
        c(
            "rfc6191",
            TimeWaitPolicy {
                syn: SynInTimeWait::Rfc6191,
                ..base
            },
        ),
        c(
            "rfc5961",
            TimeWaitPolicy {
                rst: RstInTimeWait::ChallengeAck,
                ..base
            },
        ),
        c(
            "linux-rfc1337",
            TimeWaitPolicy {
                rst: RstInTimeWait::Ignore,
                ..linux
            },
        ),
    ];
    v.last_mut().expect("six columns").syn_fin = Profile::Linux.config().syn_fin;
    for p in Profile::ALL {
        let cfg = p.config();
        v.push(Column {
            name: p.name(),
            policy: cfg.time_wait,
            syn_fin: cfg.syn_fin,
        });
    }
    v
}

/// Feeds `row` to a fresh probe record under `column`'s policy, after the column's SYN+FIN
/// rule ([`SynFinRule::apply`]): a SYN+FIN the host drops never reaches the record, and one
/// that reopens the record under [`SynFinRule::DiscardAtListener`] shows as `KILL` (the record
/// is gone, the listener discards the segment, nothing is sent).
pub fn decide(column: &Column, row: &Row) -> TwDecision {
    let Some(seg) = column.syn_fin.apply(&row.seg) else {
        return TwDecision {
            action: TwAction::Drop,
            restarted: false,
            rule: "tcp_input (XNU) 2237: \"Drop all packets with both the SYN and FIN bits set\", before any lookup",
        };
    };
    let d = decide_segment(&column.policy, &Row { seg, ..*row });
    if column.syn_fin == SynFinRule::DiscardAtListener
        && seg.syn
        && seg.fin
        && matches!(d.action, TwAction::AcceptSyn { .. })
    {
        return TwDecision {
            action: TwAction::Kill,
            restarted: false,
            rule: "tcp_v4_rcv: TCP_TW_SYN with a listener deschedules the record; tcp_rcv_state_process (LISTEN) discards a SYN with FIN: no reply",
        };
    }
    d
}

/// Feeds `row` to a fresh probe record under `policy` (no SYN+FIN rule).
pub fn decide_segment(policy: &TimeWaitPolicy, row: &Row) -> TwDecision {
    let mut r = TimeWaitRecord::new(
        FourTuple::new(
            "10.0.0.1:40000".parse().expect("literal"),
            "10.0.0.2:80".parse().expect("literal"),
        ),
        1,
        SND_NXT,
        RCV_NXT,
        RCV_WND,
        Instant::ZERO,
        Duration::from_secs(60),
    )
    .with_ts_recent(row.timestamps.then_some(TS_RECENT));
    r.on_segment(
        &row.seg,
        Instant::from_micros(1_000_000),
        policy,
        row.listener,
    )
}

/// The short form of a decision used in the table: `ACK`, `ACK +R`, `drop`, `KILL`,
/// `RST+KILL`, `ACCEPT`, `ACCEPT iss=…`.
pub fn cell(d: &TwDecision) -> String {
    let a = match d.action {
        TwAction::Ack => "ACK".to_string(),
        TwAction::Drop => "drop".to_string(),
        TwAction::Kill => "KILL".to_string(),
        TwAction::RstAndKill => "RST+KILL".to_string(),
        TwAction::AcceptSyn { iss: None } => "ACCEPT".to_string(),
        TwAction::AcceptSyn { iss: Some(i) } => format!("ACCEPT iss={i}"),
    };
    if d.restarted {
        format!("{a} +R")
    } else {
        a
    }
}

/// The whole table as Markdown: one row per segment kind, one column per policy, then the
/// rule each policy applied per row.
pub fn render() -> String {
    let cols = columns();
    let rows = rows();
    let mut s = String::new();
    s.push_str(&format!(
        "# TIME-WAIT decisions (RCV.NXT {RCV_NXT}, SND.NXT {SND_NXT}, RCV.WND {RCV_WND}, TS.Recent {TS_RECENT} in rows 7-9)\n\n"
    ));
    s.push_str("Generated by `twsim_model::decision_table::render`; `-nl`: no listener. `+R`: the timer restarts. Rows 10 apply the column's SYN+FIN rule first.\n\n");
    s.push_str("| row | segment |");
    for c in &cols {
        s.push_str(&format!(" {} |", c.name));
    }
    s.push_str("\n| --- | --- |");
    for _ in &cols {
        s.push_str(" --- |");
    }
    s.push('\n');
    for r in &rows {
        s.push_str(&format!("| {} | {} |", r.id, r.what));
        for c in &cols {
            s.push_str(&format!(" {} |", cell(&decide(c, r))));
        }
        s.push('\n');
    }
    s.push_str("\n## Rules applied\n");
    for c in &cols {
        s.push_str(&format!("\n### {}\n\n", c.name));
        for r in &rows {
            s.push_str(&format!("- {}: {}\n", r.id, decide(c, r).rule));
        }
    }
    s
}
