//! After every poll: what each connection sent (SND.NXT, RCV.NXT and window from the wire) and
//! the state changes smoltcp reports, with what each change means for the socket.

use super::*;

impl Host {
    /// After a poll of the interface: `sent_before` is the length the device's outbound queue
    /// had before it (what smoltcp sent in the poll follows).
    pub(super) fn after_poll(&mut self, now: Instant, sent_before: usize) {
        // 1. what left the host (parsed by the device as it was emitted)
        for pkt in &mut self.dev.tx[sent_before..] {
            if let Some(c) = self.conns.get_mut_v4(pkt.meta.src, pkt.meta.dst) {
                if c.wire_iss.is_none() && pkt.meta.has(TcpFlags::SYN) {
                    // The SYN (or SYN-ACK) carries smoltcp's ISS: from here on the connection's
                    // sequence numbers are shifted to the ISS the host layer chose.
                    c.delta = c.want_iss.map_or(0, |w| w - pkt.meta.seq) as u32;
                    c.wire_iss = Some(pkt.meta.seq.wrapping_add(c.delta));
                }
                pkt.shift_seq(c.delta);
                let first = c.wire_iss.unwrap_or(pkt.meta.seq).wrapping_add(1);
                pkt.prov = Some(Provenance {
                    conn: c.uid,
                    incarnation: c.incarnation,
                    offset: (pkt.meta.seq - first) as u32,
                    random_iss: c.want_iss.is_none(),
                    born: c.born,
                });
                c.sent += 1;
                let seg = &pkt.meta;
                let end = seg.seq.wrapping_add(seg.seg_len());
                c.last_tx = Some((end, seg.ack, seg.window));
                if c.snd_max.is_none_or(|m| end.gt(m)) {
                    c.snd_max = Some(end);
                }
            }
        }
        // 2. state changes, in 4-tuple order; collected first (only the connections that
        // changed, their new state recorded, or wait in TIME-WAIT), sorted (the map's order is
        // its hasher's), then handled, since handling may remove connections.
        self.scratch.clear();
        for (k, c) in self.conns.iter_mut() {
            let new = self.sockets.get::<tcp::Socket>(c.handle).state();
            if new != c.state || new == State::TimeWait {
                let old = std::mem::replace(&mut c.state, new);
                self.scratch.push(Changed {
                    k,
                    old,
                    new,
                    id: c.id,
                    incarnation: c.incarnation,
                    listener: c.listener,
                    rst_in: c.rst_in,
                    iss: c.wire_iss,
                    war: c.war,
                    h3_signs: c.active_open && c.rst_from_no_connection && c.oracle.readable() == 0,
                });
            }
        }
        if self.scratch.is_empty() {
            return;
        }
        let mut todo = std::mem::take(&mut self.scratch);
        if todo.len() > 1 {
            sort_by_key(&mut todo);
        }
        for ch in &todo {
            if ch.new != ch.old {
                self.on_state_change(now, ch);
            }
            if ch.new == State::TimeWait {
                self.try_takeover(now, ch.k);
            }
        }
        self.scratch = todo;
    }

    /// A connection went from `old` to `new` (`ch`, its state already `new`): the socket, the
    /// listen queue and the table follow; a connection that ended is removed. Out of line:
    /// it runs once per state change, [`Host::after_poll`] after every poll.
    #[inline(never)]
    fn on_state_change(&mut self, now: Instant, ch: &Changed) {
        let &Changed {
            k,
            old,
            new,
            id,
            incarnation: inc,
            listener,
            rst_in,
            iss,
            war,
            h3_signs,
        } = ch;
        let t = || TupleMap::<Conn>::tuple(k);
        self.wake(id);
        ev!(
            self,
            Event::State(StateChange {
                sock: self
                    .socks
                    .get(id)
                    .and_then(|s| s.name.clone())
                    .unwrap_or_else(|| "(embryonic)".into()),
                tuple: t(),
                from: tcp_state(old),
                to: tcp_state(new),
                incarnation: inc,
                iss,
                cause: StateCause::Stack,
            })
        );
        if new == State::Established {
            if let Some(s) = self.socks.get_mut(id) {
                s.app.established = true;
            }
            // A reopened 4-tuple reached ESTABLISHED: the SYN was genuine.
            self.reopened.remove_by_key(k);
        }
        if let (Some(lid), State::Established) = (listener, new) {
            if let Some(Sock {
                kind: Kind::Listener { pending, ready, .. },
                ..
            }) = self.socks.get_mut(lid)
            {
                if pending.remove(&k) {
                    ready.push_back(k);
                }
            }
        }
        if new == State::Closed || (new == State::Listen && old != State::Listen) {
            // Closed, or an embryonic connection reset back to LISTEN (RFC 793 p.70): either
            // way the connection is over. Remove the smoltcp socket and free the 4-tuple.
            let end = match (old, rst_in) {
                (State::SynSent, true) => ConnEnd::Refused,
                (State::CloseWait, true) => ConnEnd::ResetInCloseWait,
                (_, true) => ConnEnd::Reset,
                (State::SynSent, false) => ConnEnd::Aborted,
                _ => ConnEnd::Normal,
            };
            let h3 = end == ConnEnd::Reset
                && h3_signs
                && self.socks.get(id).is_some_and(|s| s.app.established);
            if h3 {
                // RFC 1337 §2.4 H3: connect() succeeded, and the peer, which holds no
                // connection (an old duplicate reset its half-open one), resets it.
                self.hazards.h3_resets += 1;
                ev!(
                    self,
                    Event::Hazard(Hazard {
                        tuple: t(),
                        incarnation: inc,
                        what: HazardKind::H3Reset,
                    })
                );
            }
            self.ack_war_over(now, k, inc, war);
            if old == State::LastAck && rst_in {
                // The peer answered our retransmitted FIN with RST: it kept no TIME-WAIT (or
                // lost it) and never saw our FIN acknowledged (RFC 9293 §3.6.1, the hazard
                // TIME-WAIT's final-ACK retransmission prevents).
                self.hazards.lastack_resets += 1;
            }
            let c = self.conns.remove_by_key(k).expect("present");
            self.retire(c.handle);
            if let Some(lid) = listener {
                if let Some(Sock {
                    kind: Kind::Listener { pending, ready, .. },
                    ..
                }) = self.socks.get_mut(lid)
                {
                    pending.remove(&k);
                    if new == State::Listen {
                        ready.retain(|x| *x != k);
                    }
                }
            }
            let drop_sock = match self.socks.get_mut(c.id) {
                Some(s) => {
                    s.app.set_end(end);
                    s.closed || (listener.is_some() && s.name.is_none() && new == State::Listen)
                }
                None => false,
            };
            let returned = match self.reopened.remove_by_key(k) {
                Some(r) if old == State::SynReceived && r.expires_at() > now => Some(r),
                _ => None,
            };
            if let Some(r) = returned {
                // The reopening SYN was an old duplicate (the peer reset our SYN-ACK): the
                // record comes back with the time it had left (RFC 1122 §4.2.2.13).
                self.socks.remove(c.id);
                let (entered, expires) = (r.entered_at, r.expires_at());
                let inc = r.incarnation;
                if self.table.enter_time_wait(c.id, r).is_ok() {
                    ev!(
                        self,
                        Event::TimeWait(TimeWaitEvent::Returned {
                            tuple: t(),
                            incarnation: inc,
                            entered_at: entered,
                            expires_at: expires,
                            rule: "RFC 1122 §4.2.2.13: the SYN was an old duplicate, return to TIME-WAIT",
                        })
                    );
                } else {
                    self.table.remove(c.id);
                }
            } else if drop_sock || !self.socks.contains_key(c.id) {
                self.socks.remove(c.id);
                self.table.remove(c.id);
            } else {
                // The application still holds the socket: it keeps an explicitly bound port.
                self.table.disconnected(c.id);
            }
        }
    }
}

/// A connection whose state smoltcp changed (or that waits in TIME-WAIT), as the walk after a
/// poll found it: what [`Host::on_state_change`] reads of it. Handling one change touches no
/// other connection, so what the walk read still holds when each is handled.
#[derive(Clone, Copy, Debug)]
pub(super) struct Changed {
    /// The connection's 4-tuple as a [`TupleMap::key`].
    k: u128,
    old: State,
    new: State,
    id: SocketId,
    incarnation: u32,
    listener: Option<SocketId>,
    rst_in: bool,
    /// The ISS on the wire.
    iss: Option<SeqNum>,
    /// The ACK war in progress, (ACKs, since).
    war: (u64, Instant),
    /// RFC 1337 H3's signs in the connection itself (read where it ends).
    h3_signs: bool,
}

/// Sorts state changes by 4-tuple (the key orders as the 4-tuple does). Out of line: a poll
/// rarely changes more than one connection.
#[inline(never)]
fn sort_by_key(todo: &mut [Changed]) {
    todo.sort_unstable_by_key(|a| a.k);
}
