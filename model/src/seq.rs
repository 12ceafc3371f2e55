//! Sequence numbers and timestamps: 32-bit values compared modulo 2³².
//!
//! Read first: RFC 9293 §3.4 ("Sequence Numbers": "all arithmetic dealing with sequence
//! numbers must be performed modulo 2**32", and the comparisons `<`, `=<` used there);
//! RFC 7323 §5.3 (PAWS: TSval compared with TS.Recent "modulo 2**32", R1 "if SEG.TSval <
//! TS.Recent"); RFC 1982 (serial number arithmetic, the same rule stated in general).
//!
//! Neither type implements `Ord`/`PartialOrd`: the space is circular, not totally ordered
//! (`a.lt(b)` and `b.lt(c)` do not imply `a.lt(c)`), so sorting by these values would be
//! meaningless. The comparison methods say what they mean instead.

use std::fmt;
use std::ops::{Add, Sub};

/// A TCP sequence or acknowledgement number (SEG.SEQ, SEG.ACK, SND.NXT, RCV.NXT, ISS…),
/// compared modulo 2³² as RFC 9293 §3.4 requires: `a < b` means `b` is less than 2³¹ ahead
/// of `a` (`(b − a) mod 2³²` in `1..2³¹`). `Display` prints the plain number.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct SeqNum(pub u32);

impl SeqNum {
    /// `self < other` in sequence space (RFC 9293 §3.4, modulo 2³²).
    pub fn lt(self, other: SeqNum) -> bool {
        (self - other) < 0
    }

    /// `self ≤ other` in sequence space (RFC 9293 §3.4, modulo 2³²).
    pub fn le(self, other: SeqNum) -> bool {
        (self - other) <= 0
    }

    /// `self > other` in sequence space (RFC 9293 §3.4, modulo 2³²).
    pub fn gt(self, other: SeqNum) -> bool {
        other.lt(self)
    }

    /// `self ≥ other` in sequence space (RFC 9293 §3.4, modulo 2³²).
    pub fn ge(self, other: SeqNum) -> bool {
        other.le(self)
    }

    /// `self + n` modulo 2³² (`n` in sequence-space units, i.e. bytes, SYN and FIN).
    pub fn wrapping_add(self, n: u32) -> SeqNum {
        SeqNum(self.0.wrapping_add(n))
    }

    /// `start ≤ self < start + len` in sequence space: the RFC 9293 §3.10.7.4 window test
    /// (`RCV.NXT =< SEG.SEQ < RCV.NXT+RCV.WND`). `len` is in sequence-space units; an empty
    /// window (`len` = 0) contains nothing.
    pub fn in_window(self, start: SeqNum, len: u32) -> bool {
        start.le(self) && self.lt(start.wrapping_add(len))
    }
}

/// The receiver's acceptability test (RFC 9293 §3.10.7.4, Table 6) of a segment with SEG.SEQ
/// `seq` and SEG.LEN `len` (sequence-space units) against RCV.NXT `rcv_nxt` and RCV.WND `wnd`
/// (bytes): an empty segment needs `SEG.SEQ = RCV.NXT` (closed window) or SEG.SEQ in the
/// window; a segment with data needs an open window and its first or last octet in it.
pub fn seq_acceptable(seq: SeqNum, len: u32, rcv_nxt: SeqNum, wnd: u32) -> bool {
    let in_wnd = |s: SeqNum| s.in_window(rcv_nxt, wnd);
    match (len, wnd) {
        (0, 0) => seq == rcv_nxt,
        (0, _) => in_wnd(seq),
        (_, 0) => false,
        _ => in_wnd(seq) || in_wnd(seq.wrapping_add(len - 1)),
    }
}

impl Add<u32> for SeqNum {
    type Output = SeqNum;

    /// `self + n` modulo 2³² ([`SeqNum::wrapping_add`]).
    fn add(self, n: u32) -> SeqNum {
        self.wrapping_add(n)
    }
}

impl Sub<SeqNum> for SeqNum {
    type Output = i32;

    /// The signed distance `self − other` modulo 2³², in `-2³¹..2³¹`: positive when `self`
    /// is ahead of `other` in sequence space.
    fn sub(self, other: SeqNum) -> i32 {
        self.0.wrapping_sub(other.0) as i32
    }
}

impl fmt::Display for SeqNum {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// The TSval of an RFC 7323 timestamp option (or TS.Recent, a stored TSval), a 32-bit clock
/// of unspecified unit compared modulo 2³² (RFC 7323 §5.3 PAWS, and Linux
/// `tcp_paws_check`: `(s32)(rx_opt->ts_recent - rx_opt->rcv_tsval) > 0`). `Display` prints
/// the plain number.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct TsVal(pub u32);

impl TsVal {
    /// `self` is older than `other` modulo 2³² (RFC 7323 §5.3 R1: "SEG.TSval < TS.Recent"
    /// rejects the segment under PAWS).
    pub fn before(self, other: TsVal) -> bool {
        (self - other) < 0
    }

    /// `self` is newer than `other` modulo 2³² (RFC 6191 §2: "TSval > TS.Recent").
    pub fn after(self, other: TsVal) -> bool {
        other.before(self)
    }

    /// `self + n` modulo 2³² (`n` in timestamp-clock ticks).
    pub fn wrapping_add(self, n: u32) -> TsVal {
        TsVal(self.0.wrapping_add(n))
    }
}

impl Sub<TsVal> for TsVal {
    type Output = i32;

    /// The signed distance `self − other` modulo 2³², in timestamp-clock ticks: negative
    /// when `self` is older.
    fn sub(self, other: TsVal) -> i32 {
        self.0.wrapping_sub(other.0) as i32
    }
}

impl fmt::Display for TsVal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn acceptability_follows_rfc9293_table_6() {
        let nxt = SeqNum(u32::MAX - 4); // the window wraps around 2^32
                                        // zero-length segments
        assert!(seq_acceptable(nxt, 0, nxt, 0));
        assert!(!seq_acceptable(nxt + 1, 0, nxt, 0));
        assert!(seq_acceptable(nxt + 99, 0, nxt, 100) && !seq_acceptable(nxt + 100, 0, nxt, 100));
        assert!(!seq_acceptable(SeqNum(nxt.0 - 1), 0, nxt, 100));
        // segments with data: the first or the last octet in the window
        assert!(!seq_acceptable(nxt, 10, nxt, 0));
        assert!(seq_acceptable(SeqNum(nxt.0 - 9), 10, nxt, 100));
        assert!(!seq_acceptable(SeqNum(nxt.0 - 10), 10, nxt, 100));
        assert!(seq_acceptable(nxt + 99, 10, nxt, 100) && !seq_acceptable(nxt + 100, 10, nxt, 100));
    }

    const MAX: SeqNum = SeqNum(u32::MAX);

    #[test]
    fn comparisons_wrap_around() {
        assert!(SeqNum(u32::MAX - 1).lt(SeqNum(3)));
        assert!(!SeqNum(3).lt(SeqNum(u32::MAX - 1)));
        assert!(SeqNum(3).gt(MAX));
        assert!(MAX.lt(SeqNum(0)));
        assert!(SeqNum(0).gt(MAX));
        assert!(SeqNum(7).le(SeqNum(7)) && SeqNum(7).ge(SeqNum(7)));
        assert!(!SeqNum(7).lt(SeqNum(7)) && !SeqNum(7).gt(SeqNum(7)));
    }

    #[test]
    fn half_the_space_apart_is_behind() {
        // Exactly 2³¹ apart: both read as "before" the other (RFC 1982 leaves it undefined;
        // the (s32) cast says negative).
        let a = SeqNum(0);
        let b = SeqNum(1 << 31);
        assert!(a.gt(b) || a.lt(b));
        assert_eq!(b - a, i32::MIN);
        assert!(SeqNum((1 << 31) - 1).gt(a));
    }

    #[test]
    fn arithmetic_wraps() {
        assert_eq!(MAX + 2, SeqNum(1));
        assert_eq!(MAX.wrapping_add(1), SeqNum(0));
        assert_eq!(SeqNum(1) - MAX, 2);
        assert_eq!(MAX - SeqNum(1), -2);
        assert_eq!(SeqNum(42).to_string(), "42");
    }

    #[test]
    fn window_across_the_wrap() {
        let start = SeqNum(u32::MAX - 9);
        assert!(start.in_window(start, 20));
        assert!(SeqNum(5).in_window(start, 20));
        assert!(!SeqNum(10).in_window(start, 20));
        assert!(!SeqNum(u32::MAX - 10).in_window(start, 20));
        assert!(!start.in_window(start, 0));
    }

    #[test]
    fn timestamps_wrap_around() {
        assert!(TsVal(u32::MAX).before(TsVal(1)));
        assert!(TsVal(1).after(TsVal(u32::MAX)));
        assert!(!TsVal(5).before(TsVal(5)) && !TsVal(5).after(TsVal(5)));
        assert_eq!(TsVal(3) - TsVal(u32::MAX), 4);
        assert_eq!(TsVal(u32::MAX).wrapping_add(2), TsVal(1));
        assert_eq!(TsVal(9).to_string(), "9");
    }
}
