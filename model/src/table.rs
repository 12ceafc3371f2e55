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

use crate::addr::{is_wildcard, overlaps, unmapped, unmapped_endpoint, FourTuple};
use crate::errno::Errno;
use crate::profile::{
    windows_category, BindRules, ListenerChoice, ProfileConfig, WinBind, WINDOWS_2003_OTHER_USER,
    WINDOWS_2003_SAME_USER, WINDOWS_CLASSIC,
};
use crate::state::TcpState;
use crate::time::Instant;
use crate::time_wait::{EndReason, SegmentInfo, TimeWaitRecord, TwDecision};
use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, SocketAddr};

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
    /// TIME-WAIT: only the record remains.
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
    entries: BTreeMap<SocketId, Entry>,
    by_port: BTreeMap<u16, BTreeSet<SocketId>>,
    by_tuple: BTreeMap<FourTuple, SocketId>,
    expiries: BTreeSet<(Instant, SocketId)>,
    /// Linux `table_perturb`: per-destination offset advanced after every automatic connect.
    perturb: BTreeMap<(IpAddr, u16), u32>,
    /// The local address each connecting socket had before `connect()`, for
    /// [`AddressTable::disconnected`].
    pre_connect: BTreeMap<SocketId, Option<SocketAddr>>,
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
            entries: BTreeMap::new(),
            by_port: BTreeMap::new(),
            by_tuple: BTreeMap::new(),
            expiries: BTreeSet::new(),
            perturb: BTreeMap::new(),
            pre_connect: BTreeMap::new(),
            timestamps: false,
            sticky: BTreeMap::new(),
            recycled: Vec::new(),
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

    /// A socket's entry, if it is still in the table.
    pub fn get(&self, id: SocketId) -> Option<&Entry> {
        self.entries.get(&id)
    }

    /// Number of sockets in the table (TIME-WAIT records included).
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the table is empty.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// `setsockopt()`: replaces the socket's options. Errors: EBADF if unknown.
    ///
    /// Deliberate departure: Windows refuses to set SO_REUSEADDR and SO_EXCLUSIVEADDRUSE on
    /// one socket (the second setsockopt fails with WSAEINVAL, as users report; the Microsoft
    /// article does not say). The table accepts both and classifies such a socket as EX
    /// ([`crate::profile::windows_category`]).
    pub fn set_options(&mut self, id: SocketId, opts: SockOptions) -> Result<(), Errno> {
        self.entries.get_mut(&id).ok_or(Errno::EBADF)?.opts = opts;
        Ok(())
    }

    /// Whether a new socket (with `opts`, `uid`) may hold `addr` beside `other`: `None`, or
    /// the error `bind()` returns.
    /// Linux: `inet_bind_conflict` (net/ipv4/inet_connection_sock.c) with relax = true.
    /// BSD: `in_pcbbind_setup` (sys/netinet/in_pcb.c). Solaris: `tcp_bindi`. Windows: the
    /// tables of "Using SO_REUSEADDR and SO_EXCLUSIVEADDRUSE" ([`AddressTable::windows_verdict`]).
    fn verdict(
        &self,
        addr: SocketAddr,
        opts: SockOptions,
        uid: u32,
        other: &Entry,
    ) -> Option<Errno> {
        if self.cfg.bind.is_windows() {
            return self.windows_verdict(addr, opts, uid, other);
        }
        let olocal = other.local?;
        if !overlaps(addr.ip(), opts.v6only, olocal.ip(), other.opts.v6only) {
            return None;
        }
        let other_tw = matches!(other.state, TableState::TimeWait(_));
        let unconnected = matches!(other.state, TableState::Bound | TableState::Listen);
        let reuseport_ok = opts.reuseport && other.opts.reuseport && (other_tw || other.uid == uid);
        let conflict = match self.cfg.bind {
            BindRules::Linux => {
                let reuseaddr_ok =
                    opts.reuseaddr && other.opts.reuseaddr && other.state != TableState::Listen;
                !(reuseaddr_ok || reuseport_ok)
            }
            BindRules::Bsd => {
                if reuseport_ok {
                    return None;
                }
                // Only a socket with neither option does the wildcard lookup
                // (`in_pcbbind_setup`: INPLOOKUP_WILDCARD unless SO_REUSEADDR|SO_REUSEPORT).
                if !opts.reuseaddr && !opts.reuseport {
                    return Some(Errno::EADDRINUSE);
                }
                unconnected && olocal.ip() == addr.ip()
            }
            BindRules::Solaris => {
                if !opts.reuseaddr {
                    // `tcp_bindi` without SO_REUSEADDR: any overlapping socket ≥ BOUND.
                    true
                } else if opts.exclusiveaddruse || other.opts.exclusiveaddruse {
                    // SO_EXCLBIND on either side: overlapping sockets up to ESTABLISHED.
                    !other_tw
                } else {
                    // SO_REUSEADDR: only the same address in LISTEN or BOUND.
                    unconnected && olocal.ip() == addr.ip()
                }
            }
            BindRules::Smoltcp => false,
            BindRules::WindowsClassic | BindRules::Windows2003 => {
                unreachable!("handled by windows_verdict above")
            }
        };
        conflict.then_some(Errno::EADDRINUSE)
    }

    /// The Windows rules: the cell of the profile's table for (`other` = first bind, the new
    /// socket = second bind), where `other` still holds an address object on `addr`:
    /// - bound and listening sockets, and connected sockets that bound their own address
    ///   (clients), always do;
    /// - an accepted connection belongs to its listener's address object, so it is compared
    ///   with the listener's bound address (wildcard or specific) and the listener's flags it
    ///   inherited. With [`ProfileConfig::address_object_outlives_listener`] (NT4, KB 307175)
    ///   it holds the address until the connection is gone, TIME-WAIT included (assumed: a
    ///   TIME-WAIT connection still references the object). Without it (Windows 2000 and
    ///   later) it holds nothing — bind() "is returned successfully" — except a connection
    ///   accepted on a SO_EXCLUSIVEADDRUSE listener, which blocks everybody "until the
    ///   accepted connection is no longer active" (assumed: TIME-WAIT is no longer active);
    /// - a TIME-WAIT record holds the address only under
    ///   [`ProfileConfig::address_object_outlives_listener`] (assumed: on Windows 2000 and
    ///   later the closed socket's address object is gone and only the connection block
    ///   remains, which stops a duplicate 4-tuple, not a bind).
    ///
    /// SO_REUSEPORT does not exist on Windows and is ignored.
    fn windows_verdict(
        &self,
        addr: SocketAddr,
        opts: SockOptions,
        uid: u32,
        other: &Entry,
    ) -> Option<Errno> {
        let olocal = other.bound_addr.or(other.local)?;
        if !overlaps(addr.ip(), opts.v6only, olocal.ip(), other.opts.v6only) {
            return None;
        }
        let nt4 = self.cfg.address_object_outlives_listener;
        let holds = match other.state {
            TableState::Unbound => false,
            TableState::Bound | TableState::Listen => true,
            TableState::Connected { .. } => {
                other.accepted_from.is_none() || nt4 || other.opts.exclusiveaddruse
            }
            TableState::TimeWait(_) => nt4,
        };
        if !holds {
            return None;
        }
        let row = windows_category(
            other.opts.reuseaddr,
            other.opts.exclusiveaddruse,
            olocal.ip().is_unspecified(),
        );
        let col = windows_category(
            opts.reuseaddr,
            opts.exclusiveaddruse,
            addr.ip().is_unspecified(),
        );
        let table = match self.cfg.bind {
            BindRules::Windows2003 if uid != other.uid => &WINDOWS_2003_OTHER_USER,
            BindRules::Windows2003 => &WINDOWS_2003_SAME_USER,
            _ => &WINDOWS_CLASSIC,
        };
        match table[row][col] {
            WinBind::Ok => None,
            WinBind::InUse => Some(Errno::EADDRINUSE),
            WinBind::Access => Some(Errno::EACCES),
        }
    }

    /// The error of the first (oldest) socket on the port that conflicts with `id` holding
    /// `addr`. Windows: with several conflicting sockets the oldest one's cell decides —
    /// assumed; no source says which error wins.
    fn first_conflict(&self, id: SocketId, addr: SocketAddr) -> Option<Errno> {
        let me = self.entries.get(&id)?;
        let ids = self.by_port.get(&addr.port());
        ids.into_iter()
            .flatten()
            .filter(|o| **o != id)
            .find_map(|o| self.verdict(addr, me.opts, me.uid, &self.entries[o]))
    }

    /// Whether a socket with `opts` and `uid` could bind `addr` now (no side effects).
    /// Used to wait until a port becomes free. Errors as [`AddressTable::bind`].
    pub fn check_bind(&self, addr: SocketAddr, opts: SockOptions, uid: u32) -> Result<(), Errno> {
        if mapped_on_v6only(addr, opts) {
            return Err(Errno::EINVAL);
        }
        if !self.is_local(addr.ip()) {
            return Err(Errno::EADDRNOTAVAIL);
        }
        let ids = self.by_port.get(&addr.port());
        match ids
            .into_iter()
            .flatten()
            .find_map(|o| self.verdict(addr, opts, uid, &self.entries[o]))
        {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// Whether the host owns `ip`; a v4-mapped address is local when its IPv4 address is
    /// (Linux `__inet6_bind` checks `inet_addr_type` of the IPv4 part).
    fn is_local(&self, ip: IpAddr) -> bool {
        let ip = unmapped(ip);
        ip.is_unspecified() || self.local_addrs.contains(&ip)
    }

    /// `bind()`. Port 0 picks a free ephemeral port starting at `hint`, a random number the
    /// caller draws (odd ports first with [`ProfileConfig::bind_odd_ports_first`], Linux
    /// `inet_csk_find_open_port`; otherwise in order, BSD `in_pcb_lport`).
    /// Returns the bound address.
    /// Errors: EINVAL if already bound, or for a v4-mapped address on an IPV6_V6ONLY socket;
    /// EADDRNOTAVAIL for an address the host does not own; EADDRINUSE on conflict or when no
    /// ephemeral port is free; EACCES where a Windows table says WSAEACCES.
    pub fn bind(&mut self, id: SocketId, addr: SocketAddr, hint: u32) -> Result<SocketAddr, Errno> {
        let me = self.entries.get(&id).ok_or(Errno::EBADF)?;
        // Linux `__inet6_bind` checks the socket's state, then a v4-mapped address on a
        // v6-only socket, then the address; `__inet_bind` checks the address first.
        if addr.is_ipv6() && me.local.is_some() {
            return Err(Errno::EINVAL);
        }
        if mapped_on_v6only(addr, me.opts) {
            return Err(Errno::EINVAL);
        }
        if !self.is_local(addr.ip()) {
            return Err(Errno::EADDRNOTAVAIL);
        }
        if me.local.is_some() {
            return Err(Errno::EINVAL);
        }
        let explicit_port = addr.port() != 0;
        let addr = if addr.port() == 0 {
            let port = self
                .find_open_port(id, addr.ip(), hint)
                .ok_or(Errno::EADDRINUSE)?;
            SocketAddr::new(addr.ip(), port)
        } else {
            if let Some(e) = self.first_conflict(id, addr) {
                return Err(e);
            }
            addr
        };
        self.place(id, addr, false);
        let e = self.entries.get_mut(&id).expect("checked above");
        e.state = TableState::Bound;
        e.port_locked = explicit_port;
        Ok(addr)
    }

    fn find_open_port(&self, id: SocketId, ip: IpAddr, hint: u32) -> Option<u16> {
        let range = self.cfg.ephemeral;
        let n = range.len();
        let me = &self.entries[&id];
        let free = |port: u16| {
            let addr = SocketAddr::new(ip, port);
            self.by_port.get(&port).into_iter().flatten().all(|o| {
                let other = &self.entries[o];
                // relax = false: anything overlapping on the port blocks an automatic choice.
                other
                    .local
                    .is_none_or(|l| !overlaps(addr.ip(), me.opts.v6only, l.ip(), other.opts.v6only))
            })
        };
        let offset = hint % n;
        let order: Vec<u32> = if self.cfg.bind_odd_ports_first {
            // odd ports first, then even ones (inet_csk_find_open_port)
            (0..n)
                .map(|i| (offset + i) % n)
                .filter(|i| (u32::from(range.first) + i) % 2 == 1)
                .chain(
                    (0..n)
                        .map(|i| (offset + i) % n)
                        .filter(|i| (u32::from(range.first) + i) % 2 == 0),
                )
                .collect()
        } else {
            (0..n).map(|i| (offset + i) % n).collect()
        };
        order
            .into_iter()
            .map(|i| (u32::from(range.first) + i) as u16)
            .find(|p| free(*p))
    }

    fn place(&mut self, id: SocketId, addr: SocketAddr, by_connect: bool) {
        let e = self.entries.get_mut(&id).expect("caller checked the id");
        e.local = Some(addr);
        e.bound_addr = Some(addr);
        e.port_by_connect = by_connect;
        self.by_port.entry(addr.port()).or_default().insert(id);
    }

    /// `listen()`. An unbound socket gets an ephemeral port first (Linux `inet_autobind`).
    /// With [`ProfileConfig::listen_rechecks_bind`] the conflict check runs again with the
    /// socket listening (Linux `inet_csk_listen_start`), so of two SO_REUSEADDR sockets bound
    /// to one port only the first may listen.
    /// Errors: EINVAL if connected, if the socket came from `accept()` (its connection may
    /// have ended, but Linux `inet_listen` requires SS_UNCONNECTED, which an accepted socket
    /// never is again; assumed for the other stacks), or, without
    /// [`ProfileConfig::listen_after_connect`], if it was ever connected
    /// ([`Entry::connected_before`]); EADDRINUSE on conflict.
    pub fn listen(&mut self, id: SocketId, hint: u32) -> Result<SocketAddr, Errno> {
        self.listen_with(id, hint, IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED))
    }

    /// [`AddressTable::listen`] for a socket whose automatic bind takes `wildcard`: `[::]` for
    /// an IPv6 socket (Linux `inet_autobind` keeps the socket's family), `0.0.0.0` otherwise.
    pub fn listen_with(
        &mut self,
        id: SocketId,
        hint: u32,
        wildcard: IpAddr,
    ) -> Result<SocketAddr, Errno> {
        let me = self.entries.get(&id).ok_or(Errno::EBADF)?;
        let reconnected = me.connected_before && !self.cfg.listen_after_connect;
        if me.accepted_from.is_some() || reconnected {
            return Err(Errno::EINVAL);
        }
        match me.state {
            TableState::Listen => return Ok(me.local.expect("listening sockets are bound")),
            TableState::Connected { .. } | TableState::TimeWait(_) => return Err(Errno::EINVAL),
            TableState::Unbound => {
                self.bind(id, SocketAddr::new(wildcard, 0), hint)?;
            }
            TableState::Bound => {}
        }
        let addr = self.entries[&id].local.expect("bound above");
        // Linux re-runs the check from listen(); the new socket's state matters only through
        // the other socket's LISTEN test.
        if self.cfg.listen_rechecks_bind && self.first_conflict(id, addr).is_some() {
            return Err(Errno::EADDRINUSE);
        }
        self.entries.get_mut(&id).expect("checked").state = TableState::Listen;
        Ok(addr)
    }

    /// `connect()`: picks the local endpoint and claims the 4-tuple. `src` is the source
    /// address routing would use; `hint` seeds the port search (Linux: the secure hash of
    /// (src, dst, dport)). The scan follows [`ProfileConfig::connect_even_ports_first`] (Linux
    /// `__inet_hash_connect`: even ports first, then odd, from `hint + table_perturb[dst]`)
    /// and [`ProfileConfig::connect_shares_ports`] (Linux: ports held by `bind()` are skipped,
    /// ports taken by other connects are shared while the 4-tuple is unique); otherwise only
    /// ports with nothing overlapping on them, scanned from `hint` (BSD `in_pcb_lport`).
    /// A v4-mapped endpoint (local or remote) is kept as IPv4, as Linux hashes such a
    /// connection in the IPv4 tables, so the 4-tuple is the same whichever family spelled it.
    /// `now` is the time of the call (µs virtual time); only the age test of
    /// [`ProfileConfig::tw_reuse_loopback_after`] reads it. An explicit bind onto a TIME-WAIT
    /// 4-tuple recycles the record under [`ProfileConfig::recycle_time_wait_on_bound_connect`]
    /// (see [`AddressTable::set_timestamps`], [`AddressTable::take_recycled`]).
    /// Errors: EISCONN if connected, [`ProfileConfig::connect_on_listener`] if listening,
    /// EADDRNOTAVAIL if the 4-tuple is in use (TIME-WAIT included) or no ephemeral port is
    /// free.
    pub fn connect(
        &mut self,
        id: SocketId,
        src: IpAddr,
        remote: SocketAddr,
        hint: u32,
        now: Instant,
    ) -> Result<SocketAddr, Errno> {
        let (src, remote) = (unmapped(src), unmapped_endpoint(remote));
        let me = self.entries.get(&id).ok_or(Errno::EBADF)?;
        match me.state {
            TableState::Connected { .. } | TableState::TimeWait(_) => return Err(Errno::EISCONN),
            TableState::Listen => return Err(self.cfg.connect_on_listener),
            TableState::Unbound | TableState::Bound => {}
        }
        let before = me.local;
        let local = match me.local {
            Some(l) => {
                let l = if is_wildcard(l.ip()) {
                    SocketAddr::new(src, l.port())
                } else {
                    unmapped_endpoint(l)
                };
                if let Some(&other) = self.by_tuple.get(&FourTuple::new(l, remote)) {
                    // Linux tcp_twsk_unique: an explicit bind + connect onto a TIME-WAIT
                    // 4-tuple recycles it when the old connection used timestamps, whatever
                    // tcp_tw_reuse says (the new ISN is SND.NXT + 65537); anything else on the
                    // 4-tuple makes it unavailable (__inet_check_established).
                    let recycle = self.cfg.recycle_time_wait_on_bound_connect
                        && self.timestamps
                        && matches!(
                            self.entries.get(&other).map(|e| &e.state),
                            Some(TableState::TimeWait(_))
                        );
                    if !recycle {
                        return Err(Errno::EADDRNOTAVAIL);
                    }
                    if let Some(r) = self.remove(other) {
                        self.recycled.push((other, r));
                    }
                }
                l
            }
            None => {
                let port = self
                    .connect_port(src, remote, hint, now)
                    .ok_or(Errno::EADDRNOTAVAIL)?;
                let l = SocketAddr::new(src, port);
                self.place(id, l, true);
                l
            }
        };
        let e = self.entries.get_mut(&id).expect("checked");
        if e.local != Some(local) {
            // bound to a wildcard address: the connection now has a concrete source
            e.local = Some(local);
        }
        e.state = TableState::Connected { remote };
        e.connected_before = true;
        self.by_tuple.insert(FourTuple::new(local, remote), id);
        self.pre_connect.insert(id, before);
        Ok(local)
    }

    /// Declares whether this host's connections use TCP timestamps (default: no).
    /// [`ProfileConfig::recycle_time_wait_on_bound_connect`] and
    /// [`ProfileConfig::tw_reuse_loopback_after`] apply only if they do (Linux
    /// `tcp_twsk_unique`). The simulator's smoltcp endpoints do not; a real Linux kernel does
    /// (`net.ipv4.tcp_timestamps` = 1).
    pub fn set_timestamps(&mut self, on: bool) {
        self.timestamps = on;
    }

    /// TIME-WAIT records ended by a recycling connect since the last call (their end reason is
    /// [`crate::EndReason::RecycledByConnect`]).
    pub fn take_recycled(&mut self) -> Vec<(SocketId, TimeWaitRecord)> {
        std::mem::take(&mut self.recycled)
    }

    /// The connection of `id` ended (refused, timed out, reset, closed) while the socket is
    /// still open: the 4-tuple is freed. With
    /// [`ProfileConfig::release_unlocked_port_on_disconnect`] (Linux
    /// `tcp_set_state(TCP_CLOSE)`) the port stays held only if it was locked by an explicit
    /// bind (`SOCK_BINDPORT_LOCK`), otherwise it is released (`inet_put_port`); a connecting
    /// socket gets back the address it had before `connect()`. Otherwise (BSD) the socket
    /// keeps its port until close. For KB Q177074 the connection no longer holds a stale address object.
    /// Unknown or unconnected ids are ignored.
    pub fn disconnected(&mut self, id: SocketId) {
        let Some(e) = self.entries.get(&id) else {
            return;
        };
        let (TableState::Connected { remote }, Some(local)) = (e.state.clone(), e.local) else {
            return;
        };
        let keep_port = e.port_locked || !self.cfg.release_unlocked_port_on_disconnect;
        self.by_tuple.remove(&FourTuple::new(local, remote));
        self.forget_stale(id);
        let before = self.pre_connect.remove(&id).flatten();
        let e = self.entries.get_mut(&id).expect("checked");
        if keep_port {
            e.local = Some(before.unwrap_or(local));
            e.state = TableState::Bound;
            return;
        }
        e.local = None;
        e.bound_addr = None;
        e.state = TableState::Unbound;
        e.port_by_connect = false;
        if let Some(set) = self.by_port.get_mut(&local.port()) {
            set.remove(&id);
            if set.is_empty() {
                self.by_port.remove(&local.port());
            }
        }
    }

    /// Linux `tcp_twsk_unique` for an automatic port: a TIME-WAIT 4-tuple is reused when
    /// [`ProfileConfig::tw_reuse_loopback_after`] is set (`net.ipv4.tcp_tw_reuse` = 2:
    /// loopback connections only), the old connection used timestamps, and its last timestamp
    /// is older than that delay (`tcp_tw_reuse_delay`) at `now`. The record's entry time stands in for `tw_ts_recent_stamp`.
    fn tw_reusable(&self, id: SocketId, tuple: &FourTuple, now: Instant) -> bool {
        let Some(TableState::TimeWait(r)) = self.entries.get(&id).map(|e| &e.state) else {
            return false;
        };
        let loopback =
            unmapped(tuple.local.ip()).is_loopback() || unmapped(tuple.remote.ip()).is_loopback();
        let Some(delay) = self.cfg.tw_reuse_loopback_after else {
            return false;
        };
        self.timestamps && loopback && now.saturating_since(r.entered_at) > delay
    }

    fn connect_port(
        &mut self,
        src: IpAddr,
        remote: SocketAddr,
        hint: u32,
        now: Instant,
    ) -> Option<u16> {
        let range = self.cfg.ephemeral;
        let n = range.len();
        let key = (remote.ip(), remote.port());
        let perturb = self.perturb.get(&key).copied().unwrap_or(0);
        let usable = |port: u16| {
            let tuple = FourTuple::new(SocketAddr::new(src, port), remote);
            if let Some(&other) = self.by_tuple.get(&tuple) {
                if !self.tw_reusable(other, &tuple, now) {
                    return false;
                }
            }
            let mut on_port = self
                .by_port
                .get(&port)
                .into_iter()
                .flatten()
                .map(|o| &self.entries[o]);
            if self.cfg.connect_shares_ports {
                on_port.all(|e| e.port_by_connect)
            } else {
                on_port.all(|e| {
                    e.local
                        .is_none_or(|l| !overlaps(l.ip(), e.opts.v6only, src, false))
                })
            }
        };
        // Reduce the start modulo the range first (as the kernel does), so the scan below
        // never wraps around u32: a wrapped sum would skip ports and report exhaustion early.
        let (offset, step) = if self.cfg.connect_even_ports_first {
            ((hint.wrapping_add(perturb) % n) & !1, 2)
        } else {
            (hint % n, 1)
        };
        let passes: &[u32] = if step == 2 { &[0, 1] } else { &[0] };
        for &parity in passes {
            let mut i = 0;
            while i < n {
                let idx = (offset + i + parity) % n;
                let port = (u32::from(range.first) + idx) as u16;
                if usable(port) {
                    self.perturb.insert(key, perturb.wrapping_add(i + 2));
                    let tuple = FourTuple::new(SocketAddr::new(src, port), remote);
                    if let Some(&other) = self.by_tuple.get(&tuple) {
                        // A TIME-WAIT old enough to reuse (tcp_twsk_unique with tcp_tw_reuse).
                        if let Some(r) = self.remove(other) {
                            self.recycled.push((other, r));
                        }
                    }
                    return Some(port);
                }
                i += step;
            }
        }
        None
    }

    /// A connection accepted by `listener` for `tuple` (its local side): a child entry that
    /// inherits the listener's options (Linux `inet_csk_clone_lock`, `__inet_inherit_port`)
    /// and remembers the listener and its bound address ([`Entry::accepted_from`],
    /// [`Entry::bound_addr`]).
    /// Errors: EADDRNOTAVAIL if the 4-tuple is taken.
    pub fn accept_child(
        &mut self,
        listener: SocketId,
        tuple: FourTuple,
    ) -> Result<SocketId, Errno> {
        let tuple = FourTuple::new(
            unmapped_endpoint(tuple.local),
            unmapped_endpoint(tuple.remote),
        );
        let parent = self.entries.get(&listener).ok_or(Errno::EBADF)?;
        if self.by_tuple.contains_key(&tuple) {
            return Err(Errno::EADDRNOTAVAIL);
        }
        let (opts, uid, locked) = (parent.opts, parent.uid, parent.port_locked);
        let from = parent.bound_addr.or(parent.local);
        let id = self.socket(uid);
        let e = self.entries.get_mut(&id).expect("just made");
        e.opts = opts;
        e.port_locked = locked;
        e.accepted_from = Some(listener);
        self.place(id, tuple.local, false);
        let e = self.entries.get_mut(&id).expect("just made");
        e.bound_addr = from;
        e.state = TableState::Connected {
            remote: tuple.remote,
        };
        self.by_tuple.insert(tuple, id);
        Ok(id)
    }

    /// The socket that owns a live connection or TIME-WAIT record for `tuple`.
    pub fn lookup_tuple(&self, tuple: &FourTuple) -> Option<SocketId> {
        self.by_tuple.get(tuple).copied()
    }

    /// The listeners that could take a SYN to `local`, best first: listeners on exactly
    /// `local`'s address before wildcard ones (Linux `inet_lhash2_lookup` looks up the exact
    /// address first), then, for an IPv4 destination, IPv4 listeners before IPv6 ones that
    /// accept IPv4 (`[::]`, `[::ffff:a.b.c.d]`: `compute_score` adds one for `PF_INET`),
    /// then by id. An IPv6 listener is one bound to an IPv6 address, v4-mapped included.
    pub fn listeners_for(&self, local: SocketAddr) -> Vec<SocketId> {
        let to_v4 = unmapped(local.ip()).is_ipv4();
        let mut found: Vec<(bool, bool, SocketId)> = self
            .by_port
            .get(&local.port())
            .into_iter()
            .flatten()
            .filter_map(|id| {
                let e = &self.entries[id];
                let l = e.local?;
                let ok = e.state == TableState::Listen
                    && overlaps(l.ip(), e.opts.v6only, local.ip(), false);
                ok.then_some((is_wildcard(l.ip()), to_v4 && l.is_ipv6(), *id))
            })
            .collect();
        found.sort();
        found.into_iter().map(|(_, _, id)| id).collect()
    }

    /// Which listener takes a connection request from `remote` to `local`, by the profile's
    /// [`ListenerChoice`]; `rand` is a random number the caller draws once per connection
    /// (used by [`ListenerChoice::Random`] only). The "best" listeners are those on the same
    /// address as the first of [`AddressTable::listeners_for`] (exact address before
    /// wildcard).
    ///
    /// With [`ProfileConfig::stale_listener_refuses`] (NT4, KB Q177074) a request to the
    /// address of a closed listener whose accepted connections still live is refused, whatever
    /// listener exists: "connection requests are validated against the old TCP/IP address
    /// object, which still has a NULL connect handler".
    pub fn choose_listener(
        &mut self,
        local: SocketAddr,
        remote: SocketAddr,
        rand: u32,
    ) -> ListenerVerdict {
        let stale = self.stale.iter().any(|(addr, conns)| {
            addr.port() == local.port()
                && !conns.is_empty()
                && overlaps(addr.ip(), false, local.ip(), false)
        });
        if stale {
            return ListenerVerdict::Refuse { rule: Q177074_RULE };
        }
        let found = self.listeners_for(local);
        let Some(&best) = found.first() else {
            return ListenerVerdict::None;
        };
        let b = &self.entries[&best];
        let best_ip = b.local.map(|l| l.ip());
        let tier = |also: &dyn Fn(&Entry) -> bool| -> Vec<SocketId> {
            found
                .iter()
                .copied()
                .filter(|id| {
                    let e = &self.entries[id];
                    e.local.map(|l| l.ip()) == best_ip && also(e)
                })
                .collect()
        };
        let chosen = match self.cfg.listener_choice {
            ListenerChoice::Exact => best,
            ListenerChoice::FirstCreated => *found.iter().min().expect("not empty"),
            ListenerChoice::Random => {
                // KB 307175: "only one random listening socket accepts a connection request".
                // The pick is drawn once and kept while that listener listens, so one of the
                // servers takes the connections (reading the KB as one server chosen at random,
                // not a coin toss per connection).
                let best_tier = tier(&|_| true);
                let key = SocketAddr::new(best_ip.unwrap_or(local.ip()), local.port());
                match self.sticky.get(&key) {
                    Some(id) if best_tier.contains(id) => *id,
                    _ => {
                        let id = best_tier[(rand % best_tier.len() as u32) as usize];
                        self.sticky.insert(key, id);
                        id
                    }
                }
            }
            ListenerChoice::ReuseportHash if b.opts.reuseport => {
                let group = tier(&|e| e.opts.reuseport && e.uid == b.uid);
                let n = group.len() as u64;
                let i = (u64::from(tuple_hash(local, remote)) * n) >> 32;
                group[i as usize]
            }
            ListenerChoice::ReuseportHash => best,
        };
        ListenerVerdict::Listener(chosen)
    }

    /// KB Q177074: the address objects of closed listeners that still serve accepted
    /// connections, by the listener's bound address, with the ids of those connections.
    pub fn stale_address_objects(&self) -> impl Iterator<Item = (SocketAddr, &BTreeSet<SocketId>)> {
        self.stale.iter().map(|(a, s)| (*a, s))
    }

    /// `id` no longer keeps a stale address object alive (KB Q177074: "once they all close,
    /// the original object is destroyed and normal operation resumes").
    fn forget_stale(&mut self, id: SocketId) {
        if self.stale.is_empty() {
            return;
        }
        for conns in self.stale.values_mut() {
            conns.remove(&id);
        }
        self.stale.retain(|_, conns| !conns.is_empty());
    }

    /// Moves a connected socket into TIME-WAIT with `record` (its expiry is taken from it).
    /// Errors: EINVAL if the socket is not connected on `record.tuple`.
    pub fn enter_time_wait(&mut self, id: SocketId, record: TimeWaitRecord) -> Result<(), Errno> {
        let e = self.entries.get_mut(&id).ok_or(Errno::EBADF)?;
        let connected =
            matches!(e.state, TableState::Connected { remote } if remote == record.tuple.remote);
        if !connected || e.local != Some(record.tuple.local) {
            return Err(Errno::EINVAL);
        }
        self.expiries.insert((record.expires_at(), id));
        e.state = TableState::TimeWait(Box::new(record));
        self.forget_stale(id);
        Ok(())
    }

    /// The TIME-WAIT record of `id`, if it is in TIME-WAIT.
    pub fn time_wait(&self, id: SocketId) -> Option<&TimeWaitRecord> {
        match &self.entries.get(&id)?.state {
            TableState::TimeWait(r) => Some(r),
            _ => None,
        }
    }

    /// Feeds a segment to the TIME-WAIT record of `id` ([`TimeWaitRecord::on_segment`]) under
    /// the profile's policy, keeping the expiry index in step. Returns `None` if `id` is not in
    /// TIME-WAIT.
    pub fn time_wait_segment(
        &mut self,
        id: SocketId,
        seg: &SegmentInfo,
        now: Instant,
        listener_exists: bool,
    ) -> Option<TwDecision> {
        let policy = self.cfg.time_wait;
        let TableState::TimeWait(r) = &mut self.entries.get_mut(&id)?.state else {
            return None;
        };
        let before = r.expires_at();
        let d = r.on_segment(seg, now, &policy, listener_exists);
        if r.expires_at() != before {
            self.expiries.remove(&(before, id));
            self.expiries.insert((r.expires_at(), id));
        }
        Some(d)
    }

    /// Removes a socket from the table (its TCP life ended, or an unconnected socket closed).
    /// Returns its TIME-WAIT record if it had one. Unknown ids are ignored (extra calls are
    /// harmless).
    ///
    /// KB Q177074 (with [`ProfileConfig::stale_listener_refuses`]): removing a listener whose
    /// accepted connections are still connected leaves its address object behind, holding
    /// those connections; [`AddressTable::choose_listener`] refuses requests to that address
    /// until each of them has entered TIME-WAIT, been disconnected or been removed.
    pub fn remove(&mut self, id: SocketId) -> Option<TimeWaitRecord> {
        let e = self.entries.remove(&id)?;
        self.pre_connect.remove(&id);
        self.forget_stale(id);
        if let (TableState::Listen, Some(addr), true) =
            (&e.state, e.local, self.cfg.stale_listener_refuses)
        {
            let live: BTreeSet<SocketId> = self
                .by_port
                .get(&addr.port())
                .into_iter()
                .flatten()
                .filter(|c| {
                    // `id` itself is still indexed by port here.
                    self.entries.get(*c).is_some_and(|c| {
                        c.accepted_from == Some(id)
                            && matches!(c.state, TableState::Connected { .. })
                    })
                })
                .copied()
                .collect();
            if !live.is_empty() {
                self.stale.entry(addr).or_default().extend(live);
            }
        }
        if let Some(l) = e.local {
            if let Some(set) = self.by_port.get_mut(&l.port()) {
                set.remove(&id);
                if set.is_empty() {
                    self.by_port.remove(&l.port());
                }
            }
        }
        match e.state {
            TableState::Connected { remote } => {
                if let Some(l) = e.local {
                    self.by_tuple.remove(&FourTuple::new(l, remote));
                }
                None
            }
            TableState::TimeWait(r) => {
                self.by_tuple.remove(&r.tuple);
                self.expiries.remove(&(r.expires_at(), id));
                Some(*r)
            }
            _ => None,
        }
    }

    /// The earliest TIME-WAIT expiry, if any (quinn-style `poll_timeout`).
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.expiries.first().map(|(t, _)| *t)
    }

    /// Ends every TIME-WAIT record whose deadline is at or before `now`; returns them with
    /// their socket ids, earliest first. Calling it early is harmless.
    pub fn handle_timeout(&mut self, now: Instant) -> Vec<(SocketId, TimeWaitRecord, EndReason)> {
        let mut out = Vec::new();
        while let Some(&(t, id)) = self.expiries.first() {
            if t > now {
                break;
            }
            self.expiries.pop_first();
            if let Some(r) = self.remove(id) {
                out.push((id, r, EndReason::Expired));
            }
        }
        out
    }

    /// Every TIME-WAIT record, by socket id.
    pub fn time_wait_records(&self) -> impl Iterator<Item = (SocketId, &TimeWaitRecord)> {
        self.entries.iter().filter_map(|(id, e)| match &e.state {
            TableState::TimeWait(r) => Some((*id, &**r)),
            _ => None,
        })
    }
}

/// A fixed hash of a 4-tuple (32-bit FNV-1a over local address, local port, remote address,
/// remote port, big-endian). It stands in for Linux's keyed `inet_ehashfn`: the same 4-tuple
/// always gets the same listener, as in the kernel, but the numbers differ (the kernel's key
/// is random per boot).
pub fn tuple_hash(local: SocketAddr, remote: SocketAddr) -> u32 {
    let mut h: u32 = 0x811c_9dc5;
    let mut eat = |bytes: &[u8]| {
        for b in bytes {
            h ^= u32::from(*b);
            h = h.wrapping_mul(0x0100_0193);
        }
    };
    for a in [local, remote] {
        match a.ip() {
            IpAddr::V4(v4) => eat(&v4.octets()),
            IpAddr::V6(v6) => eat(&v6.octets()),
        }
        eat(&a.port().to_be_bytes());
    }
    h
}

/// A v4-mapped address on an IPV6_V6ONLY socket: Linux `__inet6_bind` answers EINVAL ("makes
/// no sense").
fn mapped_on_v6only(addr: SocketAddr, opts: SockOptions) -> bool {
    opts.v6only && matches!(addr.ip(), IpAddr::V6(v6) if v6.to_ipv4_mapped().is_some())
}
