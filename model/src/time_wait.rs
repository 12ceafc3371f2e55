//! TIME-WAIT records and how they answer segments.
//!
//! Read first: RFC 793 p.22 (the 2·MSL wait), p.69–75 (segment arrival in TIME-WAIT);
//! RFC 9293 §3.6.1 and §3.10.7.4; RFC 1122 §4.2.2.13 (reopening from TIME-WAIT);
//! RFC 1337 (TIME-WAIT assassination); RFC 5961 §3.2 (RST challenge ACK);
//! Linux `tcp_timewait_state_process` (net/ipv4/tcp_minisocks.c); FreeBSD `tcp_twcheck`
//! (sys/netinet/tcp_timewait.c); XNU xnu-11417.101.15 `tcp_input` (bsd/netinet/tcp_input.c,
//! which has no TIME-WAIT function of its own: line numbers below are of that file).
//!
//! A [`TimeWaitRecord`] is what stays of a connection after its active close, like Linux's
//! `inet_timewait_sock`: the 4-tuple, RCV.NXT, SND.NXT, the window and the deadline. The
//! simulator feeds it every segment of its 4-tuple through [`TimeWaitRecord::on_segment`]
//! and carries out the returned [`TwDecision`]; the decision names the rule it applied.

use crate::addr::FourTuple;
use crate::seq::{SeqNum, TsVal};
use crate::time::{Duration, Instant};

/// When a segment restarts the TIME-WAIT timer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimerRestart {
    /// A retransmitted FIN or acceptable in-window data restarts it (what real stacks do with
    /// RFC 793 p.73 / RFC 9293 §3.10.7.4 "restart the 2 MSL timeout").
    DuplicateFin,
    /// Every non-RST segment with ACK, in window or not, restarts it (Linux
    /// `inet_twsk_reschedule` in `tcp_timewait_state_process`).
    AnySegment,
    /// The literal RFC 793 reading: only acceptable segments restart it; a retransmitted FIN
    /// (SEQ = RCV.NXT − 1) fails the acceptability test and is ACKed without restart.
    Literal,
    /// Only a retransmitted FIN restarts it (FreeBSD `tcp_twcheck`: "Reset the 2MSL timer if
    /// this is a duplicate FIN", `tcp_timer_activate(tp, TT_2MSL, 2 * V_tcp_msl)`); in-window
    /// data is ACKed without restart.
    RetransmittedFin,
    /// Every out-of-window segment with ACK, a retransmitted FIN included, restarts it; an
    /// acceptable one does not (smoltcp 0.14 `tcp::Socket::process`: "If we're in the
    /// TIME-WAIT state, restart the TIME-WAIT timeout" on the not-in-window path; segments
    /// without ACK are dropped before that check).
    OutOfWindow,
    /// Nothing restarts it (XNU `tcp_input`: a retransmitted FIN is trimmed as old data,
    /// `thflags &= ~TH_FIN` at line 4390, and any other FIN in TIME-WAIT is cleared at line
    /// 5941 because the receive side has already seen a FIN, so the `add_to_time_wait` arm of
    /// FIN processing, line 6034, is never reached; the ACK-processing arm, line 5653, needs an
    /// ACK above SND.UNA, which TIME-WAIT cannot receive: line 4872 answers it first).
    Never,
}

/// What an RST does to a TIME-WAIT record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RstInTimeWait {
    /// Any in-window RST kills it (RFC 793 p.70 "second check the RST bit").
    KillInWindow,
    /// Only an RST with SEQ = RCV.NXT kills it; others are ignored (Linux, tcp_rfc1337 = 0).
    KillExact,
    /// SEQ = RCV.NXT kills; other in-window RSTs get a challenge ACK (RFC 5961 §3.2).
    ChallengeAck,
    /// RSTs are ignored (RFC 1337 §3 fix "TW1"; Linux tcp_rfc1337 = 1; FreeBSD `tcp_twcheck`:
    /// "If the segment contains RST: Drop the segment").
    Ignore,
    /// An in-window RST with SEQ = RCV.NXT is ignored, any other in-window RST gets a challenge
    /// ACK, an out-of-window one is dropped (XNU `tcp_input` lines 4222–4284: `case
    /// TCPS_TIME_WAIT: break` for SEQ = last_ack_sent, `tcps_rstchallenge` otherwise).
    ChallengeInexact,
}

/// What a SYN does to a TIME-WAIT record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SynInTimeWait {
    /// RFC 793 p.69–71: an unacceptable SYN gets an ACK; an in-window SYN is an error
    /// answered with RST, and the record dies.
    Rfc793,
    /// Linux: a SYN with SEQ > RCV.NXT (or a newer timestamp) reopens the 4-tuple if a listener
    /// exists, with ISS = SND.NXT + 65537; any other SYN gets an ACK
    /// (`tcp_timewait_state_process` → `TCP_TW_SYN`).
    Linux,
    /// RFC 1122 §4.2.2.13: a SYN with SEQ > RCV.NXT may reopen the connection; others stay.
    Rfc1122,
    /// FreeBSD `tcp_twcheck`: a SYN (without ACK) with SEQ > RCV.NXT closes the record and is
    /// processed again as a new connection request — a listener takes it, or it is answered
    /// with RST; any other SYN without ACK is dropped silently ("Drop the segment if it does
    /// not contain an ACK"). No timestamp rule.
    Bsd,
    /// smoltcp 0.14: a bare SYN is dropped silently ("expecting an ACK" in
    /// `tcp::Socket::process`), no ACK, no restart.
    Silent,
    /// RFC 6191 §2: with timestamps, a SYN whose TSval is greater than TS.Recent reopens; an
    /// equal TSval reopens only with SEQ > RCV.NXT; a smaller one is dropped silently. Without
    /// timestamps, the RFC 1122 sequence-number rule (SEQ > RCV.NXT reopens), and an old SYN is
    /// dropped silently.
    Rfc6191,
    /// XNU `tcp_input`: a SYN whose TSval is older than TS.Recent fails PAWS and is dropped
    /// (line 4291, `tlen == 0` → drop); a SYN with SEQ > RCV.NXT + RCV.WND closes the record and
    /// is looked up again as a new connection (line 4510, `goto findpcb`); a SYN with SEQ in
    /// RCV.NXT..=RCV.NXT + RCV.WND gets a challenge ACK (lines 4570–4584, RFC 5961 §4.2); a SYN
    /// with SEQ < RCV.NXT is trimmed as old data and ACKed (lines 4367–4402).
    Xnu,
}

/// What an exact duplicate ACK does: no data, no SYN or FIN, SEQ = RCV.NXT (the late copy of
/// an ACK that two TIME-WAIT endpoints of a simultaneous close would otherwise bounce between
/// them until TIME-WAIT ends).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BareAckInTimeWait {
    /// Acknowledge it like any other segment (RFC 793 p.73, fifth check in TIME-WAIT read as
    /// "acknowledge"; assumed for the profiles without a source).
    Ack,
    /// Restart the timer and send nothing, whatever SEG.ACK and the ACK flag say (Linux
    /// `tcp_timewait_state_process`: the `seq == rcv_nxt && (seq == end_seq || th->rst)`
    /// branch calls `inet_twsk_reschedule` and returns `TCP_TW_SUCCESS`).
    RestartSilently,
    /// Drop it, no restart, when it carries exactly ACK and SEG.ACK = SND.NXT (FreeBSD
    /// `tcp_twcheck`: "Acknowledge the segment if it has data or is not a duplicate ACK",
    /// `thflags != TH_ACK || tlen != 0 || th->th_seq != tp->rcv_nxt || th->th_ack !=
    /// tp->snd_nxt`, else drop).
    DropExact,
    /// Drop any segment without data whose SEQ lies in RCV.NXT..=RCV.NXT + RCV.WND and whose
    /// SEG.ACK is not above SND.NXT, FIN or not, no restart (XNU `tcp_input`: nothing sets
    /// `TF_ACKNOW` on that path — the ACK is a duplicate, line 4956, the FIN is cleared at
    /// line 5941 — so no segment leaves, line 6052).
    DropInWindow,
}

/// What a segment without ACK does, other than a SYN (the SYN rule decides those).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NoAckInTimeWait {
    /// Process it like a segment with ACK (Linux `tcp_timewait_state_process` does not look at
    /// the ACK flag, except that only segments with ACK restart the timer on the out-of-window
    /// path; XNU `tcp_input` line 4600 drops it only after the trimming that sets `TF_ACKNOW`).
    Process,
    /// Drop an acceptable one; an unacceptable one is still ACKed (RFC 793 p.69 first, then
    /// p.72 "fifth check the ACK field, if the ACK bit is off drop the segment and return").
    DropAcceptable,
    /// Drop it (FreeBSD `tcp_twcheck`: "Drop the segment if it does not contain an ACK",
    /// before the duplicate-FIN restart).
    Drop,
}

/// What data at or beyond RCV.NXT does (bytes the closed receive side cannot take).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DataInTimeWait {
    /// ACK it (under the window test and the timer rule): RFC 793 p.69–73, Linux, FreeBSD.
    Ack,
    /// Send RST and delete the record (XNU `tcp_input` lines 4466–4489: `tlen` left after
    /// trimming old data with `SS_CANTRCVMORE` set → `tcp_close`, `dropwithreset`).
    Reset,
}

impl BareAckInTimeWait {
    /// Every rule with its scenario name.
    pub const NAMES: [(&'static str, BareAckInTimeWait); 4] = [
        ("ack", BareAckInTimeWait::Ack),
        ("restart_silently", BareAckInTimeWait::RestartSilently),
        ("drop_exact", BareAckInTimeWait::DropExact),
        ("drop_in_window", BareAckInTimeWait::DropInWindow),
    ];
}

impl NoAckInTimeWait {
    /// Every rule with its scenario name.
    pub const NAMES: [(&'static str, NoAckInTimeWait); 3] = [
        ("process", NoAckInTimeWait::Process),
        ("drop_acceptable", NoAckInTimeWait::DropAcceptable),
        ("drop", NoAckInTimeWait::Drop),
    ];
}

impl DataInTimeWait {
    /// Every rule with its scenario name.
    pub const NAMES: [(&'static str, DataInTimeWait); 2] = [
        ("ack", DataInTimeWait::Ack),
        ("reset", DataInTimeWait::Reset),
    ];
}

impl TimerRestart {
    /// Every rule with its scenario name.
    pub const NAMES: [(&'static str, TimerRestart); 6] = [
        ("duplicate_fin", TimerRestart::DuplicateFin),
        ("any_segment", TimerRestart::AnySegment),
        ("literal", TimerRestart::Literal),
        ("retransmitted_fin", TimerRestart::RetransmittedFin),
        ("out_of_window", TimerRestart::OutOfWindow),
        ("never", TimerRestart::Never),
    ];
}

impl RstInTimeWait {
    /// Every rule with its scenario name.
    pub const NAMES: [(&'static str, RstInTimeWait); 5] = [
        ("kill_in_window", RstInTimeWait::KillInWindow),
        ("kill_exact", RstInTimeWait::KillExact),
        ("challenge_ack", RstInTimeWait::ChallengeAck),
        ("ignore", RstInTimeWait::Ignore),
        ("challenge_inexact", RstInTimeWait::ChallengeInexact),
    ];
}

impl SynInTimeWait {
    /// Every rule with its scenario name.
    pub const NAMES: [(&'static str, SynInTimeWait); 7] = [
        ("rfc793", SynInTimeWait::Rfc793),
        ("linux", SynInTimeWait::Linux),
        ("rfc1122", SynInTimeWait::Rfc1122),
        ("bsd", SynInTimeWait::Bsd),
        ("silent", SynInTimeWait::Silent),
        ("rfc6191", SynInTimeWait::Rfc6191),
        ("xnu", SynInTimeWait::Xnu),
    ];
}

/// Linux: a SYN newer than the record with no listener to take it.
const NEWER_SYN_NO_LISTENER: &str =
    "tcp_v4_rcv: TCP_TW_SYN and no listener, tcp_v4_timewait_ack (ACK, not rate-limited)";

/// A profile's TIME-WAIT segment policy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TimeWaitPolicy {
    /// Timer restart rule.
    pub restart: TimerRestart,
    /// RST rule.
    pub rst: RstInTimeWait,
    /// SYN rule.
    pub syn: SynInTimeWait,
    /// Minimum spacing between ACKs answering segments that occupy no sequence space, or SYNs
    /// (Linux `tcp_invalid_ratelimit` = 500 ms, `tcp_oow_rate_limited`); `None` = no limit.
    pub ack_rate_limit: Option<Duration>,
    /// Whether ACKs answering a FIN without data are rate-limited too. Linux exempts FIN
    /// (`tcp_oow_rate_limited` only limits segments that occupy no sequence space); smoltcp
    /// answers a FIN without data with a rate-limited challenge ACK and exempts only segments
    /// carrying data.
    pub rate_limit_fin: bool,
    /// PAWS in TIME-WAIT (RFC 7323 §5.3): a segment whose TSval is older than the record's
    /// TS.Recent is rejected, answered with an ACK (rate-limited) and restarts the timer
    /// (Linux `tcp_timewait_state_process`: `tcp_paws_reject`, then "if (paws_reject ||
    /// th->ack) inet_twsk_reschedule").
    pub paws: bool,
    /// Exact duplicate ACK rule.
    pub bare_ack: BareAckInTimeWait,
    /// Rule for segments without ACK (SYNs excepted).
    pub no_ack: NoAckInTimeWait,
    /// Rule for data at or beyond RCV.NXT.
    pub data: DataInTimeWait,
}

/// The fields of an incoming segment that TIME-WAIT processing reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SegmentInfo {
    /// SEG.SEQ.
    pub seq: SeqNum,
    /// SEG.ACK, if the ACK flag is set.
    pub ack: Option<SeqNum>,
    /// SYN flag.
    pub syn: bool,
    /// FIN flag.
    pub fin: bool,
    /// RST flag.
    pub rst: bool,
    /// Payload length in bytes (SYN and FIN not counted).
    pub payload_len: u32,
    /// TSval of the RFC 7323 timestamp option, if the segment carries one.
    pub tsval: Option<TsVal>,
}

impl SegmentInfo {
    /// SEG.LEN: payload plus one for SYN and one for FIN (RFC 9293 §3.4).
    pub fn seg_len(&self) -> u32 {
        self.payload_len + u32::from(self.syn) + u32::from(self.fin)
    }
}

/// Why a TIME-WAIT record ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EndReason {
    /// Its timer ran out.
    Expired,
    /// An RST killed it early (RFC 1337 TIME-WAIT assassination).
    Assassinated,
    /// A new SYN reopened the 4-tuple (RFC 1122 §4.2.2.13).
    ReusedBySyn,
    /// A local connect() recycled it (Linux `tcp_twsk_unique`).
    RecycledByConnect,
    /// The administrator dropped it (FreeBSD `tcpdrop -s TIME_WAIT`, Linux `ss -K`).
    Dropped,
}

impl EndReason {
    /// Lower-case name used in traces.
    pub fn name(self) -> &'static str {
        match self {
            EndReason::Expired => "expired",
            EndReason::Assassinated => "assassinated",
            EndReason::ReusedBySyn => "reused_by_syn",
            EndReason::RecycledByConnect => "recycled_by_connect",
            EndReason::Dropped => "dropped",
        }
    }
}

/// The state kept for a connection in TIME-WAIT. Made by [`TimeWaitRecord::new`]; the
/// deadline, the restart count and the rate-limit stamp change only through
/// [`TimeWaitRecord::on_segment`] and are read through accessors.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TimeWaitRecord {
    /// Local and remote endpoints.
    pub tuple: FourTuple,
    /// Which incarnation of this 4-tuple the record belongs to (1 = first).
    pub incarnation: u32,
    /// SND.NXT on the wire: the sequence number the final ACK carried.
    pub snd_nxt: SeqNum,
    /// RCV.NXT on the wire: one past the peer's FIN.
    pub rcv_nxt: SeqNum,
    /// RCV.WND last advertised, in bytes (scaled).
    pub rcv_wnd: u32,
    /// When TIME-WAIT began (the final ACK was sent).
    pub entered_at: Instant,
    /// When the record expires unless restarted: `entered_at + length`, then the last
    /// restart + `length`.
    expires_at: Instant,
    /// The TIME-WAIT length this record starts and restarts with.
    pub length: Duration,
    /// How many times the timer was restarted.
    restarts: u32,
    /// When the record last sent an ACK limited by the rate limit.
    last_limited_ack_at: Option<Instant>,
    /// TS.Recent (RFC 7323) when the connection used timestamps, else `None`.
    pub ts_recent: Option<TsVal>,
}

/// What the record does with one segment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TwAction {
    /// Send `<SEQ=SND.NXT><ACK=RCV.NXT><CTL=ACK>` and drop the segment.
    Ack,
    /// Drop silently (RST ignored, or ACK suppressed by the rate limit).
    Drop,
    /// Send `<SEQ=SEG.ACK or 0><CTL=RST>` and delete the record (RFC 793 in-window SYN).
    RstAndKill,
    /// Delete the record: an RST killed it (assassination).
    Kill,
    /// Delete the record and hand the SYN to a listener; `iss` is the ISS the new incarnation
    /// should use, if the rule fixes one (Linux: SND.NXT + 65537).
    AcceptSyn {
        /// Initial send sequence number for the new incarnation.
        iss: Option<SeqNum>,
    },
}

/// A decision with the rule it came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TwDecision {
    /// What to do.
    pub action: TwAction,
    /// Whether the timer was restarted (`expires_at` already moved).
    pub restarted: bool,
    /// The rule applied (RFC section or kernel function).
    pub rule: &'static str,
}

impl TimeWaitRecord {
    /// A record entering TIME-WAIT at `entered_at` for `length` (it expires at
    /// `entered_at + length` unless restarted), for `incarnation` (1 = first) of `tuple`, with
    /// SND.NXT and RCV.NXT as last seen on the wire and RCV.WND `rcv_wnd` in bytes (scaled).
    /// No restarts yet, no rate-limited ACK sent, no timestamps ([`TimeWaitRecord::with_ts_recent`]).
    pub fn new(
        tuple: FourTuple,
        incarnation: u32,
        snd_nxt: SeqNum,
        rcv_nxt: SeqNum,
        rcv_wnd: u32,
        entered_at: Instant,
        length: Duration,
    ) -> TimeWaitRecord {
        TimeWaitRecord {
            tuple,
            incarnation,
            snd_nxt,
            rcv_nxt,
            rcv_wnd,
            entered_at,
            expires_at: entered_at + length,
            length,
            restarts: 0,
            last_limited_ack_at: None,
            ts_recent: None,
        }
    }

    /// The record with every field given, the private ones included: how the address table's
    /// compact store (`table/tw_store.rs`) hands a stored record back by value.
    pub(crate) fn from_parts(
        record: TimeWaitRecord,
        expires_at: Instant,
        restarts: u32,
        last_limited_ack_at: Option<Instant>,
    ) -> TimeWaitRecord {
        TimeWaitRecord {
            expires_at,
            restarts,
            last_limited_ack_at,
            ..record
        }
    }

    /// The record with TS.Recent = `ts_recent` (RFC 7323 §4.3; `None`: the connection did not
    /// use timestamps).
    pub fn with_ts_recent(mut self, ts_recent: Option<TsVal>) -> TimeWaitRecord {
        self.ts_recent = ts_recent;
        self
    }

    /// When the record expires unless a segment restarts its timer (µs virtual time):
    /// `entered_at + length` until the first restart, then that restart's time + `length`.
    pub fn expires_at(&self) -> Instant {
        self.expires_at
    }

    /// How many times a segment restarted the timer.
    pub fn restarts(&self) -> u32 {
        self.restarts
    }

    /// When the record last sent an ACK subject to the policy's rate limit
    /// ([`TimeWaitPolicy::ack_rate_limit`]), if ever.
    pub fn last_limited_ack_at(&self) -> Option<Instant> {
        self.last_limited_ack_at
    }

    /// RFC 9293 §3.10.7.4 Table 6 acceptability test against RCV.NXT and RCV.WND.
    pub fn acceptable(&self, seg: &SegmentInfo) -> bool {
        crate::seq::seq_acceptable(seg.seq, seg.seg_len(), self.rcv_nxt, self.rcv_wnd)
    }

    /// Processes one segment of this 4-tuple at `now` under `policy`. `listener_exists` says
    /// whether a listener would take a SYN for the local endpoint (Linux reopens only then).
    /// May move `expires_at` (timer restart) and `last_limited_ack_at`.
    pub fn on_segment(
        &mut self,
        seg: &SegmentInfo,
        now: Instant,
        policy: &TimeWaitPolicy,
        listener_exists: bool,
    ) -> TwDecision {
        let acceptable = self.acceptable(seg);
        if seg.rst {
            return self.on_rst(seg, acceptable, policy);
        }
        if seg.syn && seg.ack.is_none() {
            if let Some(mut d) = self.on_syn(seg, acceptable, policy, listener_exists) {
                if d.restarted {
                    // PAWS rejected the SYN: Linux reschedules the timer ("if (paws_reject ||
                    // th->ack) inet_twsk_reschedule").
                    self.restart(now);
                    d.restarted = true;
                }
                if d.rule == NEWER_SYN_NO_LISTENER {
                    // tcp_v4_rcv: TCP_TW_SYN without a listener falls through to
                    // tcp_v4_timewait_ack directly, outside tcp_timewait_check_oow_rate_limit
                    // (observed: a real kernel ACKs a SYN retransmitted 10 ms later).
                    return d;
                }
                return self.limit(d, seg, now, policy);
            }
        }
        if policy.data == DataInTimeWait::Reset
            && seg.payload_len > 0
            && seg
                .seq
                .wrapping_add(u32::from(seg.syn) + seg.payload_len)
                .gt(self.rcv_nxt)
        {
            // XNU tcp_input 4466–4489: data left after trimming what lies before RCV.NXT, on a
            // socket that cannot receive any more (SS_CANTRCVMORE since the FIN).
            return TwDecision {
                action: TwAction::RstAndKill,
                restarted: false,
                rule: "tcp_input (XNU) 4478: data after the receive side closed (SS_CANTRCVMORE), tcp_close and dropwithreset",
            };
        }
        if seg.ack.is_none() {
            let drop = match policy.no_ack {
                NoAckInTimeWait::Process => None,
                NoAckInTimeWait::DropAcceptable if acceptable => {
                    Some("RFC 793 p.72: fifth, check the ACK field: ACK bit off, drop the segment")
                }
                NoAckInTimeWait::DropAcceptable => None,
                NoAckInTimeWait::Drop => {
                    Some("tcp_twcheck: \"Drop the segment if it does not contain an ACK\"")
                }
            };
            if let Some(rule) = drop {
                return TwDecision {
                    action: TwAction::Drop,
                    restarted: false,
                    rule,
                };
            }
        }
        let retransmitted_fin = seg.fin && seg.seq.wrapping_add(seg.seg_len()) == self.rcv_nxt;
        let paws_reject =
            policy.paws && matches!((seg.tsval, self.ts_recent), (Some(v), Some(r)) if v.before(r));
        if paws_reject {
            // tcp_timewait_state_process: "if (paws_reject || th->ack) inet_twsk_reschedule"
            // and the out-of-window ACK (rate-limited).
            self.restart(now);
            let d = TwDecision {
                action: TwAction::Ack,
                restarted: true,
                rule: "tcp_timewait_state_process: PAWS reject (TSval < TS.Recent), ACK and reschedule",
            };
            return self.limit(d, seg, now, policy);
        }
        if let Some(d) = self.bare_ack(seg, now, policy) {
            return d;
        }
        let restart = match policy.restart {
            TimerRestart::DuplicateFin => retransmitted_fin || (acceptable && seg.seg_len() > 0),
            TimerRestart::AnySegment => seg.ack.is_some(),
            TimerRestart::Literal => acceptable,
            TimerRestart::RetransmittedFin => retransmitted_fin,
            TimerRestart::OutOfWindow => seg.ack.is_some() && !acceptable,
            TimerRestart::Never => false,
        };
        if restart {
            self.restart(now);
        }
        let rule = match policy.restart {
            TimerRestart::AnySegment if restart => {
                "tcp_timewait_state_process: not a bare ACK at RCV.NXT (out-of-window branch), ACK set: inet_twsk_reschedule, ACK (TCP_TW_ACK)"
            }
            TimerRestart::AnySegment => {
                "tcp_timewait_state_process: not a bare ACK at RCV.NXT (out-of-window branch), no ACK flag: no reschedule, ACK (TCP_TW_ACK)"
            }
            TimerRestart::RetransmittedFin if retransmitted_fin => {
                "tcp_twcheck: duplicate FIN, restart the 2MSL timer (tcp_timer_activate TT_2MSL), ACK (tcp_respond)"
            }
            TimerRestart::RetransmittedFin => {
                "tcp_twcheck: not a duplicate ACK, ACK (tcp_respond), timer not restarted"
            }
            TimerRestart::OutOfWindow if restart => {
                "smoltcp tcp::Socket::process: segment not in window in TIME-WAIT, ACK and restart the close timer"
            }
            TimerRestart::OutOfWindow => {
                "smoltcp tcp::Socket::process: TIME-WAIT, ACK, timer not restarted"
            }
            TimerRestart::Never if seg.seq.lt(self.rcv_nxt) => {
                "tcp_input (XNU) 4363-4405: old sequence space trimmed (FIN cleared), TF_ACKNOW, ACK; no restart"
            }
            TimerRestart::Never => {
                "tcp_input (XNU) 4491-4529: segment beyond RCV.NXT + RCV.WND, dropafterack; no restart"
            }
            TimerRestart::Literal if !acceptable => {
                "RFC 793 p.69: unacceptable segment, send ACK and drop (literal: no restart)"
            }
            _ if retransmitted_fin => {
                "RFC 9293 §3.10.7.4: retransmitted FIN, ACK and restart the 2 MSL timeout"
            }
            _ if !acceptable => "RFC 793 p.69: unacceptable segment, send ACK and drop",
            _ if restart => "RFC 793 p.73: TIME-WAIT, acknowledge and restart the 2 MSL timeout",
            _ => "RFC 793 p.72: fifth, check the ACK field, TIME-WAIT: acknowledge (no FIN, no data: no restart)",
        };
        let d = TwDecision {
            action: TwAction::Ack,
            restarted: restart,
            rule,
        };
        self.limit(d, seg, now, policy)
    }

    /// The exact-duplicate-ACK rule ([`BareAckInTimeWait`]): `Some` when it decides.
    fn bare_ack(
        &mut self,
        seg: &SegmentInfo,
        now: Instant,
        policy: &TimeWaitPolicy,
    ) -> Option<TwDecision> {
        let no_data = seg.payload_len == 0 && !seg.syn;
        let drop = |rule| TwDecision {
            action: TwAction::Drop,
            restarted: false,
            rule,
        };
        match policy.bare_ack {
            BareAckInTimeWait::Ack => None,
            BareAckInTimeWait::RestartSilently
                if no_data && !seg.fin && seg.seq == self.rcv_nxt =>
            {
                self.restart(now);
                Some(TwDecision {
                    action: TwAction::Drop,
                    restarted: true,
                    rule: "tcp_timewait_state_process: bare ACK with SEQ = RCV.NXT (seq == end_seq), inet_twsk_reschedule, no reply (TCP_TW_SUCCESS)",
                })
            }
            BareAckInTimeWait::RestartSilently => None,
            BareAckInTimeWait::DropExact
                if no_data
                    && !seg.fin
                    && seg.seq == self.rcv_nxt
                    && seg.ack == Some(self.snd_nxt) =>
            {
                Some(drop("tcp_twcheck: duplicate ACK (flags = ACK, no data, SEQ = RCV.NXT, ACK = SND.NXT), drop"))
            }
            BareAckInTimeWait::DropExact => None,
            BareAckInTimeWait::DropInWindow
                if no_data
                    && !seg.seq.lt(self.rcv_nxt)
                    && !seg.seq.gt(self.rcv_nxt.wrapping_add(self.rcv_wnd))
                    && seg.ack.is_none_or(|a| !a.gt(self.snd_nxt)) =>
            {
                Some(drop("tcp_input (XNU) 4956/5941: no data in window, duplicate ACK, FIN cleared: nothing to send, no restart"))
            }
            BareAckInTimeWait::DropInWindow => None,
        }
    }

    fn restart(&mut self, now: Instant) {
        self.expires_at = now + self.length;
        self.restarts += 1;
    }

    fn on_rst(
        &mut self,
        seg: &SegmentInfo,
        acceptable: bool,
        policy: &TimeWaitPolicy,
    ) -> TwDecision {
        let exact = seg.seq == self.rcv_nxt;
        let (action, rule) = match policy.rst {
            RstInTimeWait::Ignore => (TwAction::Drop, "RFC 1337 §3 (TW1): ignore RST in TIME-WAIT"),
            _ if !acceptable => (TwAction::Drop, "RFC 793 p.70: RST out of window, ignore"),
            RstInTimeWait::KillInWindow => {
                (TwAction::Kill, "RFC 793 p.70: RST in window, enter CLOSED")
            }
            RstInTimeWait::KillExact if exact => (
                TwAction::Kill,
                "tcp_timewait_state_process: RST with SEQ = RCV.NXT kills (tcp_rfc1337 = 0)",
            ),
            RstInTimeWait::KillExact => (
                TwAction::Drop,
                "tcp_timewait_state_process: RST with SEQ != RCV.NXT ignored",
            ),
            RstInTimeWait::ChallengeAck if exact => (
                TwAction::Kill,
                "RFC 5961 §3.2: RST with SEQ = RCV.NXT, reset",
            ),
            RstInTimeWait::ChallengeAck => {
                (TwAction::Ack, "RFC 5961 §3.2: in-window RST, challenge ACK")
            }
            RstInTimeWait::ChallengeInexact if exact => (
                TwAction::Drop,
                "tcp_input (XNU) 4265: RST with SEQ = last_ack_sent in TIME_WAIT, break: ignored",
            ),
            RstInTimeWait::ChallengeInexact => (
                TwAction::Ack,
                "tcp_input (XNU) 4276: in-window RST with SEQ != last_ack_sent, challenge ACK",
            ),
        };
        TwDecision {
            action,
            restarted: false,
            rule,
        }
    }

    fn on_syn(
        &mut self,
        seg: &SegmentInfo,
        acceptable: bool,
        policy: &TimeWaitPolicy,
        listener_exists: bool,
    ) -> Option<TwDecision> {
        let newer = seg.seq.gt(self.rcv_nxt);
        // RFC 7323 §5: both ends used timestamps; compare TSval with TS.Recent.
        let ts = match (seg.tsval, self.ts_recent) {
            (Some(v), Some(r)) => Some((v - r).signum()),
            _ => None,
        };
        let d = |action, rule| TwDecision {
            action,
            restarted: false,
            rule,
        };
        match policy.syn {
            SynInTimeWait::Rfc793 if acceptable => Some(d(
                TwAction::RstAndKill,
                "RFC 793 p.71: SYN in window is an error, send reset, enter CLOSED",
            )),
            SynInTimeWait::Rfc793 => None,
            SynInTimeWait::Linux if ts == Some(-1) => Some(TwDecision {
                action: TwAction::Ack,
                restarted: true,
                rule: "tcp_timewait_state_process: PAWS rejects the SYN (TSval < TS.Recent), ACK and reschedule",
            }),
            SynInTimeWait::Linux if (newer || ts == Some(1)) && listener_exists => {
                let mut iss = self.snd_nxt.wrapping_add(65537);
                if iss == SeqNum(0) {
                    iss = SeqNum(1);
                }
                Some(d(
                    TwAction::AcceptSyn { iss: Some(iss) },
                    "tcp_timewait_state_process: SYN with SEQ > RCV.NXT reopens (TCP_TW_SYN), ISS = SND.NXT + 65537",
                ))
            }
            SynInTimeWait::Linux if newer || ts == Some(1) => Some(d(
                TwAction::Ack,
                NEWER_SYN_NO_LISTENER,
            )),
            SynInTimeWait::Linux => Some(d(
                TwAction::Ack,
                "tcp_timewait_state_process: SYN not newer, out-of-window ACK (TCP_TW_ACK, rate-limited)",
            )),
            SynInTimeWait::Rfc1122 if newer => Some(d(
                TwAction::AcceptSyn { iss: None },
                "RFC 1122 §4.2.2.13: new SYN with SEQ > RCV.NXT reopens the connection",
            )),
            SynInTimeWait::Rfc1122 => Some(d(
                TwAction::Ack,
                "RFC 1122 §4.2.2.13: old SYN, stay in TIME-WAIT",
            )),
            SynInTimeWait::Bsd if newer => Some(d(
                TwAction::AcceptSyn { iss: None },
                "tcp_twcheck: SYN with SEQ > RCV.NXT, close TIME-WAIT and process as a new connection request",
            )),
            SynInTimeWait::Bsd => Some(d(
                TwAction::Drop,
                "tcp_twcheck: SYN not above RCV.NXT and without ACK, drop silently",
            )),
            SynInTimeWait::Rfc6191 => Some(match ts {
                Some(1) => d(TwAction::AcceptSyn { iss: None }, "RFC 6191 §2: SYN with TSval > TS.Recent reopens"),
                Some(0) if newer => d(
                    TwAction::AcceptSyn { iss: None },
                    "RFC 6191 §2: SYN with TSval = TS.Recent and SEQ > RCV.NXT reopens",
                ),
                Some(_) => d(TwAction::Drop, "RFC 6191 §2: SYN not newer by timestamp, drop silently"),
                None if newer => d(
                    TwAction::AcceptSyn { iss: None },
                    "RFC 6191 §2 (no timestamps): RFC 1122 rule, SEQ > RCV.NXT reopens",
                ),
                None => d(TwAction::Drop, "RFC 6191 §2 (no timestamps): old SYN, drop silently"),
            }),
            SynInTimeWait::Xnu if ts == Some(-1) => Some(d(
                TwAction::Drop,
                "tcp_input (XNU) 4291: PAWS (TSval < TS.Recent), no data: drop",
            )),
            SynInTimeWait::Xnu if seg.seq.gt(self.rcv_nxt.wrapping_add(self.rcv_wnd)) => Some(d(
                TwAction::AcceptSyn { iss: None },
                "tcp_input (XNU) 4506-4512: SYN beyond RCV.NXT + RCV.WND in TIME_WAIT, tcp_close and look up again (findpcb)",
            )),
            SynInTimeWait::Xnu if newer || seg.seq == self.rcv_nxt => Some(d(
                TwAction::Ack,
                "tcp_input (XNU) 4570-4584: SYN in window, challenge ACK (RFC 5961 §4.2)",
            )),
            SynInTimeWait::Xnu => Some(d(
                TwAction::Ack,
                "tcp_input (XNU) 4363-4402: SYN before RCV.NXT trimmed as old data, ACK",
            )),
            SynInTimeWait::Silent => Some(d(
                TwAction::Drop,
                "smoltcp tcp::Socket::process: segment without ACK in TIME-WAIT, drop (\"expecting an ACK\")",
            )),
        }
    }

    /// Applies the ACK rate limit to segments that occupy no sequence space, and to SYNs
    /// (`tcp_oow_rate_limited`: data and FIN segments are never limited), and to FINs without
    /// data when the policy says so (smoltcp's challenge ACK).
    fn limit(
        &mut self,
        mut d: TwDecision,
        seg: &SegmentInfo,
        now: Instant,
        policy: &TimeWaitPolicy,
    ) -> TwDecision {
        if d.action != TwAction::Ack {
            return d;
        }
        let limited_kind = seg.syn || (seg.payload_len == 0 && (!seg.fin || policy.rate_limit_fin));
        if let (true, Some(gap)) = (limited_kind, policy.ack_rate_limit) {
            if let Some(last) = self.last_limited_ack_at {
                if now < last + gap {
                    d.action = TwAction::Drop;
                    d.rule = if policy.rate_limit_fin {
                        "smoltcp challenge_ack_reply: ACK suppressed (one per second)"
                    } else {
                        "tcp_oow_rate_limited: ACK suppressed (tcp_invalid_ratelimit)"
                    };
                    return d;
                }
            }
            self.last_limited_ack_at = Some(now);
        }
        d
    }
}

#[cfg(test)]
mod tests;
