//! The TIME-WAIT index: records entering, answering segments, expiring in deadline order,
//! and sockets leaving the table.

use super::*;

impl AddressTable {
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
                if set.remove(&id) && !e.port_by_connect {
                    self.explicit.sub(l.port());
                }
                if set.is_empty() {
                    self.by_port.remove(&l.port());
                }
            }
            if e.state == TableState::Listen {
                if let Some(set) = self.listening.get_mut(&l.port()) {
                    set.remove(&id);
                    if set.is_empty() {
                        self.listening.remove(&l.port());
                    }
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

    /// How many TIME-WAIT records the table holds (one per entry of the expiry index: O(1)).
    pub fn time_wait_count(&self) -> usize {
        self.expiries.len()
    }

    /// Every TIME-WAIT record, by socket id.
    pub fn time_wait_records(&self) -> impl Iterator<Item = (SocketId, &TimeWaitRecord)> {
        self.entries.iter().filter_map(|(id, e)| match &e.state {
            TableState::TimeWait(r) => Some((*id, &**r)),
            _ => None,
        })
    }
}
