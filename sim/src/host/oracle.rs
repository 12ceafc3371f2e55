//! Ground truth of every delivered byte: the receive-side oracle of stale-segment hazards.
//!
//! Every segment a connection sends carries its provenance beside the bytes (the sending
//! connection endpoint, its incarnation, the stream offset; [`crate::wire::Provenance`], never
//! on the wire). A receiving connection knows its peer endpoint from the peer's SYN, or from
//! the SYN-ACK smoltcp accepted (a newer endpoint of the same host supersedes it).
//! When a delivered segment makes bytes readable (smoltcp's receive queue grows), the oracle
//! attributes each new readable byte to the segment that wrote it — the delivered one, or an
//! earlier out-of-order one smoltcp kept, the later writer winning as smoltcp's reassembly
//! buffer does — and counts the bytes whose provenance is not the current peer: bytes of an
//! old incarnation read as the new one's (the hazard TIME-WAIT exists to prevent, RFC 793
//! §3.3 "Knowing When to Keep Quiet", RFC 1337 H1). Nothing is inferred from sequence numbers
//! except where a byte lands, which is what the receiver itself computes.

use serde::Serialize;

/// Stale-segment hazards seen by a host (summed over hosts in the `--json` summary,
/// `"hazards"`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct Hazards {
    /// Segments from another connection endpoint than the receiving connection's peer (an
    /// earlier incarnation of the 4-tuple) that reached a live connection.
    pub stale_arrivals: u64,
    /// Stale segments some of whose bytes became readable.
    pub stale_delivered: u64,
    /// Deliveries after which the readable stream held bytes not sent by the current peer.
    pub corruption_events: u64,
    /// Readable bytes not sent by the current peer.
    pub corrupted_bytes: u64,
    /// The receive-stream offset (bytes) of the first such byte, if any.
    pub first_corrupt_offset: Option<u64>,
    /// Stale arrivals at a live connection whose SEQ passed the receiver's acceptability test
    /// (RFC 9293 §3.10.7.4 Table 6: `−L < d < W` with d = SEG.SEQ − RCV.NXT, the receiver's
    /// actual RCV.NXT and RCV.WND at arrival; time-wait.md "SEQ_OK").
    pub stale_seq_ok: u64,
    /// Of those, the ones whose ACK the receiver accepts: SND.UNA ≤ SEG.ACK ≤ SND.UNA + the
    /// bytes it holds to send (+1 for an unacknowledged SYN or FIN), smoltcp's test (its
    /// `process`: a lower ACK drops the segment, a higher one draws a challenge ACK).
    pub stale_ack_ok: u64,
    /// Of those, the ones PAWS lets through (RFC 7323 §5.3: SEG.TSval not older than
    /// TS.Recent, where the connection uses timestamps): the stale arrivals the receiver is
    /// predicted to accept.
    pub stale_paws_ok: u64,
    /// Stale segments with data whose bytes the receiver wrote into its receive buffer
    /// (readable or queued), from ground truth: the observed acceptances that
    /// `stale_paws_ok` predicts.
    pub stale_written: u64,
    /// The expected number of stale arrivals accepted under the hosts' ISN policies: the sum
    /// over stale arrivals at live connections of P(SEQ_OK)·P(ACK_OK)·1{PAWS_OK}
    /// (time-wait.md "Analytic model"). A random ISS on the sending side makes
    /// P(SEQ_OK) = (W + L − 1) / 2³² (the 2³²-space measure of the acceptable SEQ values),
    /// on the receiving side P(ACK_OK) = (acceptable ACK values) / 2³²; a deterministic
    /// policy (constant, scripted, clock, RFC 6528, TIME-WAIT reuse) makes each factor the
    /// predicate itself, 0 or 1.
    pub expected_accepted: f64,
    /// TIME-WAIT records killed by a segment (TIME-WAIT assassination, RFC 1337).
    pub assassinations: u64,
    /// ACK wars (RFC 1337 H2, §2.3): a connection received [`ACK_WAR_MIN`] or more ACKs of
    /// data it never sent in a row without progress, each answered with an ACK. Counted once
    /// per war, at the end that receives the ACKs of unsent data.
    pub ack_wars: u64,
    /// New connections reset (RFC 1337 H3, §2.4): `connect()` succeeded, then an RST from a
    /// peer holding no connection for the 4-tuple ended it before any byte arrived.
    pub h3_resets: u64,
    /// Connections in LAST-ACK ended by the peer's RST: the peer held no TIME-WAIT to answer
    /// a retransmitted FIN (RFC 9293 §3.6.1).
    pub lastack_resets: u64,
}

/// ACKs of unsent data in a row, each answered, that make an ACK war (RFC 1337 §2.3: "an
/// infinite ACK loop"; ten round trips without progress are no accident of reordering).
pub const ACK_WAR_MIN: u64 = 10;

impl Hazards {
    /// Adds another host's counts (the first corrupt offset is the smaller of the two).
    pub fn add(&mut self, o: &Hazards) {
        self.stale_arrivals += o.stale_arrivals;
        self.stale_delivered += o.stale_delivered;
        self.stale_seq_ok += o.stale_seq_ok;
        self.stale_ack_ok += o.stale_ack_ok;
        self.stale_paws_ok += o.stale_paws_ok;
        self.stale_written += o.stale_written;
        self.expected_accepted += o.expected_accepted;
        self.ack_wars += o.ack_wars;
        self.h3_resets += o.h3_resets;
        self.corruption_events += o.corruption_events;
        self.corrupted_bytes += o.corrupted_bytes;
        self.assassinations += o.assassinations;
        self.lastack_resets += o.lastack_resets;
        self.first_corrupt_offset = match (self.first_corrupt_offset, o.first_corrupt_offset) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
    }
}

/// What became of one segment delivered to a host, from ground truth.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Arrival {
    /// Whether it belongs to an incarnation that no longer exists on the receiver: sent by
    /// another endpoint than the live connection's peer, or meeting no connection at all;
    /// `None` where provenance cannot tell (no provenance, a TIME-WAIT record, a new SYN).
    pub stale: Option<bool>,
    /// The sending incarnation (as the sending host counts them), when known.
    pub incarnation: Option<u32>,
    /// What the receiver did with it.
    pub outcome: Outcome,
}

/// What a receiver did with a segment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Some of its bytes became readable (this many).
    Delivered(u64),
    /// Its bytes wait in the window for earlier ones.
    Queued,
    /// A live connection took it without data becoming readable or queued (pure ACK,
    /// control, out of the window, or rejected).
    Processed,
    /// PAWS discarded it before the connection saw it (RFC 7323 §5.3: SEG.TSval older than
    /// TS.Recent).
    PawsRejected,
    /// A stale segment whose SEQ the receiver found outside its window (RFC 9293 §3.10.7.4):
    /// nothing of it was taken.
    OutsideWindow,
    /// A stale segment inside the window whose ACK the receiver did not accept (an ACK of
    /// data never sent, or below SND.UNA): nothing of it was taken.
    BadAck,
    /// It met a TIME-WAIT record (the profile's policy decided).
    TimeWait,
    /// A listener took it (a SYN).
    Listener,
    /// It met no connection, record or listener (RFC 9293 §3.10.7.1).
    NoConnection,
    /// Data for a socket its application closed: the connection was reset.
    Aborted,
    /// The host dropped it before any lookup, or a listener discarded it (a SYN+FIN, per the
    /// profile's [`twsim_model::SynFinRule`]).
    Dropped,
    /// Not addressed to this host.
    NotMine,
}

impl Outcome {
    /// The trace's spelling.
    pub fn name(self) -> &'static str {
        match self {
            Outcome::Delivered(_) => "delivered",
            Outcome::Queued => "queued",
            Outcome::Processed => "processed",
            Outcome::PawsRejected => "paws_rejected",
            Outcome::OutsideWindow => "outside_window",
            Outcome::BadAck => "bad_ack",
            Outcome::TimeWait => "time_wait",
            Outcome::Listener => "listener",
            Outcome::NoConnection => "no_connection",
            Outcome::Aborted => "aborted",
            Outcome::Dropped => "dropped",
            Outcome::NotMine => "not_mine",
        }
    }
}

/// Bytes written into a connection's receive buffer that are not readable yet, and who wrote
/// them.
#[derive(Debug, Default)]
pub(super) struct RxOracle {
    /// Bytes that have become readable so far (the receive stream's length, bytes).
    readable: u64,
    /// Written ranges `[start, end)` of the receive stream not yet readable, in the order
    /// they were written, with the writer's incarnation when it was stale.
    pending: Vec<(u64, u64, Option<u32>)>,
}

/// What one delivered segment became, from the oracle's ground truth.
#[derive(Debug, Default, PartialEq, Eq)]
pub(super) struct Delivery {
    /// Bytes of this segment that became readable.
    pub(super) readable: u64,
    /// Whether some of its bytes wait, in the window, for earlier bytes.
    pub(super) queued: bool,
    /// Bytes not sent by the current peer that became readable, if any.
    pub(super) corruption: Option<Corruption>,
}

/// Corrupted bytes a delivery made readable.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Corruption {
    /// How many.
    pub(super) bytes: u64,
    /// Receive-stream offset of the first.
    pub(super) offset: u64,
    /// The incarnation (as its sender counts them) that wrote the first.
    pub(super) from: u32,
    /// Whether the delivered segment itself wrote some of them.
    pub(super) by_this_segment: bool,
}

impl RxOracle {
    /// Bytes that have become readable so far: RCV.NXT as a receive-stream offset.
    pub(super) fn readable(&self) -> u64 {
        self.readable
    }

    /// Most written-but-unreadable ranges kept (older ones are forgotten first).
    const PENDING_MAX: usize = 64;

    /// A segment covering receive-stream offsets `[start, start + len)` was delivered
    /// (`stale`: the sending incarnation when it is not the current peer) while the receive
    /// window held `window` bytes, after which `newly_readable` bytes became readable. Only
    /// the part inside the window can have been written (RFC 9293 §3.10.7.4: the rest is
    /// trimmed), so only that part may later be read.
    pub(super) fn delivered(
        &mut self,
        start: u64,
        len: u64,
        stale: Option<u32>,
        window: u64,
        newly_readable: u64,
    ) -> Delivery {
        let lo = self.readable;
        let (w0, w1) = (
            start.max(lo),
            (start + len).min(lo + window.max(newly_readable)),
        );
        // Bytes at RCV.NXT that did not become readable were not written: smoltcp dropped the
        // segment (an unacceptable ACK, for instance), so it cannot be credited later.
        let written = w0 < w1 && !(w0 == lo && newly_readable == 0);
        let hi = lo + newly_readable;
        if self.pending.is_empty() && (!written || (stale.is_none() && w1 <= hi)) {
            // The common cases, nothing written (an empty segment, say) or genuine bytes read
            // at once: nothing to remember.
            self.readable = hi;
            return Delivery {
                readable: if written { w1 - w0 } else { 0 },
                queued: false,
                corruption: None,
            };
        }
        self.remember(lo, hi, (w0, w1), written, stale)
    }

    /// [`RxOracle::delivered`] where ranges are remembered or were: the range `(w0, w1)` of
    /// the segment that was `written`, the readable offsets having moved from `lo` to `hi`.
    #[cold]
    #[inline(never)]
    fn remember(
        &mut self,
        lo: u64,
        hi: u64,
        (w0, w1): (u64, u64),
        written: bool,
        stale: Option<u32>,
    ) -> Delivery {
        let newly_readable = hi - lo;
        if written {
            if self.pending.len() >= Self::PENDING_MAX {
                self.pending.remove(0);
            }
            self.pending.push((w0, w1, stale));
        }
        let readable = if written {
            w1.min(hi).saturating_sub(w0)
        } else {
            0
        };
        let queued = written && w1 > hi;
        self.readable = hi;
        let this = self.pending.len().checked_sub(usize::from(written));
        let mut out = None;
        if newly_readable > 0 && self.pending.iter().any(|p| p.2.is_some()) {
            let mut bytes = 0;
            let mut first: Option<(u64, u32)> = None;
            let mut by_this = false;
            for off in lo..hi {
                // The last writer of this byte.
                let w = self
                    .pending
                    .iter()
                    .enumerate()
                    .rev()
                    .find(|(_, p)| p.0 <= off && off < p.1);
                if let Some((i, &(_, _, Some(inc)))) = w {
                    bytes += 1;
                    first.get_or_insert((off, inc));
                    by_this |= Some(i) == this;
                }
            }
            if let Some((offset, from)) = first {
                out = Some(Corruption {
                    bytes,
                    offset,
                    from,
                    by_this_segment: by_this,
                });
            }
        }
        self.pending.retain(|p| p.1 > hi);
        Delivery {
            readable,
            queued,
            corruption: out,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn in_order_genuine_bytes_are_not_corruption() {
        let mut o = RxOracle::default();
        let d = o.delivered(0, 10, None, 100, 10);
        assert_eq!((d.readable, d.queued, d.corruption), (10, false, None));
        assert_eq!(o.delivered(10, 5, None, 100, 5).corruption, None);
        assert!(o.pending.is_empty());
    }

    #[test]
    fn a_stale_segment_at_rcv_nxt_is_corruption() {
        let mut o = RxOracle::default();
        let c = o
            .delivered(0, 11, Some(1), 100, 11)
            .corruption
            .expect("corruption");
        assert_eq!(
            (c.bytes, c.offset, c.from, c.by_this_segment),
            (11, 0, 1, true)
        );
        // The genuine bytes for the same offsets arrive later: already read, nothing new.
        assert_eq!(o.delivered(0, 11, None, 100, 0), Delivery::default());
    }

    #[test]
    fn stale_bytes_held_out_of_order_count_when_released() {
        let mut o = RxOracle::default();
        // A segment at RCV.NXT that made nothing readable was dropped: never credited.
        assert_eq!(o.delivered(0, 5, Some(2), 100, 0), Delivery::default());
        assert!(o.pending.is_empty());
        // A stale segment lands beyond RCV.NXT: kept, not readable.
        let d = o.delivered(5, 5, Some(2), 100, 0);
        assert_eq!((d.readable, d.queued, d.corruption), (0, true, None));
        // The genuine first five bytes release all ten.
        let c = o
            .delivered(0, 5, None, 100, 10)
            .corruption
            .expect("released stale bytes");
        assert_eq!(
            (c.bytes, c.offset, c.from, c.by_this_segment),
            (5, 5, 2, false)
        );
        // A later genuine write over stale pending bytes wins (the last writer).
        assert_eq!(o.delivered(15, 5, Some(2), 100, 0).corruption, None);
        assert_eq!(o.delivered(15, 5, None, 100, 0).corruption, None);
        assert_eq!(o.delivered(10, 5, None, 100, 10).corruption, None);
    }

    #[test]
    fn bytes_outside_the_window_are_never_written() {
        let mut o = RxOracle::default();
        // A stale copy 2.5 MB ahead (RFC 793 clock ISNs): outside a 16 KiB window.
        assert_eq!(
            o.delivered(2_500_000, 11, Some(1), 16_384, 0),
            Delivery::default()
        );
        assert!(o.pending.is_empty());
        // The stream later reaches that offset: only genuine bytes were ever written there.
        let d = o.delivered(0, 2_500_011, None, 3_000_000, 2_500_011);
        assert_eq!(d.corruption, None);
    }

    #[test]
    fn hazards_add_up() {
        let mut a = Hazards {
            corrupted_bytes: 3,
            first_corrupt_offset: Some(9),
            ..Hazards::default()
        };
        a.add(&Hazards {
            corruption_events: 1,
            corrupted_bytes: 2,
            first_corrupt_offset: Some(4),
            ..Hazards::default()
        });
        assert_eq!(
            (
                a.corruption_events,
                a.corrupted_bytes,
                a.first_corrupt_offset
            ),
            (1, 5, Some(4))
        );
    }
}
