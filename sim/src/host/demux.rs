//! Demultiplexing of every inbound segment (module docs of [`super`]) and the listen queue:
//! one fresh smoltcp socket per admitted SYN, and RSTs for segments that match nothing.

use super::*;

impl Host {
    /// Accepts one packet from the wire at `now`: demultiplexes it (module docs) and says
    /// what became of it.
    pub fn deliver(&mut self, now: Instant, mut pkt: Packet) -> Arrival {
        let seg = pkt.meta;
        let incarnation = pkt.prov.map(|p| p.incarnation);
        let arrival = |stale: Option<bool>, outcome| Arrival {
            stale,
            incarnation,
            outcome,
        };
        if *seg.dst.ip() != self.addr {
            return arrival(None, Outcome::NotMine);
        }
        let tuple = FourTuple::new(SocketAddr::V4(seg.dst), SocketAddr::V4(seg.src));
        if seg.has(TcpFlags::SYN | TcpFlags::FIN) {
            // smoltcp 0.14 cannot take a SYN+FIN (one control flag per segment): the profile's
            // rule decides before anything else sees it.
            match self.cfg.syn_fin.apply(&seg.info()) {
                None => {
                    ev!(
                        self,
                        Event::Drop(HostDrop {
                            reason: "SYN+FIN",
                            tuple: Some(tuple)
                        })
                    );
                    return arrival(None, Outcome::Dropped);
                }
                Some(info) if !info.fin => pkt.clear_fin(),
                Some(_) => {}
            }
        }
        let seg = pkt.meta;
        let orphan_data = self.cfg.rst_on_close_with_unread
            && seg.payload_len > 0
            && self
                .conns
                .get(&tuple)
                .is_some_and(|c| self.socks.get(&c.id).is_none_or(|s| s.closed));
        if orphan_data {
            // RFC 1122 §4.2.2.13 / Linux tcp_rcv_state_process (FIN-WAIT, RCV_SHUTDOWN): new
            // data for a socket the application closed is answered with RST, and the
            // connection dies (LINUX_MIB_TCPABORTONDATA).
            ev!(
                self,
                Event::Close(Close::new(CloseKind::DataAfterClose, None, Some(tuple)))
            );
            self.abort_conn(now, tuple, ConnEnd::Aborted);
            return arrival(None, Outcome::Aborted);
        }
        if let Some(c) = self.conns.get_mut(&tuple) {
            if seg.has(TcpFlags::FIN) {
                c.peer_fin_end = Some(seg.seq.wrapping_add(seg.seg_len()));
            }
            if seg.has(TcpFlags::RST) {
                c.rst_in = true;
            }
            // A SYN-ACK names the peer endpoint and its ISS, once smoltcp accepts it.
            let learn = if seg.has(TcpFlags::SYN) && c.peer.is_none() {
                pkt.prov.map(|p| (p.conn, seg.seq))
            } else {
                None
            };
            if let (Some(p), Some((peer, _))) = (pkt.prov, c.peer) {
                if p.conn.host == peer.host && p.conn.n > peer.n {
                    // A newer endpoint of the peer's host: the one we synchronized with was an
                    // old incarnation (an old SYN-ACK accepted, e.g. with constant ISNs). The
                    // newer one is the current peer; its ISS follows from its stream offset.
                    let irs = SeqNum(seg.seq.0.wrapping_sub(p.offset).wrapping_sub(1));
                    c.peer = Some((p.conn, irs));
                }
            }
            let stale = match (pkt.prov, c.peer) {
                (Some(p), Some((peer, _))) if p.conn != peer => Some(p.incarnation),
                _ => None,
            };
            // Where the payload lands in the receive stream (the receiver's own arithmetic).
            let start = c.peer.map_or(0, |(_, irs)| {
                u64::from((seg.seq - irs.wrapping_add(1)) as u32)
            });
            let handle = c.handle;
            let sock = self.sockets.get::<tcp::Socket>(handle);
            let queued = sock.recv_queue();
            let window = sock.recv_capacity().saturating_sub(queued) as u64;
            // A SYN-ACK that names the peer is its own peer's: not stale.
            let known = pkt.prov.is_some() && (c.peer.is_some() || learn.is_some());
            // Back into smoltcp's sequence space: ACK and SACK edges acknowledge our data.
            pkt.unshift_ack(c.delta);
            self.dev.rx.push_back(pkt.bytes);
            // The receiver's own SEQ test (RCV.NXT, RCV.WND) before processing.
            // (Offsets taken modulo 2³², as sequence numbers are.)
            let seq_ok = twsim_model::seq_acceptable(
                SeqNum(start as u32),
                seg.seg_len(),
                SeqNum(c.oracle.readable() as u32),
                window.min(u64::from(u32::MAX)) as u32,
            );
            if stale.is_some() {
                self.hazards.stale_arrivals += 1;
            }
            self.poll(now);
            let before = RxBefore {
                handle,
                queued,
                window,
                start,
                len: u64::from(seg.payload_len),
                stale,
                seq_ok,
                learn,
                ack: seg.has(TcpFlags::ACK).then_some(seg.ack),
            };
            let outcome = self.check_delivery(tuple, before);
            return arrival(known.then_some(stale.is_some()), outcome);
        }
        if let Some(id) = self.table.lookup_tuple(&tuple) {
            if self.table.time_wait(id).is_some() {
                self.time_wait_segment(now, id, tuple, pkt);
                return arrival(None, Outcome::TimeWait);
            }
        }
        if seg.flags == TcpFlags::SYN && self.syn_to_listener(now, tuple, pkt, None) {
            return arrival(None, Outcome::Listener);
        }
        if seg.flags == TcpFlags::SYN | TcpFlags::FIN && self.listener_for(tuple.local).is_some() {
            // SynFinRule::DiscardAtListener (Linux tcp_rcv_state_process, TCP_LISTEN).
            self.discard_syn_fin(tuple);
            return arrival(None, Outcome::Dropped);
        }
        self.no_socket(&seg, "no connection, TIME-WAIT record or listener");
        // A segment of a connection that no longer exists here (a SYN or SYN-ACK opens a new
        // one: not stale).
        let stale = incarnation.is_some() && !seg.has(TcpFlags::SYN);
        if stale {
            self.hazards.stale_arrivals += 1;
        }
        arrival(incarnation.map(|_| stale), Outcome::NoConnection)
    }

    /// A listener discards a SYN+FIN ([`twsim_model::SynFinRule::DiscardAtListener`]).
    pub(super) fn discard_syn_fin(&mut self, tuple: FourTuple) {
        ev!(
            self,
            Event::Drop(HostDrop {
                reason: "SYN+FIN discarded by the listener",
                tuple: Some(tuple)
            })
        );
    }

    pub(super) fn no_socket(&mut self, seg: &SegMeta, why: &str) {
        let reply = reset_for(seg);
        let rule = if reply.is_some() {
            "RFC 9293 §3.10.7.1: segment to CLOSED, send RST"
        } else {
            "RFC 9293 §3.10.7.1: RST to CLOSED, discard"
        };
        ev!(
            self,
            Event::NoSocket(NoSocket {
                tuple: format!("{}<->{}", seg.dst, seg.src),
                flags: seg.flag_letters(),
                why: why.to_string(),
                rule,
                local: seg.dst,
            })
        );
        if let Some(r) = reply {
            self.send_crafted(r);
        }
    }

    pub(super) fn listener_for(&self, local: SocketAddr) -> Option<SocketId> {
        self.table.listeners_for(local).into_iter().next()
    }

    /// Which listener takes a SYN for `tuple`, per the profile (exact address first; Windows:
    /// one at random; Linux SO_REUSEPORT: a hash of the 4-tuple; NT4: refused while a closed
    /// listener's address object lives, KB Q177074). Draws one number from the host's stream
    /// for every SYN, so the sequence of draws does not depend on the profile.
    pub(super) fn choose_listener(&mut self, tuple: FourTuple) -> twsim_model::ListenerVerdict {
        let r = self.rng.next_u32();
        self.table.choose_listener(tuple.local, tuple.remote, r)
    }

    /// Hands a SYN to a listener of `tuple`'s local endpoint: a fresh smoltcp socket takes it.
    /// `forced_iss` is the ISS a TIME-WAIT rule fixes for the new incarnation (Linux
    /// `tcp_timewait_state_process`: SND.NXT + 65537); otherwise the host's ISN policy decides.
    /// `false` if no listener exists.
    pub(super) fn syn_to_listener(
        &mut self,
        now: Instant,
        tuple: FourTuple,
        pkt: Packet,
        forced_iss: Option<SeqNum>,
    ) -> bool {
        let lid = match self.choose_listener(tuple) {
            twsim_model::ListenerVerdict::Listener(id) => id,
            twsim_model::ListenerVerdict::None => return false,
            twsim_model::ListenerVerdict::Refuse { rule } => {
                self.no_socket(&pkt.meta, rule);
                return true;
            }
        };
        let Some(Sock {
            kind:
                Kind::Listener {
                    backlog,
                    pending,
                    ready,
                },
            ..
        }) = self.socks.get(&lid)
        else {
            return false;
        };
        // Linux sk_acceptq_is_full: full when the queue holds more than `backlog` connections,
        // so backlog + 1 fit; other profiles admit `backlog`.
        if (pending.len() + ready.len()) as u32 >= self.cfg.accept_queue_limit(*backlog) {
            ev!(
                self,
                Event::Drop(HostDrop {
                    reason: "listen queue full",
                    tuple: Some(tuple)
                })
            );
            return true;
        }
        let Ok(cid) = self.table.accept_child(lid, tuple) else {
            return false;
        };
        let mut sock = self.new_tcp_socket();
        let local = v4(tuple.local);
        let ep = IpListenEndpoint {
            addr: Some(IpAddress::Ipv4(*local.ip())),
            port: local.port(),
        };
        sock.listen(ep)
            .expect("port is non-zero: it came from a segment");
        let handle = self.sockets.add(sock);
        let incarnation = self.next_incarnation(tuple);
        let want_iss = forced_iss.or(self.isn.next(now, tuple));
        let uid = self.new_conn_uid();
        let opts = self.socks[&lid].opts;
        self.socks.insert(
            cid,
            Sock {
                name: None,
                opts,
                kind: Kind::Conn(tuple),
                app: AppSocket::default(),
                closed: false,
            },
        );
        self.conns.insert(
            tuple,
            Conn {
                id: cid,
                handle,
                state: State::Listen,
                incarnation,
                listener: Some(lid),
                last_tx: None,
                snd_max: None,
                peer_fin_end: None,
                want_iss,
                delta: 0,
                wire_iss: None,
                uid,
                // The SYN names the peer endpoint and its ISS.
                peer: pkt.prov.map(|p| (p.conn, pkt.meta.seq)),
                oracle: RxOracle::default(),
                rst_in: false,
                shut_wr: false,
            },
        );
        if let Some(Sock {
            kind: Kind::Listener { pending, .. },
            ..
        }) = self.socks.get_mut(&lid)
        {
            pending.insert(tuple);
        }
        self.dev.rx.push_back(pkt.bytes);
        self.poll(now);
        true
    }
}
