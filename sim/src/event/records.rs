//! The record types of the trace, one struct (or enum) per record, with their field docs,
//! serialisation (keys as `docs/trace-format.md` gives them, times in µs) and timeline text.

use crate::wire::{SegMeta, TcpFlags};
use serde::{Serialize, Serializer};
use std::fmt::Display;
use std::net::SocketAddrV4;
use twsim_model::{Duration, FourTuple, Instant, SeqNum, TcpState};

fn display<T: Display, S: Serializer>(v: &T, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(v)
}

fn opt_display<T: Display, S: Serializer>(v: &Option<T>, s: S) -> Result<S::Ok, S::Error> {
    match v {
        Some(v) => s.collect_str(v),
        None => s.serialize_none(),
    }
}

/// A sequence number as the plain 32-bit number.
fn seq_num<S: Serializer>(v: &SeqNum, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u32(v.0)
}

fn opt_seq_num<S: Serializer>(v: &Option<SeqNum>, s: S) -> Result<S::Ok, S::Error> {
    match v {
        Some(v) => s.serialize_u32(v.0),
        None => s.serialize_none(),
    }
}

fn instant_us<S: Serializer>(v: &Instant, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(v.micros())
}

fn duration_us<S: Serializer>(v: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(v.micros())
}

/// `run`: what the run simulates.
#[derive(Debug, Clone, Serialize)]
pub struct RunStart {
    /// Scenario name.
    pub scenario: String,
    /// Variant name.
    pub variant: Option<String>,
    /// Run seed.
    pub seed: u64,
    /// twsim version.
    pub version: &'static str,
    /// MSL_net: segments older than this are dropped (µs).
    #[serde(rename = "max_lifetime_us", serialize_with = "duration_us")]
    pub max_lifetime: Duration,
    /// The hosts.
    pub hosts: Vec<HostInfo>,
    /// The routes.
    pub routes: Vec<RouteInfo>,
}

/// A host of a `run` record.
#[derive(Debug, Clone, Serialize)]
pub struct HostInfo {
    /// Name.
    pub name: String,
    /// IPv4 address as text.
    pub addr: String,
    /// Profile name.
    pub os: &'static str,
    /// The TIME-WAIT length this host uses (µs).
    #[serde(rename = "time_wait_us", serialize_with = "duration_us")]
    pub time_wait: Duration,
}

/// A route of a `run` record.
#[derive(Debug, Clone, Serialize)]
pub struct RouteInfo {
    /// Name.
    pub name: String,
    /// Fixed delay in µs; `None` for a distribution.
    pub delay_us: Option<u64>,
    /// The delay or distribution as text.
    pub delay: String,
    /// Loss probability.
    pub loss: f64,
    /// Duplication probability.
    pub duplicate: f64,
}

/// The segment fields every `segment` record carries.
#[derive(Debug, Clone, Serialize)]
pub struct SegFields {
    /// Source endpoint (a string in the trace).
    #[serde(serialize_with = "display")]
    pub src: SocketAddrV4,
    /// Destination endpoint (a string in the trace).
    #[serde(serialize_with = "display")]
    pub dst: SocketAddrV4,
    /// tcpdump flag letters.
    pub flags: String,
    /// SEG.SEQ.
    #[serde(serialize_with = "seq_num")]
    pub seq: SeqNum,
    /// SEG.ACK, `None` without ACK.
    #[serde(serialize_with = "opt_seq_num")]
    pub ack: Option<SeqNum>,
    /// Payload bytes.
    pub len: u32,
    /// Window field (unscaled).
    pub win: u16,
}

impl SegFields {
    /// The fields of a parsed segment.
    pub fn of(seg: &SegMeta) -> SegFields {
        SegFields {
            src: seg.src,
            dst: seg.dst,
            flags: seg.flag_letters(),
            seq: seg.seq,
            ack: seg.flags.contains(TcpFlags::ACK).then_some(seg.ack),
            len: seg.payload_len,
            win: seg.window,
        }
    }

    /// `a > b [S.] seq=1 ack=2 len=0`, the timeline's view.
    pub fn line(&self, from: &str, to: &str) -> String {
        let ack = self.ack.map_or(String::new(), |a| format!(" ack={a}"));
        format!(
            "{from} > {to} [{}] seq={}{ack} len={}",
            self.flags, self.seq, self.len
        )
    }
}

/// `segment`: one segment handed to the network or delivered.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum SegmentEvent {
    /// Scheduled for delivery.
    Sent {
        /// Segment fields.
        #[serde(flatten)]
        seg: SegFields,
        /// Segment id, unique in the run.
        id: u64,
        /// For a copy: the original's id.
        dup_of: Option<u64>,
        /// Sending host.
        from: String,
        /// Receiving host (`?` when no host has the address).
        to: String,
        /// Route name.
        route: String,
        /// When it will arrive (µs).
        #[serde(rename = "deliver_at_us", serialize_with = "instant_us")]
        deliver_at: Instant,
        /// Fault rule that changed its path or time.
        fault: Option<usize>,
    },
    /// Dropped by the network.
    Dropped {
        /// Segment fields.
        #[serde(flatten)]
        seg: SegFields,
        /// Segment id.
        id: u64,
        /// Sending host.
        from: String,
        /// Receiving host.
        to: String,
        /// `fault`, `loss`, `max_lifetime`, `no_route`.
        reason: &'static str,
        /// Route name.
        route: String,
        /// Fault rule that decided.
        fault: Option<usize>,
    },
    /// Delivered to the receiving host.
    Delivered {
        /// Segment fields.
        #[serde(flatten)]
        seg: SegFields,
        /// Segment id.
        id: u64,
        /// For a copy: the original's id.
        dup_of: Option<u64>,
        /// Route name.
        route: String,
        /// Time since it was sent (µs).
        #[serde(rename = "age_us", serialize_with = "duration_us")]
        age: Duration,
        /// Whether it belongs to an incarnation that no longer exists on the receiver (from
        /// ground truth); `None` where that cannot be told.
        stale: Option<bool>,
        /// The sending incarnation, as the sending host counts them.
        incarnation: Option<u32>,
        /// What the receiver did with it: `delivered`, `queued`, `processed`, `time_wait`,
        /// `listener`, `no_connection`, `aborted`, `dropped`.
        outcome: &'static str,
        /// Bytes of it that became readable (`delivered`).
        readable: Option<u64>,
    },
}

impl SegmentEvent {
    pub(super) fn text(&self) -> Option<String> {
        match self {
            SegmentEvent::Sent {
                seg,
                id,
                dup_of,
                from,
                to,
                route,
                deliver_at,
                fault,
            } => {
                let extra = match (dup_of, fault) {
                    (Some(o), Some(f)) => {
                        format!(
                            " (copy of #{o} by fault #{f}, via {route}, arrives t={deliver_at})"
                        )
                    }
                    (None, Some(f)) => {
                        format!(" (fault #{f}: via {route}, arrives t={deliver_at})")
                    }
                    (Some(o), None) => {
                        format!(
                            " (duplicate of #{o} made by route {route}, arrives t={deliver_at})"
                        )
                    }
                    (None, None) => String::new(),
                };
                Some(format!("#{id} {}{extra}", seg.line(from, to)))
            }
            SegmentEvent::Dropped {
                seg,
                id,
                from,
                to,
                reason,
                fault,
                ..
            } => {
                let why = match fault {
                    Some(f) => format!("{reason}, fault #{f}"),
                    None => reason.to_string(),
                };
                Some(format!("#{id} {} DROPPED ({why})", seg.line(from, to)))
            }
            SegmentEvent::Delivered {
                seg,
                id,
                dup_of,
                age,
                stale,
                incarnation,
                outcome,
                readable,
                ..
            } => {
                let copy = dup_of.map(|o| {
                    format!(
                        "#{id} arrives: copy of #{o} sent {age} ago [{}] seq={}",
                        seg.flags, seg.seq
                    )
                });
                let old = (*stale == Some(true)).then(|| {
                    let what = match readable {
                        Some(n) => format!("{outcome}: {n} byte(s) readable"),
                        None => outcome.to_string(),
                    };
                    let inc = incarnation.map_or(String::new(), |k| format!(" of incarnation {k}"));
                    format!("#{id} is an old duplicate{inc}: {what}")
                });
                match (copy, old) {
                    (Some(c), Some(o)) => Some(format!("{c}; {o}")),
                    (c, o) => c.or(o),
                }
            }
        }
    }
}

/// Why a connection changed state, for the timeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StateCause {
    /// connect() sent the SYN.
    Connect,
    /// The connect deadline passed.
    ConnectTimeout,
    /// smoltcp reported the change.
    #[default]
    Stack,
}

/// `state`: a connection changed state (RFC 9293 names).
#[derive(Debug, Clone, Serialize)]
pub struct StateChange {
    /// Script name of the socket (`(embryonic)` before accept).
    pub sock: String,
    /// `local<->remote`.
    #[serde(serialize_with = "display")]
    pub tuple: FourTuple,
    /// Old state.
    #[serde(serialize_with = "display")]
    pub from: TcpState,
    /// New state.
    #[serde(serialize_with = "display")]
    pub to: TcpState,
    /// How many connections this 4-tuple has had on this host, 1-based.
    pub incarnation: u32,
    /// The connection's ISS as the wire shows it (after the host layer's ISN policy), once
    /// its SYN or SYN-ACK has left; `None` before.
    #[serde(serialize_with = "opt_seq_num")]
    pub iss: Option<SeqNum>,
    /// Why (timeline only).
    #[serde(skip)]
    pub cause: StateCause,
}

impl StateChange {
    pub(super) fn text(&self) -> String {
        let StateChange {
            sock,
            tuple,
            from,
            to,
            incarnation,
            cause,
            ..
        } = self;
        match cause {
            StateCause::Connect => {
                format!("{sock} {tuple}: {from} -> {to} (incarnation {incarnation})")
            }
            StateCause::ConnectTimeout => {
                format!("{sock} {tuple}: {from} -> {to} (connect timed out)")
            }
            StateCause::Stack => format!("{sock} {tuple}: {from} -> {to}"),
        }
    }
}

/// `time_wait`: the life of a TIME-WAIT record.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum TimeWaitEvent {
    /// The record began.
    Created {
        /// Script name of the socket.
        sock: String,
        /// The 4-tuple.
        #[serde(serialize_with = "display")]
        tuple: FourTuple,
        /// Incarnation of the 4-tuple.
        incarnation: u32,
        /// SND.NXT the final ACK carried.
        #[serde(serialize_with = "seq_num")]
        snd_nxt: SeqNum,
        /// RCV.NXT after the peer's FIN.
        #[serde(serialize_with = "seq_num")]
        rcv_nxt: SeqNum,
        /// RCV.WND.
        rcv_wnd: u32,
        /// When it will expire (µs).
        #[serde(rename = "expires_at_us", serialize_with = "instant_us")]
        expires_at: Instant,
        /// Its length, T_TW (µs).
        #[serde(rename = "length_us", serialize_with = "duration_us")]
        length: Duration,
    },
    /// A segment reached the record.
    Segment {
        /// The 4-tuple.
        #[serde(serialize_with = "display")]
        tuple: FourTuple,
        /// tcpdump flag letters.
        flags: String,
        /// SEG.SEQ.
        #[serde(serialize_with = "seq_num")]
        seq: SeqNum,
        /// `ack`, `drop`, `kill`, `rst_and_kill`, `accept_syn`.
        action: &'static str,
        /// Whether the 2MSL timer restarted.
        restarted: bool,
        /// The record's expiry after the segment (µs), `None` once it ended.
        #[serde(rename = "expires_at_us")]
        expires_at_us: Option<u64>,
        /// The RFC section or kernel function applied.
        rule: &'static str,
    },
    /// A record a SYN had reopened comes back (RFC 1122 §4.2.2.13 policies).
    Returned {
        /// The 4-tuple.
        #[serde(serialize_with = "display")]
        tuple: FourTuple,
        /// Incarnation.
        incarnation: u32,
        /// When it first began (µs).
        #[serde(rename = "entered_at_us", serialize_with = "instant_us")]
        entered_at: Instant,
        /// Its unchanged expiry (µs).
        #[serde(rename = "expires_at_us", serialize_with = "instant_us")]
        expires_at: Instant,
        /// The rule.
        rule: &'static str,
    },
    /// No record was made (the linger time replaces TIME-WAIT).
    Skipped {
        /// The 4-tuple.
        #[serde(serialize_with = "display")]
        tuple: FourTuple,
        /// The rule.
        rule: &'static str,
    },
    /// The record ended; `event` is the end reason (`expired`, `assassinated`,
    /// `reused_by_syn`, `recycled_by_connect`).
    #[serde(untagged)]
    Ended(TimeWaitEnd),
}

/// A TIME-WAIT record's end.
#[derive(Debug, Clone, Serialize)]
pub struct TimeWaitEnd {
    /// The end reason's name.
    pub event: &'static str,
    /// Script name of the socket.
    pub sock: String,
    /// The 4-tuple.
    #[serde(serialize_with = "display")]
    pub tuple: FourTuple,
    /// Incarnation.
    pub incarnation: u32,
    /// When it began (µs).
    #[serde(rename = "entered_at_us", serialize_with = "instant_us")]
    pub entered_at: Instant,
    /// How long it lived (µs).
    #[serde(rename = "lived_us", serialize_with = "duration_us")]
    pub lived: Duration,
    /// Timer restarts.
    pub restarts: u32,
}

impl TimeWaitEvent {
    pub(super) fn text(&self) -> String {
        match self {
            TimeWaitEvent::Created {
                tuple,
                snd_nxt,
                rcv_nxt,
                expires_at,
                length,
                ..
            } => format!(
                "TIME-WAIT {tuple} begins: SND.NXT={snd_nxt} RCV.NXT={rcv_nxt}, lasts {length} (until t={expires_at})"
            ),
            TimeWaitEvent::Segment {
                tuple,
                flags,
                seq,
                action,
                restarted,
                rule,
                ..
            } => format!(
                "TIME-WAIT {tuple} <- [{flags}] seq={seq}: {action}{} ({rule})",
                if *restarted { ", timer restarted" } else { "" },
            ),
            TimeWaitEvent::Returned {
                tuple, expires_at, ..
            } => format!(
                "TIME-WAIT {tuple} returns: the reopening SYN was an old duplicate (RFC 1122 §4.2.2.13), until t={expires_at}"
            ),
            TimeWaitEvent::Skipped { tuple, .. } => {
                format!("{tuple}: no TIME-WAIT (linger time 0 replaces it)")
            }
            TimeWaitEvent::Ended(e) => format!(
                "TIME-WAIT {} ended: {} after {} ({} restart(s)); port {} is free of it",
                e.tuple,
                e.event,
                e.lived,
                e.restarts,
                e.tuple.local.port()
            ),
        }
    }
}

/// `no_socket`: a segment matched no connection, TIME-WAIT record or listener.
#[derive(Debug, Clone, Serialize)]
pub struct NoSocket {
    /// `local<->remote` as the receiver sees it.
    pub tuple: String,
    /// tcpdump flag letters.
    pub flags: String,
    /// Why nothing matched.
    pub why: String,
    /// The rule applied (RFC 9293 §3.10.7.1).
    pub rule: &'static str,
    /// The receiving endpoint (timeline only).
    #[serde(skip)]
    pub local: std::net::SocketAddrV4,
}

/// How a socket closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseKind {
    /// A listener closed.
    Listener,
    /// An orderly close: FIN.
    Fin,
    /// SO_LINGER {1,0}: RST, no TIME-WAIT.
    LingerZero,
    /// Closed with unread data: RST (RFC 1122 §4.2.2.13).
    UnreadData,
    /// Data arrived after close: RST (RFC 1122 §4.2.2.13).
    DataAfterClose,
}

/// `close`: a socket's last handle closed. Absent fields are omitted.
#[derive(Debug, Clone, Serialize)]
pub struct Close {
    /// Script name of the socket.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sock: Option<String>,
    /// The connection's 4-tuple.
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "opt_display"
    )]
    pub tuple: Option<FourTuple>,
    /// `listener` for a listener.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub what: Option<&'static str>,
    /// The rule of an abortive close.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rule: Option<&'static str>,
    /// How it closed (the record's shape follows from it).
    #[serde(skip)]
    pub kind: CloseKind,
}

impl Close {
    /// The record of a close of `kind`.
    pub fn new(kind: CloseKind, sock: Option<String>, tuple: Option<FourTuple>) -> Close {
        let (what, rule) = match kind {
            CloseKind::Listener => (Some("listener"), None),
            CloseKind::Fin => (None, None),
            CloseKind::LingerZero => (None, Some("SO_LINGER {1,0}: abortive close, RST")),
            CloseKind::UnreadData => (
                None,
                Some("RFC 1122 §4.2.2.13: close with unread data sends RST"),
            ),
            CloseKind::DataAfterClose => {
                (None, Some("RFC 1122 §4.2.2.13: data after close, send RST"))
            }
        };
        Close {
            sock,
            tuple,
            what,
            rule,
            kind,
        }
    }

    pub(super) fn text(&self) -> String {
        let sock = self.sock.as_deref().unwrap_or("");
        match self.kind {
            CloseKind::Listener => format!("{sock}: listener closed"),
            CloseKind::Fin => format!("{sock}: close -> FIN"),
            CloseKind::LingerZero => format!("{sock}: SO_LINGER {{1,0}}: RST, no TIME-WAIT"),
            CloseKind::UnreadData => format!("{sock}: closed with unread data: RST"),
            CloseKind::DataAfterClose => match &self.tuple {
                Some(t) => format!("{t}: data after close: RST"),
                None => "data after close: RST".into(),
            },
        }
    }
}

/// `drop`: the host layer discarded a segment. Absent fields are omitted.
#[derive(Debug, Clone, Serialize)]
pub struct HostDrop {
    /// `listen queue full`, `SYN+FIN`, `SYN+FIN discarded by the listener`.
    pub reason: &'static str,
    /// The 4-tuple, when the segment had one.
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "opt_display"
    )]
    pub tuple: Option<FourTuple>,
}

/// `call`: one step completed.
#[derive(Debug, Clone, Serialize)]
pub struct CallDone {
    /// Index in `steps`.
    pub step: usize,
    /// Process.
    pub proc: String,
    /// The call as text, e.g. `bind(L2, 0.0.0.0:9099)`.
    pub call: String,
    /// When it started (µs).
    #[serde(rename = "started_at_us", serialize_with = "instant_us")]
    pub started_at: Instant,
    /// `ok` or the POSIX errno name.
    pub result: &'static str,
    /// What a successful call returned, as text.
    pub detail: Option<String>,
    /// The result as the profile spells it.
    pub shown: String,
    /// The expectation (`ok` or an errno name).
    pub expect: Option<&'static str>,
    /// Whether the expectations held.
    pub met: Option<bool>,
    /// The expectation as the profile spells it (timeline only).
    #[serde(skip)]
    pub expect_shown: Option<String>,
    /// The step's teaching note for this outcome (timeline only).
    #[serde(skip)]
    pub note: Option<String>,
    /// When set, `expect` is the story's outcome under this reference profile, not a
    /// requirement (a demo run under another profile); absent otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reference: Option<&'static str>,
}

impl CallDone {
    pub(super) fn text(&self) -> Vec<String> {
        let mut out = Vec::with_capacity(2);
        if let Some(n) = &self.note {
            out.push(format!("-- {n}"));
        }
        let proc = if self.proc == "main" {
            String::new()
        } else {
            format!("[{}] ", self.proc)
        };
        let (expect, mark) = match (self.reference, self.met) {
            (Some(_), Some(true)) => (String::new(), " \u{2713}"),
            (Some(r), Some(false)) => (
                format!(" ({r}: {})", self.expect.unwrap_or("?")),
                " \u{2260} the story",
            ),
            (_, met) => (
                self.expect_shown
                    .as_ref()
                    .map_or(String::new(), |e| format!(" (expected {e})")),
                match met {
                    Some(true) => " \u{2713}",
                    Some(false) => " \u{2717} UNEXPECTED",
                    None => "",
                },
            ),
        };
        out.push(format!(
            "{proc}{} = {}{expect}{mark}",
            self.call, self.shown
        ));
        out
    }
}

/// `end`: the last trace line.
#[derive(Debug, Clone, Serialize)]
pub struct RunEnd {
    /// Steps completed.
    pub steps: usize,
    /// Steps never reached.
    pub unreached: usize,
    /// Segments put on the wire, copies included.
    pub segments: u64,
    /// Why the run stopped early.
    pub aborted: Option<String>,
}

/// `hazard`: a stale-segment hazard seen from ground truth (RFC 1337 H1/H2/H3).
#[derive(Debug, Clone, Serialize)]
pub struct Hazard {
    /// The affected connection's 4-tuple (the receiver's view).
    #[serde(serialize_with = "display")]
    pub tuple: FourTuple,
    /// The affected connection's incarnation (as its host counts them).
    pub incarnation: u32,
    /// Which hazard, with its figures.
    #[serde(flatten)]
    pub what: HazardKind,
}

/// The hazards a `hazard` record reports (its `kind` field and the fields that go with it).
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum HazardKind {
    /// H1 (RFC 1337 §2.2): bytes of an earlier incarnation became readable in this one.
    OldDuplicateDelivered {
        /// The incarnation that sent the bytes (as the sending host counts them).
        from_incarnation: u32,
        /// How many bytes became readable.
        bytes: u64,
        /// Receive-stream offset of the first, in bytes.
        offset: u64,
    },
    /// H2 (RFC 1337 §2.3): this many ACKs of data never sent arrived in a row without
    /// progress, the first at `since`: an ACK war began.
    AckWar {
        /// ACKs of unsent data received so far.
        acks: u64,
        /// When the first arrived (µs of virtual time).
        #[serde(rename = "since_us", serialize_with = "instant_us")]
        since: Instant,
    },
    /// The ACK war ended (progress, or the connection ended).
    AckWarEnd {
        /// ACKs of unsent data received in the war.
        acks: u64,
        /// From its first ACK to its end (µs).
        #[serde(rename = "duration_us", serialize_with = "duration_us")]
        duration: Duration,
    },
    /// H3 (RFC 1337 §2.4): a connection whose `connect()` succeeded was reset, before any
    /// byte arrived, by a peer that holds no connection for its 4-tuple.
    H3Reset,
}

/// `error`: an internal inconsistency the run survived.
#[derive(Debug, Clone, Serialize)]
pub struct Internal {
    /// What went wrong.
    pub what: &'static str,
    /// The 4-tuple concerned.
    #[serde(serialize_with = "display")]
    pub tuple: FourTuple,
}
