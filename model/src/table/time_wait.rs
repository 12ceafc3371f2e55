//! TIME-WAIT in the table: records entering the store (`tw_store`), answering segments,
//! expiring in deadline order, and sockets leaving the table.

use super::*;

impl AddressTable {
    /// Moves a connected socket into TIME-WAIT with `record` (its expiry is taken from it):
    /// the socket's entry leaves the table and the record, with what the bind rules need of
    /// the socket, goes into the TIME-WAIT store.
    /// Errors: EBADF for an unknown id; EINVAL if the socket is not connected on
    /// `record.tuple` (a socket in TIME-WAIT included).
    pub fn enter_time_wait(&mut self, id: SocketId, record: TimeWaitRecord) -> Result<(), Errno> {
        let Some(e) = self.entries.get(id) else {
            // A socket already in TIME-WAIT is not connected.
            return Err(self.not_live(id, Errno::EINVAL));
        };
        let connected =
            matches!(e.state, TableState::Connected { remote } if remote == record.tuple.remote);
        if !connected || e.local != Some(record.tuple.local) {
            return Err(Errno::EINVAL);
        }
        let (owner, connected_before) = (Owner::of(e, e.opts), e.connected_before);
        self.entries.discard(id);
        let port = record.tuple.local.port();
        // The record keeps holding the port (and its explicit-bind count).
        self.release_port(id, port);
        self.by_tuple.retire(&record.tuple);
        if connected_before {
            // Only a socket that connected may have a pre-connect address.
            self.pre_connect.discard(id);
        }
        self.forget_stale(id);
        self.tw.insert(id, &record, owner);
        Ok(())
    }

    /// Whether `id` is in TIME-WAIT ([`AddressTable::time_wait`] without building the
    /// record).
    pub fn is_time_wait(&self, id: SocketId) -> bool {
        self.tw.slot_of(id).is_some()
    }

    /// The TIME-WAIT record of `id`, by value, if it is in TIME-WAIT.
    pub fn time_wait(&self, id: SocketId) -> Option<TimeWaitRecord> {
        self.tw.slot_of(id).map(|s| self.tw.record(s))
    }

    /// Feeds a segment to the TIME-WAIT record of `id` ([`TimeWaitRecord::on_segment`]) under
    /// the profile's policy, keeping the expiry lists in step. Returns `None` if `id` is not in
    /// TIME-WAIT.
    pub fn time_wait_segment(
        &mut self,
        id: SocketId,
        seg: &SegmentInfo,
        now: Instant,
        listener_exists: bool,
    ) -> Option<TwDecision> {
        let policy = self.cfg.time_wait;
        let slot = self.tw.slot_of(id)?;
        let mut r = self.tw.record(slot);
        let d = r.on_segment(seg, now, &policy, listener_exists);
        self.tw.update(slot, &r);
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
        let Some(e) = self.entries.get(id) else {
            let slot = self.tw.slot_of(id)?;
            return Some(self.remove_time_wait(slot).1);
        };
        // What is needed of the entry, which is dropped in place.
        let (local, port_by_connect) = (e.local, e.port_by_connect);
        let listening = matches!(e.state, TableState::Listen);
        let remote = match e.state {
            TableState::Connected { remote } => Some(remote),
            _ => None,
        };
        if e.connected_before {
            // Only a socket that connected may have a pre-connect address.
            self.pre_connect.discard(id);
        }
        self.entries.discard(id);
        self.forget_stale(id);
        if let Some(l) = local {
            if self.release_port(id, l.port()) && !port_by_connect {
                self.explicit.sub(l.port());
            }
            if listening {
                self.unlisten(id, l);
            }
        }
        if let (Some(remote), Some(l)) = (remote, local) {
            self.by_tuple.remove(&FourTuple::new(l, remote));
        }
        None
    }

    /// The listener `id`, bound to `addr` and just removed from the entries and the holders of
    /// its port, leaves the listeners of the port; with
    /// [`ProfileConfig::stale_listener_refuses`] its address object stays behind while
    /// connections it accepted are still connected (KB Q177074, see [`AddressTable::remove`]).
    #[cold]
    #[inline(never)]
    fn unlisten(&mut self, id: SocketId, addr: SocketAddr) {
        if self.cfg.stale_listener_refuses {
            let live: BTreeSet<SocketId> = self
                .by_port
                .get(&addr.port())
                .into_iter()
                .flatten()
                .filter(|c| {
                    self.entries.get(**c).is_some_and(|c| {
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
        if let Some(set) = self.listening.get_mut(&addr.port()) {
            set.remove(id);
            if set.is_empty() {
                self.listening.remove(&addr.port());
            }
        }
    }

    /// Removes the TIME-WAIT record in `slot` of the store, with its port and 4-tuple.
    pub(super) fn remove_time_wait(&mut self, slot: u32) -> (SocketId, TimeWaitRecord) {
        let r = self.tw.record(slot);
        let (id, port_by_connect) = self.tw.remove(slot);
        self.by_tuple.remove_port(&r.tuple);
        if !port_by_connect {
            self.explicit.sub(r.tuple.local.port());
        }
        (id, r)
    }

    /// The earliest TIME-WAIT expiry, if any (quinn-style `poll_timeout`).
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.tw.earliest()
    }

    /// Ends every TIME-WAIT record whose deadline is at or before `now`; returns them with
    /// their socket ids, earliest first, ties by socket id. Calling it early is harmless.
    pub fn handle_timeout(&mut self, now: Instant) -> Vec<(SocketId, TimeWaitRecord, EndReason)> {
        std::iter::from_fn(|| self.expire_next(now))
            .map(|(id, r)| (id, r, EndReason::Expired))
            .collect()
    }

    /// Ends the first TIME-WAIT record due at `now` (deadline at or before `now`; the earliest
    /// deadline, ties by socket id) and returns it with its socket id; `None` when none is
    /// due. Called until `None`, it ends what [`AddressTable::handle_timeout`] would, in the
    /// same order, without building a list for the caller; the table may change between calls
    /// (what is due is then taken again).
    pub fn expire_next(&mut self, now: Instant) -> Option<(SocketId, TimeWaitRecord)> {
        if self.tw.earliest().is_none_or(|e| e > now) {
            // Nothing due (the usual call).
            return None;
        }
        if self.due.is_empty() || self.due_at != Some((now, self.tw.changes())) {
            if let Some(slot) = self.tw.sole_due(now) {
                self.due.clear();
                let ended = self.remove_time_wait(slot);
                self.due_at = Some((now, self.tw.changes()));
                return Some(ended);
            }
            let mut due = std::mem::take(&mut self.due);
            self.tw.due_into(now, &mut due);
            due.reverse();
            self.due = due;
        }
        let (_, _, slot) = self.due.pop().expect("a record is due");
        let ended = self.remove_time_wait(slot);
        self.due_at = Some((now, self.tw.changes()));
        Some(ended)
    }

    /// How many TIME-WAIT records the table holds (O(1)).
    pub fn time_wait_count(&self) -> usize {
        self.tw.len()
    }

    /// Every TIME-WAIT record, by value, by socket id (sorted on each call: O(n log n)).
    pub fn time_wait_records(&self) -> impl Iterator<Item = (SocketId, TimeWaitRecord)> + '_ {
        self.tw
            .by_socket_id()
            .into_iter()
            .map(|(id, slot)| (id, self.tw.record(slot)))
    }
}
