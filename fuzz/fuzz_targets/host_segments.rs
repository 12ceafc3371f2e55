//! Two simulated hosts driven by arbitrary bytes: socket calls in two processes per host,
//! crafted segments (any flags, including SYN+FIN and RST, sequence numbers near the ones
//! on the wire, optional payload), old segments replayed, segments dropped, and virtual time
//! advancing, under every profile and TIME-WAIT policy override.
//!
//! After every operation:
//! - no panic;
//! - each host's address table gives every 4-tuple one owner, and `lookup_tuple` agrees;
//! - a TIME-WAIT record still alive after a poll at `now` expires after `now`;
//! - every TIME-WAIT record that ended did so for a documented reason its host's rules allow:
//!   `expired` at or after its deadline; `assassinated` (an RST, or an in-window SYN under the
//!   RFC 793 SYN rule, or data under XNU's `data: reset`) never before it began nor under
//!   RFC 1337 (`rst: ignore`) unless the SYN or data rule kills; `reused_by_syn` only under a SYN rule that reopens; and
//!   `recycled_by_connect` only where the profile recycles records on connect.

#![no_main]

use libfuzzer_sys::fuzz_target;
use smoltcp::wire::{
    IpAddress, Ipv4Packet, TcpControl, TcpPacket, TcpRepr, TcpSeqNumber, TcpTimestampRepr,
};
use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use twsim_model::time_wait::{DataInTimeWait, RstInTimeWait, SynInTimeWait};
use twsim_model::{
    Duration, EndReason, FourTuple, Instant, IsnGenerator, IsnPolicy, Profile, ProfileConfig,
    SeqNum, TableState,
};
use twsim_sim::host::Host;
use twsim_sim::rng::stream;
use twsim_sim::wire::{emit, Packet};

const ADDRS: [Ipv4Addr; 2] = [Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::new(10, 0, 0, 2)];
const PORTS: [u16; 4] = [80, 9099, 40000, 0];
const SOCKS: [&str; 4] = ["a", "b", "c", "d"];
const PROCS: [&str; 2] = ["main", "child"];
const STEPS: [u64; 8] = [
    0,
    1_000,
    10_000,
    200_000,
    1_000_000,
    10_000_000,
    61_000_000,
    250_000_000,
];
/// Operations per input, and event-loop iterations per time step, to bound each execution.
const MAX_OPS: usize = 256;
const MAX_LOOP: usize = 4096;
/// One-way delay of the wire between the two hosts.
const WIRE_US: u64 = 1_000;

/// The input, read a byte at a time (zeros once it runs out).
struct Bytes<'a>(&'a [u8]);

impl Bytes<'_> {
    fn u8(&mut self) -> u8 {
        match self.0.split_first() {
            Some((b, rest)) => {
                self.0 = rest;
                *b
            }
            None => 0,
        }
    }
    fn u16(&mut self) -> u16 {
        u16::from_le_bytes([self.u8(), self.u8()])
    }
    fn u32(&mut self) -> u32 {
        u32::from_le_bytes([self.u8(), self.u8(), self.u8(), self.u8()])
    }
    fn pick<T: Copy>(&mut self, xs: &[T]) -> T {
        xs[usize::from(self.u8()) % xs.len()]
    }
    fn bool(&mut self) -> bool {
        self.u8() & 1 == 1
    }
    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

struct World {
    hosts: [Host; 2],
    now: Instant,
    /// Segments in flight: (delivery time, order) → (receiving host, packet).
    wire: BTreeMap<(Instant, u64), (usize, Packet)>,
    order: u64,
    /// Every segment the hosts sent, for replays (at most 64 kept).
    seen: Vec<Packet>,
    /// How many of each host's ended TIME-WAIT records were checked.
    checked: [usize; 2],
}

impl World {
    fn new(b: &mut Bytes) -> World {
        let seed = u64::from(b.u8());
        let hosts = [0, 1].map(|i| {
            let profile = b.pick(&Profile::ALL);
            let mut cfg = profile.config();
            overrides(b, &mut cfg);
            let msl = Duration::from_secs(u64::from(b.u8() % 4) * 15 + 1);
            let isn = match b.u8() % 4 {
                0 => IsnPolicy::Random,
                1 => IsnPolicy::Rfc793Clock,
                2 => IsnPolicy::Rfc6528,
                _ => IsnPolicy::Constant(SeqNum(b.u32())),
            };
            let mut h = Host::new(
                format!("h{i}"),
                ADDRS[i],
                cfg,
                cfg.time_wait_duration(msl),
                msl,
                stream(seed, &format!("host/{i}")),
                IsnGenerator::new(isn, seed),
            );
            h.record = b.bool();
            h
        });
        World {
            hosts,
            now: Instant::ZERO,
            wire: BTreeMap::new(),
            order: 0,
            seen: Vec::new(),
            checked: [0, 0],
        }
    }

    fn send(&mut self, to: usize, at: Instant, p: Packet) {
        self.order += 1;
        self.wire.insert((at, self.order), (to, p));
    }

    /// Moves what each host sent onto the wire (or drops it, when `drop` says so).
    fn flush(&mut self, b: &mut Bytes, drop: bool) {
        for from in 0..2 {
            for p in self.hosts[from].take_tx() {
                if self.seen.len() < 64 {
                    self.seen.push(p.clone());
                }
                if drop && b.u8().is_multiple_of(8) {
                    continue;
                }
                let at = self.now + Duration::from_micros(WIRE_US);
                self.send(1 - from, at, p);
            }
            for e in self.hosts[from].events.drain(..) {
                let _ = e.kind();
            }
        }
    }

    /// Runs the two hosts and the wire until `until`.
    fn advance(&mut self, b: &mut Bytes, until: Instant) {
        for _ in 0..MAX_LOOP {
            let due_wire = self.wire.keys().next().map(|k| k.0);
            let due_host = [0, 1]
                .into_iter()
                .filter_map(|i| self.hosts[i].poll_at(self.now))
                .min();
            let next = match (due_wire, due_host) {
                (Some(a), Some(c)) => Some(a.min(c)),
                (a, c) => a.or(c),
            };
            let Some(next) = next.filter(|t| *t <= until) else {
                break;
            };
            self.now = self.now.max(next);
            while let Some(e) = self.wire.first_entry() {
                if e.key().0 > self.now {
                    break;
                }
                let (to, p) = e.remove();
                let _ = self.hosts[to].deliver(self.now, p);
            }
            for h in &mut self.hosts {
                h.poll(self.now);
            }
            self.flush(b, true);
            self.check();
        }
        self.now = self.now.max(until);
        for h in &mut self.hosts {
            h.poll(self.now);
        }
        self.flush(b, true);
    }

    /// One socket call on one host.
    fn call(&mut self, b: &mut Bytes) {
        let i = usize::from(b.u8() & 1);
        let op = b.u8() % 13;
        let proc = b.pick(&PROCS);
        let sock = b.pick(&SOCKS);
        let now = self.now;
        let addr = |b: &mut Bytes, wildcard: bool| {
            let ip = match b.u8() % 3 {
                0 if wildcard => Ipv4Addr::UNSPECIFIED,
                0 | 1 => ADDRS[1 - i],
                _ => ADDRS[i],
            };
            SocketAddr::V4(SocketAddrV4::new(ip, b.pick(&PORTS)))
        };
        let h = &mut self.hosts[i];
        let _ = match op {
            0 => h.socket(proc, sock).map(drop),
            1 => {
                let (which, on) = (b.u8() % 5, b.bool());
                let secs = u32::from(b.u8() % 3);
                h.setsockopt(proc, sock, |o| match which {
                    0 => o.reuseaddr = on,
                    1 => o.reuseport = on,
                    2 => o.linger_secs = on.then_some(secs),
                    3 => o.exclusiveaddruse = on,
                    _ => o.v6only = on,
                })
            }
            2 => {
                let a = addr(b, true);
                h.bind(proc, sock, a).map(drop)
            }
            3 => h.listen(proc, sock, u32::from(b.u8() % 4)).map(drop),
            4 => {
                let a = addr(b, false);
                h.connect(now, proc, sock, a).map(drop)
            }
            5 => {
                let _ = h.connect_result(sock);
                h.connect_timeout(now, sock);
                Ok(())
            }
            6 => {
                let new = b.pick(&SOCKS);
                h.accept(proc, sock, new).map(drop)
            }
            7 => {
                let n = usize::from(b.u8() % 32);
                h.send(now, proc, sock, &vec![b'x'; n]).map(drop)
            }
            8 => {
                let max = b.bool().then(|| u32::from(b.u8()));
                h.recv(now, proc, sock, max).map(drop)
            }
            9 => {
                let write = b.bool();
                h.shutdown(now, proc, sock, write)
            }
            10 => h.close(now, proc, sock),
            11 => h.fork(proc, PROCS[1]),
            _ => h.exit(now, proc),
        };
        let _ = h.state_of(sock);
        let _ = h.bindable(sock, addr(b, true));
        h.poll(now);
        self.flush(b, false);
    }

    /// A crafted segment delivered at once: any flags, sequence numbers near a segment seen
    /// on the wire (or arbitrary), optional payload and timestamp.
    fn craft(&mut self, b: &mut Bytes) {
        let to = usize::from(b.u8() & 1);
        let (src, dst, seq, ack) = match self.seen.is_empty() || b.u8().is_multiple_of(4) {
            true => (
                SocketAddrV4::new(ADDRS[1 - to], b.pick(&PORTS)),
                SocketAddrV4::new(ADDRS[to], b.pick(&PORTS)),
                SeqNum(b.u32()),
                SeqNum(b.u32()),
            ),
            false => {
                // A reply to, or a copy of, a segment seen on the wire.
                let p = &self.seen[usize::from(b.u8()) % self.seen.len()];
                let m = p.meta;
                let near = |b: &mut Bytes, x: SeqNum| {
                    SeqNum(x.0.wrapping_add(i32::from(b.u8() as i8) as u32))
                };
                if b.bool() {
                    let (s, a) = (near(b, m.ack), near(b, m.seq.wrapping_add(m.seg_len())));
                    (m.dst, m.src, s, a)
                } else {
                    let (s, a) = (near(b, m.seq), near(b, m.ack));
                    (m.src, m.dst, s, a)
                }
            }
        };
        let flags = b.u8();
        let payload = vec![b'y'; usize::from(b.u8() % 16)];
        let ts = b.bool().then(|| TcpTimestampRepr {
            tsval: b.u32(),
            tsecr: b.u32(),
        });
        let repr = TcpRepr {
            src_port: src.port(),
            dst_port: dst.port(),
            control: TcpControl::None,
            seq_number: TcpSeqNumber(seq.0 as i32),
            ack_number: Some(TcpSeqNumber(ack.0 as i32)),
            window_len: b.u16(),
            window_scale: None,
            max_seg_size: None,
            sack_permitted: false,
            sack_ranges: [None, None, None],
            timestamp: ts,
            payload: &payload,
        };
        let mut bytes = emit(src, dst, &repr);
        {
            let mut ip = Ipv4Packet::new_unchecked(&mut bytes[..]);
            let mut tcp = TcpPacket::new_unchecked(ip.payload_mut());
            tcp.set_fin(flags & 1 != 0);
            tcp.set_syn(flags & 2 != 0);
            tcp.set_rst(flags & 4 != 0);
            tcp.set_psh(flags & 8 != 0);
            tcp.set_ack(flags & 16 != 0);
            tcp.fill_checksum(&IpAddress::Ipv4(*src.ip()), &IpAddress::Ipv4(*dst.ip()));
        }
        if let Some(p) = Packet::parse(bytes) {
            let _ = self.hosts[to].deliver(self.now, p);
        }
        self.hosts[to].poll(self.now);
        self.flush(b, false);
    }

    /// An old segment seen on the wire, sent again (a late duplicate).
    fn replay(&mut self, b: &mut Bytes) {
        if self.seen.is_empty() {
            return;
        }
        let p = self.seen[usize::from(b.u8()) % self.seen.len()].clone();
        let to = usize::from(p.meta.dst.ip() == &ADDRS[1]);
        let at = self.now + Duration::from_micros(u64::from(b.u16()));
        self.send(to, at, p);
    }

    fn check(&mut self) {
        for (i, h) in self.hosts.iter().enumerate() {
            // Every 4-tuple has one owner, and the table's index agrees.
            let mut owners = BTreeMap::new();
            for (id, e) in h.table.entries() {
                let t = match &e.state {
                    TableState::Connected { remote } => match e.local {
                        Some(l) => FourTuple::new(l, *remote),
                        None => panic!(
                            "{}: connected socket {id:?} without a local address",
                            h.name
                        ),
                    },
                    TableState::TimeWait(r) => {
                        assert_eq!(
                            Some(r.tuple.local),
                            e.local,
                            "{}: record's local address",
                            h.name
                        );
                        r.tuple
                    }
                    _ => continue,
                };
                if let Some(prev) = owners.insert(t, id) {
                    panic!("{}: {t} held by {prev:?} and {id:?}", h.name);
                }
                assert_eq!(
                    h.table.lookup_tuple(&t),
                    Some(id),
                    "{}: index of {t}",
                    h.name
                );
            }
            // TIME-WAIT records end only for the documented reasons their rules allow.
            let cfg = h.cfg;
            for l in &h.tw_log[self.checked[i]..] {
                let r = &l.record;
                assert!(
                    l.ended_at >= r.entered_at,
                    "{}: {} ended before it began",
                    h.name,
                    r.tuple
                );
                match l.reason {
                    EndReason::Expired => assert!(
                        l.ended_at >= r.expires_at(),
                        "{}: {} expired at {} before its deadline {}",
                        h.name,
                        r.tuple,
                        l.ended_at,
                        r.expires_at()
                    ),
                    EndReason::Assassinated => assert!(
                        cfg.time_wait.rst != RstInTimeWait::Ignore
                            || cfg.time_wait.syn == SynInTimeWait::Rfc793
                            || cfg.time_wait.data == DataInTimeWait::Reset,
                        "{}: {} assassinated under RFC 1337",
                        h.name,
                        r.tuple
                    ),
                    EndReason::ReusedBySyn => assert!(
                        !matches!(
                            cfg.time_wait.syn,
                            SynInTimeWait::Rfc793 | SynInTimeWait::Silent
                        ),
                        "{}: {} reopened by a SYN under {:?}",
                        h.name,
                        r.tuple,
                        cfg.time_wait.syn
                    ),
                    EndReason::RecycledByConnect => assert!(
                        cfg.recycle_time_wait_on_bound_connect
                            || cfg.tw_reuse_loopback_after.is_some(),
                        "{}: {} recycled by connect under a profile that never does",
                        h.name,
                        r.tuple
                    ),
                    // Only an administrator's tcpdrop (packetdrill scripts) drops records.
                    EndReason::Dropped => panic!("{}: {} dropped with no tcpdrop", h.name, r.tuple),
                }
            }
        }
        self.checked = [self.hosts[0].tw_log.len(), self.hosts[1].tw_log.len()];
    }

    /// Polls both hosts at `now` and puts what they sent on the wire.
    fn settle(&mut self, b: &mut Bytes) {
        for h in &mut self.hosts {
            h.poll(self.now);
        }
        self.flush(b, false);
    }

    /// After a poll at `now`, no live record is past its deadline.
    fn check_live(&self) {
        for h in &self.hosts {
            for r in h.live_time_wait() {
                assert!(
                    r.expires_at() > self.now,
                    "{}: {} alive at {} past its deadline {}",
                    h.name,
                    r.tuple,
                    self.now,
                    r.expires_at()
                );
            }
        }
    }
}

/// TIME-WAIT policy overrides, as a scenario's `time_wait` may set them.
fn overrides(b: &mut Bytes, cfg: &mut ProfileConfig) {
    use twsim_model::time_wait::*;
    let byte = b.u8();
    if byte & 1 != 0 {
        cfg.time_wait.rst = b.pick(&[
            RstInTimeWait::KillInWindow,
            RstInTimeWait::KillExact,
            RstInTimeWait::ChallengeAck,
            RstInTimeWait::Ignore,
            RstInTimeWait::ChallengeInexact,
        ]);
    }
    if byte & 2 != 0 {
        cfg.time_wait.syn = b.pick(&[
            SynInTimeWait::Rfc793,
            SynInTimeWait::Linux,
            SynInTimeWait::Rfc1122,
            SynInTimeWait::Bsd,
            SynInTimeWait::Silent,
            SynInTimeWait::Rfc6191,
            SynInTimeWait::Xnu,
        ]);
    }
    if byte & 4 != 0 {
        cfg.time_wait.paws = b.bool();
    }
    if byte & 8 != 0 {
        cfg.time_wait.bare_ack = b.pick(&[
            BareAckInTimeWait::Ack,
            BareAckInTimeWait::RestartSilently,
            BareAckInTimeWait::DropExact,
            BareAckInTimeWait::DropInWindow,
        ]);
    }
    if byte & 16 != 0 {
        cfg.time_wait.data = b.pick(&[DataInTimeWait::Ack, DataInTimeWait::Reset]);
    }
    if byte & 32 != 0 {
        cfg.time_wait.no_ack = b.pick(&[
            NoAckInTimeWait::Process,
            NoAckInTimeWait::DropAcceptable,
            NoAckInTimeWait::Drop,
        ]);
    }
}

fuzz_target!(|data: &[u8]| {
    let mut b = Bytes(data);
    let mut w = World::new(&mut b);
    for _ in 0..MAX_OPS {
        if b.is_empty() {
            break;
        }
        match b.u8() % 8 {
            0..=2 => w.call(&mut b),
            3 | 4 => w.craft(&mut b),
            5 => w.replay(&mut b),
            _ => {
                let until = w.now + Duration::from_micros(b.pick(&STEPS));
                w.advance(&mut b, until);
            }
        }
        w.settle(&mut b);
        w.check();
        w.check_live();
    }
    // Let every record run out: nothing may outlive its deadline.
    let end = w.now + Duration::from_secs(3600);
    w.advance(&mut b, end);
    w.check();
    w.check_live();
});
