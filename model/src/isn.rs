//! Initial send sequence numbers (ISS): how a host chooses the first sequence number of each
//! connection.
//!
//! Read first: RFC 793 §3.3 "Initial Sequence Number Selection" (a clock incremented every
//! 4 µs, cycling in about 4.55 h — 4.77 h with exact arithmetic), RFC 9293 §3.4.1 (the same
//! section, which now requires RFC 6528's method), RFC 6528 §3 (ISN = M + F(localip,
//! localport, remoteip, remoteport, secretkey)), and Linux `secure_tcp_seq` /
//! `secure_tcpv6_seq` with `seq_scale` (net/core/secure_seq.c): F is SipHash-2-4 of the
//! 4-tuple under a boot-time secret, M the real-time clock in nanoseconds shifted right by 6
//! (one tick every 64 ns).
//!
//! Sans-IO like the rest of the crate: [`IsnGenerator::next`] takes `now` and the connection's
//! 4-tuple and returns a value; the key comes from the caller (derived from the run seed), so
//! a run stays a pure function of (scenario, seed).

use crate::addr::{unmapped, FourTuple};
use crate::seq::SeqNum;
use crate::time::Instant;
use siphasher::sip::SipHasher24;
use std::hash::Hasher;
use std::net::IpAddr;

/// How a host chooses the initial send sequence number (ISS) of each connection.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub enum IsnPolicy {
    /// The stack's own generator (smoltcp's, seeded from the run seed). Default.
    #[default]
    Random,
    /// RFC 793 §3.3: ISS = ⌊t / 4 µs⌋ mod 2³² (t = virtual time since the start of the run).
    Rfc793Clock,
    /// RFC 6528: ISS = M + F(localip, localport, remoteip, remoteport, secretkey), with Linux's
    /// M = ns >> 6 (`secure_tcp_seq`) and F a keyed SipHash (key from the run seed).
    Rfc6528,
    /// Every connection gets this ISS.
    Constant(SeqNum),
    /// The host's k-th connection (active or passive, in order of creation, 0-based) gets the
    /// k-th entry; the list starts again after its end.
    Scripted(Vec<SeqNum>),
}

/// A host's ISS generator: the policy, its key, and how many ISSs it has issued.
#[derive(Clone, Debug)]
pub struct IsnGenerator {
    /// The policy.
    policy: IsnPolicy,
    /// The 128-bit SipHash key (k0, k1) of [`IsnPolicy::Rfc6528`], expanded from the 64-bit
    /// key given to [`IsnGenerator::new`].
    sip_key: (u64, u64),
    /// Connections counted so far (the index of the next one).
    issued: u64,
}

impl IsnGenerator {
    /// A generator for one host; `key` (from the run seed) keys RFC 6528's hash.
    ///
    /// The 64-bit `key` becomes SipHash's 128-bit key (k0, k1) as the first two outputs of
    /// SplitMix64 seeded with `key` (the usual way to expand a 64-bit seed; fixed arithmetic,
    /// so the same on every machine and Rust version).
    pub fn new(policy: IsnPolicy, key: u64) -> Self {
        let mut state = key;
        let k0 = splitmix64(&mut state);
        let k1 = splitmix64(&mut state);
        IsnGenerator {
            policy,
            sip_key: (k0, k1),
            issued: 0,
        }
    }

    /// The ISS of the host's next connection (`tuple` as the host sees it: local, remote) at
    /// `now`; `None` means: keep the stack's own ISS. Counts the connection either way.
    ///
    /// By policy: `Random` gives `None`; `Rfc793Clock` gives ⌊`now` / 4 µs⌋ mod 2³²
    /// ([`rfc793_clock`]); `Rfc6528` gives M + F mod 2³² ([`rfc6528_m`] plus the keyed hash of
    /// `tuple`); `Constant` gives the constant; `Scripted` gives entry k mod n to the k-th
    /// connection (0-based) for a list of n entries, and `None` for an empty list.
    pub fn next(&mut self, now: Instant, tuple: FourTuple) -> Option<SeqNum> {
        let k = self.issued;
        self.issued += 1;
        match &self.policy {
            IsnPolicy::Random => None,
            IsnPolicy::Rfc793Clock => Some(rfc793_clock(now)),
            IsnPolicy::Rfc6528 => Some(SeqNum(
                rfc6528_m(now).wrapping_add(rfc6528_f(self.sip_key, tuple)),
            )),
            IsnPolicy::Constant(s) => Some(*s),
            IsnPolicy::Scripted(list) => {
                let n = u64::try_from(list.len()).ok().filter(|n| *n > 0)?;
                let i = usize::try_from(k % n).ok()?;
                list.get(i).copied()
            }
        }
    }

    /// The policy.
    pub fn policy(&self) -> &IsnPolicy {
        &self.policy
    }
}

/// RFC 793 §3.3's ISN clock at `now`: ⌊t / 4 µs⌋ mod 2³², t in µs since the start of the run.
/// The clock wraps after 4 µs × 2³² = 17 179 869 184 µs ≈ 4.77 h (RFC 793 says "approximately
/// 4.55 hours").
pub fn rfc793_clock(now: Instant) -> SeqNum {
    // Truncation to u32 is the "mod 2³²".
    SeqNum((now.micros() / 4) as u32)
}

/// RFC 6528 §3's timer M at `now`, as Linux's `seq_scale` computes it: the time in nanoseconds
/// shifted right by 6 (one tick every 64 ns, wrapping every 2³² × 64 ns ≈ 274.9 s), mod 2³².
/// Linux reads the real-time clock (`ktime_get_real_ns`); here t is virtual time since the
/// start of the run, in µs, so M = ⌊t × 1000 / 64⌋ mod 2³².
pub fn rfc6528_m(now: Instant) -> u32 {
    let ns = u128::from(now.micros()) * 1000;
    // Truncation to u32 is the "mod 2³²".
    (ns >> 6) as u32
}

/// RFC 6528 §3's F: SipHash-2-4 under `key` of the 4-tuple, truncated to its low 32 bits (Linux
/// assigns the 64-bit `siphash_3u32` result to a `u32`). The message is laid out as Linux's:
///
/// - IPv4 (both ends IPv4 or IPv4-mapped, which Linux handles as IPv4): local address,
///   remote address (4 octets each, network order), then remote port and local port (2
///   octets each, network order) — the 12 bytes `siphash_3u32(saddr, daddr, sport << 16 |
///   dport)` hashes on a little-endian machine;
/// - IPv6: local address, remote address (16 octets each; an IPv4 end as its v4-mapped
///   address), local port, remote port (network order) — the 36-byte struct of
///   `secure_tcpv6_seq`.
fn rfc6528_f(key: (u64, u64), tuple: FourTuple) -> u32 {
    let mut h = SipHasher24::new_with_keys(key.0, key.1);
    let (lip, rip) = (unmapped(tuple.local.ip()), unmapped(tuple.remote.ip()));
    let (lport, rport) = (tuple.local.port(), tuple.remote.port());
    match (lip, rip) {
        (IpAddr::V4(l), IpAddr::V4(r)) => {
            h.write(&l.octets());
            h.write(&r.octets());
            h.write(&rport.to_be_bytes());
            h.write(&lport.to_be_bytes());
        }
        _ => {
            h.write(&v6_octets(lip));
            h.write(&v6_octets(rip));
            h.write(&lport.to_be_bytes());
            h.write(&rport.to_be_bytes());
        }
    }
    // Truncation to u32 is Linux's `u32 hash = siphash_…(…)`.
    h.finish() as u32
}

/// The 16 octets of an IPv6 address, or of an IPv4 address's v4-mapped form.
fn v6_octets(ip: IpAddr) -> [u8; 16] {
    match ip {
        IpAddr::V4(v4) => v4.to_ipv6_mapped().octets(),
        IpAddr::V6(v6) => v6.octets(),
    }
}

/// One step of SplitMix64 (Steele, Lea, Flood 2014; the seeding generator of xoshiro): advances
/// `state` by the golden-ratio increment and returns the mixed value.
fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::SocketAddr;

    fn tuple(local: &str, remote: &str) -> FourTuple {
        let p = |s: &str| s.parse::<SocketAddr>().expect("socket address");
        FourTuple::new(p(local), p(remote))
    }

    fn t0() -> FourTuple {
        tuple("10.0.0.1:40000", "10.0.0.2:80")
    }

    fn at(us: u64) -> Instant {
        Instant::from_micros(us)
    }

    /// 4 µs × 2³²: the RFC 793 clock's period, ≈ 4.77 h.
    const CLOCK_PERIOD_US: u64 = 4 << 32;

    #[test]
    fn the_rfc793_clock_ticks_every_4_us_and_wraps_after_2_pow_32_ticks() {
        assert_eq!(rfc793_clock(at(0)), SeqNum(0));
        assert_eq!(rfc793_clock(at(3)), SeqNum(0));
        assert_eq!(rfc793_clock(at(4)), SeqNum(1));
        assert_eq!(rfc793_clock(at(1_000_000)), SeqNum(250_000));
        // One hour: 3.6e9 µs / 4.
        assert_eq!(rfc793_clock(at(3_600_000_000)), SeqNum(900_000_000));
        assert_eq!(CLOCK_PERIOD_US, 17_179_869_184);
        assert_eq!(rfc793_clock(at(CLOCK_PERIOD_US - 4)), SeqNum(u32::MAX));
        assert_eq!(rfc793_clock(at(CLOCK_PERIOD_US)), SeqNum(0));
        assert_eq!(rfc793_clock(at(CLOCK_PERIOD_US + 41)), SeqNum(10));
        // Five hours: past the wrap.
        assert_eq!(
            rfc793_clock(at(5 * 3_600_000_000)),
            SeqNum((18_000_000_000u64 / 4 - (1 << 32)) as u32)
        );
        let mut g = IsnGenerator::new(IsnPolicy::Rfc793Clock, 7);
        assert_eq!(g.next(at(8), t0()), Some(SeqNum(2)));
        assert_eq!(g.next(at(CLOCK_PERIOD_US + 8), t0()), Some(SeqNum(2)));
    }

    #[test]
    fn random_keeps_the_stack_iss_and_still_counts() {
        let mut g = IsnGenerator::new(IsnPolicy::default(), 1);
        assert_eq!(g.policy(), &IsnPolicy::Random);
        assert_eq!(g.next(at(0), t0()), None);
        assert_eq!(g.next(at(5), t0()), None);
        assert_eq!(g.issued, 2);
    }

    #[test]
    fn constant_gives_every_connection_the_same_iss() {
        let mut g = IsnGenerator::new(IsnPolicy::Constant(SeqNum(u32::MAX)), 1);
        for i in 0..3 {
            let t = tuple("10.0.0.1:40000", &format!("10.0.0.{}:80", i + 2));
            assert_eq!(g.next(at(i * 1_000_000), t), Some(SeqNum(u32::MAX)));
        }
        assert_eq!(g.issued, 3);
        assert_eq!(g.policy(), &IsnPolicy::Constant(SeqNum(u32::MAX)));
    }

    #[test]
    fn scripted_cycles_through_the_list_counting_every_connection() {
        let list = vec![SeqNum(100), SeqNum(0), SeqNum(u32::MAX)];
        let mut g = IsnGenerator::new(IsnPolicy::Scripted(list.clone()), 1);
        let got: Vec<_> = (0..7).map(|i| g.next(at(i), t0())).collect();
        let want: Vec<_> = [0, 1, 2, 0, 1, 2, 0]
            .iter()
            .map(|&i| Some(list[i]))
            .collect();
        assert_eq!(got, want);
        assert_eq!(g.issued, 7);
        // Any connection counts: the time and the 4-tuple do not matter.
        let mut g = IsnGenerator::new(IsnPolicy::Scripted(list), 1);
        assert_eq!(
            g.next(at(9), tuple("10.0.0.2:80", "10.0.0.1:5")),
            Some(SeqNum(100))
        );
        assert_eq!(g.next(at(0), t0()), Some(SeqNum(0)));
        // An empty list (refused by the scenario format) keeps the stack's ISS.
        let mut g = IsnGenerator::new(IsnPolicy::Scripted(Vec::new()), 1);
        assert_eq!(g.next(at(0), t0()), None);
        assert_eq!(g.issued, 1);
    }

    #[test]
    fn the_rfc6528_timer_ticks_every_64_ns() {
        assert_eq!(rfc6528_m(at(0)), 0);
        // 1 µs = 1000 ns = 15 ticks of 64 ns (and 40 ns over).
        assert_eq!(rfc6528_m(at(1)), 15);
        assert_eq!(rfc6528_m(at(8)), 125);
        assert_eq!(rfc6528_m(at(1_000_000)), 15_625_000);
        // 2³² ticks of 64 ns = 274 877 906 944 ns: M wraps every ≈ 274.9 s.
        assert_eq!(rfc6528_m(at(274_877_906_944 / 1000)), u32::MAX - 14);
        assert_eq!(rfc6528_m(at(274_877_907)), 0);
        assert_eq!(
            rfc6528_m(Instant::MAX),
            ((u128::from(u64::MAX) * 1000) >> 6) as u32
        );
    }

    #[test]
    fn rfc6528_differs_per_four_tuple_and_advances_with_time() {
        let mut g = IsnGenerator::new(IsnPolicy::Rfc6528, 42);
        let tuples = [
            t0(),
            tuple("10.0.0.1:40001", "10.0.0.2:80"),
            tuple("10.0.0.1:40000", "10.0.0.2:81"),
            tuple("10.0.0.3:40000", "10.0.0.2:80"),
            tuple("10.0.0.1:40000", "10.0.0.4:80"),
            // Local and remote swapped: the other end's view is another input.
            tuple("10.0.0.2:80", "10.0.0.1:40000"),
            tuple("[::1]:40000", "[::2]:80"),
        ];
        let now = at(1_000);
        let isns: Vec<SeqNum> = tuples.iter().map(|t| g.next(now, *t).unwrap()).collect();
        for (i, a) in isns.iter().enumerate() {
            for b in &isns[i + 1..] {
                assert_ne!(a, b, "{isns:?}");
            }
        }
        // The same 4-tuple later: M has advanced by exactly the elapsed 64 ns ticks.
        let later = g.next(at(1_000 + 1_000_000), t0()).unwrap();
        assert_eq!(later - isns[0], 15_625_000);
        assert_eq!(g.next(now, t0()), Some(isns[0]), "no state but the count");
        // An IPv4-mapped end is its IPv4 address.
        assert_eq!(
            g.next(
                now,
                tuple("[::ffff:10.0.0.1]:40000", "[::ffff:10.0.0.2]:80")
            ),
            Some(isns[0])
        );
    }

    #[test]
    fn rfc6528_is_a_function_of_the_key() {
        let run = |key| {
            let mut g = IsnGenerator::new(IsnPolicy::Rfc6528, key);
            (0..4)
                .map(|i| g.next(at(i * 250), tuple("10.0.0.1:40000", "10.0.0.2:80")))
                .collect::<Vec<_>>()
        };
        assert_eq!(run(1), run(1));
        assert_ne!(run(1), run(2));
        // Pinned values: the hash, its key expansion and the message layout must never change
        // (they decide the sequence numbers of every trace of an `rfc6528` scenario).
        let f = rfc6528_f(IsnGenerator::new(IsnPolicy::Rfc6528, 1).sip_key, t0());
        assert_eq!(run(1)[0], Some(SeqNum(f)));
        assert_eq!(f, PINNED_F);
        assert_eq!(splitmix64(&mut 0), 0xE220_A839_7B1D_CDAF);
    }

    /// F of `t0()` under the key expanded from 1 (see `rfc6528_is_a_function_of_the_key`).
    const PINNED_F: u32 = 2_327_697_286;

    #[test]
    fn siphash_is_the_reference_siphash_2_4() {
        // The SipHash paper's test vector (Aumasson and Bernstein 2012, appendix A): key
        // 00 01 … 0f, message 00 01 … 0e, SipHash-2-4 = a129ca6149be45e5.
        let k0 = u64::from_le_bytes([0, 1, 2, 3, 4, 5, 6, 7]);
        let k1 = u64::from_le_bytes([8, 9, 10, 11, 12, 13, 14, 15]);
        let mut h = SipHasher24::new_with_keys(k0, k1);
        h.write(&(0u8..15).collect::<Vec<_>>());
        assert_eq!(h.finish(), 0xa129_ca61_49be_45e5);
    }
}
