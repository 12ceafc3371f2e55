//! Bind conflicts: whether a socket may hold an address beside the others on its port,
//! per [`BindRules`] (Linux `inet_bind_conflict`, BSD `in_pcbbind_setup`, Solaris
//! `tcp_bindi`, the Windows tables), and `bind()` / `listen()` which apply them.

use super::*;

impl AddressTable {
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
        other: &Holder,
    ) -> Option<Errno> {
        if self.cfg.bind.is_windows() {
            return self.windows_verdict(addr, opts, uid, other);
        }
        let olocal = other.local?;
        if !overlaps(addr.ip(), opts.v6only, olocal.ip(), other.opts.v6only) {
            return None;
        }
        let other_tw = other.state == Held::TimeWait;
        let unconnected = matches!(other.state, Held::Bound | Held::Listen);
        let reuseport_ok = opts.reuseport && other.opts.reuseport && (other_tw || other.uid == uid);
        let conflict = match self.cfg.bind {
            BindRules::Linux => {
                let reuseaddr_ok =
                    opts.reuseaddr && other.opts.reuseaddr && other.state != Held::Listen;
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
        other: &Holder,
    ) -> Option<Errno> {
        let olocal = other.bound_addr.or(other.local)?;
        if !overlaps(addr.ip(), opts.v6only, olocal.ip(), other.opts.v6only) {
            return None;
        }
        let nt4 = self.cfg.address_object_outlives_listener;
        let holds = match other.state {
            Held::Unbound => false,
            Held::Bound | Held::Listen => true,
            Held::Connected => !other.accepted || nt4 || other.opts.exclusiveaddruse,
            Held::TimeWait => nt4,
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
        let me = self.entries.get(id)?;
        self.port_conflict(addr, me.opts, me.uid, Some(id))
    }

    /// The error of the oldest socket or TIME-WAIT record on `addr`'s port (other than `skip`)
    /// that conflicts with a socket with `opts` and `uid` holding `addr`. The entries are
    /// walked in id order and the first conflict ends the walk; the port's TIME-WAIT records
    /// come in no order, so where the rules can answer with different errors (Windows) every
    /// one of them is checked for an older conflict, and elsewhere (always EADDRINUSE) the
    /// first conflict is enough.
    fn port_conflict(
        &self,
        addr: SocketAddr,
        opts: SockOptions,
        uid: u32,
        skip: Option<SocketId>,
    ) -> Option<Errno> {
        let windows = self.cfg.bind.is_windows();
        let mut first = self
            .by_port
            .get(&addr.port())
            .into_iter()
            .flatten()
            .filter(|o| Some(**o) != skip)
            .find_map(|o| {
                let e = self.verdict(addr, opts, uid, &Holder::of(&self.entries[o]));
                e.map(|e| (*o, e))
            });
        if first.is_some() && !windows {
            return first.map(|(_, e)| e);
        }
        for slot in self.tw.on_port(addr.port()) {
            let id = self.tw.id(slot);
            if first.is_some_and(|(f, _)| f < id) {
                continue;
            }
            if let Some(e) = self.verdict(addr, opts, uid, &self.tw_holder(slot)) {
                first = Some((id, e));
                if !windows {
                    break;
                }
            }
        }
        first.map(|(_, e)| e)
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
        match self.port_conflict(addr, opts, uid, None) {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// `bind()`. Port 0 picks a free ephemeral port starting at `hint`, a random number the
    /// caller draws (odd ports first with [`ProfileConfig::bind_odd_ports_first`], Linux
    /// `inet_csk_find_open_port`; otherwise in order, BSD `in_pcb_lport`).
    /// Returns the bound address.
    /// Errors: EINVAL if already bound, or for a v4-mapped address on an IPV6_V6ONLY socket;
    /// EADDRNOTAVAIL for an address the host does not own; EADDRINUSE on conflict or when no
    /// ephemeral port is free; EACCES where a Windows table says WSAEACCES.
    pub fn bind(&mut self, id: SocketId, addr: SocketAddr, hint: u32) -> Result<SocketAddr, Errno> {
        let me = self.entry(id).ok_or(Errno::EBADF)?;
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
        drop(me);
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
        let e = self.entries.get_mut(id).expect("checked above");
        e.state = TableState::Bound;
        e.port_locked = explicit_port;
        Ok(addr)
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
        let me = self.entry(id).ok_or(Errno::EBADF)?;
        let reconnected = me.connected_before && !self.cfg.listen_after_connect;
        if me.accepted_from.is_some() || reconnected {
            return Err(Errno::EINVAL);
        }
        let (state, local) = (me.state.clone(), me.local);
        drop(me);
        match state {
            TableState::Listen => return Ok(local.expect("listening sockets are bound")),
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
        self.entries.get_mut(id).expect("checked").state = TableState::Listen;
        self.listening.entry(addr.port()).or_default().insert(id);
        Ok(addr)
    }
}
