//! A simulated host: one smoltcp `Interface` behind the host layer.
//!
//! The host layer owns what smoltcp lacks (design.md "Host layer"): the address table with the
//! profile's bind rules, processes and handles, the listen queue, demultiplexing of every
//! inbound segment, TIME-WAIT records, and answers for segments that match nothing.
//!
//! Inbound segment → [`Host::deliver`]:
//! 1. a live connection's exact 4-tuple → its smoltcp socket (the segment goes into the
//!    device queue and the interface is polled);
//! 2. a TIME-WAIT record → the profile's TIME-WAIT policy; replies are crafted here;
//! 3. a SYN for a listener with room in its backlog → a fresh smoltcp socket listening on
//!    exactly that local endpoint takes it (smoltcp has no listen queue: each listening socket
//!    becomes the connection, so the host layer creates one per SYN and never leaves a
//!    listening smoltcp socket around — smoltcp's slot-order demux then never decides);
//! 4. anything else → RST per RFC 9293 §3.10.7.1, crafted here.
//!
//! TIME-WAIT takeover (like Linux's `inet_timewait_sock`): once a smoltcp socket is in
//! TIME-WAIT and its final ACK has left the host, the host records SND.NXT, RCV.NXT and the
//! window from the wire in a [`TimeWaitRecord`] and removes the smoltcp socket silently.

use crate::event::{
    Close, CloseKind, Event, Hazard, HazardKind, HostDrop, Internal, NoSocket, StateCause,
    StateChange, TimeWaitEnd, TimeWaitEvent,
};
use crate::wire::TcpFlags;
use crate::wire::{craft, reset_for, ConnUid, Ctl, Packet, Provenance, SegMeta};
use rand::RngCore;
use rand_chacha::ChaCha8Rng;
use smoltcp::iface::{Config, Interface, SocketHandle, SocketSet};
use smoltcp::socket::tcp::{self, State};
use smoltcp::time::Instant as SInstant;
use smoltcp::wire::{HardwareAddress, IpAddress, IpCidr, IpEndpoint, IpListenEndpoint};
use std::collections::VecDeque;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, SocketAddrV4};
use twsim_model::time_wait::SynInTimeWait;
pub use twsim_model::ConnEnd;
use twsim_model::{
    AddressTable, AppSocket, ConnView, Duration, EndReason, Errno, FourTuple, Instant,
    IsnGenerator, Processes, ProfileConfig, RecvOutcome, SeqNum, SockOptions, SocketId, TableState,
    TcpState, TimeWaitRecord, TsVal, TwAction,
};

/// Socket buffer size in bytes, each direction (no window scaling below 64 KiB).
const BUF: usize = 16 * 1024;

#[derive(Debug)]
enum Kind {
    Plain,
    Listener {
        backlog: u32,
        /// Half-open connections, as [`TupleMap::key`]s (ordered as their 4-tuples).
        pending: KeySet,
        /// Established connections waiting for `accept()`, as [`TupleMap::key`]s, oldest first.
        ready: VecDeque<u128>,
    },
    /// A connection socket: its 4-tuple as a [`TupleMap::key`].
    Conn(u128),
}

/// A set of [`TupleMap::key`]s in increasing order (a listener's half-open connections, a few
/// at a time): one sorted vector, which keeps its capacity as keys come and go.
#[derive(Debug, Default)]
struct KeySet(Vec<u128>);

impl KeySet {
    /// Adds `k`; false if it was there.
    fn insert(&mut self, k: u128) -> bool {
        match self.0.binary_search(&k) {
            Ok(_) => false,
            Err(i) => {
                self.0.insert(i, k);
                true
            }
        }
    }

    /// Removes `k`; false if it was not there.
    fn remove(&mut self, k: &u128) -> bool {
        match self.0.binary_search(k) {
            Ok(i) => {
                self.0.remove(i);
                true
            }
            Err(_) => false,
        }
    }

    fn len(&self) -> usize {
        self.0.len()
    }
}

impl IntoIterator for KeySet {
    type Item = u128;
    type IntoIter = std::vec::IntoIter<u128>;
    /// The keys in increasing order.
    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

#[derive(Debug)]
struct Sock {
    name: Option<String>,
    opts: SockOptions,
    kind: Kind,
    /// What the application observes (end, pending error, once established): the socket-call
    /// semantics shared with the model replay.
    app: AppSocket,
    /// The user closed its last handle.
    closed: bool,
    /// Its ended TIME-WAIT records go to [`Host::tw_log`] (script sockets); workload sockets
    /// only count them, so memory does not grow with the number of connections.
    log_time_wait: bool,
}

#[derive(Debug)]
struct Conn {
    id: SocketId,
    handle: SocketHandle,
    state: State,
    incarnation: u32,
    /// Listener that spawned it, until accept() takes it.
    listener: Option<SocketId>,
    /// (SEQ + SEG.LEN, ACK, window) of the last segment this end sent.
    last_tx: Option<(SeqNum, SeqNum, u16)>,
    /// The highest SEQ + SEG.LEN this end has sent (SND.MAX, wire space): a retransmission
    /// or keepalive sends less.
    snd_max: Option<SeqNum>,
    /// RCV.NXT after the peer's FIN.
    peer_fin_end: Option<SeqNum>,
    /// The ISS this connection must show on the wire (the host's ISN policy, or a TIME-WAIT
    /// rule such as Linux's SND.NXT + 65537); `None`: smoltcp's own.
    want_iss: Option<SeqNum>,
    /// Sequence-number translation: wire SEQ = smoltcp SEQ + `delta` (RFC 793 §3.3 ISS chosen
    /// by the host layer; 0 until the SYN leaves, and 0 for smoltcp's own ISS).
    delta: u32,
    /// The ISS on the wire, once the SYN (or SYN-ACK) has left.
    wire_iss: Option<SeqNum>,
    /// This connection endpoint, for the provenance of what it sends.
    uid: ConnUid,
    /// The peer connection endpoint and its ISS (IRS), learned from its SYN or SYN-ACK.
    peer: Option<(ConnUid, SeqNum)>,
    /// The receive-side oracle of stream bytes (ground truth of every delivered byte).
    oracle: RxOracle,
    rst_in: bool,
    /// The RST that ended it came from a host holding no connection for the 4-tuple (crafted
    /// by its host layer: RFC 9293 §3.10.7.1), the end of RFC 1337 H3.
    rst_from_no_connection: bool,
    shut_wr: bool,
    /// This end opened actively (`connect()`).
    active_open: bool,
    /// When the connection was created.
    born: Instant,
    /// SND.UNA as the wire shows it: the highest acceptable ACK the peer sent (`None`: the
    /// ISS is not acknowledged yet).
    snd_una: Option<SeqNum>,
    /// TS.Recent (RFC 7323 §4.3), once the peer's SYN or SYN-ACK carried a timestamp and this
    /// host uses timestamps: PAWS applies to the connection.
    ts_recent: Option<TsVal>,
    /// Segments this end has sent (to tell whether a delivery drew a reply).
    sent: u64,
    /// When the host layer last answered an unacceptable segment itself.
    last_oow_ack: Option<Instant>,
    /// ACKs of unsent data received in a row, and when the first arrived (RFC 1337 H2).
    war: (u64, Instant),
}

impl Conn {
    /// A connection `id` on smoltcp socket `handle`, starting in `state`.
    #[allow(clippy::too_many_arguments)]
    fn new(
        id: SocketId,
        handle: SocketHandle,
        state: State,
        incarnation: u32,
        listener: Option<SocketId>,
        want_iss: Option<SeqNum>,
        uid: ConnUid,
        peer: Option<(ConnUid, SeqNum)>,
        born: Instant,
    ) -> Conn {
        Conn {
            id,
            handle,
            state,
            incarnation,
            listener,
            last_tx: None,
            snd_max: None,
            peer_fin_end: None,
            want_iss,
            delta: 0,
            wire_iss: None,
            uid,
            peer,
            oracle: RxOracle::default(),
            rst_in: false,
            rst_from_no_connection: false,
            shut_wr: false,
            active_open: listener.is_none(),
            born,
            snd_una: None,
            ts_recent: None,
            sent: 0,
            last_oow_ack: None,
            war: (0, Instant::ZERO),
        }
    }

    /// The range of SEG.ACK values smoltcp accepts (wire space, both ends included):
    /// SND.UNA (+1 while its SYN is unacknowledged) to SND.UNA + the bytes it holds to send
    /// (+1 for an unacknowledged SYN or FIN) — smoltcp `Socket::process`.
    fn ack_range(&self, send_queue: usize) -> Option<(SeqNum, SeqNum)> {
        let iss = self.wire_iss?;
        let una = self.snd_una.unwrap_or(iss);
        // Bit `state as u32` set: a SYN (SYN-SENT, SYN-RECEIVED) or a FIN (FIN-WAIT-1,
        // CLOSING, LAST-ACK) of this end is unacknowledged.
        const SYN_STATES: u32 = (1 << State::SynSent as u32) | (1 << State::SynReceived as u32);
        const FIN_STATES: u32 = (1 << State::FinWait1 as u32)
            | (1 << State::Closing as u32)
            | (1 << State::LastAck as u32);
        let bit = self.state as u32;
        let (syn, fin) = ((SYN_STATES >> bit) & 1, (FIN_STATES >> bit) & 1);
        Some((
            una.wrapping_add(syn),
            una.wrapping_add(send_queue as u32 + syn + fin),
        ))
    }
}

thread_local! {
    /// The TSval smoltcp's timestamp generator reads: milliseconds of virtual time, set by
    /// [`Host::poll`] before every poll of an interface (RFC 7323 §5.4: a clock of 1 ms to
    /// 1 s per tick; Linux and FreeBSD tick every millisecond). One run runs on one thread, so
    /// the value is always the polling host's.
    static TS_CLOCK: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
}

/// smoltcp's TSval generator: the virtual clock in [`TS_CLOCK`].
fn tsval_now() -> u32 {
    TS_CLOCK.with(std::cell::Cell::get)
}

/// A finished TIME-WAIT record, for the summary.
#[derive(Debug, Clone)]
pub struct TimeWaitLog {
    /// The record as it ended.
    pub record: TimeWaitRecord,
    /// When it ended.
    pub ended_at: Instant,
    /// Why.
    pub reason: EndReason,
}

/// One simulated host.
pub struct Host {
    /// Name from the scenario.
    pub name: String,
    /// Its IPv4 address.
    pub addr: Ipv4Addr,
    /// Profile rules.
    pub cfg: ProfileConfig,
    /// TIME-WAIT length this host uses (profile and MSL applied; SO_LINGER may change it per
    /// socket where the profile says so).
    pub tw_len: Duration,
    /// MSL the endpoints assume.
    pub msl: Duration,
    iface: Interface,
    dev: Dev,
    sockets: SocketSet<'static>,
    /// Address table.
    pub table: AddressTable,
    /// Processes and handles.
    pub procs: Processes,
    socks: twsim_model::id_map::IdMap<Sock>,
    /// Script names of sockets. Looked up only, never iterated, so a hash map with a fixed
    /// (unseeded) hasher keeps runs deterministic.
    names: NameMap,
    /// Live connections by 4-tuple. Looked up only; the one walk over them
    /// ([`Host::after_poll`]) sorts what it collects by 4-tuple before acting on it.
    conns: TupleMap<Conn>,
    /// How many times each 4-tuple was used: the next connection's incarnation number.
    incarnations: Incarnations,
    rng: ChaCha8Rng,
    /// The ISN policy's generator (counts every connection, active or passive).
    isn: IsnGenerator,
    /// Connections created so far (numbers [`ConnUid`]s).
    conns_created: u32,
    /// Stale-segment hazards seen by this host.
    pub hazards: Hazards,
    /// Events since the simulator last drained them.
    pub events: Vec<Event>,
    /// Finished TIME-WAIT records of script sockets (workload sockets' records are counted
    /// in [`Host::tw_unlogged`] only).
    pub tw_log: Vec<TimeWaitLog>,
    /// TIME-WAIT records of workload sockets that ended (not kept one by one).
    pub tw_unlogged: u64,
    /// Whether to record [`Event`]s (off for benchmarks and sweeps).
    pub record: bool,
    pool: Vec<tcp::Socket<'static>>,
    /// Reused buffer of [`Host::after_poll`]: the state changes it found.
    scratch: Vec<lifecycle::Changed>,
    /// TIME-WAIT records a SYN reopened, kept until the new connection proves genuine
    /// (RFC 1122 §4.2.2.13 policies).
    reopened: TupleMap<TimeWaitRecord>,
    /// Sockets whose connection had a segment delivered or changed state since the last
    /// [`Host::take_woken`]; kept only while [`Host::track_woken`] is on.
    woken: Vec<SocketId>,
    /// Whether to note the sockets [`Host::take_woken`] hands out (on when the run has
    /// workloads, which step only the connections something happened to).
    pub track_woken: bool,
    /// smoltcp's `Interface::poll_at` as last computed (`None`: not known). Every change to
    /// a socket (a poll, a socket call, a socket added or removed) forgets it; it depends on
    /// nothing else, since a socket with something to send now answers with the time asked.
    smol_at: Option<Option<SInstant>>,
}

/// A live connection's receive side just before a segment is handed to smoltcp.
struct RxBefore {
    /// Bytes readable (smoltcp's receive queue).
    queued: usize,
    /// The receive window, bytes.
    window: u64,
    /// The segment's receive-stream offset and payload length, bytes.
    start: u64,
    len: u64,
    /// The sending incarnation, when the segment is stale.
    stale: Option<u32>,
    /// For a SYN-ACK while the peer is unknown: the peer it names, learned only if smoltcp
    /// accepts it.
    learn: Option<(ConnUid, SeqNum)>,
}

/// A segment's acceptability at a live connection, tested before it is processed, and what
/// the probability of that verdict under the hosts' ISN policies is computed from
/// ([`SegTests::p_accepted`], for stale arrivals only).
#[derive(Clone, Copy, Debug)]
struct SegTests {
    /// SEQ acceptable (RFC 9293 §3.10.7.4, Table 6), with the receiver's RCV.NXT and RCV.WND.
    seq_ok: bool,
    /// ACK acceptable as smoltcp tests it ([`Conn::ack_range`]).
    ack_ok: bool,
    /// SEG.ACK is beyond anything this end ever sent (an ACK of unsent data).
    ack_unsent: bool,
    /// Not discarded by PAWS (RFC 7323 §5.3).
    paws_ok: bool,
    /// RCV.WND, bytes (modulo 2³²).
    window: u32,
    /// The ACK range tested ([`Conn::ack_range`]).
    ack_range: Option<(SeqNum, SeqNum)>,
}

/// Records a host event only when the run keeps events: building the JSON and the text costs
/// more than simulating the segment. The event is built out of line (`push_event`).
macro_rules! ev {
    ($s:expr, $event:expr $(,)?) => {
        if $s.record {
            push_event(&mut $s.events, || $event);
        }
    };
}

/// Builds an event and keeps it in `events`: out of line and cold, apart from the code that
/// simulates (runs that measure or sweep record nothing).
#[cold]
#[inline(never)]
fn push_event(events: &mut Vec<Event>, event: impl FnOnce() -> Event) {
    events.push(event());
}

fn sinstant(t: Instant) -> SInstant {
    SInstant::from_micros(t.micros() as i64)
}

fn v4(a: SocketAddr) -> SocketAddrV4 {
    match a {
        SocketAddr::V4(a) => a,
        SocketAddr::V6(_) => unreachable!("the simulator only creates IPv4 endpoints"),
    }
}

/// An address given by a script to one of the simulator's AF_INET sockets: IPv6 is
/// EAFNOSUPPORT, as Linux answers for an IPv4 socket (`__inet_bind`, `tcp_v4_connect`).
fn only_v4(a: SocketAddr) -> Result<SocketAddrV4, Errno> {
    match a {
        SocketAddr::V4(a) => Ok(a),
        SocketAddr::V6(_) => Err(Errno::EAFNOSUPPORT),
    }
}

/// Socket names → ids ([`crate::FixedMap`]: foldhash under a fixed seed, no ambient
/// randomness). Looked up only.
type NameMap = crate::FixedMap<String, SocketId>;

/// The RFC 9293 §3.3.2 state of a smoltcp state (the only place the two are mapped).
pub fn tcp_state(s: State) -> TcpState {
    match s {
        State::Closed => TcpState::Closed,
        State::Listen => TcpState::Listen,
        State::SynSent => TcpState::SynSent,
        State::SynReceived => TcpState::SynReceived,
        State::Established => TcpState::Established,
        State::FinWait1 => TcpState::FinWait1,
        State::FinWait2 => TcpState::FinWait2,
        State::CloseWait => TcpState::CloseWait,
        State::Closing => TcpState::Closing,
        State::LastAck => TcpState::LastAck,
        State::TimeWait => TcpState::TimeWait,
    }
}

impl Host {
    /// A host with address `addr` following `cfg`, TIME-WAIT length `tw_len`, randomness
    /// from `rng` (the host's own sub-stream; it also seeds smoltcp's ISN generator).
    pub fn new(
        name: String,
        addr: Ipv4Addr,
        cfg: ProfileConfig,
        tw_len: Duration,
        msl: Duration,
        mut rng: ChaCha8Rng,
        isn: IsnGenerator,
    ) -> Host {
        let mut dev = Dev::default();
        let mut config = Config::new(HardwareAddress::Ip);
        config.random_seed = rng.next_u64();
        let mut iface = Interface::new(config, &mut dev, SInstant::from_micros(0));
        iface.update_ip_addrs(|a| {
            a.push(IpCidr::new(IpAddress::Ipv4(addr), 0))
                .expect("a fresh interface has room for one address");
        });
        let mut table = AddressTable::new(cfg, vec![IpAddr::V4(addr)]);
        // The host's connections carry timestamps where the profile sends them, which is what
        // Linux's TIME-WAIT recycling on connect requires (`tcp_twsk_unique`).
        table.set_timestamps(cfg.timestamps);
        Host {
            name,
            addr,
            cfg,
            tw_len,
            msl,
            iface,
            dev,
            sockets: SocketSet::new(Vec::new()),
            table,
            procs: Processes::new(),
            socks: twsim_model::id_map::IdMap::default(),
            names: NameMap::default(),
            conns: TupleMap::default(),
            incarnations: Incarnations::default(),
            rng,
            isn,
            conns_created: 0,
            hazards: Hazards::default(),
            events: Vec::new(),
            tw_log: Vec::new(),
            tw_unlogged: 0,
            record: true,
            pool: Vec::new(),
            scratch: Vec::new(),
            reopened: TupleMap::default(),
            woken: Vec::new(),
            track_woken: false,
            smol_at: None,
        }
    }

    /// The next instant this host needs attention: smoltcp timers or a TIME-WAIT expiry.
    pub fn poll_at(&mut self, now: Instant) -> Option<Instant> {
        let at = sinstant(now);
        let smol = match self.smol_at {
            // A remembered "now" is the time it was asked at: ask again.
            Some(t) if t.is_none_or(|t| t > at) => t,
            _ => {
                let t = self.iface.poll_at(at, &self.sockets);
                self.smol_at = Some(t);
                t
            }
        };
        let s = smol.map(|t| Instant::from_micros(t.total_micros().max(0) as u64).max(now));
        let tw = self.table.poll_timeout();
        match (s, tw) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Runs smoltcp and the host layer's timers at `now`.
    pub fn poll(&mut self, now: Instant) {
        if self.table.poll_timeout().is_some_and(|t| t <= now) {
            self.expire_time_wait(now);
        }
        // Timestamps are milliseconds of virtual time, wrapping modulo 2³².
        TS_CLOCK.with(|c| c.set((now.micros() / 1000) as u32));
        // One poll: smoltcp processes every segment queued and dispatches until no socket
        // sends anything more at this instant (`Interface::poll`), and what the host layer
        // does after it only removes sockets. Anything left for this instant shows in
        // poll_at, which the event loop reads.
        let sent_before = self.dev.tx.len();
        self.iface
            .poll(sinstant(now), &mut self.dev, &mut self.sockets);
        self.smol_at = None;
        self.after_poll(now, sent_before);
    }

    /// [`Host::poll`] if anything is due now (a socket with something to send, a timer, a
    /// TIME-WAIT expiry): after a socket call that may or may not have given smoltcp
    /// something to send (a read that may open the window). Not after a delivery: smoltcp's
    /// `poll_at` does not see the device's receive queue.
    pub(super) fn poll_if_due(&mut self, now: Instant) {
        if self.poll_at(now).is_some_and(|t| t <= now) {
            self.poll(now);
        }
    }

    /// Moves the sockets woken since the last call (a segment delivered to the connection,
    /// or a state change; in the order it happened, possibly repeated) into `into`.
    pub fn take_woken(&mut self, into: &mut Vec<SocketId>) {
        if into.is_empty() {
            // The buffers change hands, nothing is copied.
            std::mem::swap(into, &mut self.woken);
        } else {
            into.append(&mut self.woken);
        }
    }

    /// Notes that something happened to connection socket `id` (see [`Host::take_woken`]).
    fn wake(&mut self, id: SocketId) {
        if self.track_woken {
            self.woken.push(id);
        }
    }

    /// Packets this host has sent since the last call, in order.
    pub fn take_tx(&mut self) -> Vec<Packet> {
        std::mem::take(&mut self.dev.tx)
    }

    /// Whether the host has sent packets since the last [`Host::swap_tx`] or [`Host::take_tx`].
    #[inline]
    pub fn has_tx(&self) -> bool {
        !self.dev.tx.is_empty()
    }

    /// Exchanges the packets sent since the last call with `spare` (empty; its capacity is
    /// kept for the next ones), so that neither side allocates per batch.
    pub fn swap_tx(&mut self, spare: &mut Vec<Packet>) {
        std::mem::swap(&mut self.dev.tx, spare);
    }

    /// The next connection endpoint's id.
    fn new_conn_uid(&mut self) -> ConnUid {
        let n = self.conns_created;
        self.conns_created += 1;
        ConnUid { host: self.addr, n }
    }

    /// After a delivered segment was processed by connection `c` (still the one it was
    /// delivered to; `key`: its 4-tuple's [`TupleMap::key`]): hands the receive queue's growth to the connection's oracle and records
    /// any stale bytes that became readable. A function of the host's parts, so that the caller
    /// keeps its one lookup of the connection.
    fn check_delivery(
        c: &mut Conn,
        sock: &tcp::Socket,
        hazards: &mut Hazards,
        events: Option<&mut Vec<Event>>,
        key: u128,
        before: RxBefore,
    ) -> Outcome {
        let RxBefore {
            queued,
            window,
            start,
            len,
            stale,
            learn,
        } = before;
        if learn.is_some() && sock.state() != State::SynSent {
            // smoltcp accepted the SYN-ACK: its sender is the peer.
            c.peer = learn;
        }
        let grown = sock.recv_queue().saturating_sub(queued) as u64;
        let d = c.oracle.delivered(start, len, stale, window, grown);
        if stale.is_some() && len > 0 && (d.readable > 0 || d.queued) {
            hazards.stale_written += 1;
        }
        let outcome = match d {
            _ if d.readable > 0 => Outcome::Delivered(d.readable),
            _ if d.queued => Outcome::Queued,
            _ => Outcome::Processed,
        };
        if let Some(k) = d.corruption {
            Host::count_corruption(k, c.incarnation, hazards, events, key);
        }
        outcome
    }

    /// Counts stale bytes `k` that became readable at the connection of `key` (incarnation
    /// `incarnation`), and records the hazard where `events` are kept.
    #[cold]
    #[inline(never)]
    fn count_corruption(
        k: oracle::Corruption,
        incarnation: u32,
        hazards: &mut Hazards,
        events: Option<&mut Vec<Event>>,
        key: u128,
    ) {
        hazards.corruption_events += 1;
        hazards.corrupted_bytes += k.bytes;
        if k.by_this_segment {
            hazards.stale_delivered += 1;
        }
        if hazards.first_corrupt_offset.is_none() {
            hazards.first_corrupt_offset = Some(k.offset);
        }
        if let Some(events) = events {
            events.push(Event::Hazard(Hazard {
                tuple: TupleMap::<Conn>::tuple(key),
                incarnation,
                what: HazardKind::OldDuplicateDelivered {
                    from_incarnation: k.from,
                    bytes: k.bytes,
                    offset: k.offset,
                },
            }));
        }
    }

    /// Queues a segment the host layer crafted itself behind what smoltcp sent (parsed once,
    /// here; [`craft`] fills in the checksums).
    fn send_crafted(&mut self, bytes: Vec<u8>) {
        if let Some(p) = Packet::emitted(bytes) {
            self.dev.tx.push(p);
        }
    }

    /// Hands a segment's bytes to smoltcp. The device leaves checksum verification on receipt
    /// to the host layer ([`Dev`]): a segment whose checksums are not valid is dropped here,
    /// before any socket sees it, as smoltcp's own verification would drop it.
    fn hand_to_device(&mut self, pkt: &mut Packet) {
        let bytes = std::mem::take(&mut pkt.bytes);
        if pkt.checksums_ok() {
            self.dev.rx.push_back(bytes);
        }
    }

    /// Whether the host has no live connection and no TIME-WAIT record.
    pub fn is_idle(&self) -> bool {
        self.conns.is_empty() && self.table.poll_timeout().is_none()
    }

    /// TIME-WAIT records alive now, of script sockets (workload sockets' are counted by
    /// [`Host::live_time_wait_unlogged`]).
    pub fn live_time_wait(&self) -> Vec<TimeWaitRecord> {
        self.table
            .time_wait_records()
            .filter(|(id, _)| self.logs_time_wait(*id))
            .map(|(_, r)| r)
            .collect()
    }

    /// TIME-WAIT records of workload sockets alive now.
    pub fn live_time_wait_unlogged(&self) -> usize {
        self.table
            .time_wait_records()
            .filter(|(id, _)| !self.logs_time_wait(*id))
            .count()
    }

    /// Whether socket `id`'s ended TIME-WAIT records are logged one by one (a socket the
    /// host no longer knows is logged).
    fn logs_time_wait(&self, id: SocketId) -> bool {
        self.socks.get(id).is_none_or(|s| s.log_time_wait)
    }

    /// Whether the 4-tuple's table entry is a live connection (for tests).
    pub fn has_connection(&self, t: &FourTuple) -> bool {
        self.table
            .lookup_tuple(t)
            .and_then(|id| self.table.get(id))
            .is_some_and(|e| matches!(e.state, TableState::Connected { .. }))
    }
}

mod calls;
mod demux;
mod device;
mod incarnations;
mod lifecycle;
mod oracle;
#[cfg(test)]
mod tests;
mod time_wait;
mod tuple_map;
use incarnations::Incarnations;
use tuple_map::TupleMap;

pub use device::{Dev, RxTok, TxTok};
use oracle::RxOracle;
pub use oracle::{Arrival, Hazards, Outcome, ACK_WAR_MIN};

impl Hazards {
    /// Counts stale arrival `pkt` at live connection `c` in the acceptance funnel (SEQ → ACK
    /// → PAWS) and adds its probability of acceptance to the expectation (`start`,
    /// `window`, `send_queue`: as [`demux::seg_tests`] takes them).
    #[cold]
    #[inline(never)]
    fn count_stale_tests(
        &mut self,
        c: &Conn,
        pkt: &Packet,
        start: u64,
        window: u64,
        send_queue: usize,
    ) {
        let t = &demux::seg_tests(c, pkt, start, window, send_queue);
        self.stale_arrivals += 1;
        self.stale_seq_ok += u64::from(t.seq_ok);
        self.stale_ack_ok += u64::from(t.seq_ok && t.ack_ok);
        self.stale_paws_ok += u64::from(t.seq_ok && t.ack_ok && t.paws_ok);
        if t.paws_ok {
            self.expected_accepted += t.p_accepted(c, pkt);
        }
    }
}
