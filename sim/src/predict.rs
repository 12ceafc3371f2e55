//! The real-kernel TIME-WAIT probes, described: the six cases (a SYN from the old client port
//! and RSTs at SEQ = RCV.NXT and RCV.NXT + 100, with and without a listener), what a probe
//! led to, and what the model's `linux` TIME-WAIT policy predicts for each under
//! `tcp_rfc1337` = 0 and 1 ([`predict_linux`]). The experiment itself, on this machine's
//! kernel in a private network namespace, is `twsim_kernel::time_wait::observe_kernel`; this
//! module holds what is portable, so the prediction is built and tested on any OS.
//!
//! Read first: `time-wait.md` (rows 4a, 4b, 5 and 6 of the decision table, and "Observed on a
//! real Linux 6.18 kernel"), `bind-rules.md` (cases B-SYN, B-RST, B-RST'), and in the kernel
//! `tcp_timewait_state_process` (net/ipv4/tcp_minisocks.c), `tcp_v4_rcv` with its
//! `TCP_TW_SYN` / `TCP_TW_ACK` / `TCP_TW_RST` dispatch and `tcp_v4_timewait_ack`
//! (net/ipv4/tcp_ipv4.c), and `tcp_rcv_synsent_state_process` (net/ipv4/tcp_input.c).
//!
//! # The prediction ([`predict_linux`])
//! A [`TimeWaitRecord`] with the `linux` profile's policy (`RstInTimeWait::Ignore` for
//! `tcp_rfc1337` = 1, as the `linux-rfc1337` column of the model's decision table) is fed the
//! same probes through [`TimeWaitRecord::on_segment`]. A SYN's [`TwAction::Ack`] reaches the
//! client in SYN-SENT as an unacceptable ACK; the client answers `<SEQ=SEG.ACK><CTL=RST>` and,
//! if nothing was retransmitted yet, retransmits its SYN after `TCP_TIMEOUT_MIN`
//! (`tcp_rcv_synsent_state_process`, `reset_and_undo`); that RST is fed back to the record
//! (`time-wait.md` rows 5/6: ACK → peer RST → KILL). A retransmitted SYN that finds no record
//! goes to the listener, or, without one, is answered with RST (`tcp_v4_send_reset`):
//! ECONNREFUSED. A record that survives every SYN before the deadline leaves the connect
//! timed out.
//!
//! # What is compared
//! The case, the setting, the listener, the probe, the connect result, whether the TIME-WAIT
//! survived, and for a reopened TIME-WAIT the new ISS relative to the old SND.NXT. How many
//! SYNs the TIME-WAIT answered with an ACK is reported in the evidence but not compared: for a
//! SYN above RCV.NXT without a listener, `tcp_v4_rcv` falls through from `TCP_TW_SYN` to
//! `tcp_v4_timewait_ack` without `tcp_timewait_check_oow_rate_limit`, so the kernel ACKs
//! every such SYN, while the model rate-limits them (`tcp_invalid_ratelimit`); under
//! `tcp_rfc1337` = 1 the kernel answers 3 of 3 SYNs in [`CONNECT_DEADLINE`], the model 2 of 3.
//! The connect result and the TIME-WAIT's fate are the same either way.

use std::fmt;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use twsim_model::time_wait::{RstInTimeWait, TimeWaitPolicy};
use twsim_model::{
    Duration, FourTuple, Instant, Profile, SegmentInfo, SeqNum, TimeWaitRecord, TsVal, TwAction,
};

/// The server's address: the TIME-WAIT's local address.
pub const SERVER: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 2);
/// The client's address: the TIME-WAIT's remote address.
pub const CLIENT: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 3);
/// How long the SYN probe's connect waits. Long enough for the ≈10 ms refusal of B-RST and
/// for a SYN retransmitted after the initial RTO (1 s), far below the `linux` profile's 127 s.
pub const CONNECT_DEADLINE: Duration = Duration::from_millis(1500);
/// The in-window but inexact RST (row 4b) has SEQ = RCV.NXT + this.
pub const RST_OFFSET: u32 = 100;
/// Server port of case 0; case `k` uses this + `k` ([`endpoints`]).
pub const SERVER_PORT_BASE: u16 = 8000;
/// Client port of case 0; case `k` uses this + `k` ([`endpoints`]).
pub const CLIENT_PORT_BASE: u16 = 40000;

/// What is sent at the TIME-WAIT.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TwProbe {
    /// A new connect from the old client port: a SYN on the TIME-WAIT's 4-tuple
    /// (`time-wait.md` row 5; `tcp_timewait_state_process` → `TCP_TW_SYN` or `TCP_TW_ACK`).
    Syn,
    /// A bare RST with SEQ = RCV.NXT + `offset` (rows 4a and 4b).
    Rst {
        /// Distance of SEG.SEQ from the TIME-WAIT's RCV.NXT.
        offset: u32,
    },
}

/// The cases, in the order `twsim_kernel::time_wait::observe_kernel` and [`predict_linux`]
/// report them: `(listener on the server port, probe)`.
pub const PROBES: [(bool, TwProbe); 6] = [
    (true, TwProbe::Syn),
    (true, TwProbe::Rst { offset: 0 }),
    (true, TwProbe::Rst { offset: RST_OFFSET }),
    (false, TwProbe::Syn),
    (false, TwProbe::Rst { offset: 0 }),
    (false, TwProbe::Rst { offset: RST_OFFSET }),
];

/// What a probe led to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TwOutcome {
    /// The connect succeeded: the SYN opened a new incarnation (`TCP_TW_SYN` and a listener
    /// in `tcp_v4_rcv`).
    Accepted,
    /// The connect failed with ECONNREFUSED (an RST answered a SYN).
    Refused,
    /// The connect did not complete before [`CONNECT_DEADLINE`].
    TimedOut,
    /// The connect failed with another errno (Linux number).
    ConnectError(i32),
    /// The TIME-WAIT entry of the 4-tuple exists after the probe.
    TimeWaitKept,
    /// The TIME-WAIT entry of the 4-tuple is gone after the probe.
    TimeWaitGone,
}

impl TwOutcome {
    /// [`TwOutcome::TimeWaitKept`] if `kept`, else [`TwOutcome::TimeWaitGone`].
    pub fn time_wait(kept: bool) -> TwOutcome {
        if kept {
            TwOutcome::TimeWaitKept
        } else {
            TwOutcome::TimeWaitGone
        }
    }
}

impl fmt::Display for TwOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TwOutcome::Accepted => f.write_str("accepted"),
            TwOutcome::Refused => f.write_str("ECONNREFUSED"),
            TwOutcome::TimedOut => f.write_str("timed out"),
            TwOutcome::ConnectError(e) => {
                write!(f, "error: {}", std::io::Error::from_raw_os_error(*e))
            }
            TwOutcome::TimeWaitKept => f.write_str("TIME-WAIT kept"),
            TwOutcome::TimeWaitGone => f.write_str("TIME-WAIT gone"),
        }
    }
}

/// One case: what the kernel did, or what the model says it does.
///
/// Equality compares every field except [`TwObservation::evidence`], which records how the
/// result came about (captured segments, or the model's rules) and naturally differs between
/// the kernel and the model.
#[derive(Clone, Debug)]
pub struct TwObservation {
    /// Short name: `B-SYN`, `B-RST`, `B-RST'` (bind-rules.md), `4a`, `4b` (time-wait.md rows).
    pub case: String,
    /// `tcp_rfc1337` (1 = RSTs in TIME-WAIT are ignored).
    pub rfc1337: bool,
    /// Whether a listener was on the server port during the probe.
    pub listener: bool,
    /// What was sent.
    pub probe: TwProbe,
    /// The probe's visible result: for a SYN the connect result, for an RST (which gets no
    /// answer either way) what became of the TIME-WAIT.
    pub kernel: TwOutcome,
    /// [`TwOutcome::TimeWaitKept`] or [`TwOutcome::TimeWaitGone`] after the probe.
    pub time_wait: TwOutcome,
    /// For an accepted SYN that reopened the TIME-WAIT: the new incarnation's ISS minus the
    /// TIME-WAIT's SND.NXT (Linux: 65537, `tcp_timewait_state_process` "tw_snd_nxt + 65535 + 2").
    pub iss_offset: Option<u32>,
    /// How it came about: segments seen on `lo` (sequence numbers relative to the TIME-WAIT's
    /// RCV.NXT and SND.NXT), or the model's decisions with their rules. Not compared.
    pub evidence: Vec<String>,
}

impl PartialEq for TwObservation {
    fn eq(&self, o: &Self) -> bool {
        (
            &self.case,
            self.rfc1337,
            self.listener,
            self.probe,
            self.kernel,
            self.time_wait,
            self.iss_offset,
        ) == (
            &o.case,
            o.rfc1337,
            o.listener,
            o.probe,
            o.kernel,
            o.time_wait,
            o.iss_offset,
        )
    }
}

impl Eq for TwObservation {}

/// The case name of a probe: `bind-rules.md` names for SYNs, `time-wait.md` rows for RSTs.
pub fn case_name(listener: bool, probe: TwProbe, rfc1337: bool) -> String {
    match (probe, listener, rfc1337) {
        (TwProbe::Syn, true, _) => "B-SYN".into(),
        (TwProbe::Syn, false, false) => "B-RST".into(),
        (TwProbe::Syn, false, true) => "B-RST'".into(),
        (TwProbe::Rst { offset: 0 }, _, _) => "4a".into(),
        (TwProbe::Rst { .. }, _, _) => "4b".into(),
    }
}

fn probe_name(p: TwProbe) -> String {
    match p {
        TwProbe::Syn => "SYN from the old client port".into(),
        TwProbe::Rst { offset: 0 } => "RST SEQ=RCV.NXT".into(),
        TwProbe::Rst { offset } => format!("RST SEQ=RCV.NXT+{offset}"),
    }
}

/// The server and client endpoints of case `k` (each case has ports of its own).
pub fn endpoints(k: usize) -> (SocketAddrV4, SocketAddrV4) {
    let k = u16::try_from(k).unwrap_or(0);
    (
        SocketAddrV4::new(SERVER, SERVER_PORT_BASE + k),
        SocketAddrV4::new(CLIENT, CLIENT_PORT_BASE + k),
    )
}

/// Renders observations as a table, one row per case, each followed by its evidence.
pub fn render_table(title: &str, obs: &[TwObservation]) -> String {
    let mut s = format!(
        "{title}\n{:<7} {:<8} {:<29} {:<16} {:<15} {}\n",
        "case", "listener", "probe", "result", "TIME-WAIT", "ISS-SND.NXT"
    );
    for o in obs {
        s.push_str(&format!(
            "{:<7} {:<8} {:<29} {:<16} {:<15} {}\n",
            o.case,
            if o.listener { "yes" } else { "no" },
            probe_name(o.probe),
            o.kernel.to_string(),
            o.time_wait.to_string(),
            o.iss_offset.map_or("-".to_string(), |d| d.to_string()),
        ));
        for e in &o.evidence {
            s.push_str(&format!("        | {e}\n"));
        }
    }
    s
}

/// RCV.NXT of the model's record. The record's numbers are arbitrary except for how the
/// probes relate to them.
const MODEL_RCV_NXT: u32 = 1_000_002;
/// SND.NXT of the model's record.
const MODEL_SND_NXT: u32 = 7_000_002;
/// RCV.WND of the model's record: the 64 KiB a loopback connection advertises.
const MODEL_RCV_WND: u32 = 65_536;
/// TS.Recent of the model's record: Linux uses timestamps by default (`tcp_timestamps` = 1).
const MODEL_TS_RECENT: u32 = 500_000;
/// How far above RCV.NXT the new SYN's SEQ is: Linux's ISN (`secure_tcp_seq`, RFC 6528) is a
/// hash of the 4-tuple, the same for both connections, plus ns >> 6, which grows by ≈15 625
/// per millisecond; the new connect comes at least a millisecond after the old FIN.
const MODEL_SYN_ADVANCE: u32 = 15_625;
/// When the probe reaches the record, after the record was created.
const MODEL_PROBE_AT: Duration = Duration::from_millis(10);
/// A client in SYN-SENT that got an unacceptable ACK before any retransmission retransmits
/// its SYN after `TCP_TIMEOUT_MIN` (2 jiffies, 8 ms at HZ = 250), here rounded up to a poll
/// slice (`tcp_rcv_synsent_state_process`).
const TCP_TIMEOUT_MIN: Duration = Duration::from_millis(10);
/// The SYN retransmission timeout: `TCP_TIMEOUT_INIT` = 1 s, kept linear for the first
/// `tcp_syn_linear_timeouts` = 4 retransmissions (`tcp_retransmit_timer`, Linux 6.5+). With
/// exponential backoff the next SYN would come later still, beyond [`CONNECT_DEADLINE`].
const TCP_TIMEOUT_INIT: Duration = Duration::from_secs(1);

/// What the model says the kernel does in each case of [`PROBES`] with `tcp_rfc1337` =
/// `rfc1337`, derived from the `linux` profile's TIME-WAIT policy through
/// [`TimeWaitRecord::on_segment`] (see the module docs); `RstInTimeWait::Ignore` stands for
/// `tcp_rfc1337` = 1.
pub fn predict_linux(rfc1337: bool) -> Vec<TwObservation> {
    let cfg = Profile::Linux.config();
    let mut policy = cfg.time_wait;
    if rfc1337 {
        policy.rst = RstInTimeWait::Ignore;
    }
    let length = cfg.time_wait_duration(cfg.default_msl);
    PROBES
        .iter()
        .enumerate()
        .map(|(k, &(listener, probe))| {
            let (server, client) = endpoints(k);
            let record = TimeWaitRecord::new(
                FourTuple::new(SocketAddr::V4(server), SocketAddr::V4(client)),
                1,
                SeqNum(MODEL_SND_NXT),
                SeqNum(MODEL_RCV_NXT),
                MODEL_RCV_WND,
                Instant::ZERO,
                length,
            )
            .with_ts_recent(Some(TsVal(MODEL_TS_RECENT)));
            let (kernel, time_wait, iss_offset, evidence) = match probe {
                TwProbe::Syn => predict_syn(record, &policy, listener),
                TwProbe::Rst { offset } => predict_rst(record, &policy, listener, offset),
            };
            TwObservation {
                case: case_name(listener, probe, rfc1337),
                rfc1337,
                listener,
                probe,
                kernel,
                time_wait,
                iss_offset,
                evidence,
            }
        })
        .collect()
}

type Prediction = (TwOutcome, TwOutcome, Option<u32>, Vec<String>);

fn bare(seq: u32) -> SegmentInfo {
    SegmentInfo {
        seq: SeqNum(seq),
        ack: None,
        syn: false,
        fin: false,
        rst: false,
        payload_len: 0,
        tsval: None,
    }
}

fn ms(d: Duration) -> u64 {
    d.micros() / 1000
}

/// A connect from the old client port: SYNs at the client's retransmission times until one
/// is answered or [`CONNECT_DEADLINE`] passes.
fn predict_syn(record: TimeWaitRecord, policy: &TimeWaitPolicy, listener: bool) -> Prediction {
    let mut evidence = Vec::new();
    let (mut syns, mut acks) = (0, 0);
    let (kernel, time_wait, iss_offset) = syn_chain(
        record,
        policy,
        listener,
        &mut evidence,
        &mut syns,
        &mut acks,
    );
    evidence.push(format!(
        "the TIME-WAIT answered {acks} of {syns} SYNs with an ACK"
    ));
    (kernel, time_wait, iss_offset, evidence)
}

fn syn_chain(
    mut record: TimeWaitRecord,
    policy: &TimeWaitPolicy,
    listener: bool,
    evidence: &mut Vec<String>,
    syns: &mut u32,
    acks: &mut u32,
) -> (TwOutcome, TwOutcome, Option<u32>) {
    let mut alive = true;
    let mut t = Duration::ZERO;
    let mut retransmitted = false;
    // Each pass moves `t` on by at least TCP_TIMEOUT_MIN, so the loop ends at the deadline.
    while t <= CONNECT_DEADLINE {
        let now = Instant::ZERO + MODEL_PROBE_AT + t;
        *syns += 1;
        if !alive {
            // No TIME-WAIT: `tcp_v4_rcv` finds the listener, or answers with RST
            // (`tcp_v4_send_reset`).
            return if listener {
                evidence.push(format!(
                    "+{}ms SYN: no TIME-WAIT, the listener takes it",
                    ms(t)
                ));
                (TwOutcome::Accepted, TwOutcome::TimeWaitGone, None)
            } else {
                evidence.push(format!(
                    "+{}ms SYN: no TIME-WAIT, no listener, RST (tcp_v4_send_reset)",
                    ms(t)
                ));
                (TwOutcome::Refused, TwOutcome::TimeWaitGone, None)
            };
        }
        let syn = SegmentInfo {
            syn: true,
            tsval: Some(TsVal(
                MODEL_TS_RECENT + 1 + u32::try_from(ms(t)).unwrap_or(0),
            )),
            ..bare(MODEL_RCV_NXT.wrapping_add(MODEL_SYN_ADVANCE))
        };
        let d = record.on_segment(&syn, now, policy, listener);
        evidence.push(format!(
            "+{}ms SYN seq=RCV.NXT+{MODEL_SYN_ADVANCE}: {:?} ({})",
            ms(t),
            d.action,
            d.rule
        ));
        let next = match d.action {
            TwAction::AcceptSyn { iss } => {
                let offset = iss.map(|i| (i - record.snd_nxt) as u32);
                return (TwOutcome::Accepted, TwOutcome::TimeWaitGone, offset);
            }
            TwAction::RstAndKill => {
                return (TwOutcome::Refused, TwOutcome::TimeWaitGone, None);
            }
            TwAction::Kill => {
                alive = false;
                TCP_TIMEOUT_INIT
            }
            TwAction::Drop => TCP_TIMEOUT_INIT,
            TwAction::Ack => {
                *acks += 1;
                // <SEQ=SND.NXT><ACK=RCV.NXT> is unacceptable in SYN-SENT: the client answers
                // <SEQ=SEG.ACK><CTL=RST> (RFC 9293 §3.10.7.3, `tcp_rcv_synsent_state_process`
                // reset_and_undo), and that RST reaches the record.
                let rst = SegmentInfo {
                    rst: true,
                    ..bare(record.rcv_nxt.0)
                };
                let d = record.on_segment(&rst, now, policy, listener);
                evidence.push(format!(
                    "+{}ms client RST seq=RCV.NXT: {:?} ({})",
                    ms(t),
                    d.action,
                    d.rule
                ));
                if matches!(d.action, TwAction::Kill | TwAction::RstAndKill) {
                    alive = false;
                }
                if retransmitted {
                    TCP_TIMEOUT_INIT
                } else {
                    TCP_TIMEOUT_MIN
                }
            }
        };
        retransmitted = true;
        t = t + next;
    }
    evidence.push(format!("no answer within {} ms", ms(CONNECT_DEADLINE)));
    (TwOutcome::TimedOut, TwOutcome::time_wait(alive), None)
}

/// A bare RST with SEQ = RCV.NXT + `offset`.
fn predict_rst(
    mut record: TimeWaitRecord,
    policy: &TimeWaitPolicy,
    listener: bool,
    offset: u32,
) -> Prediction {
    let rst = SegmentInfo {
        rst: true,
        ..bare(record.rcv_nxt.wrapping_add(offset).0)
    };
    let d = record.on_segment(&rst, Instant::ZERO + MODEL_PROBE_AT, policy, listener);
    let kept = !matches!(
        d.action,
        TwAction::Kill | TwAction::RstAndKill | TwAction::AcceptSyn { .. }
    );
    let evidence = vec![format!(
        "RST seq=RCV.NXT+{offset} (in window: {}): {:?} ({})",
        offset < record.rcv_wnd,
        d.action,
        d.rule
    )];
    let tw = TwOutcome::time_wait(kept);
    (tw, tw, None, evidence)
}

#[cfg(test)]
mod tests {
    use super::*;
    use TwOutcome::{Accepted, Refused, TimeWaitGone as Gone, TimeWaitKept as Kept, TimedOut};

    fn outcomes(v: &[TwObservation]) -> Vec<(&str, bool, TwOutcome, TwOutcome, Option<u32>)> {
        v.iter()
            .map(|o| {
                (
                    o.case.as_str(),
                    o.listener,
                    o.kernel,
                    o.time_wait,
                    o.iss_offset,
                )
            })
            .collect()
    }

    /// The model's `linux` policy gives what `time-wait.md` and `bind-rules.md` record for
    /// the kernel (B-SYN, B-RST, B-RST'; rows 4a and 4b).
    #[test]
    fn prediction_follows_the_spec() {
        assert_eq!(
            outcomes(&predict_linux(false)),
            vec![
                ("B-SYN", true, Accepted, Gone, Some(65537)),
                ("4a", true, Gone, Gone, None),
                ("4b", true, Kept, Kept, None),
                ("B-RST", false, Refused, Gone, None),
                ("4a", false, Gone, Gone, None),
                ("4b", false, Kept, Kept, None),
            ]
        );
        assert_eq!(
            outcomes(&predict_linux(true)),
            vec![
                ("B-SYN", true, Accepted, Gone, Some(65537)),
                ("4a", true, Kept, Kept, None),
                ("4b", true, Kept, Kept, None),
                ("B-RST'", false, TimedOut, Kept, None),
                ("4a", false, Kept, Kept, None),
                ("4b", false, Kept, Kept, None),
            ]
        );
    }

    /// B-RST' in the model: every SYN (newer than RCV.NXT, no listener) is ACKed — Linux
    /// answers it through tcp_v4_timewait_ack outside the out-of-window rate limit, as the
    /// kernel shows (3 SYNs, 3 ACKs) — and every client RST is ignored.
    #[test]
    fn rfc1337_syn_chain_is_ack_and_rst_ignored_every_time() {
        let o = &predict_linux(true)[3];
        let steps: Vec<&String> = o.evidence.iter().filter(|e| e.starts_with('+')).collect();
        let at = [
            "+0ms SYN",
            "+0ms client RST",
            "+10ms SYN",
            "+10ms client RST",
            "+1010ms SYN",
            "+1010ms client RST",
        ];
        assert_eq!(steps.len(), at.len(), "{:?}", o.evidence);
        for (e, want) in steps.iter().zip(at) {
            assert!(e.starts_with(want), "{:?}", o.evidence);
            let action = e.split(": ").nth(1).unwrap_or("");
            let expect = if want.ends_with("SYN") { "Ack" } else { "Drop" };
            assert!(action.starts_with(expect), "{e}");
        }
        assert!(
            o.evidence
                .iter()
                .any(|e| e == "the TIME-WAIT answered 3 of 3 SYNs with an ACK"),
            "{:?}",
            o.evidence
        );
    }

    #[test]
    fn equality_ignores_evidence_and_tables_render() {
        let a = predict_linux(false);
        let mut b = a.clone();
        b[0].evidence = vec!["other".into()];
        assert_eq!(a, b);
        b[0].time_wait = TwOutcome::TimeWaitKept;
        assert_ne!(a, b);
        let t = render_table("model", &a);
        assert!(
            t.contains("B-SYN   yes      SYN from the old client port"),
            "{t}"
        );
        assert!(t.contains("RST SEQ=RCV.NXT+100"), "{t}");
    }
}
