//! Demultiplexing of every inbound segment (module docs of [`super`]) and the listen queue:
//! one fresh smoltcp socket per admitted SYN, and RSTs for segments that match nothing.

use super::*;

impl Host {
    /// Accepts one packet from the wire at `now`: demultiplexes it (module docs) and says
    /// what became of it.
    pub fn deliver(&mut self, now: Instant, mut pkt: Packet) -> Arrival {
        let incarnation = pkt.prov.map(|p| p.incarnation);
        let arrival = |stale: Option<bool>, outcome| Arrival {
            stale,
            incarnation,
            outcome,
        };
        if *pkt.meta.dst.ip() != self.addr {
            return arrival(None, Outcome::NotMine);
        }
        // The live connections' key of the 4-tuple, computed once for every lookup below.
        let key = TupleMap::<Conn>::key_v4(pkt.meta.dst, pkt.meta.src);
        let tuple = move || TupleMap::<Conn>::tuple(key);
        if pkt.meta.has(TcpFlags::SYN | TcpFlags::FIN) {
            // smoltcp 0.14 cannot take a SYN+FIN (one control flag per segment): the profile's
            // rule decides before anything else sees it.
            match self.cfg.syn_fin.apply(&pkt.meta.info()) {
                None => {
                    ev!(
                        self,
                        Event::Drop(HostDrop {
                            reason: "SYN+FIN",
                            tuple: Some(tuple())
                        })
                    );
                    return arrival(None, Outcome::Dropped);
                }
                Some(info) if !info.fin => pkt.clear_fin(),
                Some(_) => {}
            }
        }
        if let Some((stale, outcome)) = self.deliver_to_conn(now, key, &mut pkt) {
            return arrival(stale, outcome);
        }
        let tuple = tuple();
        if let Some(id) = self.table.lookup_tuple(&tuple) {
            if self.table.is_time_wait(id) {
                self.time_wait_segment(now, id, tuple, pkt);
                return arrival(None, Outcome::TimeWait);
            }
        }
        let flags = pkt.meta.flags;
        if flags == TcpFlags::SYN && self.syn_to_listener(now, tuple, &mut pkt, None) {
            return arrival(None, Outcome::Listener);
        }
        if flags == TcpFlags::SYN | TcpFlags::FIN && self.listener_for(tuple.local).is_some() {
            // SynFinRule::DiscardAtListener (Linux tcp_rcv_state_process, TCP_LISTEN).
            self.discard_syn_fin(tuple);
            return arrival(None, Outcome::Dropped);
        }
        self.no_socket(&pkt.meta, "no connection, TIME-WAIT record or listener");
        // A segment of a connection that no longer exists here (a SYN or SYN-ACK opens a new
        // one: not stale).
        let stale = incarnation.is_some() && !flags.contains(TcpFlags::SYN);
        if stale {
            self.hazards.stale_arrivals += 1;
        }
        arrival(incarnation.map(|_| stale), Outcome::NoConnection)
    }

    /// A segment for the live connection under `key` (its 4-tuple's [`TupleMap::key`]): new
    /// data for a socket the application closed aborts the connection where the profile says
    /// so; otherwise PAWS first (RFC 7323 §5.3), then smoltcp, then the oracle. Says whether
    /// the segment was stale (when provenance can tell) and what became of it; `None`, with
    /// `pkt` untouched, when `key` has no live connection. The segment's bytes go to smoltcp.
    fn deliver_to_conn(
        &mut self,
        now: Instant,
        key: u128,
        pkt: &mut Packet,
    ) -> Option<(Option<bool>, Outcome)> {
        let timestamps = self.cfg.timestamps;
        let tuple = move || TupleMap::<Conn>::tuple(key);
        let c = self.conns.get_mut_by_key(key)?;
        if self.cfg.rst_on_close_with_unread
            && pkt.meta.payload_len > 0
            && self.socks.get(c.id).is_none_or(|s| s.closed)
        {
            self.data_after_close(now, tuple());
            return Some((None, Outcome::Aborted));
        }
        // The segment as it arrived (SEG.ACK before the translation below).
        let SegMeta {
            flags,
            seq,
            ack,
            payload_len,
            ..
        } = pkt.meta;
        if self.track_woken {
            self.woken.push(c.id);
        }
        // Whether the segment is stale, what a SYN-ACK teaches (the peer endpoint and its ISS,
        // once smoltcp accepts it), and whether provenance can tell (a SYN-ACK that names the
        // peer is its own peer's: not stale).
        let (stale, learn, known) = match (pkt.prov, c.peer) {
            (Some(p), Some((peer, _))) => {
                let stale = if p.conn == peer {
                    None
                } else {
                    c.other_endpoint(&p, seq)
                };
                (stale, None, true)
            }
            (Some(p), None) => {
                let learn = flags.contains(TcpFlags::SYN).then_some((p.conn, seq));
                // Before the SYN-ACK: this end's peer is created by its SYN, so an endpoint
                // born before this connection is an earlier incarnation's (RFC 1337 Figure
                // 4's ACK).
                let stale = (c.active_open && p.born < c.born).then_some(p.incarnation);
                (stale, learn, learn.is_some() || stale.is_some())
            }
            (None, _) => (None, None, false),
        };
        // Where the payload lands in the receive stream (the receiver's own arithmetic).
        let start = c
            .peer
            .map_or(0, |(_, irs)| u64::from((seq - irs.wrapping_add(1)) as u32));
        let handle = c.handle;
        let sock = self.sockets.get::<tcp::Socket>(handle);
        let queued = sock.recv_queue();
        let window = sock.recv_capacity().saturating_sub(queued) as u64;
        let send_queue = sock.send_queue();
        let tests = seg_tests(c, pkt, start, window, send_queue);
        if stale.is_some() {
            self.hazards
                .count_stale_tests(c, pkt, start, window, send_queue);
        }
        if !tests.paws_ok {
            // RFC 7323 §5.3 R1: not acceptable; acknowledge and drop.
            self.answer_unacceptable(now, tuple());
            return Some((known.then_some(stale.is_some()), Outcome::PawsRejected));
        }
        if flags.contains(TcpFlags::FIN) {
            c.peer_fin_end = Some(seq.wrapping_add(pkt.meta.seg_len()));
        }
        if flags.contains(TcpFlags::RST) {
            c.rst_in = true;
            c.rst_from_no_connection = pkt.prov.is_none();
        }
        // TS.Recent (RFC 7323 §4.3): from the peer's SYN, then from segments that cover
        // Last.ACK.sent.
        if let (true, Some((v, _))) = (timestamps, pkt.meta.options.timestamp) {
            let last_ack_sent = c.last_tx.map(|t| t.1);
            if flags.contains(TcpFlags::SYN) && c.ts_recent.is_none() {
                c.ts_recent = Some(TsVal(v));
            } else if let (Some(r), Some(la)) = (c.ts_recent, last_ack_sent) {
                if !TsVal(v).before(r) && seq.le(la) {
                    c.ts_recent = Some(TsVal(v));
                }
            }
        }
        let sent = c.sent;
        let delta = c.delta;
        let synchronized = c.peer.is_some();
        // Back into smoltcp's sequence space: ACK and SACK edges acknowledge our data.
        pkt.unshift_ack(delta);
        self.hand_to_device(pkt);
        self.poll(now);
        let before = RxBefore {
            queued,
            window,
            start,
            len: u64::from(payload_len),
            stale,
            learn,
        };
        // What the receiver's tests said of an old segment it did not take.
        let untaken = |outcome: Outcome| match outcome {
            Outcome::Processed if stale.is_some() && !flags.contains(TcpFlags::RST) => {
                if !tests.seq_ok {
                    Outcome::OutsideWindow
                } else if !tests.ack_ok {
                    Outcome::BadAck
                } else {
                    outcome
                }
            }
            _ => outcome,
        };
        // The one lookup after the poll: the connection may have ended in it (an RST, or
        // TIME-WAIT took over).
        let Some(c) = self
            .conns
            .get_mut_by_key(key)
            .filter(|c| c.handle == handle)
        else {
            return Some((
                known.then_some(stale.is_some()),
                untaken(Outcome::Processed),
            ));
        };
        let sock = self.sockets.get::<tcp::Socket>(handle);
        let events = self.record.then_some(&mut self.events);
        let outcome = untaken(Host::check_delivery(
            c,
            sock,
            &mut self.hazards,
            events,
            key,
            before,
        ));
        if stale.is_none() && tests.seq_ok && tests.ack_ok && flags.contains(TcpFlags::ACK) {
            c.snd_una = Some(ack);
        }
        // RFC 793 p.69: an unacceptable segment is answered with an ACK, every time, where
        // the stack does not rate-limit (smoltcp withholds all but one per second).
        let answered = c.sent > sent;
        let synchronized =
            synchronized && !matches!(c.state, State::SynSent | State::SynReceived | State::Listen);
        // RFC 1337 H2: ACKs of data never sent, in a row.
        if tests.ack_unsent && payload_len == 0 && !flags.contains(TcpFlags::RST) {
            if c.war.0 == 0 {
                c.war.1 = now;
            }
            c.war.0 += 1;
            if c.war.0 == ACK_WAR_MIN {
                self.hazards.ack_wars += 1;
                let (incarnation, since) = (c.incarnation, c.war.1);
                ev!(
                    self,
                    Event::Hazard(Hazard {
                        tuple: tuple(),
                        incarnation,
                        what: HazardKind::AckWar {
                            acks: ACK_WAR_MIN,
                            since,
                        },
                    })
                );
            }
        } else if c.war.0 > 0 {
            let war = std::mem::replace(&mut c.war, (0, Instant::ZERO));
            let incarnation = c.incarnation;
            self.ack_war_over(now, key, incarnation, war);
        }
        if !self.cfg.oow_ack_rate_limited
            && !answered
            && synchronized
            && !flags.contains(TcpFlags::RST)
            && (!tests.seq_ok || tests.ack_unsent)
        {
            self.answer_unacceptable(now, tuple());
        }
        Some((known.then_some(stale.is_some()), outcome))
    }

    /// RFC 1122 §4.2.2.13 / Linux tcp_rcv_state_process (FIN-WAIT, RCV_SHUTDOWN): new data
    /// for a socket the application closed is answered with RST, and the connection `tuple`
    /// dies (LINUX_MIB_TCPABORTONDATA).
    #[cold]
    #[inline(never)]
    fn data_after_close(&mut self, now: Instant, tuple: FourTuple) {
        ev!(
            self,
            Event::Close(Close::new(CloseKind::DataAfterClose, None, Some(tuple)))
        );
        self.abort_conn(now, tuple, ConnEnd::Aborted);
    }

    /// Answers an unacceptable segment of connection `tuple` with <SEQ=SND.NXT><ACK=RCV.NXT>
    /// (RFC 793 p.69, RFC 7323 §5.3 R1), once per second where the profile rate-limits such
    /// replies (RFC 5961 §7).
    #[cold]
    #[inline(never)]
    fn answer_unacceptable(&mut self, now: Instant, tuple: FourTuple) {
        let c = self.conns.get_mut(&tuple).expect("present");
        let (Some((_, ack, win)), Some(snd_nxt)) = (c.last_tx, c.snd_max) else {
            return;
        };
        let limited = self.cfg.oow_ack_rate_limited
            && c.last_oow_ack
                .is_some_and(|t| now < t + Duration::from_secs(1));
        if limited {
            return;
        }
        c.last_oow_ack = Some(now);
        c.sent += 1;
        let (l, r) = (v4(tuple.local), v4(tuple.remote));
        self.send_crafted(craft(l, r, snd_nxt, Some(ack), Ctl::Ack, win));
    }

    /// Records the end of the ACK war `(acks, since)` of connection `key` (its 4-tuple's
    /// [`TupleMap::key`]; incarnation `incarnation`), if one was on: a segment other than an
    /// ACK of unsent data arrived, or the connection ended.
    pub(super) fn ack_war_over(
        &mut self,
        now: Instant,
        key: u128,
        incarnation: u32,
        (acks, since): (u64, Instant),
    ) {
        if acks >= ACK_WAR_MIN {
            ev!(
                self,
                Event::Hazard(Hazard {
                    tuple: TupleMap::<Conn>::tuple(key),
                    incarnation,
                    what: HazardKind::AckWarEnd {
                        acks,
                        duration: now - since,
                    },
                })
            );
        }
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
        pkt: &mut Packet,
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
            opts,
            log_time_wait,
            ..
        }) = self.socks.get(lid)
        else {
            return false;
        };
        // What the connection inherits from the listener.
        let (opts, log_time_wait) = (*opts, *log_time_wait);
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
        let key = TupleMap::<Conn>::key(&tuple);
        let mut sock = self.new_tcp_socket();
        let local = v4(tuple.local);
        let ep = IpListenEndpoint {
            addr: Some(IpAddress::Ipv4(*local.ip())),
            port: local.port(),
        };
        sock.listen(ep)
            .expect("port is non-zero: it came from a segment");
        self.smol_at = None;
        let handle = self.sockets.add(sock);
        let incarnation = self.incarnations.next(&tuple);
        let want_iss = forced_iss.or(self.isn.next(now, tuple));
        let uid = self.new_conn_uid();
        self.socks.insert(
            cid,
            Sock {
                name: None,
                opts,
                kind: Kind::Conn(key),
                app: AppSocket::default(),
                closed: false,
                log_time_wait,
            },
        );
        self.conns.insert_by_key(
            key,
            Conn {
                // RFC 7323 §4.3: TS.Recent starts from the SYN's TSval.
                ts_recent: pkt
                    .meta
                    .options
                    .timestamp
                    .filter(|_| self.cfg.timestamps)
                    .map(|(v, _)| TsVal(v)),
                ..Conn::new(
                    cid,
                    handle,
                    State::Listen,
                    incarnation,
                    Some(lid),
                    want_iss,
                    uid,
                    // The SYN names the peer endpoint and its ISS.
                    pkt.prov.map(|p| (p.conn, pkt.meta.seq)),
                    now,
                )
            },
        );
        if let Some(Sock {
            kind: Kind::Listener { pending, .. },
            ..
        }) = self.socks.get_mut(lid)
        {
            pending.insert(key);
        }
        self.hand_to_device(pkt);
        self.poll(now);
        true
    }
}

impl Conn {
    /// A segment from endpoint `p.conn` (sequence number `seq`), not this connection's peer:
    /// its incarnation when it is stale; `None` when it is a newer endpoint of the peer's
    /// host, which becomes the peer (the one this end synchronized with was an old
    /// incarnation: an old SYN-ACK accepted, e.g. with constant ISNs), its ISS following from
    /// its stream offset.
    #[cold]
    #[inline(never)]
    fn other_endpoint(&mut self, p: &Provenance, seq: SeqNum) -> Option<u32> {
        match self.peer {
            Some((peer, _)) if p.conn.host == peer.host && p.conn.n > peer.n => {
                let irs = SeqNum(seq.0.wrapping_sub(p.offset).wrapping_sub(1));
                self.peer = Some((p.conn, irs));
                None
            }
            _ => Some(p.incarnation),
        }
    }
}

/// The receiver's acceptability tests of `pkt` at connection `c` before processing
/// (`start`: its receive-stream offset; `window`: RCV.WND; `send_queue`: bytes smoltcp
/// holds to send).
#[inline(always)]
pub(super) fn seg_tests(
    c: &Conn,
    pkt: &Packet,
    start: u64,
    window: u64,
    send_queue: usize,
) -> SegTests {
    let seg = &pkt.meta;
    // (Offsets taken modulo 2³², as sequence numbers are.)
    let w = window.min(u64::from(u32::MAX)) as u32;
    let seq_ok = twsim_model::seq_acceptable(
        SeqNum(start as u32),
        seg.seg_len(),
        SeqNum(c.oracle.readable() as u32),
        w,
    );
    let range = c.ack_range(send_queue);
    let has_ack = seg.has(TcpFlags::ACK);
    let ack_ok = match range {
        _ if !has_ack => seg.has(TcpFlags::RST),
        Some((lo, hi)) => seg.ack.ge(lo) && seg.ack.le(hi),
        None => true,
    };
    let ack_unsent = has_ack && c.snd_max.is_some_and(|m| seg.ack.gt(m));
    let paws_ok = match (c.ts_recent, seg.options.timestamp) {
        (Some(r), Some((v, _))) if !seg.has(TcpFlags::RST) => !TsVal(v).before(r),
        _ => true,
    };
    SegTests {
        seq_ok,
        ack_ok,
        ack_unsent,
        paws_ok,
        window: w,
        ack_range: range,
    }
}

impl SegTests {
    /// P(SEQ_OK) · P(ACK_OK) for `pkt` at connection `c` (the one tested) under the ISN
    /// policies (time-wait.md "Analytic model"): a segment from a random ISS lands uniformly
    /// in the receiver's sequence space, an ACK uniformly in this end's when its own ISS is
    /// random; otherwise the verdict itself.
    pub(super) fn p_accepted(&self, c: &Conn, pkt: &Packet) -> f64 {
        const SPACE: f64 = 4_294_967_296.0;
        let seg = &pkt.meta;
        let l = u64::from(seg.seg_len());
        let p_seq = match pkt.prov {
            Some(p) if p.random_iss => {
                // Table 6: W values of SEQ for an empty segment, W + L − 1 for L > 0.
                let values = match (l, u64::from(self.window)) {
                    (0, 0) => 1,
                    (0, w) => w,
                    (_, 0) => 0,
                    (l, w) => w + l - 1,
                };
                values as f64 / SPACE
            }
            _ => f64::from(u8::from(self.seq_ok)),
        };
        let p_ack = match self.ack_range {
            Some((lo, hi)) if c.want_iss.is_none() && seg.has(TcpFlags::ACK) => {
                f64::from((hi - lo) as u32) / SPACE + 1.0 / SPACE
            }
            _ => f64::from(u8::from(self.ack_ok)),
        };
        p_seq * p_ack
    }
}
