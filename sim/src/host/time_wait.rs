//! TIME-WAIT records: takeover from smoltcp once the final ACK has left, the profile's policy
//! for segments that reach a record, and the record's end.

use super::*;

impl Host {
    /// Segment `pkt` for `tuple` reached TIME-WAIT record `id`: the profile's policy answers.
    #[inline(never)]
    pub(super) fn time_wait_segment(
        &mut self,
        now: Instant,
        id: SocketId,
        tuple: FourTuple,
        mut pkt: Packet,
    ) {
        let seg = &pkt.meta;
        let listener = self.listener_for(tuple.local).is_some();
        let Some(d) = self.table.time_wait_segment(id, &seg.info(), now, listener) else {
            return;
        };
        let r = self.table.time_wait(id);
        let action = match d.action {
            TwAction::Ack => "ack",
            TwAction::Drop => "drop",
            TwAction::Kill => "kill",
            TwAction::RstAndKill => "rst_and_kill",
            TwAction::AcceptSyn { .. } => "accept_syn",
        };
        ev!(
            self,
            Event::TimeWait(TimeWaitEvent::Segment {
                tuple,
                flags: seg.flag_letters(),
                seq: seg.seq,
                action,
                restarted: d.restarted,
                expires_at_us: r.as_ref().map(|r| r.expires_at().micros()),
                rule: d.rule,
            })
        );
        match d.action {
            TwAction::Ack => {
                if let Some(r) = r {
                    let w = r.rcv_wnd.min(u32::from(u16::MAX)) as u16;
                    self.send_crafted(craft(
                        v4(tuple.local),
                        v4(tuple.remote),
                        r.snd_nxt,
                        Some(r.rcv_nxt),
                        Ctl::Ack,
                        w,
                    ));
                }
            }
            TwAction::Drop => {}
            TwAction::Kill => {
                if let Some(r) = self.table.remove(id) {
                    self.log_tw_end(now, id, r, EndReason::Assassinated);
                }
            }
            TwAction::RstAndKill => {
                if let Some(r) = reset_for(seg) {
                    self.send_crafted(r);
                }
                if let Some(r) = self.table.remove(id) {
                    self.log_tw_end(now, id, r, EndReason::Assassinated);
                }
            }
            TwAction::AcceptSyn { iss } => {
                if let Some(r) = self.table.remove(id) {
                    if matches!(
                        self.cfg.time_wait.syn,
                        SynInTimeWait::Rfc1122 | SynInTimeWait::Rfc6191
                    ) {
                        // RFC 1122 §4.2.2.13 (2): "returns to TIME-WAIT state if the SYN turns
                        // out to be an old duplicate" — kept until the new connection is
                        // established or dies in SYN-RECEIVED. (Linux and FreeBSD do not.)
                        self.reopened.insert(tuple, r.clone());
                    }
                    self.log_tw_end(now, id, r, EndReason::ReusedBySyn);
                }
                let seg = pkt.meta;
                if seg.has(TcpFlags::FIN) {
                    // A SYN+FIN the profile keeps (SynFinRule::DiscardAtListener): the record
                    // is gone (tcp_v4_rcv deschedules it for TCP_TW_SYN), and a listener
                    // discards the segment; without one it is answered as for no socket.
                    if self.listener_for(tuple.local).is_some() {
                        self.discard_syn_fin(tuple);
                    } else {
                        self.no_socket(&seg, "TIME-WAIT reopened but no listener took the SYN");
                    }
                    return;
                }
                // The ISS the rule fixes (Linux: SND.NXT + 65537) applies whatever the host's
                // ISN policy.
                if !self.syn_to_listener(now, tuple, &mut pkt, iss) {
                    self.no_socket(&seg, "TIME-WAIT reopened but no listener took the SYN");
                }
            }
        }
    }

    /// Drops every TIME-WAIT record of the host, as an administrator's `tcpdrop -s TIME_WAIT`
    /// (FreeBSD) does; returns how many there were.
    pub fn drop_time_wait(&mut self, now: Instant) -> usize {
        let ids: Vec<SocketId> = self.table.time_wait_records().map(|(id, _)| id).collect();
        for &id in &ids {
            if let Some(r) = self.table.remove(id) {
                self.log_tw_end(now, id, r, EndReason::Dropped);
            }
        }
        ids.len()
    }

    /// Ends the TIME-WAIT records due at `now` ([`Host::poll`]). Out of line: it runs about
    /// once per record, while `poll` runs for every segment and call, and stays small.
    #[inline(never)]
    pub(super) fn expire_time_wait(&mut self, now: Instant) {
        while let Some((id, record)) = self.table.expire_next(now) {
            self.log_tw_end(now, id, record, EndReason::Expired);
        }
    }

    pub(super) fn log_tw_end(
        &mut self,
        now: Instant,
        id: SocketId,
        record: TimeWaitRecord,
        reason: EndReason,
    ) {
        if reason == EndReason::Assassinated {
            self.hazards.assassinations += 1;
        }
        let lived = now - record.entered_at;
        ev!(
            self,
            Event::TimeWait(TimeWaitEvent::Ended(TimeWaitEnd {
                event: reason.name(),
                sock: self
                    .socks
                    .get(id)
                    .and_then(|s| s.name.clone())
                    .unwrap_or_default(),
                tuple: record.tuple,
                incarnation: record.incarnation,
                entered_at: record.entered_at,
                lived,
                restarts: record.restarts(),
            }))
        );
        let (logged, closed) = self
            .socks
            .get(id)
            .map_or((true, false), |s| (s.log_time_wait, s.closed));
        if closed {
            self.socks.discard(id);
        }
        if !logged {
            self.tw_unlogged += 1;
            return;
        }
        self.tw_log.push(TimeWaitLog {
            record,
            ended_at: now,
            reason,
        });
    }

    /// Connection `k` (its 4-tuple's [`TupleMap::key`]), if still live, is in TIME-WAIT: once its
    /// final ACK has left, a TIME-WAIT record replaces it. Out of line, as
    /// [`Host::on_state_change`].
    #[inline(never)]
    pub(super) fn try_takeover(&mut self, now: Instant, k: u128) {
        let Some(c) = self.conns.get_by_key(k) else {
            return;
        };
        let (Some((snd_nxt, ack, win)), Some(fin_end)) = (c.last_tx, c.peer_fin_end) else {
            return;
        };
        if ack != fin_end {
            return; // the final ACK has not left yet (delayed ACK): wait for the next poll
        }
        let t = TupleMap::<Conn>::tuple(k);
        let c = self.conns.remove_by_key(k).expect("present");
        self.retire(c.handle);
        let linger = self.socks.get(c.id).and_then(|s| s.opts.linger_secs);
        let tw_len = self.cfg.time_wait_for(self.msl, linger);
        if tw_len == Duration::ZERO {
            // Stratus STCP with SO_LINGER {1,0}: the linger time (zero) replaces TIME-WAIT.
            ev!(
                self,
                Event::TimeWait(TimeWaitEvent::Skipped {
                    tuple: t,
                    rule: "Stratus STCP: the linger time replaces the TIME-WAIT timeout",
                })
            );
            if let Some(s) = self.socks.get_mut(c.id) {
                s.app.set_end(ConnEnd::Normal);
            }
            if self.socks.get(c.id).is_none_or(|s| s.closed) {
                self.socks.remove(c.id);
                self.table.remove(c.id);
            } else {
                self.table.disconnected(c.id);
            }
            return;
        }
        let record = TimeWaitRecord::new(
            t,
            c.incarnation,
            snd_nxt,
            fin_end,
            u32::from(win),
            now,
            tw_len,
        )
        .with_ts_recent(c.ts_recent);
        ev!(
            self,
            Event::TimeWait(TimeWaitEvent::Created {
                sock: self
                    .socks
                    .get(c.id)
                    .and_then(|s| s.name.clone())
                    .unwrap_or_default(),
                tuple: t,
                incarnation: c.incarnation,
                snd_nxt,
                rcv_nxt: fin_end,
                rcv_wnd: u32::from(win),
                expires_at: record.expires_at(),
                length: tw_len,
            })
        );
        if let Some(s) = self.socks.get_mut(c.id) {
            s.app.set_end(ConnEnd::Normal);
        }
        if self.table.enter_time_wait(c.id, record).is_err() {
            // The table lost the connection: an internal invariant broke. Keep running without
            // a record rather than panicking on user input.
            ev!(
                self,
                Event::Error(Internal {
                    what: "TIME-WAIT takeover found no table entry",
                    tuple: t
                })
            );
        }
    }
}
