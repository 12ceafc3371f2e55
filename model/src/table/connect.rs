//! `connect()` and what follows it: the 4-tuple claim, a recycled TIME-WAIT, the end of a
//! connection while its socket stays open, and connections accepted by a listener.

use super::*;

impl AddressTable {
    /// `connect()`: picks the local endpoint and claims the 4-tuple. `src` is the source
    /// address routing would use; `hint` is this call's random draw. Under
    /// [`ProfileConfig::connect_even_ports_first`] the scan follows Linux
    /// `__inet_hash_connect`: even ports first, then odd, from the destination's offset
    /// (`secure_ipv4_port_ephemeral(src, dst, dport)`, keyed by
    /// [`AddressTable::set_port_secret`]) plus `table_perturb[dst]`, which then advances past
    /// the port found by at least `hint % 8` steps (`get_random_u32_below(8) * step`), so that
    /// successive connects to one destination take nearby ports; with
    /// [`ProfileConfig::connect_shares_ports`] (Linux) ports held by `bind()` are skipped and
    /// ports taken by other connects are shared while the 4-tuple is unique. Otherwise only
    /// ports with nothing overlapping on them, scanned from `hint` (BSD `in_pcb_lport`, a
    /// random start per call).
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
        let Some(me) = self.entries.get(id) else {
            return Err(self.not_live(id, Errno::EISCONN));
        };
        let before = match me.state {
            TableState::Connected { .. } | TableState::TimeWait(_) => return Err(Errno::EISCONN),
            TableState::Listen => return Err(self.cfg.connect_on_listener),
            TableState::Unbound | TableState::Bound => me.local,
        };
        let (local, placed) = match before {
            Some(l) => (self.connect_bound(l, src, remote)?, false),
            None => {
                let port = self
                    .connect_port(src, remote, hint, now)
                    .ok_or(Errno::EADDRNOTAVAIL)?;
                self.hold_port(id, port, true);
                (SocketAddr::new(src, port), true)
            }
        };
        let e = self.entries.get_mut(id).expect("checked");
        if placed {
            // The automatic bind of connect().
            e.bound_addr = Some(local);
            e.port_by_connect = true;
        }
        // Bound to a wildcard address, the connection now has a concrete source.
        e.local = Some(local);
        e.state = TableState::Connected { remote };
        e.connected_before = true;
        self.by_tuple.insert(FourTuple::new(local, remote), id);
        if let Some(before) = before {
            self.pre_connect.insert(id, before);
        }
        Ok(local)
    }

    /// The local endpoint of `connect()` to `remote` from a socket bound to `l` (`src` stands
    /// in for a wildcard address). Errors: EADDRNOTAVAIL if the 4-tuple is taken.
    #[inline(never)]
    fn connect_bound(
        &mut self,
        l: SocketAddr,
        src: IpAddr,
        remote: SocketAddr,
    ) -> Result<SocketAddr, Errno> {
        let l = if is_wildcard(l.ip()) {
            SocketAddr::new(src, l.port())
        } else {
            unmapped_endpoint(l)
        };
        let tuple = FourTuple::new(l, remote);
        // Linux tcp_twsk_unique: an explicit bind + connect onto a TIME-WAIT
        // 4-tuple recycles it when the old connection used timestamps, whatever
        // tcp_tw_reuse says (the new ISN is SND.NXT + 65537); anything else on the
        // 4-tuple makes it unavailable (__inet_check_established).
        if self.by_tuple.contains_key(&tuple) {
            return Err(Errno::EADDRNOTAVAIL);
        }
        if let Some(slot) = self.tw.slot_of_tuple(&tuple) {
            if !(self.cfg.recycle_time_wait_on_bound_connect && self.timestamps) {
                return Err(Errno::EADDRNOTAVAIL);
            }
            let recycled = self.remove_time_wait(slot);
            self.recycled.push(recycled);
        }
        Ok(l)
    }

    /// Sets the key of the per-destination ephemeral-port offset: Linux draws it once per
    /// boot (`net_secret`, read by `secure_ipv4_port_ephemeral`), so every host (every seed)
    /// starts each destination's ports somewhere else, while successive connects to one
    /// destination stay close together ([`AddressTable::connect`]). Without a key (a new
    /// table) the offset is 0: every destination's first automatic port is the first port
    /// of the range of the scanned parity, which keeps small tables' ports predictable.
    pub fn set_port_secret(&mut self, secret: u64) {
        self.port_secret = Some(secret);
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
        let Some(e) = self.entries.get(id) else {
            return;
        };
        let (TableState::Connected { remote }, Some(local)) = (e.state.clone(), e.local) else {
            return;
        };
        let keep_port = e.port_locked || !self.cfg.release_unlocked_port_on_disconnect;
        self.by_tuple.remove(&FourTuple::new(local, remote));
        self.forget_stale(id);
        let before = self.pre_connect.remove(id);
        let e = self.entries.get_mut(id).expect("checked");
        if keep_port {
            e.local = Some(before.unwrap_or(local));
            e.state = TableState::Bound;
            return;
        }
        e.local = None;
        e.bound_addr = None;
        e.state = TableState::Unbound;
        let explicit = !std::mem::take(&mut e.port_by_connect);
        if self.release_port(id, local.port()) && explicit {
            self.explicit.sub(local.port());
        }
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
        let child = match self.entries.get(listener) {
            Some(parent) => child_of(parent, listener, tuple),
            None => self.child_of_tw(listener, tuple)?,
        };
        if self.tw.slot_of_tuple(&tuple).is_some() {
            return Err(Errno::EADDRNOTAVAIL);
        }
        let id = SocketId(self.next_id);
        // A live connection on the 4-tuple: nothing is claimed.
        if !self.by_tuple.insert_new(tuple, id) {
            return Err(Errno::EADDRNOTAVAIL);
        }
        self.next_id += 1;
        self.entries.insert(id, child);
        self.hold_port(id, tuple.local.port(), false);
        Ok(id)
    }
}

impl AddressTable {
    /// The child entry of [`AddressTable::accept_child`] for a `listener` in TIME-WAIT.
    /// Errors: EBADF if `listener` is not in the table.
    #[cold]
    #[inline(never)]
    fn child_of_tw(&self, listener: SocketId, tuple: FourTuple) -> Result<Entry, Errno> {
        let parent = self.tw_entry(listener).ok_or(Errno::EBADF)?;
        Ok(child_of(&parent, listener, tuple))
    }
}

/// The entry of a connection on `tuple` accepted by `listener`, whose entry is `parent`.
fn child_of(parent: &Entry, listener: SocketId, tuple: FourTuple) -> Entry {
    Entry {
        local: Some(tuple.local),
        state: TableState::Connected {
            remote: tuple.remote,
        },
        opts: parent.opts,
        uid: parent.uid,
        port_by_connect: false,
        port_locked: parent.port_locked,
        bound_addr: parent.bound_addr.or(parent.local),
        accepted_from: Some(listener),
        connected_before: false,
    }
}
