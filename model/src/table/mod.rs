//! The address table: which socket holds which local address, port and 4-tuple.
//!
//! This is the part of a TCP stack that decides `bind()`, `listen()` and the local port of
//! `connect()`, and that demultiplexes inbound segments to a connection, a TIME-WAIT record or
//! a listener. Rules per profile are in [`BindRules`]; sources are cited on each function.
//!
//! Everything on a port counts: bound sockets, listeners, connections (including accepted
//! children, which inherit the listener's SO_REUSEADDR and SO_REUSEPORT — Linux
//! `inet_csk_clone_lock`), and TIME-WAIT records (which keep the closing socket's flags —
//! Linux `inet_twsk_alloc`). A socket leaves the table when its TCP state machine ends, not when
//! its last handle closes.
//!
//! Parts: `bind` (bind conflicts, `bind()`, `listen()`), `ports` (ephemeral ports of
//! `bind(port 0)` and `connect()`), `connect` (`connect()`, disconnection, accepted
//! children), `listeners` (4-tuple lookup, listener choice, KB Q177074), `time_wait`
//! (records entering, answering segments, expiring, and sockets leaving the table),
//! `tw_store` (the compact store the TIME-WAIT records live in, apart from the socket entries,
//! with its `slot_index` hash indexes), `index` (per-destination port sets, explicit-bind port
//! counts).
//!
//! A socket in TIME-WAIT has no [`Entry`] of its own any more: its record and what the bind
//! rules need of the closed socket (its owner: options, uid, bound address) are in the store,
//! and [`AddressTable::get`] rebuilds the entry from them. Everything that asks who holds a
//! port reads both: the entries of `by_port`, then the store's list for the port.

use crate::addr::{is_wildcard, overlaps, unmapped, unmapped_endpoint, FourTuple};
use crate::errno::Errno;
use crate::fixed_hash::FixedMap;
use crate::id_map::IdMap;
use crate::profile::{
    windows_category, BindRules, ListenerChoice, ProfileConfig, WinBind, WINDOWS_2003_OTHER_USER,
    WINDOWS_2003_SAME_USER, WINDOWS_CLASSIC,
};
use crate::state::TcpState;
use crate::time::Instant;
use crate::time_wait::{EndReason, SegmentInfo, TimeWaitRecord, TwDecision};
use index::{IdSet, PackedMap, PortCounts, TakenPorts, TupleIndex};
use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, SocketAddr};
use tw_store::{Owner, TwStore};

mod bind;
mod connect;
mod index;
mod listeners;
mod ports;
mod slot_index;
mod time_wait;
mod tw_store;

pub use listeners::tuple_hash;

/// Identifies a socket of one host's table. Ids are never reused within a run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SocketId(pub u32);

/// Socket options that matter to the address table.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SockOptions {
    /// SO_REUSEADDR.
    pub reuseaddr: bool,
    /// SO_REUSEPORT.
    pub reuseport: bool,
    /// IPV6_V6ONLY.
    pub v6only: bool,
    /// SO_LINGER: `Some(secs)` when on. `Some(0)` makes close() send RST and skip TIME-WAIT
    /// (except where the linger time replaces TIME-WAIT:
    /// [`ProfileConfig::linger_zero_aborts`]).
    pub linger_secs: Option<u32>,
    /// SO_EXCLUSIVEADDRUSE (Windows, from NT4 SP4): nobody else may bind the address
    /// ("Using SO_REUSEADDR and SO_EXCLUSIVEADDRUSE"). The Solaris rules read it as
    /// SO_EXCLBIND, its Solaris counterpart. Other rules ignore it.
    pub exclusiveaddruse: bool,
}

/// Where a socket is in its life, as the address table sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TableState {
    /// Created, no local address.
    Unbound,
    /// Holds a local address:port, not listening, not connected.
    Bound,
    /// Listening for connections.
    Listen,
    /// Connected to `remote` (SYN-SENT through LAST-ACK, CLOSING, FIN-WAIT-2).
    Connected {
        /// The remote endpoint.
        remote: SocketAddr,
    },
    /// TIME-WAIT: only the record remains. The table keeps it in its TIME-WAIT store; an
    /// [`Entry`] in this state is rebuilt from it by [`AddressTable::get`].
    TimeWait(Box<TimeWaitRecord>),
}

impl TableState {
    /// RFC-style name of the state.
    pub fn name(&self) -> &'static str {
        match self {
            TableState::Unbound => "UNBOUND",
            TableState::Bound => "BOUND",
            TableState::Listen => TcpState::Listen.name(),
            TableState::Connected { .. } => "CONNECTED",
            TableState::TimeWait(_) => TcpState::TimeWait.name(),
        }
    }
}

/// One socket in the table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// Local address and port, once bound.
    pub local: Option<SocketAddr>,
    /// State.
    pub state: TableState,
    /// Options.
    pub opts: SockOptions,
    /// Owner's user id.
    pub uid: u32,
    /// Whether the port was taken by `connect()` rather than `bind()`/`listen()`. Linux lets
    /// connections share such ports as long as 4-tuples differ (`__inet_hash_connect`).
    pub port_by_connect: bool,
    /// Linux `SOCK_BINDPORT_LOCK`: the port was given explicitly to `bind()` (or inherited
    /// from such a listener), so it stays held after the connection ends, until close.
    pub port_locked: bool,
    /// The address as bound: what `bind()` or the automatic bind of `listen()`/`connect()`
    /// gave it (unchanged when `connect()` fills in a concrete source for a wildcard), or, for
    /// an accepted connection, its listener's bound address. On Windows this is the TDI
    /// address object the socket belongs to (KB 307175), which the bind tables compare.
    pub bound_addr: Option<SocketAddr>,
    /// For an accepted connection: the listener that accepted it.
    pub accepted_from: Option<SocketId>,
    /// Whether `connect()` ever succeeded on this socket. Without
    /// [`ProfileConfig::listen_after_connect`] such a socket may not listen any more (FreeBSD
    /// `tcp_usr_listen`: EINVAL on a dropped inpcb), so it never reaches LISTEN without a bind
    /// check.
    pub connected_before: bool,
}

/// Which listener takes a connection request ([`AddressTable::choose_listener`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ListenerVerdict {
    /// This listener takes it.
    Listener(SocketId),
    /// The request is refused (answered with RST) although a listener may exist; `rule`
    /// says why.
    Refuse {
        /// The source of the refusal.
        rule: &'static str,
    },
    /// No listener: the stack's answer to a segment for no socket applies.
    None,
}

/// The address table of one host.
#[derive(Clone, Debug)]
pub struct AddressTable {
    cfg: ProfileConfig,
    local_addrs: Vec<IpAddr>,
    next_id: u32,
    /// Every socket not in TIME-WAIT, by id.
    entries: IdMap<Entry>,
    /// The entries holding each port, in id order (TIME-WAIT records are in `tw`'s port
    /// lists).
    by_port: FixedMap<u16, IdSet>,
    /// The listening entries of each port (a subset of `by_port`), in id order: listener
    /// lookup per SYN costs the port's listeners, not every TIME-WAIT record on it.
    listening: FixedMap<u16, IdSet>,
    /// Live connections by 4-tuple, and the local ports of every 4-tuple per destination
    /// (TIME-WAIT records' included).
    by_tuple: TupleIndex,
    /// Ports held by an entry or TIME-WAIT record placed by an explicit bind (not by
    /// `connect()`).
    explicit: PortCounts,
    /// The TIME-WAIT records.
    tw: TwStore,
    /// Linux `table_perturb`: per-destination offset advanced after every automatic connect.
    perturb: PackedMap<(IpAddr, u16), u32>,
    /// The key of the per-destination port offset (Linux `net_secret`, drawn once per boot;
    /// [`AddressTable::set_port_secret`]); `None`: every destination's scan starts at the
    /// first port of the range.
    port_secret: Option<u64>,
    /// The local address each connecting socket was bound to before `connect()`, for
    /// [`AddressTable::disconnected`] (none for a socket that was unbound).
    pre_connect: IdMap<SocketAddr>,
    /// KB Q177074: the address objects of closed listeners that still serve accepted
    /// connections, by the listener's bound address, with those connections' ids.
    stale: BTreeMap<SocketAddr, BTreeSet<SocketId>>,
    /// Windows: the listener chosen at random for an address, kept while it listens.
    sticky: BTreeMap<SocketAddr, SocketId>,
    /// Whether this host's connections use TCP timestamps (RFC 7323), which Linux requires to
    /// recycle a TIME-WAIT 4-tuple on connect (`tcp_twsk_unique`).
    timestamps: bool,
    /// TIME-WAIT records ended by a connect that recycled their 4-tuple, not yet taken by
    /// [`AddressTable::take_recycled`].
    recycled: Vec<(SocketId, TimeWaitRecord)>,
    /// The records due at `due_at.0` not yet ended by [`AddressTable::expire_next`], latest
    /// first (the next one is at the end), valid while the TIME-WAIT store's change count is
    /// `due_at.1`; the list is kept between calls so that it is not allocated again.
    due: Vec<(Instant, SocketId, u32)>,
    due_at: Option<(Instant, u64)>,
}

/// The rule cited when [`AddressTable::choose_listener`] refuses because of KB Q177074.
pub const Q177074_RULE: &str = "KB Q177074: the closed listener's address object (NULL connect handler) validates the request: RST, WSAECONNREFUSED";

impl AddressTable {
    /// An empty table for a host owning `local_addrs`, following `cfg`.
    pub fn new(cfg: ProfileConfig, local_addrs: Vec<IpAddr>) -> Self {
        AddressTable {
            cfg,
            local_addrs,
            next_id: 1,
            entries: IdMap::default(),
            by_port: FixedMap::default(),
            listening: FixedMap::default(),
            by_tuple: TupleIndex::default(),
            explicit: PortCounts::default(),
            tw: TwStore::default(),
            perturb: PackedMap::default(),
            port_secret: None,
            pre_connect: IdMap::default(),
            timestamps: false,
            sticky: BTreeMap::new(),
            recycled: Vec::new(),
            due: Vec::new(),
            due_at: None,
            stale: BTreeMap::new(),
        }
    }

    /// The profile rules in force.
    pub fn config(&self) -> &ProfileConfig {
        &self.cfg
    }

    /// `socket()`: a new unbound socket owned by `uid`.
    pub fn socket(&mut self, uid: u32) -> SocketId {
        let id = SocketId(self.next_id);
        self.next_id += 1;
        self.entries.insert(
            id,
            Entry {
                local: None,
                state: TableState::Unbound,
                opts: SockOptions::default(),
                uid,
                port_by_connect: false,
                port_locked: false,
                bound_addr: None,
                accepted_from: None,
                connected_before: false,
            },
        );
        id
    }

    /// A socket's entry, if it is still in the table, by value: for a socket in TIME-WAIT it
    /// is rebuilt from the store ([`TableState::TimeWait`] with the record).
    pub fn get(&self, id: SocketId) -> Option<Entry> {
        self.entry(id).map(Cow::into_owned)
    }

    /// [`AddressTable::get`] without copying a live entry.
    fn entry(&self, id: SocketId) -> Option<Cow<'_, Entry>> {
        if let Some(e) = self.entries.get(id) {
            return Some(Cow::Borrowed(e));
        }
        self.tw_entry(id).map(Cow::Owned)
    }

    /// The entry of `id` rebuilt from the TIME-WAIT store, if it is in TIME-WAIT.
    #[cold]
    #[inline(never)]
    fn tw_entry(&self, id: SocketId) -> Option<Entry> {
        let slot = self.tw.slot_of(id)?;
        Some(self.tw.owner(slot).entry(self.tw.record(slot)))
    }

    /// The error for `id`, which has no live entry: `in_tw` if it is in TIME-WAIT, EBADF if
    /// it is not in the table.
    #[cold]
    #[inline(never)]
    fn not_live(&self, id: SocketId, in_tw: Errno) -> Errno {
        match self.tw.slot_of(id) {
            Some(_) => in_tw,
            None => Errno::EBADF,
        }
    }

    /// Every socket in the table with its id, in id order (TIME-WAIT records included, as
    /// [`AddressTable::get`] gives them), for invariant checks from outside the crate (the
    /// host-layer fuzz target). Sorts the whole table: O(n log n).
    pub fn entries(&self) -> impl Iterator<Item = (SocketId, Entry)> {
        let mut all: Vec<(SocketId, Entry)> = self
            .entries
            .iter()
            .map(|(id, e)| (id, e.clone()))
            .chain(
                self.tw
                    .by_socket_id()
                    .into_iter()
                    .map(|(id, slot)| (id, self.tw.owner(slot).entry(self.tw.record(slot)))),
            )
            .collect();
        all.sort_by_key(|(id, _)| *id);
        all.into_iter()
    }

    /// Number of sockets in the table (TIME-WAIT records included).
    pub fn len(&self) -> usize {
        self.entries.len() + self.tw.len()
    }

    /// Whether the table is empty.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty() && self.tw.len() == 0
    }

    /// `setsockopt()`: replaces the socket's options. Errors: EBADF if unknown.
    ///
    /// Deliberate departure: Windows refuses to set SO_REUSEADDR and SO_EXCLUSIVEADDRUSE on
    /// one socket (the second setsockopt fails with WSAEINVAL, as users report; the Microsoft
    /// article does not say). The table accepts both and classifies such a socket as EX
    /// ([`crate::profile::windows_category`]).
    /// A socket in TIME-WAIT takes the new options too (its record's bind conflicts follow
    /// them).
    pub fn set_options(&mut self, id: SocketId, opts: SockOptions) -> Result<(), Errno> {
        if let Some(e) = self.entries.get_mut(id) {
            e.opts = opts;
            return Ok(());
        }
        let slot = self.tw.slot_of(id).ok_or(Errno::EBADF)?;
        let owner = self.tw.owner(slot).with_opts(opts);
        self.tw.set_owner(slot, owner);
        Ok(())
    }

    /// Whether the host owns `ip`; a v4-mapped address is local when its IPv4 address is
    /// (Linux `__inet6_bind` checks `inet_addr_type` of the IPv4 part).
    fn is_local(&self, ip: IpAddr) -> bool {
        let ip = unmapped(ip);
        ip.is_unspecified() || self.local_addrs.contains(&ip)
    }

    fn place(&mut self, id: SocketId, addr: SocketAddr, by_connect: bool) {
        let e = self.entries.get_mut(id).expect("caller checked the id");
        e.local = Some(addr);
        e.bound_addr = Some(addr);
        e.port_by_connect = by_connect;
        self.hold_port(id, addr.port(), by_connect);
    }

    /// Drops `id` from the holders of `port` (and the port's set once empty); returns whether
    /// it was one.
    fn release_port(&mut self, id: SocketId, port: u16) -> bool {
        let std::collections::hash_map::Entry::Occupied(mut set) = self.by_port.entry(port) else {
            return false;
        };
        let held = set.get_mut().remove(id);
        if set.get().is_empty() {
            set.remove();
        }
        held
    }

    /// Indexes `id` as a holder of `port` (the caller sets the entry's fields).
    fn hold_port(&mut self, id: SocketId, port: u16, by_connect: bool) {
        if self.by_port.entry(port).or_default().insert(id) && !by_connect {
            self.explicit.add(port);
        }
    }
}

/// What the bind rules read of a socket or TIME-WAIT record that holds a port.
#[derive(Clone, Copy, Debug)]
struct Holder {
    local: Option<SocketAddr>,
    bound_addr: Option<SocketAddr>,
    opts: SockOptions,
    uid: u32,
    state: Held,
    /// Whether it is an accepted connection ([`Entry::accepted_from`]).
    accepted: bool,
}

/// [`TableState`] without the record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Held {
    Unbound,
    Bound,
    Listen,
    Connected,
    TimeWait,
}

impl Holder {
    fn of(e: &Entry) -> Holder {
        Holder {
            local: e.local,
            bound_addr: e.bound_addr,
            opts: e.opts,
            uid: e.uid,
            state: match e.state {
                TableState::Unbound => Held::Unbound,
                TableState::Bound => Held::Bound,
                TableState::Listen => Held::Listen,
                TableState::Connected { .. } => Held::Connected,
                TableState::TimeWait(_) => Held::TimeWait,
            },
            accepted: e.accepted_from.is_some(),
        }
    }
}

impl AddressTable {
    /// The holder view of the TIME-WAIT record in `slot`.
    fn tw_holder(&self, slot: u32) -> Holder {
        let o = self.tw.owner(slot);
        let local = self.tw.local(slot);
        Holder {
            local: Some(local),
            bound_addr: o.bound_addr(local.port()),
            opts: o.opts(),
            uid: o.uid,
            state: Held::TimeWait,
            accepted: o.accepted(),
        }
    }

    /// Whether `ok` holds for everything on `port`: its entries, then its TIME-WAIT records.
    fn all_on_port(&self, port: u16, ok: impl Fn(Holder) -> bool) -> bool {
        self.by_port
            .get(&port)
            .into_iter()
            .flatten()
            .all(|o| ok(Holder::of(&self.entries[o])))
            && self.tw.on_port(port).all(|s| ok(self.tw_holder(s)))
    }
}

/// A v4-mapped address on an IPV6_V6ONLY socket: Linux `__inet6_bind` answers EINVAL ("makes
/// no sense").
fn mapped_on_v6only(addr: SocketAddr, opts: SockOptions) -> bool {
    opts.v6only && matches!(addr.ip(), IpAddr::V6(v6) if v6.to_ipv4_mapped().is_some())
}
